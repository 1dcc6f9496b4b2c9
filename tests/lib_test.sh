# lib_test.sh — the common start of every shell test, sourced as
#     . "$(dirname "$0")/lib_test.sh" NAME
# Goes to the repository root; sets SQLASSIST (the binary: ./sqlassist, which
# `make` copies from build/, unless the environment names one, as
# tests/run_all.sh does), OUT (fixtures, tests/out), SHARED (shared data), PY
# (Debian's python3) and the work directory W="$OUT/NAME", emptied.
#
# The vocabulary is that of tests/check.h for the C tests:
#   ok "what"       a check passed: "PASS what"
#   bad "what"      a check failed: "FAIL what" (the test then exits 1)
#   skip "what"     a check that cannot run because its oracle or data is
#                   missing (PyTorch, llama.cpp, nginx, chromium, ../shared
#                   data, a fixture): "SKIP what"; under CI=true it is a
#                   failure instead, "FAIL what (CI=true: oracle missing)"
#   skip_hw "what"  a check this machine cannot run (a CPU feature): a SKIP,
#                   also under CI=true
#   skip_all "why"  the whole test cannot run (its oracle or data is
#                   missing): skip "why", then finish (exit 77, or 1 under
#                   CI=true)
#   die "what"      a failure after which nothing else can be checked: bad
#                   "what", then finish
#   sub "what" CMD...  runs a checking program (a Python heredoc, a node
#                   script) that prints its own PASS/FAIL/SKIP lines, and
#                   counts them as above; a non-zero exit without a FAIL line
#                   is one failure, "what"
#   finish          prints "N passed, N failed, N skipped" and exits: 1 on any
#                   failure, 77 when nothing passed and something was
#                   skipped, else 0. tests/run_all.sh reads that line.
# npass, nfail and nskip hold the counts; fail is 1 after any failure (a test
# may also set fail=1 itself: finish then counts one failure if none was).
set -u
cd "$(dirname "$0")/.." || exit 1
SQLASSIST="${SQLASSIST:-./sqlassist}"
OUT="${OUT:-tests/out}"
SHARED="${SHARED:-../shared}"
PY=/usr/bin/python3
W="$OUT/$1"
rm -rf "$W"; mkdir -p "$W"
fail=0; npass=0; nfail=0; nskip=0
ok()   { echo "PASS $1"; npass=$((npass + 1)); }
bad()  { echo "FAIL $1"; nfail=$((nfail + 1)); fail=1; }
skip() {
    if [ "${CI:-}" = true ]; then bad "$1 (CI=true: oracle missing)"
    else echo "SKIP $1"; nskip=$((nskip + 1)); fi
}
skip_hw() { echo "SKIP $1"; nskip=$((nskip + 1)); }
sub() {
    local what="$1" rc np nf ns; shift
    "$@" 2>&1 | tee "$W/.sub.out"; rc=${PIPESTATUS[0]}
    np=$(grep -c '^PASS' "$W/.sub.out"); nf=$(grep -c '^FAIL' "$W/.sub.out"); ns=$(grep -c '^SKIP' "$W/.sub.out")
    npass=$((npass + np)); nfail=$((nfail + nf)); [ "$nf" -gt 0 ] && fail=1
    if [ "$ns" -gt 0 ]; then
        if [ "${CI:-}" = true ]; then echo "FAIL $what: $ns skipped (CI=true: oracle missing)"; nfail=$((nfail + ns)); fail=1
        else nskip=$((nskip + ns)); fi
    fi
    [ "$rc" -ne 0 ] && [ "$nf" -eq 0 ] && bad "$what (exit $rc)"
    return "$rc"
}
finish() {
    [ "$fail" != 0 ] && [ "$nfail" -eq 0 ] && nfail=1
    echo "$npass passed, $nfail failed, $nskip skipped"
    [ "$nfail" -gt 0 ] && exit 1
    [ "$npass" -eq 0 ] && [ "$nskip" -gt 0 ] && exit 77
    exit 0
}
skip_all() { skip "$1"; finish; }
die() { bad "$1"; finish; }

#!/usr/bin/env bash
# run_all.sh BUILD_DIR — runs every test of sqlassist and prints the closing
# line "N passed, N failed, N skipped".
#
# Tests are: the C unit-test binaries BUILD_DIR/tests/test_* (harness
# tests/check.h), and the shell tests tests/test_*.sh (harness
# tests/lib_test.sh; they drive the sqlassist binary, PyTorch and llama.cpp
# oracles). A test passes on exit 0, is skipped on exit 77, and fails
# otherwise. Shared fixtures (small generated models) are made first, once,
# by tests/fixtures.sh. Each test's log is $OUT/NAME.log.
#
# Each test ends with its own line "N passed, N failed, N skipped" over its
# checks: a check whose oracle or data is missing (PyTorch, llama.cpp, nginx,
# chromium, ../shared data) is a SKIP there. The closing line counts tests,
# and adds to "skipped" the checks skipped inside tests that ran; the line
# before it gives the check totals.
#
# Environment:
#   TEST_FILTER=SUBSTRING  runs only the tests whose name contains SUBSTRING
#                          (test_sandbox, test_server_web, ...; a shell glob
#                          pattern works too), e.g.
#                              TEST_FILTER=lora bash tests/run_all.sh build
#   CI=true                a skipped oracle or missing data is a failure, in
#                          every test (whole-test skips included); a check this
#                          CPU cannot run (AVX-512, AVX512_BF16) stays a skip
#   SQLASSIST, TEST_OUT (default tests/out), SHARED (default ../shared)
set -u
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
export BUILD
export SQLASSIST="${SQLASSIST:-$PWD/$BUILD/sqlassist}"
export OUT="${TEST_OUT:-$PWD/tests/out}"
export SHARED="${SHARED:-$PWD/../shared}"
mkdir -p "$OUT"
FILTER="${TEST_FILTER:-}"

pass=0; fail=0; skip=0; failed=()
cpass=0; cfail=0; cskip=0     # checks, from each test's closing line
echo "== fixtures"
if ! bash tests/fixtures.sh > "$OUT/fixtures.log" 2>&1; then
    echo "fixtures FAILED:"; tail -30 "$OUT/fixtures.log"
    echo "0 passed, 1 failed"; exit 1
fi

run_one() {
    local name="$1"; shift
    if [ -n "$FILTER" ] && [[ "$name" != *$FILTER* ]]; then return; fi
    local log="$OUT/$name.log" t0=$SECONDS rc
    "$@" > "$log" 2>&1; rc=$?
    local dt=$((SECONDS - t0)) line np=0 nf=0 ns=0 note=""
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -1)
    if [ -n "$line" ]; then
        read -r np _ nf _ ns _ <<< "$line"
        cpass=$((cpass+np)); cfail=$((cfail+nf)); cskip=$((cskip+ns))
        note=", $np checks"
        [ "$ns" -gt 0 ] && note="$note, $ns skipped: $(grep '^SKIP ' "$log" | head -3 | cut -c6-120 | paste -sd';' -)"
    fi
    if [ $rc -eq 0 ]; then pass=$((pass+1)); skip=$((skip+ns)); echo "PASS $name (${dt}s$note)"
    elif [ $rc -eq 77 ]; then skip=$((skip+1)); echo "SKIP $name: $(grep '^SKIP ' "$log" | head -1 | cut -c6- | grep . || tail -1 "$log")"
    else fail=$((fail+1)); failed+=("$name"); echo "FAIL $name (rc=$rc, ${dt}s) — last lines of $log:"; tail -25 "$log" | sed 's/^/    /'
    fi
}

for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done
for t in tests/test_*.sh; do
    [ -f "$t" ] || continue
    run_one "$(basename "$t" .sh)" bash "$t"
done

[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "checks: $cpass passed, $cfail failed, $cskip skipped"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]

#!/usr/bin/env bash
# run_all.sh BUILD_DIR — runs every test of sqlassist and prints the closing
# line "N passed, N failed, N skipped".
#
# Tests are: the C unit-test binaries BUILD_DIR/tests/test_*, and the shell
# tests tests/test_*.sh (which drive the sqlassist binary, PyTorch and
# llama.cpp oracles). A test passes on exit 0, is skipped on exit 77, and
# fails otherwise. Shared fixtures (small generated models) are made first,
# once, by tests/fixtures.sh.
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
    local dt=$((SECONDS - t0))
    if [ $rc -eq 0 ]; then pass=$((pass+1)); echo "PASS $name (${dt}s)"
    elif [ $rc -eq 77 ]; then skip=$((skip+1)); echo "SKIP $name: $(tail -1 "$log")"
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
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]

#!/usr/bin/env bash
# test.sh — the one command that runs every test of sqlassist on a fresh
# Debian 12 machine: installs what is missing, builds, runs the suite on the
# optimized build, runs it again under AddressSanitizer + UBSan, and gives
# every fuzz target a short run. Ends with "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test || { echo "dependency install failed"; echo "0 passed, 1 failed"; exit 1; }
JOBS=$(nproc 2>/dev/null || echo 2)
total_pass=0; total_fail=0; total_skip=0

tally() {   # reads a run_all.sh log, adds its closing line to the totals
    local line
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -1)
    [ -z "$line" ] && { total_fail=$((total_fail+1)); return; }
    set -- $line
    total_pass=$((total_pass+$1)); total_fail=$((total_fail+$3)); total_skip=$((total_skip+${5:-0}))
}

mkdir -p tests/out
echo "== build"
if ! make -j"$JOBS" >tests/out/build.log 2>&1; then tail -40 tests/out/build.log; echo "0 passed, 1 failed"; exit 1; fi
echo "== tests (optimized build)"
bash tests/run_all.sh build | tee tests/out/suite.log
tally tests/out/suite.log

if [ "${SKIP_SANITIZERS:-0}" != 1 ]; then
    echo "== tests under AddressSanitizer + UndefinedBehaviorSanitizer"
    if make -j"$JOBS" SAN=1 >tests/out/build-san.log 2>&1; then
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            SAN=1 bash tests/run_all.sh build-san | tee tests/out/suite-san.log
        tally tests/out/suite-san.log
    else
        tail -40 tests/out/build-san.log; total_fail=$((total_fail+1))
    fi
fi

if [ "${SKIP_FUZZ:-0}" != 1 ]; then
    echo "== fuzz smoke runs"
    if make fuzz >tests/out/build-fuzz.log 2>&1; then
        for f in build-fuzz/fuzz_*; do
            name=$(basename "$f")
            corpus="fuzz/corpus/${name#fuzz_}"
            mkdir -p "tests/out/fuzz-$name"
            if "$f" -max_total_time="${FUZZ_SECONDS:-20}" -rss_limit_mb=2048 -timeout=10 \
                   "tests/out/fuzz-$name" $( [ -d "$corpus" ] && echo "$corpus" ) >"tests/out/$name.log" 2>&1; then
                echo "PASS $name"; total_pass=$((total_pass+1))
            else
                echo "FAIL $name"; tail -30 "tests/out/$name.log"; total_fail=$((total_fail+1))
            fi
        done
    else
        tail -40 tests/out/build-fuzz.log; total_fail=$((total_fail+1))
    fi
fi

echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]

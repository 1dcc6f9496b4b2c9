#!/usr/bin/env bash
# test_threads_tsan.sh — the threads that share one model, checked by
# ThreadSanitizer (gcc's -fsanitize=thread, which ASan builds cannot be
# combined with): a build of sqlassist with it answers everyday questions
# with the bundled model, every round's candidates written at once (one
# thread each, their forward calls through one batcher, their prefix-cache
# slots copied from one another), and must report no data race. It found
# one in the prefix cache (a slot's prefix length written after its lock
# was let go, while another acquire read it as a donor). The library set runs
# with the model's thread pool held through each pass (SQLASSIST_HOLD=1, as
# for large models), and the pool's own test runs under it too.
# Skipped under the ASan/UBSan pass (SQLASSIST in build-san/): it builds its
# own binary.
. "$(dirname "$0")/lib_test.sh" tsan
case "$SQLASSIST" in *build-san*) skip_hw "ThreadSanitizer build: run in the optimized pass"; finish ;; esac
MODEL=models/sqlassist-sql.gguf
[ -f "$MODEL" ] || skip_all "no $MODEL"
if ! make BUILD="$W/build" OPT="-O1 -g -fsanitize=thread" LDSAN=-fsanitize=thread -j2 "$W/build/sqlassist" \
        "$W/build/tests/test_threadpool" > "$W/make.log" 2>&1; then
    die "ThreadSanitizer build: $(grep -m1 -E 'error' "$W/make.log")"
fi
ok "built with -fsanitize=thread"
# under_tsan WHAT LOG NEED OK_MESSAGE COMMAND...: runs COMMAND under
# ThreadSanitizer (output in LOG); WHAT fails on a race report, a non-zero
# exit, or (NEED not empty) an empty or missing file NEED.
under_tsan() {
    local what=$1 log=$2 need=$3 okmsg=$4 rc
    shift 4
    TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$@" > "$log" 2>&1
    rc=$?
    if grep -q "ThreadSanitizer" "$log"; then
        bad "$what: ThreadSanitizer: $(grep -m1 -A3 'WARNING: ThreadSanitizer' "$log" | tr '\n' ' ')"
    elif [ $rc -ne 0 ] || { [ -n "$need" ] && [ ! -s "$need" ]; }; then
        bad "$what under ThreadSanitizer failed (exit $rc): $(tail -2 "$log")"
    else
        ok "$okmsg"
    fi
}
under_tsan "thread pool" "$W/threadpool.log" "" "thread pool (idle, held, nested holds): no data race" \
    "$W/build/tests/test_threadpool"
for set in shop library; do
    hold=0; [ $set = library ] && hold=1
    under_tsan "$set: bench" "$W/$set.log" "$W/$set/results.jsonl" "$set: 8 questions, candidates written at once, no data race" \
        env SQLASSIST_HOLD=$hold "$W/build/sqlassist" bench --model "$MODEL" --tasks bench/everyday/$set.jsonl \
        --db-dir bench/everyday/databases --no-server --limit 8 --candidates-at-once on --out "$W/$set"
done
finish

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
TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$W/build/tests/test_threadpool" > "$W/threadpool.log" 2>&1
rc=$?
if grep -q "ThreadSanitizer" "$W/threadpool.log"; then
    bad "thread pool: ThreadSanitizer: $(grep -m1 -A3 'WARNING: ThreadSanitizer' "$W/threadpool.log" | tr '\n' ' ')"
elif [ $rc -ne 0 ]; then
    bad "thread pool test under ThreadSanitizer failed (exit $rc): $(tail -2 "$W/threadpool.log")"
else
    ok "thread pool (idle, held, nested holds): no data race"
fi
for set in shop library; do
    hold=0; [ $set = library ] && hold=1
    SQLASSIST_HOLD=$hold TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$W/build/sqlassist" bench --model "$MODEL" --tasks bench/everyday/$set.jsonl \
        --db-dir bench/everyday/databases --no-server --limit 8 --candidates-at-once on --out "$W/$set" > "$W/$set.log" 2>&1
    rc=$?
    if grep -q "ThreadSanitizer" "$W/$set.log"; then
        bad "$set: ThreadSanitizer: $(grep -m1 -A3 'WARNING: ThreadSanitizer' "$W/$set.log" | tr '\n' ' ')"
    elif [ $rc -ne 0 ] || [ ! -s "$W/$set/results.jsonl" ]; then
        bad "$set: bench under ThreadSanitizer failed (exit $rc): $(tail -2 "$W/$set.log")"
    else
        ok "$set: 8 questions, candidates written at once, no data race"
    fi
done
finish

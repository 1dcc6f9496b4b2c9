/*
** test_agent_loop.c — agent_repeating_tail: when a reply counts as caught in
** a loop (the agent then closes it; sg_finish is tested in test_sqlgrammar).
** A group of 1 to AGENT_LOOP_PERIOD tokens repeated AGENT_LOOP_REPEATS times
** in a row, AGENT_LOOP_MIN tokens or more, is a loop; legitimate SQL with
** repeats (a few closing brackets, a list of different values) is not.
*/
#include <stdint.h>
#include <stdio.h>

#include "agent/agent.h"

#include "check.h"

static int loops(const int32_t *ids, int n) { return agent_repeating_tail(ids, n); }

int main(void) {
    int32_t ids[256];
    /* a period-3 group repeated: a loop from the 4th repetition on (12 tokens) */
    for (int i = 0; i < 64; i++) ids[i] = 100 + i % 3;
    CHECK(!loops(ids, 11), "11 tokens of a period-3 group counted as a loop");
    CHECK(loops(ids, 12), "4 repetitions of a 3-token group not seen");
    /* behind a normal prefix, too */
    int32_t mixed[80];
    for (int i = 0; i < 10; i++) mixed[i] = 500 + i;
    for (int i = 10; i < 80; i++) mixed[i] = 7 + (i - 10) % 5;
    CHECK(!loops(mixed, 10 + 19), "3.8 repetitions of a 5-token group counted");
    CHECK(loops(mixed, 10 + 20), "4 repetitions of a 5-token group not seen");
    /* one token: 12 in a row, not 11 (')))))' closing a few calls is fine) */
    for (int i = 0; i < 20; i++) ids[i] = 41;
    CHECK(!loops(ids, 11) && loops(ids, 12), "one repeated token: 11 %d, 12 %d", loops(ids, 11), loops(ids, 12));
    /* the longest period and one past it */
    for (int i = 0; i < 4 * AGENT_LOOP_PERIOD; i++) ids[i] = i % AGENT_LOOP_PERIOD;
    CHECK(loops(ids, 4 * AGENT_LOOP_PERIOD), "a %d-token group repeated 4 times not seen", AGENT_LOOP_PERIOD);
    for (int i = 0; i < 4 * (AGENT_LOOP_PERIOD + 1); i++) ids[i] = i % (AGENT_LOOP_PERIOD + 1);
    CHECK(!loops(ids, 4 * (AGENT_LOOP_PERIOD + 1)), "a %d-token group counted", AGENT_LOOP_PERIOD + 1);
    /* a list of different values is no loop: ", 'a' , 'b' , 'c' ..." */
    for (int i = 0; i < 60; i++) ids[i] = i % 2 ? 900 + i : 44;
    CHECK(!loops(ids, 60), "an IN list of different values counted as a loop");
    /* a period-2 group breaking off just before the end */
    for (int i = 0; i < 30; i++) ids[i] = i % 2;
    ids[29] = 5;
    CHECK(!loops(ids, 30), "a tail that breaks the repetition counted");
    CHECK(!loops(ids, 0) && !loops(ids, 1), "empty or one-token replies counted");
    return check_done();
}

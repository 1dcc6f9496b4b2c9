/*
** grade.c — see grade.h.
*/
#include "grade.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/compare.h"
#include "eval/testsuite.h"
#include "util/hash.h"

void ev_grade_task(const ev_task *t, sandbox *sb, const char *pred_sql, bool pred_ran, const sb_result *pred, ev_grade *g) {
    memset(g, 0, sizeof *g);
    if (!t->gold) return;
    g->graded = true;
    char *a = ev_normalize_sql(pred_sql ? pred_sql : ""), *b = ev_normalize_sql(t->gold);
    g->exact = a && b && !strcmp(a, b);
    free(a);
    free(b);
    g->test_suite = ev_task_schema_only(t);
    if (!pred_ran) {
        snprintf(g->why, sizeof g->why, "no attempt ran");
        return;
    }
    sa_err ge = {{0}};
    if (g->test_suite) {
        int ts = ev_test_suite_match(t->context, t->gold, pred_sql, EV_TS_DBS, hash_fnv1a64(HASH_FNV1A64_INIT, t->question, strlen(t->question)), g->why, sizeof g->why, &ge);
        g->match = ts == 1;
        if (ts < 0) {
            g->gold_failed = true;
            snprintf(g->why, sizeof g->why, "%.400s", ge.msg);
        }
        return;
    }
    sb_result gr;
    if (sb_run(sb, t->gold, &gr, &ge) == 0)
        g->match = ev_results_match(&gr, pred, ev_has_top_level_order_by(t->gold), g->why, sizeof g->why);
    else {
        g->gold_failed = true;
        snprintf(g->why, sizeof g->why, "gold query fails: %.400s", ge.msg);
    }
    sb_result_free(&gr);
}

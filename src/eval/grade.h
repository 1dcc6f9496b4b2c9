/*
** grade.h — grading one benchmark task: the predicted SQL against the
** task's gold SQL, by normalized exact match and by execution. A task with
** a database (a Spider db_id, or a context with INSERTs) runs the gold query
** on that database and compares the result with the prediction's
** (ev_results_match; order counts only when the gold query orders at its top
** level); a schema-only task (ev_task_schema_only) is judged by test-suite
** accuracy (ev_test_suite_match on EV_TS_DBS random databases seeded from
** the question). Needs no model: the prediction comes in as text and result.
*/
#ifndef SA_GRADE_H
#define SA_GRADE_H

#include <stdbool.h>

#include "eval/tasks.h"
#include "sql/sandbox.h"

#define EV_TS_DBS 5         /* random databases per schema-only task */

typedef struct ev_grade {
    bool graded;            /* the task has gold SQL; nothing below is set otherwise */
    bool exact;             /* normalized exact match (ev_normalize_sql) */
    bool test_suite;        /* metric: test-suite accuracy (schema-only task), else execution on the task's database */
    bool match;             /* the metric's verdict */
    bool gold_failed;       /* the gold query (or a schema-only task's context) would not run: why says
                            ** so and match is false; only found out when the prediction ran */
    char why[512];          /* on a miss: the first reason ("no attempt ran", "rows differ", "gold query fails: ...") */
} ev_grade;

/* Grades pred_sql (the agent's chosen SQL, "" when it wrote none) for task t.
** pred_ran: that SQL ran without error; pred: its result as the agent got
** it, read only for a task with a database and only when pred_ran. sb: the
** task's database (for a context task, the sandbox loaded from its context),
** where the gold query runs; unused for schema-only tasks. A task without
** gold SQL leaves g->graded false. */
void ev_grade_task(const ev_task *t, sandbox *sb, const char *pred_sql, bool pred_ran, const sb_result *pred, ev_grade *g);

#endif

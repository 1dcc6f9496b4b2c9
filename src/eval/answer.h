/*
** answer.h — phase 1 of `sqlassist bench`: every task answered by the agent
** in this process and graded, one results.jsonl line and one tally entry
** per task.
**
** Borrows the agent configuration (its model, prefix cache, template and
** flags; the per-task schema is set here) and the task list; owns only the
** databases it opens (Spider databases once each, a context's own sandbox
** per task), closed before it returns.
*/
#ifndef SA_EVAL_ANSWER_H
#define SA_EVAL_ANSWER_H

#include <stdio.h>

#include "agent/agent.h"
#include "eval/report.h"
#include "eval/tasks.h"

typedef struct ev_answer_opts {
    const char *db_dir;      /* Spider databases: DIR/<db_id>/<db_id>.sqlite (NULL: none) */
    const char *task_path;   /* for the messages about a task ("FILE:LINE: ...") */
    int n_ctx;               /* the context the schema prompt must fit in */
} ev_answer_opts;

/* Answers tasks[0..n) with cfg (cfg->schema is set per task and left NULL),
** grades each (eval/grade.h), writes its line to rf and adds it to tl; a
** task that cannot run (its database missing, a prompt over the context)
** is a result of its own, told on stderr. Shows progress on stderr. */
void ev_answer_tasks(agent_config *cfg, const ev_answer_opts *o, const ev_tasks *tasks, int n, FILE *rf, ev_tally *tl);

#endif

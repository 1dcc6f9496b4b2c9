/*
** tasks.h — benchmark task files: sql-create-context JSONL ({question,
** context, answer}) and Spider style ({question, db_id, query}) as JSONL or
** as one JSON array (Spider's dev.json). Other fields are ignored; a
** malformed line is reported with its line number and skipped.
*/
#ifndef SA_TASKS_H
#define SA_TASKS_H

#include <stdio.h>

#include "util/err.h"

typedef struct ev_task {
    int line;          /* 1-based line (JSONL) or element index + 1 (array) */
    char *question;
    char *context;     /* CREATE TABLE (and INSERT) text, or NULL */
    char *db_id;       /* Spider database id, or NULL */
    char *gold;        /* gold SQL, or NULL when the file has none */
} ev_task;

typedef struct ev_tasks {
    ev_task *t;
    int n, cap;
    int n_bad;         /* malformed lines skipped */
} ev_tasks;

/* Loads path; each malformed entry is reported on `warn` as
** "PATH:LINE: reason" and counted in n_bad. -1 only when the file cannot be
** read or holds no valid task. */
int ev_tasks_load(const char *path, ev_tasks *out, FILE *warn, sa_err *err);
void ev_tasks_free(ev_tasks *ts);

/* True when the task's context has no INSERT: an empty schema, where any
** valid query "matches" — such tasks are judged by test-suite accuracy. */
int ev_task_schema_only(const ev_task *t);

#endif

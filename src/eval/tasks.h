/*
** tasks.h — benchmark task files: sql-create-context JSONL ({question,
** context, answer}) and Spider style ({question, db_id, query}) as JSONL or
** as one JSON array (Spider's dev.json). Other fields are ignored; a
** malformed line is reported with its line number and skipped. Also the
** databases Spider tasks name (DIR/<db_id>/<db_id>.sqlite), opened once.
*/
#ifndef SA_TASKS_H
#define SA_TASKS_H

#include <stddef.h>
#include <stdio.h>

#include "sql/schema.h"
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

/* The database of a Spider task: dir/<db_id>/<db_id>.sqlite (dir NULL: "."). */
void ev_task_db_path(const char *dir, const char *db_id, char *buf, size_t cap);

/* Spider databases opened once each, read-only, with their schema. */
#define EV_MAX_DBS 256

typedef struct ev_db {
    char *id;
    sandbox *sb;         /* NULL when it failed to open */
    sc_schema schema;
} ev_db;

typedef struct ev_dbs {
    const char *dir;     /* as for ev_task_db_path; set before the first ev_dbs_get */
    ev_db *d;            /* EV_MAX_DBS entries once used: a returned entry stays put until ev_dbs_free */
    int n;
} ev_dbs;

/* The database db_id, opened and introspected on first use. NULL with err
** when it cannot be opened or EV_MAX_DBS are open; a database that failed
** once gives NULL again later, err then untouched. */
const ev_db *ev_dbs_get(ev_dbs *c, const char *db_id, sa_err *err);
void ev_dbs_free(ev_dbs *c);

#endif

/*
** tasks.c — task file parsing and the tasks' databases (see tasks.h).
*/
#include "tasks.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/utf8.h"

static const char *str_field(json_t *o, const char *const *names, int n) {
    for (int i = 0; i < n; i++) {
        json_t *v = json_object_get(o, names[i]);
        if (json_is_string(v)) return json_string_value(v);
    }
    return NULL;
}

/* Adds the task in object o; returns NULL on success or the reason it was rejected. */
static const char *add_task(ev_tasks *ts, json_t *o, int line) {
    if (!json_is_object(o)) return "not a JSON object";
    static const char *const Q[] = { "question" }, *const G[] = { "answer", "query", "sql", "gold" },
                             *const C[] = { "context" }, *const D[] = { "db_id" };
    const char *q = str_field(o, Q, 1), *g = str_field(o, G, 4), *c = str_field(o, C, 1), *d = str_field(o, D, 1);
    if (!q) return "missing string field 'question'";
    if (!*q) return "empty 'question'";
    if (!c && !d) return "needs 'context' (CREATE TABLE text) or 'db_id'";
    if (strlen(q) > 4096 || (g && strlen(g) > 65536) || (c && strlen(c) > (1 << 20))) return "over-long field";
    if (d && (strchr(d, '/') || strstr(d, "..") || !*d)) return "'db_id' must be a plain name";
    if (!utf8_valid(q, strlen(q), NULL) || (g && !utf8_valid(g, strlen(g), NULL))) return "invalid UTF-8";
    if (ts->n == ts->cap) {
        int cap = ts->cap ? 2 * ts->cap : 64;
        ev_task *p = realloc(ts->t, (size_t)cap * sizeof *p);
        if (!p) return "out of memory";
        ts->t = p;
        ts->cap = cap;
    }
    ev_task *t = &ts->t[ts->n++];
    t->line = line;
    t->question = strdup(q);
    t->gold = g ? strdup(g) : NULL;
    t->context = c ? strdup(c) : NULL;
    t->db_id = d ? strdup(d) : NULL;
    return NULL;
}

int ev_tasks_load(const char *path, ev_tasks *ts, FILE *warn, sa_err *err) {
    memset(ts, 0, sizeof *ts);
    FILE *f = fopen(path, "rb");
    if (!f) return sa_fail(err, "%s: cannot open task file", path);
    int first = 0;
    for (int ch; (ch = fgetc(f)) != EOF;)
        if (!isspace(ch)) { first = ch; break; }
    rewind(f);
    if (first == '[') {
        json_error_t je;
        json_t *arr = json_loadf(f, 0, &je);
        fclose(f);
        if (!arr || !json_is_array(arr)) {
            json_decref(arr);
            return sa_fail(err, "%s:%d:%d: %s", path, je.line, je.column, arr ? "expected a JSON array of tasks" : je.text);
        }
        size_t i;
        json_t *o;
        json_array_foreach(arr, i, o) {
            const char *why = add_task(ts, o, (int)i + 1);
            if (why) { ts->n_bad++; if (warn) fprintf(warn, "%s: element %zu: %s (skipped)\n", path, i + 1, why); }
        }
        json_decref(arr);
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        int lineno = 0;
        while ((len = getline(&line, &cap, f)) >= 0) {
            lineno++;
            size_t k = (size_t)len;
            while (k && isspace((unsigned char)line[k - 1])) k--;
            if (!k) continue;
            json_error_t je;
            json_t *o = json_loadb(line, k, 0, &je);
            const char *why = o ? add_task(ts, o, lineno) : je.text;
            if (why) { ts->n_bad++; if (warn) fprintf(warn, "%s:%d: %s (skipped)\n", path, lineno, why); }
            json_decref(o);
        }
        free(line);
        fclose(f);
    }
    if (ts->n == 0) return sa_fail(err, "%s: no valid task (%d malformed)", path, ts->n_bad);
    return 0;
}

void ev_tasks_free(ev_tasks *ts) {
    for (int i = 0; i < ts->n; i++) {
        free(ts->t[i].question);
        free(ts->t[i].context);
        free(ts->t[i].db_id);
        free(ts->t[i].gold);
    }
    free(ts->t);
    memset(ts, 0, sizeof *ts);
}

int ev_task_schema_only(const ev_task *t) {
    if (!t->context) return 0;
    for (const char *p = t->context; *p; p++)
        if ((p == t->context || !isalnum((unsigned char)p[-1])) && !strncasecmp(p, "INSERT", 6) && !isalnum((unsigned char)p[6]))
            return 0;
    return 1;
}

void ev_task_db_path(const char *dir, const char *db_id, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%s/%s.sqlite", dir ? dir : ".", db_id, db_id);
}

const ev_db *ev_dbs_get(ev_dbs *c, const char *db_id, sa_err *err) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->d[i].id, db_id)) return c->d[i].sb ? &c->d[i] : NULL;
    if (!c->d && !(c->d = calloc(EV_MAX_DBS, sizeof *c->d))) { sa_fail(err, "out of memory"); return NULL; }
    if (c->n >= EV_MAX_DBS) { sa_fail(err, "too many databases"); return NULL; }
    ev_db *e = &c->d[c->n++];
    e->id = strdup(db_id);
    char path[4096];
    ev_task_db_path(c->dir, db_id, path, sizeof path);
    e->sb = sb_open_db(path, NULL, err);
    if (!e->sb) return NULL;
    if (sc_introspect(e->sb, 0, &e->schema, err)) { sb_close(e->sb); e->sb = NULL; return NULL; }
    return e;
}

void ev_dbs_free(ev_dbs *c) {
    for (int i = 0; i < c->n; i++) { free(c->d[i].id); sc_free(&c->d[i].schema); sb_close(c->d[i].sb); }
    free(c->d);
    c->d = NULL;
    c->n = 0;
}

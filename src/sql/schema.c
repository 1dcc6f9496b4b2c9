/*
** schema.c — introspection of a database through the sandbox (see
** schema.h). Its rendering as prompt text is agent/schema_prompt.c.
*/
#include "sql/schema.h"

#include <assert.h>
#include <ctype.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *xstrdup(const char *s) { return strdup(s ? s : ""); }

/* ------------------------------------------------------ introspection */

static void free_table(sc_table *t) {
    free(t->name);
    for (int c = 0; c < t->ncols; c++) {
        free(t->cols[c].name);
        free(t->cols[c].decl_type);
    }
    free(t->cols);
    for (int k = 0; k < t->nfkeys; k++) {
        for (int c = 0; c < t->fkeys[k].ncols; c++) {
            free(t->fkeys[k].from_cols[c]);
            free(t->fkeys[k].to_cols[c]);
        }
        free(t->fkeys[k].from_cols);
        free(t->fkeys[k].to_cols);
        free(t->fkeys[k].to_table);
    }
    free(t->fkeys);
    sb_result_free(&t->samples);
    free(t->samples_error);
}

void sc_free(sc_schema *s) {
    if (!s) return;
    for (int i = 0; i < s->ntables; i++) free_table(&s->tables[i]);
    free(s->tables);
    memset(s, 0, sizeof *s);
}

/* Runs the sqlite3_mprintf-formatted statement through the sandbox. */
static int run_fmt(sandbox *sb, sb_result *res, sa_err *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    if (!sql) return sa_fail(err, "schema: out of memory");
    int rc = sb_run(sb, sql, res, err);
    sqlite3_free(sql);
    return rc;
}

static const char *cell_text(const sb_result *r, int64_t row, int col) {
    const sb_value *v = &r->cells[row * r->ncols + col];
    return v->type == SB_TEXT ? v->bytes : NULL;
}

static int64_t cell_int(const sb_result *r, int64_t row, int col) {
    const sb_value *v = &r->cells[row * r->ncols + col];
    return v->type == SB_INTEGER ? v->i : 0;
}

static int read_columns(sandbox *sb, sc_table *t, sa_err *err) {
    sb_result r;
    if (run_fmt(sb, &r, err, "SELECT name, type, \"notnull\", pk FROM pragma_table_info(%Q) ORDER BY cid", t->name) < 0)
        return -1;
    t->cols = calloc((size_t)(r.nrows ? r.nrows : 1), sizeof *t->cols);
    if (!t->cols) {
        sb_result_free(&r);
        return sa_fail(err, "schema: out of memory");
    }
    for (int64_t i = 0; i < r.nrows; i++) {
        sc_column *c = &t->cols[t->ncols++];
        c->name = xstrdup(cell_text(&r, i, 0));
        c->decl_type = xstrdup(cell_text(&r, i, 1));
        c->not_null = cell_int(&r, i, 2) != 0;
        c->pk_position = (int)cell_int(&r, i, 3);
        if (!c->name || !c->decl_type) {
            sb_result_free(&r);
            return sa_fail(err, "schema: out of memory");
        }
    }
    sb_result_free(&r);
    return 0;
}

static int read_foreign_keys(sandbox *sb, sc_table *t, sa_err *err) {
    sb_result r;
    if (run_fmt(sb, &r, err,
                "SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(%Q) ORDER BY id, seq", t->name) < 0)
        return -1;
    /* Rows of one key share an id and come together. */
    t->fkeys = calloc((size_t)(r.nrows ? r.nrows : 1), sizeof *t->fkeys);
    if (!t->fkeys) goto oom;
    for (int64_t i = 0; i < r.nrows; i++) {
        bool same_key = t->nfkeys > 0 && i > 0 && cell_int(&r, i, 0) == cell_int(&r, i - 1, 0);
        if (!same_key) {
            sc_fkey *k = &t->fkeys[t->nfkeys++];
            k->to_table = xstrdup(cell_text(&r, i, 1));
            k->from_cols = calloc((size_t)r.nrows, sizeof *k->from_cols);
            k->to_cols = calloc((size_t)r.nrows, sizeof *k->to_cols);
            if (!k->to_table || !k->from_cols || !k->to_cols) goto oom;
        }
        sc_fkey *k = &t->fkeys[t->nfkeys - 1];
        const char *to = cell_text(&r, i, 3);
        k->from_cols[k->ncols] = xstrdup(cell_text(&r, i, 2));
        k->to_cols[k->ncols] = to ? strdup(to) : NULL;
        k->ncols++;
        if (!k->from_cols[k->ncols - 1] || (to && !k->to_cols[k->ncols - 1])) goto oom;
    }
    sb_result_free(&r);
    return 0;
oom:
    sb_result_free(&r);
    return sa_fail(err, "schema: out of memory");
}

int sc_introspect(sandbox *sb, int sample_rows, sc_schema *out, sa_err *err) {
    assert(out);
    memset(out, 0, sizeof *out);
    if (!sb) return sa_fail(err, "schema: no sandbox");
    if (sample_rows < 0) return sa_fail(err, "schema: sample row count must not be negative (got %d)", sample_rows);
    sb_result list;
    /* pragma_table_list tells shadow tables of FTS/R-tree apart; sqlite_schema
    ** gives the order the tables were created in. */
    if (run_fmt(sb, &list, err,
                "SELECT s.name, l.type = 'virtual', l.type = 'view' FROM sqlite_schema AS s"
                " JOIN pragma_table_list AS l ON l.schema = 'main' AND l.name = s.name"
                " WHERE s.type IN ('table', 'view') AND l.type IN ('table', 'virtual', 'view')"
                " AND s.name NOT LIKE 'sqlite\\_%%' ESCAPE '\\' ORDER BY s.rowid") < 0) {
        sa_err_prefix(err, "schema: listing tables");
        return -1;
    }
    out->tables = calloc((size_t)(list.nrows ? list.nrows : 1), sizeof *out->tables);
    if (!out->tables) {
        sb_result_free(&list);
        return sa_fail(err, "schema: out of memory");
    }
    for (int64_t i = 0; i < list.nrows; i++) {
        sc_table *t = &out->tables[out->ntables++];
        t->name = xstrdup(cell_text(&list, i, 0));
        t->is_virtual = cell_int(&list, i, 1) != 0;
        t->is_view = cell_int(&list, i, 2) != 0;
        if (!t->name) {
            sa_fail(err, "schema: out of memory");
            goto fail;
        }
        if (t->is_view) {
            /* A view that no longer compiles (it names a column or table
            ** that is gone) cannot be queried either: it is left out, and
            ** the tables stay usable. */
            sa_err verr = {{0}};
            if (read_columns(sb, t, &verr) < 0 || t->ncols == 0) {
                free_table(t);
                memset(t, 0, sizeof *t);
                out->ntables--;
                continue;
            }
        } else if (read_columns(sb, t, err) < 0 || read_foreign_keys(sb, t, err) < 0) {
            sa_err_prefix(err, "schema: table %s", t->name);
            goto fail;
        }
        sa_err serr = {{0}};
        if (sample_rows > 0 &&
            run_fmt(sb, &t->samples, &serr, "SELECT * FROM \"%w\" LIMIT %d", t->name, sample_rows) < 0) {
            /* One table that cannot be read (a generated column that fails
            ** to compute, a corrupt page) costs only its own samples. */
            memset(&t->samples, 0, sizeof t->samples);
            if (!(t->samples_error = strdup(serr.msg))) {
                sa_fail(err, "schema: out of memory");
                goto fail;
            }
        }
    }
    sb_result_free(&list);
    return 0;
fail:
    sb_result_free(&list);
    sc_free(out);
    return -1;
}

const sc_table *sc_find_table(const sc_schema *s, const char *name) {
    for (int i = 0; s && name && i < s->ntables; i++)
        if (strcasecmp(s->tables[i].name, name) == 0) return &s->tables[i];
    return NULL;
}

/* -------------------------------------------------------------- types */

int sc_type_affinity(const char *decl) {
    /* SQLite's affinity rules, reduced: INT → integer, REAL/FLOA/DOUB/NUM/DEC → real, else text */
    char up[64];
    size_t n = strlen(decl);
    if (n >= sizeof up) n = sizeof up - 1;
    for (size_t i = 0; i < n; i++) up[i] = (char)toupper((unsigned char)decl[i]);
    up[n] = 0;
    if (strstr(up, "INT")) return 1;
    if (strstr(up, "CHAR") || strstr(up, "CLOB") || strstr(up, "TEXT")) return 0;
    if (strstr(up, "REAL") || strstr(up, "FLOA") || strstr(up, "DOUB") || strstr(up, "NUM") || strstr(up, "DEC")) return 2;
    return 0;
}

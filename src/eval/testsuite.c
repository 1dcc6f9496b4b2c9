/*
** testsuite.c — random databases for test-suite accuracy (see testsuite.h).
** Both queries run in the same read-only sandbox the agent uses.
*/
#include "testsuite.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "eval/compare.h"
#include "sql/sandbox.h"
#include "sql/schema.h"
#include "util/strbuf.h"

#define MAX_LITERALS 64

static uint64_t next_rand(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static const char *const WORDS[] = { "alpha", "beta", "gamma", "delta", "north", "south", "red", "blue",
                                     "2005", "1999-01-01", "Smith", "Jones", "yes", "no", "A", "B" };

/* One random value for a column: drawn from the literals most of the time. */
static void random_value(strbuf *b, int affinity, char **lits, int n_lits, uint64_t *rng) {
    uint64_t r = next_rand(rng);
    if (r % 20 == 0) { strbuf_puts(b, "NULL"); return; }
    r = next_rand(rng);
    if (n_lits && r % 100 < 60) {
        const char *l = lits[next_rand(rng) % (uint64_t)n_lits];
        if (l[0] == '#') {                               /* a number literal, or a neighbour */
            double v = strtod(l + 1, NULL);
            int d = (int)(next_rand(rng) % 3) - 1;
            if (affinity == 0) { char t[64]; snprintf(t, sizeof t, "%g", v + d); strbuf_put_quoted(b, t, '\''); }
            else strbuf_printf(b, "%.17g", v + d);
        } else if (affinity == 0) strbuf_put_quoted(b, l, '\'');
        else { double v = strtod(l, NULL); strbuf_printf(b, "%.17g", v); }
        return;
    }
    if (affinity == 1) strbuf_printf(b, "%d", (int)(next_rand(rng) % 200) - 20);
    else if (affinity == 2) strbuf_printf(b, "%.2f", (double)(next_rand(rng) % 20000) / 100.0 - 20);
    else strbuf_put_quoted(b, WORDS[next_rand(rng) % (sizeof WORDS / sizeof WORDS[0])], '\'');
}

/* Does a result say anything: a value that is neither NULL nor 0? (An
** empty result, or COUNT = 0 / MAX = NULL over no rows, is what a wrong
** filter gives too.) */
static int has_content(const sb_result *r) {
    for (int64_t i = 0; i < r->nrows * r->ncols; i++) {
        const sb_value *v = &r->cells[i];
        if (v->type == SB_TEXT || v->type == SB_BLOB || (v->type == SB_INTEGER && v->i != 0) ||
            (v->type == SB_REAL && v->r != 0))
            return 1;
    }
    return 0;
}

int ev_test_suite_match(const char *context, const char *gold, const char *pred, int n_db, uint64_t seed,
                        char *why, size_t why_cap, sa_err *err) {
    char dummy[8];
    if (!why) { why = dummy; why_cap = sizeof dummy; }
    why[0] = 0;
    sb_limits lim;
    sb_limits_default(&lim);
    lim.timeout_ms = 2000;
    lim.heap_limit_bytes = 0;                        /* leave the process-wide cap alone */
    sandbox *probe = sb_open_context(context, &lim, err);
    if (!probe) return -1;
    sc_schema schema = {0};
    if (sc_introspect(probe, 0, &schema, err)) { sb_close(probe); return -1; }
    sb_close(probe);

    char *lits[MAX_LITERALS];
    int n_lits = ev_sql_literals(gold, lits, MAX_LITERALS / 2);
    n_lits += ev_sql_literals(pred, lits + n_lits, MAX_LITERALS - n_lits);
    uint64_t rng = seed;
    /* A suite where the gold query returns nothing on every database cannot
    ** tell a right filter from a wrong one: keep drawing databases (up to
    ** 4·n_db) until at least one gives the gold query rows. */
    int result = 1, failed_fills = 0, informative = 0;
    for (int d = 0; result == 1 && d < 4 * n_db && (d < n_db || !informative); d++) {
        strbuf sql;
        strbuf_init(&sql);
        strbuf_puts(&sql, context);
        strbuf_puts(&sql, ";\n");
        for (int t = 0; t < schema.ntables; t++) {
            const sc_table *tb = &schema.tables[t];
            int rows = 3 + (int)(next_rand(&rng) % 12);
            for (int r = 0; r < rows; r++) {
                strbuf_puts(&sql, "INSERT INTO \"");
                for (const char *p = tb->name; *p; p++) { if (*p == '"') strbuf_puts(&sql, "\"\""); else strbuf_append(&sql, p, 1); }
                strbuf_puts(&sql, "\" VALUES (");
                for (int c = 0; c < tb->ncols; c++) {
                    if (c) strbuf_puts(&sql, ", ");
                    random_value(&sql, sc_type_affinity(tb->cols[c].decl_type), lits, n_lits, &rng);
                }
                strbuf_puts(&sql, ");\n");
            }
        }
        char *text = strbuf_take(&sql);
        sa_err e2 = {{0}};
        /* random rows may break a UNIQUE/PRIMARY KEY: retry with another draw */
        sandbox *sb = text ? sb_open_context(text, &lim, &e2) : NULL;
        free(text);
        if (!sb) {
            if (++failed_fills > 20) { result = -1; sa_fail(err, "cannot fill a database for this schema: %s", e2.msg); }
            d--;
            continue;
        }
        sb_result g = {0}, p = {0};
        sa_err ge = {{0}}, pe = {{0}};
        int gold_ok = sb_run(sb, gold, &g, &ge) == 0;
        if (gold_ok && has_content(&g)) informative++;
        if (!gold_ok) { result = -1; sa_fail(err, "gold query fails: %s", ge.msg); }
        else if (sb_run(sb, pred, &p, &pe)) { result = 0; snprintf(why, why_cap, "prediction fails: %s", pe.msg); }
        else if (!ev_results_match(&g, &p, ev_has_top_level_order_by(gold), why, why_cap)) {
            result = 0;
            char tmp[256];
            snprintf(tmp, sizeof tmp, "%s", why);
            snprintf(why, why_cap, "%s (random database %d of the test suite)", tmp, d + 1);
        }
        sb_result_free(&g);
        sb_result_free(&p);
        sb_close(sb);
    }
    for (int i = 0; i < n_lits; i++) free(lits[i]);
    sc_free(&schema);
    return result;
}

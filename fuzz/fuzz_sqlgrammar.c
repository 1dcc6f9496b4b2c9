/*
** fuzz_sqlgrammar.c — libFuzzer target for the constrained-decoding parser
** (src/agent/sqlgrammar.c), on a fixed schema of three joined tables.
** For any bytes it checks, with the full grammar and with the plain style
** (sg_set_plain) alike:
**   - sg_check_text never crashes, and refuses at an offset inside the text;
**   - prefixes: the longest accepted prefix is accepted again byte for byte
**     (the state machine is deterministic);
**   - completions: when a completion is found for the accepted prefix, the
**     prefix followed by it is accepted as a complete statement;
**   - the value mending of fixnames.c (fix_value_columns, a lookup that
**     answers by a hash of its arguments) and the name mending
**     (fix_unknown_name) never crash on the text, and a mended copy is a
**     string.
**
**   make fuzz && build-fuzz/fuzz_sqlgrammar -max_total_time=30 fuzz/corpus/sqlgrammar
*/
#include "agent/fixnames.h"
#include "agent/sqlgrammar.h"
#include "sql/sandbox.h"
#include "sql/schema.h"
#include "util/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sql_grammar *g_grammar, *g_plain;
static sc_schema g_schema;

/* Holds text in a column when a hash of both says so; the stored spelling
** is the text upper-cased half the time. */
static int fake_lookup(void *ctx, const char *table, const char *col, const char *text, char **stored) {
    (void)ctx;
    uint64_t h = hash_fnv1a64(HASH_FNV1A64_INIT, table, strlen(table));
    h = hash_fnv1a64(h, col, strlen(col));
    h = hash_fnv1a64(h, text, strlen(text));
    if (h % 3 == 0) return 0;
    *stored = strdup(text);
    if (!*stored) return 0;
    if (h % 2) for (char *p = *stored; *p; p++) if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 32);
    return 1;
}

static sql_grammar *get_grammar(void) {
    if (g_grammar) return g_grammar;
    static const char *DDL =
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, city TEXT, \"first name\" TEXT);"
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), total REAL, day TEXT);"
        "CREATE TABLE \"CAST\" (aid INTEGER, role TEXT);";
    sa_err err = {{0}};
    sandbox *sb = sb_open_context(DDL, NULL, &err);
    sc_schema s = {0};
    if (!sb || sc_introspect(sb, 0, &s, &err)) { fprintf(stderr, "fuzz_sqlgrammar: %s\n", err.msg); exit(2); }
    g_grammar = sg_new(NULL, &s);
    g_plain = sg_new(NULL, &s);
    g_schema = s;   /* kept for the mending checks */
    sb_close(sb);
    if (!g_grammar || !g_plain) exit(2);
    sg_set_plain(g_plain);
    return g_grammar;
}

/* The checks on one grammar: refusals inside the text, the accepted prefix
** accepted again, its completion complete. */
static void check_grammar(sql_grammar *g, const char *text, size_t size) {
    int complete = 0;
    long at = sg_check_text(g, text, size, &complete);
    if (at >= (long)size) abort();
    size_t ok_len = at < 0 ? size : (size_t)at;
    int c2 = 0;
    if (sg_check_text(g, text, ok_len, &c2) != -1) abort();   /* the accepted prefix is accepted again */
    char *prefix = malloc(ok_len + 1);
    if (!prefix) return;
    memcpy(prefix, text, ok_len);
    prefix[ok_len] = 0;
    if (strlen(prefix) == ok_len && sg_reset(g, prefix) == 0) {
        char *comp = sg_completion(g);
        if (comp) {
            size_t n = ok_len + strlen(comp);
            char *full = malloc(n + 1);
            if (full) {
                memcpy(full, prefix, ok_len);
                memcpy(full + ok_len, comp, strlen(comp) + 1);
                int done = 0;
                long bad = sg_check_text(g, full, n, &done);
                if (bad != -1 || !done) {
                    fprintf(stderr, "completion [%s] of [%s] not accepted (%ld, %d)\n", comp, prefix, bad, done);
                    abort();
                }
                free(full);
            }
            free(comp);
        }
    }
    free(prefix);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    get_grammar();
    const char *text = (const char *)data;
    check_grammar(g_grammar, text, size);
    check_grammar(g_plain, text, size);
    {
        char *text0 = malloc(size + 1);
        if (text0) {
            memcpy(text0, data, size);
            text0[size] = 0;
            int n = 0;
            char *m = fix_value_columns(text0, &g_schema, fake_lookup, NULL, &n);
            if (m && (n <= 0 || strlen(m) > 4 * size + 4096)) abort();
            free(m);
            m = fix_unknown_name(text0, "no such column: naem", &g_schema);
            free(m);
            free(text0);
        }
    }
    return 0;
}

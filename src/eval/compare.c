/*
** compare.c — result-set comparison and SQL normalization (see compare.h).
**
** Rows are turned into canonical strings (numbers printed with 6
** significant digits, so 1, 1.0 and '1' agree and float noise does not
** matter), then compared sorted (multiset) or in order.
*/
#include "compare.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"

/* Parses text that is entirely a number (optional sign, digits, '.', exponent). */
static bool text_number(const char *s, size_t len, double *out) {
    if (!len || len > 64) return false;
    char buf[72];
    memcpy(buf, s, len);
    buf[len] = 0;
    const char *p = buf;
    while (isspace((unsigned char)*p)) p++;
    if (!*p) return false;
    char *end;
    double v = strtod(p, &end);
    while (isspace((unsigned char)*end)) end++;
    if (*end || end == p || isnan(v) || isinf(v)) return false;
    /* reject hex and other forms strtod accepts but SQL would not compare as numbers */
    for (const char *q = p; q < end; q++)
        if (!(isdigit((unsigned char)*q) || *q == '.' || *q == '-' || *q == '+' || *q == 'e' || *q == 'E' || isspace((unsigned char)*q))) return false;
    *out = v;
    return true;
}

static void canon_number(strbuf *b, double v) {
    if (v == 0) v = 0;      /* -0 */
    if (fabs(v) < 9007199254740992.0 && v == floor(v)) strbuf_printf(b, "N%.0f", v);
    else strbuf_printf(b, "N%.6g", v);
}

static void canon_value(strbuf *b, const sb_value *v) {
    double d;
    switch (v->type) {
    case SB_NULL: strbuf_puts(b, "0"); break;
    case SB_INTEGER: canon_number(b, (double)v->i); break;
    case SB_REAL: canon_number(b, v->r); break;
    case SB_TEXT:
        if (text_number(v->bytes, v->len, &d)) canon_number(b, d);
        else { strbuf_printf(b, "T%zu:", v->len); strbuf_append(b, v->bytes, v->len); }
        break;
    case SB_BLOB:
        strbuf_printf(b, "B%zu:", v->len);
        for (size_t i = 0; i < v->len; i++) strbuf_printf(b, "%02x", (unsigned char)v->bytes[i]);
        break;
    }
    strbuf_append(b, "\x1f", 1);
}

/* Canonical rows of r with columns taken in the order perm[] (NULL: as is). */
static char **canon_rows(const sb_result *r, const int *perm) {
    char **rows = calloc((size_t)(r->nrows ? r->nrows : 1), sizeof *rows);
    if (!rows) return NULL;
    for (int64_t i = 0; i < r->nrows; i++) {
        strbuf b;
        strbuf_init(&b);
        for (int c = 0; c < r->ncols; c++) canon_value(&b, &r->cells[i * r->ncols + (perm ? perm[c] : c)]);
        rows[i] = strbuf_take(&b);
        if (!rows[i]) rows[i] = strdup("");
    }
    return rows;
}

static void free_rows(char **rows, int64_t n) {
    if (!rows) return;
    for (int64_t i = 0; i < n; i++) free(rows[i]);
    free(rows);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* g and p hold n canonical rows each; for an unordered comparison both are
** already sorted. */
static bool rows_equal(char **g, char **p, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (strcmp(g[i], p[i])) return false;
    return true;
}

static bool next_perm(int *a, int n) {
    int i = n - 2;
    while (i >= 0 && a[i] >= a[i + 1]) i--;
    if (i < 0) return false;
    int j = n - 1;
    while (a[j] <= a[i]) j--;
    int t = a[i]; a[i] = a[j]; a[j] = t;
    for (int l = i + 1, r = n - 1; l < r; l++, r--) { t = a[l]; a[l] = a[r]; a[r] = t; }
    return true;
}

bool ev_results_match(const sb_result *gold, const sb_result *pred, bool order_matters, char *why, size_t why_cap) {
    char dummy[8];
    if (!why) { why = dummy; why_cap = sizeof dummy; }
    why[0] = 0;
    if (gold->ncols != pred->ncols) { snprintf(why, why_cap, "%d columns, expected %d", pred->ncols, gold->ncols); return false; }
    if (gold->nrows != pred->nrows) { snprintf(why, why_cap, "%lld rows, expected %lld", (long long)pred->nrows, (long long)gold->nrows); return false; }
    if (gold->truncated || pred->truncated) { snprintf(why, why_cap, "result truncated by a sandbox limit"); return false; }
    /* gold's canonical rows are made (and sorted) once; each column
    ** permutation of the prediction is tried against them */
    char **g = canon_rows(gold, NULL);
    if (g && !order_matters) qsort(g, (size_t)gold->nrows, sizeof *g, cmp_str);
    int n = pred->ncols, perm[6];
    bool ok = false, permute = n <= 6;
    for (int i = 0; i < n && permute; i++) perm[i] = i;
    do {
        char **p = canon_rows(pred, permute ? perm : NULL);
        if (p && !order_matters) qsort(p, (size_t)pred->nrows, sizeof *p, cmp_str);
        ok = g && p && rows_equal(g, p, gold->nrows);
        free_rows(p, pred->nrows);
    } while (!ok && permute && next_perm(perm, n));
    free_rows(g, gold->nrows);
    if (!ok) snprintf(why, why_cap, order_matters ? "rows differ (order matters: the gold query orders)" : "rows differ");
    return ok;
}

/* ---- SQL lexing ---------------------------------------------------------- */

typedef enum { TK_END, TK_WORD, TK_STRING, TK_QIDENT, TK_NUMBER, TK_PUNCT } tk_kind;

/* Reads one token at *pp; sets [*start, *len). Quoted identifiers exclude the quotes. */
static tk_kind next_token(const char **pp, const char **start, size_t *len) {
    const char *p = *pp;
    for (;;) {
        while (isspace((unsigned char)*p)) p++;
        if (p[0] == '-' && p[1] == '-') { while (*p && *p != '\n') p++; continue; }
        if (p[0] == '/' && p[1] == '*') { const char *e = strstr(p + 2, "*/"); p = e ? e + 2 : p + strlen(p); continue; }
        break;
    }
    if (!*p) { *pp = p; return TK_END; }
    if (*p == '\'') {
        const char *q = p + 1;
        while (*q && !(*q == '\'' && q[1] != '\'')) q += (*q == '\'' ? 2 : 1);
        *start = p + 1; *len = (size_t)(q - p - 1);
        *pp = *q ? q + 1 : q;
        return TK_STRING;
    }
    if (*p == '"' || *p == '`' || *p == '[') {
        char close = *p == '[' ? ']' : *p;
        const char *q = strchr(p + 1, close);
        if (!q) q = p + strlen(p);
        *start = p + 1; *len = (size_t)(q - p - 1);
        *pp = *q ? q + 1 : q;
        return TK_QIDENT;
    }
    if (isdigit((unsigned char)*p) || (*p == '.' && isdigit((unsigned char)p[1]))) {
        const char *q = p;
        while (isalnum((unsigned char)*q) || *q == '.') q++;
        *start = p; *len = (size_t)(q - p); *pp = q;
        return TK_NUMBER;
    }
    if (isalpha((unsigned char)*p) || *p == '_' || (unsigned char)*p >= 0x80) {
        const char *q = p;
        while (isalnum((unsigned char)*q) || *q == '_' || *q == '$' || (unsigned char)*q >= 0x80) q++;
        *start = p; *len = (size_t)(q - p); *pp = q;
        return TK_WORD;
    }
    /* two-character operators */
    static const char *const OPS[] = { "<=", ">=", "<>", "!=", "==", "||" };
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++)
        if (!strncmp(p, OPS[i], 2)) { *start = p; *len = 2; *pp = p + 2; return TK_PUNCT; }
    *start = p; *len = 1; *pp = p + 1;
    return TK_PUNCT;
}

bool ev_has_top_level_order_by(const char *sql) {
    const char *p = sql, *s;
    size_t n;
    int depth = 0;
    bool prev_order = false;
    tk_kind k;
    while ((k = next_token(&p, &s, &n)) != TK_END) {
        if (k == TK_PUNCT && *s == '(') depth++;
        else if (k == TK_PUNCT && *s == ')') depth--;
        if (k == TK_WORD && depth == 0 && n == 2 && !strncasecmp(s, "by", 2) && prev_order) return true;
        prev_order = k == TK_WORD && depth == 0 && n == 5 && !strncasecmp(s, "order", 5);
    }
    return false;
}

char *ev_normalize_sql(const char *sql) {
    strbuf b;
    strbuf_init(&b);
    const char *p = sql, *s;
    size_t n;
    tk_kind k;
    while ((k = next_token(&p, &s, &n)) != TK_END) {
        if (k == TK_PUNCT && n == 1 && *s == ';') {
            const char *rest = p, *s2;
            size_t n2;
            if (next_token(&rest, &s2, &n2) == TK_END) break;
        }
        if (b.len) strbuf_puts(&b, " ");
        if (k == TK_STRING) { strbuf_puts(&b, "'"); strbuf_append(&b, s, n); strbuf_puts(&b, "'"); }
        else if (k == TK_NUMBER) {
            char num[80];
            double v;
            if (n < 64 && text_number(s, n, &v)) { strbuf b2; strbuf_init(&b2); canon_number(&b2, v); snprintf(num, sizeof num, "%s", b2.p ? b2.p + 1 : ""); strbuf_free(&b2); strbuf_puts(&b, num); }
            else strbuf_append(&b, s, n);
        } else if (k == TK_PUNCT && n == 2 && !strncmp(s, "==", 2)) strbuf_puts(&b, "=");
        else if (k == TK_PUNCT && n == 2 && !strncmp(s, "<>", 2)) strbuf_puts(&b, "!=");
        else for (size_t i = 0; i < n; i++) { char c = (char)tolower((unsigned char)s[i]); strbuf_append(&b, &c, 1); }
    }
    return strbuf_take(&b);
}

int ev_sql_literals(const char *sql, char **out, int cap) {
    const char *p = sql, *s;
    size_t n;
    tk_kind k;
    int cnt = 0;
    while (cnt < cap && (k = next_token(&p, &s, &n)) != TK_END) {
        if (k == TK_STRING || (k == TK_QIDENT && s[-1] == '"')) {
            /* A "double-quoted" word is a string to SQLite when no column has
            ** that name (sql-create-context writes its values so): taken as a
            ** literal too; when it is a column, it is only one more value. */
            char q = k == TK_STRING ? '\'' : '"';
            char *v = malloc(n + 1);
            size_t j = 0;
            for (size_t i = 0; v && i < n; i++) { v[j++] = s[i]; if (s[i] == q && i + 1 < n && s[i + 1] == q) i++; }
            if (v) { v[j] = 0; out[cnt++] = v; }
        } else if (k == TK_NUMBER && n < 60) {
            char *v = malloc(n + 2);
            if (v) { v[0] = '#'; memcpy(v + 1, s, n); v[n + 1] = 0; out[cnt++] = v; }
        }
    }
    return cnt;
}

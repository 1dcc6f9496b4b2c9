/*
** fixnames.c — mends a misspelt table or column name, and a column
** compared with a value another column holds (see fixnames.h).
*/
#include "fixnames.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../util/strbuf.h"

int fix_edit_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    int *row = malloc((m + 1) * sizeof *row);
    if (!row) return 1 << 30;
    for (size_t j = 0; j <= m; j++) row[j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= m; j++) {
            int up = row[j];
            int sub = diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            int best = sub < up + 1 ? sub : up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    int d = row[m];
    free(row);
    return d;
}

/* The unknown name in "... no such table: X ..." / "no such column: T.X ...". */
static char *unknown_name(const char *error, int *is_table) {
    const char *p = strstr(error, "no such table: ");
    *is_table = p != NULL;
    if (p) p += strlen("no such table: ");
    else if ((p = strstr(error, "no such column: "))) p += strlen("no such column: ");
    else return NULL;
    size_t n = strcspn(p, " \t\n");
    const char *dot = memchr(p, '.', n);   /* main.t or T1.col: the last part */
    while (dot) {
        n -= (size_t)(dot + 1 - p);
        p = dot + 1;
        dot = memchr(p, '.', n);
    }
    if (n == 0) return NULL;
    char *x = malloc(n + 1);
    if (!x) return NULL;
    memcpy(x, p, n);
    x[n] = 0;
    return x;
}

static int ident_char(char c) { return isalnum((unsigned char)c) || c == '_' || ((unsigned char)c & 0x80); }

/* sql with every whole identifier `from` (outside '...' literals) replaced by `to`. */
static char *replace_ident(const char *sql, const char *from, const char *to) {
    strbuf b;
    strbuf_init(&b);
    size_t n = strlen(from);
    int replaced = 0;
    for (const char *p = sql; *p;) {
        if (*p == '\'') {                                   /* copy a literal whole */
            const char *q = p + 1;
            while (*q && !(*q == '\'' && q[1] != '\'')) q += *q == '\'' ? 2 : 1;
            if (*q) q++;
            strbuf_append(&b, p, (size_t)(q - p));
            p = q;
            continue;
        }
        if (!strncmp(p, from, n) && (p == sql || !ident_char(p[-1])) && !ident_char(p[n])) {
            strbuf_puts(&b, to);
            p += n;
            replaced = 1;
            continue;
        }
        strbuf_append(&b, p, 1);
        p++;
    }
    char *out = strbuf_take(&b);
    if (!replaced) { free(out); return NULL; }
    return out;
}

char *fix_unknown_name(const char *sql, const char *error, const sc_schema *s) {
    int is_table;
    char *x = unknown_name(error, &is_table);
    if (!x) return NULL;
    const char *best = NULL;
    int best_d = 1 << 30, ties = 0;
    for (int t = 0; t < s->ntables; t++) {
        const sc_table *tb = &s->tables[t];
        int nc = is_table ? 1 : tb->ncols;
        for (int c = 0; c < nc; c++) {
            const char *name = is_table ? tb->name : tb->cols[c].name;
            int d = fix_edit_distance(x, name);
            if (d < best_d) { best_d = d; best = name; ties = 0; }
            else if (d == best_d && strcasecmp(name, best)) ties++;
        }
    }
    int limit = (int)strlen(x) / 4;
    if (limit < 1) limit = 1;
    char *out = NULL;
    if (best && best_d <= limit && !ties && strcmp(best, x)) out = replace_ident(sql, x, best);
    free(x);
    return out;
}

/* ---- a column compared with a value it does not hold ---------------------- */

enum { TK_END, TK_IDENT, TK_STRING, TK_OTHER };

typedef struct sql_tok {
    int kind;
    const char *p;     /* in the SQL text */
    size_t n;
} sql_tok;

/* The next token at *pp: identifiers bare or quoted ("x", `x`, [x]), string
** literals, anything else one character (or an operator pair) at a time. */
static sql_tok next_tok(const char **pp) {
    const char *p = *pp;
    while (*p && isspace((unsigned char)*p)) p++;
    sql_tok t = { TK_END, p, 0 };
    if (!*p) { *pp = p; return t; }
    char close = *p == '"' ? '"' : *p == '`' ? '`' : *p == '[' ? ']' : *p == '\'' ? '\'' : 0;
    if (close) {
        const char *q = p + 1;
        while (*q && !(*q == close && q[1] != close)) q += *q == close ? 2 : 1;
        if (*q) q++;
        t.kind = *p == '\'' ? TK_STRING : TK_IDENT;
        t.n = (size_t)(q - p);
    } else if (ident_char(*p)) {
        const char *q = p;
        while (ident_char(*q)) q++;
        t.kind = isdigit((unsigned char)*p) ? TK_OTHER : TK_IDENT;
        t.n = (size_t)(q - p);
    } else {
        t.kind = TK_OTHER;
        t.n = (p[0] == '=' && p[1] == '=') || (p[0] == '!' && p[1] == '=') || (p[0] == '<' && p[1] == '>') ? 2 : 1;
    }
    *pp = p + t.n;
    return t;
}

/* The name a token spells: quotes removed, doubled quotes undone. malloc'd. */
static char *tok_text(const sql_tok *t) {
    char *o = malloc(t->n + 1);
    if (!o) return NULL;
    size_t k = 0;
    if (t->n >= 2 && strchr("\"`['", t->p[0])) {
        char close = t->p[0] == '[' ? ']' : t->p[0];
        for (size_t i = 1; i + 1 < t->n; i++) {
            o[k++] = t->p[i];
            if (t->p[i] == close && close != ']' && i + 2 < t->n && t->p[i + 1] == close) i++;
        }
    } else {
        memcpy(o, t->p, t->n);
        k = t->n;
    }
    o[k] = 0;
    return o;
}

static int tok_is(const sql_tok *t, const char *kw) {
    return t->kind == TK_IDENT && t->n == strlen(kw) && !strncasecmp(t->p, kw, t->n);
}

static int col_index(const sc_table *t, const char *name) {
    for (int i = 0; i < t->ncols; i++)
        if (!strcasecmp(t->cols[i].name, name)) return i;
    return -1;
}

/* Words that may follow a table name in FROM and are not its alias. */
static int is_clause_word(const sql_tok *t) {
    static const char *const WORDS[] = { "WHERE", "JOIN", "ON", "GROUP", "ORDER", "LIMIT", "INNER", "LEFT", "CROSS",
                                         "NATURAL", "UNION", "EXCEPT", "INTERSECT", "HAVING", "USING", "WINDOW" };
    for (size_t i = 0; i < sizeof WORDS / sizeof *WORDS; i++)
        if (tok_is(t, WORDS[i])) return 1;
    return 0;
}

#define FIX_MAX_REFS 32

typedef struct table_ref {
    char *name;            /* as the query calls it: the alias, else the table's name */
    const sc_table *t;
} table_ref;

/* One mend: replace [p, p+n) of the SQL by text. */
typedef struct edit {
    const char *p;
    size_t n;
    char *text;
} edit;

static int by_pos(const void *a, const void *b) {
    const edit *x = a, *y = b;
    return x->p < y->p ? -1 : x->p > y->p;
}

/* A quoted SQL string literal of v. malloc'd. */
static char *quote_literal(const char *v) {
    strbuf b;
    strbuf_init(&b);
    strbuf_put_quoted(&b, v, '\'');
    return strbuf_take(&b);
}

char *fix_value_columns(const char *sql, const sc_schema *s, fix_value_lookup lookup, void *ctx, int *n_mended) {
    *n_mended = 0;
    if (!sql || !s || !lookup) return NULL;
    /* the whole token list: queries are short */
    size_t cap = 64, nt = 0;
    sql_tok *tk = malloc(cap * sizeof *tk);
    if (!tk) return NULL;
    for (const char *p = sql;;) {
        if (nt == cap) {
            sql_tok *g = realloc(tk, 2 * cap * sizeof *tk);
            if (!g) { free(tk); return NULL; }
            tk = g;
            cap *= 2;
        }
        tk[nt] = next_tok(&p);
        if (tk[nt].kind == TK_END) break;
        nt++;
    }
    /* the tables it reads: FROM/JOIN t [AS] a, and t [AS] a after a comma in a FROM list */
    table_ref refs[FIX_MAX_REFS];
    int nref = 0;
    for (size_t i = 0; i + 1 < nt && nref < FIX_MAX_REFS; i++) {
        int after_from = tok_is(&tk[i], "FROM") || tok_is(&tk[i], "JOIN");
        int after_comma = tk[i].kind == TK_OTHER && tk[i].p[0] == ',' && nref > 0;
        if (!(after_from || after_comma) || tk[i + 1].kind != TK_IDENT) continue;
        char *name = tok_text(&tk[i + 1]);
        const sc_table *t = name ? sc_find_table(s, name) : NULL;
        if (!t) { free(name); continue; }
        size_t j = i + 2;
        if (j < nt && tok_is(&tk[j], "AS")) j++;
        if (j < nt && tk[j].kind == TK_IDENT && !is_clause_word(&tk[j])) {
            char *alias = tok_text(&tk[j]);
            if (alias) { free(name); name = alias; }
        }
        refs[nref++] = (table_ref){ name, t };
    }
    edit ed[FIX_MAX_REFS];
    int ned = 0;
    /* [q .] col = 'text' */
    for (size_t i = 0; i + 2 < nt && ned + 2 <= FIX_MAX_REFS; i++) {
        if (tk[i].kind != TK_IDENT || tk[i + 2].kind != TK_STRING) continue;
        if (!(tk[i + 1].kind == TK_OTHER && ((tk[i + 1].n == 1 && tk[i + 1].p[0] == '=') || (tk[i + 1].n == 2 && tk[i + 1].p[0] == '='))))
            continue;
        int qualified = i >= 2 && tk[i - 1].kind == TK_OTHER && tk[i - 1].p[0] == '.' && tk[i - 2].kind == TK_IDENT;
        char *col = tok_text(&tk[i]), *q = qualified ? tok_text(&tk[i - 2]) : NULL, *text = tok_text(&tk[i + 2]);
        const sc_table *t = NULL;
        int ambiguous = 0;
        for (int r = 0; col && r < nref; r++) {
            if (qualified ? (q && !strcasecmp(refs[r].name, q)) : col_index(refs[r].t, col) >= 0) {
                if (t && t != refs[r].t) ambiguous = 1;
                t = refs[r].t;
            }
        }
        int ci = t && !ambiguous ? col_index(t, col) : -1;
        char *stored = NULL;
        if (ci >= 0 && text && *text && lookup(ctx, t->name, t->cols[ci].name, text, &stored)) {
            if (strcmp(stored, text)) {               /* another case: the stored spelling */
                ed[ned++] = (edit){ tk[i + 2].p, tk[i + 2].n, quote_literal(stored) };
                ++*n_mended;
            }
            free(stored);
        } else if (ci >= 0 && text && *text) {
            int found = -1, hits = 0, looked = 0;
            char *found_stored = NULL;
            for (int c = 0; c < t->ncols && looked < FIX_VALUE_MAX_COLS && hits < 2; c++) {
                if (c == ci || sc_type_affinity(t->cols[c].decl_type) != 0) continue;
                looked++;
                char *st = NULL;
                if (lookup(ctx, t->name, t->cols[c].name, text, &st)) {
                    if (hits++ == 0) { found = c; found_stored = st; st = NULL; }
                }
                free(st);
            }
            if (hits == 1) {
                strbuf b;
                strbuf_init(&b);
                strbuf_put_quoted(&b, t->cols[found].name, '"');
                ed[ned++] = (edit){ tk[i].p, tk[i].n, strbuf_take(&b) };
                if (strcmp(found_stored, text))
                    ed[ned++] = (edit){ tk[i + 2].p, tk[i + 2].n, quote_literal(found_stored) };
                ++*n_mended;
            }
            free(found_stored);
        }
        free(col);
        free(q);
        free(text);
    }
    char *out = NULL;
    if (ned) {
        qsort(ed, (size_t)ned, sizeof *ed, by_pos);
        strbuf b;
        strbuf_init(&b);
        const char *p = sql;
        for (int k = 0; k < ned; k++) {
            strbuf_append(&b, p, (size_t)(ed[k].p - p));
            strbuf_puts(&b, ed[k].text ? ed[k].text : "");
            p = ed[k].p + ed[k].n;
        }
        strbuf_puts(&b, p);
        out = strbuf_take(&b);
    }
    for (int k = 0; k < ned; k++) free(ed[k].text);
    for (int r = 0; r < nref; r++) free(refs[r].name);
    free(tk);
    if (!out) *n_mended = 0;
    return out;
}

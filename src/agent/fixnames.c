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

/* A query cut into tokens, and the tables it reads. */
typedef struct parsed_sql {
    sql_tok *tk;
    size_t nt;
    table_ref refs[FIX_MAX_REFS];
    int nref;
} parsed_sql;

static void parsed_free(parsed_sql *ps) {
    for (int r = 0; r < ps->nref; r++) free(ps->refs[r].name);
    free(ps->tk);
}

/* Tokens of sql (queries are short: the whole list), then the tables it
** reads: FROM/JOIN t [AS] a, and t [AS] a after a comma in a FROM list.
** 0, or -1 when out of memory. */
static int parse_sql(const char *sql, const sc_schema *s, parsed_sql *ps) {
    memset(ps, 0, sizeof *ps);
    size_t cap = 64, nt = 0;
    sql_tok *tk = malloc(cap * sizeof *tk);
    if (!tk) return -1;
    for (const char *p = sql;;) {
        if (nt == cap) {
            sql_tok *g = realloc(tk, 2 * cap * sizeof *tk);
            if (!g) { free(tk); return -1; }
            tk = g;
            cap *= 2;
        }
        tk[nt] = next_tok(&p);
        if (tk[nt].kind == TK_END) break;
        nt++;
    }
    ps->tk = tk;
    ps->nt = nt;
    for (size_t i = 0; i + 1 < nt && ps->nref < FIX_MAX_REFS; i++) {
        int after_from = tok_is(&tk[i], "FROM") || tok_is(&tk[i], "JOIN");
        int after_comma = tk[i].kind == TK_OTHER && tk[i].p[0] == ',' && ps->nref > 0;
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
        ps->refs[ps->nref++] = (table_ref){ name, t };
    }
    return 0;
}

/* Is token i preceded by "q ." (a qualified column)? */
static int qualified_at(const parsed_sql *ps, size_t i) {
    const sql_tok *tk = ps->tk;
    return i >= 2 && tk[i - 1].kind == TK_OTHER && tk[i - 1].p[0] == '.' && tk[i - 2].kind == TK_IDENT;
}

/* The table of the column named by token i (bare, or qualified by a table
** or alias of the query), and its index there in *ci; NULL when no table of
** the query has it, or several do. */
static const sc_table *column_table(const parsed_sql *ps, size_t i, int *ci) {
    int qualified = qualified_at(ps, i);
    char *col = tok_text(&ps->tk[i]), *q = qualified ? tok_text(&ps->tk[i - 2]) : NULL;
    const sc_table *t = NULL;
    int ambiguous = 0;
    for (int r = 0; col && r < ps->nref; r++) {
        if (qualified ? (q && !strcasecmp(ps->refs[r].name, q)) : col_index(ps->refs[r].t, col) >= 0) {
            if (t && t != ps->refs[r].t) ambiguous = 1;
            t = ps->refs[r].t;
        }
    }
    *ci = t && !ambiguous && col ? col_index(t, col) : -1;
    free(col);
    free(q);
    return *ci >= 0 ? t : NULL;
}

/* sql with the edits ed[0..ned) made (they do not overlap); NULL when out of memory. */
static char *apply_edits(const char *sql, edit *ed, int ned) {
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
    return strbuf_take(&b);
}

/* A quoted SQL identifier of name. malloc'd. */
static char *quote_name(const char *name) {
    strbuf b;
    strbuf_init(&b);
    strbuf_put_quoted(&b, name, '"');
    return strbuf_take(&b);
}

char *fix_value_columns(const char *sql, const sc_schema *s, fix_value_lookup lookup, void *ctx, int *n_mended) {
    *n_mended = 0;
    parsed_sql ps;
    if (!sql || !s || !lookup || parse_sql(sql, s, &ps)) return NULL;
    const sql_tok *tk = ps.tk;
    size_t nt = ps.nt;
    edit ed[FIX_MAX_REFS];
    int ned = 0;
    /* [q .] col = 'text' */
    for (size_t i = 0; i + 2 < nt && ned + 2 <= FIX_MAX_REFS; i++) {
        if (tk[i].kind != TK_IDENT || tk[i + 2].kind != TK_STRING) continue;
        if (!(tk[i + 1].kind == TK_OTHER && ((tk[i + 1].n == 1 && tk[i + 1].p[0] == '=') || (tk[i + 1].n == 2 && tk[i + 1].p[0] == '='))))
            continue;
        int ci;
        const sc_table *t = column_table(&ps, i, &ci);
        char *text = tok_text(&tk[i + 2]);
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
                ed[ned++] = (edit){ tk[i].p, tk[i].n, quote_name(t->cols[found].name) };
                if (strcmp(found_stored, text))
                    ed[ned++] = (edit){ tk[i + 2].p, tk[i + 2].n, quote_literal(found_stored) };
                ++*n_mended;
            }
            free(found_stored);
        }
        free(text);
    }
    char *out = ned ? apply_edits(sql, ed, ned) : NULL;
    for (int k = 0; k < ned; k++) free(ed[k].text);
    parsed_free(&ps);
    if (!out) *n_mended = 0;
    return out;
}

/* ---- a year compared with a date ------------------------------------------ */

/* A comparison operator starting at token i (=, ==, !=, <>, <, >, <=, >=);
** its token count, else 0. */
static int comparison_at(const parsed_sql *ps, size_t i) {
    if (i >= ps->nt || ps->tk[i].kind != TK_OTHER) return 0;
    const sql_tok *t = &ps->tk[i];
    if (t->n == 2) return t->p[0] == '=' || t->p[0] == '!' || t->p[0] == '<';
    if (t->p[0] == '=') return 1;
    if (t->p[0] != '<' && t->p[0] != '>') return 0;
    return i + 1 < ps->nt && ps->tk[i + 1].kind == TK_OTHER && ps->tk[i + 1].n == 1 && ps->tk[i + 1].p[0] == '=' &&
                   ps->tk[i + 1].p == t->p + 1
               ? 2
               : 1;
}

/* The year a token spells, 1000-2999, bare (2020) or quoted ('2020'); else 0. */
static int year_at(const sql_tok *t) {
    const char *p = t->p;
    size_t n = t->n;
    if (t->kind == TK_STRING) { p++; n -= 2; }
    else if (t->kind != TK_OTHER) return 0;
    if (n != 4 || (p[0] != '1' && p[0] != '2')) return 0;
    int y = 0;
    for (int k = 0; k < 4; k++) {
        if (!isdigit((unsigned char)p[k])) return 0;
        y = 10 * y + (p[k] - '0');
    }
    return y;
}

static char *year_literal(const sql_tok *t) {
    char *o = malloc(7);
    if (o) snprintf(o, 7, "'%.4s'", t->p + (t->kind == TK_STRING));
    return o;
}

char *fix_year_dates(const char *sql, const sc_schema *s, fix_date_probe holds_dates, void *ctx, int *n_mended) {
    *n_mended = 0;
    parsed_sql ps;
    if (!sql || !s || !holds_dates || parse_sql(sql, s, &ps)) return NULL;
    const sql_tok *tk = ps.tk;
    size_t nt = ps.nt;
    edit ed[FIX_MAX_REFS];
    int ned = 0;
    for (size_t i = 0; i + 2 < nt && ned + 2 <= FIX_MAX_REFS; i++) {
        if (tk[i].kind != TK_IDENT) continue;
        /* strftime('%Y', [q .] col) op year: the year quoted (strftime gives
        ** text, never equal to a number), and a column holding no dates
        ** swapped for the one column of its table that does */
        if (tok_is(&tk[i], "strftime") && i + 5 < nt && tk[i + 1].p[0] == '(' && tk[i + 2].kind == TK_STRING &&
            tk[i + 2].n == 4 && !memcmp(tk[i + 2].p, "'%Y'", 4) && tk[i + 3].p[0] == ',') {
            size_t c = i + 4;
            if (c + 2 < nt && tk[c + 1].kind == TK_OTHER && tk[c + 1].p[0] == '.' && tk[c + 2].kind == TK_IDENT) c += 2;
            if (c + 2 >= nt || tk[c].kind != TK_IDENT || tk[c + 1].p[0] != ')') continue;
            int op = comparison_at(&ps, c + 2);
            if (!op || c + 2 + (size_t)op >= nt || !year_at(&tk[c + 2 + op])) continue;
            int ci, mended = 0;
            const sc_table *t = column_table(&ps, c, &ci);
            if (t && !holds_dates(ctx, t->name, t->cols[ci].name)) {
                int found = -1, looked = 0;
                for (int k = 0; k < t->ncols && looked < FIX_VALUE_MAX_COLS && found < 0; k++) {
                    if (k == ci || sc_type_affinity(t->cols[k].decl_type) != 0) continue;
                    looked++;
                    if (holds_dates(ctx, t->name, t->cols[k].name)) found = k;
                }
                if (found >= 0) {
                    ed[ned++] = (edit){ tk[c].p, tk[c].n, quote_name(t->cols[found].name) };
                    mended = 1;
                }
            }
            const sql_tok *y = &tk[c + 2 + op];
            if (y->kind != TK_STRING) { ed[ned++] = (edit){ y->p, y->n, year_literal(y) }; mended = 1; }
            *n_mended += mended;
            i = c + 2 + (size_t)op;
            continue;
        }
        /* [q .] col op year, col holding dates: strftime('%Y', [q .] col) op 'year' */
        int op = comparison_at(&ps, i + 1);
        if (!op || i + 1 + (size_t)op >= nt || !year_at(&tk[i + 1 + op])) continue;
        int ci;
        const sc_table *t = column_table(&ps, i, &ci);
        if (!t || !holds_dates(ctx, t->name, t->cols[ci].name)) continue;
        size_t first = qualified_at(&ps, i) ? i - 2 : i;
        strbuf b;
        strbuf_init(&b);
        strbuf_puts(&b, "strftime('%Y', ");
        strbuf_append(&b, tk[first].p, (size_t)(tk[i].p + tk[i].n - tk[first].p));
        strbuf_puts(&b, ")");
        ed[ned++] = (edit){ tk[first].p, (size_t)(tk[i].p + tk[i].n - tk[first].p), strbuf_take(&b) };
        const sql_tok *y = &tk[i + 1 + op];
        ed[ned++] = (edit){ y->p, y->n, year_literal(y) };
        ++*n_mended;
        i += 1 + (size_t)op;
    }
    char *out = ned ? apply_edits(sql, ed, ned) : NULL;
    for (int k = 0; k < ned; k++) free(ed[k].text);
    parsed_free(&ps);
    if (!out) *n_mended = 0;
    return out;
}

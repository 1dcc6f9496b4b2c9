/*
** fixnames.c — mends a misspelt table or column name (see fixnames.h).
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

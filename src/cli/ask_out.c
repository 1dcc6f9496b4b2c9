/*
** ask_out.c — see ask_out.h.
*/
#include "ask_out.h"

#include <ctype.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/strbuf.h"

/* questions of the conversation shown with a follow-up when tables are chosen */
#define TABLES_FOR_TURNS 3

char *ask_answer_json(const agent_answer *a) {
    json_t *o = agent_answer_json(a);
    if (!o) return NULL;
    json_t *res = json_object_get(o, "result");
    if (json_is_object(res)) {   /* the rows are at the top level: not twice */
        json_object_del(res, "columns");
        json_object_del(res, "rows");
    }
    if (a->ok) {
        json_object_set_new(o, "error", json_null());
    } else {
        const char *last = a->n_attempts ? a->attempts[a->n_attempts - 1].error : NULL;
        char msg[1200];
        snprintf(msg, sizeof msg, "no attempt produced a query that runs (%d attempt%s)%s%.1000s", a->n_attempts,
                 a->n_attempts == 1 ? "" : "s", last ? "; the last failed with: " : "", last ? last : "");
        json_object_set_new(o, "error", json_string(msg));
    }
    char *out = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    return out;
}

static void csv_field(strbuf *b, const char *s, size_t n) {
    int quote = 0;
    for (size_t i = 0; i < n && !quote; i++) quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!quote) { strbuf_append(b, s, n); return; }
    strbuf_puts(b, "\"");
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') strbuf_puts(b, "\"");
        strbuf_append(b, s + i, 1);
    }
    strbuf_puts(b, "\"");
}

char *ask_result_csv(const sb_result *r) {
    strbuf b;
    strbuf_init(&b);
    for (int c = 0; c < r->ncols; c++) {
        if (c) strbuf_puts(&b, ",");
        csv_field(&b, r->col_names[c], strlen(r->col_names[c]));
    }
    strbuf_puts(&b, "\n");
    for (int64_t i = 0; i < r->nrows; i++) {
        for (int c = 0; c < r->ncols; c++) {
            const sb_value *v = &r->cells[i * r->ncols + c];
            char num[64];
            if (c) strbuf_puts(&b, ",");
            switch (v->type) {
            case SB_NULL: break;
            case SB_INTEGER: strbuf_printf(&b, "%lld", (long long)v->i); break;
            case SB_REAL:
                snprintf(num, sizeof num, "%.15g", v->r);
                if (strtod(num, NULL) != v->r) snprintf(num, sizeof num, "%.17g", v->r);
                strbuf_puts(&b, num);
                break;
            case SB_TEXT: csv_field(&b, v->bytes ? v->bytes : "", v->len); break;
            case SB_BLOB:
                for (size_t k = 0; k < v->len; k++) strbuf_printf(&b, "%02x", (unsigned char)v->bytes[k]);
                break;
            }
        }
        strbuf_puts(&b, "\n");
    }
    return strbuf_take(&b);
}

static int in_path(const char *prog) {
    const char *path = getenv("PATH");
    if (!path) path = "/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        char f[4096];
        snprintf(f, sizeof f, "%.*s/%s", (int)n, path, prog);
        if (n && access(f, X_OK) == 0) return 1;
        path += n + (path[n] == ':');
    }
    return 0;
}

void ask_page(const char *text) {
    struct winsize ws;
    size_t lines = 0;
    for (const char *p = text; *p; p++) lines += *p == '\n';
    if (!isatty(STDOUT_FILENO) || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) || ws.ws_row == 0 || lines < ws.ws_row) {
        fputs(text, stdout);
        return;
    }
    const char *pager = getenv("PAGER");
    if (!pager || !*pager) pager = in_path("less") ? "less" : in_path("more") ? "more" : NULL;
    if (!pager || !strcmp(pager, "cat")) { fputs(text, stdout); return; }
    setenv("LESS", "FRX", 0);   /* as git does: quit when it fits, leave the text on the screen */
    fflush(stdout);
    FILE *p = popen(pager, "w");
    if (!p) { fputs(text, stdout); return; }
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);   /* the reader may quit before the end */
    fputs(text, p);
    pclose(p);
    signal(SIGPIPE, old);
}

static void print_timings(const agent_answer *a) {
    fprintf(stderr, "tokens: %d prompt (%d cached), %d generated; time: tokenize %.1f ms, prefill %.1f ms, decode %.1f ms, execute %.1f ms, total %.1f ms\n",
            a->prompt_tokens, a->cached_tokens, a->generated_tokens, a->tokenize_ms, a->prefill_ms, a->decode_ms,
            a->execute_ms, a->total_ms);
    if (a->drafted_tokens)
        fprintf(stderr, "speculative decoding: %d of %d drafted tokens accepted (%.0f%%)\n", a->accepted_tokens,
                a->drafted_tokens, 100.0 * a->accepted_tokens / a->drafted_tokens);
}

void ask_print_result(const sb_result *r, ask_format f) {
    char *t = NULL;
    if (f == ASK_JSON) {
        t = sb_result_to_json(r);
        if (t) printf("%s\n", t);
    } else if (f == ASK_CSV) {
        if ((t = ask_result_csv(r))) fputs(t, stdout);
    } else if ((t = sb_result_to_table(r, 0))) {
        ask_page(t);
    }
    free(t);
    fflush(stdout);
}

int ask_print_answer(const agent_answer *a, ask_format f, int verbose) {
    if (verbose && a->schema_note) {
        fprintf(stderr, "note: ");
        sb_print_text(stderr, a->schema_note);
        fprintf(stderr, "\n");
    }
    if (f == ASK_JSON) {
        char *s = ask_answer_json(a);
        if (s) puts(s);
        free(s);
    } else if (a->ok && f == ASK_CSV) {
        ask_print_result(&a->result, f);
    } else if (a->ok) {
        strbuf b;
        strbuf_init(&b);
        char *sql = sb_display_text(a->sql ? a->sql : "");   /* the model's text, bound for a terminal */
        strbuf_printf(&b, "SQL: %s\n", sql ? sql : "");
        free(sql);
        char *t = sb_result_to_table(&a->result, 0);
        strbuf_puts(&b, t ? t : "");
        free(t);
        char *all = strbuf_take(&b);
        if (all) ask_page(all);
        free(all);
    }
    fflush(stdout);
    if (!a->ok && f != ASK_JSON) {
        const char *last = a->n_attempts ? a->attempts[a->n_attempts - 1].error : NULL;
        fprintf(stderr, "sqlassist: no attempt produced a query that runs (%d attempt%s)", a->n_attempts,
                a->n_attempts == 1 ? "" : "s");
        if (a->sql && a->sql[0]) {
            fprintf(stderr, "; the last one was\n  ");
            sb_print_text(stderr, a->sql);
            fprintf(stderr, "\nand failed with: ");
            sb_print_text(stderr, last ? last : "?");
        } else if (last) {
            fprintf(stderr, ": ");
            sb_print_text(stderr, last);
        }
        fprintf(stderr, "\nTry rephrasing the question with the names of the tables and columns it is about.\n");
    }
    if (verbose) print_timings(a);
    return a->ok ? 0 : 1;
}

/* ---- examples and the banner ---------------------------------------------------------- */

static int is_key(const sc_table *t, const sc_column *c) {
    size_t n = strlen(c->name);
    if (c->pk_position || !strcasecmp(c->name, "id") || (n > 3 && !strcasecmp(c->name + n - 3, "_id"))) return 1;
    for (int k = 0; k < t->nfkeys; k++)
        for (int i = 0; i < t->fkeys[k].ncols; i++)
            if (!strcmp(t->fkeys[k].from_cols[i], c->name)) return 1;
    return 0;
}

static int type_has(const char *decl, const char *word) {
    char up[64];
    size_t i = 0;
    for (; decl[i] && i + 1 < sizeof up; i++) up[i] = (char)toupper((unsigned char)decl[i]);
    up[i] = 0;
    return strstr(up, word) != NULL;
}

static int numeric(const sc_column *c) {
    const char *d = c->decl_type;
    return type_has(d, "INT") || type_has(d, "REAL") || type_has(d, "FLOA") || type_has(d, "DOUB") || type_has(d, "NUM") ||
           type_has(d, "DEC");
}

static int textual(const sc_column *c) {
    const char *d = c->decl_type;
    return type_has(d, "CHAR") || type_has(d, "TEXT") || type_has(d, "CLOB");
}

/* A plain name: letters, digits and underscores only (others read badly in a question). */
static int plain(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_') return 0;
    return 1;
}

/* The first column of t that is not a key and is numeric (want 1) or
** textual (want 2; with a name of two words or more when words2). */
static const sc_column *pick(const sc_table *t, int want, int words2) {
    for (int k = 0; k < t->ncols; k++) {
        const sc_column *c = &t->cols[k];
        if (is_key(t, c) || !plain(c->name)) continue;
        if (want == 1 ? numeric(c) : textual(c) && (!words2 || strchr(c->name, '_'))) return c;
    }
    return NULL;
}

static char *words(const char *name) {
    char *w = strdup(name);
    for (char *p = w; p && *p; p++)
        if (*p == '_') *p = ' ';
        else *p = (char)tolower((unsigned char)*p);
    return w;
}

static char *question(const char *fmt, const sc_table *t, const sc_column *c) {
    char *tw = words(t->name), *cw = words(c->name), *q = NULL;
    if (tw && cw && asprintf(&q, fmt, cw, tw) < 0) q = NULL;
    free(tw);
    free(cw);
    return q;
}

int ask_examples(const sc_schema *s, char **out, int max) {
    /* the shapes, each on another table: a maximum, a listing, an average */
    static const struct { const char *fmt; int want, words2; } SHAPES[] = {
        { "What is the highest %s of the %s?", 1, 0 },
        { "List the %s of the %s", 2, 1 },
        { "What is the average %s of the %s?", 1, 0 },
        { "List the %s of the %s", 2, 0 },
    };
    int n = 0;
    const sc_table *used[8];
    int nused = 0;
    for (size_t k = 0; k < sizeof SHAPES / sizeof SHAPES[0] && n < max; k++) {
        for (int i = 0; i < s->ntables; i++) {
            const sc_table *t = &s->tables[i];
            int seen = 0;
            for (int u = 0; u < nused; u++) seen |= used[u] == t;
            if (seen || t->is_virtual || !plain(t->name)) continue;
            const sc_column *c = pick(t, SHAPES[k].want, SHAPES[k].words2);
            if (!c) continue;
            char *q = question(SHAPES[k].fmt, t, c);
            if (!q) break;
            out[n++] = q;
            if (nused < (int)(sizeof used / sizeof used[0])) used[nused++] = t;
            break;
        }
    }
    return n;
}

void ask_banner(FILE *f, const char *db_name, const sc_schema *s) {
    /* names come from the database: escaped, as everything printed to a terminal */
    fprintf(f, "sqlassist: questions about ");
    sb_print_text(f, db_name);
    fprintf(f, ", %d table%s:", s->ntables, s->ntables == 1 ? "" : "s");
    for (int i = 0; i < s->ntables; i++) {
        fprintf(f, "%s ", i ? "," : "");
        sb_print_text(f, s->tables[i].name);
    }
    fprintf(f, "\n");
    char *ex[3];
    int n = ask_examples(s, ex, 3);
    if (n) fprintf(f, "Questions like these work:\n");
    for (int i = 0; i < n; i++) {
        fprintf(f, "  ");   /* examples quote table and column names */
        sb_print_text(f, ex[i]);
        fprintf(f, "\n");
        free(ex[i]);
    }
    fprintf(f, "A question that names no table refines the last one. '.sql SELECT ...' runs SQL directly; "
               "'help' lists the commands; 'exit' or Ctrl+D ends.\n");
}

char *ask_tables_for(const agent_conversation *c, const char *q) {
    strbuf b;
    strbuf_init(&b);
    for (int i = c->n > TABLES_FOR_TURNS ? c->n - TABLES_FOR_TURNS : 0; i < c->n; i++) {
        strbuf_puts(&b, c->questions[i]);
        strbuf_puts(&b, "\n");
    }
    strbuf_puts(&b, q);
    return strbuf_take(&b);
}

/* Whether the lower-cased text has word w (also with an 's' added or taken
** away) between word boundaries. */
static int has_word(const char *text, const char *w) {
    size_t n = strlen(w);
    if (!n) return 0;
    for (const char *p = text; (p = strstr(p, w)); p++) {
        if (p > text && isalnum((unsigned char)p[-1])) continue;
        const char *e = p + n;
        if (*e == 's') e++;
        if (!isalnum((unsigned char)*e)) return 1;
    }
    if (n > 3 && w[n - 1] == 's') {   /* "customer" for "customers" */
        char *stem = strndup(w, n - 1);
        int r = stem && has_word(text, stem);
        free(stem);
        return r;
    }
    return 0;
}

char *ask_followup(const char *last, const sc_schema *s, const char *q) {
    if (!last) return NULL;
    char *lower = words(q);
    int names = 0;
    for (int i = 0; lower && i < s->ntables && !names; i++) {
        char *t = words(s->tables[i].name);
        names = t && has_word(lower, t);
        free(t);
    }
    free(lower);
    if (names) return NULL;
    const char *prev = last;
    size_t n = strlen(prev);
    while (n && strchr("?.! \t\r\n", prev[n - 1])) n--;
    char *out = NULL;
    if (asprintf(&out, "%.*s, %s", (int)n, prev, q) < 0) out = NULL;
    return out;
}

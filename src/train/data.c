/*
** data.c — sql-create-context JSONL into token ids (see data.h). Lines are
** parsed on one thread (so bad rows are found in file order), then
** rendered and tokenized in parallel, each row into its own slot.
*/
#include "data.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../agent/prompt.h"
#include "../util/hash.h"

#define MAX_LINE_BYTES (1 << 20)

static const char *const BAD_NAME[BAD_KINDS] = {
    "not JSON", "not an object", "missing or bad field", "invalid UTF-8", "line too long", "too many tokens",
    "tokenizer error",
};

typedef struct bad_row {
    long line;
    int kind;
    char msg[200];
} bad_row;

typedef struct row {
    long line;
    char *question, *context, *answer;
    int is_val;
    /* filled by tokenize */
    int32_t *ids;
    int n, n_prompt;
    int bad_kind;          /* -1: fine */
    char msg[200];
} row;

typedef struct loader {
    row *rows;
    size_t n_rows, cap_rows;
    bad_row *bad;
    size_t n_bad, cap_bad;
    const tdata_opts *o;
    prompt_template tpl;
} loader;

int tdata_is_val(const char *question, int val_mod) {
    if (val_mod <= 0) return 0;
    return hash_fnv1a64(HASH_FNV1A64_INIT, question, strlen(question)) % (uint64_t)val_mod == 0;
}

/* Offset of the first byte that is not part of valid UTF-8 (overlongs,
** surrogates and code points past U+10FFFF are invalid), or -1. */
static long utf8_invalid_at(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) { i++; continue; }
        int len;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return (long)i;
        if (i + (size_t)len > n) return (long)i;
        for (int k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return (long)i;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return (long)i;
        i += (size_t)len;
    }
    return -1;
}

static int add_bad(loader *ld, long line, int kind, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int add_bad(loader *ld, long line, int kind, const char *fmt, ...) {
    if (ld->n_bad == ld->cap_bad) {
        size_t cap = ld->cap_bad ? 2 * ld->cap_bad : 64;
        bad_row *p = realloc(ld->bad, cap * sizeof *p);
        if (!p) return -1;
        ld->bad = p;
        ld->cap_bad = cap;
    }
    bad_row *b = &ld->bad[ld->n_bad++];
    b->line = line;
    b->kind = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->msg, sizeof b->msg, fmt, ap);
    va_end(ap);
    return 0;
}

/* Checks one field; on trouble records the bad row and returns NULL. */
static const char *field(loader *ld, json_t *obj, long line, const char *name) {
    json_t *v = json_object_get(obj, name);
    if (!v) { add_bad(ld, line, BAD_FIELD, "missing field '%s'", name); return NULL; }
    if (!json_is_string(v)) { add_bad(ld, line, BAD_FIELD, "field '%s' is not a string", name); return NULL; }
    const char *s = json_string_value(v);
    const char *p = s;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    if (!*p) { add_bad(ld, line, BAD_FIELD, "field '%s' is empty", name); return NULL; }
    return s;
}

static int parse_line(loader *ld, char *buf, size_t len, long line) {
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) buf[--len] = 0;
    size_t k = 0;
    while (k < len && (buf[k] == ' ' || buf[k] == '\t')) k++;
    if (k == len) return 1;                                 /* blank */
    if (len > MAX_LINE_BYTES) return add_bad(ld, line, BAD_LONG_LINE, "line of %zu bytes (at most %d)", len, MAX_LINE_BYTES);
    long at = utf8_invalid_at((const unsigned char *)buf, len);
    if (at >= 0) return add_bad(ld, line, BAD_UTF8, "invalid UTF-8 at byte %ld", at + 1);
    json_error_t je;
    json_t *o = json_loadb(buf, len, 0, &je);
    if (!o) return add_bad(ld, line, BAD_JSON, "not valid JSON: %s (column %d)", je.text, je.column);
    int rc = 0;
    if (!json_is_object(o)) { rc = add_bad(ld, line, BAD_NOT_OBJECT, "not a JSON object"); goto out; }
    const char *q = field(ld, o, line, "question");
    const char *c = q ? field(ld, o, line, "context") : NULL;
    const char *a = c ? field(ld, o, line, "answer") : NULL;
    if (!a) goto out;
    if (ld->n_rows == ld->cap_rows) {
        size_t cap = ld->cap_rows ? 2 * ld->cap_rows : 256;
        row *p = realloc(ld->rows, cap * sizeof *p);
        if (!p) { rc = -1; goto out; }
        ld->rows = p;
        ld->cap_rows = cap;
    }
    row *r = &ld->rows[ld->n_rows];
    memset(r, 0, sizeof *r);
    r->line = line;
    r->question = strdup(q);
    r->context = strdup(c);
    r->answer = strdup(a);
    r->is_val = tdata_is_val(q, ld->o->val_mod);
    r->bad_kind = -1;
    if (!r->question || !r->context || !r->answer) { free(r->question); free(r->context); free(r->answer); rc = -1; goto out; }
    ld->n_rows++;
out:
    json_decref(o);
    return rc;
}

static void tokenize_rows(void *ctx, int b, int e, int ith) {
    loader *ld = ctx;
    const tdata_opts *o = ld->o;
    for (int i = b; i < e; i++) {
        row *r = &ld->rows[i];
        sa_err err = {{0}};
        int32_t *pi = NULL, *ai = NULL;
        size_t np = 0, na = 0;
        char *prompt = prompt_render(&ld->tpl, r->context, NULL, 0, r->question, NULL, 0);
        /* the answer is data too: "<|" in it must not become a control token */
        char *answer = prompt_defang(r->answer);
        if (!prompt || !answer) { r->bad_kind = BAD_TOKENIZE; snprintf(r->msg, sizeof r->msg, "out of memory"); }
        else if (tok_encode(o->tok, prompt, strlen(prompt), &pi, &np, &err) ||
                 tok_encode(o->tok, answer, strlen(answer), &ai, &na, &err)) {
            r->bad_kind = BAD_TOKENIZE;
            snprintf(r->msg, sizeof r->msg, "%.190s", err.msg);
        } else if (np + na + 1 > (size_t)o->max_len) {
            r->bad_kind = BAD_TOO_MANY_TOKENS;
            snprintf(r->msg, sizeof r->msg, "%zu tokens, more than --seq-len %d", np + na + 1, o->max_len);
        } else if (na == 0) {
            r->bad_kind = BAD_FIELD;
            snprintf(r->msg, sizeof r->msg, "field 'answer' gives no tokens");
        } else if (!(r->ids = malloc((np + na + 1) * sizeof *r->ids))) {
            r->bad_kind = BAD_TOKENIZE;
            snprintf(r->msg, sizeof r->msg, "out of memory");
        } else {
            memcpy(r->ids, pi, np * sizeof *pi);
            memcpy(r->ids + np, ai, na * sizeof *ai);
            r->ids[np + na] = o->end_id;
            r->n = (int)(np + na + 1);
            r->n_prompt = (int)np;
        }
        free(pi);
        free(ai);
        free(prompt);
        free(answer);
    }
}

static int cmp_bad(const void *a, const void *b) {
    const bad_row *x = a, *y = b;
    return x->line < y->line ? -1 : x->line > y->line;
}

int tdata_load(tdata *d, const tdata_opts *o, FILE *report, sa_err *err) {
    memset(d, 0, sizeof *d);
    FILE *f = fopen(o->path, "rb");
    if (!f) return sa_fail(err, "%s: cannot open: %s", o->path, strerror(errno));
    loader ld = { .o = o };
    if (prompt_template_init(&ld.tpl, o->prompt_format ? o->prompt_format : "sql-create-context", NULL, err)) { fclose(f); return -1; }
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    long line = 0;
    int rc = -1;
    while ((o->limit <= 0 || line < o->limit) && (len = getline(&buf, &cap, f)) >= 0) {
        line++;
        int r = parse_line(&ld, buf, (size_t)len, line);
        if (r < 0) { sa_fail(err, "out of memory reading %s", o->path); goto out; }
        if (r == 1) d->n_blank++;
    }
    if (ferror(f)) { sa_fail(err, "%s: read error: %s", o->path, strerror(errno)); goto out; }
    d->n_lines = line;
    if (o->tp) tp_run(o->tp, (int)ld.n_rows, tokenize_rows, &ld);
    else tokenize_rows(&ld, 0, (int)ld.n_rows, 0);
    int n_train = 0, n_val = 0;
    for (size_t i = 0; i < ld.n_rows; i++) {
        row *r = &ld.rows[i];
        if (r->bad_kind >= 0) {
            if (add_bad(&ld, r->line, r->bad_kind, "%s", r->msg)) { sa_fail(err, "out of memory"); goto out; }
        } else if (r->is_val) n_val++;
        else n_train++;
    }
    d->train = calloc((size_t)(n_train ? n_train : 1), sizeof *d->train);
    d->val = calloc((size_t)(n_val ? n_val : 1), sizeof *d->val);
    if (!d->train || !d->val) { sa_fail(err, "out of memory"); goto out; }
    uint64_t h = HASH_FNV1A64_INIT;
    for (size_t i = 0; i < ld.n_rows; i++) {
        row *r = &ld.rows[i];
        if (r->bad_kind >= 0) continue;
        texample *ex = r->is_val ? &d->val[d->n_val++] : &d->train[d->n_train++];
        ex->ids = r->ids;
        ex->n = r->n;
        ex->n_prompt = r->n_prompt;
        ex->line = r->line;
        ex->group = hash_fnv1a64(HASH_FNV1A64_INIT, r->context, strlen(r->context));
        r->ids = NULL;
        h = hash_fnv1a64(hash_fnv1a64(h, ex->ids, (size_t)ex->n * sizeof *ex->ids), &ex->n_prompt, sizeof ex->n_prompt);
        h = hash_fnv1a64(h, &r->is_val, sizeof r->is_val);
    }
    d->hash = h;
    if (ld.n_bad) qsort(ld.bad, ld.n_bad, sizeof *ld.bad, cmp_bad);
    for (size_t i = 0; i < ld.n_bad; i++) {
        d->n_bad[ld.bad[i].kind]++;
        d->n_bad_total++;
        if (report && (long)i < o->max_report) fprintf(report, "%s:%ld: skipped: %s\n", o->path, ld.bad[i].line, ld.bad[i].msg);
    }
    if (report && (long)ld.n_bad > o->max_report)
        fprintf(report, "%s: ... and %ld more skipped rows\n", o->path, (long)ld.n_bad - o->max_report);
    if (d->n_train == 0) { sa_fail(err, "%s: no usable training rows (%ld lines, %ld skipped)", o->path, d->n_lines, d->n_bad_total); goto out; }
    rc = 0;
out:
    for (size_t i = 0; i < ld.n_rows; i++) {
        free(ld.rows[i].question);
        free(ld.rows[i].context);
        free(ld.rows[i].answer);
        free(ld.rows[i].ids);
    }
    free(ld.rows);
    free(ld.bad);
    free(buf);
    fclose(f);
    prompt_template_free(&ld.tpl);
    if (rc) tdata_free(d);
    return rc;
}

void tdata_free(tdata *d) {
    for (int i = 0; i < d->n_train; i++) free(d->train[i].ids);
    for (int i = 0; i < d->n_val; i++) free(d->val[i].ids);
    free(d->train);
    free(d->val);
    memset(d, 0, sizeof *d);
}

void tdata_bad_summary(const tdata *d, char *buf, size_t n) {
    buf[0] = 0;
    size_t used = 0;
    for (int k = 0; k < BAD_KINDS; k++) {
        if (!d->n_bad[k]) continue;
        int w = snprintf(buf + used, n - used, "%s%s %ld", used ? ", " : "", BAD_NAME[k], d->n_bad[k]);
        if (w < 0 || (size_t)w >= n - used) break;
        used += (size_t)w;
    }
    if (!used) snprintf(buf, n, "none");
}

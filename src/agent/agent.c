/*
** agent.c — the generate → execute → repair loop (see agent.h).
*/
#include "agent.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <pthread.h>

#include "../engine/batcher.h"
#include "../engine/beam.h"
#include "../engine/generate.h"
#include "../engine/lora.h"
#include "copyvals.h"
#include "fixnames.h"
#include "schema_prompt.h"
#include "sqlgrammar.h"
#include "../util/clock.h"
#include "../util/jsonstr.h"
#include "../util/strbuf.h"
#include "../util/utf8.h"

void agent_conversation_init(agent_conversation *c) { memset(c, 0, sizeof *c); }

void agent_conversation_free(agent_conversation *c) {
    for (int i = 0; i < c->n; i++) { free(c->questions[i]); free(c->sqls[i]); }
    free(c->questions);
    free(c->sqls);
    memset(c, 0, sizeof *c);
}

void agent_conversation_add(agent_conversation *c, const char *question, const char *sql) {
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 8;
        char **q = realloc(c->questions, (size_t)cap * sizeof *q);
        if (!q) return;
        c->questions = q;
        char **s = realloc(c->sqls, (size_t)cap * sizeof *s);
        if (!s) return;
        c->sqls = s;
        c->cap = cap;
    }
    c->questions[c->n] = strdup(question);
    c->sqls[c->n] = strdup(sql);
    if (c->questions[c->n] && c->sqls[c->n]) c->n++;
}

void agent_conversation_keep_last(agent_conversation *c, int max) {
    int drop = c->n - (max > 0 ? max : 0);
    if (drop <= 0) return;
    for (int i = 0; i < drop; i++) { free(c->questions[i]); free(c->sqls[i]); }
    memmove(c->questions, c->questions + drop, (size_t)(c->n - drop) * sizeof *c->questions);
    memmove(c->sqls, c->sqls + drop, (size_t)(c->n - drop) * sizeof *c->sqls);
    c->n -= drop;
}

/* ---- streaming stop rule ------------------------------------------------- */

typedef struct gen_watch {
    const agent_config *cfg;
    copy_vals *cv;          /* NULL unless cfg->copy_values */
    sql_grammar *g;         /* NULL unless cfg->grammar */
    int attempt;
    strbuf text;
    int cancelled;
    int32_t *ids;           /* the reply's tokens so far, for agent_repeating_tail (and beam forks) */
    int n_ids, cap_ids;
    int looped;             /* tokens written when the loop guard closed the statement (0: never) */
    int quiet;              /* a candidate written beside others: on_token gets its text when it is done */
} gen_watch;

int agent_repeating_tail(const int32_t *ids, int n) {
    for (int p = 1; p <= AGENT_LOOP_PERIOD; p++) {
        int reps = AGENT_LOOP_REPEATS;
        while (reps * p < AGENT_LOOP_MIN) reps++;
        int span = reps * p;
        if (span > n) break;
        const int32_t *tail = ids + n - span;
        int i = p;
        while (i < span && tail[i] == tail[i - p]) i++;
        if (i == span) return 1;
    }
    return 0;
}

/* Stops generation once the reply holds a complete SQL statement or the
** code fence closes: the model has nothing more to say that we would use. */
static int watch_text(void *ud, const char *text, int len) {
    gen_watch *w = ud;
    strbuf_append(&w->text, text, (size_t)len);
    if (w->cfg->on_token && !w->quiet && w->cfg->on_token(w->cfg->ud, w->attempt, text, len)) { w->cancelled = 1; return 1; }
    if (!w->text.p) return 0;
    if (strstr(w->text.p, "```")) return 1;
    /* a ';' outside literals and comments ends the statement */
    return strchr(w->text.p, ';') && sqlite3_complete(w->text.p);
}

static void watch_logits(void *ud, float *logits, int n_vocab) {
    gen_watch *w = ud;
    if (w->cv) cv_mask(w->cv, logits, n_vocab);
}

static int watch_allows(void *ud, int id, int n_left) { return sg_allows(((gen_watch *)ud)->g, id, n_left); }
static int watch_mask(void *ud, float *logits, int n_vocab, int n_left) {
    return sg_mask(((gen_watch *)ud)->g, logits, n_vocab, n_left);
}

static int watch_token(void *ud, int id) {
    gen_watch *w = ud;
    if (w->cv) cv_push(w->cv, id);
    if (w->g) sg_push(w->g, id);
    if (w->n_ids == w->cap_ids) {
        int cap = w->cap_ids ? 2 * w->cap_ids : 64;
        int32_t *more = realloc(w->ids, (size_t)cap * sizeof *more);
        if (more) { w->ids = more; w->cap_ids = cap; }
    }
    if (w->n_ids < w->cap_ids) w->ids[w->n_ids++] = id;
    if (!w->looped && agent_repeating_tail(w->ids, w->n_ids)) {
        w->looped = w->n_ids;
        if (!w->g) return 1;   /* without a grammar, the reply ends here */
        sg_finish(w->g);
    }
    if (w->cfg->cancelled && w->cfg->cancelled(w->cfg->ud)) { w->cancelled = 1; return 1; }
    return 0;
}

/* sb's schema, read into *own the first time (*state: 0 not yet, 1 read,
** -1 failed); NULL when it cannot be read. */
static const sc_schema *own_schema(sandbox *sb, sc_schema *own, int *state) {
    if (*state == 0) {
        sa_err e = {{0}};
        *state = sc_introspect(sb, 0, own, &e) == 0 ? 1 : -1;
    }
    return *state > 0 ? own : NULL;
}

/* The reply as valid UTF-8: a token may end inside a character (the reply
** then goes back into the next prompt, which must tokenize). Takes s. */
static char *valid_utf8(char *s) {
    if (!s || utf8_valid(s, strlen(s), NULL)) return s;
    char *r = utf8_repaired(s, strlen(s), NULL);
    free(s);
    return r;
}

/* ---- the loop ------------------------------------------------------------ */

static double ms_since(double t0) { return (clock_now_s() - t0) * 1000.0; }

/* A template may end with the start of the SQL ("### SQL:\nSELECT"): that
** last line is then the beginning of the model's reply. */
static const char *reply_prefix(const char *prompt) {
    const char *end = prompt + strlen(prompt);
    while (end > prompt && (end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r')) end--;
    const char *last = end;
    while (last > prompt && last[-1] != '\n') last--;
    if (!strncasecmp(last, "SELECT", 6) || !strncasecmp(last, "WITH", 4)) return last;
    return "";
}

/* Value lookups for fix_value_columns are bounded so that a large database
** cannot make an attempt slow: each reads at most VALUE_LOOKUP_ROWS rows of
** its table, and an attempt's lookups stop after VALUE_LOOKUP_MS. */
#define VALUE_LOOKUP_ROWS 100000
#define VALUE_LOOKUP_MS 500

typedef struct value_lookup_ctx {
    sandbox *sb;
    double deadline;   /* clock_now_s() after which lookups answer "not held" */
} value_lookup_ctx;

/* Looks text up in table.col of sb, ignoring case, reading at most
** max_rows rows of the table (0: all). With stored NULL: 1 when a row holds
** it. Else 1 and *stored (malloc'd) = text as written when held, else the
** first stored spelling that equals it. The one query behind both the
** schema renderer's sc_value_fn and fix_value_columns' lookup. */
/* Appends "(SELECT col AS v FROM table [LIMIT max_rows])": the values of
** one column, read from at most max_rows rows (0: all). */
static void put_column_scan(strbuf *q, const char *table, const char *col, int max_rows) {
    strbuf_puts(q, "(SELECT ");
    strbuf_put_quoted(q, col, '"');
    strbuf_puts(q, " AS v FROM ");
    strbuf_put_quoted(q, table, '"');
    if (max_rows > 0) strbuf_printf(q, " LIMIT %d", max_rows);
    strbuf_puts(q, ")");
}

static int lookup_value(sandbox *sb, const char *table, const char *col, const char *text, int max_rows, char **stored) {
    strbuf q;
    strbuf_init(&q);
    strbuf_puts(&q, "SELECT v FROM ");
    put_column_scan(&q, table, col, max_rows);
    strbuf_puts(&q, " WHERE v = ");
    strbuf_put_quoted(&q, text, '\'');
    strbuf_puts(&q, " COLLATE NOCASE");
    if (stored) {   /* the spelling as written first, when held */
        strbuf_puts(&q, " ORDER BY v = ");
        strbuf_put_quoted(&q, text, '\'');
        strbuf_puts(&q, " DESC");
    }
    strbuf_puts(&q, " LIMIT 1");
    char *sql = strbuf_take(&q);
    if (!sql) return 0;
    sb_result r;
    sa_err e = {{0}};
    int found = sb_run(sb, sql, &r, &e) == 0 && r.nrows > 0;
    if (found && stored) {
        found = r.ncols == 1 && r.cells[0].type == SB_TEXT && r.cells[0].bytes && (*stored = strdup(r.cells[0].bytes)) != NULL;
    }
    sb_result_free(&r);
    free(sql);
    return found;
}

/* fix_value_lookup over the sandbox, within the attempt's lookup budget. */
static int stored_value(void *ctx, const char *table, const char *col, const char *text, char **stored) {
    value_lookup_ctx *vc = ctx;
    if (clock_now_s() > vc->deadline) return 0;
    return lookup_value(vc->sb, table, col, text, VALUE_LOOKUP_ROWS, stored);
}

/* fix_date_probe over the sandbox, within the attempt's lookup budget: a
** text value shaped YYYY-MM... among the column's first VALUE_LOOKUP_ROWS rows. */
static int holds_dates(void *ctx, const char *table, const char *col) {
    value_lookup_ctx *vc = ctx;
    if (clock_now_s() > vc->deadline) return 0;
    strbuf q;
    strbuf_init(&q);
    strbuf_puts(&q, "SELECT 1 FROM ");
    put_column_scan(&q, table, col, VALUE_LOOKUP_ROWS);
    strbuf_puts(&q, " WHERE typeof(v) = 'text' AND v GLOB '[12][0-9][0-9][0-9]-[01][0-9]*' LIMIT 1");
    char *sql = strbuf_take(&q);
    if (!sql) return 0;
    sb_result r;
    sa_err e = {{0}};
    int found = sb_run(vc->sb, sql, &r, &e) == 0 && r.nrows > 0;
    sb_result_free(&r);
    free(sql);
    return found;
}

/* Records what a query that ran returned. One row of NULLs and zeros is
** what an aggregate gives over no rows at all (count(x) or max(x) where
** nothing matched): ranked as no rows, or any aggregate would beat a
** plain query that found nothing. */
static void ran(agent_attempt *at, const sb_result *r) {
    at->rows = r->total_rows;
    int empty = r->total_rows == 1 && r->nrows == 1 && r->ncols > 0;
    for (int c = 0; empty && c < r->ncols; c++) {
        const sb_value *v = &r->cells[c];
        empty = v->type == SB_NULL || (v->type == SB_INTEGER && v->i == 0) || (v->type == SB_REAL && v->r == 0);
    }
    at->empty_aggregate = empty;
}

/* Runs at->sql in the sandbox, first mending comparisons with a value their
** column does not hold, then a misspelt name of the schema up to three
** times; fills at->error or *r (and at->rows). */
static void run_attempt(sandbox *sb, agent_attempt *at, const sc_schema *names, sb_result *r) {
    memset(r, 0, sizeof *r);
    at->rows = -1;
    if (!at->sql[0]) { at->error = strdup("the reply contained no SQL query"); return; }
    if (names) {
        int n = 0;
        value_lookup_ctx vc = { sb, clock_now_s() + VALUE_LOOKUP_MS / 1000.0 };
        char *mended = fix_value_columns(at->sql, names, stored_value, &vc, &n);
        if (mended) {
            free(at->sql);
            at->sql = mended;
            at->values_mended = n;
        }
        if ((mended = fix_year_dates(at->sql, names, holds_dates, &vc, &n))) {
            free(at->sql);
            at->sql = mended;
            at->values_mended += n;
        }
    }
    sa_err serr = {{0}};
    if (sb_run(sb, at->sql, r, &serr) == 0) { ran(at, r); return; }
    sb_result_free(r);
    at->error = strdup(serr.msg);
    for (int k = 0; k < 3 && at->error && names; k++) {
        char *fixed = fix_unknown_name(at->sql, at->error, names);
        if (!fixed) break;
        free(at->sql);
        at->sql = fixed;
        at->names_mended++;
        sa_err e2 = {{0}};
        free(at->error);
        at->error = NULL;
        if (sb_run(sb, at->sql, r, &e2) == 0) { ran(at, r); return; }
        sb_result_free(r);
        at->error = strdup(e2.msg);
    }
}

/* A reply the grammar accepted as complete, as one statement: without the
** closing fence and surrounding blanks, ending in ';'. malloc'd. */
static char *statement_of(const char *reply) {
    const char *b = reply;
    while (isspace((unsigned char)*b)) b++;
    size_t n = strlen(b);
    while (n && (isspace((unsigned char)b[n - 1]) || b[n - 1] == '`')) n--;
    while (n && b[n - 1] == ';') n--;
    while (n && isspace((unsigned char)b[n - 1])) n--;
    char *sql = malloc(n + 2);
    if (!sql) return NULL;
    memcpy(sql, b, n);
    if (n) sql[n++] = ';';
    sql[n] = 0;
    return sql;
}

/* How good an outcome is: the model's own query with rows > its own query
** without rows > a query the grammar had to finish, with rows > without >
** failed. A finished-for-it query runs but is seldom what was asked. One
** row of NULLs and zeros counts as no rows (ran). */
static int outcome_rank(const agent_attempt *at) {
    if (at->rows < 0) return 0;
    return (at->steered ? 1 : 3) + (at->rows > 0 && !at->empty_aggregate);
}

/* Does some table of s hold a row? */
static int has_rows(sandbox *sb, const sc_schema *s) {
    for (int t = 0; t < s->ntables; t++) {
        strbuf q;
        strbuf_init(&q);
        strbuf_puts(&q, "SELECT 1 FROM ");
        strbuf_put_quoted(&q, s->tables[t].name, '"');
        strbuf_puts(&q, " LIMIT 1");
        char *sql = strbuf_take(&q);
        if (!sql) return 0;
        sb_result r;
        sa_err e = {{0}};
        int rc = sb_run(sb, sql, &r, &e), found = rc == 0 && r.nrows > 0;
        if (rc == 0) sb_result_free(&r);
        free(sql);
        if (found) return 1;
    }
    return 0;
}

/* Value linking (cv_link_values): the spans of the question the database
** holds, and the columns holding them; values held to them where the
** database has rows (cv_hold_values). */
static void link_values(copy_vals *cv, const sc_schema *s, sandbox *sb, const char *question) {
    char **spans;
    unsigned char *held_by;
    int n = sc_value_links(s, question, agent_values_held, sb, &spans, &held_by);
    if (n < 0) return;
    int ncols = 0, k = 0;
    for (int t = 0; t < s->ntables; t++) ncols += s->tables[t].ncols;
    const char **cols = malloc(((size_t)ncols + 1) * sizeof *cols);
    ncols = 0;
    for (int t = 0; cols && t < s->ntables; t++)
        for (int c = 0; c < s->tables[t].ncols; c++, k++)
            if (held_by[k]) cols[ncols++] = s->tables[t].cols[c].name;
    if (cols) cv_link_values(cv, (const char *const *)spans, n, cols, ncols);
    if (cols && (n > 0 || has_rows(sb, s))) cv_hold_values(cv);
    free(cols);
    for (int i = 0; i < n; i++) free(spans[i]);
    free(spans);
    free(held_by);
}

/* ---- writing candidates ---------------------------------------------------- */

/* One candidate's generation, from taking a prefix-cache slot to giving it
** back; filled in by the caller, then by write_candidate. */
typedef struct cand_job {
    const agent_config *cfg;
    const char *key;            /* prefix-cache key (adapter and scale) */
    const int32_t *ids;         /* the round's prompt */
    size_t n_ids;
    const char *prefix;         /* the reply's first words, already in the prompt */
    copy_vals *cv;              /* this candidate's own (NULL: none) */
    sql_grammar *g;             /* likewise */
    gen_opts go;                /* callbacks and sampling; ud is set here */
    int32_t *lookup;            /* go.lookup's ids (owned) */
    int attempt;                /* 1-based, for on_token */
    int live;                   /* on_token streams its text as it is written */
    /* results */
    gen_watch w;
    gen_result res;
    int grc, n_cached, coverage, complete, steered;
    sa_err err;
} cand_job;

static void write_candidate(cand_job *j) {
    const agent_config *cfg = j->cfg;
    infer_state *st = pc_acquire(cfg->pc, j->key, j->ids, (int)j->n_ids, &j->n_cached);
    infer_set_lora(st, cfg->lora, cfg->lora_scale);
    j->w = (gen_watch){ .cfg = cfg, .cv = j->cv, .g = j->g, .attempt = j->attempt, .quiet = !j->live };
    strbuf_init(&j->w.text);
    strbuf_puts(&j->w.text, j->prefix);
    if (j->cv) cv_reset(j->cv, j->prefix);
    if (j->g) sg_reset(j->g, j->prefix);
    j->go.ud = &j->w;
    j->grc = generate(cfg->m, st, j->ids + j->n_cached, (int)j->n_ids - j->n_cached, &j->go, &j->res, &j->err);
    j->coverage = j->cv ? cv_coverage(j->cv) : 0;
    j->complete = j->g && sg_complete(j->g);
    j->steered = j->g && sg_steered(j->g);
    if (j->grc) { pc_release(cfg->pc, st, NULL, 0); return; }
    /* the cache now holds the prompt and all generated ids but possibly the last */
    int n_past = infer_n_past(st);
    int32_t *held = malloc((j->n_ids + (size_t)j->res.n_ids) * sizeof *held);
    if (held) {
        memcpy(held, j->ids, j->n_ids * sizeof *held);
        memcpy(held + j->n_ids, j->res.ids, (size_t)j->res.n_ids * sizeof *held);
    }
    pc_release(cfg->pc, st, held, held && n_past <= (int)j->n_ids + j->res.n_ids ? n_past : 0);
    free(held);
}

static void cand_job_free(cand_job *j) {
    strbuf_free(&j->w.text);
    free(j->w.ids);
    free(j->lookup);
    gen_result_free(&j->res);
    memset(j, 0, sizeof *j);
}

/* A grammar over names for cfg's model: a model trained by `sqlassist train`
** writes only the plain style it learnt (sqlgrammar.h). NULL: out of memory. */
static sql_grammar *style_grammar(const agent_config *cfg, const sc_schema *names) {
    sql_grammar *g = sg_new(cfg->m->tok, names);
    if (g && cfg->tpl && cfg->tpl->kind == PROMPT_SCHEMA) sg_set_plain(g);
    return g;
}

/* ---- candidates by beam search --------------------------------------------- */

/* One reply's constraint state under beam search: a gen_watch (first, so
** that watch_logits and watch_mask take it as it is), plus what a fork needs
** to rebuild the grammar, which cannot be copied: it replays the reply's
** ids (closing the statement where the loop guard did). */
typedef struct beam_watch {
    gen_watch w;
    const sc_schema *names;
    const char *prefix;
} beam_watch;

static void beam_watch_free(void *ud) {
    beam_watch *b = ud;
    if (!b) return;
    cv_free(b->w.cv);
    sg_free(b->w.g);
    strbuf_free(&b->w.text);
    free(b->w.ids);
    free(b);
}

static sql_grammar *beam_grammar(const agent_config *cfg, const sc_schema *names, const char *prefix) {
    sql_grammar *g = style_grammar(cfg, names);
    if (g) sg_reset(g, prefix);
    return g;
}

/* A new reply's state: cv and g are taken (either may be NULL). */
static beam_watch *beam_watch_new(const agent_config *cfg, const sc_schema *names, const char *prefix, copy_vals *cv,
                                  sql_grammar *g) {
    beam_watch *b = calloc(1, sizeof *b);
    if (!b) { cv_free(cv); sg_free(g); return NULL; }
    b->w = (gen_watch){ .cfg = cfg, .cv = cv, .g = g, .quiet = 1 };
    b->names = names;
    b->prefix = prefix;
    strbuf_init(&b->w.text);
    return b;
}

static void *beam_watch_fork(void *ud) {
    const beam_watch *b = ud;
    const gen_watch *w = &b->w;
    copy_vals *cv = w->cv ? cv_clone(w->cv) : NULL;
    sql_grammar *g = w->g ? beam_grammar(w->cfg, b->names, b->prefix) : NULL;
    if ((w->cv && !cv) || (w->g && !g)) { cv_free(cv); sg_free(g); return NULL; }
    for (int i = 0; g && i < w->n_ids; i++) {
        sg_push(g, w->ids[i]);
        if (w->looped == i + 1) sg_finish(g);
    }
    beam_watch *f = beam_watch_new(w->cfg, b->names, b->prefix, cv, g);
    if (!f) return NULL;
    strbuf_append(&f->w.text, w->text.p ? w->text.p : "", w->text.len);
    f->w.ids = w->n_ids ? malloc((size_t)w->n_ids * sizeof *f->w.ids) : NULL;
    if (w->n_ids && !f->w.ids) { beam_watch_free(f); return NULL; }
    if (w->n_ids) memcpy(f->w.ids, w->ids, (size_t)w->n_ids * sizeof *f->w.ids);
    f->w.n_ids = f->w.cap_ids = w->n_ids;
    f->w.looped = w->looped;
    f->w.cancelled = w->cancelled;
    return f;
}

/* watch_token, then watch_text with the token's bytes: 1 when the statement is done. */
static int beam_watch_token(void *ud, int id) {
    gen_watch *w = &((beam_watch *)ud)->w;
    if (watch_token(w, id)) return 1;
    char piece[256];
    int n = tok_token_bytes(w->cfg->m->tok, id, piece, sizeof piece);
    return watch_text(w, piece, n > 0 ? n : 0);
}

/* The round's candidates by beam search (cfg->beam replies): the prompt is
** computed into a prefix-cache slot, the search runs from there, and each
** hypothesis, best first, becomes a finished cand_job as write_candidate
** leaves one. Returns how many jobs were filled (maybe 0), -1 + err on failure. */
static int write_candidates_by_beam(const agent_config *cfg, const sc_schema *names, const copy_vals *cv0,
                                    int grammar, const char *key, const int32_t *ids, size_t n_ids, const char *prefix,
                                    int max_new, int first_attempt, cand_job *jobs, sa_err *err) {
    const model *m = cfg->m;
    int n_cached = 0, filled = 0;
    infer_state *st = pc_acquire(cfg->pc, key, ids, (int)n_ids, &n_cached);
    infer_set_lora(st, cfg->lora, cfg->lora_scale);
    float *logits = malloc((size_t)m->cfg.n_vocab * sizeof *logits);
    double t0 = clock_now_s();
    if (!logits) { sa_fail(err, "out of memory"); pc_release(cfg->pc, st, NULL, 0); return -1; }
    if (cfg->batch ? batcher_forward(cfg->batch, st, ids + n_cached, (int)n_ids - n_cached, LOGITS_LAST, 0, logits, err)
                   : model_forward(m, st, ids + n_cached, (int)n_ids - n_cached, LOGITS_LAST, logits, err)) {
        if (cfg->batch) batcher_idle(cfg->batch, st);
        free(logits);
        pc_release(cfg->pc, st, NULL, 0);
        return -1;
    }
    double prefill_s = clock_now_s() - t0;
    copy_vals *cv = cv0 ? cv_clone(cv0) : NULL;
    if (cv) cv_reset(cv, prefix);
    sql_grammar *g = grammar ? beam_grammar(cfg, names, prefix) : NULL;
    beam_watch *root = beam_watch_new(cfg, names, prefix, cv, g);
    if (root) strbuf_puts(&root->w.text, prefix);
    if (!root || (cv0 && !cv) || (grammar && !g)) {
        beam_watch_free(root);
        free(logits);
        pc_release(cfg->pc, st, NULL, 0);
        sa_fail(err, "out of memory");
        return -1;
    }
    beam_opts bo = { .width = agent_beam(cfg), .n_predict = max_new, .fork = beam_watch_fork, .drop = beam_watch_free,
                     .on_logits = watch_logits, .mask = grammar ? watch_mask : NULL, .on_token = beam_watch_token,
                     .ud = root, .batch = cfg->batch, .lora = cfg->lora,
                     .lora_scale = cfg->lora_scale };
    beam_result br;
    int rc = beam_search(m, st, (int)n_ids, logits, &bo, &br, err);
    free(logits);
    pc_release(cfg->pc, st, ids, rc == 0 && infer_n_past(st) == (int)n_ids ? (int)n_ids : 0);
    if (rc) return -1;
    for (int h = 0; h < br.n; h++) {
        cand_job *j = &jobs[filled++];
        beam_watch *b = br.hyps[h].ud;
        j->cfg = cfg;
        j->attempt = first_attempt + h;
        j->n_cached = n_cached;
        j->res.ids = br.hyps[h].ids;
        j->res.n_ids = br.hyps[h].n_ids;
        br.hyps[h].ids = NULL;
        j->res.text = tok_decode(m->tok, j->res.ids, (size_t)j->res.n_ids, 0);
        j->res.n_prompt = h == 0 ? (int)n_ids - n_cached : 0;
        j->res.prefill_s = h == 0 ? prefill_s : 0;
        j->res.decode_s = h == 0 ? br.decode_s : 0;
        j->res.stop = br.hyps[h].finished ? GEN_STOP_EOS : GEN_STOP_LENGTH;
        strbuf_init(&j->w.text);
        if (b) {
            j->coverage = b->w.cv ? cv_coverage(b->w.cv) : 0;
            j->complete = b->w.g && sg_complete(b->w.g);
            j->steered = b->w.g && sg_steered(b->w.g);
            j->w.looped = b->w.looped;
            j->w.cancelled = b->w.cancelled;
        }
    }
    beam_result_free(&br, beam_watch_free);
    return filled;
}

static void *write_candidate_thread(void *arg) {
    write_candidate(arg);
    return NULL;
}

/* Writes jobs[0..n) at once: the prompt is first computed into one slot (so
** that every candidate copies its K/V rows from there instead of computing
** them again), then each candidate is a thread of its own whose forward
** calls go through batch; jobs[0] runs on the calling thread. A thread that
** cannot be started is written afterwards on the calling thread. */
static void write_candidates_at_once(const agent_config *cfg, struct batcher *batch, const char *key, const int32_t *ids,
                                     size_t n_ids, cand_job *jobs, int n) {
    int n_cached = 0;
    infer_state *st = pc_acquire(cfg->pc, key, ids, (int)n_ids, &n_cached);
    infer_set_lora(st, cfg->lora, cfg->lora_scale);
    int held = n_cached;
    if ((int)n_ids - 1 > n_cached) {
        sa_err e = {{0}};
        if (batcher_forward(batch, st, ids + n_cached, (int)n_ids - 1 - n_cached, LOGITS_NONE, 0, NULL, &e) == 0)
            held = (int)n_ids - 1;
        else held = 0;   /* the candidates meet the same error and report it */
        batcher_idle(batch, st);
    }
    pc_release(cfg->pc, st, held ? ids : NULL, held && infer_n_past(st) == held ? held : 0);
    pthread_t *th = calloc((size_t)n, sizeof *th);
    unsigned char *started = calloc((size_t)n, 1);
    for (int k = 1; k < n && th && started; k++)
        started[k] = pthread_create(&th[k], NULL, write_candidate_thread, &jobs[k]) == 0;
    write_candidate(&jobs[0]);
    for (int k = 1; k < n; k++) {
        if (th && started && started[k]) pthread_join(th[k], NULL);
        else write_candidate(&jobs[k]);
    }
    free(th);
    free(started);
}

int agent_ask(const agent_config *cfg, sandbox *sb, const char *schema_text, const char *schema_note,
              agent_conversation *conv, const char *question, agent_answer *ans, sa_err *err) {
    memset(ans, 0, sizeof *ans);
    ans->chosen = -1;
    double t_start = clock_now_s();
    const model *m = cfg->m;
    int max_attempts = cfg->max_attempts > 0 ? cfg->max_attempts : 3;
    /* After the n_plain greedy/sampled candidates, a beam search writes
    ** beam_w more (0: none) in one search on this thread (its rows through
    ** the caller's batcher when there is one). */
    int beam_w = agent_beam(cfg);
    int n_plain = agent_candidates(cfg);
    int n_cand = n_plain + beam_w;
    int max_new = cfg->max_new_tokens > 0 ? cfg->max_new_tokens : 256;
    int hist_budget = cfg->history_budget_tokens > 0 ? cfg->history_budget_tokens : 512;
    ans->question = strdup(question);
    ans->adapter = cfg->adapter_name ? strdup(cfg->adapter_name) : NULL;
    ans->schema_note = schema_note ? strdup(schema_note) : NULL;
    ans->attempts = calloc((size_t)max_attempts * (size_t)n_cand, sizeof *ans->attempts);
    prompt_failure *fails = calloc((size_t)max_attempts, sizeof *fails);
    char **hints = calloc((size_t)max_attempts, sizeof *hints);
    if (!ans->question || !ans->attempts || !fails || !hints) { free(fails); free(hints); return sa_fail(err, "out of memory"); }

    /* Follow-ups: the most recent exchanges that fit the history budget
    ** (about 3 bytes per token for English and SQL). */
    prompt_turn *hist = NULL;
    int nh = 0;
    if (conv && conv->n) {
        hist = calloc((size_t)conv->n, sizeof *hist);
        size_t used = 0;
        int first = conv->n;
        while (first > 0) {
            size_t cost = (strlen(conv->questions[first - 1]) + strlen(conv->sqls[first - 1])) / 3 + 16;
            if (used + cost > (size_t)hist_budget) break;
            used += cost;
            first--;
        }
        for (int i = first; i < conv->n && hist; i++) {
            hist[nh].question = conv->questions[i];
            hist[nh].sql = conv->sqls[i];
            nh++;
        }
    }

    char key[160];
    snprintf(key, sizeof key, "%s@%g", cfg->adapter_name ? cfg->adapter_name : "", cfg->lora ? cfg->lora_scale : 0.0);
    int rc = 0;
    sc_schema own_names = {0};  /* read from sb when the caller gave no schema and one is needed */
    int have_own = 0;
    const sc_schema *names = cfg->schema;
    if ((cfg->copy_values || cfg->grammar) && !names) names = own_schema(sb, &own_names, &have_own);
    copy_vals *cv = NULL;
    if (cfg->copy_values) {
        int n = 0;
        for (int t = 0; names && t < names->ntables; t++) n += 1 + names->tables[t].ncols;
        const char **list = n ? malloc((size_t)n * sizeof *list) : NULL;
        n = 0;
        for (int t = 0; list && t < names->ntables; t++) {
            list[n++] = names->tables[t].name;
            for (int c = 0; c < names->tables[t].ncols; c++) list[n++] = names->tables[t].cols[c].name;
        }
        cv = cv_new(m->tok, question, list, list ? n : 0);
        free(list);
        float bonus = agent_link_bonus(cfg);
        if (cv && bonus > 0 && cv_link_columns(cv, names, bonus) >= 0 && sb) link_values(cv, names, sb, question);
    }
    sql_grammar *grammar = cfg->grammar && names ? style_grammar(cfg, names) : NULL;
    int draft = agent_draft(cfg);
    int32_t *seen = NULL;   /* speculative decoding looks drafts up in earlier attempts' ids, then the prompt */
    size_t n_seen = 0;
    sb_result best_rows = {0};
    int done = 0, n_fail = 0;
    /* With values copied, every candidate is written and the one using the
    ** most of the question wins among the best outcomes (cv_coverage): the
    ** greedy query often leaves out the column or value the question names. */
    int rerank = n_cand > 1 && cv;
    /* Candidates written at once (cfg->parallel_candidates) each need their
    ** own copy mask and grammar, and their forward calls a batcher: the
    ** caller's, else one of this question's own. Without them: one at a time. */
    copy_vals **cand_cv = NULL;
    sql_grammar **cand_g = NULL;
    struct batcher *batch = cfg->batch, *own_batch = NULL;
    if (rerank && cfg->parallel_candidates && n_plain > 1) {
        cand_cv = calloc((size_t)n_cand, sizeof *cand_cv);
        cand_g = calloc((size_t)n_cand, sizeof *cand_g);
        int ok = cand_cv && cand_g;
        for (int c = 0; c < n_cand && ok; c++) {
            ok = (cand_cv[c] = cv_clone(cv)) != NULL;
            if (ok && grammar) ok = (cand_g[c] = style_grammar(cfg, names)) != NULL;
        }
        sa_err e = {{0}};
        if (ok && !batch) ok = (batch = own_batch = batcher_new(m, AGENT_BATCH_LINGER_US, &e)) != NULL;
        if (!ok) {
            for (int c = 0; c < n_cand && cand_cv && cand_g; c++) { cv_free(cand_cv[c]); sg_free(cand_g[c]); }
            free(cand_cv);
            free(cand_g);
            cand_cv = NULL;
            cand_g = NULL;
        }
    }
    int parallel = cand_cv != NULL;
    for (int round = 0; round < max_attempts && !done && rc == 0; round++) {
        char *prompt = prompt_render(cfg->tpl, schema_text, hist, nh, question, fails, n_fail);
        if (!prompt) { rc = sa_fail(err, "out of memory"); break; }
        if (getenv("SQLASSIST_DUMP_PROMPT")) fprintf(stderr, "--- prompt\n%s---\n", prompt);
        double t0 = clock_now_s();
        int32_t *ids = NULL;
        size_t n_ids = 0;
        if (tok_encode(m->tok, prompt, strlen(prompt), &ids, &n_ids, err)) { free(prompt); rc = -1; break; }
        ans->tokenize_ms += ms_since(t0);
        char *prefix = strdup(reply_prefix(prompt));
        free(prompt);
        int first_of_round = ans->n_attempts;
        /* Candidates are written one at a time, or (parallel) all at once as
        ** concurrent sequences whose decode steps share passes over the
        ** weights; each is then run and ranked in candidate order either way,
        ** so the answer is the same. */
        for (int c0 = 0; c0 < n_cand && !done && rc == 0;) {
            int by_beam = c0 >= n_plain;
            int nw = by_beam ? beam_w : parallel ? n_plain - c0 : 1;
            cand_job *jobs = calloc((size_t)nw, sizeof *jobs);
            if (!jobs) { rc = sa_fail(err, "out of memory"); break; }
            if (by_beam) {
                nw = write_candidates_by_beam(cfg, names, cv, grammar != NULL, key, ids, n_ids, prefix ? prefix : "",
                                              max_new, ans->n_attempts + 1, jobs, err);
                if (nw < 0) { free(jobs); rc = -1; break; }
            } else {
                for (int k = 0; k < nw; k++) {
                    int c = c0 + k;
                    cand_job *j = &jobs[k];
                    j->cfg = cfg;
                    j->key = key;
                    j->ids = ids;
                    j->n_ids = n_ids;
                    j->prefix = prefix ? prefix : "";
                    j->cv = parallel ? cand_cv[c] : cv;
                    j->g = parallel ? cand_g[c] : grammar;
                    j->attempt = ans->n_attempts + k + 1;
                    j->live = k == 0;   /* only the calling thread streams as it writes */
                    gen_opts go = { .n_predict = max_new, .sp = cfg->sp, .on_text = watch_text, .on_token = watch_token,
                                    .on_logits = watch_logits, .batch = parallel ? batch : cfg->batch };
                    if (c > 0) {   /* later candidates: sampled */
                        go.sp.temperature = cfg->candidate_temperature > 0 ? cfg->candidate_temperature : 0.7f;
                        go.sp.top_p = 0.95f;
                        go.sp.seed = cfg->sp.seed + 7919u * (uint64_t)c + 104729u * (uint64_t)round;
                    }
                    if (j->g) { go.allows = watch_allows; go.mask = watch_mask; }
                    if (draft > 0 && go.sp.temperature <= 0 && (j->lookup = malloc((n_seen + n_ids) * sizeof *j->lookup))) {
                        if (n_seen) memcpy(j->lookup, seen, n_seen * sizeof *j->lookup);
                        memcpy(j->lookup + n_seen, ids, n_ids * sizeof *j->lookup);
                        go.draft = draft;
                        go.lookup = j->lookup;
                        go.n_lookup = (int)(n_seen + n_ids);
                    }
                    j->go = go;
                }
                if (parallel) write_candidates_at_once(cfg, batch, key, ids, n_ids, jobs, nw);
                else write_candidate(&jobs[0]);
            }
            for (int k = 0; k < nw; k++) {
                cand_job *j = &jobs[k];
                if (done || rc) { cand_job_free(j); continue; }
                agent_attempt *at = &ans->attempts[ans->n_attempts++];
                at->round = round + 1;
                at->candidate = c0 + k + 1;
                at->rows = -1;
                gen_result res = j->res;
                memset(&j->res, 0, sizeof j->res);
                int grc = j->grc;
                at->coverage = j->coverage;
                if (grc == 0 && res.n_ids > 0 && n_seen < (1u << 16)) {   /* later attempts: drafts from this one too */
                    int32_t *more = realloc(seen, (n_seen + (size_t)res.n_ids) * sizeof *more);
                    if (more) {
                        memcpy(more + n_seen, res.ids, (size_t)res.n_ids * sizeof *more);
                        seen = more;
                        n_seen += (size_t)res.n_ids;
                    }
                }
                if (grc) {
                    if (err) *err = j->err;
                    cand_job_free(j);
                    gen_result_free(&res);
                    rc = -1;
                    continue;
                }
                if (!j->live && cfg->on_token && res.text && res.text[0] &&
                    cfg->on_token(cfg->ud, j->attempt, res.text, (int)strlen(res.text)))
                    j->w.cancelled = 1;
                at->looped = j->w.looped > 0;
                at->prompt_tokens = (int)n_ids;
                at->cached_tokens = j->n_cached;
                at->generated_tokens = res.n_ids;
                at->drafted_tokens = res.n_drafted;
                at->accepted_tokens = res.n_accepted;
                at->verify_passes = res.n_verify;
                at->prefill_ms = res.prefill_s * 1000.0;
                at->decode_ms = res.decode_s * 1000.0;
                strbuf reply;
                strbuf_init(&reply);
                strbuf_puts(&reply, prefix ? prefix : "");
                strbuf_puts(&reply, res.text ? res.text : "");
                at->raw = valid_utf8(strbuf_take(&reply));
                gen_result_free(&res);
                int cancelled = j->w.cancelled, complete = j->complete, steered = j->steered;
                cand_job_free(j);
                ans->prompt_tokens += at->prompt_tokens;
                ans->cached_tokens += at->cached_tokens;
                ans->generated_tokens += at->generated_tokens;
                ans->drafted_tokens += at->drafted_tokens;
                ans->accepted_tokens += at->accepted_tokens;
                ans->verify_passes += at->verify_passes;
                ans->prefill_ms += at->prefill_ms;
                ans->decode_ms += at->decode_ms;
                if (cancelled) { ans->cancelled = true; done = 1; continue; }

                /* Under the grammar the reply is the statement itself (blanks, a
                ** ';' and a closing fence aside): no heuristic cuts it (a blank
                ** line inside a literal is part of the value). A reply that is
                ** not a complete statement was cut off by the token budget (no
                ** way to end it was found): it is never run as if it were the query. */
                at->sql = complete ? statement_of(at->raw ? at->raw : "") : prompt_extract_sql(at->raw ? at->raw : "");
                if (!at->sql) { rc = sa_fail(err, "out of memory"); continue; }
                at->cut_off = grammar && !complete && at->sql[0];
                at->steered = steered;
                for (int e = first_of_round; e < ans->n_attempts - 1; e++)
                    if (ans->attempts[e].sql && !strcmp(ans->attempts[e].sql, at->sql)) at->duplicate = e + 1;
                t0 = clock_now_s();
                sb_result r = {0};
                if (at->duplicate) {   /* same outcome as before: no need to run it again */
                    const agent_attempt *same = &ans->attempts[at->duplicate - 1];
                    at->rows = same->rows;
                    at->empty_aggregate = same->empty_aggregate;
                    at->names_mended = same->names_mended;
                    at->values_mended = same->values_mended;
                    if (same->error) at->error = strdup(same->error);
                    free(at->sql);
                    at->sql = strdup(same->sql);
                } else if (at->cut_off) {
                    char msg[160];
                    snprintf(msg, sizeof msg, "the query was not finished within %d tokens", max_new);
                    at->error = strdup(msg);
                } else {
                    if (!names) names = own_schema(sb, &own_names, &have_own);
                    run_attempt(sb, at, names, &r);
                }
                at->execute_ms = ms_since(t0);
                ans->execute_ms += at->execute_ms;
                int idx = ans->n_attempts - 1;
                if (at->rows >= 0 && !at->duplicate &&
                    (ans->chosen < 0 || outcome_rank(at) > outcome_rank(&ans->attempts[ans->chosen]) ||
                     (rerank && outcome_rank(at) == outcome_rank(&ans->attempts[ans->chosen]) &&
                      at->coverage > ans->attempts[ans->chosen].coverage))) {
                    sb_result_free(&best_rows);
                    best_rows = r;
                    memset(&r, 0, sizeof r);
                    ans->chosen = idx;
                }
                sb_result_free(&r);
                if (cfg->on_attempt && cfg->on_attempt(cfg->ud, ans->n_attempts, at->sql, at->error)) {
                    ans->cancelled = true;
                    done = 1;
                    continue;
                }
                if (at->rows > 0 && !at->steered && !rerank) done = 1;
            }
            free(jobs);
            c0 += by_beam ? beam_w : nw;
        }
        free(ids);
        free(prefix);
        if (rc || done) break;
        /* one of the model's own queries ran (with rows when every candidate is ranked): that is the answer */
        if (ans->chosen >= 0 && outcome_rank(&ans->attempts[ans->chosen]) >= 3) break;
        /* none ran as the model wrote it: the next round sees the first candidate's failure */
        agent_attempt *f0 = &ans->attempts[first_of_round];
        hints[n_fail] = agent_error_hint(f0->error ? f0->error
                                                   : "the query was not complete where the model stopped: write a complete query");
        fails[n_fail].sql = f0->sql;
        fails[n_fail].error = hints[n_fail];
        n_fail++;
    }
    if (ans->chosen < 0) {   /* none ran: the last query written */
        for (int k = ans->n_attempts - 1; k >= 0; k--)
            if (ans->attempts[k].sql && ans->attempts[k].sql[0]) { ans->chosen = k; break; }
    }
    if (ans->chosen >= 0 && ans->attempts[ans->chosen].rows >= 0) {
        ans->ok = true;
        ans->result = best_rows;
        memset(&best_rows, 0, sizeof best_rows);
    }
    sb_result_free(&best_rows);
    if (ans->chosen >= 0 && ans->attempts[ans->chosen].sql) ans->sql = strdup(ans->attempts[ans->chosen].sql);
    else if (ans->n_attempts > 0 && ans->attempts[ans->n_attempts - 1].sql)
        ans->sql = strdup(ans->attempts[ans->n_attempts - 1].sql);
    if (ans->ok && conv) agent_conversation_add(conv, question, ans->sql);
    sg_free(grammar);
    for (int c = 0; c < n_cand && cand_cv && cand_g; c++) { cv_free(cand_cv[c]); sg_free(cand_g[c]); }
    free(cand_cv);
    free(cand_g);
    batcher_free(own_batch);
    free(seen);
    cv_free(cv);
    sc_free(&own_names);
    free(hist);
    free(fails);
    for (int i = 0; i < max_attempts; i++) free(hints[i]);
    free(hints);
    ans->total_ms = ms_since(t_start);
    return rc;
}

char *agent_error_hint(const char *error) {
    strbuf b;
    strbuf_init(&b);
    const char *e = error ? error : "";
    if (!strncmp(e, "SQL error: ", 11)) e += 11;
    /* drop "(at offset N)" and similar positions: a model copies them */
    for (const char *p = e; *p;) {
        if (*p == ' ' && p[1] == '(' && (!strncmp(p + 2, "at offset ", 10) || !strncmp(p + 2, "statement ", 10))) {
            const char *close = strchr(p, ')');
            if (close) { p = close + 1; continue; }
        }
        if (!strncmp(p, " at offset ", 11) && isdigit((unsigned char)p[11])) {
            p += 11;
            while (isdigit((unsigned char)*p)) p++;
            continue;
        }
        strbuf_append(&b, p, 1);
        p++;
    }
    char *msg = strbuf_take(&b);
    if (!msg) return NULL;
    const char *advice = "";
    if (strstr(msg, "no such column")) advice = " Use only columns of the tables in the FROM clause.";
    else if (strstr(msg, "no such table")) advice = " Use only tables of the schema.";
    else if (strstr(msg, "syntax error") || strstr(msg, "incomplete")) advice = " Write one complete SELECT statement.";
    else if (strstr(msg, "ambiguous column")) advice = " Qualify the column with its table.";
    else if (strstr(msg, "misuse of aggregate")) advice = " Move the aggregate to HAVING or the SELECT list.";
    strbuf_init(&b);
    strbuf_puts(&b, msg);
    strbuf_puts(&b, advice);
    free(msg);
    return strbuf_take(&b);
}

size_t agent_count_tokens(const char *text, size_t len, void *tok) {
    int32_t *ids;
    size_t n;
    if (tok_encode(tok, text, len, &ids, &n, NULL)) return len;   /* invalid UTF-8: bytes bound tokens */
    free(ids);
    return n;
}

int agent_values_held(void *sb, const char *table, const char *col, const char *const *texts, int n,
                      unsigned char *held) {
    if (n <= 0) return 0;
    /* SELECT column1 FROM (VALUES (0, 'text'), ...) WHERE lower(column2) IN
    ** (SELECT lower(trim(v)) FROM scan WHERE typeof(v) = 'text'): the indexes
    ** of the texts held, compared as SQLite's lower() folds (ASCII letters)
    ** and without the blanks some data keeps around a value ('Aberdeen ') */
    strbuf q;
    strbuf_init(&q);
    strbuf_puts(&q, "SELECT column1 FROM (VALUES ");
    for (int i = 0; i < n; i++) {
        strbuf_printf(&q, "%s(%d, ", i ? ", " : "", i);
        strbuf_put_quoted(&q, texts[i], '\'');
        strbuf_puts(&q, ")");
    }
    strbuf_puts(&q, ") WHERE lower(column2) IN (SELECT lower(trim(v)) FROM ");
    put_column_scan(&q, table, col, AGENT_ANCHOR_ROWS);
    strbuf_puts(&q, " WHERE typeof(v) = 'text')");
    char *sql = strbuf_take(&q);
    if (!sql) return -1;
    sb_result r;
    sa_err e = {{0}};
    int rc = sb_run(sb, sql, &r, &e) == 0 ? 0 : -1;
    free(sql);
    for (int64_t k = 0; rc == 0 && k < r.nrows; k++) {
        const sb_value *v = &r.cells[k * r.ncols];
        if (v->type == SB_INTEGER && v->i >= 0 && v->i < n) held[v->i] = 1;
    }
    if (rc == 0) sb_result_free(&r);
    return rc;
}

/* sc_value_fn over a sandbox: does a row hold text in table.col (ignoring case)? */
static int column_has_value(void *ctx, const char *table, const char *col, const char *text) {
    return lookup_value(ctx, table, col, text, 0, NULL);
}

char *agent_schema_prompt(const model *m, const prompt_template *tpl, sandbox *sb, const sc_schema *s,
                          const char *question, bool with_samples, int n_ctx, int n_predict, int max_attempts,
                          char **note, sa_err *err) {
    *note = NULL;
    /* The schema must fit in what the model was trained on too: a small
    ** model trained on short rows (the bundled one: 1024) gets a quarter of
    ** its context, which keeps the tables most related to the question. */
    long limit = n_ctx;
    if (m->cfg.n_ctx_train > 0 && m->cfg.n_ctx_train < limit) limit = m->cfg.n_ctx_train;
    long budget = limit - (long)n_predict * max_attempts - 768;
    if (budget < limit / 4) budget = limit / 4;
    if (budget < 128) budget = 128;
    /* A model trained on schemas rendered to a budget (the bundled one) is
    ** shown them the same way: the same tables kept, in the same style. */
    bool own = tpl && tpl->kind == PROMPT_SCHEMA;
    int trained_budget = own ? model_schema_tokens(m) : 0;
    if (trained_budget > 0) budget = trained_budget;
    if (own) with_samples = false;
    /* Trained on whole schemas (as many tables as fit), the bundled model
    ** still picks fewer wrong tables when shown only those the question
    ** names and the tables joining them: 35.3% -> 37.4% on Spider dev
    ** questions 200-499, which no figure reported is taken from, 40.8% with
    ** the plain style (models/README.md). */
    sc_budget_report rep = {0};
    /* sql-create-context shows a model only the tables a query needs, in its
    ** own plain style: models trained on it are prompted the same way. */
    bool scc = tpl && tpl->kind == PROMPT_SQL_CREATE_CONTEXT;
    char *text = scc ? sc_render_relevant_scc(s, question, (size_t)budget, agent_count_tokens, m->tok,
                                              sb ? column_has_value : NULL, sb, &rep, err)
                     : sc_render_budget(s, question, (with_samples ? SC_RENDER_SAMPLES : 0) |
                                            (own ? SC_RENDER_COMPACT | SC_RENDER_RELEVANT : 0) |
                                            (own && sb && model_schema_values(m) ? SC_RENDER_VALUES : 0),
                                        (size_t)budget, agent_count_tokens, m->tok, agent_values_held, sb, &rep, err);
    if (text && rep.ndropped) {
        strbuf b;
        strbuf_init(&b);
        strbuf_printf(&b, scc ? "the model sees the tables related to the question; left out %d table%s:"
                          : own ? "the model sees the tables most related to the question, as it was trained; left out %d table%s:"
                              : "the schema is too large for the context; left out %d table%s:",
                      rep.ndropped, rep.ndropped == 1 ? "" : "s");
        for (int i = 0; i < rep.ndropped && b.len < 900; i++) strbuf_printf(&b, " %s", rep.dropped[i]);
        *note = strbuf_take(&b);
    }
    sc_budget_report_free(&rep);
    return text;
}

void agent_answer_free(agent_answer *a) {
    for (int i = 0; i < a->n_attempts; i++) {
        free(a->attempts[i].raw);
        free(a->attempts[i].sql);
        free(a->attempts[i].error);
    }
    free(a->attempts);
    free(a->question);
    free(a->sql);
    free(a->adapter);
    free(a->schema_note);
    sb_result_free(&a->result);
    memset(a, 0, sizeof *a);
}

static json_t *jstr(const char *s) { return s ? json_text(s, strlen(s)) : json_null(); }

json_t *agent_answer_json(const agent_answer *a) {
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "question", jstr(a->question));
    json_object_set_new(o, "sql", jstr(a->sql));
    json_object_set_new(o, "ok", json_boolean(a->ok));
    if (a->cancelled) json_object_set_new(o, "cancelled", json_true());
    json_object_set_new(o, "adapter", jstr(a->adapter));
    if (a->schema_note) json_object_set_new(o, "schema_note", json_string(a->schema_note));
    json_t *result = a->ok ? sb_result_json(&a->result) : NULL;
    if (!result) result = json_null();
    json_object_set_new(o, "result", result);
    if (json_is_object(result)) {
        json_object_set(o, "columns", json_object_get(result, "columns"));
        json_object_set(o, "rows", json_object_get(result, "rows"));
        json_object_set(o, "row_count", json_object_get(result, "total_rows"));
    } else {
        json_object_set_new(o, "columns", json_array());
        json_object_set_new(o, "rows", json_array());
        json_object_set_new(o, "row_count", json_integer(0));
    }
    json_t *atts = json_array();
    for (int i = 0; i < a->n_attempts; i++) {
        const agent_attempt *t = &a->attempts[i];
        json_t *x = json_object();
        json_object_set_new(x, "attempt", json_integer(i + 1));
        json_object_set_new(x, "round", json_integer(t->round));
        json_object_set_new(x, "candidate", json_integer(t->candidate));
        json_object_set_new(x, "outcome", json_string(t->rows > 0 ? "rows" : t->rows == 0 ? "no rows" : "error"));
        if (t->rows >= 0) json_object_set_new(x, "rows", json_integer(t->rows));
        if (t->duplicate) json_object_set_new(x, "same_as", json_integer(t->duplicate));
        if (t->cut_off) json_object_set_new(x, "cut_off", json_true());
        if (t->steered) json_object_set_new(x, "steered", json_true());
        if (t->looped) json_object_set_new(x, "looped", json_true());
        json_object_set_new(x, "chosen", json_boolean(i == a->chosen));
        json_object_set_new(x, "sql", jstr(t->sql));
        json_object_set_new(x, "error", jstr(t->error));
        if (t->names_mended) json_object_set_new(x, "names_mended", json_integer(t->names_mended));
        if (t->values_mended) json_object_set_new(x, "values_mended", json_integer(t->values_mended));
        if (t->coverage) json_object_set_new(x, "coverage", json_integer(t->coverage));
        json_object_set_new(x, "reply", jstr(t->raw));
        json_object_set_new(x, "prompt_tokens", json_integer(t->prompt_tokens));
        json_object_set_new(x, "cached_tokens", json_integer(t->cached_tokens));
        json_object_set_new(x, "generated_tokens", json_integer(t->generated_tokens));
        json_object_set_new(x, "drafted_tokens", json_integer(t->drafted_tokens));
        json_object_set_new(x, "accepted_tokens", json_integer(t->accepted_tokens));
        json_object_set_new(x, "prefill_ms", json_real(t->prefill_ms));
        json_object_set_new(x, "decode_ms", json_real(t->decode_ms));
        json_object_set_new(x, "execute_ms", json_real(t->execute_ms));
        json_array_append_new(atts, x);
    }
    json_object_set_new(o, "attempts", atts);
    json_t *tok = json_object();
    json_object_set_new(tok, "prompt", json_integer(a->prompt_tokens));
    json_object_set_new(tok, "cached", json_integer(a->cached_tokens));
    json_object_set_new(tok, "generated", json_integer(a->generated_tokens));
    json_object_set_new(tok, "drafted", json_integer(a->drafted_tokens));
    json_object_set_new(tok, "accepted", json_integer(a->accepted_tokens));
    json_object_set_new(tok, "verify_passes", json_integer(a->verify_passes));
    json_object_set_new(o, "tokens", tok);
    json_t *tm = json_object();
    json_object_set_new(tm, "tokenize_ms", json_real(a->tokenize_ms));
    json_object_set_new(tm, "prefill_ms", json_real(a->prefill_ms));
    json_object_set_new(tm, "decode_ms", json_real(a->decode_ms));
    json_object_set_new(tm, "execute_ms", json_real(a->execute_ms));
    json_object_set_new(tm, "total_ms", json_real(a->total_ms));
    json_object_set_new(o, "timings", tm);
    return o;
}

int agent_template_init(prompt_template *t, const char *format, const char *file, const model *m, sa_err *err) {
    if (format || file || !m) return prompt_template_init(t, format, file, err);
    char *own = model_prompt_format(m);
    if (!own) return prompt_template_init(t, NULL, NULL, err);
    int rc = prompt_template_init(t, own, NULL, err);
    if (rc) sa_fail(err, "%s: key 'sqlassist.prompt_format' is '%s': unknown template (chatml, sql-create-context, schema)",
                    m->path, own);
    free(own);
    return rc;
}

int agent_copy_values(const char *flag, const model *m) {
    if (flag && !strcmp(flag, "on")) return 1;
    if (flag && !strcmp(flag, "off")) return 0;
    if (flag && strcmp(flag, "auto")) return -1;
    char *own = m ? model_prompt_format(m) : NULL;
    int trained_here = own != NULL;
    free(own);
    return trained_here;
}

int agent_on_off(const char *option, const char *flag, int dflt, int *on) {
    if (flag && strcmp(flag, "on") && strcmp(flag, "off")) {
        fprintf(stderr, "sqlassist: %s '%s': expected on or off\n", option, flag);
        return -1;
    }
    *on = flag ? !strcmp(flag, "on") : dflt;
    return 0;
}

int agent_grammar_flag(const char *flag, int *grammar) { return agent_on_off("--grammar", flag, 1, grammar); }

int agent_cache_slots(const agent_config *cfg, int min) {
    int n = agent_candidates(cfg);
    return cfg->parallel_candidates && cfg->copy_values && n > min ? n : min;
}

float agent_link_bonus(const agent_config *cfg) {
    if (cfg->link_bonus > 0) return cfg->link_bonus;
    if (cfg->link_bonus < 0) return 0;
    const char *env = getenv("SQLASSIST_LINK_BONUS");
    if (env && *env) {
        char *end;
        double v = strtod(env, &end);
        if (!*end && v >= 0 && v <= 100) return (float)v;
    }
    return AGENT_DEFAULT_LINK_BONUS;
}

int agent_beam(const agent_config *cfg) {
    if (cfg->beam < 0) return 0;
    const char *e = getenv("SQLASSIST_BEAM");
    int w = cfg->beam > 0 ? cfg->beam : e ? atoi(e) : 0;
    return w > BEAM_MAX ? BEAM_MAX : w > 1 ? w : 0;
}

int agent_candidates(const agent_config *cfg) {
    if (cfg->candidates > 0) return cfg->candidates;
    return cfg->copy_values ? AGENT_COPY_CANDIDATES : AGENT_DEFAULT_CANDIDATES;
}

int agent_draft(const agent_config *cfg) {
    if (cfg->draft > 0) return cfg->draft < GEN_DRAFT_MAX ? cfg->draft : GEN_DRAFT_MAX;
    if (cfg->draft < 0) return 0;
    const char *env = getenv("SQLASSIST_DRAFT");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (!*end && v >= 0) return v < GEN_DRAFT_MAX ? (int)v : GEN_DRAFT_MAX;
    }
    return AGENT_DEFAULT_DRAFT;
}

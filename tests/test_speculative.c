/*
** test_speculative.c — speculative decoding from the prompt gives exactly
** the output of plain greedy decoding:
**   - model_forward_exact: T tokens in one pass give bit for bit the logits
**     (and cache entries) of T one-token passes, on q8_0 weights (where a
**     batch of 4 or more would otherwise take the int8 GEMM) and with a LoRA
**     adapter;
**   - generate with draft 1, 3, 8 against draft 0: the same ids, text, stop
**     reason and cache length, through token budgets, stop strings, an
**     on_text stop, a full context, a stateful allows/mask constraint with
**     on_logits, a cached prefix with a lookup, a LoRA adapter;
**   - the agent on examples/shop.sqlite with the bundled model, grammar on
**     and off: every attempt's reply is the same with and without drafts;
** and drafts are accepted (the counters are > 0), so the comparisons do
** exercise the verification path.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "engine/generate.h"
#include "engine/lora.h"
#include "engine/model.h"
#include "sql/sandbox.h"
#include "sql/schema.h"
#include "util/clock.h"

#include "check.h"

static long total_drafted, total_accepted;
static int quick;   /* the small random models (large vocabulary, slow output head): draft 3 only */

/* ---- gen_draft ------------------------------------------------------------- */

static void test_gen_draft(void) {
    int32_t out[8];
    const int32_t h1[] = { 1, 2, 3, 4, 5, 9, 2, 3 };          /* "2 3" recurs: drafts 4 5 9 */
    int n = gen_draft(h1, 8, 1, 3, out);
    CHECK(n == 3 && out[0] == 4 && out[1] == 5 && out[2] == 9, "bigram match: n=%d", n);
    CHECK(gen_draft(h1, 8, 3, 3, out) == 0, "a bigram is shorter than min_ngram 3");
    n = gen_draft(h1, 8, 2, 8, out);
    CHECK(n == 5 && out[4] == 3, "draft runs up to the end of hist: n=%d", n);
    const int32_t h2[] = { 7, 1, 8, 2, 1, 9, 1 };              /* only unigram matches: the most recent wins */
    n = gen_draft(h2, 7, 1, 2, out);
    CHECK(n == 2 && out[0] == 9 && out[1] == 1, "most recent unigram: n=%d %d", n, out[0]);
    const int32_t h3[] = { 5, 6, 7, 1, 6, 7, 2, 0, 6, 7 };      /* "6 7" at 1 and 4; "5 6 7" nowhere else */
    n = gen_draft(h3, 10, 1, 1, out);
    CHECK(n == 1 && out[0] == 2, "most recent among the longest: %d", out[0]);
    const int32_t h4[] = { 3, 4, 5, 0, 4, 5, 9, 3, 4, 5 };     /* "3 4 5" (older) beats "4 5" (newer) */
    n = gen_draft(h4, 10, 1, 1, out);
    CHECK(n == 1 && out[0] == 0, "longest first: %d", out[0]);
    n = gen_draft(h4, 10, 3, 2, out);
    CHECK(n == 2 && out[0] == 0 && out[1] == 4, "a trigram: n=%d", n);
    const int32_t h5[] = { 1, 2, 3 };
    CHECK(gen_draft(h5, 3, 1, 4, out) == 0, "no match");
    CHECK(gen_draft(h5, 1, 1, 4, out) == 0 && gen_draft(h1, 8, 1, 0, out) == 0, "degenerate");
}

/* ---- model_forward_exact ---------------------------------------------------- */

static void test_exact_forward(const model *m, const lora_adapter *ad, const char *what) {
    sa_err err;
    int V = m->cfg.n_vocab;
    enum { P = 37, T = 9 };
    int32_t ids[P + T + 1];
    for (int i = 0; i < P + T + 1; i++) ids[i] = (int32_t)((i * 7919 + 101) % (V - 300));
    float *want = malloc((size_t)(T + 1) * V * sizeof *want), *got = malloc((size_t)(T + 1) * V * sizeof *got);
    infer_state *a = infer_new(m, 256, &err), *b = infer_new(m, 256, &err);
    if (!want || !got || !a || !b) { CHECK_FAIL("setup: %s", err.msg); exit(check_done()); }
    infer_set_lora(a, ad, 0.7f);
    infer_set_lora(b, ad, 0.7f);
    if (model_forward(m, a, ids, P, LOGITS_NONE, NULL, &err) || model_forward(m, b, ids, P, LOGITS_NONE, NULL, &err)) {
        CHECK_FAIL("prefill: %s", err.msg);
        exit(check_done());
    }
    for (int t = 0; t < T; t++)
        if (model_forward(m, a, ids + P + t, 1, LOGITS_LAST, want + (size_t)t * V, &err)) { CHECK_FAIL("%s", err.msg); exit(check_done()); }
    if (model_forward_exact(m, b, ids + P, T, got, &err)) { CHECK_FAIL("%s", err.msg); exit(check_done()); }
    CHECK(memcmp(want, got, (size_t)T * V * sizeof *got) == 0, "%s: %d tokens in one exact pass differ from one-token passes", what, T);
    /* the cache entries: the next token's logits */
    model_forward(m, a, ids + P + T, 1, LOGITS_LAST, want, &err);
    model_forward(m, b, ids + P + T, 1, LOGITS_LAST, got, &err);
    CHECK(memcmp(want, got, (size_t)V * sizeof *got) == 0, "%s: the cache written by the exact pass differs", what);
    /* rolled back and redone: the same */
    infer_truncate(b, P + 2);
    model_forward_exact(m, b, ids + P + 2, 4, got, &err);
    infer_truncate(a, P + 2);
    for (int t = 0; t < 4; t++) model_forward(m, a, ids + P + 2 + t, 1, LOGITS_LAST, want + (size_t)t * V, &err);
    CHECK(memcmp(want, got, (size_t)4 * V * sizeof *got) == 0, "%s: after a rollback", what);
    infer_free(a);
    infer_free(b);
    free(want);
    free(got);
}

/* ---- generate: plain against drafted ------------------------------------------ */

typedef struct constraint {
    int last;            /* the previous token: not allowed twice in a row */
    int banned_mod;      /* ids ≡ 0 (mod banned_mod) are never allowed */
    int pushes, texts;
    int stop_after_texts;
    char log[4096];      /* every callback, in order */
    size_t n_log;
} constraint;

static void logf_(constraint *c, const char *kind, int v) {
    int n = snprintf(c->log + c->n_log, sizeof c->log - c->n_log, "%s%d ", kind, v);
    if (n > 0 && c->n_log + (size_t)n < sizeof c->log) c->n_log += (size_t)n;
}
static int c_allows(void *ud, int id, int n_left) {
    constraint *c = ud;
    return id != c->last && (c->banned_mod <= 0 || id % c->banned_mod != 0);
}
static int c_mask(void *ud, float *logits, int V, int n_left) {
    int kept = 0;
    for (int i = 0; i < V; i++) {
        if (!c_allows(ud, i, n_left)) logits[i] = -INFINITY;
        else kept++;
    }
    return kept;
}
static void c_logits(void *ud, float *logits, int V) {
    constraint *c = ud;
    logits[(c->pushes * 31 + 7) % V] = -INFINITY;   /* depends on how many tokens came before */
}
static int c_token(void *ud, int id) {
    constraint *c = ud;
    c->last = id;
    c->pushes++;
    logf_(c, "t", id);
    return 0;
}
static int c_text(void *ud, const char *text, int len) {
    constraint *c = ud;
    c->texts++;
    logf_(c, "x", len);
    return c->stop_after_texts && c->texts >= c->stop_after_texts;
}

typedef struct gen_case {
    const char *name;
    int n_predict, n_ctx, constrained, stop_after_texts, cached;   /* cached: tokens prefilled before generate */
    const char *stop;
} gen_case;

/* One generate call from a fresh cache; returns the cache length left. */
static int run_gen(const model *m, const struct lora_adapter *ad, const int32_t *prompt, int n_prompt, const gen_case *gc, int draft,
                   const int32_t *lookup, int n_lookup, gen_result *res, constraint *c) {
    sa_err err;
    infer_state *s = infer_new(m, gc->n_ctx, &err);
    if (!s) { CHECK_FAIL("infer_new: %s", err.msg); exit(check_done()); }
    infer_set_lora(s, ad, 1.0f);
    memset(c, 0, sizeof *c);
    c->last = -1;
    c->banned_mod = gc->constrained ? 5 : 0;
    c->stop_after_texts = gc->stop_after_texts;
    const char *stops[1] = { gc->stop };
    gen_opts go = { .n_predict = gc->n_predict, .on_token = c_token, .on_text = c_text, .ud = c, .draft = draft,
                    .stop_strings = stops, .n_stop = gc->stop ? 1 : 0 };
    if (gc->constrained) { go.allows = c_allows; go.mask = c_mask; go.on_logits = c_logits; }
    int skip = gc->cached < n_prompt ? gc->cached : 0;
    if (skip && model_forward(m, s, prompt, skip, LOGITS_NONE, NULL, &err)) { CHECK_FAIL("%s", err.msg); exit(check_done()); }
    if (skip) { go.lookup = prompt; go.n_lookup = n_prompt; }
    if (lookup) { go.lookup = lookup; go.n_lookup = n_lookup; }
    if (generate(m, s, prompt + skip, n_prompt - skip, &go, res, &err)) { CHECK_FAIL("generate: %s", err.msg); exit(check_done()); }
    int n_past = infer_n_past(s);
    infer_free(s);
    return n_past;
}

static void compare_gen(const model *m, const struct lora_adapter *ad, const char *what, const int32_t *prompt, int n_prompt,
                        const gen_case *gc) {
    gen_result ref, got;
    constraint cr, cg;
    int past_ref = run_gen(m, ad, prompt, n_prompt, gc, 0, NULL, 0, &ref, &cr);
    CHECK(ref.n_drafted == 0 && ref.n_verify == 0, "%s/%s: draft 0 drafted", what, gc->name);
    static const int drafts[] = { 1, 3, 8 };
    for (int d = 0; d < 3; d++) {
        if (quick && d != 1) continue;
        int past = run_gen(m, ad, prompt, n_prompt, gc, drafts[d], NULL, 0, &got, &cg);
        int same = got.n_ids == ref.n_ids && !memcmp(got.ids, ref.ids, (size_t)ref.n_ids * sizeof *ref.ids) &&
                   !strcmp(got.text, ref.text) && got.stop == ref.stop;
        CHECK(same, "%s/%s draft %d: %d ids (stop %d) against %d (stop %d)", what, gc->name, drafts[d], got.n_ids, got.stop,
              ref.n_ids, ref.stop);
        CHECK(past == past_ref, "%s/%s draft %d: cache holds %d positions, plain decoding %d", what, gc->name, drafts[d], past, past_ref);
        CHECK(cg.n_log == cr.n_log && !memcmp(cg.log, cr.log, cr.n_log), "%s/%s draft %d: callbacks differ", what, gc->name, drafts[d]);
        CHECK(got.n_accepted <= got.n_drafted, "counters");
        total_drafted += got.n_drafted;
        total_accepted += got.n_accepted;
        gen_result_free(&got);
    }
    /* an earlier attempt to draft from (the answer itself, every fifth token
    ** changed): long drafts that hold, and drafts that fail mid-way */
    int32_t *look = malloc(((size_t)n_prompt + (size_t)ref.n_ids + 1) * sizeof *look);
    if (!look) { CHECK_FAIL("out of memory"); exit(check_done()); }
    memcpy(look, prompt, (size_t)n_prompt * sizeof *look);
    for (int i = 0; i < ref.n_ids; i++) look[n_prompt + i] = i % 5 == 4 ? (ref.ids[i] + 1) % m->cfg.n_vocab : ref.ids[i];
    int past = run_gen(m, ad, prompt, n_prompt, gc, 6, look, n_prompt + ref.n_ids, &got, &cg);
    CHECK(got.n_ids == ref.n_ids && !memcmp(got.ids, ref.ids, (size_t)ref.n_ids * sizeof *ref.ids) && !strcmp(got.text, ref.text) &&
          got.stop == ref.stop && past == past_ref && cg.n_log == cr.n_log && !memcmp(cg.log, cr.log, cr.n_log),
          "%s/%s drafting from an earlier answer: the output differs", what, gc->name);
    total_drafted += got.n_drafted;
    total_accepted += got.n_accepted;
    gen_result_free(&got);
    free(look);
    gen_result_free(&ref);
}

static const gen_case CASES[] = {
    { "plain", 40, 512, 0, 0, 0, NULL },
    { "budget-1", 1, 512, 0, 0, 0, NULL },
    { "budget-3", 3, 512, 0, 0, 0, NULL },
    { "constrained", 40, 512, 1, 0, 0, NULL },
    { "on_text-stop", 40, 512, 0, 9, 0, NULL },
    { "context-full", 200, 0, 0, 0, 0, NULL },          /* n_ctx set to prompt + 13 below */
    { "cached-prefix", 40, 512, 1, 0, 20, NULL },
};

static void gen_suite(const model *m, const struct lora_adapter *ad, const char *what, const int32_t *prompt, int n_prompt,
                      const char *stop) {
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        gen_case gc = CASES[i];
        if (!gc.n_ctx) gc.n_ctx = n_prompt + 13;
        compare_gen(m, ad, what, prompt, n_prompt, &gc);
    }
    if (stop) {
        gen_case gc = { "stop-string", 64, 512, 0, 0, 0, stop };
        compare_gen(m, ad, what, prompt, n_prompt, &gc);
    }
}

/* ---- the agent ------------------------------------------------------------------ */

static void agent_suite(const model *m, const char *what, sandbox *sb, const sc_schema *schema, const char *const *questions, int nq) {
    sa_err err;
    prompt_template tpl = {0};
    if (agent_template_init(&tpl, NULL, NULL, m, &err)) { CHECK_FAIL("template: %s", err.msg); exit(check_done()); }
    prefix_cache *pc = pc_new(m, 2, 2048, &err);
    if (!pc) { CHECK_FAIL("%s", err.msg); exit(check_done()); }
    long drafted = 0, accepted = 0;
    for (int g = 0; g <= 1; g++)
        for (int q = g; q < nq; q += 2) {   /* half the questions each way */
            char *note = NULL;
            char *schema_text = agent_schema_prompt(m, &tpl, sb, schema, questions[q], false, 2048, 96, 2, &note, &err);
            if (!schema_text) { CHECK_FAIL("schema: %s", err.msg); exit(check_done()); }
            free(note);
            agent_answer ref, got;
            agent_config cfg = { .m = m, .pc = pc, .tpl = &tpl, .max_attempts = 2, .max_new_tokens = 96, .schema = schema,
                                 .grammar = g, .copy_values = agent_copy_values(NULL, m), .draft = -1 };
            if (agent_ask(&cfg, sb, schema_text, NULL, NULL, questions[q], &ref, &err)) { CHECK_FAIL("ask: %s", err.msg); exit(check_done()); }
            CHECK(ref.drafted_tokens == 0, "draft off drafted");
            static const int drafts[] = { 2, 8 };
            for (int d = 0; d < 2; d++) {
                cfg.draft = drafts[d];
                if (agent_ask(&cfg, sb, schema_text, NULL, NULL, questions[q], &got, &err)) { CHECK_FAIL("ask: %s", err.msg); exit(check_done()); }
                int same = got.n_attempts == ref.n_attempts && !strcmp(got.sql ? got.sql : "", ref.sql ? ref.sql : "");
                for (int i = 0; same && i < ref.n_attempts; i++)
                    same = got.attempts[i].generated_tokens == ref.attempts[i].generated_tokens &&
                           !strcmp(got.attempts[i].raw ? got.attempts[i].raw : "", ref.attempts[i].raw ? ref.attempts[i].raw : "");
                CHECK(same, "%s grammar %s, draft %d, \"%s\": the replies differ", what, g ? "on" : "off", drafts[d], questions[q]);
                drafted += got.drafted_tokens;
                accepted += got.accepted_tokens;
                agent_answer_free(&got);
            }
            if (q == 0) printf("%s grammar %s: \"%s\" -> %s\n", what, g ? "on" : "off", questions[q], ref.sql ? ref.sql : "(none)");
            agent_answer_free(&ref);
            free(schema_text);
        }
    printf("%s: agent drafted %ld, accepted %ld (%.0f%%)\n", what, drafted, accepted, drafted ? 100.0 * accepted / drafted : 0.0);
    CHECK(accepted > 0, "%s: no draft was ever accepted through the agent", what);
    total_drafted += drafted;
    total_accepted += accepted;
    pc_free(pc);
    prompt_template_free(&tpl);
}

int main(void) {
    const char *out = getenv("OUT") ? getenv("OUT") : "tests/out";
    char path[512];
    sa_err err;
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_gen_draft();

    /* small random models: q8_0 (the int8 paths), f32 with a LoRA adapter */
    double t0 = clock_now_s();
    quick = 1;
    enum { NP = 40 };
    int32_t rep[NP];   /* a repetitive prompt: random models then repeat themselves, and drafts hold */
    for (int i = 0; i < NP; i++) rep[i] = (int32_t)(1000 + (i % 7) * 13);

    char ad_path[512];
    snprintf(path, sizeof path, "%s/models/m64/m64-f32.gguf", out);
    snprintf(ad_path, sizeof ad_path, "%s/adapters/m64/all-r8.gguf", out);
    /* f32; q8_0 converted at load (row-major); the q8_0 GGUF, read as 16-row panels where the CPU has them */
    static const char *const dtypes[] = { NULL, "q8_0", NULL };
    char qpath[512];
    snprintf(qpath, sizeof qpath, "%s/models/m64/m64-q8_0.gguf", out);
    int have_fixtures = access(path, R_OK) == 0 && access(ad_path, R_OK) == 0 && access(qpath, R_OK) == 0;
    if (!have_fixtures) check_skip("no test model or adapter (%s, %s): tests/fixtures.sh makes them", path, ad_path);
    for (int d = 0; have_fixtures && d < 3; d++) {
        model_opts mo = { .dtype = dtypes[d] };
        model *mf = model_load(d == 2 ? qpath : path, &mo, &err);
        if (!mf) { CHECK_FAIL("%s", err.msg); return check_done(); }
        lora_adapter *ad = lora_load(mf, NULL, ad_path, &err);
        if (!ad) { CHECK_FAIL("adapter: %s", err.msg); return check_done(); }
        char what[64];
        snprintf(what, sizeof what, "m64 %s + LoRA",
                 d == 2 ? (mf->layers[0].wq.x16 ? "q8_0 file, panels" : "q8_0 file") : dtypes[d] ? dtypes[d] : "f32");
        test_exact_forward(mf, ad, what);
        gen_suite(mf, ad, what, rep, NP, NULL);
        if (d >= 1) gen_suite(mf, NULL, d == 2 ? "m64 q8_0 file" : "m64 q8_0", rep, NP, NULL);
        printf("%s: done (%.1f s)\n", what, clock_now_s() - t0);
        lora_release(ad);
        model_free(mf);
    }
    if (have_fixtures) {
        printf("random models: drafted %ld, accepted %ld\n", total_drafted, total_accepted);
        CHECK(total_accepted > 0, "no draft was accepted on the random models");
    }
    quick = 0;

    /* the bundled model on a real schema, through generate and the agent */
    const char *questions[] = {
        "How many customers are there?",
        "How many orders were delivered?",
        "List the names of all categories.",
        "What is the total price of all products in the category named Books?",
        "Show the email of every customer who lives in France, ordered by name.",
        "Which customers placed more than two orders? Give their names and the number of orders.",
    };
    int nq = (int)(sizeof questions / sizeof *questions);
    sb_limits lim;
    sb_limits_default(&lim);
    sandbox *sb = sb_open_db("examples/shop.sqlite", &lim, &err);
    if (!sb) { CHECK_FAIL("examples/shop.sqlite: %s", err.msg); return check_done(); }
    sc_schema schema = {0};
    if (sc_introspect(sb, 0, &schema, &err)) { CHECK_FAIL("%s", err.msg); return check_done(); }
    const char *bundled[] = { "models/sqlassist-sql.gguf" };
    for (int b = 0; b < (int)(sizeof bundled / sizeof *bundled); b++) {
        if (access(bundled[b], R_OK) != 0) { check_skip("no bundled model %s", bundled[b]); continue; }
        model *m = model_load(bundled[b], NULL, &err);
        if (!m) { CHECK_FAIL("%s", err.msg); return check_done(); }
        long d0 = total_drafted, a0 = total_accepted;
        /* generate on rendered prompts of different lengths */
        prompt_template tpl = {0};
        if (agent_template_init(&tpl, NULL, NULL, m, &err)) { CHECK_FAIL("%s", err.msg); return check_done(); }
        for (int q = 0; q < nq; q += 2) {
            char *note = NULL;
            char *st = agent_schema_prompt(m, &tpl, sb, &schema, questions[q], q == 4, 2048, 96, 1, &note, &err);
            char *p = st ? prompt_render(&tpl, st, NULL, 0, questions[q], NULL, 0) : NULL;
            int32_t *ids = NULL;
            size_t n_ids = 0;
            if (!p || tok_encode(m->tok, p, strlen(p), &ids, &n_ids, &err)) { CHECK_FAIL("prompt: %s", err.msg); return check_done(); }
            char what[96];
            snprintf(what, sizeof what, "%s q%d (%zu tokens)", bundled[b], q, n_ids);
            gen_suite(m, NULL, what, ids, (int)n_ids, ";");
            free(ids);
            free(p);
            free(st);
            free(note);
        }
        prompt_template_free(&tpl);
        printf("%s generate: drafted %ld, accepted %ld (%.1f s)\n", bundled[b], total_drafted - d0, total_accepted - a0, clock_now_s() - t0);
        CHECK(total_accepted > a0, "%s: no draft was accepted", bundled[b]);
        agent_suite(m, bundled[b], sb, &schema, questions, nq);
        printf("%s agent: done (%.1f s)\n", bundled[b], clock_now_s() - t0);
        model_free(m);
    }
    sc_free(&schema);
    sb_close(sb);
    printf("all: drafted %ld, accepted %ld (%.0f%%)\n", total_drafted, total_accepted,
           total_drafted ? 100.0 * total_accepted / total_drafted : 0.0);
    return check_done();
}

/*
** test_beam.c — beam search (engine/beam.h) against independent checks:
**   - width 1 without constraints is greedy decoding: the same ids as
**     generate at temperature 0;
**   - every hypothesis's score is the sum of its tokens' log-probabilities
**     (end token included when finished), recomputed here token by token
**     with model_forward on a fresh cache;
**   - hypotheses come best first, are distinct, and none is worse than the
**     W-th best finished one that the search could have kept;
**   - a stateful constraint (only tokens whose id has the parity of the
**     reply's length) holds in every hypothesis, with forks and drops
**     balanced (every constraint state made is freed exactly once);
**   - the caller's cache is left holding the prompt only, and a second
**     search from it gives the same hypotheses;
**   - a context with room for 3 more tokens ends every reply there (no
**     error), as generate stops at a full context;
** on the bundled model with a real schema prompt, and on a small random
** q8_0 model (the int8 batch path) when the test fixtures are there.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/beam.h"
#include "engine/generate.h"
#include "engine/model.h"

#include "check.h"

/* ---- a constraint with state: the reply's length decides the next id's parity */

typedef struct parity { int len; } parity;
static int n_made, n_freed;

static void *parity_fork(void *ud) {
    parity *p = malloc(sizeof *p);
    if (p) { *p = *(parity *)ud; n_made++; }
    return p;
}
static void parity_drop(void *ud) { free(ud); n_freed++; }
static int parity_mask(void *ud, float *logits, int V, int n_left) {
    parity *p = ud;
    int left = 0;
    for (int id = 0; id < V; id++) {
        if (id % 2 != p->len % 2 && id < V - 64) logits[id] = -INFINITY;   /* the special tokens stay allowed */
        else left++;
    }
    return left;
}
static int parity_token(void *ud, int id) {
    ((parity *)ud)->len++;
    return 0;
}

/* Sum of log p(ids[i] | prompt, ids[<i]) (+ log p(end) when end >= 0), token by token. */
static double rescore(const model *m, const int32_t *prompt, int np, const int32_t *ids, int n, int end) {
    sa_err err;
    int V = m->cfg.n_vocab;
    infer_state *s = infer_new(m, np + n + 2, &err);
    float *lg = malloc((size_t)V * sizeof *lg);
    if (!s || !lg || model_forward(m, s, prompt, np, LOGITS_LAST, lg, &err)) { CHECK_FAIL("rescore: %s", err.msg); return NAN; }
    double sum = 0;
    for (int i = 0; i <= n; i++) {
        int id = i < n ? ids[i] : end;
        if (id < 0) break;
        double mx = -INFINITY, z = 0;
        for (int v = 0; v < V; v++) if (lg[v] > mx) mx = lg[v];
        for (int v = 0; v < V; v++) z += exp((double)lg[v] - mx);
        sum += (double)lg[id] - (mx + log(z));
        if (i < n && model_forward(m, s, &ids[i], 1, LOGITS_LAST, lg, &err)) { CHECK_FAIL("rescore: %s", err.msg); break; }
    }
    free(lg);
    infer_free(s);
    return sum;
}

static void run_suite(const model *m, const int32_t *prompt, int np, int n_predict, const char *what) {
    sa_err err = {{0}};
    int V = m->cfg.n_vocab;
    int eos = tok_lookup(m->tok, "<|endoftext|>");
    infer_state *s = infer_new(m, np + n_predict + 8, &err);
    float *last = malloc((size_t)V * sizeof *last);
    if (!s || !last || model_forward(m, s, prompt, np - 1, LOGITS_NONE, NULL, &err) ||
        model_forward(m, s, prompt + np - 1, 1, LOGITS_LAST, last, &err)) {
        CHECK_FAIL("%s: setup: %s", what, err.msg);
        return;
    }

    /* width 1 = greedy */
    gen_opts go = { .n_predict = n_predict };
    gen_result gr;
    infer_state *g = infer_new(m, np + n_predict + 8, &err);
    if (!g || generate(m, g, prompt, np, &go, &gr, &err)) { CHECK_FAIL("%s: generate: %s", what, err.msg); return; }
    beam_opts o1 = { .width = 1, .n_predict = n_predict };
    beam_result r1;
    if (beam_search(m, s, np, last, &o1, &r1, &err)) { CHECK_FAIL("%s: beam 1: %s", what, err.msg); return; }
    CHECK(r1.n == 1 && r1.hyps[0].n_ids == gr.n_ids &&
          !memcmp(r1.hyps[0].ids, gr.ids, (size_t)gr.n_ids * sizeof *gr.ids),
          "%s: width 1 is greedy (%d ids against %d)", what, r1.n ? r1.hyps[0].n_ids : -1, gr.n_ids);
    CHECK(r1.n == 1 && r1.hyps[0].finished == (gr.stop == GEN_STOP_EOS), "%s: width 1 ends where greedy ends", what);
    CHECK(infer_n_past(s) == np, "%s: the cache holds the prompt after the search (%d, not %d)", what, infer_n_past(s), np);
    beam_result_free(&r1, NULL);
    gen_result_free(&gr);
    infer_free(g);

    /* width 4: scores are the model's log-probabilities, best first, distinct */
    for (int constrained = 0; constrained < 2; constrained++) {
        n_made = n_freed = 0;
        parity *root = calloc(1, sizeof *root);
        n_made++;
        beam_opts o = { .width = 4, .n_predict = n_predict };
        if (constrained) {
            o.fork = parity_fork;
            o.drop = parity_drop;
            o.mask = parity_mask;
            o.on_token = parity_token;
            o.ud = root;
        } else {
            free(root);
            n_made--;
        }
        beam_result r;
        if (beam_search(m, s, np, last, &o, &r, &err)) { CHECK_FAIL("%s: beam 4: %s", what, err.msg); return; }
        CHECK(r.n >= 1 && r.n <= 4, "%s: %d hypotheses", what, r.n);
        for (int h = 0; h < r.n; h++) {
            const beam_hyp *y = &r.hyps[h];
            double want = rescore(m, prompt, np, y->ids, y->n_ids, y->finished ? eos : -1);
            CHECK(fabs(want - y->logprob) < 1e-3 * (1 + fabs(want)), "%s%s: hypothesis %d scores %.5f, recomputed %.5f",
                  what, constrained ? " (constrained)" : "", h, y->logprob, want);
            if (h > 0 && y->finished == r.hyps[h - 1].finished)
                CHECK(y->logprob <= r.hyps[h - 1].logprob, "%s: hypotheses best first (%d)", what, h);
            if (h > 0) CHECK(y->finished <= r.hyps[h - 1].finished, "%s: finished ones first", what);
            for (int k = 0; k < h; k++)
                CHECK(!(r.hyps[k].n_ids == y->n_ids && !memcmp(r.hyps[k].ids, y->ids, (size_t)y->n_ids * sizeof *y->ids)),
                      "%s: hypotheses %d and %d are the same reply", what, k, h);
            if (constrained) {
                int ok = 1;
                for (int i = 0; i < y->n_ids; i++) ok &= y->ids[i] >= V - 64 || y->ids[i] % 2 == i % 2;
                CHECK(ok, "%s: hypothesis %d keeps the constraint", what, h);
                CHECK(y->ud && ((parity *)y->ud)->len == y->n_ids, "%s: hypothesis %d's state saw its %d tokens", what, h,
                      y->n_ids);
            }
        }
        CHECK(infer_n_past(s) == np, "%s: the cache holds the prompt after the search", what);
        /* the same search again from the cache it left: the same replies */
        if (!constrained) {
            beam_result again;
            if (beam_search(m, s, np, last, &o, &again, &err)) { CHECK_FAIL("%s: again: %s", what, err.msg); return; }
            int same = again.n == r.n;
            for (int h = 0; same && h < r.n; h++)
                same = again.hyps[h].n_ids == r.hyps[h].n_ids && again.hyps[h].logprob == r.hyps[h].logprob &&
                       !memcmp(again.hyps[h].ids, r.hyps[h].ids, (size_t)r.hyps[h].n_ids * sizeof *r.hyps[h].ids);
            CHECK(same, "%s: a second search from the cache it left gives the same hypotheses", what);
            beam_result_free(&again, NULL);
        }
        printf("%s%s: %d hypotheses, best %.3f (%d tokens%s), %d passes\n", what, constrained ? " constrained" : "", r.n,
               r.hyps[0].logprob, r.hyps[0].n_ids, r.hyps[0].finished ? ", finished" : "", r.steps);
        beam_result_free(&r, constrained ? parity_drop : NULL);
        if (constrained) CHECK(n_made == n_freed, "%s: constraint states made %d, freed %d", what, n_made, n_freed);
    }
    free(last);
    infer_free(s);
}

int main(void) {
    const char *out = getenv("OUT") ? getenv("OUT") : "tests/out";
    sa_err err;
    setvbuf(stdout, NULL, _IOLBF, 0);

    const char *bundled = "models/sqlassist-sql.gguf";
    model *m = model_load(bundled, NULL, &err);
    if (!m) { CHECK_FAIL("%s: %s", bundled, err.msg); return check_done(); }
    const char *prompt = "### Schema:\nCREATE TABLE customers (customer_id PRIMARY KEY, name, city, country);\n"
                         "CREATE TABLE orders (order_id PRIMARY KEY, customer_id REFERENCES customers(customer_id), "
                         "status, total);\n### Question:\nHow many orders did customers from Lyon place?\n### SQL:\n";
    int32_t *ids = NULL;
    size_t n = 0;
    if (tok_encode(m->tok, prompt, strlen(prompt), &ids, &n, &err)) { CHECK_FAIL("%s", err.msg); return check_done(); }
    run_suite(m, ids, (int)n, 48, "bundled");

    /* a context with room for 3 more tokens: replies stop there, as generate stops */
    infer_state *small = infer_new(m, (int)n + 3, &err);
    float *last = malloc((size_t)m->cfg.n_vocab * sizeof *last);
    if (!small || !last || model_forward(m, small, ids, (int)n, LOGITS_LAST, last, &err)) {
        CHECK_FAIL("small context: %s", err.msg);
        return check_done();
    }
    beam_opts os = { .width = 4, .n_predict = 48 };
    beam_result rs;
    int rc = beam_search(m, small, (int)n, last, &os, &rs, &err);
    CHECK(rc == 0 && rs.n >= 1, "a nearly full context: %s", rc ? err.msg : "ok");
    for (int h = 0; rc == 0 && h < rs.n; h++)
        CHECK(rs.hyps[h].n_ids <= 3, "a nearly full context: hypothesis %d has %d tokens (room for 3)", h, rs.hyps[h].n_ids);
    if (rc == 0) beam_result_free(&rs, NULL);
    CHECK(infer_n_past(small) == (int)n, "a nearly full context: the cache holds the prompt after the search");
    infer_free(small);
    free(last);
    free(ids);
    model_free(m);

    char path[512];
    snprintf(path, sizeof path, "%s/models/m64/m64-f32.gguf", out);
    if (access(path, R_OK) != 0) {
        check_skip("no test model %s: tests/fixtures.sh makes it", path);
        return check_done();
    }
    model_opts mo = { .dtype = "q8_0" };
    m = model_load(path, &mo, &err);
    if (!m) { CHECK_FAIL("%s: %s", path, err.msg); return check_done(); }
    int32_t rnd[24];
    for (int i = 0; i < 24; i++) rnd[i] = (int32_t)(500 + (i * 37) % 900);
    run_suite(m, rnd, 24, 12, "m64 q8_0");
    model_free(m);
    return check_done();
}

/*
** test_batch.c — continuous batching in the engine gives exactly what each
** sequence would get alone:
**   - model_forward_batch on sequences with prompts of different lengths,
**     different LoRA adapters (none, one adapter at two scales, another
**     adapter), joining the batch mid-flight and leaving it when their own
**     token budget is spent: every sequence's greedy tokens and every
**     step's logits are bit for bit those of one-token model_forward calls
**     on that sequence alone (f32 and q8_0 weights, batches of 1 to 7 rows
**     so that the 4-token integer kernels and their remainders all run);
**   - the bundled model as q8_0 with four sequences on real prompts;
**   - bad calls fail with a message and leave every cache as it was;
**   - model_forward_prompts: prompt chunks of several sequences in one pass,
**     and where the model's rows are exact (q8_0 panels on VNNI) one-token
**     steps among them, each as model_forward alone leaves it;
**   - the batcher: generate() from several threads at once (prompts longer
**     than a chunk, different adapters, drafts on and off) gives each
**     thread the ids, text and stop reason it gets alone, and the decode
**     steps were in fact shared (more than one row per pass) and, where the
**     rows are exact, rode in prompt passes.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "engine/batcher.h"
#include "engine/generate.h"
#include "engine/kernels.h"
#include "engine/lora.h"
#include "engine/model.h"
#include "check.h"


enum { MAX_SEQ = 7, MAX_GEN = 24, MAX_PROMPT = 80 };

typedef struct seq_spec {
    int n_prompt, n_gen, join_step;     /* joins the batch at this step */
    const lora_adapter *ad;
    float scale;
} seq_spec;

static void prompt_ids(int s, int n, int V, int32_t *ids) {
    for (int i = 0; i < n; i++) ids[i] = (int32_t)((i * 7919 + s * 104729 + 11) % (V - 1));
}

/* Runs the sequences alone (one-token passes) and in one batch, and
** compares tokens and logits. */
static void run_case(const model *m, const seq_spec *spec, int n_seq, const char *what) {
    sa_err err;
    int V = m->cfg.n_vocab;
    static int32_t want_tok[MAX_SEQ][MAX_GEN], got_tok[MAX_SEQ][MAX_GEN];
    float *want_logits[MAX_SEQ];
    float *logits = malloc((size_t)MAX_SEQ * V * sizeof *logits);
    int32_t ids[MAX_PROMPT];
    for (int s = 0; s < n_seq; s++) {
        infer_state *st = infer_new(m, 256, &err);
        want_logits[s] = malloc((size_t)spec[s].n_gen * V * sizeof(float));
        if (!st || !want_logits[s] || !logits) { printf("FAIL setup: %s\n", err.msg); exit(1); }
        infer_set_lora(st, spec[s].ad, spec[s].scale);
        prompt_ids(s, spec[s].n_prompt, V, ids);
        if (model_forward(m, st, ids, spec[s].n_prompt, LOGITS_LAST, logits, &err)) { printf("FAIL %s\n", err.msg); exit(1); }
        int32_t next = argmax(logits, V);
        for (int g = 0; g < spec[s].n_gen; g++) {
            want_tok[s][g] = next;
            if (model_forward(m, st, &next, 1, LOGITS_LAST, want_logits[s] + (size_t)g * V, &err)) {
                printf("FAIL %s\n", err.msg);
                exit(1);
            }
            next = argmax(want_logits[s] + (size_t)g * V, V);
        }
        infer_free(st);
    }

    /* batched: sequence s prefills (alone, as a server would) when it joins,
    ** then takes one row per step until its n_gen tokens are in */
    infer_state *st[MAX_SEQ] = {0};
    int32_t next[MAX_SEQ];
    int done[MAX_SEQ] = {0}, bad_logits = 0, bad_tok = 0, max_rows = 0;
    for (int step = 0;; step++) {
        int active = 0;
        for (int s = 0; s < n_seq; s++) {
            if (spec[s].join_step == step) {
                st[s] = infer_new(m, 256, &err);
                if (!st[s]) { printf("FAIL %s\n", err.msg); exit(1); }
                infer_set_lora(st[s], spec[s].ad, spec[s].scale);
                prompt_ids(s, spec[s].n_prompt, V, ids);
                if (model_forward(m, st[s], ids, spec[s].n_prompt, LOGITS_LAST, logits, &err)) { printf("FAIL %s\n", err.msg); exit(1); }
                next[s] = argmax(logits, V);
            }
            active += st[s] && done[s] < spec[s].n_gen;
        }
        if (!active) {
            int later = 0;
            for (int s = 0; s < n_seq; s++) later |= spec[s].join_step > step;
            if (!later) break;
            continue;
        }
        infer_state *rows[MAX_SEQ];
        int32_t toks[MAX_SEQ];
        int who[MAX_SEQ], B = 0;
        for (int s = 0; s < n_seq; s++)
            if (st[s] && done[s] < spec[s].n_gen) {
                rows[B] = st[s];
                toks[B] = next[s];
                who[B++] = s;
            }
        if (B > max_rows) max_rows = B;
        if (model_forward_batch(m, rows, toks, B, logits, &err)) { printf("FAIL %s: %s\n", what, err.msg); exit(1); }
        for (int b = 0; b < B; b++) {
            int s = who[b];
            got_tok[s][done[s]] = toks[b];
            bad_logits += memcmp(logits + (size_t)b * V, want_logits[s] + (size_t)done[s] * V, (size_t)V * sizeof *logits) != 0;
            next[s] = argmax(logits + (size_t)b * V, V);
            done[s]++;
        }
    }
    for (int s = 0; s < n_seq; s++) {
        bad_tok += memcmp(want_tok[s], got_tok[s], (size_t)spec[s].n_gen * sizeof(int32_t)) != 0;
        CHECK(infer_n_past(st[s]) == spec[s].n_prompt + spec[s].n_gen, "%s: sequence %d cache length %d", what, s,
              infer_n_past(st[s]));
        infer_free(st[s]);
        free(want_logits[s]);
    }
    CHECK(bad_logits == 0, "%s: %d batched rows' logits differ from one-token passes", what, bad_logits);
    CHECK(bad_tok == 0, "%s: %d sequences' greedy tokens differ", what, bad_tok);
    printf("%s: %d sequences, up to %d rows per step: %s\n", what, n_seq, max_rows,
           bad_logits || bad_tok ? "DIFFERENT" : "tokens and logits equal");
    free(logits);
}

/* Bad calls: a repeated state, a full context, an id out of range. Each
** fails, names the sequence, and no cache moves. */
static void test_errors(const model *m) {
    sa_err err;
    int V = m->cfg.n_vocab;
    infer_state *a = infer_new(m, 8, &err), *b = infer_new(m, 4, &err);
    float *logits = malloc((size_t)2 * V * sizeof *logits);
    int32_t ids[4] = { 1, 2, 3, 4 };
    model_forward(m, a, ids, 2, LOGITS_NONE, NULL, &err);
    model_forward(m, b, ids, 4, LOGITS_NONE, NULL, &err);
    infer_state *same[2] = { a, a }, *full[2] = { a, b };
    int32_t two[2] = { 5, 6 }, oob[2] = { 5, V };
    CHECK(model_forward_batch(m, same, two, 2, logits, &err) != 0 && strstr(err.msg, "same state"), "repeated state: %s", err.msg);
    CHECK(model_forward_batch(m, full, two, 2, logits, &err) != 0 && strstr(err.msg, "sequence 1") && strstr(err.msg, "full"),
          "full context: %s", err.msg);
    infer_truncate(b, 3);
    CHECK(model_forward_batch(m, full, oob, 2, logits, &err) != 0 && strstr(err.msg, "out of range"), "bad id: %s", err.msg);
    CHECK(model_forward_batch(m, full, two, 0, logits, &err) != 0, "an empty batch");
    CHECK(infer_n_past(a) == 2 && infer_n_past(b) == 3, "a failed call moved a cache: %d %d", infer_n_past(a), infer_n_past(b));
    CHECK(model_forward_batch(m, full, two, 2, logits, &err) == 0 && infer_n_past(a) == 3 && infer_n_past(b) == 4,
          "a good call after the bad ones: %s", err.msg);
    infer_free(a);
    infer_free(b);
    free(logits);
}

/* ---- the batcher --------------------------------------------------------- */

typedef struct gen_job {
    const model *m;
    batcher *b;                 /* NULL: alone */
    const lora_adapter *ad;
    int n_prompt, n_predict, draft, seed;
    gen_result res;
    int rc;
    char err[256];
} gen_job;

static void *gen_thread(void *arg) {
    gen_job *j = arg;
    sa_err err = {{0}};
    int V = j->m->cfg.n_vocab;
    int32_t *ids = malloc((size_t)j->n_prompt * sizeof *ids);
    /* repetitive prompts, so that drafts are found and verified */
    for (int i = 0; i < j->n_prompt; i++) ids[i] = (int32_t)(((i % 11) * 97 + j->seed * 31 + 5) % (V - 1));
    infer_state *s = infer_new(j->m, 512, &err);
    j->rc = -1;
    if (s) {
        infer_set_lora(s, j->ad, 0.8f);
        gen_opts o = { .n_predict = j->n_predict, .draft = j->draft, .batch = j->b };
        j->rc = generate(j->m, s, ids, j->n_prompt, &o, &j->res, &err);
        infer_free(s);
    }
    snprintf(j->err, sizeof j->err, "%.200s", err.msg);
    free(ids);
    return NULL;
}

/* Chunked prompts: a prompt fed in BATCHER_CHUNK pieces leaves the same
** cache and last logits as one call (the batcher relies on it). */
static void test_chunked_prompt(const model *m, const char *what) {
    sa_err err;
    int V = m->cfg.n_vocab, P = 3 * BATCHER_CHUNK + 7;
    int32_t *ids = malloc((size_t)(P + 1) * sizeof *ids);
    float *a = malloc((size_t)V * sizeof *a), *b = malloc((size_t)V * sizeof *b);
    for (int i = 0; i <= P; i++) ids[i] = (int32_t)((i * 131 + 7) % (V - 1));
    infer_state *one = infer_new(m, 512, &err), *chunked = infer_new(m, 512, &err);
    model_forward(m, one, ids, P, LOGITS_LAST, a, &err);
    for (int done = 0; done < P; done += BATCHER_CHUNK) {
        int n = P - done < BATCHER_CHUNK ? P - done : BATCHER_CHUNK;
        model_forward(m, chunked, ids + done, n, done + n == P ? LOGITS_LAST : LOGITS_NONE, b, &err);
    }
    CHECK(memcmp(a, b, (size_t)V * sizeof *a) == 0, "%s: a chunked prompt's last logits differ", what);
    model_forward(m, one, ids + P, 1, LOGITS_LAST, a, &err);
    model_forward(m, chunked, ids + P, 1, LOGITS_LAST, b, &err);
    CHECK(memcmp(a, b, (size_t)V * sizeof *a) == 0, "%s: a chunked prompt's cache differs", what);
    infer_free(one);
    infer_free(chunked);
    free(ids);
    free(a);
    free(b);
}

/* Prompt chunks of several sequences in one pass (model_forward_prompts):
** every sequence's last logits and cache as model_forward alone leaves them,
** adapters and sequences already holding a prefix included; bad arguments
** refused without touching a cache. */
static void test_prompts_together(const model *m, const lora_adapter *a1, const lora_adapter *a2, const char *what) {
    enum { N = 4 };
    sa_err err;
    int V = m->cfg.n_vocab;
    /* where the model's rows are exact, one-token steps (decode rows) go with the prompts */
    int exact = model_rows_exact(m);
    const int pre[N] = { 0, 13, 0, 40 }, want[N] = { LOGITS_LAST, LOGITS_LAST, LOGITS_NONE, LOGITS_LAST };
    const int len[N] = { 64, exact ? 1 : 4, 37, exact ? 2 : 9 };
    const lora_adapter *ads[N] = { NULL, a1, a1, a2 };   /* 1 and 2 adjacent under one adapter: one lora_apply over both */
    infer_state *alone[N], *together[N];
    int32_t *ids[N];
    float *la[N], *lt[N];
    for (int i = 0; i < N; i++) {
        ids[i] = malloc((size_t)(pre[i] + len[i] + 1) * sizeof *ids[i]);
        for (int t = 0; t <= pre[i] + len[i]; t++) ids[i][t] = (int32_t)((t * 37 + i * 101 + 3) % (V - 1));
        alone[i] = infer_new(m, 256, &err);
        together[i] = infer_new(m, 256, &err);
        infer_set_lora(alone[i], ads[i], 0.9f);
        infer_set_lora(together[i], ads[i], 0.9f);
        la[i] = calloc((size_t)V, sizeof *la[i]);
        lt[i] = calloc((size_t)V, sizeof *lt[i]);
        if (pre[i]) {
            model_forward(m, alone[i], ids[i], pre[i], LOGITS_NONE, la[i], &err);
            model_forward(m, together[i], ids[i], pre[i], LOGITS_NONE, lt[i], &err);
        }
        CHECK(model_forward(m, alone[i], ids[i] + pre[i], len[i], want[i], la[i], &err) == 0, "%s: alone: %s", what, err.msg);
    }
    const int32_t *toks[N];
    for (int i = 0; i < N; i++) toks[i] = ids[i] + pre[i];
    CHECK(model_forward_prompts(m, together, toks, len, want, N, lt, &err) == 0, "%s: prompts together: %s", what, err.msg);
    for (int i = 0; i < N; i++) {
        CHECK(infer_n_past(together[i]) == pre[i] + len[i], "%s: sequence %d holds %d", what, i, infer_n_past(together[i]));
        if (want[i] == LOGITS_LAST)
            CHECK(memcmp(la[i], lt[i], (size_t)V * sizeof *la[i]) == 0, "%s: sequence %d's last logits differ from alone", what, i);
        /* the caches: the next token's logits */
        model_forward(m, alone[i], ids[i] + pre[i] + len[i], 1, LOGITS_LAST, la[i], &err);
        model_forward(m, together[i], ids[i] + pre[i] + len[i], 1, LOGITS_LAST, lt[i], &err);
        CHECK(memcmp(la[i], lt[i], (size_t)V * sizeof *la[i]) == 0, "%s: sequence %d's cache differs from alone", what, i);
    }
    /* refused: too short a chunk, a repeated state, logits of every token */
    int short_len[2] = { 8, MODEL_GEMM_MIN_ROWS - 1 }, two_want[2] = { LOGITS_LAST, LOGITS_LAST }, all_want[2] = { LOGITS_ALL, LOGITS_NONE };
    infer_state *same[2] = { together[0], together[0] };
    int before = infer_n_past(together[0]);
    if (!exact)
        CHECK(model_forward_prompts(m, together, toks, short_len, two_want, 2, lt, &err) != 0 && strstr(err.msg, "at least"),
              "%s: a chunk shorter than the GEMM's: %s", what, err.msg);
    else {
        int none[2] = { 8, 0 };
        CHECK(model_forward_prompts(m, together, toks, none, two_want, 2, lt, &err) != 0 && strstr(err.msg, "at least"),
              "%s: a chunk of no tokens: %s", what, err.msg);
    }
    CHECK(model_forward_prompts(m, same, toks, len, two_want, 2, lt, &err) != 0 && strstr(err.msg, "same state"),
          "%s: a repeated state: %s", what, err.msg);
    CHECK(model_forward_prompts(m, together, toks, len, all_want, 2, lt, &err) != 0, "%s: logits of every token accepted", what);
    CHECK(infer_n_past(together[0]) == before, "%s: a refused call moved a cache", what);
    for (int i = 0; i < N; i++) {
        infer_free(alone[i]);
        infer_free(together[i]);
        free(ids[i]);
        free(la[i]);
        free(lt[i]);
    }
}

static void test_batcher(const model *m, const lora_adapter *a1, const lora_adapter *a2, const char *what) {
    enum { NJ = 6 };
    gen_job alone[NJ], together[NJ];
    const int prompts[NJ] = { 150, 20, 90, 3, 450, 47 }, predicts[NJ] = { 30, 40, 12, 25, 18, 33 };
    const int drafts[NJ] = { 0, 0, 4, 0, 0, 3 };
    const lora_adapter *ads[NJ] = { NULL, a1, NULL, a2, a1, NULL };
    long joined = 0, fused = 0;
    for (int k = 0; k < 2; k++) {
        long linger = k == 0 ? 50000 : 0;
        sa_err err;
        batcher *b = batcher_new(m, (int)linger, &err);
        if (!b) { printf("FAIL %s\n", err.msg); exit(1); }
        pthread_t th[NJ];
        for (int i = 0; i < NJ; i++) {
            alone[i] = (gen_job){ m, NULL, ads[i], prompts[i], predicts[i], drafts[i], i, {0}, 0, "" };
            together[i] = alone[i];
            together[i].b = b;
            gen_thread(&alone[i]);
        }
        for (int i = 0; i < NJ; i++) pthread_create(&th[i], NULL, gen_thread, &together[i]);
        for (int i = 0; i < NJ; i++) pthread_join(th[i], NULL);
        batcher_stats st = batcher_get_stats(b);
        batcher_free(b);
        int differ = 0;
        for (int i = 0; i < NJ; i++) {
            CHECK(alone[i].rc == 0 && together[i].rc == 0, "%s: generate failed: %s / %s", what, alone[i].err, together[i].err);
            differ += alone[i].res.n_ids != together[i].res.n_ids || alone[i].res.stop != together[i].res.stop ||
                      memcmp(alone[i].res.ids, together[i].res.ids, (size_t)alone[i].res.n_ids * sizeof(int32_t)) != 0 ||
                      strcmp(alone[i].res.text, together[i].res.text) != 0;
            CHECK(together[i].res.n_drafted == alone[i].res.n_drafted, "%s: job %d drafted %d, alone %d", what, i,
                  together[i].res.n_drafted, alone[i].res.n_drafted);
            gen_result_free(&alone[i].res);
            gen_result_free(&together[i].res);
        }
        CHECK(differ == 0, "%s (linger %ld us): %d of %d threads got another answer than alone", what, linger, differ, NJ);
        if (k == 0) CHECK(st.max_rows > 1, "%s: no decode pass served more than one sequence", what);
        if (!model_rows_exact(m)) CHECK(st.fused == 0, "%s: %ld fused passes where the rows are not exact", what, st.fused);
        fused += st.fused;
        CHECK(st.chunks >= 5, "%s: prompts were not chunked (%ld chunks)", what, st.chunks);
        joined += st.joined;
        printf("%s, batcher linger %ld us: %d threads as alone; %ld decode passes, %.2f rows per pass (max %d), %ld prompt chunks"
               " (%ld of them sharing a pass), %ld passes of both\n",
               what, linger, NJ, st.steps, st.steps ? (double)st.rows / st.steps : 0.0, st.max_rows, st.chunks, st.joined, st.fused);
    }
    CHECK(joined > 0, "%s: no prompt chunks shared a pass", what);
    /* the 450-token prompt's later chunks run while the others decode */
    if (model_rows_exact(m)) CHECK(fused > 0, "%s: no decode rows rode in a prompt pass", what);
}

int main(void) {
    const char *out = getenv("OUT") ? getenv("OUT") : "tests/out";
    char path[512], ad1[512], ad2[512];
    sa_err err;
    setvbuf(stdout, NULL, _IOLBF, 0);
    snprintf(path, sizeof path, "%s/models/m64/m64-f32.gguf", out);
    snprintf(ad1, sizeof ad1, "%s/adapters/m64/all-r8.gguf", out);
    snprintf(ad2, sizeof ad2, "%s/adapters/m64/mlp-r32-f16.gguf", out);
    /* f32; q8_0 converted at load (row-major); the q8_0 GGUF, read as 16-row panels where the CPU has them;
    ** the same with the pool held through each pass (tp_hold, as for large models) */
    static const char *const dtypes[] = { NULL, "q8_0", NULL, NULL };
    char qpath[512];
    snprintf(qpath, sizeof qpath, "%s/models/m64/m64-q8_0.gguf", out);
    for (int d = 0; d < 4; d++) {
        model_opts mo = { .dtype = dtypes[d] };
        if (d == 3) setenv("SQLASSIST_HOLD", "1", 1);
        model *m = model_load(d >= 2 ? qpath : path, &mo, &err);
        unsetenv("SQLASSIST_HOLD");
        if (!m) { check_skip("%s (run tests/fixtures.sh)", err.msg); return check_done(); }
        CHECK_EQ(m->hold_pool, d == 3, "pool held through passes");
        if (d == 2) {
            const wmat *w = &m->layers[0].w_gate;
            CHECK(!kern_x16_ok(w->type, w->rows, w->cols) == !w->x16, "m64 q8_0 file: panels %s where kern_x16_ok is %d",
                  w->x16 ? "used" : "not used", kern_x16_ok(w->type, w->rows, w->cols));
        }
        lora_adapter *a1 = lora_load(m, NULL, ad1, &err);
        lora_adapter *a2 = a1 ? lora_load(m, NULL, ad2, &err) : NULL;
        if (!a2) { check_skip("adapter: %s (run tests/fixtures.sh)", err.msg); return check_done(); }
        const char *dt = d == 3 ? "q8_0 file, pool held" : d == 2 ? (m->layers[0].wq.x16 ? "q8_0 file, panels" : "q8_0 file")
                       : dtypes[d] ? dtypes[d] : "f32";
        char what[96];
        /* all start together, different lengths and budgets, no adapters */
        seq_spec plain[5] = { { 5, 12, 0, NULL, 0 }, { 33, 20, 0, NULL, 0 }, { 17, 3, 0, NULL, 0 },
                              { 64, 9, 0, NULL, 0 }, { 1, 16, 0, NULL, 0 } };
        snprintf(what, sizeof what, "m64 %s, no adapters", dt);
        run_case(m, plain, 5, what);
        /* joining mid-flight, one adapter at two scales, another adapter, none */
        seq_spec mixed[7] = { { 12, 20, 0, a1, 0.7f }, { 40, 10, 2, NULL, 0 }, { 7, 14, 2, a2, 1.0f },
                              { 25, 18, 5, a1, 1.0f }, { 3, 6, 6, a1, 0.7f }, { 50, 12, 9, a2, 0.5f },
                              { 9, 15, 9, NULL, 0 } };
        snprintf(what, sizeof what, "m64 %s, 3 adapters, joining mid-flight", dt);
        run_case(m, mixed, 7, what);
        if (d == 0) test_errors(m);
        snprintf(what, sizeof what, "m64 %s", dt);
        test_chunked_prompt(m, what);
        test_prompts_together(m, a1, a2, what);
        test_batcher(m, a1, a2, what);
        lora_release(a2);
        lora_release(a1);
        model_free(m);
    }
    /* the bundled model as q8_0: the 4-row VNNI kernels on real widths */
    model_opts mo = { .dtype = "q8_0" };
    model *m = model_load("models/sqlassist-sql.gguf", &mo, &err);
    if (!m) { CHECK_FAIL("%s", err.msg); return check_done(); }
    seq_spec four[4] = { { 60, 16, 0, NULL, 0 }, { 31, 16, 0, NULL, 0 }, { 45, 8, 1, NULL, 0 }, { 2, 16, 3, NULL, 0 } };
    run_case(m, four, 4, "bundled q8_0");
    test_chunked_prompt(m, "bundled q8_0");
    model_free(m);
    return check_done();
}

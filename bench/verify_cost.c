/*
** verify_cost.c — what verifying k drafted tokens costs against one decode
** step, on one model: with a cache of DEPTH tokens, the time of
**   - a one-token decode step (model_forward, LOGITS_LAST), the baseline;
**   - model_forward_exact over k+1 tokens (the step's token and k drafts,
**     logits of every row), for each k given: the pass speculative decoding
**     makes;
**   - model_forward over the same k+1 tokens with LOGITS_ALL (the batched
**     prompt path, GEMM where the CPU has one): for comparison only, since its
**     numbers are not bit-identical to one-token steps.
** Each figure is the median of REPS timed runs after one warm-up; the cache
** is cut back to DEPTH before each. Prints one JSON object. --clock cpu
** times the process's CPU time instead of wall time: with --threads 1 a
** figure that other processes on a busy machine barely disturb.
**
**   verify_cost MODEL [--threads N] [--dtype T] [--depth N] [--reps N] [--k 1,2,4,8] [--clock wall|cpu]
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/generate.h"
#include "engine/kernels.h"
#include "engine/model.h"
#include "util/clock.h"

static int use_cpu;

static double now(void) {
    if (!use_cpu) return clock_now_s();
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* median seconds of `reps` runs of T tokens at depth: mode 0 one-token
** steps (T must be 1), 1 exact pass, 2 batched pass */
static double timed(const model *m, infer_state *s, const int32_t *toks, int depth, int T, int mode, int reps, float *logits) {
    sa_err err;
    double *t = malloc((size_t)(reps + 1) * sizeof *t);
    for (int r = 0; r <= reps; r++) {
        infer_truncate(s, depth);
        double t0 = now();
        int rc = mode == 0 ? model_forward(m, s, toks + depth, 1, LOGITS_LAST, logits, &err)
               : mode == 1 ? model_forward_exact(m, s, toks + depth, T, logits, &err)
                           : model_forward(m, s, toks + depth, T, LOGITS_ALL, logits, &err);
        if (rc) { fprintf(stderr, "verify_cost: %s\n", err.msg); exit(1); }
        t[r] = now() - t0;
    }
    qsort(t + 1, (size_t)reps, sizeof *t, cmp_d);   /* t[0]: the warm-up */
    double med = t[1 + reps / 2];
    free(t);
    return med;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: verify_cost MODEL [--threads N] [--dtype T] [--depth N] [--reps N] [--k 1,2,4,8]\n"); return 2; }
    const char *path = argv[1], *dtype = NULL, *ks = "1,2,4,8";
    int threads = 0, depth = 200, reps = 15;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dtype")) dtype = argv[i + 1];
        else if (!strcmp(argv[i], "--depth")) depth = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--k")) ks = argv[i + 1];
        else if (!strcmp(argv[i], "--clock")) use_cpu = !strcmp(argv[i + 1], "cpu");
        else { fprintf(stderr, "verify_cost: unknown flag %s\n", argv[i]); return 2; }
    }
    if (reps < 1) reps = 1;
    int kv[16], nk = 0;
    for (const char *p = ks; *p && nk < 16;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > GEN_DRAFT_MAX) { fprintf(stderr, "verify_cost: --k: numbers from 1 to %d\n", GEN_DRAFT_MAX); return 2; }
        kv[nk++] = (int)v;
        p = *end == ',' ? end + 1 : end;
    }
    sa_err err;
    model_opts mo = { .dtype = dtype, .n_threads = threads };
    model *m = model_load(path, &mo, &err);
    if (!m) { fprintf(stderr, "verify_cost: %s\n", err.msg); return 1; }
    int V = m->cfg.n_vocab, kmax = 1;
    for (int i = 0; i < nk; i++) if (kv[i] > kmax) kmax = kv[i];
    infer_state *s = infer_new(m, depth + kmax + 8, &err);
    float *logits = malloc((size_t)(kmax + 1) * (size_t)V * sizeof *logits);
    int32_t *toks = malloc((size_t)(depth + kmax + 1) * sizeof *toks);
    if (!s || !logits || !toks) { fprintf(stderr, "verify_cost: out of memory\n"); return 1; }
    for (int i = 0; i < depth + kmax + 1; i++) toks[i] = (int32_t)((i * 7919 + 11) % (V > 1000 ? V - 500 : V));
    if (depth > 0 && model_forward(m, s, toks, depth, LOGITS_NONE, NULL, &err)) { fprintf(stderr, "verify_cost: %s\n", err.msg); return 1; }
    double step = timed(m, s, toks, depth, 1, 0, reps, logits);
    printf("{\"model\": \"%s\", \"isa\": \"%s\", \"threads\": %d, \"clock\": \"%s\", \"depth\": %d, \"reps\": %d, \"decode_step_ms\": %.4f, \"k\": [",
           path, kernels_isa(), tp_size(m->tp), use_cpu ? "cpu" : "wall", depth, reps, step * 1e3);
    for (int i = 0; i < nk; i++) {
        double ex = timed(m, s, toks, depth, kv[i] + 1, 1, reps, logits);
        double bt = timed(m, s, toks, depth, kv[i] + 1, 2, reps, logits);
        printf("%s{\"k\": %d, \"verify_ms\": %.4f, \"verify_over_step\": %.3f, \"batched_ms\": %.4f, \"batched_over_step\": %.3f}",
               i ? ", " : "", kv[i], ex * 1e3, ex / step, bt * 1e3, bt / step);
        fflush(stdout);
    }
    printf("]}\n");
    free(toks);
    free(logits);
    infer_free(s);
    model_free(m);
    return 0;
}

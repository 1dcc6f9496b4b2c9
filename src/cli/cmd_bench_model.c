/*
** cmd_bench_model.c — `sqlassist bench-model`: prompt-processing (ppN) and
** generation (tgN) speed of the engine, measured like llama-bench: ppN runs
** N prompt tokens as one batch into an empty cache; tgN decodes N tokens one
** at a time. Each test runs once to warm up, then --reps times.
** --batch B1,B2,.. adds batched tests like llama-batched-bench: B sequences
** each prefill the first -p prompt (one after another, as a server admits
** them), then decode the first -n tokens together, one model_forward_batch
** step per token for all B.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/generate.h"
#include "engine/kernels.h"
#include "cli_args.h"
#include "commands.h"
#include "util/clock.h"

#define MAX_TESTS 16

static int parse_list_min(const char *s, int *out, int max, long lo) {
    int n = 0;
    while (*s && n < max) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < lo || v > 1 << 16) return -1;
        out[n++] = (int)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return n;
}

/* Seconds for one run: pp (n tokens in one batch) or tg (n single-token steps). */
static double run_once(const model *m, infer_state *st, const int32_t *toks, int n, int is_pp, int depth,
                       float *logits, sa_err *err) {
    infer_truncate(st, 0);
    /* tg at a depth: the cache first holds `depth` tokens (not timed), so the
    ** attention cost of a long context shows */
    if (depth > 0 && model_forward(m, st, toks, depth, LOGITS_LAST, logits, err)) return -1;
    double t0 = clock_now_s();
    if (is_pp) {
        if (model_forward(m, st, toks, n, LOGITS_LAST, logits, err)) return -1;
    } else {
        for (int i = 0; i < n; i++)
            if (model_forward(m, st, &toks[depth + i], 1, LOGITS_LAST, logits, err)) return -1;
    }
    return clock_now_s() - t0;
}

static int parse_list(const char *s, int *out, int max) { return parse_list_min(s, out, max, 1); }

/* One batched run: B prompts of np tokens prefilled, then ng steps of B
** rows. Sets the seconds of each phase; returns 0 or -1 with err set. */
static int run_batched(const model *m, infer_state **sts, int B, const int32_t *toks, int np, int ng, float *logits,
                       double *pp_s, double *tg_s, sa_err *err) {
    int32_t *step = malloc((size_t)B * sizeof *step);
    if (!step) return sa_fail(err, "out of memory");
    double t0 = clock_now_s();
    for (int b = 0; b < B; b++) {
        infer_truncate(sts[b], 0);
        /* each sequence its own prompt: toks shifted by b % 8 */
        if (model_forward(m, sts[b], toks + b % 8, np, LOGITS_LAST, logits, err)) { free(step); return -1; }
    }
    double t1 = clock_now_s();
    for (int g = 0; g < ng; g++) {
        for (int b = 0; b < B; b++) step[b] = toks[np + 8 + (g * 7 + b) % 64];
        if (model_forward_batch(m, sts, step, B, logits, err)) { free(step); return -1; }
    }
    *pp_s = t1 - t0;
    *tg_s = clock_now_s() - t1;
    free(step);
    return 0;
}

/* The --batch tests: for each B, a warm-up and `reps` runs; prints the
** prompt and decode speeds (tokens of all sequences per second) and the
** KV cache the batch holds. Returns the exit status. */
static int bench_batched(const model *m, const int *bs, int n_b, const int32_t *toks, int np, int ng, int reps, int json,
                         sa_err *err) {
    const qwen2_config *c = &m->cfg;
    int maxb = 0;
    for (int i = 0; i < n_b; i++) if (bs[i] > maxb) maxb = bs[i];
    infer_state **sts = calloc((size_t)maxb, sizeof *sts);
    float *logits = malloc((size_t)maxb * c->n_vocab * sizeof *logits);
    int rc = 0;
    if (!sts || !logits) { fprintf(stderr, "sqlassist: out of memory\n"); rc = 1; goto out; }
    for (int b = 0; b < maxb; b++)
        if (!(sts[b] = infer_new(m, np + ng + 2, err))) { fprintf(stderr, "sqlassist: %s\n", err->msg); rc = 1; goto out; }
    if (!json) {
        printf("| %4s | %6s | %4s | %10s | %10s | %9s |\n", "seqs", "prompt", "gen", "pp tok/s", "tg tok/s", "KV MiB");
        printf("|------|--------|------|------------|------------|-----------|\n");
    }
    for (int i = 0; i < n_b; i++) {
        int B = bs[i];
        double pp_s, tg_s, pp_sum = 0, tg_sum = 0;
        if (run_batched(m, sts, B, toks, np < 16 ? np : 16, 4, logits, &pp_s, &tg_s, err)) goto fail;   /* warm-up */
        for (int r = 0; r < reps; r++) {
            if (run_batched(m, sts, B, toks, np, ng, logits, &pp_s, &tg_s, err)) goto fail;
            pp_sum += (double)B * np / pp_s;
            tg_sum += (double)B * ng / tg_s;
        }
        double kv_mib = (double)B * (np + ng) * c->n_layer * c->n_head_kv * c->head_dim * 2 * sizeof(float) / 1048576.0;
        if (json)
            printf("{\"test\": \"batch\", \"sequences\": %d, \"prompt\": %d, \"gen\": %d, \"threads\": %d, "
                   "\"prompt_tokens_per_s\": %.3f, \"decode_tokens_per_s\": %.3f, \"kv_cache_mib\": %.2f}\n",
                   B, np, ng, tp_size(m->tp), pp_sum / reps, tg_sum / reps, kv_mib);
        else
            printf("| %4d | %6d | %4d | %10.2f | %10.2f | %9.2f |\n", B, np, ng, pp_sum / reps, tg_sum / reps, kv_mib);
        fflush(stdout);
    }
    goto out;
fail:
    fprintf(stderr, "sqlassist: %s\n", err->msg);
    rc = 1;
out:
    if (sts)
        for (int b = 0; b < maxb; b++) infer_free(sts[b]);
    free(sts);
    free(logits);
    return rc;
}

int cmd_bench_model(int argc, char **argv) {
    const char *model_path = NULL, *dtype = NULL, *threads = NULL, *pp = "128,512", *tg = "64", *reps_s = "3", *dp = "0",
               *batch = NULL;
    int json = 0;
    cli_opt opts[] = {
        {"--model", "-m", 1, &model_path, NULL, "GGUF file or Hugging Face model directory (required)"},
        {"--dtype", NULL, 1, &dtype, NULL, "convert weights at load (f32, bf16, f16, q8_0, q4_0, q4_K, ...)"},
        {"--threads", "-t", 1, &threads, NULL, "threads (default: all cores)"},
        {"--prompt", "-p", 1, &pp, NULL, "prompt sizes, comma-separated (default 128,512)"},
        {"--gen", "-n", 1, &tg, NULL, "generation lengths, comma-separated (default 64)"},
        {"--depth", "-d", 1, &dp, NULL, "context already cached before each tg test, comma-separated (default 0)"},
        {"--reps", "-r", 1, &reps_s, NULL, "repetitions per test (default 3)"},
        {"--batch", "-b", 1, &batch, NULL, "parallel sequences, comma-separated: batched tests (first -p prompt, first -n tokens) instead of pp/tg"},
        {"--json", NULL, 0, NULL, &json, "one JSON object per test"},
        {NULL},
    };
    const char *pos[1];
    int n_pos;
    const char *usage = "sqlassist bench-model --model PATH [--dtype T] [--threads N] [-p 128,512] [-n 64] [-d 0,512] [-b 1,2,4,8] [--reps R] [--json]";
    int r = cli_parse(argc, argv, opts, usage, "Measures prompt processing and generation speed, like llama-bench.", pos, 0, &n_pos);
    if (r == CLI_HELP) return 0;
    if (r == CLI_ERROR) return 2;
    if (!model_path) { fprintf(stderr, "sqlassist: --model is required\nusage: %s\n", usage); return 2; }
    int pps[MAX_TESTS], tgs[MAX_TESTS], dps[MAX_TESTS], n_pp = pp[0] && strcmp(pp, "0") ? parse_list(pp, pps, MAX_TESTS) : 0,
        n_tg = tg[0] && strcmp(tg, "0") ? parse_list(tg, tgs, MAX_TESTS) : 0, n_dp = 1;
    dps[0] = 0;
    if (strcmp(dp, "0")) n_dp = parse_list_min(dp, dps, MAX_TESTS, 0);
    long reps, nth = 0;
    if (n_pp < 0 || n_tg < 0 || n_dp <= 0) { fprintf(stderr, "sqlassist: -p/-n: expected comma-separated positive integers\n"); return 2; }
    if (cli_int("--reps", reps_s, 1, 1000, &reps) || cli_int("--threads", threads, 1, 1024, &nth)) return 2;
    int bs[MAX_TESTS], n_b = batch ? parse_list(batch, bs, MAX_TESTS) : 0;
    if (n_b < 0 || (batch && n_b == 0)) { fprintf(stderr, "sqlassist: --batch: expected comma-separated positive integers\n"); return 2; }
    for (int i = 0; i < n_b; i++)
        if (bs[i] > 256) { fprintf(stderr, "sqlassist: --batch: %d sequences (at most 256)\n", bs[i]); return 2; }
    if (batch && (!n_pp || !n_tg)) { fprintf(stderr, "sqlassist: --batch needs a prompt size (-p) and a generation length (-n)\n"); return 2; }
    model_opts mo = { .dtype = dtype, .n_threads = (int)nth };
    sa_err err = {{0}};
    model *m = model_load(model_path, &mo, &err);
    if (!m) { fprintf(stderr, "sqlassist: %s\n", err.msg); return 1; }
    int max_n = 16;
    for (int i = 0; i < n_pp; i++) if (pps[i] > max_n) max_n = pps[i];
    int max_dp = 0;
    for (int i = 0; i < n_dp; i++) if (dps[i] > max_dp) max_dp = dps[i];
    for (int i = 0; i < n_tg; i++) if (tgs[i] + max_dp > max_n) max_n = tgs[i] + max_dp;
    if (n_b && pps[0] + 72 > max_n) max_n = pps[0] + 72;   /* run_batched's shifted prompts and step tokens */
    infer_state *st = infer_new(m, max_n + 1, &err);
    int32_t *toks = malloc((size_t)max_n * sizeof *toks);
    float *logits = malloc((size_t)m->cfg.n_vocab * sizeof *logits);
    int rc = 0;
    if (!st || !toks || !logits) { fprintf(stderr, "sqlassist: %s\n", st ? "out of memory" : err.msg); rc = 1; goto out; }
    uint64_t rng = 12345;
    for (int i = 0; i < max_n; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        toks[i] = (int32_t)((rng >> 33) % (uint64_t)(m->cfg.n_vocab < 151643 ? m->cfg.n_vocab : 151643));
    }
    if (!json) {
        printf("model: %s (%s, %.1f MiB of weights), kernels: %s, threads: %d\n", model_path, m->source,
               model_weight_bytes(m) / 1048576.0, kernels_isa(), tp_size(m->tp));
        if (kern_has_gemm()) printf("q8_0/q4_0 prompt GEMM: %s (SQLASSIST_GEMM=f32|vnni|amx to force)\n", kern_gemm_name());
    }
    if (!json && !n_b) {
        printf("| %-8s | %7s | %12s | %8s |\n", "test", "threads", "tokens/s", "stddev");
        printf("|----------|---------|--------------|----------|\n");
    }
    if (n_b) { rc = bench_batched(m, bs, n_b, toks, pps[0], tgs[0], (int)reps, json, &err); goto out; }
    for (int kind = 0; kind < 2; kind++) {
        int cnt = kind == 0 ? n_pp : n_tg * n_dp;
        for (int ti = 0; ti < cnt; ti++) {
            int n = kind == 0 ? pps[ti] : tgs[ti / n_dp], depth = kind == 0 ? 0 : dps[ti % n_dp];
            double sum = 0, sum2 = 0;
            if (run_once(m, st, toks, n < 16 ? n : 16, kind == 0, 0, logits, &err) < 0) goto fail;   /* warm-up */
            for (int rep = 0; rep < reps; rep++) {
                double s = run_once(m, st, toks, n, kind == 0, depth, logits, &err);
                if (s < 0) goto fail;
                double tps = n / s;
                sum += tps;
                sum2 += tps * tps;
            }
            double mean = sum / reps, sd = reps > 1 ? sqrt(fmax(0, (sum2 - reps * mean * mean) / (reps - 1))) : 0;
            char name[32];
            if (depth) snprintf(name, sizeof name, "tg%d@d%d", n, depth);
            else snprintf(name, sizeof name, "%s%d", kind == 0 ? "pp" : "tg", n);
            if (json)
                printf("{\"test\": \"%s\", \"threads\": %d, \"tokens_per_s\": %.3f, \"stddev\": %.3f}\n", name, tp_size(m->tp), mean, sd);
            else
                printf("| %-8s | %7d | %12.2f | %8.2f |\n", name, tp_size(m->tp), mean, sd);
            fflush(stdout);
        }
    }
    goto out;
fail:
    fprintf(stderr, "sqlassist: %s\n", err.msg);
    rc = 1;
out:
    free(toks);
    free(logits);
    infer_free(st);
    model_free(m);
    return rc;
}

/*
** cmd_bench_model.c — `sqlassist bench-model`: prompt-processing (ppN) and
** generation (tgN) speed of the engine, measured like llama-bench: ppN runs
** N prompt tokens as one batch into an empty cache; tgN decodes N tokens one
** at a time. Each test runs once to warm up, then --reps times.
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

int cmd_bench_model(int argc, char **argv) {
    const char *model_path = NULL, *dtype = NULL, *threads = NULL, *pp = "128,512", *tg = "64", *reps_s = "3", *dp = "0";
    int json = 0;
    cli_opt opts[] = {
        {"--model", "-m", 1, &model_path, NULL, "GGUF file or Hugging Face model directory (required)"},
        {"--dtype", NULL, 1, &dtype, NULL, "convert weights at load (f32, bf16, f16, q8_0, q4_0, q4_K, ...)"},
        {"--threads", "-t", 1, &threads, NULL, "threads (default: all cores)"},
        {"--prompt", "-p", 1, &pp, NULL, "prompt sizes, comma-separated (default 128,512)"},
        {"--gen", "-n", 1, &tg, NULL, "generation lengths, comma-separated (default 64)"},
        {"--depth", "-d", 1, &dp, NULL, "context already cached before each tg test, comma-separated (default 0)"},
        {"--reps", "-r", 1, &reps_s, NULL, "repetitions per test (default 3)"},
        {"--json", NULL, 0, NULL, &json, "one JSON object per test"},
        {NULL},
    };
    const char *pos[1];
    int n_pos;
    const char *usage = "sqlassist bench-model --model PATH [--dtype T] [--threads N] [-p 128,512] [-n 64] [-d 0,512] [--reps R] [--json]";
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
    model_opts mo = { .dtype = dtype, .n_threads = (int)nth };
    sa_err err = {{0}};
    model *m = model_load(model_path, &mo, &err);
    if (!m) { fprintf(stderr, "sqlassist: %s\n", err.msg); return 1; }
    int max_n = 16;
    for (int i = 0; i < n_pp; i++) if (pps[i] > max_n) max_n = pps[i];
    int max_dp = 0;
    for (int i = 0; i < n_dp; i++) if (dps[i] > max_dp) max_dp = dps[i];
    for (int i = 0; i < n_tg; i++) if (tgs[i] + max_dp > max_n) max_n = tgs[i] + max_dp;
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
        printf("| %-8s | %7s | %12s | %8s |\n", "test", "threads", "tokens/s", "stddev");
        printf("|----------|---------|--------------|----------|\n");
    }
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

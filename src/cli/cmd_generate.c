/*
** cmd_generate.c — `sqlassist generate` (text continuation or one chat
** turn) and `sqlassist logits` (raw logits of a token sequence, the hook the
** PyTorch oracle tests use).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/generate.h"
#include "../engine/kernels.h"
#include "cli_args.h"
#include "commands.h"
#include "lora_cli.h"

#define MAX_STOP 16

/* Parses "ID ID ..." (spaces or commas) into a malloc'd array. */
static int parse_ids(const char *s, int32_t **out, int *n) {
    size_t cap = strlen(s) / 2 + 2;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return -1;
    int k = 0;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 0x7fffffff) {
            fprintf(stderr, "sqlassist: --tokens: '%.20s' is not a token id\n", p);
            free(ids);
            return -1;
        }
        ids[k++] = (int32_t)v;
        p = end;
    }
    *out = ids;
    *n = k;
    return 0;
}

static int print_text(void *ud, const char *text, int len) {
    (void)ud;
    fwrite(text, 1, (size_t)len, stdout);
    fflush(stdout);
    return 0;
}

static model *load_model_or_die(const char *path, const char *dtype, const char *threads, int *rc) {
    long t = 0;
    if (cli_int("--threads", threads, 1, 1024, &t)) { *rc = 2; return NULL; }
    model_opts mo = { .dtype = dtype, .n_threads = (int)t };
    sa_err err = {{0}};
    model *m = model_load(path, &mo, &err);
    if (!m) { fprintf(stderr, "sqlassist: %s\n", err.msg); *rc = 1; }
    return m;
}

int cmd_generate(int argc, char **argv) {
    const char *model_path = NULL, *dtype = NULL, *system = NULL, *prompt = NULL, *prompt_tokens = NULL,
               *n_str = "128", *temp = "0", *top_k = "0", *top_p = "1", *min_p = "0", *seed = "0",
               *threads = NULL, *ctx = NULL, *draft = "0";
    const char *stops[MAX_STOP];
    int n_stops = 0, chat = 0, print_ids = 0;
    lora_cli lc = { .verbose = 1 };
    cli_opt opts[] = {
        {"--model", "-m", 1, &model_path, NULL, "GGUF file or Hugging Face model directory (required)"},
        {"--dtype", NULL, 1, &dtype, NULL, "convert weights at load: f32, bf16, f16, q8_0, q4_0"},
        {"--prompt", "-p", 1, &prompt, NULL, "prompt text"},
        {"--prompt-tokens", NULL, 1, &prompt_tokens, NULL, "prompt as token ids \"ID ID ...\" instead of text"},
        {"--chat", NULL, 0, NULL, &chat, "wrap the prompt in Qwen2.5's ChatML template"},
        {"--system", NULL, 1, &system, NULL, "system message for --chat (default: Qwen2.5's)"},
        {"--n-predict", "-n", 1, &n_str, NULL, "maximum tokens to generate (default 128)"},
        {"--temp", NULL, 1, &temp, NULL, "temperature; 0 = greedy (default 0)"},
        {"--top-k", NULL, 1, &top_k, NULL, "top-k filter (0 = off)"},
        {"--top-p", NULL, 1, &top_p, NULL, "top-p filter (1 = off)"},
        {"--min-p", NULL, 1, &min_p, NULL, "min-p filter (0 = off)"},
        {"--seed", NULL, 1, &seed, NULL, "sampling seed (default 0)"},
        {"--stop", NULL, 1, NULL, NULL, "stop string (repeatable)", stops, &n_stops, MAX_STOP},
        {"--draft", NULL, 1, &draft, NULL, "greedy only: tokens drafted per step from the prompt and verified in one pass (speculative decoding, same output; default 0 = off)"},
        {"--print-ids", NULL, 0, NULL, &print_ids, "print generated token ids instead of text"},
        {"--threads", "-t", 1, &threads, NULL, "threads (default: all cores)"},
        {"--ctx", "-c", 1, &ctx, NULL, "context length (default: min(4096, trained))"},
        LORA_CLI_OPTS(&lc),
        {NULL},
    };
    const char *pos[1];
    int n_pos;
    const char *usage = "sqlassist generate --model PATH [--dtype T] [--chat] [--system TEXT] --prompt TEXT [-n N] [--temp X] [--seed S] [--lora NAME=PATH ...] [--adapter NAME]";
    int r = cli_parse(argc, argv, opts, usage, "Generates a continuation of a prompt (or one chat reply) and prints it.", pos, 0, &n_pos);
    if (r == CLI_HELP) return 0;
    if (r == CLI_ERROR) return 2;
    if (!model_path) { fprintf(stderr, "sqlassist: --model is required\nusage: %s\n", usage); return 2; }
    if (!prompt == !prompt_tokens) { fprintf(stderr, "sqlassist: give exactly one of --prompt or --prompt-tokens\nusage: %s\n", usage); return 2; }
    long n_predict, tk, sd = 0, nctx = 0, n_draft = 0;
    double t_temp, t_top_p, t_min_p;
    if (cli_int("-n", n_str, 0, 1 << 20, &n_predict) || cli_float("--temp", temp, 0, 100, &t_temp) ||
        cli_int("--top-k", top_k, 0, 1 << 24, &tk) || cli_float("--top-p", top_p, 0, 1, &t_top_p) ||
        cli_float("--min-p", min_p, 0, 1, &t_min_p) || cli_int("--seed", seed, 0, 0x7fffffffffffffffL, &sd) ||
        cli_int("--ctx", ctx, 16, 1 << 20, &nctx) || cli_int("--draft", draft, 0, GEN_DRAFT_MAX, &n_draft) ||
        lora_cli_check(&lc))
        return 2;
    int rc = 0;
    model *m = load_model_or_die(model_path, dtype, threads, &rc);
    if (!m) return rc;
    sa_err err = {{0}};
    int32_t *ids = NULL;
    int n_ids = 0;
    char *text = NULL;
    infer_state *st = NULL;
    gen_result res = {0};
    if ((rc = lora_cli_setup(&lc, m))) goto out;
    if (prompt_tokens) {
        if (parse_ids(prompt_tokens, &ids, &n_ids)) { rc = 2; goto out; }
    } else {
        text = chat ? chatml_format(system, prompt) : strdup(prompt);
        size_t n;
        if (!text || tok_encode(m->tok, text, strlen(text), &ids, &n, &err)) {
            fprintf(stderr, "sqlassist: --prompt: %s\n", err.msg);
            rc = 1;
            goto out;
        }
        n_ids = (int)n;
    }
    if (n_ids == 0) { fprintf(stderr, "sqlassist: the prompt is empty\n"); rc = 2; goto out; }
    if (!(st = infer_new(m, (int)nctx, &err))) { fprintf(stderr, "sqlassist: %s\n", err.msg); rc = 1; goto out; }
    lora_cli_use(&lc, st);
    gen_opts go = {
        .n_predict = (int)n_predict,
        .sp = { .temperature = (float)t_temp, .top_k = (int)tk, .top_p = (float)t_top_p, .min_p = (float)t_min_p, .seed = (uint64_t)sd },
        .stop_strings = stops, .n_stop = n_stops,
        .on_text = print_ids ? NULL : print_text,
        .draft = (int)n_draft,
    };
    if (generate(m, st, ids, n_ids, &go, &res, &err)) { fprintf(stderr, "sqlassist: %s\n", err.msg); rc = 1; goto out; }
    if (print_ids) {
        for (int i = 0; i < res.n_ids; i++) printf("%s%d", i ? " " : "", res.ids[i]);
    }
    printf("\n");
    fprintf(stderr, "load: %.3f s (%s, %s kernels, %d threads)\n", m->load_seconds, m->source, kernels_isa(), tp_size(m->tp));
    fprintf(stderr, "prompt: %d tokens, %.3f s, %.2f tokens/s\n", res.n_prompt, res.prefill_s,
            res.prefill_s > 0 ? res.n_prompt / res.prefill_s : 0);
    fprintf(stderr, "generation: %d tokens, %.3f s, %.2f tokens/s\n", res.n_ids, res.decode_s,
            res.decode_s > 0 && res.n_ids > 1 ? (res.n_ids - 1) / res.decode_s : 0);
    if (res.n_drafted)
        fprintf(stderr, "speculative: %d drafted, %d accepted (%.1f%%), %d verifying passes\n", res.n_drafted, res.n_accepted,
                100.0 * res.n_accepted / res.n_drafted, res.n_verify);
out:
    gen_result_free(&res);
    infer_free(st);
    lora_cli_free(&lc);
    free(ids);
    free(text);
    model_free(m);
    return rc;
}

int cmd_logits(int argc, char **argv) {
    const char *model_path = NULL, *dtype = NULL, *tokens = NULL, *out_path = NULL, *threads = NULL;
    lora_cli lc = {0};
    cli_opt opts[] = {
        {"--model", "-m", 1, &model_path, NULL, "GGUF file or Hugging Face model directory (required)"},
        {"--dtype", NULL, 1, &dtype, NULL, "convert weights at load: f32, bf16, f16, q8_0, q4_0"},
        {"--tokens", NULL, 1, &tokens, NULL, "token ids \"ID ID ...\" (required)"},
        {"--out", "-o", 1, &out_path, NULL, "output file: float32 LE [n_tokens][vocab] (required)"},
        {"--threads", "-t", 1, &threads, NULL, "threads (default: all cores)"},
        LORA_CLI_OPTS(&lc),
        {NULL},
    };
    const char *pos[1];
    int n_pos;
    const char *usage = "sqlassist logits --model PATH [--dtype T] --tokens \"ID ID ...\" --out FILE [--lora NAME=PATH ...] [--adapter NAME]";
    int r = cli_parse(argc, argv, opts, usage, "Writes the logits of every position of a token sequence.", pos, 0, &n_pos);
    if (r == CLI_HELP) return 0;
    if (r == CLI_ERROR) return 2;
    if (!model_path || !tokens || !out_path) {
        fprintf(stderr, "sqlassist: --model, --tokens and --out are required\nusage: %s\n", usage);
        return 2;
    }
    if (lora_cli_check(&lc)) return 2;
    int32_t *ids;
    int n;
    if (parse_ids(tokens, &ids, &n)) return 2;
    if (n == 0) { free(ids); fprintf(stderr, "sqlassist: --tokens: no ids\n"); return 2; }
    int rc = 0;
    model *m = load_model_or_die(model_path, dtype, threads, &rc);
    if (!m) { free(ids); return rc; }
    sa_err err = {{0}};
    infer_state *st = NULL;
    float *logits = NULL;
    FILE *f = NULL;
    if ((rc = lora_cli_setup(&lc, m))) goto out;
    st = infer_new(m, n, &err);
    logits = malloc((size_t)n * (size_t)m->cfg.n_vocab * sizeof *logits);
    if (!st || !logits) { fprintf(stderr, "sqlassist: %s\n", st ? "out of memory" : err.msg); rc = 1; goto out; }
    lora_cli_use(&lc, st);
    if (model_forward(m, st, ids, n, LOGITS_ALL, logits, &err)) { fprintf(stderr, "sqlassist: %s\n", err.msg); rc = 1; goto out; }
    if (!(f = fopen(out_path, "wb")) ||
        fwrite(logits, sizeof *logits, (size_t)n * m->cfg.n_vocab, f) != (size_t)n * m->cfg.n_vocab) {
        fprintf(stderr, "sqlassist: --out %s: cannot write\n", out_path);
        rc = 1;
    }
out:
    if (f && fclose(f)) rc = 1;
    free(logits);
    infer_free(st);
    lora_cli_free(&lc);
    model_free(m);
    free(ids);
    return rc;
}

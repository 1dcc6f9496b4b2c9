/*
** cmd_train.c — `sqlassist train`: fine-tune LoRA adapters on any model the
** engine loads, or train a small Qwen2 model from scratch, on
** sql-create-context JSONL. Parses and checks the flags, then hands a
** train_opts to train_run (src/train/train.h). See docs/training.md.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../train/train.h"
#include "cli_args.h"
#include "commands.h"

static const char *const TARGET_NAMES[LORA_N_TARGETS] = { "q_proj", "k_proj", "v_proj", "o_proj",
                                                          "gate_proj", "up_proj", "down_proj" };

/* "all", or a comma list of q_proj,... (the _proj may be left out). */
static int parse_targets(const char *s, unsigned *out) {
    if (!strcmp(s, "all") || !strcmp(s, "all-linear")) { *out = (1u << LORA_N_TARGETS) - 1; return 0; }
    unsigned t = 0;
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        int found = -1;
        for (int i = 0; i < LORA_N_TARGETS; i++) {
            size_t k = strlen(TARGET_NAMES[i]);
            if ((n == k && !strncmp(p, TARGET_NAMES[i], n)) || (n == k - 5 && !strncmp(p, TARGET_NAMES[i], n))) found = i;
        }
        if (found < 0) {
            fprintf(stderr, "sqlassist: --targets: '%.*s' is not one of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, "
                            "down_proj (or all)\n", (int)n, p);
            return -1;
        }
        t |= 1u << found;
        p = e ? e + 1 : p + n;
    }
    if (!t) { fprintf(stderr, "sqlassist: --targets is empty\n"); return -1; }
    *out = t;
    return 0;
}

/* cli_int into an int field (lo and hi within int's range). */
static int get_int(const char *flag, const char *v, long lo, long hi, int *out) {
    long x = *out;
    if (cli_int(flag, v, lo, hi, &x)) return -1;
    *out = (int)x;
    return 0;
}

int cmd_train(int argc, char **argv) {
    const char *mode = NULL, *data = NULL, *out = NULL, *model_path = NULL, *dtype = NULL, *base_name = NULL, *rank = NULL,
               *alpha = NULL, *targets = "all", *tok_path = NULL, *vocab = NULL, *hidden = NULL, *layers = NULL,
               *heads = NULL, *kv_heads = NULL, *ffn = NULL, *rope_theta = NULL, *ctx = NULL, *seq_len = NULL,
               *limit = NULL, *val_mod = NULL, *val_max = NULL, *steps = NULL, *epochs = NULL, *batch = NULL,
               *accum = NULL, *lr = NULL, *min_lr = NULL, *warmup = NULL, *wd = NULL, *beta1 = NULL, *beta2 = NULL,
               *eps = NULL, *clip = NULL, *seed = NULL, *threads = NULL, *save_every = NULL, *val_every = NULL,
               *stop_at = NULL, *max_report = NULL, *dump = NULL, *prompt_format = NULL, *schema_tokens = NULL,
               *init = NULL, *precision = NULL, *share = NULL;
    int rslora = 0, untied = 0, schema_values = 0, resume = 0, reschedule = 0, quiet = 0;
    cli_opt opts[] = {
        {"--mode", NULL, 1, &mode, NULL, "lora (adapters over --model) or full (a new model from --tokenizer) (required)"},
        {"--data", NULL, 1, &data, NULL, "sql-create-context JSONL: question, context, answer per line (required)"},
        {"--out", "-o", 1, &out, NULL, "output directory: checkpoint, metrics.jsonl, loss.svg, adapter or model.gguf (required)"},
        {"--model", "-m", 1, &model_path, NULL, "lora: the base model, GGUF or Hugging Face directory (quantized is fine)"},
        {"--dtype", NULL, 1, &dtype, NULL, "lora: convert the base weights at load (f32, bf16, q8_0, ...)"},
        {"--base-name", NULL, 1, &base_name, NULL, "lora: base_model_name_or_path in adapter_config.json (default: --model)"},
        {"--rank", "-r", 1, &rank, NULL, "lora: rank r (default 8)"},
        {"--alpha", NULL, 1, &alpha, NULL, "lora: alpha (default 16; the factor is alpha/r)"},
        {"--rslora", NULL, 0, NULL, &rslora, "lora: factor alpha/sqrt(r) (rank-stabilized LoRA)"},
        {"--targets", NULL, 1, &targets, NULL, "lora: projections, comma-separated q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj or all (default all)"},
        {"--tokenizer", NULL, 1, &tok_path, NULL, "full: vocabulary source: a GGUF with tokenizer keys, tokenizer.json or its directory"},
        {"--vocab", NULL, 1, &vocab, NULL, "full: keep the first N regular tokens of --tokenizer (+ its special tokens; default all)"},
        {"--hidden", NULL, 1, &hidden, NULL, "full: hidden size (default 256)"},
        {"--layers", NULL, 1, &layers, NULL, "full: layers (default 4)"},
        {"--heads", NULL, 1, &heads, NULL, "full: attention heads (default 4)"},
        {"--kv-heads", NULL, 1, &kv_heads, NULL, "full: key/value heads, dividing --heads (default 2)"},
        {"--ffn", NULL, 1, &ffn, NULL, "full: MLP size (default 704)"},
        {"--rope-theta", NULL, 1, &rope_theta, NULL, "full: rope base (default 10000)"},
        {"--ctx", NULL, 1, &ctx, NULL, "full: context length written to the GGUF (default 2048)"},
        {"--untied", NULL, 0, NULL, &untied, "full: a separate output head (default: tied to the embedding)"},
        {"--init", NULL, 1, &init, NULL, "full: start from the weights of this training checkpoint (same shape; fresh optimizer)"},
        {"--prompt-format", NULL, 1, &prompt_format, NULL, "full: the prompt template of the rows and of the model written: sql-create-context (default) or schema"},
        {"--schema-tokens", NULL, 1, &schema_tokens, NULL, "full, schema format: the schema budget in tokens the contexts were rendered with (written to the model for the agent)"},
        {"--schema-values", NULL, 0, NULL, &schema_values, "full, schema format: the contexts carry value anchors (sqlassist schema --values; written to the model for the agent)"},
        {"--seq-len", NULL, 1, &seq_len, NULL, "longest example in tokens; longer rows are skipped and reported (default 512)"},
        {"--limit", NULL, 1, &limit, NULL, "read only the first N lines of --data"},
        {"--val-mod", NULL, 1, &val_mod, NULL, "hold out rows whose question hash mod N is 0 (default 20; 0: none)"},
        {"--val-max", NULL, 1, &val_max, NULL, "validation rows evaluated (default 200)"},
        {"--steps", NULL, 1, &steps, NULL, "optimizer steps (default: --epochs over the training rows)"},
        {"--epochs", NULL, 1, &epochs, NULL, "epochs when --steps is not given (default 1)"},
        {"--batch", "-b", 1, &batch, NULL, "sequences per micro-batch (default 8)"},
        {"--accum", NULL, 1, &accum, NULL, "micro-batches per optimizer step: gradient accumulation (default 1)"},
        {"--share-prefix", NULL, 1, &share, NULL, "up to N rows with the same context train as one tree: the prompt they share computed once, each row's loss and gradient unchanged (0: off, the default)"},
        {"--lr", NULL, 1, &lr, NULL, "peak learning rate (default 2e-4 lora, 1e-3 full)"},
        {"--min-lr-ratio", NULL, 1, &min_lr, NULL, "cosine floor as a fraction of --lr (default 0.1)"},
        {"--warmup", NULL, 1, &warmup, NULL, "linear warm-up steps (default 5% of the steps)"},
        {"--weight-decay", NULL, 1, &wd, NULL, "AdamW decoupled weight decay on matrices (default 0 lora, 0.1 full)"},
        {"--beta1", NULL, 1, &beta1, NULL, "AdamW beta1 (default 0.9)"},
        {"--beta2", NULL, 1, &beta2, NULL, "AdamW beta2 (default 0.999)"},
        {"--eps", NULL, 1, &eps, NULL, "AdamW epsilon (default 1e-8)"},
        {"--clip", NULL, 1, &clip, NULL, "clip gradients to this global norm (default 1; 0: off)"},
        {"--seed", NULL, 1, &seed, NULL, "random seed: initial weights and data order (default 42)"},
        {"--threads", "-t", 1, &threads, NULL, "threads (default: all cores); results do not depend on it"},
        {"--precision", NULL, 1, &precision, NULL, "linear products: f32 (default) or bf16 (operands rounded to bfloat16, f32 sums; needs AVX512_BF16; weights, gradients and optimizer stay f32)"},
        {"--save-every", NULL, 1, &save_every, NULL, "checkpoint every N steps (default 200; always at the end)"},
        {"--val-every", NULL, 1, &val_every, NULL, "validation loss every N steps (default 50; always at the end)"},
        {"--stop-at", NULL, 1, &stop_at, NULL, "stop after step N with a checkpoint (continue later with --resume)"},
        {"--resume", NULL, 0, NULL, &resume, "continue from OUT/checkpoint.safetensors (same flags required)"},
        {"--reschedule", NULL, 0, NULL, &reschedule, "with --resume: --steps may differ from the checkpoint's; the cosine schedule is laid over the new total from the step reached"},
        {"--max-report", NULL, 1, &max_report, NULL, "bad data lines reported one by one (default 20; the rest counted)"},
        {"--quiet", "-q", 0, NULL, &quiet, "no progress bar"},
        {"--dump-grads", NULL, 1, &dump, NULL, "debugging: write each step's batches, parameters and gradients to DIR"},
        {NULL},
    };
    const char *pos[1];
    int n_pos;
    const char *usage = "sqlassist train --mode lora|full --data FILE.jsonl --out DIR [--model M | --tokenizer T] [options]";
    int r = cli_parse(argc, argv, opts, usage,
                      "Trains on sql-create-context JSONL (prompt = the sql-create-context template, loss on the answer\n"
                      "and its <|endoftext|> only). --mode lora writes a PEFT adapter directory for --model; --mode full\n"
                      "trains a small Qwen2 model from scratch and writes OUT/model.gguf. See docs/training.md.",
                      pos, 0, &n_pos);
    if (r == CLI_HELP) return 0;
    if (r == CLI_ERROR) return 2;
    train_opts o;
    memset(&o, 0, sizeof o);
    if (!mode || (strcmp(mode, "lora") && strcmp(mode, "full"))) {
        fprintf(stderr, "sqlassist: --mode lora or --mode full is required\nusage: %s\n", usage);
        return 2;
    }
    o.mode = !strcmp(mode, "lora") ? TM_LORA : TM_FULL;
    if (!data || !out) { fprintf(stderr, "sqlassist: --data and --out are required\nusage: %s\n", usage); return 2; }
    if (o.mode == TM_LORA && !model_path) { fprintf(stderr, "sqlassist: --mode lora needs --model\n"); return 2; }
    if (o.mode == TM_FULL && !tok_path) { fprintf(stderr, "sqlassist: --mode full needs --tokenizer\n"); return 2; }
    const char *lora_only = rank ? "--rank" : alpha ? "--alpha" : rslora ? "--rslora" : dtype ? "--dtype" : base_name ? "--base-name" : NULL;
    const char *full_only = tok_path ? "--tokenizer" : vocab ? "--vocab" : hidden ? "--hidden" : layers ? "--layers" : heads ? "--heads"
                            : kv_heads ? "--kv-heads" : ffn ? "--ffn" : rope_theta ? "--rope-theta" : ctx ? "--ctx" : untied ? "--untied"
                            : init ? "--init" : prompt_format ? "--prompt-format" : schema_tokens ? "--schema-tokens" : NULL;
    if (o.mode == TM_FULL && (lora_only || model_path)) { fprintf(stderr, "sqlassist: %s is for --mode lora\n", lora_only ? lora_only : "--model"); return 2; }
    if (o.mode == TM_LORA && full_only) { fprintf(stderr, "sqlassist: %s is for --mode full\n", full_only); return 2; }
    o.data_path = data;
    o.out_dir = out;
    o.model_path = model_path;
    o.dtype = dtype;
    o.base_name = base_name;
    o.tokenizer_path = tok_path;
    o.dump_dir = dump;
    o.init_path = init;
    o.prompt_format = prompt_format ? prompt_format : "sql-create-context";
    if (strcmp(o.prompt_format, "sql-create-context") && strcmp(o.prompt_format, "schema")) {
        fprintf(stderr, "sqlassist: --prompt-format '%s': expected sql-create-context or schema\n", o.prompt_format);
        return 2;
    }
    if (schema_tokens && strcmp(o.prompt_format, "schema")) { fprintf(stderr, "sqlassist: --schema-tokens is for --prompt-format schema\n"); return 2; }
    if (schema_values && strcmp(o.prompt_format, "schema")) { fprintf(stderr, "sqlassist: --schema-values is for --prompt-format schema\n"); return 2; }
    o.schema_values = schema_values;
    if (precision && strcmp(precision, "f32") && strcmp(precision, "bf16")) {
        fprintf(stderr, "sqlassist: --precision '%s': expected f32 or bf16\n", precision);
        return 2;
    }
    o.precision = precision && !strcmp(precision, "bf16") ? TG_BF16 : TG_F32;
    o.resume = resume;
    o.reschedule = reschedule;
    if (reschedule && !resume) {
        fprintf(stderr, "sqlassist: --reschedule needs --resume\n");
        return 2;
    }
    o.quiet = quiet;

    o.lora.rank = 8;
    double a = 16, theta = 10000;
    o.lora.rslora = rslora;
    if (parse_targets(targets, &o.lora.targets)) return 2;
    qwen2_config *c = &o.cfg;
    c->n_embd = 256; c->n_layer = 4; c->n_head = 4; c->n_head_kv = 2; c->n_ff = 704;
    c->n_ctx_train = 2048;
    c->rms_eps = 1e-6f;
    c->tied = !untied;
    o.seq_len = 512; o.val_mod = 20; o.val_max = 200; o.epochs = 1; o.batch = 8; o.accum = 1;
    o.save_every = 200; o.val_every = 50; o.max_report = 20;
    int warm = -1;
    long sd = 42;
    o.opt.lr = o.mode == TM_LORA ? 2e-4 : 1e-3;
    o.opt.min_lr_ratio = 0.1;
    o.opt.beta1 = 0.9; o.opt.beta2 = 0.999; o.opt.eps = 1e-8;
    o.opt.weight_decay = o.mode == TM_LORA ? 0.0 : 0.1;
    o.opt.clip = 1.0;
    if (get_int("--rank", rank, 1, LORA_MAX_RANK, &o.lora.rank) || cli_float("--alpha", alpha, 1e-6, 1e6, &a) ||
        get_int("--vocab", vocab, 256, 1 << 22, &o.vocab_limit) || get_int("--hidden", hidden, 2, 1 << 14, &c->n_embd) ||
        get_int("--layers", layers, 1, 256, &c->n_layer) || get_int("--heads", heads, 1, 1024, &c->n_head) ||
        get_int("--kv-heads", kv_heads, 1, 1024, &c->n_head_kv) || get_int("--ffn", ffn, 1, 1 << 16, &c->n_ff) ||
        cli_float("--rope-theta", rope_theta, 1, 1e9, &theta) || get_int("--ctx", ctx, 16, 1 << 20, &c->n_ctx_train) ||
        get_int("--seq-len", seq_len, 8, 1 << 16, &o.seq_len) || cli_int("--limit", limit, 1, 1L << 40, &o.limit) ||
        get_int("--val-mod", val_mod, 0, 1 << 20, &o.val_mod) || get_int("--val-max", val_max, 0, 1 << 24, &o.val_max) ||
        get_int("--steps", steps, 1, 1 << 30, &o.steps) || get_int("--epochs", epochs, 1, 1 << 20, &o.epochs) ||
        get_int("--batch", batch, 1, 512, &o.batch) || get_int("--accum", accum, 1, 1 << 16, &o.accum) ||
        get_int("--share-prefix", share, 0, 512, &o.share_prefix) ||
        cli_float("--lr", lr, 0, 10, &o.opt.lr) || cli_float("--min-lr-ratio", min_lr, 0, 1, &o.opt.min_lr_ratio) ||
        get_int("--warmup", warmup, 0, 1 << 30, &warm) || cli_float("--weight-decay", wd, 0, 10, &o.opt.weight_decay) ||
        cli_float("--beta1", beta1, 0, 0.999999, &o.opt.beta1) || cli_float("--beta2", beta2, 0, 0.99999999, &o.opt.beta2) ||
        cli_float("--eps", eps, 0, 1, &o.opt.eps) || cli_float("--clip", clip, 0, 1e9, &o.opt.clip) ||
        cli_int("--seed", seed, 0, 0x7fffffffffffffffL, &sd) || get_int("--threads", threads, 1, 1024, &o.threads) ||
        get_int("--save-every", save_every, 0, 1 << 30, &o.save_every) ||
        get_int("--val-every", val_every, 0, 1 << 30, &o.val_every) || get_int("--stop-at", stop_at, 1, 1 << 30, &o.stop_at) ||
        get_int("--max-report", max_report, 0, 1 << 30, &o.max_report) ||
        get_int("--schema-tokens", schema_tokens, 16, 1 << 20, &o.schema_tokens))
        return 2;
    o.lora.alpha = (float)a;
    c->rope_theta = (float)theta;
    o.seed = (uint64_t)sd;
    if (o.mode == TM_FULL) {
        if (c->n_embd % c->n_head || (c->n_embd / c->n_head) % 2) {
            fprintf(stderr, "sqlassist: --hidden %d must be --heads %d times an even head size\n", c->n_embd, c->n_head);
            return 2;
        }
        if (c->n_head % c->n_head_kv) {
            fprintf(stderr, "sqlassist: --kv-heads %d must divide --heads %d\n", c->n_head_kv, c->n_head);
            return 2;
        }
        c->head_dim = c->n_embd / c->n_head;
        if (c->n_ctx_train < o.seq_len) {
            fprintf(stderr, "sqlassist: --ctx %d is shorter than --seq-len %d\n", c->n_ctx_train, o.seq_len);
            return 2;
        }
    }
    o.opt.warmup = warm;
    if (o.opt.warmup < 0) {
        /* 5% of the run, known only once the data is counted: resolved here
        ** for --steps, else from the epoch count in train_run's terms */
        o.opt.warmup = o.steps > 0 ? o.steps / 20 : -1;
    }
    return train_run(&o);
}

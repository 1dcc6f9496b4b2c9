/*
** train.h — a training run from options to files: loads the data and the
** model (a base for LoRA, or a fresh model for full training), runs the
** optimizer steps with gradient accumulation, validates, checkpoints,
** resumes, and writes the result (a PEFT adapter directory or a GGUF).
**
** Owns nothing past train_run's return. Output directory layout:
**   OUT/checkpoint.safetensors    latest checkpoint (ckpt.h)
**   OUT/metrics.jsonl, OUT/loss.svg
**   lora: OUT/adapter_config.json + OUT/adapter_model.safetensors
**   full: OUT/model.gguf and OUT/tokenizer.gguf (the vocabulary it trained with)
*/
#ifndef SA_TRAIN_H
#define SA_TRAIN_H

#include <stdint.h>

#include "optim.h"
#include "tmodel.h"

typedef struct train_opts {
    int mode;                  /* TM_LORA or TM_FULL */
    const char *data_path, *out_dir;
    /* lora */
    const char *model_path, *dtype, *base_name;
    tm_lora_opts lora;
    /* full */
    const char *tokenizer_path;
    int vocab_limit;           /* 0: the tokenizer's whole vocabulary */
    qwen2_config cfg;          /* n_vocab filled from the tokenizer */
    const char *init_path;     /* start from this checkpoint's weights; NULL: random */
    const char *prompt_format; /* template of the rows and of the GGUF written: "sql-create-context" or "schema" */
    int schema_tokens;         /* schema format: the budget the contexts were rendered with (0: not said) */
    int schema_values;         /* schema format: the contexts carry value anchors (sqlassist schema --values) */
    /* data */
    int seq_len;               /* longest example in tokens */
    long limit;                /* first lines of the file only (0: all) */
    int val_mod, val_max;
    /* optimization */
    int steps, epochs;         /* steps > 0 wins; else epochs over the training rows */
    int batch, accum;          /* examples per micro-batch; micro-batches per step */
    int share_prefix;          /* > 0: up to this many examples with one context form a tree
                               ** (tmodel.h: tbatch), its prompt prefix computed once; 0: off */
    adamw_cfg opt;             /* total_steps filled in */
    uint64_t seed;
    /* the run */
    int threads;
    int precision;             /* TG_F32 or TG_BF16: the linear products' operands (tgemm.h) */
    int save_every, val_every, stop_at;
    int resume, quiet, max_report;
    int reschedule;            /* with resume: the checkpoint may have another total of steps */
    const char *dump_dir;      /* --dump-grads: per-step batches, parameters and gradients */
} train_opts;

/* Runs training; returns the process exit status (0, or 1 after printing
** an error). */
int train_run(const train_opts *o);

#endif

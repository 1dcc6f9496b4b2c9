/*
** model.h — the Qwen2 architecture: loading weights (GGUF or a Hugging Face
** directory) into one in-memory form, and the forward pass with a KV cache.
**
** Owns: the weights (pointers into read-only mmaps where they can be used
** in place, owned buffers where a conversion was asked for), the tokenizer
** that came with the model, and the thread pool. An infer_state owns one
** sequence's KV cache and scratch buffers, so several states can share one
** model (one forward at a time per model: the thread pool is shared).
**
** Shapes, named as in the comments below: V vocab, C hidden size, F MLP
** size, L layers, H query heads, G KV heads, D head dim (C = H*D, KV = G*D),
** T tokens in the batch, N context length.
*/
#ifndef SA_MODEL_H
#define SA_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "../util/err.h"
#include "gguf.h"
#include "safetensors.h"
#include "threadpool.h"
#include "tokenizer.h"

typedef struct qwen2_config {
    int n_vocab;        /* V */
    int n_embd;         /* C */
    int n_ff;           /* F */
    int n_layer;        /* L */
    int n_head;         /* H */
    int n_head_kv;      /* G */
    int head_dim;       /* D */
    int n_ctx_train;
    float rope_theta;
    float rms_eps;
    int tied;           /* output head shares the token embedding */
} qwen2_config;

/* A weight matrix W[rows][cols] stored row-major in ggml type `type`; one
** row is the `cols` inputs of one output. */
typedef struct wmat {
    uint32_t type;
    int rows, cols;
    size_t row_bytes;
    const void *data;
    const void *x16;     /* the same weights as 16-row panels (kern_x16_pack), which the
                         ** products read instead, or NULL; data stays valid (mmapped) */
} wmat;

typedef struct qwen2_layer {
    const float *attn_norm;              /* [C] */
    wmat wq, wk, wv, wo;                 /* [C][C], [KV][C], [KV][C], [C][C] */
    const float *bq, *bk, *bv;           /* [C], [KV], [KV] */
    const float *ffn_norm;               /* [C] */
    wmat w_gate, w_up, w_down;           /* [F][C], [F][C], [C][F] */
} qwen2_layer;

typedef struct model_opts {
    const char *dtype;     /* NULL: keep stored types; else "f32","bf16","f16","q8_0","q4_0" */
    int n_threads;         /* 0: all cores */
    int verbose;
} model_opts;

typedef struct model {
    qwen2_config cfg;
    wmat tok_embd;                       /* [V][C] */
    const float *out_norm;               /* [C] */
    wmat output;                         /* [V][C]; same data as tok_embd when tied */
    qwen2_layer *layers;                 /* [L] */
    tokenizer *tok;
    threadpool *tp;
    int hold_pool;                       /* tp_hold the pool for each forward pass (HOLD_POOL_MACS) */
    float **gemm_scratch;                /* [threads][KERN_GEMM_SCRATCH] */
    char *path;
    char source[16];                     /* "gguf" or "hf" */
    double load_seconds;
    /* storage */
    gguf_file *gguf;
    st_file **shards;
    int n_shards;
    void **owned;
    int n_owned, cap_owned;
} model;

/* Loads PATH: a .gguf file or a Hugging Face model directory (config.json +
** model.safetensors or sharded model-*-of-*.safetensors with
** model.safetensors.index.json). Errors name the file and the key/tensor. */
model *model_load(const char *path, const model_opts *opts, sa_err *err);
void model_free(model *m);

/* Total bytes of weights as stored (for reports). */
size_t model_weight_bytes(const model *m);

/* The prompt format the model was trained on, from the GGUF key
** `sqlassist.prompt_format` (written by `sqlassist train --mode full`), as a
** malloc'd string, or NULL when the file does not say (Hugging Face models,
** GGUF files from elsewhere). */
char *model_prompt_format(const model *m);

/* The schema budget in tokens the model's training rows were rendered with
** (GGUF key `sqlassist.schema_tokens`), or 0 when the file does not say. */
int model_schema_tokens(const model *m);

/* 1 when the model's training rows showed value anchors (GGUF key
** `sqlassist.schema_values`, agent/schema_prompt.h: SC_RENDER_VALUES), so
** that its prompts must show them too; else 0. */
int model_schema_values(const model *m);

/* One sequence's KV cache and scratch. */
typedef struct infer_state infer_state;
infer_state *infer_new(const model *m, int n_ctx, sa_err *err);
void infer_free(infer_state *s);
int infer_n_past(const infer_state *s);
int infer_n_ctx(const infer_state *s);
/* Forgets positions >= n (n <= n_past): the cache prefix stays valid. */
void infer_truncate(infer_state *s, int n);
/* Makes dst hold src's first n positions (dst's own contents are dropped):
** their K/V rows are copied, as computed under src's adapter. n <= both
** states' n_past / n_ctx; same model. Reads only src's positions < n. */
void infer_copy_prefix(infer_state *dst, const infer_state *src, int n);

/* Chooses the LoRA adapter (NULL: none) and scale for this sequence's
** following forward calls. The adapter must stay loaded while in use, and a
** KV cache computed under one adapter is only valid for that adapter. */
struct lora_adapter;
void infer_set_lora(infer_state *s, const struct lora_adapter *a, float scale);

enum { LOGITS_NONE = 0, LOGITS_LAST = 1, LOGITS_ALL = 2 };

/* Runs tokens[0..T) at positions n_past.. n_past+T-1, appending to the KV
** cache. logits receives [T][V] (LOGITS_ALL) or [V] for the last token
** (LOGITS_LAST). Fails if the context would overflow or an id is out of
** range. */
int model_forward(const model *m, infer_state *s, const int32_t *tokens, int T,
                  int want, float *logits, sa_err *err);

/* model_forward with LOGITS_ALL for verifying drafted tokens (speculative
** decoding): every product takes the one-token path whatever T is (no batched
** GEMM; quantized weights through kern_dot_act_n, bit-identical to single
** calls; LoRA and attention work token by token anyway), so row t of logits
** and the cache entries written are bit for bit those that T successive
** one-token model_forward calls would give. Each weight row is still read
** once for all T tokens. T is at most 256. */
int model_forward_exact(const model *m, infer_state *s, const int32_t *tokens, int T, float *logits, sa_err *err);

/* One decode step for B distinct sequences at once (continuous batching):
** tokens[b] is appended to states[b] at its own position, attending to its
** own cache, under its own LoRA adapter and scale; logits receives [B][V].
** Every product takes the one-token path (each weight row is read once for
** all B rows; see model_forward_exact), so row b is bit for bit what a
** one-token model_forward on states[b] alone would give. The activations
** use states[0]'s scratch. B is at most 256; fails without touching any
** cache if a state is repeated, belongs to another model or is full. */
int model_forward_batch(const model *m, infer_state *const *states, const int32_t *tokens, int B, float *logits,
                        sa_err *err);

/* Prompt tokens with the batched GEMM only from this many rows of a pass on
** (fewer take the one-token products). */
#define MODEL_GEMM_MIN_ROWS 4

/* 1 when a product's rows do not depend on how many rows share it: every
** layer matrix is read from 16-row panels (q8_0 / q4_0 on VNNI), whose
** batched GEMM gives each row bit for bit its one-token product
** (kernels.h, "16-row panels"; the bias is added after the product on
** every path). Then prompt chunks of any length and one-token decode rows
** can share a model_forward_prompts pass and each still gets exactly what
** it would alone. 0 otherwise (f32/f16/k-quant weights, CPUs without
** VNNI, $SQLASSIST_X16=0). */
int model_rows_exact(const model *m);

/* Prompt chunks of n distinct sequences in one pass: tokens[i][0..T[i]) are
** appended to states[i] at its own positions, attending to its own cache,
** under its own adapter; logits[i] receives [V] for its last token when
** want[i] is LOGITS_LAST (LOGITS_NONE: nothing). Each weight row is read
** once for all of them. Every T[i] must be at least MODEL_GEMM_MIN_ROWS
** (any T[i] >= 1 where model_rows_exact: a one-token decode step too) and
** their sum at most 256, so that each chunk takes the GEMM as it would
** alone: row for row each result is bit for bit what model_forward(m,
** states[i], tokens[i], T[i], want[i], logits[i]) would give (the GEMM's
** rows do not depend on one another). The activations use states[0]'s
** scratch. Fails without touching any cache on a bad argument. */
int model_forward_prompts(const model *m, infer_state *const *states, const int32_t *const *tokens, const int *T,
                          const int *want, int n, float *const *logits, sa_err *err);

#endif

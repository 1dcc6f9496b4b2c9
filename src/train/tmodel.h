/*
** tmodel.h — the Qwen2 architecture made trainable: forward and backward
** passes over a packed micro-batch of sequences, the loss (cross-entropy on
** the tokens that have a target), and the table of trainable parameters
** with their gradients.
**
** Two kinds of model:
**   full  every weight is an f32 parameter owned here (a model trained
**         from scratch); the output head is tied to the embedding or not.
**   lora  a frozen base `model` (any type the engine loads, quantized
**         included: rows are dequantized on the fly) plus LoRA matrices
**         A [r][in] and B [out][r] on chosen projections; only A and B
**         are parameters. y = W·x + b + s·B·(A·x), s = alpha/r (or
**         alpha/sqrt(r) with rsLoRA), as PEFT and lora.h compute it.
**
** Owns: parameters, gradients, the activations kept for the backward pass
** (sized for a maximum micro-batch), and in full mode the thread pool.
** A LoRA model borrows the base model (which must outlive it) and its pool.
**
** Shapes, as in model.h: V vocab, C hidden, F MLP, L layers, H query heads,
** G KV heads, D head dim, KV = G·D; N tokens in the micro-batch (every
** sequence of it packed one after another), S sequences, r LoRA rank.
*/
#ifndef SA_TMODEL_H
#define SA_TMODEL_H

#include <stddef.h>
#include <stdint.h>

#include "../engine/lora.h"
#include "../engine/model.h"
#include "../util/err.h"
#include "rng.h"
#include "tgemm.h"

enum { TM_FULL = 0, TM_LORA = 1 };

/* One linear map y[N][out] = x[N][in]·Wᵀ (+ b) (+ s·(x·Aᵀ)·Bᵀ). */
typedef struct tlin {
    wmat w;               /* [out][in]: f32 parameter (full) or the base's stored matrix (lora) */
    float *dw;            /* [out][in] gradient; NULL when frozen */
    const float *b;       /* [out] or NULL */
    float *db;            /* [out] gradient; NULL when frozen or no bias */
    int rank;             /* LoRA rank; 0: no adapter on this projection */
    float s;              /* LoRA factor */
    float *A, *dA;        /* [rank][in] */
    float *B, *dB;        /* [out][rank] */
} tlin;

typedef struct tlayer {
    const float *attn_norm;          /* [C] */
    float *d_attn_norm;              /* [C] or NULL */
    tlin lin[LORA_N_TARGETS];        /* indexed by enum lora_target: q, k, v, o, gate, up, down */
    const float *ffn_norm;           /* [C] */
    float *d_ffn_norm;               /* [C] or NULL */
} tlayer;

/* One trainable tensor: a slice of the model's contiguous parameter and
** gradient buffers. */
typedef struct tparam {
    char name[112];       /* Hugging Face name (full) or PEFT name (lora) */
    float *data, *grad;
    int n_dims;           /* 1 or 2 */
    int shape[2];         /* outermost first, as in PyTorch */
    size_t n;
    int decay;            /* AdamW weight decay applies (matrices, not norms or biases) */
} tparam;

typedef struct tm_lora_opts {
    int rank;
    float alpha;
    int rslora;
    unsigned targets;     /* bit t set: adapt projection t (enum lora_target) */
} tm_lora_opts;

/* A micro-batch: S sequences packed one after another.
**
** A sequence may hold several examples that share a prefix (a schema
** prompt) as a tree: the prefix once, then each example's own tokens (its
** "run"). A token sees the shared part [s0, ctx_end[t]) and its own run
** [run_start[t], t]; its position (RoPE) is (ctx_end[t] − s0) + (t −
** run_start[t]), the position it has in its example alone. So every
** example's loss and gradient are those it would have alone, and the
** prefix is computed once for all of them. A plain token has ctx_end[t] =
** run_start[t] = s0 (both arrays NULL: every token plain, as causal). */
typedef struct tbatch {
    int n_tok;                 /* N */
    int n_seq;                 /* S */
    const int32_t *tokens;     /* [N] input ids */
    const int32_t *targets;    /* [N] the id that should follow each input, or -1: no loss there */
    const int *seq_start;      /* [S + 1]: sequence s is tokens [seq_start[s], seq_start[s+1]) */
    const int *ctx_end;        /* [N] or NULL: end of the shared part t sees (s0 ≤ ctx_end[t] ≤ run_start[t]) */
    const int *run_start;      /* [N] or NULL: first token of t's own run (≤ t) */
} tbatch;

typedef struct tacts tacts;

typedef struct tmodel {
    int mode;                        /* TM_FULL or TM_LORA */
    qwen2_config cfg;
    tm_lora_opts lora;               /* mode lora */
    wmat embd;                       /* [V][C] */
    float *d_embd;                   /* [V][C] or NULL */
    const float *out_norm;           /* [C] */
    float *d_out_norm;               /* [C] or NULL */
    wmat head;                       /* [V][C]; the embedding when tied */
    float *d_head;                   /* [V][C] (== d_embd when tied) or NULL */
    tlayer *layers;                  /* [L] */
    tparam *params;
    int n_params;
    float *pbuf, *gbuf;              /* every trainable value, and its gradient */
    size_t n_values;
    const model *base;               /* lora: borrowed */
    threadpool *tp;                  /* full: owned; lora: the base's */
    int own_tp;
    tg_ctx g;
    int max_tokens, max_seq;         /* activation capacity: N and the longest sequence */
    float *rope_cos, *rope_sin;      /* [max_seq][D/2] */
    tacts *acts;
} tmodel;

/* A model trained from scratch. cfg must be complete (head_dim = C/H, G
** divides H, D even). Weights are zero until tm_init_weights. */
tmodel *tm_new_full(const qwen2_config *cfg, int n_threads, int max_tokens, int max_seq, sa_err *err);

/* LoRA matrices over base (borrowed; must outlive the result). */
tmodel *tm_new_lora(const model *base, const tm_lora_opts *lo, int max_tokens, int max_seq, sa_err *err);

void tm_free(tmodel *m);

/* Initial weights. Full: matrices and embedding ~ N(0, 0.02²) (Qwen2's
** initializer_range), biases 0, norm weights 1. LoRA: A ~ U(-1/√in, 1/√in)
** (PEFT's kaiming-uniform with a = √5), B = 0, so training starts from
** exactly the base model. Draws in parameter order from r. */
void tm_init_weights(tmodel *m, trng *r);

void tm_zero_grad(tmodel *m);

/* Runs the micro-batch forward, adding Σ cross-entropy over its tokens with
** a target to *loss_sum and their count to *n_loss. With backward, also
** adds the gradient of loss_scale · Σ cross-entropy to every parameter's
** gradient (so loss_scale = 1 / tokens-with-a-target in the whole
** optimizer step makes the accumulated gradient that of the step's mean).
** Fails (without touching gradients) when the batch does not fit the
** capacity or an id is out of range. */
int tm_forward_backward(tmodel *m, const tbatch *b, float loss_scale, int backward, double *loss_sum, int *n_loss,
                        sa_err *err);

/* The parameter named NAME, or NULL. */
tparam *tm_find_param(tmodel *m, const char *name);

/* Bytes of activation memory allocated for the capacity. */
size_t tm_act_bytes(const tmodel *m);

#endif

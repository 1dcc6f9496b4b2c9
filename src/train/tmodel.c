/*
** tmodel.c — forward and backward of the Qwen2 architecture for training
** (see tmodel.h). Each operation's forward and backward sit side by side:
**
**   embedding      x = E[token]                     dE[token] += dx
**   rmsnorm        y = w ⊙ x·r, r = 1/√(mean x² + ε)  dx = r·w⊙dy − r³/C·x·Σ(dy⊙w⊙x), dw += Σ dy⊙x·r
**   linear (+LoRA) y = x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ          dx = dy·W + s·(dy·B)·A, dW += dyᵀx, db += Σdy,
**                                                      dB += dyᵀ·(s·u), dA += (s·dy·B)ᵀ·x   (u = x·Aᵀ)
**   rope           rotate pairs (i, i+D/2) by pos·θ^(-2i/D)   rotate back by the same angle
**   attention      causal softmax(q·kᵀ/√D)·v per sequence, GQA   recomputes the probabilities from the
**                                                      saved log-sum-exp (no [T][T] matrix is kept)
**   swiglu         h = silu(g) ⊙ u                    dg = dh⊙u⊙silu'(g), du = dh⊙silu(g)
**   loss           CE(x·Headᵀ, target) on tokens with a target, computed in chunks of rows so the
**                  [N][V] logits never exist at once (V is 151936 for Qwen)
**
** Everything the backward pass needs is kept from the forward pass in
** `tacts`, sized once for the largest micro-batch. Every reduction runs in
** a fixed order on one thread (see tgemm.h), so a step's gradients do not
** depend on the thread count.
*/
#include "tmodel.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/gguf.h"
#include "../engine/kernels.h"

typedef struct tlayer_acts {
    float *x_in;                 /* [N][C] the layer's input (residual stream) */
    float *rstd1;                /* [N] */
    float *xn1;                  /* [N][C] */
    float *q;                    /* [N][C] after rope */
    float *k, *v;                /* [N][KV] (k after rope) */
    float *lse;                  /* [N][H] attention log-sum-exp */
    float *att;                  /* [N][C] attention output, before o_proj */
    float *x_mid;                /* [N][C] residual after attention */
    float *rstd2;                /* [N] */
    float *xn2;                  /* [N][C] */
    float *gate, *up, *hact;     /* [N][F]; hact = silu(gate) ⊙ up */
    float *u[LORA_N_TARGETS];    /* [N][r] LoRA A·x, or NULL */
} tlayer_acts;

struct tacts {
    tlayer_acts *l;              /* [L] */
    float *x_out;                /* [N][C] residual after the last layer */
    float *rstdf;                /* [N] */
    float *xnf;                  /* [N][C] */
    /* backward */
    float *dres;                 /* [N][C] gradient of the residual stream */
    float *dxn;                  /* [N][C] gradient of a norm's output */
    float *dq;                   /* [N][C] */
    float *dk, *dv;              /* [N][KV] */
    float *datt;                 /* [N][C] */
    float *dgate, *dup, *dh;     /* [N][F] */
    float *tmp;                  /* [N][max(C, F)] LoRA B·(A·x) before scaling */
    float *du, *su;              /* [N][r_max] */
    int ch;                      /* rows of logits per chunk */
    float *logits;               /* [ch][V] */
    float *xsel, *dxsel;         /* [ch][C] */
    double *row_loss;            /* [ch] */
    int *pos, *seq_of, *sel;     /* [N] */
    int *ctx_end, *run_start;    /* [N] the keys each token sees (tmodel.h: tbatch) */
    float *att_scratch;          /* [threads][2][max_seq] */
    void **blocks;
    int n_blocks, cap_blocks;
    size_t bytes;
};

/* ---- allocation ------------------------------------------------------------ */

static void *act_alloc(tacts *a, size_t bytes) {
    if (a->n_blocks == a->cap_blocks) {
        int cap = a->cap_blocks ? 2 * a->cap_blocks : 64;
        void **p = realloc(a->blocks, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        a->blocks = p;
        a->cap_blocks = cap;
    }
    /* not cleared: every buffer is written before it is read, and pages
    ** never touched (capacity beyond the longest micro-batch) cost no memory */
    size_t rounded = (bytes + 63) / 64 * 64;
    void *b = aligned_alloc(64, rounded ? rounded : 64);
    if (b) {
        a->blocks[a->n_blocks++] = b;
        a->bytes += rounded;
    }
    return b;
}

static void acts_free(tacts *a) {
    if (!a) return;
    for (int i = 0; i < a->n_blocks; i++) free(a->blocks[i]);
    free(a->blocks);
    free(a->l);
    free(a);
}

static int acts_new(tmodel *m) {
    const qwen2_config *c = &m->cfg;
    size_t N = (size_t)m->max_tokens, C = (size_t)c->n_embd, F = (size_t)c->n_ff, H = (size_t)c->n_head;
    size_t KV = (size_t)c->n_head_kv * (size_t)c->head_dim, V = (size_t)c->n_vocab;
    tacts *a = calloc(1, sizeof *a);
    if (!a) return -1;
    m->acts = a;
    a->l = calloc((size_t)c->n_layer, sizeof *a->l);
    if (!a->l) return -1;
    int rmax = 1;
    for (int l = 0; l < c->n_layer; l++) {
        tlayer_acts *la = &a->l[l];
        if (!(la->x_in = act_alloc(a, N * C * 4)) || !(la->rstd1 = act_alloc(a, N * 4)) ||
            !(la->xn1 = act_alloc(a, N * C * 4)) || !(la->q = act_alloc(a, N * C * 4)) ||
            !(la->k = act_alloc(a, N * KV * 4)) || !(la->v = act_alloc(a, N * KV * 4)) ||
            !(la->lse = act_alloc(a, N * H * 4)) || !(la->att = act_alloc(a, N * C * 4)) ||
            !(la->x_mid = act_alloc(a, N * C * 4)) || !(la->rstd2 = act_alloc(a, N * 4)) ||
            !(la->xn2 = act_alloc(a, N * C * 4)) || !(la->gate = act_alloc(a, N * F * 4)) ||
            !(la->up = act_alloc(a, N * F * 4)) || !(la->hact = act_alloc(a, N * F * 4)))
            return -1;
        for (int t = 0; t < LORA_N_TARGETS; t++) {
            int r = m->layers[l].lin[t].rank;
            if (!r) continue;
            if (r > rmax) rmax = r;
            if (!(la->u[t] = act_alloc(a, N * (size_t)r * 4))) return -1;
        }
    }
    size_t CF = C > F ? C : F;
    a->ch = (int)((size_t)(8u << 20) / V);
    if (a->ch > 128) a->ch = 128;
    if (a->ch < 1) a->ch = 1;
    size_t CH = (size_t)a->ch;
    if (!(a->x_out = act_alloc(a, N * C * 4)) || !(a->rstdf = act_alloc(a, N * 4)) || !(a->xnf = act_alloc(a, N * C * 4)) ||
        !(a->dres = act_alloc(a, N * C * 4)) || !(a->dxn = act_alloc(a, N * C * 4)) || !(a->dq = act_alloc(a, N * C * 4)) ||
        !(a->dk = act_alloc(a, N * KV * 4)) || !(a->dv = act_alloc(a, N * KV * 4)) ||
        !(a->datt = act_alloc(a, N * C * 4)) || !(a->dgate = act_alloc(a, N * F * 4)) ||
        !(a->dup = act_alloc(a, N * F * 4)) || !(a->dh = act_alloc(a, N * F * 4)) || !(a->tmp = act_alloc(a, N * CF * 4)) ||
        !(a->du = act_alloc(a, N * (size_t)rmax * 4)) || !(a->su = act_alloc(a, N * (size_t)rmax * 4)) ||
        !(a->logits = act_alloc(a, CH * V * 4)) || !(a->xsel = act_alloc(a, CH * C * 4)) ||
        !(a->dxsel = act_alloc(a, CH * C * 4)) || !(a->row_loss = act_alloc(a, CH * sizeof(double))) ||
        !(a->pos = act_alloc(a, N * sizeof(int))) || !(a->seq_of = act_alloc(a, N * sizeof(int))) ||
        !(a->ctx_end = act_alloc(a, N * sizeof(int))) || !(a->run_start = act_alloc(a, N * sizeof(int))) ||
        !(a->sel = act_alloc(a, N * sizeof(int))) ||
        !(a->att_scratch = act_alloc(a, (size_t)tp_size(m->tp) * 2 * (size_t)m->max_seq * 4)))
        return -1;
    return 0;
}

size_t tm_act_bytes(const tmodel *m) { return m->acts ? m->acts->bytes : 0; }

/* ---- parameters -------------------------------------------------------------- */

typedef struct pspec {
    char name[112];
    int n_dims, shape[2], decay;
    float **data, **grad;   /* where to store the slice pointers */
} pspec;

typedef struct plist {
    pspec *v;
    int n, cap;
} plist;

static int plist_add(plist *p, const char *name, int n_dims, int d0, int d1, int decay, float **data, float **grad) {
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 64;
        pspec *v = realloc(p->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        p->v = v;
        p->cap = cap;
    }
    pspec *s = &p->v[p->n++];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->n_dims = n_dims;
    s->shape[0] = d0;
    s->shape[1] = n_dims == 2 ? d1 : 1;
    s->decay = decay;
    s->data = data;
    s->grad = grad;
    return 0;
}

/* Lays the parameters out in one buffer (each slice 64-byte aligned) and
** points every *data / *grad at its slice. */
static int params_build(tmodel *m, plist *p) {
    size_t total = 0;
    for (int i = 0; i < p->n; i++) total += ((size_t)p->v[i].shape[0] * (size_t)p->v[i].shape[1] + 15) / 16 * 16;
    m->n_values = total;
    m->pbuf = aligned_alloc(64, (total ? total : 16) * sizeof(float));
    m->gbuf = aligned_alloc(64, (total ? total : 16) * sizeof(float));
    m->params = calloc((size_t)(p->n ? p->n : 1), sizeof *m->params);
    if (!m->pbuf || !m->gbuf || !m->params) return -1;
    memset(m->pbuf, 0, total * sizeof(float));
    memset(m->gbuf, 0, total * sizeof(float));
    size_t off = 0;
    for (int i = 0; i < p->n; i++) {
        const pspec *s = &p->v[i];
        tparam *tp = &m->params[i];
        snprintf(tp->name, sizeof tp->name, "%s", s->name);
        tp->n_dims = s->n_dims;
        tp->shape[0] = s->shape[0];
        tp->shape[1] = s->n_dims == 2 ? s->shape[1] : 0;
        tp->n = (size_t)s->shape[0] * (size_t)s->shape[1];
        tp->decay = s->decay;
        tp->data = m->pbuf + off;
        tp->grad = m->gbuf + off;
        if (s->data) *s->data = tp->data;
        if (s->grad) *s->grad = tp->grad;
        off += (tp->n + 15) / 16 * 16;
    }
    m->n_params = p->n;
    return 0;
}

tparam *tm_find_param(tmodel *m, const char *name) {
    for (int i = 0; i < m->n_params; i++)
        if (!strcmp(m->params[i].name, name)) return &m->params[i];
    return NULL;
}

static void target_dims(const qwen2_config *c, int t, int *out, int *in) {
    int C = c->n_embd, F = c->n_ff, KV = c->n_head_kv * c->head_dim;
    switch (t) {
    case LORA_Q: case LORA_O: *out = C; *in = C; break;
    case LORA_K: case LORA_V: *out = KV; *in = C; break;
    case LORA_GATE: case LORA_UP: *out = F; *in = C; break;
    default: *out = C; *in = F; break;
    }
}

static const char *const HF_PROJ[LORA_N_TARGETS] = {
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
    "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
};

static int rope_tables(tmodel *m) {
    const qwen2_config *c = &m->cfg;
    int half = c->head_dim / 2;
    size_t n = (size_t)m->max_seq * (size_t)half;
    m->rope_cos = malloc(n * sizeof(float));
    m->rope_sin = malloc(n * sizeof(float));
    if (!m->rope_cos || !m->rope_sin) return -1;
    /* the same float arithmetic as the inference rope (model.c), so the
    ** trained model sees at inference exactly the angles it trained with */
    for (int i = 0; i < half; i++) {
        float inv_freq = 1.0f / powf(c->rope_theta, (float)(2 * i) / (float)c->head_dim);
        for (int p = 0; p < m->max_seq; p++) {
            float ang = (float)p * inv_freq;
            m->rope_cos[(size_t)p * half + i] = cosf(ang);
            m->rope_sin[(size_t)p * half + i] = sinf(ang);
        }
    }
    return 0;
}

static tmodel *tm_alloc(const qwen2_config *cfg, int max_tokens, int max_seq, sa_err *err) {
    if (max_tokens <= 0 || max_seq <= 0 || max_seq > max_tokens) {
        sa_fail(err, "bad activation capacity (%d tokens, sequences of %d)", max_tokens, max_seq);
        return NULL;
    }
    if (cfg->head_dim > KERN_MATVEC_T_MAX) {   /* attention sums a head's rows with kern_matvec_t */
        sa_fail(err, "head size %d: training takes heads of at most %d", cfg->head_dim, KERN_MATVEC_T_MAX);
        return NULL;
    }
    tmodel *m = calloc(1, sizeof *m);
    if (!m) { sa_fail(err, "out of memory"); return NULL; }
    m->cfg = *cfg;
    m->max_tokens = max_tokens;
    m->max_seq = max_seq;
    m->layers = calloc((size_t)cfg->n_layer, sizeof *m->layers);
    if (!m->layers) { free(m); sa_fail(err, "out of memory"); return NULL; }
    return m;
}

static int tm_finish(tmodel *m, sa_err *err) {
    if (tg_init(&m->g, m->tp) || rope_tables(m) || acts_new(m))
        return sa_fail(err, "out of memory for training activations (%d tokens per micro-batch; lower --batch or --seq-len)",
                       m->max_tokens);
    return 0;
}

tmodel *tm_new_full(const qwen2_config *cfg, int n_threads, int max_tokens, int max_seq, sa_err *err) {
    const qwen2_config *c = cfg;
    assert(c->head_dim * c->n_head == c->n_embd && c->n_head % c->n_head_kv == 0 && c->head_dim % 2 == 0);
    tmodel *m = tm_alloc(cfg, max_tokens, max_seq, err);
    if (!m) return NULL;
    m->mode = TM_FULL;
    int C = c->n_embd, V = c->n_vocab;
    plist p = {0};
    float *embd = NULL, *head = NULL, *out_norm = NULL;
    float **wdata = calloc((size_t)c->n_layer * LORA_N_TARGETS, sizeof *wdata);
    float **bdata = calloc((size_t)c->n_layer * 3, sizeof *bdata);
    float **norms = calloc((size_t)c->n_layer * 2, sizeof *norms);
    int bad = !wdata || !bdata || !norms;
    char nm[112];
    bad = bad || plist_add(&p, "model.embed_tokens.weight", 2, V, C, 1, &embd, &m->d_embd);
    for (int l = 0; l < c->n_layer && !bad; l++) {
        tlayer *L = &m->layers[l];
#define P(fmt) (snprintf(nm, sizeof nm, "model.layers.%d." fmt, l), nm)
        bad = bad || plist_add(&p, P("input_layernorm.weight"), 1, C, 0, 0, &norms[2 * l], &L->d_attn_norm);
        for (int t = 0; t < LORA_N_TARGETS && !bad; t++) {
            int out, in;
            target_dims(c, t, &out, &in);
            bad = bad || plist_add(&p, (snprintf(nm, sizeof nm, "model.layers.%d.%s.weight", l, HF_PROJ[t]), nm), 2, out,
                                   in, 1, &wdata[l * LORA_N_TARGETS + t], &L->lin[t].dw);
            if (t <= LORA_V)
                bad = bad || plist_add(&p, (snprintf(nm, sizeof nm, "model.layers.%d.%s.bias", l, HF_PROJ[t]), nm), 1,
                                       out, 0, 0, &bdata[l * 3 + t], &L->lin[t].db);
            if (t == LORA_O)
                bad = bad || plist_add(&p, P("post_attention_layernorm.weight"), 1, C, 0, 0, &norms[2 * l + 1],
                                       &L->d_ffn_norm);
        }
#undef P
    }
    bad = bad || plist_add(&p, "model.norm.weight", 1, C, 0, 0, &out_norm, &m->d_out_norm);
    if (!c->tied) bad = bad || plist_add(&p, "lm_head.weight", 2, V, C, 1, &head, &m->d_head);
    if (bad || params_build(m, &p)) {
        free(p.v); free(wdata); free(bdata); free(norms);
        tm_free(m);
        sa_fail(err, "out of memory for parameters");
        return NULL;
    }
    free(p.v);
    m->embd = tg_f32_mat(embd, V, C);
    m->out_norm = out_norm;
    if (c->tied) { m->head = m->embd; m->d_head = m->d_embd; }
    else m->head = tg_f32_mat(head, V, C);
    for (int l = 0; l < c->n_layer; l++) {
        tlayer *L = &m->layers[l];
        L->attn_norm = norms[2 * l];
        L->ffn_norm = norms[2 * l + 1];
        for (int t = 0; t < LORA_N_TARGETS; t++) {
            int out, in;
            target_dims(c, t, &out, &in);
            L->lin[t].w = tg_f32_mat(wdata[l * LORA_N_TARGETS + t], out, in);
            if (t <= LORA_V) L->lin[t].b = bdata[l * 3 + t];
        }
    }
    free(wdata); free(bdata); free(norms);
    m->tp = tp_create(n_threads > 0 ? n_threads : tp_default_threads());
    m->own_tp = 1;
    if (!m->tp) { tm_free(m); sa_fail(err, "cannot start threads"); return NULL; }
    if (tm_finish(m, err)) { tm_free(m); return NULL; }
    return m;
}

tmodel *tm_new_lora(const model *base, const tm_lora_opts *lo, int max_tokens, int max_seq, sa_err *err) {
    const qwen2_config *c = &base->cfg;
    if (lo->rank <= 0 || lo->rank > LORA_MAX_RANK) { sa_fail(err, "--rank %d is outside [1, %d]", lo->rank, LORA_MAX_RANK); return NULL; }
    if (!lo->targets) { sa_fail(err, "--targets selects no projection"); return NULL; }
    tmodel *m = tm_alloc(c, max_tokens, max_seq, err);
    if (!m) return NULL;
    m->mode = TM_LORA;
    m->lora = *lo;
    m->base = base;
    m->tp = base->tp;
    m->embd = base->tok_embd;
    m->head = base->output;
    m->out_norm = base->out_norm;
    float s = lo->rslora ? lo->alpha / sqrtf((float)lo->rank) : lo->alpha / (float)lo->rank;
    plist p = {0};
    int bad = 0;
    char nm[112];
    for (int l = 0; l < c->n_layer; l++) {
        tlayer *L = &m->layers[l];
        const qwen2_layer *B = &base->layers[l];
        L->attn_norm = B->attn_norm;
        L->ffn_norm = B->ffn_norm;
        const wmat *ws[LORA_N_TARGETS] = { &B->wq, &B->wk, &B->wv, &B->wo, &B->w_gate, &B->w_up, &B->w_down };
        const float *bs[LORA_N_TARGETS] = { B->bq, B->bk, B->bv, NULL, NULL, NULL, NULL };
        for (int t = 0; t < LORA_N_TARGETS; t++) {
            tlin *li = &L->lin[t];
            li->w = *ws[t];
            li->b = bs[t];
            if (!(lo->targets >> t & 1)) continue;
            int out, in;
            target_dims(c, t, &out, &in);
            li->rank = lo->rank;
            li->s = s;
            snprintf(nm, sizeof nm, "base_model.model.model.layers.%d.%s.lora_A.weight", l, HF_PROJ[t]);
            bad = bad || plist_add(&p, nm, 2, lo->rank, in, 1, &li->A, &li->dA);
            snprintf(nm, sizeof nm, "base_model.model.model.layers.%d.%s.lora_B.weight", l, HF_PROJ[t]);
            bad = bad || plist_add(&p, nm, 2, out, lo->rank, 1, &li->B, &li->dB);
        }
    }
    if (bad || params_build(m, &p)) {
        free(p.v);
        tm_free(m);
        sa_fail(err, "out of memory for LoRA parameters");
        return NULL;
    }
    free(p.v);
    if (tm_finish(m, err)) { tm_free(m); return NULL; }
    return m;
}

void tm_free(tmodel *m) {
    if (!m) return;
    acts_free(m->acts);
    tg_free(&m->g);
    if (m->own_tp) tp_destroy(m->tp);
    free(m->rope_cos);
    free(m->rope_sin);
    free(m->params);
    free(m->pbuf);
    free(m->gbuf);
    free(m->layers);
    free(m);
}

void tm_init_weights(tmodel *m, trng *r) {
    for (int i = 0; i < m->n_params; i++) {
        tparam *p = &m->params[i];
        if (m->mode == TM_LORA) {
            if (strstr(p->name, ".lora_A.")) {
                /* kaiming_uniform_(a=√5) on [r][in]: bound = √(6/((1+5)·in)) = 1/√in */
                double bound = 1.0 / sqrt((double)p->shape[1]);
                for (size_t j = 0; j < p->n; j++) p->data[j] = (float)((2.0 * trng_uniform(r) - 1.0) * bound);
            } else {
                memset(p->data, 0, p->n * sizeof(float));
            }
            continue;
        }
        if (p->n_dims == 2) {
            for (size_t j = 0; j < p->n; j++) p->data[j] = (float)(0.02 * trng_normal(r));
        } else if (strstr(p->name, "norm")) {
            for (size_t j = 0; j < p->n; j++) p->data[j] = 1.0f;
        } else {
            memset(p->data, 0, p->n * sizeof(float));
        }
    }
}

void tm_zero_grad(tmodel *m) { memset(m->gbuf, 0, m->n_values * sizeof(float)); }

/* ---- embedding ------------------------------------------------------------------ */

typedef struct emb_job {
    const tmodel *m;
    const int32_t *tokens;
    float *x;          /* [N][C] */
    float *dE;         /* [V][C] */
    const float *dx;   /* [N][C] */
    int N;
} emb_job;

static void embed_fwd_rows(void *ctx, int b, int e, int ith) {
    const emb_job *j = ctx;
    const wmat *E = &j->m->embd;
    int C = j->m->cfg.n_embd;
    for (int t = b; t < e; t++)
        kern_dequant_row(E->type, (const uint8_t *)E->data + (size_t)j->tokens[t] * E->row_bytes, j->x + (size_t)t * C, C);
}

/* Column blocks of dE, tokens in order: a row hit twice sums in token order. */
static void embed_bwd_cols(void *ctx, int b, int e, int ith) {
    const emb_job *j = ctx;
    int C = j->m->cfg.n_embd, c0 = b * 64, c1 = e * 64 < C ? e * 64 : C;
    for (int t = 0; t < j->N; t++) {
        float *d = j->dE + (size_t)j->tokens[t] * C;
        const float *g = j->dx + (size_t)t * C;
        for (int i = c0; i < c1; i++) d[i] += g[i];
    }
}

/* ---- rmsnorm ------------------------------------------------------------------------ */

typedef struct rms_job {
    float *y, *rstd, *dx, *dw;
    const float *x, *w, *dy;
    int N, C, accumulate;
    float eps;
} rms_job;

static void rms_fwd_rows(void *ctx, int b, int e, int ith) {
    const rms_job *j = ctx;
    int C = j->C;
    for (int t = b; t < e; t++) {
        const float *x = j->x + (size_t)t * C;
        float *y = j->y + (size_t)t * C;
        float ss = 0;
        for (int i = 0; i < C; i++) ss += x[i] * x[i];
        float r = 1.0f / sqrtf(ss / (float)C + j->eps);
        j->rstd[t] = r;
        for (int i = 0; i < C; i++) y[i] = j->w[i] * (x[i] * r);
    }
}

static void rms_bwd_rows(void *ctx, int b, int e, int ith) {
    const rms_job *j = ctx;
    int C = j->C;
    for (int t = b; t < e; t++) {
        const float *x = j->x + (size_t)t * C, *dy = j->dy + (size_t)t * C;
        float *dx = j->dx + (size_t)t * C;
        float r = j->rstd[t], dot = 0;
        for (int i = 0; i < C; i++) dot += dy[i] * j->w[i] * x[i];
        float k = r * r * r * dot / (float)C;
        if (j->accumulate)
            for (int i = 0; i < C; i++) dx[i] += r * j->w[i] * dy[i] - k * x[i];
        else
            for (int i = 0; i < C; i++) dx[i] = r * j->w[i] * dy[i] - k * x[i];
    }
}

/* Blocks of 64 columns of dw, tokens summed in order. */
static void rms_bwd_w_cols(void *ctx, int b, int e, int ith) {
    const rms_job *j = ctx;
    int C = j->C;
    for (int blk = b; blk < e; blk++) {
        int c0 = blk * 64, c1 = c0 + 64 < C ? c0 + 64 : C;
        float acc[64] = {0};
        for (int t = 0; t < j->N; t++) {
            const float *x = j->x + (size_t)t * C, *dy = j->dy + (size_t)t * C;
            float r = j->rstd[t];
            for (int i = c0; i < c1; i++) acc[i - c0] += dy[i] * (x[i] * r);
        }
        for (int i = c0; i < c1; i++) j->dw[i] += acc[i - c0];
    }
}

static void rms_fwd(tmodel *m, float *y, float *rstd, const float *x, const float *w, int N) {
    rms_job j = { y, rstd, NULL, NULL, x, w, NULL, N, m->cfg.n_embd, 0, m->cfg.rms_eps };
    tp_run(m->tp, N, rms_fwd_rows, &j);
}

/* dx (+)= ∂/∂x of Σ dy⊙y; dw += ∂/∂w (when dw is non-NULL). */
static void rms_bwd(tmodel *m, float *dx, float *dw, const float *dy, const float *x, const float *rstd, const float *w,
                    int N, int accumulate) {
    int C = m->cfg.n_embd;
    rms_job j = { NULL, (float *)rstd, dx, dw, x, w, dy, N, C, accumulate, m->cfg.rms_eps };
    if (dw) tp_run(m->tp, (C + 63) / 64, rms_bwd_w_cols, &j);
    if (dx) tp_run(m->tp, N, rms_bwd_rows, &j);
}

/* ---- linear + LoRA ----------------------------------------------------------------------- */

static void lin_fwd(tmodel *m, const tlin *L, float *y, const float *x, int N, float *u) {
    tg_linear_fwd(&m->g, y, x, N, &L->w, L->b);
    if (!L->rank) return;
    int out = L->w.rows, in = L->w.cols, r = L->rank;
    wmat A = tg_f32_mat(L->A, r, in), B = tg_f32_mat(L->B, out, r);
    float *tmp = m->acts->tmp;
    tg_linear_fwd(&m->g, u, x, N, &A, NULL);
    tg_linear_fwd(&m->g, tmp, u, N, &B, NULL);
    for (size_t i = 0; i < (size_t)N * out; i++) y[i] += L->s * tmp[i];
}

/* Gradients of one linear map given dy [N][out]: its parameters', and
** dx [N][in] (= or += by accumulate) when dx is non-NULL. */
static void lin_bwd(tmodel *m, const tlin *L, float *dx, int accumulate, const float *dy, const float *x, int N,
                    const float *u) {
    int out = L->w.rows, in = L->w.cols;
    if (L->dw) tg_linear_bwd_w(&m->g, L->dw, dy, x, N, out, in);
    if (L->db) tg_bias_bwd(&m->g, L->db, dy, N, out);
    if (dx) tg_linear_bwd_x(&m->g, dx, dy, N, &L->w, accumulate);
    if (!L->rank) return;
    int r = L->rank;
    float *su = m->acts->su, *du = m->acts->du;
    for (size_t i = 0; i < (size_t)N * r; i++) su[i] = L->s * u[i];
    tg_linear_bwd_w(&m->g, L->dB, dy, su, N, out, r);
    wmat A = tg_f32_mat(L->A, r, in), B = tg_f32_mat(L->B, out, r);
    tg_linear_bwd_x(&m->g, du, dy, N, &B, 0);
    for (size_t i = 0; i < (size_t)N * r; i++) du[i] *= L->s;
    tg_linear_bwd_w(&m->g, L->dA, du, x, N, r, in);
    if (dx) tg_linear_bwd_x(&m->g, dx, du, N, &A, 1);
}

/* ---- rope ------------------------------------------------------------------------------------ */

typedef struct rope_job {
    const tmodel *m;
    float *v;          /* [N][n_heads·D] */
    int n_heads, dir;  /* dir +1: rotate (forward); -1: rotate back (backward) */
} rope_job;

static void rope_rows(void *ctx, int b, int e, int ith) {
    const rope_job *j = ctx;
    const tmodel *m = j->m;
    int D = m->cfg.head_dim, half = D / 2, W = j->n_heads * D;
    for (int t = b; t < e; t++) {
        const float *cs = m->rope_cos + (size_t)m->acts->pos[t] * half, *sn = m->rope_sin + (size_t)m->acts->pos[t] * half;
        for (int h = 0; h < j->n_heads; h++) {
            float *p = j->v + (size_t)t * W + (size_t)h * D;
            for (int i = 0; i < half; i++) {
                float a = p[i], bb = p[i + half], s = j->dir > 0 ? sn[i] : -sn[i];
                p[i] = a * cs[i] - bb * s;
                p[i + half] = bb * cs[i] + a * s;
            }
        }
    }
}

static void rope(tmodel *m, float *v, int n_heads, int N, int dir) {
    rope_job j = { m, v, n_heads, dir };
    tp_run(m->tp, N, rope_rows, &j);
}

/* ---- attention -------------------------------------------------------------------------------- */

typedef struct attn_job {
    const tmodel *m;
    const tbatch *b;
    const float *q, *k, *v, *lse_in, *dout;
    float *out, *lse, *dq, *dk, *dv;
} attn_job;

/* The keys token t sees, in order: the shared part [s0, ctx_end[t]) (none
** when ctx_end[t] <= s0), then its own run [run_start[t], t] (tmodel.h:
** tbatch). Two runs of consecutive rows, so scores and sums over them are
** short matrix products (kernels.h: kern_matvec, kern_matvec_t,
** kern_outer_add). Returns the number of keys; *n0 of them in the shared part. */
static inline int key_runs(const tacts *a, int s0, int t, int *n0) {
    int ce = a->ctx_end[t];
    *n0 = ce > s0 ? ce - s0 : 0;
    assert(*n0 == 0 || ce <= a->run_start[t]);
    return *n0 + t + 1 - a->run_start[t];
}

/* One (token, head) per item: softmax over the keys the token sees. */
static void attn_fwd_items(void *ctx, int begin, int end, int ith) {
    const attn_job *j = ctx;
    const tacts *a = j->m->acts;
    const qwen2_config *c = &j->m->cfg;
    int H = c->n_head, D = c->head_dim, C = c->n_embd, KV = c->n_head_kv * D, grp = c->n_head / c->n_head_kv;
    float *sc = a->att_scratch + (size_t)ith * 2 * j->m->max_seq;   /* [keys of t] */
    float scale = 1.0f / sqrtf((float)D);
    for (int it = begin; it < end; it++) {
        int t = it / H, h = it % H, g = h / grp;
        int s0 = j->b->seq_start[a->seq_of[t]], n0, n = key_runs(a, s0, t, &n0), rb = a->run_start[t];
        const float *q = j->q + (size_t)t * C + (size_t)h * D;
        const float *k0 = j->k + (size_t)s0 * KV + (size_t)g * D, *k1 = j->k + (size_t)rb * KV + (size_t)g * D;
        kern_matvec(sc, scale, k0, (size_t)KV, q, n0, D);
        kern_matvec(sc + n0, scale, k1, (size_t)KV, q, n - n0, D);
        float mx = -INFINITY;
        for (int p = 0; p < n; p++) if (sc[p] > mx) mx = sc[p];
        float sum = kern_exp_sub(sc, n, mx), inv = 1.0f / sum;
        float *o = j->out + (size_t)t * C + (size_t)h * D;
        memset(o, 0, (size_t)D * sizeof *o);
        kern_matvec_t(o, inv, j->v + (size_t)s0 * KV + (size_t)g * D, (size_t)KV, sc, n0, D);
        kern_matvec_t(o, inv, j->v + (size_t)rb * KV + (size_t)g * D, (size_t)KV, sc + n0, n - n0, D);
        j->lse[(size_t)t * H + h] = mx + logf(sum);
    }
}

/* One (sequence, KV head) per item: it owns dk and dv of that head in that
** sequence, and dq of the query heads that share it, so no two items write
** the same gradient. The probabilities come back from the log-sum-exp:
**   P = exp(q·k/√D − lse), dP = dout·v, dS = P ⊙ (dP − Σ P⊙dP),
**   dq = Σ dS·k/√D, dk += dS·q/√D, dv += P·dout. */
static void attn_bwd_items(void *ctx, int begin, int end, int ith) {
    const attn_job *j = ctx;
    const tacts *a = j->m->acts;
    const qwen2_config *c = &j->m->cfg;
    int H = c->n_head, G = c->n_head_kv, D = c->head_dim, C = c->n_embd, KV = G * D, grp = H / G;
    float *P = a->att_scratch + (size_t)ith * 2 * j->m->max_seq, *dS = P + j->m->max_seq;   /* [keys of t] */
    float scale = 1.0f / sqrtf((float)D);
    for (int it = begin; it < end; it++) {
        int s = it / G, g = it % G, s0 = j->b->seq_start[s], s1 = j->b->seq_start[s + 1];
        for (int t = s0; t < s1; t++) {
            memset(j->dk + (size_t)t * KV + (size_t)g * D, 0, (size_t)D * sizeof(float));
            memset(j->dv + (size_t)t * KV + (size_t)g * D, 0, (size_t)D * sizeof(float));
        }
        for (int h = g * grp; h < (g + 1) * grp; h++) {
            for (int t = s0; t < s1; t++) {
                const float *q = j->q + (size_t)t * C + (size_t)h * D, *dout = j->dout + (size_t)t * C + (size_t)h * D;
                int n0, n = key_runs(a, s0, t, &n0), n1 = n - n0;
                size_t off0 = (size_t)s0 * KV + (size_t)g * D, off1 = (size_t)a->run_start[t] * KV + (size_t)g * D;
                kern_matvec(P, scale, j->k + off0, (size_t)KV, q, n0, D);
                kern_matvec(P + n0, scale, j->k + off1, (size_t)KV, q, n1, D);
                kern_exp_sub(P, n, j->lse_in[(size_t)t * H + h]);
                kern_matvec(dS, 1.0f, j->v + off0, (size_t)KV, dout, n0, D);   /* dP, made dS in place */
                kern_matvec(dS + n0, 1.0f, j->v + off1, (size_t)KV, dout, n1, D);
                float dsum = 0;
                for (int p = 0; p < n; p++) dsum += P[p] * dS[p];
                for (int p = 0; p < n; p++) dS[p] = P[p] * (dS[p] - dsum) * scale;
                float *dq = j->dq + (size_t)t * C + (size_t)h * D;
                memset(dq, 0, (size_t)D * sizeof *dq);
                kern_matvec_t(dq, 1.0f, j->k + off0, (size_t)KV, dS, n0, D);
                kern_matvec_t(dq, 1.0f, j->k + off1, (size_t)KV, dS + n0, n1, D);
                kern_outer_add(j->dk + off0, (size_t)KV, dS, n0, q, D);
                kern_outer_add(j->dk + off1, (size_t)KV, dS + n0, n1, q, D);
                kern_outer_add(j->dv + off0, (size_t)KV, P, n0, dout, D);
                kern_outer_add(j->dv + off1, (size_t)KV, P + n0, n1, dout, D);
            }
        }
    }
}

/* ---- swiglu ------------------------------------------------------------------------------------- */

typedef struct glu_job {
    float *gate, *up, *h, *dh, *dgate, *dup;
    int F;
} glu_job;

static void glu_fwd_rows(void *ctx, int b, int e, int ith) {
    const glu_job *j = ctx;
    for (size_t i = (size_t)b * j->F; i < (size_t)e * j->F; i++) {
        float g = j->gate[i];
        j->h[i] = g / (1.0f + expf(-g)) * j->up[i];
    }
}

static void glu_bwd_rows(void *ctx, int b, int e, int ith) {
    const glu_job *j = ctx;
    for (size_t i = (size_t)b * j->F; i < (size_t)e * j->F; i++) {
        float g = j->gate[i], sig = 1.0f / (1.0f + expf(-g)), silu = g * sig;
        j->dgate[i] = j->dh[i] * j->up[i] * (sig * (1.0f + g * (1.0f - sig)));
        j->dup[i] = j->dh[i] * silu;
    }
}

/* ---- loss ------------------------------------------------------------------------------------------ */

typedef struct ce_job {
    float *logits;            /* [n][V]; replaced by dlogits when backward */
    const int32_t *targets;   /* [n] */
    double *row_loss;         /* [n] */
    int V, backward;
    float scale;
} ce_job;

static void ce_rows(void *ctx, int b, int e, int ith) {
    const ce_job *j = ctx;
    for (int r = b; r < e; r++) {
        float *l = j->logits + (size_t)r * j->V;
        float mx = -INFINITY;
        for (int i = 0; i < j->V; i++) if (l[i] > mx) mx = l[i];
        /* one expf per logit, kept for the gradient; the sum in double
        ** because V is large */
        float target = l[j->targets[r]];
        double sum = 0;
        for (int i = 0; i < j->V; i++) {
            float ex = expf(l[i] - mx);
            l[i] = ex;
            sum += ex;
        }
        j->row_loss[r] = (double)mx + log(sum) - (double)target;
        if (!j->backward) continue;
        float k = (float)(1.0 / sum) * j->scale;
        for (int i = 0; i < j->V; i++) l[i] *= k;
        l[j->targets[r]] -= j->scale;
    }
}

/* ---- the pass ------------------------------------------------------------------------------------- */

static int check_batch(const tmodel *m, const tbatch *b, sa_err *err) {
    if (b->n_tok <= 0 || b->n_seq <= 0) return sa_fail(err, "empty micro-batch");
    if (b->n_tok > m->max_tokens) return sa_fail(err, "micro-batch of %d tokens exceeds the capacity %d", b->n_tok, m->max_tokens);
    if (b->seq_start[0] != 0 || b->seq_start[b->n_seq] != b->n_tok) return sa_fail(err, "micro-batch sequence offsets are inconsistent");
    if (!b->ctx_end != !b->run_start) return sa_fail(err, "micro-batch: ctx_end and run_start come together");
    for (int s = 0; s < b->n_seq; s++) {
        int s0 = b->seq_start[s], s1 = b->seq_start[s + 1], n = s1 - s0;
        if (n <= 0 || (!b->ctx_end && n > m->max_seq))
            return sa_fail(err, "sequence %d of the micro-batch has %d tokens (1..%d allowed)", s, n, m->max_seq);
        if (!b->ctx_end) continue;
        for (int t = s0; t < s1; t++) {
            int ce = b->ctx_end[t], rs = b->run_start[t];
            if (!(s0 <= ce && ce <= rs && rs <= t && (ce == s0 || b->run_start[ce - 1] == s0)))
                return sa_fail(err, "token %d of the micro-batch: shared part [%d, %d) and run from %d do not fit its sequence [%d, %d)",
                               t, s0, ce, rs, s0, s1);
            if ((ce - s0) + (t - rs) >= m->max_seq)
                return sa_fail(err, "token %d of the micro-batch is at position %d (below %d allowed)", t, (ce - s0) + (t - rs), m->max_seq);
        }
    }
    for (int t = 0; t < b->n_tok; t++) {
        if (b->tokens[t] < 0 || b->tokens[t] >= m->cfg.n_vocab)
            return sa_fail(err, "token id %d at position %d is out of range [0, %d)", b->tokens[t], t, m->cfg.n_vocab);
        if (b->targets[t] < -1 || b->targets[t] >= m->cfg.n_vocab)
            return sa_fail(err, "target id %d at position %d is out of range", b->targets[t], t);
    }
    return 0;
}

/* dst = a + b (the residual adds). */
static void add_into(float *dst, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = a[i] + b[i];
}

int tm_forward_backward(tmodel *m, const tbatch *b, float loss_scale, int backward, double *loss_sum, int *n_loss,
                        sa_err *err) {
    if (check_batch(m, b, err)) return -1;
    const qwen2_config *c = &m->cfg;
    tacts *a = m->acts;
    int N = b->n_tok, C = c->n_embd, F = c->n_ff, H = c->n_head, G = c->n_head_kv;
    int V = c->n_vocab, nL = c->n_layer;
    for (int s = 0; s < b->n_seq; s++)
        for (int t = b->seq_start[s]; t < b->seq_start[s + 1]; t++) {
            int s0 = b->seq_start[s];
            a->seq_of[t] = s;
            a->ctx_end[t] = b->ctx_end ? b->ctx_end[t] : s0;
            a->run_start[t] = b->run_start ? b->run_start[t] : s0;
            a->pos[t] = (a->ctx_end[t] - s0) + (t - a->run_start[t]);
        }

    /* ---- forward ---- */
    emb_job ej = { m, b->tokens, a->l[0].x_in, m->d_embd, a->dres, N };
    tp_run(m->tp, N, embed_fwd_rows, &ej);
    for (int l = 0; l < nL; l++) {
        const tlayer *L = &m->layers[l];
        tlayer_acts *la = &a->l[l];
        float *x_next = l + 1 < nL ? a->l[l + 1].x_in : a->x_out;
        rms_fwd(m, la->xn1, la->rstd1, la->x_in, L->attn_norm, N);
        lin_fwd(m, &L->lin[LORA_Q], la->q, la->xn1, N, la->u[LORA_Q]);
        lin_fwd(m, &L->lin[LORA_K], la->k, la->xn1, N, la->u[LORA_K]);
        lin_fwd(m, &L->lin[LORA_V], la->v, la->xn1, N, la->u[LORA_V]);
        rope(m, la->q, H, N, +1);
        rope(m, la->k, G, N, +1);
        attn_job aj = { m, b, la->q, la->k, la->v, NULL, NULL, la->att, la->lse, NULL, NULL, NULL };
        tp_run(m->tp, N * H, attn_fwd_items, &aj);
        lin_fwd(m, &L->lin[LORA_O], a->dxn, la->att, N, la->u[LORA_O]);      /* dxn: scratch for the projection */
        add_into(la->x_mid, la->x_in, a->dxn, (size_t)N * C);
        rms_fwd(m, la->xn2, la->rstd2, la->x_mid, L->ffn_norm, N);
        lin_fwd(m, &L->lin[LORA_GATE], la->gate, la->xn2, N, la->u[LORA_GATE]);
        lin_fwd(m, &L->lin[LORA_UP], la->up, la->xn2, N, la->u[LORA_UP]);
        glu_job gj = { la->gate, la->up, la->hact, NULL, NULL, NULL, F };
        tp_run(m->tp, N, glu_fwd_rows, &gj);
        lin_fwd(m, &L->lin[LORA_DOWN], a->dxn, la->hact, N, la->u[LORA_DOWN]);
        add_into(x_next, la->x_mid, a->dxn, (size_t)N * C);
    }
    rms_fwd(m, a->xnf, a->rstdf, a->x_out, m->out_norm, N);

    /* ---- loss (and its gradient into dxn), chunk by chunk ---- */
    int n_sel = 0;
    for (int t = 0; t < N; t++)
        if (b->targets[t] >= 0) a->sel[n_sel++] = t;
    if (backward) memset(a->dxn, 0, (size_t)N * C * sizeof(float));
    double total = 0;
    int32_t tg[128];
    assert(a->ch <= 128);
    for (int i0 = 0; i0 < n_sel; i0 += a->ch) {
        int n = n_sel - i0 < a->ch ? n_sel - i0 : a->ch;
        for (int i = 0; i < n; i++) {
            memcpy(a->xsel + (size_t)i * C, a->xnf + (size_t)a->sel[i0 + i] * C, (size_t)C * sizeof(float));
            tg[i] = b->targets[a->sel[i0 + i]];
        }
        tg_linear_fwd(&m->g, a->logits, a->xsel, n, &m->head, NULL);
        ce_job cj = { a->logits, tg, a->row_loss, V, backward, loss_scale };
        tp_run(m->tp, n, ce_rows, &cj);
        for (int i = 0; i < n; i++) total += a->row_loss[i];
        if (!backward) continue;
        if (m->d_head) tg_linear_bwd_w(&m->g, m->d_head, a->logits, a->xsel, n, V, C);
        tg_linear_bwd_x(&m->g, a->dxsel, a->logits, n, &m->head, 0);
        for (int i = 0; i < n; i++)
            memcpy(a->dxn + (size_t)a->sel[i0 + i] * C, a->dxsel + (size_t)i * C, (size_t)C * sizeof(float));
    }
    *loss_sum += total;
    *n_loss += n_sel;
    if (!backward) return 0;

    /* ---- backward ---- */
    rms_bwd(m, a->dres, m->d_out_norm, a->dxn, a->x_out, a->rstdf, m->out_norm, N, 0);
    for (int l = nL - 1; l >= 0; l--) {
        const tlayer *L = &m->layers[l];
        tlayer_acts *la = &a->l[l];
        /* the layer's input needs a gradient unless nothing below it trains */
        int need_in = m->mode == TM_FULL || l > 0;
        /* MLP: dres is the gradient of x_next = x_mid + down(h) */
        lin_bwd(m, &L->lin[LORA_DOWN], a->dh, 0, a->dres, la->hact, N, la->u[LORA_DOWN]);
        glu_job gj = { la->gate, la->up, NULL, a->dh, a->dgate, a->dup, F };
        tp_run(m->tp, N, glu_bwd_rows, &gj);
        lin_bwd(m, &L->lin[LORA_GATE], a->dxn, 0, a->dgate, la->xn2, N, la->u[LORA_GATE]);
        lin_bwd(m, &L->lin[LORA_UP], a->dxn, 1, a->dup, la->xn2, N, la->u[LORA_UP]);
        rms_bwd(m, a->dres, L->d_ffn_norm, a->dxn, la->x_mid, la->rstd2, L->ffn_norm, N, 1);
        /* attention: dres is now the gradient of x_mid = x_in + o(att) */
        lin_bwd(m, &L->lin[LORA_O], a->datt, 0, a->dres, la->att, N, la->u[LORA_O]);
        attn_job aj = { m, b, la->q, la->k, la->v, la->lse, a->datt, NULL, NULL, a->dq, a->dk, a->dv };
        tp_run(m->tp, b->n_seq * G, attn_bwd_items, &aj);
        rope(m, a->dq, H, N, -1);
        rope(m, a->dk, G, N, -1);
        lin_bwd(m, &L->lin[LORA_Q], need_in ? a->dxn : NULL, 0, a->dq, la->xn1, N, la->u[LORA_Q]);
        lin_bwd(m, &L->lin[LORA_K], need_in ? a->dxn : NULL, 1, a->dk, la->xn1, N, la->u[LORA_K]);
        lin_bwd(m, &L->lin[LORA_V], need_in ? a->dxn : NULL, 1, a->dv, la->xn1, N, la->u[LORA_V]);
        if (need_in) rms_bwd(m, a->dres, L->d_attn_norm, a->dxn, la->x_in, la->rstd1, L->attn_norm, N, 1);
    }
    if (m->d_embd) tp_run(m->tp, (C + 63) / 64, embed_bwd_cols, &ej);
    return 0;
}

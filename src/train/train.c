/*
** train.c — the training loop (see train.h).
**
** One optimizer step takes batch × accum examples in the current epoch's
** order (crossing into the next epoch, reshuffled, when this one runs
** out), zeroes the gradients, runs forward + backward on each micro-batch
** with the loss scaled by 1 / (answer tokens in the whole step), so the
** accumulated gradient is that of the step's mean loss whatever the
** split, then clips by global norm and applies AdamW with the scheduled
** learning rate. Everything random (initial weights, shuffles) comes from
** one seeded generator whose state is checkpointed with the rest.
*/
#include "train.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../engine/kernels.h"
#include "../util/clock.h"
#include "../util/progress.h"
#include "ckpt.h"
#include "data.h"
#include "report.h"
#include "tio.h"

typedef struct run {
    const train_opts *o;
    model *base;                 /* lora */
    tokenizer *tok;              /* full: owned */
    tvocab vocab;                /* full */
    int end_id;
    tmodel *m;
    adamw opt;
    tdata data;
    tstate st;
    treport rep;
    int32_t *btok, *btgt;        /* [batch · seq_len] one micro-batch */
    int *bseq;                   /* [batch + 1] */
    int *bctx, *brun;            /* [batch · seq_len] the shared part and run of each token (share_prefix) */
    const texample **step_ex;    /* [batch · accum] the examples of one step */
    char *ckpt_path, *gguf_path, *run_json;
    int total_steps;
    int have_report;
} run;

static volatile sig_atomic_t g_interrupted;

static void on_sigint(int sig) {
    (void)sig;
    g_interrupted = 1;
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- settings that must match on resume ---------------------------------------------------- */

static char *run_settings(const run *r) {
    const train_opts *o = r->o;
    const qwen2_config *c = &r->m->cfg;
    json_t *j = json_object();
    json_object_set_new(j, "mode", json_string(o->mode == TM_LORA ? "lora" : "full"));
    json_t *mc = json_object();
    json_object_set_new(mc, "vocab", json_integer(c->n_vocab));
    json_object_set_new(mc, "hidden", json_integer(c->n_embd));
    json_object_set_new(mc, "ffn", json_integer(c->n_ff));
    json_object_set_new(mc, "layers", json_integer(c->n_layer));
    json_object_set_new(mc, "heads", json_integer(c->n_head));
    json_object_set_new(mc, "kv_heads", json_integer(c->n_head_kv));
    json_object_set_new(mc, "rope_theta", json_real(c->rope_theta));
    json_object_set_new(mc, "rms_eps", json_real(c->rms_eps));
    json_object_set_new(mc, "tied", json_boolean(c->tied));
    if (o->mode == TM_LORA) {
        json_object_set_new(mc, "weight_bytes", json_integer((json_int_t)model_weight_bytes(r->base)));
        json_object_set_new(mc, "dtype", json_string(o->dtype ? o->dtype : "as stored"));
        json_t *l = json_object();
        json_object_set_new(l, "rank", json_integer(o->lora.rank));
        json_object_set_new(l, "alpha", json_real(o->lora.alpha));
        json_object_set_new(l, "rslora", json_boolean(o->lora.rslora));
        json_object_set_new(l, "targets", json_integer(o->lora.targets));
        json_object_set_new(j, "lora", l);
    }
    json_object_set_new(j, "model", mc);
    json_t *op = json_object();
    json_object_set_new(op, "lr", json_real(o->opt.lr));
    json_object_set_new(op, "min_lr_ratio", json_real(o->opt.min_lr_ratio));
    json_object_set_new(op, "warmup", json_integer(r->opt.cfg.warmup));
    json_object_set_new(op, "total_steps", json_integer(r->total_steps));
    json_object_set_new(op, "beta1", json_real(o->opt.beta1));
    json_object_set_new(op, "beta2", json_real(o->opt.beta2));
    json_object_set_new(op, "eps", json_real(o->opt.eps));
    json_object_set_new(op, "weight_decay", json_real(o->opt.weight_decay));
    json_object_set_new(op, "clip", json_real(o->opt.clip));
    json_object_set_new(j, "optimizer", op);
    json_object_set_new(j, "batch", json_integer(o->batch));
    json_object_set_new(j, "accum", json_integer(o->accum));
    json_object_set_new(j, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(j, "seq_len", json_integer(o->seq_len));
    /* only when on, so runs without it keep the settings (and resume the checkpoints) they always had */
    if (o->share_prefix > 0) json_object_set_new(j, "share_prefix", json_integer(o->share_prefix));
    if (o->mode == TM_FULL) {
        json_object_set_new(j, "prompt_format", json_string(o->prompt_format ? o->prompt_format : "sql-create-context"));
        if (o->init_path) json_object_set_new(j, "init", json_string(o->init_path));
    }
    json_object_set_new(j, "isa", json_string(tg_isa()));
    /* only when bf16, so f32 runs keep the settings (and resume the checkpoints) they always had */
    if (o->precision == TG_BF16) json_object_set_new(j, "precision", json_string(tg_precision_name(TG_BF16)));
    json_t *d = json_object();
    char h[24];
    snprintf(h, sizeof h, "%016" PRIx64, r->data.hash);
    json_object_set_new(d, "n_train", json_integer(r->data.n_train));
    json_object_set_new(d, "n_val", json_integer(r->data.n_val));
    json_object_set_new(d, "fingerprint", json_string(h));
    json_object_set_new(j, "data", d);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}

/* ---- examples and micro-batches ----------------------------------------------------------------- */

static void shuffle(tstate *s) {
    for (int i = s->n_train - 1; i > 0; i--) {
        int j = (int)trng_below(&s->rng, (uint64_t)i + 1);
        int32_t t = s->order[i];
        s->order[i] = s->order[j];
        s->order[j] = t;
    }
}

typedef struct order_key {
    uint64_t group;
    int first, pos;      /* position of the group's first example in the shuffled order; of this one */
    int32_t ex;
} order_key;

static int cmp_group_pos(const void *a, const void *b) {
    const order_key *x = a, *y = b;
    if (x->group != y->group) return x->group < y->group ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

static int cmp_first_pos(const void *a, const void *b) {
    const order_key *x = a, *y = b;
    if (x->first != y->first) return (x->first > y->first) - (x->first < y->first);
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* An epoch's order. With share_prefix K, the examples of one context are
** made consecutive and cut into packs of at most K, and the packs are
** shuffled, so that build_batch finds them side by side; without, a plain
** shuffle. Both draw only from the run's generator (checkpointed). */
static void new_epoch_order(run *r) {
    tstate *s = &r->st;
    shuffle(s);
    int n = s->n_train, K = r->o->share_prefix;
    if (K <= 1 || n < 2) return;
    order_key *k = malloc((size_t)n * sizeof *k);
    int *pack = malloc((size_t)(n + 1) * sizeof *pack);
    int32_t *out = malloc((size_t)n * sizeof *out);
    if (!k || !pack || !out) { free(k); free(pack); free(out); return; }   /* plain shuffle: still a valid order */
    for (int i = 0; i < n; i++) k[i] = (order_key){ r->data.train[s->order[i]].group, 0, i, s->order[i] };
    qsort(k, (size_t)n, sizeof *k, cmp_group_pos);
    for (int i = 0; i < n; i++) k[i].first = i > 0 && k[i].group == k[i - 1].group ? k[i - 1].first : k[i].pos;
    qsort(k, (size_t)n, sizeof *k, cmp_first_pos);
    int np = 0;   /* pack[p]: index in k where pack p starts */
    for (int i = 0, run_len = 0; i < n; i++) {
        if (i == 0 || k[i].group != k[i - 1].group || run_len == K) { pack[np++] = i; run_len = 0; }
        run_len++;
    }
    pack[np] = n;
    int *perm = malloc((size_t)np * sizeof *perm);
    if (!perm) { free(k); free(pack); free(out); return; }
    for (int p = 0; p < np; p++) perm[p] = p;
    for (int p = np - 1; p > 0; p--) {
        int q = (int)trng_below(&s->rng, (uint64_t)p + 1), t = perm[p];
        perm[p] = perm[q];
        perm[q] = t;
    }
    int o = 0;
    for (int p = 0; p < np; p++)
        for (int i = pack[perm[p]]; i < pack[perm[p] + 1]; i++) out[o++] = k[i].ex;
    assert(o == n);
    memcpy(s->order, out, (size_t)n * sizeof *out);
    free(perm);
    free(k);
    free(pack);
    free(out);
}

static const texample *next_example(run *r) {
    tstate *s = &r->st;
    if (s->cursor == s->n_train) {
        s->epoch++;
        s->cursor = 0;
        new_epoch_order(r);
    }
    return &r->data.train[s->order[s->cursor++]];
}

/* Tokens at the start of a and b that are equal. */
static int common_prefix(const texample *a, const texample *b) {
    int n = a->n < b->n ? a->n : b->n, i = 0;
    while (i < n && a->ids[i] == b->ids[i]) i++;
    return i;
}

/* Packs examples into the micro-batch buffers: the inputs are every id but
** the last; position i's target is id i+1 when that id is part of the
** answer (or the end token), else -1. With share_prefix, consecutive
** examples of one context (at most share_prefix) become one sequence: the
** ids they all share, cut before the last prompt token of the shortest
** prompt (so no shared token has a target), once, then each example's
** remaining ids as its own run (tmodel.h: tbatch). */
static void build_batch(run *r, const texample *const *ex, int n, tbatch *b) {
    int N = 0, S = 0, K = r->o->share_prefix;
    r->bseq[0] = 0;
    for (int s = 0; s < n;) {
        int k = 1, shared = 0;
        if (K > 1) {
            shared = ex[s]->n_prompt - 1;
            while (s + k < n && k < K && ex[s + k]->group == ex[s]->group) {
                int c = common_prefix(ex[s], ex[s + k]);
                if (c > ex[s + k]->n_prompt - 1) c = ex[s + k]->n_prompt - 1;
                if (c < 1) break;
                if (c < shared) shared = c;
                k++;
            }
            if (k == 1) shared = 0;
        }
        int s0 = N;
        for (int i = 0; i < shared; i++) {   /* the shared prefix: prompt only, no targets */
            r->btok[N] = ex[s]->ids[i];
            r->btgt[N] = -1;
            r->bctx[N] = r->brun[N] = s0;
            N++;
        }
        for (int m = s; m < s + k; m++) {
            const texample *e = ex[m];
            assert(e->n_prompt >= 1 && e->n > e->n_prompt && shared < e->n_prompt);
            int rs = N;
            for (int i = shared; i + 1 < e->n; i++) {
                r->btok[N] = e->ids[i];
                r->btgt[N] = i + 1 >= e->n_prompt ? e->ids[i + 1] : -1;
                r->bctx[N] = s0 + shared;
                r->brun[N] = shared ? rs : s0;
                N++;
            }
        }
        r->bseq[++S] = N;
        s += k;
    }
    b->n_tok = N;
    b->n_seq = S;
    b->tokens = r->btok;
    b->targets = r->btgt;
    b->seq_start = r->bseq;
    b->ctx_end = K > 1 ? r->bctx : NULL;
    b->run_start = K > 1 ? r->brun : NULL;
}

/* Mean loss over the first val_max validation examples (−1 when there are none). */
static int evaluate(run *r, double *out, sa_err *err) {
    int n = r->data.n_val < r->o->val_max ? r->data.n_val : r->o->val_max;
    *out = -1;
    if (n <= 0) return 0;
    double sum = 0;
    int cnt = 0;
    const texample *ex[512];
    assert(r->o->batch <= 512);
    for (int i = 0; i < n; i += r->o->batch) {
        int k = n - i < r->o->batch ? n - i : r->o->batch;
        for (int j = 0; j < k; j++) ex[j] = &r->data.val[i + j];
        tbatch b;
        build_batch(r, ex, k, &b);
        if (tm_forward_backward(r->m, &b, 0.0f, 0, &sum, &cnt, err)) return -1;
    }
    *out = cnt ? sum / cnt : -1;
    return 0;
}

/* ---- --dump-grads ------------------------------------------------------------------------------------ */

static int dump_step(run *r, int step, double loss, double norm, double lr, const tbatch *batches, int n_micro,
                     sa_err *err) {
    const tmodel *m = r->m;
    char path[4096];
    snprintf(path, sizeof path, "%s/step-%06d.safetensors", r->o->dump_dir, step);
    int n = 5 * n_micro + 2 * m->n_params + 1, k = 0, rc = -1;
    st_entry *e = calloc((size_t)n, sizeof *e);
    char (*names)[160] = calloc((size_t)n, sizeof *names);
    /* the run settings ride along so the reference can rebuild the model and schedule */
    json_t *mj = json_object();
    json_object_set_new(mj, "step", json_integer(step));
    json_object_set_new(mj, "loss", json_real(loss));
    json_object_set_new(mj, "grad_norm", json_real(norm));
    json_object_set_new(mj, "lr", json_real(lr));
    json_object_set_new(mj, "n_micro", json_integer(n_micro));
    json_object_set_new(mj, "run", json_loads(r->run_json, 0, NULL));
    char *meta = json_dumps(mj, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(mj);
    if (!e || !names || !meta) { sa_fail(err, "out of memory"); goto out; }
    e[k++] = (st_entry){ "meta", "U8", 1, { (int64_t)strlen(meta), 0 }, meta };
    for (int i = 0; i < n_micro; i++) {
        const tbatch *b = &batches[i];
        snprintf(names[k], sizeof names[0], "batch.%d.tokens", i);
        e[k] = (st_entry){ names[k], "I32", 1, { b->n_tok, 0 }, b->tokens }; k++;
        snprintf(names[k], sizeof names[0], "batch.%d.targets", i);
        e[k] = (st_entry){ names[k], "I32", 1, { b->n_tok, 0 }, b->targets }; k++;
        snprintf(names[k], sizeof names[0], "batch.%d.seq_start", i);
        e[k] = (st_entry){ names[k], "I32", 1, { b->n_seq + 1, 0 }, b->seq_start }; k++;
        if (b->ctx_end) {
            snprintf(names[k], sizeof names[0], "batch.%d.ctx_end", i);
            e[k] = (st_entry){ names[k], "I32", 1, { b->n_tok, 0 }, b->ctx_end }; k++;
            snprintf(names[k], sizeof names[0], "batch.%d.run_start", i);
            e[k] = (st_entry){ names[k], "I32", 1, { b->n_tok, 0 }, b->run_start }; k++;
        }
    }
    for (int i = 0; i < m->n_params; i++) {
        const tparam *p = &m->params[i];
        int64_t sh[2] = { p->shape[0], p->n_dims == 2 ? p->shape[1] : 0 };
        snprintf(names[k], sizeof names[0], "param.%s", p->name);
        e[k] = (st_entry){ names[k], "F32", p->n_dims, { sh[0], sh[1] }, p->data }; k++;
        snprintf(names[k], sizeof names[0], "grad.%s", p->name);
        e[k] = (st_entry){ names[k], "F32", p->n_dims, { sh[0], sh[1] }, p->grad }; k++;
    }
    rc = st_save(path, e, k, err);
out:
    free(meta);
    free(e);
    free(names);
    return rc;
}

static int dump_final(run *r, sa_err *err) {
    const tmodel *m = r->m;
    char path[4096];
    snprintf(path, sizeof path, "%s/final.safetensors", r->o->dump_dir);
    st_entry *e = calloc((size_t)m->n_params, sizeof *e);
    char (*names)[160] = calloc((size_t)m->n_params, sizeof *names);
    int rc = -1;
    if (!e || !names) { sa_fail(err, "out of memory"); goto out; }
    for (int i = 0; i < m->n_params; i++) {
        const tparam *p = &m->params[i];
        snprintf(names[i], sizeof names[0], "param.%s", p->name);
        e[i] = (st_entry){ names[i], "F32", p->n_dims, { p->shape[0], p->n_dims == 2 ? p->shape[1] : 0 }, p->data };
    }
    rc = st_save(path, e, m->n_params, err);
out:
    free(e);
    free(names);
    return rc;
}

/* ---- saving -------------------------------------------------------------------------------------------- */

static int save_all(run *r, sa_err *err) {
    if (ckpt_save(r->ckpt_path, r->m, &r->opt, &r->st, r->run_json, err)) return -1;
    if (r->o->mode == TM_LORA) {
        if (tio_write_peft(r->o->out_dir, r->m, r->o->base_name ? r->o->base_name : r->o->model_path, err)) return -1;
    } else if (tio_write_gguf(r->gguf_path, r->m, &r->vocab, r->m->cfg.n_ctx_train, "sqlassist trained qwen2",
                              r->o->prompt_format, r->o->schema_tokens, r->o->schema_values, err)) {
        return -1;
    }
    if (r->have_report && report_svg(&r->rep, err)) return -1;
    return 0;
}

/* ---- setup ------------------------------------------------------------------------------------------------ */

static int setup_model(run *r, sa_err *err) {
    const train_opts *o = r->o;
    int max_tokens = o->batch * o->seq_len;
    if (o->mode == TM_LORA) {
        model_opts mo = { o->dtype, o->threads, 0 };
        if (!(r->base = model_load(o->model_path, &mo, err))) return -1;
        r->end_id = tok_lookup(r->base->tok, "<|endoftext|>");
        if (r->end_id < 0) return sa_fail(err, "%s: the tokenizer has no <|endoftext|> token (training appends it to every answer)", o->model_path);
        r->m = tm_new_lora(r->base, &o->lora, max_tokens, o->seq_len, err);
        return r->m ? 0 : -1;
    }
    if (tvocab_load(&r->vocab, o->tokenizer_path, o->vocab_limit, err)) return -1;
    char *tp = tio_join(o->out_dir, "tokenizer.gguf");
    if (!tp) return sa_fail(err, "out of memory");
    int rc = tvocab_write_gguf(&r->vocab, tp, err);
    if (rc == 0 && !(r->tok = tok_load(tp, err))) rc = -1;
    free(tp);
    if (rc) return -1;
    r->end_id = r->vocab.end_id;
    if (tok_lookup(r->tok, "<|endoftext|>") != r->end_id) return sa_fail(err, "internal: <|endoftext|> id differs after reload");
    qwen2_config c = o->cfg;
    c.n_vocab = r->vocab.n;
    r->m = tm_new_full(&c, o->threads, max_tokens, o->seq_len, err);
    return r->m ? 0 : -1;
}

static void run_free(run *r) {
    report_close(&r->rep);
    tm_free(r->m);
    adamw_free(&r->opt);
    tdata_free(&r->data);
    free(r->st.order);
    free(r->btok);
    free(r->btgt);
    free(r->bseq);
    free(r->bctx);
    free(r->brun);
    free(r->step_ex);
    free(r->ckpt_path);
    free(r->gguf_path);
    free(r->run_json);
    if (r->tok) tok_free(r->tok);
    tvocab_free(&r->vocab);
    model_free(r->base);
}

static void fmt_count(char *buf, size_t n, double v) {
    if (v >= 1e9) snprintf(buf, n, "%.2fG", v / 1e9);
    else if (v >= 1e6) snprintf(buf, n, "%.2fM", v / 1e6);
    else if (v >= 1e3) snprintf(buf, n, "%.1fk", v / 1e3);
    else snprintf(buf, n, "%.0f", v);
}

int train_run(const train_opts *o) {
    run R = { .o = o };
    run *r = &R;
    sa_err err = {{0}};
    kernels_init(getenv("SQLASSIST_ISA"));
    if (tio_mkdirs(o->out_dir, &err)) goto fail;
    if (o->dump_dir && tio_mkdirs(o->dump_dir, &err)) goto fail;
    if (setup_model(r, &err)) goto fail;
    if (tg_set_precision(&r->m->g, o->precision)) { sa_fail(&err, "--precision bf16: %s", tg_bf16_unavailable()); goto fail; }

    tdata_opts dopt = { o->data_path, o->mode == TM_LORA ? r->base->tok : r->tok, r->end_id, o->seq_len,
                        o->val_mod, o->limit, o->max_report, r->m->tp, o->mode == TM_FULL ? o->prompt_format : NULL };
    if (tdata_load(&r->data, &dopt, stderr, &err)) goto fail;
    char bad[256];
    tdata_bad_summary(&r->data, bad, sizeof bad);
    fprintf(stderr, "data: %s: %ld lines, %d training rows, %d validation rows, %ld skipped (%s)%s\n", o->data_path,
            r->data.n_lines, r->data.n_train, r->data.n_val, r->data.n_bad_total, bad,
            r->data.n_blank ? ", blank lines ignored" : "");

    int per_step = o->batch * o->accum;
    r->total_steps = o->steps > 0 ? o->steps : o->epochs * ((r->data.n_train + per_step - 1) / per_step);
    if (r->total_steps <= 0) r->total_steps = 1;
    adamw_cfg oc = o->opt;
    oc.total_steps = r->total_steps;
    if (oc.warmup < 0) oc.warmup = r->total_steps / 20;
    if (adamw_init(&r->opt, &oc, r->m)) { sa_fail(&err, "out of memory for the optimizer state"); goto fail; }
    r->btok = malloc((size_t)o->batch * o->seq_len * sizeof *r->btok);
    r->btgt = malloc((size_t)o->batch * o->seq_len * sizeof *r->btgt);
    r->bseq = malloc(((size_t)o->batch + 1) * sizeof *r->bseq);
    r->bctx = malloc((size_t)o->batch * o->seq_len * sizeof *r->bctx);
    r->brun = malloc((size_t)o->batch * o->seq_len * sizeof *r->brun);
    r->step_ex = malloc((size_t)per_step * sizeof *r->step_ex);
    r->st.n_train = r->data.n_train;
    r->st.order = malloc((size_t)r->data.n_train * sizeof *r->st.order);
    r->ckpt_path = tio_join(o->out_dir, "checkpoint.safetensors");
    r->gguf_path = tio_join(o->out_dir, "model.gguf");
    r->run_json = run_settings(r);
    if (!r->btok || !r->btgt || !r->bseq || !r->bctx || !r->brun || !r->step_ex || !r->st.order || !r->ckpt_path || !r->gguf_path || !r->run_json) {
        sa_fail(&err, "out of memory");
        goto fail;
    }

    /* fresh state: weights, then the first epoch's order, from one generator */
    trng_seed(&r->st.rng, o->seed);
    tm_init_weights(r->m, &r->st.rng);
    if (o->init_path && !o->resume) {
        size_t n = strlen(o->init_path);
        int is_gguf = n > 5 && !strcmp(o->init_path + n - 5, ".gguf");
        int stack = 1;
        if (is_gguf ? tio_read_gguf_weights(o->init_path, r->m, &stack, &err) : ckpt_load_weights(o->init_path, r->m, &err))
            goto fail;
        if (stack > 1)
            fprintf(stderr, "weights from %s, each of its %d layers followed by %d new one%s that start%s as the identity\n",
                    o->init_path, r->m->cfg.n_layer / stack, stack - 1, stack > 2 ? "s" : "", stack > 2 ? "" : "s");
        else fprintf(stderr, "weights from %s\n", o->init_path);
    }
    for (int i = 0; i < r->st.n_train; i++) r->st.order[i] = i;
    new_epoch_order(r);
    if (o->resume) {
        if (!file_exists(r->ckpt_path)) { sa_fail(&err, "--resume: %s does not exist", r->ckpt_path); goto fail; }
        if (ckpt_load(r->ckpt_path, r->m, &r->opt, &r->st, r->run_json, o->reschedule, &err)) goto fail;
        if (o->reschedule && r->st.step >= r->total_steps) {
            sa_fail(&err, "--reschedule: %s is at step %d, not before --steps %d", r->ckpt_path, r->st.step, r->total_steps);
            goto fail;
        }
        fprintf(stderr, "resumed from %s at step %d\n", r->ckpt_path, r->st.step);
        if (o->reschedule)
            fprintf(stderr, "learning rate from here: %.3g, cosine to step %d\n", lr_at(&r->opt.cfg, r->st.step + 1), r->total_steps);
    }
    char title[160];
    snprintf(title, sizeof title, "sqlassist train (%s) — %s", o->mode == TM_LORA ? "LoRA" : "full",
             o->mode == TM_LORA ? o->model_path : o->init_path ? "from earlier weights" : "from scratch");
    if (report_open(&r->rep, o->out_dir, r->st.step, r->total_steps, title, &err)) goto fail;
    r->have_report = 1;

    const qwen2_config *c = &r->m->cfg;
    char np[32];
    fmt_count(np, sizeof np, (double)r->m->n_values);
    fprintf(stderr, "model: %s, %d layers, hidden %d, ffn %d, heads %d/%d, vocab %d%s; %s parameters trained",
            o->mode == TM_LORA ? "LoRA over a frozen base" : o->init_path ? "full training from --init's weights" : "full training from scratch", c->n_layer, c->n_embd, c->n_ff,
            c->n_head, c->n_head_kv, c->n_vocab, o->mode == TM_FULL ? (c->tied ? ", tied head" : ", untied head") : "", np);
    if (o->mode == TM_LORA) fprintf(stderr, " (rank %d, alpha %g%s)", o->lora.rank, (double)o->lora.alpha, o->lora.rslora ? ", rsLoRA" : "");
    fprintf(stderr, "\nrun: %d steps of %d x %d sequences, lr %g, %d threads (%s, %s products%s%s), activations %.0f MiB\n",
            r->total_steps, o->accum, o->batch, o->opt.lr, tp_size(r->m->tp), tg_isa(), tg_precision_name(o->precision),
            o->precision == TG_BF16 ? " by " : "", o->precision == TG_BF16 ? tg_bf16_path() : "",
            (double)tm_act_bytes(r->m) / (1 << 20));

    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old_sa);
    g_interrupted = 0;

    int last = o->stop_at > 0 && o->stop_at < r->total_steps ? o->stop_at : r->total_steps;
    int first = r->st.step + 1;
    progress pr;
    char label[200] = "train";
    if (!o->quiet && first <= last) progress_start(&pr, label, last - first + 1);
    double t0 = clock_now_s(), last_val = -1, first_loss = NAN, loss = NAN;
    long run_tokens = 0;
    tbatch *batches = calloc((size_t)o->accum, sizeof *batches);
    int32_t *keep = calloc((size_t)o->accum * 4 * (size_t)o->batch * o->seq_len + (size_t)o->accum * (o->batch + 1), sizeof *keep);
    if (!batches || !keep) { free(batches); free(keep); sa_fail(&err, "out of memory"); goto fail_sig; }
    for (int step = first; step <= last; step++) {
        int total_tgt = 0;
        for (int i = 0; i < per_step; i++) {
            r->step_ex[i] = next_example(r);
            total_tgt += r->step_ex[i]->n - r->step_ex[i]->n_prompt;
        }
        tm_zero_grad(r->m);
        double sum = 0;
        int cnt = 0;
        int32_t *kp = keep;
        for (int a = 0; a < o->accum; a++) {
            tbatch b;
            build_batch(r, r->step_ex + (size_t)a * o->batch, o->batch, &b);
            if (tm_forward_backward(r->m, &b, 1.0f / (float)total_tgt, 1, &sum, &cnt, &err)) { free(batches); free(keep); goto fail_sig; }
            run_tokens += b.n_tok;
            r->st.tokens += b.n_tok;
            if (o->dump_dir) {
                /* the dump needs every micro-batch of the step: keep copies */
                memcpy(kp, b.tokens, (size_t)b.n_tok * 4);
                memcpy(kp + b.n_tok, b.targets, (size_t)b.n_tok * 4);
                memcpy(kp + 2 * b.n_tok, b.seq_start, (size_t)(b.n_seq + 1) * 4);
                batches[a] = (tbatch){ b.n_tok, b.n_seq, kp, kp + b.n_tok, (const int *)(kp + 2 * b.n_tok), NULL, NULL };
                kp += 2 * b.n_tok + b.n_seq + 1;
                if (b.ctx_end) {
                    memcpy(kp, b.ctx_end, (size_t)b.n_tok * 4);
                    memcpy(kp + b.n_tok, b.run_start, (size_t)b.n_tok * 4);
                    batches[a].ctx_end = (const int *)kp;
                    batches[a].run_start = (const int *)(kp + b.n_tok);
                    kp += 2 * b.n_tok;
                }
            }
        }
        assert(cnt == total_tgt);
        loss = sum / cnt;
        if (isnan(first_loss)) first_loss = loss;
        double norm = grad_norm(r->m), lr = lr_at(&r->opt.cfg, step);
        if (o->dump_dir && dump_step(r, step, loss, norm, lr, batches, o->accum, &err)) { free(batches); free(keep); goto fail_sig; }
        clip_grads(r->m, norm, o->opt.clip);
        adamw_step(&r->opt, r->m, step, lr);
        r->st.step = step;
        double val = -1;
        if ((o->val_every > 0 && step % o->val_every == 0) || step == r->total_steps) {
            if (evaluate(r, &val, &err)) { free(batches); free(keep); goto fail_sig; }
            if (val >= 0) last_val = val;
        }
        double el = clock_now_s() - t0, tps = el > 0 ? (double)run_tokens / el : 0;
        report_step(&r->rep, step, lr, loss, val, norm, r->st.tokens, tps, el);
        if (!o->quiet) {
            char vs[32] = "", ts[32];
            if (last_val >= 0) snprintf(vs, sizeof vs, " val %.3f", last_val);
            fmt_count(ts, sizeof ts, tps);
            snprintf(label, sizeof label, "train step %d loss %.3f%s %s tok/s", step, loss, vs, ts);
            progress_update(&pr, step - first + 1);
        }
        int stop = g_interrupted || step == last;
        if ((o->save_every > 0 && step % o->save_every == 0) || stop) {
            if (save_all(r, &err)) { free(batches); free(keep); goto fail_sig; }
        }
        if (g_interrupted) {
            if (!o->quiet) progress_end(&pr);
            fprintf(stderr, "interrupted: checkpoint saved at step %d; continue with --resume\n", step);
            free(batches);
            free(keep);
            sigaction(SIGINT, &old_sa, NULL);
            run_free(r);
            return 130;
        }
    }
    free(batches);
    free(keep);
    if (!o->quiet && first <= last) progress_end(&pr);
    if (first > last && save_all(r, &err)) goto fail_sig;
    if (o->dump_dir && dump_final(r, &err)) goto fail_sig;
    sigaction(SIGINT, &old_sa, NULL);
    double el = clock_now_s() - t0;
    if (last < r->total_steps)
        fprintf(stderr, "stopped at step %d of %d (--stop-at); continue with --resume\n", last, r->total_steps);
    if (first > last) {
        fprintf(stderr, "nothing to train: the checkpoint is at step %d of %d; outputs written again", last,
                r->total_steps);
    } else {
        fprintf(stderr, "trained steps %d..%d in %.1f s (%.0f tokens/s): loss %.4f -> %.4f", first, last, el,
                el > 0 ? (double)run_tokens / el : 0.0, first_loss, loss);
        if (last_val >= 0) fprintf(stderr, ", validation loss %.4f", last_val);
    }
    fprintf(stderr, "\nwrote %s, %s/metrics.jsonl, %s/loss.svg and %s\n", r->ckpt_path, o->out_dir, o->out_dir,
            o->mode == TM_LORA ? "the adapter (adapter_config.json, adapter_model.safetensors)" : r->gguf_path);
    run_free(r);
    return 0;
fail_sig:
    sigaction(SIGINT, &old_sa, NULL);
fail:
    fprintf(stderr, "sqlassist: %s\n", err.msg);
    run_free(r);
    return 1;
}

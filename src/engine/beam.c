/*
** beam.c — see beam.h.
*/
#include "beam.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../util/clock.h"
#include "batcher.h"

typedef struct beam {
    infer_state *st;    /* its KV cache: prompt + ids[0..n-1) (the last id not yet run) */
    int32_t *ids;       /* [n_predict] */
    int n;
    double lp;
    void *ud;
} beam;

typedef struct cand { double lp; int parent, id; } cand;

/* Best first; ties by lower token id, then earlier parent. */
static int cand_cmp(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->lp != y->lp) return x->lp > y->lp ? -1 : 1;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return x->parent - y->parent;
}

static int hyp_cmp(const void *a, const void *b) {
    const beam_hyp *x = a, *y = b;
    if (x->finished != y->finished) return y->finished - x->finished;
    if (x->logprob != y->logprob) return x->logprob > y->logprob ? -1 : 1;
    return 0;
}

static double log_sum_exp(const float *x, int n) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) if (x[i] > mx) mx = x[i];
    if (mx == -INFINITY) return -INFINITY;
    double s = 0;
    for (int i = 0; i < n; i++) s += exp((double)(x[i] - mx));
    return mx + log(s);
}

/* The k best allowed tokens of one beam into out[] (sorted best first),
** scored adj[id] - lse; allowed: work[id] finite. Returns how many. */
static int top_tokens(const float *work, const float *adj, double lse, int V, int k, double base, int parent,
                      cand *out) {
    int n = 0;
    for (int id = 0; id < V; id++) {
        if (!isfinite(work[id])) continue;
        double lp = base + (double)adj[id] - lse;
        if (n == k && lp <= out[n - 1].lp) continue;
        int at = n < k ? n++ : k - 1;
        while (at > 0 && out[at - 1].lp < lp) { out[at] = out[at - 1]; at--; }
        out[at] = (cand){ lp, parent, id };
    }
    return n;
}

void beam_result_free(beam_result *r, void (*drop)(void *ud)) {
    for (int i = 0; i < r->n; i++) {
        free(r->hyps[i].ids);
        if (drop && r->hyps[i].ud) drop(r->hyps[i].ud);
    }
    free(r->hyps);
    memset(r, 0, sizeof *r);
}

/* Keeps at most W finished hypotheses, the best ones. */
static void add_hyp(beam_hyp *fin, int *n_fin, int W, const beam_opts *o, const int32_t *ids, int n, double lp,
                    int finished, void *ud) {
    beam_hyp h = { .ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *ids), .n_ids = n, .logprob = lp,
                   .finished = finished, .ud = ud };
    if (h.ids && n) memcpy(h.ids, ids, (size_t)n * sizeof *ids);
    if (*n_fin == W) {   /* full: replace the worst when better */
        int worst = 0;
        for (int i = 1; i < W; i++) if (hyp_cmp(&fin[i], &fin[worst]) > 0) worst = i;
        if (hyp_cmp(&h, &fin[worst]) >= 0) {
            free(h.ids);
            if (o->drop && ud) o->drop(ud);
            return;
        }
        free(fin[worst].ids);
        if (o->drop && fin[worst].ud) o->drop(fin[worst].ud);
        fin[worst] = h;
        return;
    }
    fin[(*n_fin)++] = h;
}

int beam_search(const model *m, infer_state *s, int n_keep, const float *last_logits, const beam_opts *o,
                beam_result *res, sa_err *err) {
    memset(res, 0, sizeof *res);
    int V = m->cfg.n_vocab, W = o->width, NP = o->n_predict;
    assert(W >= 1 && W <= BEAM_MAX && NP >= 1 && infer_n_past(s) >= n_keep);
    if (NP > infer_n_ctx(s) - n_keep) NP = infer_n_ctx(s) - n_keep;   /* as generate stops at a full context */
    if (NP < 1) {
        if (o->drop && o->ud) o->drop(o->ud);
        infer_truncate(s, n_keep);
        return sa_fail(err, "context full: %d cached tokens leave no room to generate (--ctx %d)", n_keep,
                       infer_n_ctx(s));
    }
    double t0 = clock_now_s();
    int eos = tok_eos_id(m->tok), im_end = tok_im_end_id(m->tok), endoftext = tok_lookup(m->tok, "<|endoftext|>");
    int n_ctx = n_keep + NP + 1;
    if (n_ctx > infer_n_ctx(s)) n_ctx = infer_n_ctx(s);

    infer_state *pool[BEAM_MAX] = { s };   /* every cache; pool[0] is the caller's */
    beam act[BEAM_MAX] = {{0}}, next[BEAM_MAX] = {{0}};
    beam_hyp fin[BEAM_MAX];
    int n_fin = 0, n_act = 0, rc = -1;
    float *rows = malloc((size_t)W * V * sizeof *rows);
    float *work = malloc((size_t)V * sizeof *work), *adj = malloc((size_t)V * sizeof *adj);
    cand *cands = malloc((size_t)W * W * sizeof *cands);
    int32_t toks[BEAM_MAX];
    infer_state *run[BEAM_MAX];
    int ok = rows && work && adj && cands;
    for (int b = 0; b < W && ok; b++) {
        act[b].ids = malloc((size_t)NP * sizeof *act[b].ids);
        next[b].ids = malloc((size_t)NP * sizeof *next[b].ids);
        ok = act[b].ids && next[b].ids;
    }
    for (int b = 1; b < W && ok; b++) {
        ok = (pool[b] = infer_new(m, n_ctx, err)) != NULL;
        if (ok) infer_set_lora(pool[b], o->lora, o->lora_scale);
    }
    if (!ok) {
        if (!err->msg[0]) sa_fail(err, "out of memory");
        if (o->drop && o->ud) o->drop(o->ud);
        goto out;
    }
    memcpy(rows, last_logits, (size_t)V * sizeof *rows);
    act[0].st = s;
    act[0].ud = o->ud;
    n_act = 1;
    for (int step = 0; step < NP && n_act > 0; step++) {
        int n_left = NP - step, nc = 0;
        for (int b = 0; b < n_act; b++) {
            const float *raw = rows + (size_t)b * V;
            double lse = log_sum_exp(raw, V);
            memcpy(work, raw, (size_t)V * sizeof *work);
            if (o->on_logits) o->on_logits(act[b].ud, work, V);
            memcpy(adj, work, (size_t)V * sizeof *adj);
            int left = o->mask ? o->mask(act[b].ud, work, V, n_left) : V;
            if (left == 0 && o->on_logits) {   /* as generate does: the constraint comes first */
                memcpy(work, raw, (size_t)V * sizeof *work);
                memcpy(adj, raw, (size_t)V * sizeof *adj);
                if (o->mask) o->mask(act[b].ud, work, V, n_left);
            }
            nc += top_tokens(work, adj, lse, V, W, act[b].lp, b, cands + nc);
        }
        qsort(cands, (size_t)nc, sizeof *cands, cand_cmp);
        /* the new beams: end tokens become hypotheses, the rest fill up to W */
        int n_next = 0;
        int children[BEAM_MAX] = {0}, parent_of[BEAM_MAX];
        for (int k = 0; k < nc && n_next < W; k++) {
            const cand *c = &cands[k];
            const beam *p = &act[c->parent];
            if (c->id == eos || c->id == im_end || c->id == endoftext) {
                void *ud = p->ud && o->fork ? o->fork(p->ud) : NULL;
                add_hyp(fin, &n_fin, W, o, p->ids, p->n, c->lp, 1, ud);
                continue;
            }
            beam *q = &next[n_next++];
            q->lp = c->lp;
            q->n = p->n + 1;
            memcpy(q->ids, p->ids, (size_t)p->n * sizeof *q->ids);
            q->ids[p->n] = c->id;
            q->st = NULL;
            q->ud = NULL;
            parent_of[n_next - 1] = c->parent;
            children[c->parent]++;
        }
        /* caches and constraint states: a parent's first child takes the
        ** parent's own, the others copies, all made before any new token is
        ** fed or run (a copy reads the parent as it was) */
        int used[BEAM_MAX] = {0}, claimed[BEAM_MAX] = {0}, first_child[BEAM_MAX];
        int free_pool[BEAM_MAX], n_free = 0;
        for (int i = 0; i < W; i++)
            for (int b = 0; b < n_act; b++) if (act[b].st == pool[i] && children[b]) used[i] = 1;
        for (int i = 0; i < W; i++) if (!used[i]) free_pool[n_free++] = i;
        for (int k = 0; k < n_next; k++) {
            int par = parent_of[k];
            beam *p = &act[par];
            first_child[k] = !claimed[par];
            if (first_child[k]) {
                claimed[par] = 1;
                next[k].st = p->st;
                continue;
            }
            next[k].ud = p->ud && o->fork ? o->fork(p->ud) : NULL;
            if (p->ud && o->fork && !next[k].ud) { sa_fail(err, "out of memory"); ok = 0; }
            assert(n_free > 0);
            next[k].st = pool[free_pool[--n_free]];
            infer_copy_prefix(next[k].st, p->st, infer_n_past(p->st));
        }
        for (int k = 0; k < n_next; k++) {
            if (!first_child[k]) continue;
            int par = parent_of[k];
            next[k].ud = act[par].ud;
            act[par].ud = NULL;
        }
        for (int b = 0; b < n_act; b++) {   /* parents without children */
            if (act[b].ud && o->drop) o->drop(act[b].ud);
            act[b].ud = NULL;
        }
        if (!ok) {
            for (int k = 0; k < n_next; k++) if (next[k].ud && o->drop) o->drop(next[k].ud);
            n_act = 0;
            goto out;
        }
        /* feed the new tokens; finished replies leave the beam */
        n_act = 0;
        for (int k = 0; k < n_next; k++) {
            beam *q = &next[k];
            int done = o->on_token ? o->on_token(q->ud, q->ids[q->n - 1]) : 0;
            if (done || q->n == NP) {
                add_hyp(fin, &n_fin, W, o, q->ids, q->n, q->lp, done, q->ud);
                continue;
            }
            beam tmp = act[n_act];   /* swap buffers: act keeps W id arrays */
            act[n_act] = *q;
            *q = tmp;
            n_act++;
        }
        if (n_fin == W) {
            double worst = fin[0].logprob;
            for (int i = 1; i < n_fin; i++) if (fin[i].logprob < worst) worst = fin[i].logprob;
            int better = 0;
            for (int b = 0; b < n_act; b++) better |= act[b].lp > worst;
            if (!better) break;
        }
        if (n_act == 0) break;
        for (int b = 0; b < n_act; b++) {
            run[b] = act[b].st;
            toks[b] = act[b].ids[act[b].n - 1];
        }
        for (int i = 0; i < W && o->batch; i++) {   /* a cache out of the beam: the batch need not wait for it */
            int in = 0;
            for (int b = 0; b < n_act; b++) in |= run[b] == pool[i];
            if (!in) batcher_idle(o->batch, pool[i]);
        }
        if (o->batch ? batcher_forward_rows(o->batch, run, toks, n_act, rows, err)
                     : model_forward_batch(m, run, toks, n_act, rows, err))
            goto out;
        res->steps++;
    }
    for (int b = 0; b < n_act; b++) {   /* the budget ran out for these */
        add_hyp(fin, &n_fin, W, o, act[b].ids, act[b].n, act[b].lp, 0, act[b].ud);
        act[b].ud = NULL;
    }
    n_act = 0;
    qsort(fin, (size_t)n_fin, sizeof *fin, hyp_cmp);
    res->hyps = malloc((size_t)(n_fin ? n_fin : 1) * sizeof *res->hyps);
    if (!res->hyps) { sa_fail(err, "out of memory"); goto out; }
    memcpy(res->hyps, fin, (size_t)n_fin * sizeof *fin);
    res->n = n_fin;
    n_fin = 0;
    rc = 0;
out:
    for (int b = 0; b < n_act; b++) if (act[b].ud && o->drop) o->drop(act[b].ud);
    for (int i = 0; i < n_fin; i++) {
        free(fin[i].ids);
        if (o->drop && fin[i].ud) o->drop(fin[i].ud);
    }
    for (int b = 0; b < W; b++) {
        free(act[b].ids);
        free(next[b].ids);
    }
    for (int b = 0; b < W && o->batch; b++) if (pool[b]) batcher_idle(o->batch, pool[b]);
    for (int b = 1; b < W; b++) infer_free(pool[b]);
    infer_truncate(s, n_keep);
    free(rows);
    free(work);
    free(adj);
    free(cands);
    res->decode_s = clock_now_s() - t0;
    return rc;
}

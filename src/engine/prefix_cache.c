/*
** prefix_cache.c — see prefix_cache.h.
*/
#include "prefix_cache.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fewer shared tokens than this are recomputed rather than copied. */
#define PC_MIN_COPY 16

typedef struct slot {
    infer_state *st;
    int32_t *ids;          /* [n_ctx] tokens whose K/V are cached; while busy, the
                           ** prefix given to the owner, which only appends after it */
    int n_ids;
    char key[128];         /* adapter key the cache was computed under */
    int busy;
    unsigned long last_used;
} slot;

struct prefix_cache {
    const model *m;
    int n_slots, n_ctx;
    slot *slots;
    pthread_mutex_t mu;
    pthread_cond_t freed;
    unsigned long clock;
    pc_stats stats;
};

prefix_cache *pc_new(const model *m, int n_slots, int n_ctx, sa_err *err) {
    if (n_slots < 1) n_slots = 1;
    prefix_cache *pc = calloc(1, sizeof *pc);
    if (!pc) { sa_fail(err, "out of memory"); return NULL; }
    pc->m = m;
    pc->n_slots = n_slots;
    pc->slots = calloc((size_t)n_slots, sizeof *pc->slots);
    pthread_mutex_init(&pc->mu, NULL);
    pthread_cond_init(&pc->freed, NULL);
    if (!pc->slots) { pc_free(pc); sa_fail(err, "out of memory"); return NULL; }
    for (int i = 0; i < n_slots; i++) {
        pc->slots[i].st = infer_new(m, n_ctx, err);
        if (!pc->slots[i].st) { pc_free(pc); return NULL; }
        pc->n_ctx = infer_n_ctx(pc->slots[i].st);
        pc->slots[i].ids = malloc((size_t)pc->n_ctx * sizeof(int32_t));
        if (!pc->slots[i].ids) { pc_free(pc); sa_fail(err, "out of memory"); return NULL; }
    }
    return pc;
}

void pc_free(prefix_cache *pc) {
    if (!pc) return;
    if (pc->slots)
        for (int i = 0; i < pc->n_slots; i++) { infer_free(pc->slots[i].st); free(pc->slots[i].ids); }
    free(pc->slots);
    pthread_mutex_destroy(&pc->mu);
    pthread_cond_destroy(&pc->freed);
    free(pc);
}

static int common_prefix(const int32_t *a, int na, const int32_t *b, int nb) {
    int n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i]) i++;
    return i;
}

infer_state *pc_acquire(prefix_cache *pc, const char *adapter_key, const int32_t *tokens, int n, int *n_cached) {
    if (!adapter_key) adapter_key = "";
    pthread_mutex_lock(&pc->mu);
    slot *best = NULL;
    int best_len = -1;
    for (;;) {
        for (int i = 0; i < pc->n_slots; i++) {
            slot *s = &pc->slots[i];
            if (s->busy) continue;
            int len = strcmp(s->key, adapter_key) == 0 ? common_prefix(s->ids, s->n_ids, tokens, n) : 0;
            /* prefer the longest match; among equals, the least recently used */
            if (len > best_len || (len == best_len && best && s->last_used < best->last_used)) { best = s; best_len = len; }
        }
        if (best) break;
        pthread_cond_wait(&pc->freed, &pc->mu);
    }
    if (best_len >= n) best_len = n - 1;      /* leave a token to produce logits */
    if (best_len < 0) best_len = 0;
    /* a busy slot may hold more of this prompt (the same schema, asked about
    ** by another request right now): copy those K/V rows rather than
    ** compute them. Its owner writes only after its own prefix, so the rows
    ** read here stay put; the copy runs under the lock, so the slot cannot
    ** be released and reused meanwhile. */
    slot *donor = NULL;
    int donor_len = best_len;
    for (int i = 0; i < pc->n_slots; i++) {
        slot *s = &pc->slots[i];
        if (!s->busy || strcmp(s->key, adapter_key) != 0) continue;
        int len = common_prefix(s->ids, s->n_ids, tokens, n);
        if (len >= n) len = n - 1;
        if (len > donor_len) { donor = s; donor_len = len; }
    }
    if (donor && donor_len >= best_len + PC_MIN_COPY) {
        infer_copy_prefix(best->st, donor->st, donor_len);
        memcpy(best->ids, tokens, (size_t)donor_len * sizeof *tokens);
        best->n_ids = donor_len;
        best_len = donor_len;
        pc->stats.copies++;
    }
    best->busy = 1;
    best->last_used = ++pc->clock;
    pc->stats.lookups++;
    if (best_len > 0) { pc->stats.hits++; pc->stats.tokens_reused += best_len; }
    snprintf(best->key, sizeof best->key, "%s", adapter_key);
    /* under the lock: another acquire may look at this slot as a donor, and
    ** must see only the prefix that stays put, not what its owner overwrites */
    best->n_ids = best_len;
    pthread_mutex_unlock(&pc->mu);
    infer_truncate(best->st, best_len < infer_n_past(best->st) ? best_len : infer_n_past(best->st));
    assert(infer_n_past(best->st) == best_len);
    *n_cached = best_len;
    return best->st;
}

void pc_release(prefix_cache *pc, infer_state *st, const int32_t *tokens, int n) {
    pthread_mutex_lock(&pc->mu);
    for (int i = 0; i < pc->n_slots; i++) {
        slot *s = &pc->slots[i];
        if (s->st != st) continue;
        assert(s->busy);
        if (n > pc->n_ctx || n != infer_n_past(st)) n = 0;   /* unknown contents: forget */
        if (n == 0) infer_truncate(st, 0);
        if (n) memcpy(s->ids, tokens, (size_t)n * sizeof *tokens);
        s->n_ids = n;
        s->busy = 0;
        s->last_used = ++pc->clock;
        break;
    }
    pthread_cond_signal(&pc->freed);
    pthread_mutex_unlock(&pc->mu);
}

pc_stats pc_get_stats(prefix_cache *pc) {
    pthread_mutex_lock(&pc->mu);
    pc_stats s = pc->stats;
    pthread_mutex_unlock(&pc->mu);
    return s;
}

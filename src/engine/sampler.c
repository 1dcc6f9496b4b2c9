/*
** sampler.c — see sampler.h. Filters apply in llama.cpp's usual order:
** top-k, then softmax at the temperature, then top-p, then min-p, then a
** draw from what is left.
*/
#include "sampler.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>

typedef struct cand { int id; float p; } cand;

struct sampler {
    int n_vocab;
    sampler_params p;
    uint64_t rng;
    cand *c;
};

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float rand_unit(uint64_t *s) { return (float)(splitmix64(s) >> 40) / (float)(1ull << 24); }

sampler *sampler_new(int n_vocab, const sampler_params *p) {
    sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->n_vocab = n_vocab;
    s->p = *p;
    s->rng = p->seed;
    s->c = malloc((size_t)n_vocab * sizeof *s->c);
    if (!s->c) { free(s); return NULL; }
    return s;
}

void sampler_free(sampler *s) {
    if (!s) return;
    free(s->c);
    free(s);
}

/* The plain scan: each step waits for the load of v[best] the step before
** chose (~7 cycles a value); kept for a NaN first value, which the two
** passes below would not keep as the scan does. */
static int argmax_scan(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

enum { LANES = 16 };

int argmax(const float *v, int n) {
    if (n < LANES || isnan(v[0])) return argmax_scan(v, n);
    /* the largest value in LANES running maxima that do not wait on one
    ** another (NaN never wins a comparison, as in the scan), then the first
    ** index holding it: the scan's answer at a fraction of a cycle a value */
    float m[LANES];
    for (int j = 0; j < LANES; j++) m[j] = v[0];
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) m[j] = v[i + j] > m[j] ? v[i + j] : m[j];
    for (; i < n; i++) m[0] = v[i] > m[0] ? v[i] : m[0];
    float best = m[0];
    for (int j = 1; j < LANES; j++) best = m[j] > best ? m[j] : best;
    for (i = 0; v[i] != best; i++) {}
    return i;
}

int top_ids(const float *v, int n, int k, int *ids) {
    assert(k >= 1 && !isnan(v[0]));
    int have = 0;
    float floor = -INFINITY;   /* a value must beat this to enter: the k-th best once k are held */
    for (int i = 0; i < n; i++) {
        if (!(v[i] > floor)) continue;
        /* after the held values greater or equal: equal ones came first */
        int at = have < k ? have : k - 1;
        while (at > 0 && v[ids[at - 1]] < v[i]) {
            ids[at] = ids[at - 1];
            at--;
        }
        ids[at] = i;
        if (have < k) have++;
        if (have == k) floor = v[ids[k - 1]];
    }
    return have;
}

static int by_p_desc(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return x->id - y->id;
}

int sampler_sample(sampler *s, const float *logits) {
    if (s->p.temperature <= 0) return argmax(logits, s->n_vocab);
    /* Tokens more than 30·T below the best have probability < e^-30 relative
    ** to it: dropping them before the sort changes nothing measurable and
    ** spares sorting the whole vocabulary for every token. */
    float best = logits[argmax(logits, s->n_vocab)], floor_logit = best - 30.0f * s->p.temperature;
    int n = 0;
    for (int i = 0; i < s->n_vocab; i++)
        if (logits[i] >= floor_logit) { s->c[n].id = i; s->c[n].p = logits[i]; n++; }
    qsort(s->c, (size_t)n, sizeof *s->c, by_p_desc);
    if (s->p.top_k > 0 && s->p.top_k < n) n = s->p.top_k;
    float mx = s->c[0].p, sum = 0;
    for (int i = 0; i < n; i++) { s->c[i].p = expf((s->c[i].p - mx) / s->p.temperature); sum += s->c[i].p; }
    for (int i = 0; i < n; i++) s->c[i].p /= sum;
    if (s->p.top_p > 0 && s->p.top_p < 1) {
        float cum = 0;
        for (int i = 0; i < n; i++) {
            cum += s->c[i].p;
            if (cum >= s->p.top_p) { n = i + 1; break; }
        }
    }
    if (s->p.min_p > 0) {
        float thr = s->p.min_p * s->c[0].p;
        int k = 1;
        while (k < n && s->c[k].p >= thr) k++;
        n = k;
    }
    sum = 0;
    for (int i = 0; i < n; i++) sum += s->c[i].p;
    float r = rand_unit(&s->rng) * sum, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += s->c[i].p;
        if (r < acc) return s->c[i].id;
    }
    return s->c[n - 1].id;
}

/*
** sampler.h — picking the next token from logits: greedy, or temperature
** with top-k, top-p (nucleus) and min-p filtering, from a seeded RNG.
**
** Owns: the RNG state and a scratch buffer of candidates. Deterministic for
** a given seed and sequence of logits.
*/
#ifndef SA_SAMPLER_H
#define SA_SAMPLER_H

#include <stdint.h>

typedef struct sampler_params {
    float temperature;   /* <= 0: greedy (argmax) */
    int top_k;           /* <= 0: off */
    float top_p;         /* >= 1: off */
    float min_p;         /* <= 0: off; keep tokens with p >= min_p * p_max */
    uint64_t seed;
} sampler_params;

typedef struct sampler sampler;

sampler *sampler_new(int n_vocab, const sampler_params *p);
void sampler_free(sampler *s);
/* Returns the chosen id. logits[n_vocab] are not modified. */
int sampler_sample(sampler *s, const float *logits);
/* Index of the largest value (the first one on ties). */
int argmax(const float *v, int n);
/* The k best indices of v[0..n) greater than -INFINITY, best first, the
** lower index first on ties: the ids that argmax, then argmax again with
** each found id's value set to -INFINITY, would give in turn. Returns how
** many (< k when fewer values exceed -INFINITY). One pass over v. v[0] must
** not be NaN (argmax would then keep index 0). */
int top_ids(const float *v, int n, int k, int *ids);

#endif

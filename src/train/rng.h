/*
** rng.h — the one random number generator of training (xoshiro256**,
** seeded through splitmix64), small enough that its whole state goes into
** a checkpoint so a resumed run draws exactly the numbers the uninterrupted
** run would have drawn.
*/
#ifndef SA_TRAIN_RNG_H
#define SA_TRAIN_RNG_H

#include <stdint.h>

typedef struct trng {
    uint64_t s[4];
} trng;

void trng_seed(trng *r, uint64_t seed);
uint64_t trng_next(trng *r);
/* Uniform in [0, 1) with 53 random bits. */
double trng_uniform(trng *r);
/* Standard normal (Box–Muller; one draw uses two uniforms). */
double trng_normal(trng *r);
/* Uniform integer in [0, n), n > 0 (rejection sampling: no modulo bias). */
uint64_t trng_below(trng *r, uint64_t n);

#endif

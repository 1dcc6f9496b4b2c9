/*
** rng.c — xoshiro256** and splitmix64 (see rng.h), written from the
** published algorithm descriptions (Blackman & Vigna).
*/
#include "rng.h"

#include <assert.h>
#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void trng_seed(trng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t trng_next(trng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double trng_uniform(trng *r) { return (double)(trng_next(r) >> 11) * 0x1.0p-53; }

double trng_normal(trng *r) {
    double u1 = trng_uniform(r), u2 = trng_uniform(r);
    /* 1 - u1 is in (0, 1]: the log is finite */
    return sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2);
}

uint64_t trng_below(trng *r, uint64_t n) {
    assert(n > 0);
    uint64_t lim = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
        uint64_t x = trng_next(r);
        if (x < lim) return x % n;
    }
}

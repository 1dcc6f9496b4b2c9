/*
** hash.h — the hash functions of sqlassist, all here:
**   hash_mix64    a 64-bit mixer for integer keys (token pairs): a bijection
**                 whose output bits all depend on every input bit, so the
**                 low bits can index a power-of-two table;
**   hash_bytes    a seeded hash of a byte string for in-memory tables and
**                 caches (8 bytes at a time through hash_mix64); its values
**                 are never stored, so it may change;
**   hash_fnv1a64  64-bit FNV-1a, for values that must never change: the
**                 validation split of training data (train/data.h), the
**                 data hash a resumed training run checks, the test-suite
**                 seed of a benchmark task.
*/
#ifndef SA_HASH_H
#define SA_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t hash_mix64(uint64_t k) {
    k ^= k >> 31;
    k *= 0x7fb5d329728ea185ull;
    k ^= k >> 27;
    k *= 0x81dadef4bc2dd44dull;
    k ^= k >> 33;
    return k;
}

/* Hash of p[0..n) continuing from h (a seed, or an earlier result, to hash
** several pieces as one key). */
static inline uint64_t hash_bytes(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = hash_mix64(h ^ w);
    }
    if (i < n) {
        uint64_t w = 0;
        memcpy(&w, b + i, n - i);
        h = hash_mix64(h ^ w);
    }
    return hash_mix64(h ^ n);
}

/* FNV-1a of p[0..n) continuing from h (HASH_FNV1A64_INIT to start). */
#define HASH_FNV1A64_INIT 1469598103934665603ull
static inline uint64_t hash_fnv1a64(uint64_t h, const void *p, size_t n) {
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
    return h;
}

#endif

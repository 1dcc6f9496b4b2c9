/*
** hash.h — the 64-bit mixer used to place keys (token pairs) in open-
** addressing tables: a bijection whose output bits all depend on every input
** bit, so the low bits can index a power-of-two table.
*/
#ifndef SA_HASH_H
#define SA_HASH_H

#include <stdint.h>

static inline uint64_t hash_mix64(uint64_t k) {
    k ^= k >> 31;
    k *= 0x7fb5d329728ea185ull;
    k ^= k >> 27;
    k *= 0x81dadef4bc2dd44dull;
    k ^= k >> 33;
    return k;
}

#endif

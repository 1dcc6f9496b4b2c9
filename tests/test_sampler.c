/*
** test_sampler.c — the greedy picks of sampler.c against plain scans written
** here:
**   - argmax gives the index the one-value-at-a-time scan gives (the first
**     of equal maxima) on random logits, many ties, -INFINITY and +INFINITY,
**     signed zeros, NaN anywhere (a NaN first value included), lengths
**     around its 16 lanes;
**   - top_ids gives the ids that argmax, then argmax again with each found
**     value set to -INFINITY, gives in turn, stopping where only -INFINITY
**     is left;
**   - sampler_sample at temperature 0 is argmax.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sampler.h"
#include "check.h"

static int scan_argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

static unsigned rnd(void) {
    static unsigned long long s = 88172645463325252ull;
    s ^= s << 13; s ^= s >> 7; s ^= s << 17;
    return (unsigned)(s >> 11);
}

/* A test vector of n values, of kind `kind`: 0 random, 1 few distinct values
** (many ties), 2 with -inf, +inf and signed zeros, 3 with NaN, 4 all -inf. */
static void fill(float *v, int n, int kind) {
    for (int i = 0; i < n; i++) {
        switch (kind) {
        case 0: v[i] = (float)(rnd() % 100000) / 1000.0f - 50.0f; break;
        case 1: v[i] = (float)(rnd() % 4); break;
        case 2: {
            static const float pick[] = { -INFINITY, 0.0f, -0.0f, 1.0f, INFINITY };
            v[i] = rnd() % 7 < 5 ? pick[rnd() % 5] : -INFINITY;
            break;
        }
        case 3: v[i] = rnd() % 5 == 0 ? NAN : (float)(rnd() % 10); break;
        default: v[i] = -INFINITY;
        }
    }
}

int main(void) {
    enum { MAXN = 2000, K = 16 };
    static float v[MAXN], w[MAXN];
    static const int lens[] = { 1, 2, 15, 16, 17, 31, 33, 100, 1999 };
    int bad_arg = 0, bad_top = 0, cases = 0;
    for (int kind = 0; kind < 5; kind++)
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
            for (int rep = 0; rep < 40; rep++) {
                int n = lens[li];
                fill(v, n, kind);
                if (kind == 3 && rep % 4 == 0) v[0] = NAN;   /* a NaN first value: argmax keeps index 0 */
                if (kind == 1 && rep % 3 == 0) v[n - 1] = 9.0f;   /* the maximum last, in the tail past the lanes */
                cases++;
                if (argmax(v, n) != scan_argmax(v, n)) {
                    if (bad_arg++ < 3) printf("argmax kind %d n %d: %d, the scan %d\n", kind, n, argmax(v, n), scan_argmax(v, n));
                }
                if (isnan(v[0])) continue;
                /* top_ids against argmax-and-remove */
                int ids[K], got = top_ids(v, n, K, ids), want[K], n_want = 0;
                memcpy(w, v, (size_t)n * sizeof *w);
                while (n_want < K) {
                    int id = scan_argmax(w, n);
                    if (isinf(w[id]) && w[id] < 0) break;
                    want[n_want++] = id;
                    w[id] = -INFINITY;
                }
                if (got != n_want || memcmp(ids, want, (size_t)got * sizeof *ids) != 0) {
                    if (bad_top++ < 3) printf("top_ids kind %d n %d: %d ids (first %d), argmax in turn %d (first %d)\n", kind, n, got,
                                              got ? ids[0] : -1, n_want, n_want ? want[0] : -1);
                }
            }
    CHECK(bad_arg == 0, "argmax differs from the scan in %d of %d cases", bad_arg, cases);
    CHECK(bad_top == 0, "top_ids differs from argmax in turn in %d of %d cases", bad_top, cases);
    /* greedy sampling is argmax */
    fill(v, MAXN, 1);
    sampler_params p = { .temperature = 0 };
    sampler *s = sampler_new(MAXN, &p);
    CHECK(s && sampler_sample(s, v) == scan_argmax(v, MAXN), "greedy sampler_sample is not the first maximum");
    sampler_free(s);
    printf("%d vectors: argmax and top_ids as the scans\n", cases);
    return check_done();
}

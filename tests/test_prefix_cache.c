/*
** test_prefix_cache.c — KV reuse across requests gives the same logits as
** computing from scratch; the longest common prefix is found, a full match
** still leaves a token to run, slots computed under another adapter key
** are not reused, the least recently used slot is the one evicted, and a
** prefix held by a slot in use is copied into a free one.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model.h"
#include "engine/prefix_cache.h"

#include "check.h"

static const model *M;

/* Logits of the last token of ids[0..n) computed from an empty cache. */
static void fresh_logits(const int32_t *ids, int n, float *out) {
    sa_err err;
    infer_state *s = infer_new(M, 512, &err);
    if (!s || model_forward(M, s, ids, n, LOGITS_LAST, out, &err)) { printf("forward: %s\n", err.msg); exit(1); }
    infer_free(s);
}

/* Same through the cache: returns how many tokens were reused. */
static int cached_logits(prefix_cache *pc, const char *key, const int32_t *ids, int n, float *out) {
    sa_err err;
    int cached;
    infer_state *s = pc_acquire(pc, key, ids, n, &cached);
    if (model_forward(M, s, ids + cached, n - cached, LOGITS_LAST, out, &err)) { printf("forward: %s\n", err.msg); exit(1); }
    pc_release(pc, s, ids, n);
    return cached;
}

static double rel_diff(const float *a, const float *b, int n) {
    double d = 0, s = 0;
    for (int i = 0; i < n; i++) { d = fmax(d, fabs(a[i] - b[i])); s = fmax(s, fabs(b[i])); }
    return d / (s + 1e-30);
}

int main(void) {
    const char *out = getenv("OUT") ? getenv("OUT") : "tests/out";
    char path[512];
    snprintf(path, sizeof path, "%s/models/m64/m64-f32.gguf", out);
    sa_err err;
    model *m = model_load(path, NULL, &err);
    if (!m) { printf("%s\n", err.msg); return 1; }
    M = m;
    int V = m->cfg.n_vocab;
    enum { N = 150 };
    int32_t a[N], b[N];
    for (int i = 0; i < N; i++) a[i] = b[i] = (int32_t)((i * 7919 + 13) % 151000);
    for (int i = 100; i < N; i++) b[i] = (int32_t)((i * 104729 + 7) % 151000);   /* b shares a's first 100 */
    float *want = malloc((size_t)V * 4), *got = malloc((size_t)V * 4);
    prefix_cache *pc = pc_new(m, 2, 512, &err);
    if (!pc) { printf("%s\n", err.msg); return 1; }

    int c = cached_logits(pc, "", a, N, got);
    CHECK(c == 0, "first request reuses nothing (%d)", c);
    fresh_logits(a, N, want);
    CHECK(rel_diff(got, want, V) < 1e-5, "cold request: %g", rel_diff(got, want, V));

    c = cached_logits(pc, "", b, N, got);
    CHECK(c == 100, "second request reuses the 100-token common prefix (%d)", c);
    fresh_logits(b, N, want);
    CHECK(rel_diff(got, want, V) < 1e-5, "logits with a reused prefix equal the fresh ones: %g", rel_diff(got, want, V));

    c = cached_logits(pc, "", b, N, got);
    CHECK(c == N - 1, "identical request reuses all but the last token (%d)", c);
    CHECK(rel_diff(got, want, V) < 1e-5, "full reuse: %g", rel_diff(got, want, V));

    c = cached_logits(pc, "adapter-x@1", b, N, got);
    CHECK(c == 0, "a cache computed without the adapter is not reused under it (%d)", c);

    /* both slots now hold b: one under "", one under "adapter-x@1". A shorter prefix of a ... */
    c = cached_logits(pc, "", a, 60, got);
    CHECK(c == 59 || c == 0, "prefix of a (%d)", c);
    fresh_logits(a, 60, want);
    CHECK(rel_diff(got, want, V) < 1e-5, "truncated slot continues correctly: %g", rel_diff(got, want, V));
    /* the adapter slot was least recently used before the last call? It was used after. So the ""
    ** slot was reused for a[0..60) and the adapter slot still holds b. */
    c = cached_logits(pc, "adapter-x@1", b, N, got);
    CHECK(c == N - 1, "the other key's slot survived (LRU kept it) (%d)", c);

    pc_stats st = pc_get_stats(pc);
    CHECK(st.lookups == 6 && st.hits >= 3, "stats: %ld lookups, %ld hits", st.lookups, st.hits);
    CHECK(st.copies == 0, "no copies while a free slot held the prefix (%ld)", st.copies);
    pc_free(pc);

    /* parallel requests on one prefix: the slot holding it is busy, so the
    ** free one gets its K/V rows copied (never the rows past the busy
    ** owner's own prefix), and the logits are those of a fresh run */
    pc = pc_new(m, 2, 512, &err);
    c = cached_logits(pc, "", a, N, got);                     /* one slot holds a[0..150) */
    int held;
    infer_state *busy = pc_acquire(pc, "", a, N, &held);      /* busy with a, its prefix 149 */
    CHECK(held == N - 1, "the owner gets a's prefix (%d)", held);
    int32_t one = 5;
    model_forward(M, busy, &one, 1, LOGITS_NONE, NULL, &err);   /* the owner appends meanwhile */
    c = cached_logits(pc, "", b, N, got);
    CHECK(c == 100, "a request sharing 100 tokens with the busy slot gets them copied (%d)", c);
    fresh_logits(b, N, want);
    CHECK(rel_diff(got, want, V) == 0, "logits after a copied prefix equal the fresh ones: %g", rel_diff(got, want, V));
    c = cached_logits(pc, "adapter-x@1", b, N, got);
    CHECK(c == 0, "nothing copied across adapter keys (%d)", c);
    st = pc_get_stats(pc);
    CHECK(st.copies == 1, "one copy counted (%ld)", st.copies);
    pc_release(pc, busy, NULL, 0);
    pc_free(pc);
    free(want);
    free(got);
    model_free(m);
    return check_done();
}

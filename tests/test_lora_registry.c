/*
** test_lora_registry.c — the LoRA registry API the server will use: load,
** lookup, list, unload while a request still holds the adapter (it stays
** valid and gives the same logits; freed at the last release), name rules,
** lora_merge against the unmerged product, and acquire/release racing with
** load/unload on several threads (run under ASan in the sanitizer build).
**
** Needs the fixtures: tests/out/models (tests/fixtures.sh) and
** tests/out/adapters (tests/fixtures.sh makes them); skips (77) without, fails under CI=true.
*/
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "engine/lora.h"
#include "engine/model.h"

#include "check.h"

static char model_path[512], ad_all[512], ad_attn[512], ad_gguf[512];
static const int32_t TOKENS[] = { 151644, 872, 198, 3838, 374, 279, 7075, 1379, 315, 9625 };
#define NT ((int)(sizeof TOKENS / sizeof TOKENS[0]))

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* logits of TOKENS (all positions) under adapter a at scale s; malloc'd */
static float *run(const model *m, const lora_adapter *a, float s) {
    sa_err err = {{0}};
    infer_state *st = infer_new(m, 64, &err);
    float *lg = malloc((size_t)NT * (size_t)m->cfg.n_vocab * sizeof *lg);
    if (!st || !lg) { CHECK_FAIL("%s", err.msg); exit(check_done()); }
    infer_set_lora(st, a, s);
    if (model_forward(m, st, TOKENS, NT, LOGITS_ALL, lg, &err)) { CHECK_FAIL("%s", err.msg); exit(check_done()); }
    infer_free(st);
    return lg;
}

static double rel_diff(const float *x, const float *y, size_t n) {
    double d = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)x[i] - y[i]));
        mx = fmax(mx, fabs((double)y[i]));
    }
    return d / mx;
}

static void test_names(void) {
    char n[LORA_NAME_MAX + 1];
    lora_default_name("a/b/sql-lora/", n);
    CHECK(!strcmp(n, "sql-lora"), "dir with slash: %s", n);
    lora_default_name("x/y.gguf", n);
    CHECK(!strcmp(n, "y"), "gguf file: %s", n);
    lora_default_name("x/ad/adapter_model.safetensors", n);
    CHECK(!strcmp(n, "ad"), "safetensors in a dir: %s", n);
    lora_default_name("my adapter:v2", n);
    CHECK(!strcmp(n, "my_adapter_v2"), "odd characters: %s", n);
    lora_default_name("/", n);
    CHECK(!strcmp(n, "adapter"), "root: %s", n);
    lora_default_name("none", n);
    CHECK(!strcmp(n, "adapter"), "reserved: %s", n);
    sa_err e;
    CHECK(lora_check_name("ok_name-1.2", &e) == 0, "valid name");
    CHECK(lora_check_name("", &e) < 0, "empty name");
    CHECK(lora_check_name("none", &e) < 0 && strstr(e.msg, "reserved"), "none reserved");
    CHECK(lora_check_name("a=b", &e) < 0 && strstr(e.msg, "'='"), "'=' rejected: %s", e.msg);
}

static void test_registry(const model *m) {
    sa_err err = {{0}};
    lora_registry *r = lora_registry_new(m, &err);
    CHECK(r != NULL, "registry_new");
    CHECK(lora_registry_load(r, "sql", ad_all, 1.0f, &err) == 0, "load sql: %s", err.msg);
    CHECK(lora_registry_load(r, NULL, ad_attn, 0.5f, &err) == 0, "load by path: %s", err.msg);
    CHECK(lora_registry_load(r, "g", ad_gguf, 1.0f, &err) == 0, "load gguf: %s", err.msg);
    CHECK(lora_registry_load(r, "sql", ad_attn, 1.0f, &err) < 0 && strstr(err.msg, "already"), "duplicate: %s", err.msg);
    CHECK(lora_registry_load(r, "bad", "/nonexistent/adapter", 1.0f, &err) < 0, "missing path");
    CHECK(lora_registry_count(r) == 3, "count %d", lora_registry_count(r));

    lora_listing *l;
    int n;
    CHECK(lora_registry_list(r, &l, &n, &err) == 0 && n == 3, "list");
    CHECK(!strcmp(l[0].name, "sql") && !strcmp(l[1].name, "attn-r4-rs") && !strcmp(l[2].name, "g"), "list order/names");
    CHECK(!strcmp(l[0].format, "peft") && !strcmp(l[2].format, "gguf"), "formats");
    CHECK(l[1].scale == 0.5f && l[0].n_mats == 14 && l[0].max_rank == 8 && l[0].users == 0, "listing fields");
    lora_listing_free(l, n);

    float s = 0;
    const lora_adapter *a = lora_registry_acquire(r, "sql", &s);
    CHECK(a && s == 1.0f && !strcmp(lora_name(a), "sql"), "acquire");
    CHECK(lora_registry_acquire(r, "nope", NULL) == NULL, "acquire unknown");
    CHECK(lora_registry_list(r, &l, &n, &err) == 0 && l[0].users == 1, "users while held");
    lora_listing_free(l, n);

    float *before = run(m, a, s);
    /* unload while the "request" holds it: it must stay usable */
    CHECK(lora_registry_unload(r, "sql", &err) == 0, "unload");
    CHECK(lora_registry_unload(r, "sql", &err) < 0, "unload twice");
    CHECK(lora_registry_acquire(r, "sql", NULL) == NULL, "gone from the registry");
    CHECK(lora_registry_count(r) == 2, "count after unload");
    float *after = run(m, a, s);
    size_t nv = (size_t)NT * (size_t)m->cfg.n_vocab;
    CHECK(memcmp(before, after, nv * sizeof(float)) == 0, "held adapter unchanged after unload");
    lora_release(a);   /* the last reference: freed here (ASan checks) */

    /* the same file as PEFT and GGUF gives the same numbers */
    const lora_adapter *g = lora_registry_acquire(r, "g", &s);
    float *gg = run(m, g, s);
    CHECK(memcmp(before, gg, nv * sizeof(float)) == 0, "PEFT = GGUF through the registry");

    /* a different scale for later requests */
    CHECK(lora_registry_set_scale(r, "g", 0.0f, &err) == 0, "set_scale");
    const lora_adapter *g0 = lora_registry_acquire(r, "g", &s);
    CHECK(s == 0.0f, "scale 0 acquired");
    float *base = run(m, NULL, 0), *z = run(m, g0, s);
    CHECK(memcmp(base, z, nv * sizeof(float)) == 0, "scale 0 = base");
    CHECK(rel_diff(before, base, nv) > 0.05, "adapter changes the logits (%.3g)", rel_diff(before, base, nv));
    lora_release(g0);

    /* registry freed while a request still holds an adapter */
    lora_registry_free(r);
    float *gg2 = run(m, g, 1.0f);
    CHECK(memcmp(gg, gg2, nv * sizeof(float)) == 0, "held adapter valid after registry_free");
    lora_release(g);
    free(before); free(after); free(gg); free(gg2); free(base); free(z);
}

static void test_merge(void) {
    sa_err err = {{0}};
    model_opts mo = { .n_threads = 2 };
    model *m = model_load(model_path, &mo, &err);
    CHECK(m != NULL, "load: %s", err.msg);
    if (!m) return;
    lora_adapter *a = lora_load(m, NULL, ad_all, &err);
    CHECK(a != NULL, "lora_load: %s", err.msg);
    if (!a) { model_free(m); return; }
    CHECK(!strcmp(lora_name(a), "all-r8") && lora_n_mats(a) == 14 && lora_bytes(a) > 0, "adapter facts");
    float *unmerged = run(m, a, 0.75f);
    CHECK(lora_merge(m, a, 0.75f, &err) == 0, "merge: %s", err.msg);
    float *merged = run(m, NULL, 0);
    size_t nv = (size_t)NT * (size_t)m->cfg.n_vocab;
    double d = rel_diff(merged, unmerged, nv);
    CHECK(d <= 1e-5, "merged vs unmerged: %.3g", d);
    CHECK(m->layers[0].wq.type == 0 && m->layers[1].w_down.type == 0, "merged matrices are f32");
    /* merging a second time into the now-owned f32 matrices works in place */
    CHECK(lora_merge(m, a, -0.75f, &err) == 0, "unmerge: %s", err.msg);
    float *back = run(m, NULL, 0);
    lora_release(a);
    model_free(m);
    mo.n_threads = 2;
    m = model_load(model_path, &mo, &err);
    float *base = run(m, NULL, 0);
    d = rel_diff(back, base, nv);
    CHECK(d <= 1e-5, "merge then merge with -scale = base: %.3g", d);
    model_free(m);
    free(unmerged); free(merged); free(back); free(base);
}

/* ---- concurrency: requests acquire/release while adapters come and go --- */

typedef struct { lora_registry *r; int id; int got; } worker_arg;
static atomic_int stop_flag, started;

static void *worker(void *p) {
    worker_arg *w = p;
    static const char *names[] = { "x0", "x1", "x2" };
    unsigned k = (unsigned)w->id;
    atomic_fetch_add(&started, 1);
    while (!atomic_load(&stop_flag)) {
        k = k * 1103515245u + 12345u;
        const lora_adapter *a = lora_registry_acquire(w->r, names[(k >> 16) % 3], NULL);
        if (a) {
            /* touch it as a request would: its name and facts */
            if (lora_n_mats(a) <= 0 || lora_name(a)[0] != 'x') w->got = -1000000;
            w->got++;
            lora_release(a);
        }
    }
    return NULL;
}

static void test_concurrency(const model *m) {
    sa_err err = {{0}};
    lora_registry *r = lora_registry_new(m, &err);
    pthread_t th[3];
    worker_arg wa[3];
    for (int i = 0; i < 3; i++) {
        wa[i] = (worker_arg){ r, i + 1, 0 };
        pthread_create(&th[i], NULL, worker, &wa[i]);
    }
    /* the workers must be running while adapters come and go */
    while (atomic_load(&started) < 3) sched_yield();
    int loads = 0;
    for (int round = 0; round < 24; round++) {
        char nm[8];
        snprintf(nm, sizeof nm, "x%d", round % 3);
        if (lora_registry_load(r, nm, round % 2 ? ad_gguf : ad_attn, 1.0f, &err) == 0) loads++;
        nanosleep(&(struct timespec){ .tv_nsec = 2000000 }, NULL);   /* let requests see it */
        if (round % 2) lora_registry_unload(r, nm, NULL);
        lora_listing *l;
        int n;
        if (lora_registry_list(r, &l, &n, &err) == 0) lora_listing_free(l, n);
    }
    atomic_store(&stop_flag, 1);
    int total = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        CHECK(wa[i].got >= 0, "worker %d saw a broken adapter", i);
        total += wa[i].got;
    }
    CHECK(loads >= 12, "loads %d", loads);
    CHECK(total > 0, "no acquire succeeded");
    printf("concurrency: %d loads, %d acquires by 3 threads\n", loads, total);
    lora_registry_free(r);
}

int main(void) {
    const char *out = getenv("OUT") ? getenv("OUT") : "tests/out";
    snprintf(model_path, sizeof model_path, "%s/models/m64/m64-f32.gguf", out);
    snprintf(ad_all, sizeof ad_all, "%s/adapters/m64/all-r8", out);
    snprintf(ad_attn, sizeof ad_attn, "%s/adapters/m64/attn-r4-rs", out);
    snprintf(ad_gguf, sizeof ad_gguf, "%s/adapters/m64/all-r8.gguf", out);
    test_names();
    if (!exists(model_path) || !exists(ad_all) || !exists(ad_gguf)) {
        check_skip("no fixtures (%s, %s): tests/fixtures.sh makes them", model_path, ad_all);
        int rc = check_done();
        return rc ? rc : 77;     /* the registry itself was not tested */
    }
    sa_err err = {{0}};
    model_opts mo = { .n_threads = 2 };
    model *m = model_load(model_path, &mo, &err);
    if (!m) { CHECK_FAIL("%s", err.msg); return check_done(); }
    test_registry(m);
    test_concurrency(m);
    model_free(m);
    test_merge();
    return check_done();
}

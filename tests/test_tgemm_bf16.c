/*
** test_tgemm_bf16.c — the training products at --precision bf16
** (src/train/tgemm.h): forward y = x·Wᵀ + b, dx (=, +=) dy·W and
** dW += dyᵀ·x equal a double-precision reference computed on the operands
** rounded to bfloat16 here (round to nearest even, f32 subnormals to zero,
** as VCVTNEPS2BF16 does), within 1e-5 of Σ|a·b| (f32 accumulation; a
** wrong rounding or a lost pair is ~1e-3), for odd shapes (no size a
** multiple of 2, 16 or 32; reductions past the 256 block; token counts
** past the 192 block and below the 64 few-token threshold), an f32 and a
** q8_0 weight matrix; the products do differ from the unrounded ones (the
** bf16 path ran); results are bitwise the same on 1 and 3 threads; ties
** round to even. Each bf16 path the CPU has runs the whole test
** (VDPBF16PS, AMX tiles, and the tiles' software model everywhere; the
** hardware tiles sum a tile's 32 products in an order of their own, a few
** f32 ulps from the model's, so each is held to the reference). Exits 77 (skipped) on CPUs without AVX512_BF16 (or with
** SQLASSIST_ISA=avx2|portable), after checking that bf16 is refused there.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/kernels.h"
#include "train/tgemm.h"

#include "check.h"

static uint64_t rng = 7;
static float frand(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng >> 40) & 0xffffff) / (float)(1 << 24) * 2.0f - 1.0f;
}

/* the reference rounding, written from the definition */
static double bf(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) == 0) u &= 0x80000000u;            /* zero or subnormal: signed zero */
    else u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;  /* nearest, ties to even */
    float r;
    memcpy(&r, &u, 4);
    return r;
}

/* worst |got - ref| / (Σ|a·b| + 1e-30) over the outputs, and the same
** against the unrounded product (to see that rounding happened) */
typedef struct err { double bf, raw; } err;
static void upd(err *e, float got, double ref, double raw, double mag) {
    double d = fabs((double)got - ref) / (mag + 1e-30), r = fabs((double)got - raw) / (mag + 1e-30);
    if (d > e->bf) e->bf = d;
    if (r > e->raw) e->raw = r;
}

#define TOL 1e-5

static void fill(float *v, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) v[i] = frand() * scale;
}

/* one shape: N tokens, K inputs, R outputs; W f32 or q8_0 (K a multiple of 32) */
static void check_shape(tg_ctx *g, int N, int K, int R, uint32_t wtype) {
    float *x = malloc((size_t)N * K * 4), *W = malloc((size_t)R * K * 4), *dy = malloc((size_t)N * R * 4);
    float *b = malloc((size_t)R * 4), *y = malloc((size_t)N * R * 4), *dx = malloc((size_t)N * K * 4);
    float *dx0 = malloc((size_t)N * K * 4), *dW = malloc((size_t)R * K * 4), *dW0 = malloc((size_t)R * K * 4);
    fill(x, (size_t)N * K, 1.0f);
    fill(W, (size_t)R * K, 0.1f);
    fill(dy, (size_t)N * R, 1e-3f);
    fill(b, (size_t)R, 0.5f);
    fill(dx0, (size_t)N * K, 1e-2f);
    fill(dW0, (size_t)R * K, 1e-2f);
    void *wq = NULL;
    wmat w = tg_f32_mat(W, R, K);
    if (wtype != GGML_TYPE_F32) {
        /* the reference sees the dequantized values */
        uint32_t be = 1, bb = 4;
        ggml_type_block(wtype, &be, &bb);
        size_t rb = (size_t)K / be * bb;
        wq = malloc((size_t)R * rb);
        for (int r = 0; r < R; r++) {
            kern_quantize_row(wtype, W + (size_t)r * K, (uint8_t *)wq + (size_t)r * rb, K);
            kern_dequant_row(wtype, (uint8_t *)wq + (size_t)r * rb, W + (size_t)r * K, K);
        }
        w = (wmat){ wtype, R, K, rb, wq };
    }
    err ef = {0, 0}, ex = {0, 0}, exa = {0, 0}, ew = {0, 0};
    /* forward */
    tg_linear_fwd(g, y, x, N, &w, b);
    for (int t = 0; t < N; t++)
        for (int r = 0; r < R; r++) {
            double ref = b[r], raw = b[r], mag = fabs(b[r]);
            for (int k = 0; k < K; k++) {
                double p = bf(x[(size_t)t * K + k]) * bf(W[(size_t)r * K + k]);
                ref += p;
                raw += (double)x[(size_t)t * K + k] * W[(size_t)r * K + k];
                mag += fabs(p);
            }
            upd(&ef, y[(size_t)t * R + r], ref, raw, mag);
        }
    /* dx = dy·W, then dx += dy·W */
    tg_linear_bwd_x(g, dx, dy, N, &w, 0);
    for (int t = 0; t < N; t++)
        for (int k = 0; k < K; k++) {
            double ref = 0, raw = 0, mag = 0;
            for (int r = 0; r < R; r++) {
                double p = bf(dy[(size_t)t * R + r]) * bf(W[(size_t)r * K + k]);
                ref += p;
                raw += (double)dy[(size_t)t * R + r] * W[(size_t)r * K + k];
                mag += fabs(p);
            }
            upd(&ex, dx[(size_t)t * K + k], ref, raw, mag);
        }
    memcpy(dx, dx0, (size_t)N * K * 4);
    tg_linear_bwd_x(g, dx, dy, N, &w, 1);
    for (int t = 0; t < N; t++)
        for (int k = 0; k < K; k++) {
            double ref = dx0[(size_t)t * K + k], raw = ref, mag = fabs(ref);
            for (int r = 0; r < R; r++) {
                double p = bf(dy[(size_t)t * R + r]) * bf(W[(size_t)r * K + k]);
                ref += p;
                raw += (double)dy[(size_t)t * R + r] * W[(size_t)r * K + k];
                mag += fabs(p);
            }
            upd(&exa, dx[(size_t)t * K + k], ref, raw, mag);
        }
    /* dW += dyᵀ·x */
    memcpy(dW, dW0, (size_t)R * K * 4);
    tg_linear_bwd_w(g, dW, dy, x, N, R, K);
    for (int r = 0; r < R; r++)
        for (int k = 0; k < K; k++) {
            double ref = dW0[(size_t)r * K + k], raw = ref, mag = fabs(ref);
            for (int t = 0; t < N; t++) {
                double p = bf(dy[(size_t)t * R + r]) * bf(x[(size_t)t * K + k]);
                ref += p;
                raw += (double)dy[(size_t)t * R + r] * x[(size_t)t * K + k];
                mag += fabs(p);
            }
            upd(&ew, dW[(size_t)r * K + k], ref, raw, mag);
        }
    const char *tn = wtype == GGML_TYPE_F32 ? "f32" : "q8_0";
    printf("N %3d K %3d R %3d W %-4s: error vs bf16-rounded reference fwd %.1e dx %.1e dx+= %.1e dW+= %.1e; "
           "vs unrounded %.1e %.1e %.1e %.1e\n", N, K, R, tn, ef.bf, ex.bf, exa.bf, ew.bf, ef.raw, ex.raw, exa.raw, ew.raw);
    CHECK(ef.bf <= TOL && ex.bf <= TOL && exa.bf <= TOL && ew.bf <= TOL, "N %d K %d R %d %s: beyond %g", N, K, R, tn, TOL);
    /* the bf16 path ran: some output differs from the unrounded product by
    ** far more than f32 summation would (one output of a tiny product may
    ** be luckily exact, so this is asked of the larger ones only) */
    if ((long)N * K * R >= 1000) {
        CHECK(ef.raw > 1e-4 && ex.raw > 1e-4 && ew.raw > 1e-4, "N %d K %d R %d %s: looks unrounded", N, K, R, tn);
    }
    free(x); free(W); free(dy); free(b); free(y); free(dx); free(dx0); free(dW); free(dW0); free(wq);
}

/* the same three products on a 1-thread and a 3-thread pool: bitwise equal */
static void check_threads(const char *path) {
    int N = 211, K = 301, R = 131;
    threadpool *t1 = tp_create(1), *t3 = tp_create(3);
    tg_ctx g1, g3;
    tg_init(&g1, t1);
    tg_init(&g3, t3);
    tg_bf16_select(path);     /* tg_init chose from the environment */
    tg_set_precision(&g1, TG_BF16);
    tg_set_precision(&g3, TG_BF16);
    float *x = malloc((size_t)N * K * 4), *W = malloc((size_t)R * K * 4), *dy = malloc((size_t)N * R * 4);
    float *o1 = calloc((size_t)(N * R + N * K + R * K), 4), *o3 = calloc((size_t)(N * R + N * K + R * K), 4);
    fill(x, (size_t)N * K, 1.0f);
    fill(W, (size_t)R * K, 0.1f);
    fill(dy, (size_t)N * R, 1e-3f);
    wmat w = tg_f32_mat(W, R, K);
    tg_ctx *gs[2] = { &g1, &g3 };
    float *os[2] = { o1, o3 };
    for (int i = 0; i < 2; i++) {
        tg_linear_fwd(gs[i], os[i], x, N, &w, NULL);
        tg_linear_bwd_x(gs[i], os[i] + N * R, dy, N, &w, 0);
        tg_linear_bwd_w(gs[i], os[i] + N * R + N * K, dy, x, N, R, K);
    }
    CHECK(!memcmp(o1, o3, (size_t)(N * R + N * K + R * K) * 4), "1 and 3 threads differ");
    printf("1 and 3 threads: bitwise equal\n");
    free(x); free(W); free(dy); free(o1); free(o3);
    tg_free(&g1);
    tg_free(&g3);
    tp_destroy(t1);
    tp_destroy(t3);
}

/* hand-checked roundings through a 1-token, 2-input product */
static void check_rounding(tg_ctx *g) {
    struct { float a, b, want; const char *what; } c[] = {
        /* bf16 steps by 2^-7 near 1: 1 + 2^-8 and 1 + 3·2^-8 are ties */
        { 1.00390625f, 1.01171875f, 1.0f + 1.015625f, "ties to even (down, then up)" },
        { 0x1.010002p+0f, 0.0f, 1.0078125f, "one f32 ulp above a tie rounds up" },
        { -1.00390625f, 3.0f, -1.0f + 3.0f, "negative tie to even" },
        { 1e-39f, 1.0f, 1.0f, "an f32 subnormal becomes zero" },
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        float x[2] = { c[i].a, c[i].b }, W[2] = { 1.0f, 1.0f }, y = -1;
        wmat w = tg_f32_mat(W, 1, 2);
        tg_linear_fwd(g, &y, x, 1, &w, NULL);
        CHECK(y == c[i].want, "%s: %.9g + %.9g gave %.9g, want %.9g", c[i].what, (double)c[i].a, (double)c[i].b, (double)y,
              (double)c[i].want);
        CHECK(bf(c[i].a) + bf(c[i].b) == c[i].want, "the test's own rounding: %s", c[i].what);
    }
    printf("roundings checked\n");
}

int main(void) {
    kernels_init(getenv("SQLASSIST_ISA"));     /* avx2 or portable: the skip path */
    threadpool *tp = tp_create(2);
    tg_ctx g;
    if (tg_init(&g, tp)) { CHECK_FAIL("tg_init"); return check_done(); }
    const char *why = tg_bf16_unavailable();
    if (why) {
        CHECK(tg_set_precision(&g, TG_BF16) == -1 && g.precision == TG_F32, "bf16 accepted where unavailable");
        check_skip_hw("%s", why);
        tg_free(&g);
        tp_destroy(tp);
        int rc = check_done();
        return rc ? rc : 77;     /* the whole test is skipped on this CPU */
    }
    CHECK(tg_set_precision(&g, TG_BF16) == 0 && g.precision == TG_BF16, "bf16 refused");
    /* every bf16 path this CPU has: the tiles' model runs anywhere */
    static const char *const paths[] = { "vdpbf16ps", "amx-emulated", "amx" };
    for (size_t pi = 0; pi < sizeof paths / sizeof paths[0]; pi++) {
        if (tg_bf16_select(paths[pi]) != 0) {
            printf("path %s: not on this CPU\n", paths[pi]);
            continue;
        }
        CHECK(!strcmp(tg_bf16_path(), paths[pi]), "selected %s, runs %s", paths[pi], tg_bf16_path());
        printf("path %s\n", paths[pi]);
        check_rounding(&g);
        /* N K R: odd everywhere; N past TOK_BLOCK (192) and at or below the few-token 64; K past KC (256); R past
        ** 64; then sizes the tiles take whole (multiples of 16 and 32) and with a 16-wide edge */
        static const int shapes[][3] = {
            { 1, 1, 1 }, { 1, 3, 5 }, { 3, 7, 17 }, { 5, 33, 3 }, { 13, 17, 65 }, { 63, 63, 31 }, { 65, 259, 67 },
            { 193, 129, 97 }, { 197, 513, 131 }, { 37, 301, 257 }, { 64, 512, 96 }, { 96, 544, 80 },
        };
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            check_shape(&g, shapes[i][0], shapes[i][1], shapes[i][2], GGML_TYPE_F32);
        /* a quantized base (LoRA over q8_0): K must be whole blocks */
        check_shape(&g, 67, 96, 75, GGML_TYPE_Q8_0);
        check_shape(&g, 201, 288, 33, GGML_TYPE_Q8_0);
        check_threads(paths[pi]);
    }
    /* back to f32: the unrounded product again */
    tg_set_precision(&g, TG_F32);
    {
        float x[2] = { 1.00390625f, 1.0f }, W[2] = { 1.0f, 1.0f }, y = 0;
        wmat w = tg_f32_mat(W, 1, 2);
        tg_linear_fwd(&g, &y, x, 1, &w, NULL);
        CHECK(y == 2.00390625f, "f32 after bf16: %.9g", (double)y);
    }
    tg_free(&g);
    tp_destroy(tp);
    return check_done();
}

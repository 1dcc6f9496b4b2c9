/*
** test_kernels.c — every SIMD kernel (dot products, GEMM, kern_matvec_t)
** agrees with the portable C kernel on random data of many (including odd)
** sizes, number conversions agree with hand-checked values, and quantize →
** dequantize round trips stay within the format's step.
*/
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/kernels.h"
#include "engine/quant.h"

#include "check.h"

static uint64_t rng = 42;
static float frand(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng >> 40) & 0xffffff) / (float)(1 << 24) * 2.0f - 1.0f;
}

static void test_conversions(void) {
    CHECK(f16_to_f32(0x3c00) == 1.0f, "f16 1.0");
    CHECK(f16_to_f32(0xc000) == -2.0f, "f16 -2.0");
    CHECK(f16_to_f32(0x0001) == ldexpf(1, -24), "f16 smallest subnormal");
    CHECK(f16_to_f32(0x7bff) == 65504.0f, "f16 max");
    CHECK(isinf(f16_to_f32(0x7c00)), "f16 inf");
    CHECK(f32_to_f16(1.0f) == 0x3c00, "to f16 1.0");
    CHECK(f32_to_f16(65520.0f) == 0x7c00, "to f16 overflow rounds to inf");
    CHECK(f32_to_f16(ldexpf(1, -25)) == 0x0000, "to f16: half the smallest subnormal ties to even (0)");
    CHECK(f32_to_f16(ldexpf(3, -25)) == 0x0002, "to f16: 1.5 subnormal steps ties to even (2)");
    /* exhaustive round trip of every finite f16 */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        if (f32_to_f16(f16_to_f32((uint16_t)h)) != h) bad++;
    }
    CHECK(bad == 0, "%d f16 values do not round-trip", bad);
    CHECK(f32_to_bf16(1.0f) == 0x3f80, "bf16 1.0");
    CHECK(f32_to_bf16(1.00390625f) == 0x3f80, "bf16 tie rounds to even");
    CHECK(f32_to_bf16(1.01171875f) == 0x3f82, "bf16 tie rounds to even (up)");
    printf("conversions checked\n");
}

static void test_dots(const char *isa) {
    kernels_init(isa);
    if (strcmp(kernels_isa(), isa) != 0) { check_skip_hw("%s: not available on this CPU", isa); return; }
    const uint32_t types[] = { GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0,
                               GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K };
    const int sizes[] = { 32, 64, 96, 160, 256, 512, 800, 896, 1536, 4864 + 32, 4864, 8960 };
    const int odd_sizes[] = { 1, 3, 7, 15, 17, 31, 33, 63, 65, 127, 1000, 1537 };
    float *x = malloc(9000 * 4), *w = malloc(9000 * 4);
    void *row = malloc(9000 * 4);
    int checked = 0;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        uint32_t t = types[ti];
        int block = (t == GGML_TYPE_Q8_0 || t == GGML_TYPE_Q4_0) ? 32 : (t == GGML_TYPE_Q4_K || t == GGML_TYPE_Q5_K || t == GGML_TYPE_Q6_K) ? 256 : 1;
        for (int pass = 0; pass < 2; pass++) {
            const int *sz = pass ? odd_sizes : sizes;
            int nsz = pass ? (int)(sizeof odd_sizes / sizeof odd_sizes[0]) : (int)(sizeof sizes / sizeof sizes[0]);
            for (int si = 0; si < nsz; si++) {
                int n = sz[si];
                if (n % block) continue;
                double ref_mag = 0;
                for (int i = 0; i < n; i++) { x[i] = frand(); w[i] = frand(); }
                switch (t) {
                case GGML_TYPE_F32: memcpy(row, w, (size_t)n * 4); break;
                case GGML_TYPE_F16: for (int i = 0; i < n; i++) ((uint16_t *)row)[i] = f32_to_f16(w[i]); break;
                case GGML_TYPE_BF16: for (int i = 0; i < n; i++) ((uint16_t *)row)[i] = f32_to_bf16(w[i]); break;
                case GGML_TYPE_Q8_0: quantize_row_q8_0(w, row, n); break;
                case GGML_TYPE_Q4_0: quantize_row_q4_0(w, row, n); break;
                case GGML_TYPE_Q4_K: quantize_row_q4_K(w, row, n); break;
                case GGML_TYPE_Q5_K: quantize_row_q5_K(w, row, n); break;
                case GGML_TYPE_Q6_K: quantize_row_q6_K(w, row, n); break;
                }
                float *deq = malloc((size_t)n * 4);
                kern_dequant_row(t, row, deq, n);
                for (int i = 0; i < n; i++) ref_mag += fabs((double)deq[i] * x[i]);
                double exact = 0;
                for (int i = 0; i < n; i++) exact += (double)deq[i] * x[i];
                float simd = kern_dot(t, row, x, n), port = kern_dot_portable(t, row, x, n);
                double tol = 1e-5 * (ref_mag + 1e-3);
                CHECK(fabs(simd - exact) <= tol, "%s %s n=%d: simd %.7g vs exact %.7g", isa, ggml_type_name(t), n, simd, exact);
                CHECK(fabs(port - exact) <= tol, "%s %s n=%d: portable %.7g vs exact %.7g", isa, ggml_type_name(t), n, port, exact);
                /* quantization error is bounded by half a step per weight */
                if (t == GGML_TYPE_Q8_0 || t == GGML_TYPE_Q4_0) {
                    double maxerr = 0;
                    for (int i = 0; i < n; i++) maxerr = fmax(maxerr, fabs(deq[i] - w[i]));
                    CHECK(maxerr <= (t == GGML_TYPE_Q8_0 ? 1.0 / 127 : 1.0 / 7) * 1.01, "%s n=%d quant error %g", ggml_type_name(t), n, maxerr);
                }
                if (t == GGML_TYPE_Q4_K || t == GGML_TYPE_Q5_K || t == GGML_TYPE_Q6_K) {
                    /* weights are uniform in [-1, 1]: RMS error well under one quantization step */
                    double se = 0;
                    for (int i = 0; i < n; i++) se += (deq[i] - w[i]) * (deq[i] - w[i]);
                    double rms = sqrt(se / n), lim = t == GGML_TYPE_Q4_K ? 0.08 : t == GGML_TYPE_Q5_K ? 0.04 : 0.02;
                    CHECK(rms < lim, "%s n=%d rms error %g (limit %g)", ggml_type_name(t), n, rms, lim);
                }
                free(deq);
                checked++;
            }
        }
    }
    printf("%s: %d kernel/size cases checked\n", isa, checked);
    free(x); free(w); free(row);
}

/* kern_gemm (blocked, transposed panels) against exact sums, for odd row
** counts, token counts that are not multiples of the micro-kernel, and
** K that is not a multiple of the K-chunk. */
static void test_gemm(const char *isa) {
    kernels_init(isa);
    if (strcmp(kernels_isa(), isa) != 0) return;
    kern_gemm_select("f32");     /* the f32 panels for every type; the int8 paths are checked below */
    const uint32_t types[] = { GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K };
    const int rows_list[] = { 1, 15, 64, 100, 130 }, T_list[] = { 1, 4, 6, 7, 13 }, K_list[] = { 256, 288, 768 };
    float *scratch = aligned_alloc(64, KERN_GEMM_SCRATCH * sizeof(float));
    int cases = 0;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
        for (size_t ri = 0; ri < 5; ri++)
            for (size_t ki = 0; ki < 3; ki++)
                for (size_t xi = 0; xi < 5; xi++) {
                    uint32_t t = types[ti];
                    int R = rows_list[ri], K = K_list[ki], T = T_list[xi];
                    uint32_t be, bb;
                    ggml_type_block(t, &be, &bb);
                    if (K % (int)be) continue;
                    size_t rb = (size_t)K / be * bb;
                    uint8_t *W = malloc(rb * (size_t)R);
                    float *row = malloc((size_t)K * 4), *deq = malloc((size_t)R * K * 4), *x = malloc((size_t)T * K * 4);
                    float *out = malloc((size_t)T * R * 4);
                    for (int r = 0; r < R; r++) {
                        for (int k = 0; k < K; k++) row[k] = frand();
                        kern_quantize_row(t, row, W + (size_t)r * rb, K);
                        kern_dequant_row(t, W + (size_t)r * rb, deq + (size_t)r * K, K);
                    }
                    for (int i = 0; i < T * K; i++) x[i] = frand();
                    for (int i = 0; i < T * R; i++) out[i] = (float)i * 0.25f;    /* gemm accumulates */
                    kern_gemm(t, W, rb, 0, R, K, x, T, out, R, scratch);
                    double maxerr = 0;
                    for (int tt = 0; tt < T; tt++)
                        for (int r = 0; r < R; r++) {
                            double e = (double)(tt * R + r) * 0.25, mag = 0;
                            for (int k = 0; k < K; k++) { e += (double)deq[(size_t)r * K + k] * x[(size_t)tt * K + k]; mag += fabs((double)deq[(size_t)r * K + k] * x[(size_t)tt * K + k]); }
                            double err = fabs(out[(size_t)tt * R + r] - e) / (mag + 1.0);
                            if (err > maxerr) maxerr = err;
                        }
                    CHECK(maxerr < 1e-5, "%s gemm %s R=%d K=%d T=%d: relative error %g", isa, ggml_type_name(t), R, K, T, maxerr);
                    free(W); free(row); free(deq); free(x); free(out);
                    cases++;
                }
    free(scratch);
    printf("%s: %d gemm cases checked\n", isa, cases);
}

/* The activation quantization the int8 GEMM promises (kernels.h): per
** token and 32-block, d = amax/127 and q = round(x/d), ties to even. */
static void ref_quant_act(const float *x, int K, int8_t *q, float *d) {
    for (int b = 0; b < K / 32; b++) {
        float amax = 0;
        for (int k = 0; k < 32; k++) amax = fmaxf(amax, fabsf(x[32 * b + k]));
        float db = amax / 127.0f, id = db != 0.0f ? 1.0f / db : 0.0f;
        for (int k = 0; k < 32; k++) q[32 * b + k] = (int8_t)nearbyintf(x[32 * b + k] * id);
        d[b] = db;
    }
}

/* Integer weights and scale of one q8_0 / q4_0 block. */
static float ref_block(uint32_t t, const uint8_t *blk, int8_t w[32]) {
    uint16_t h;
    memcpy(&h, blk, 2);
    for (int k = 0; k < 32; k++)
        w[k] = t == GGML_TYPE_Q8_0 ? (int8_t)blk[2 + k] : (int8_t)(((blk[2 + k % 16] >> (k < 16 ? 0 : 4)) & 15) - 8);
    return f16_to_f32(h);
}

/* One int8 GEMM case: W (R rows × K, type t) against T random tokens, out
** pre-filled (kern_gemm accumulates), compared with an exact (double) sum of
** d_w·d_x·Σ q_w·q_x — or, on the "f32" path, with Σ w·x — relative to Σ of
** the terms' magnitudes. Runs both kern_gemm and the prepared API split at
** row 64 as two threads would, and checks they agree bit for bit. Returns
** the relative error. */
static double gemm_int8_case(const char *path, uint32_t t, int R, int K, int T, int zero_rows) {
    uint32_t be, bb;
    ggml_type_block(t, &be, &bb);
    size_t rb = (size_t)K / be * bb;
    uint8_t *W = malloc(rb * (size_t)R);
    float *row = malloc((size_t)K * 4), *x = malloc((size_t)T * K * 4), *d = malloc((size_t)T * (K / 32) * 4);
    float *out = malloc((size_t)T * R * 4), *out2 = malloc((size_t)T * R * 4);
    int8_t *q = malloc((size_t)T * K), w[32];
    float *scratch = aligned_alloc(64, KERN_GEMM_SCRATCH * sizeof(float));
    for (int r = 0; r < R; r++) {
        float scale = (r % 7 == 3) ? 1e-3f : 1.0f;          /* rows of different magnitude */
        for (int k = 0; k < K; k++) row[k] = frand() * scale;
        kern_quantize_row(t, row, W + (size_t)r * rb, K);
    }
    for (int i = 0; i < T * K; i++) x[i] = frand() * (i % 97 == 5 ? 20.0f : 1.0f);   /* outliers */
    if (zero_rows) memset(x, 0, (size_t)K * 4);                                        /* an all-zero token */
    for (int i = 0; i < T * R; i++) out[i] = out2[i] = (float)(i % 13) * 0.25f;
    for (int i = 0; i < T; i++) ref_quant_act(x + (size_t)i * K, K, q + (size_t)i * K, d + (size_t)i * (K / 32));
    kern_gemm(t, W, rb, 0, R, K, x, T, out, R, scratch);
    size_t nb = kern_gemm_prepare_bytes(t, T, K);
    int f32 = strcmp(path, "f32") == 0;
    CHECK(f32 ? nb == 0 : nb > 0, "%s: prepare_bytes %zu", path, nb);
    if (nb) {
        void *buf = aligned_alloc(64, nb);
        const kern_gemm_act *a = kern_gemm_prepare(t, x, T, K, buf);
        int split = R < 64 ? R : 64;
        kern_gemm_prepared(t, W, rb, split, R, a, out2, R, scratch);
        kern_gemm_prepared(t, W, rb, 0, split, a, out2, R, scratch);
        CHECK(memcmp(out, out2, (size_t)T * R * 4) == 0, "%s %s R=%d K=%d T=%d: prepared and unprepared differ", path,
              ggml_type_name(t), R, K, T);
        free(buf);
    }
    double maxerr = 0;
    for (int tt = 0; tt < T; tt++)
        for (int r = 0; r < R; r++) {
            double e = (double)((tt * R + r) % 13) * 0.25, mag = 0;
            for (int b = 0; b < K / 32; b++) {
                float dw = ref_block(t, W + (size_t)r * rb + (size_t)b * bb, w);
                if (f32) {
                    for (int k = 0; k < 32; k++) {
                        double p = (double)dw * w[k] * x[(size_t)tt * K + 32 * b + k];
                        e += p;
                        mag += fabs(p);
                    }
                } else {
                    long isum = 0;
                    for (int k = 0; k < 32; k++) isum += (long)w[k] * q[(size_t)tt * K + 32 * b + k];
                    double p = (double)dw * d[(size_t)tt * (K / 32) + b] * (double)isum;
                    e += p;
                    mag += fabs(p);
                }
            }
            double err = fabs(out[(size_t)tt * R + r] - e) / (mag + 1.0);
            if (!(err <= maxerr)) maxerr = err;        /* NaN counts as an error */
        }
    free(W); free(row); free(x); free(d); free(out); free(out2); free(q); free(scratch);
    return maxerr;
}

/* The q8_0/q4_0 GEMM on each path (kern_gemm_select): odd row counts, rows
** not a multiple of 16, T from 1 to 70 (not multiples of the 3-token VNNI
** or 16-token AMX tiles), K of one block, several K-chunks, and a tail. */
static void test_gemm_int8(const char *path) {
    kernels_init("avx512");
    if (strcmp(kernels_isa(), "avx512") != 0 || kern_gemm_select(path) != 0) {
        /* the emulated tile path runs wherever VNNI does: refusing it means its
        ** self-test against VNNI (kern_gemm_select) failed */
        CHECK(strcmp(path, "amx-emulated") != 0 || strcmp(kernels_isa(), "avx512") != 0 || kern_gemm_select("vnni") != 0,
              "amx-emulated refused although vnni is available: the AMX code disagrees with VNNI");
        check_skip_hw("int8 gemm %s: not available on this CPU", path);
        kernels_init(NULL);
        return;
    }
    CHECK(strcmp(kern_gemm_name(), path) == 0, "kern_gemm_name %s, selected %s", kern_gemm_name(), path);
    const uint32_t types[] = { GGML_TYPE_Q8_0, GGML_TYPE_Q4_0 };
    const int rows_list[] = { 1, 15, 17, 64, 100, 130 }, K_list[] = { 32, 288, 544, 1056 }, T_list[] = { 1, 3, 4, 5, 16, 17, 33 };
    int cases = 0, emu = strcmp(path, "amx-emulated") == 0;
    for (size_t ti = 0; ti < 2; ti++) {
        uint32_t t = types[ti];
        for (size_t ri = 0; ri < sizeof rows_list / sizeof rows_list[0]; ri++)
            for (size_t ki = 0; ki < sizeof K_list / sizeof K_list[0]; ki++)
                for (size_t xi = 0; xi < sizeof T_list / sizeof T_list[0]; xi++) {
                    int R = rows_list[ri], K = K_list[ki], T = T_list[xi];
                    if (emu && K > 544) continue;                      /* the emulator is slow */
                    double err = gemm_int8_case(path, t, R, K, T, xi == 2);
                    CHECK(err < 1e-5, "int8 gemm %s %s R=%d K=%d T=%d: relative error %g", path, ggml_type_name(t), R, K, T, err);
                    cases++;
                }
        for (int T = 4; T <= 70; T += emu ? 11 : 1) {
            double err = gemm_int8_case(path, t, 77, 320, T, 0);
            CHECK(err < 1e-5, "int8 gemm %s %s R=77 K=320 T=%d: relative error %g", path, ggml_type_name(t), T, err);
            cases++;
        }
    }
    printf("int8 gemm %s: %d cases checked\n", path, cases);
    kernels_init(NULL);
}

/* How far the int8 GEMM's activation rounding moves a product from the f32
** one: at most Σ_b |d_w|·Σ|w|·d_x/2 per output, printed for the record. */
static void test_gemm_int8_vs_f32(void) {
    kernels_init("avx512");
    if (strcmp(kernels_isa(), "avx512") != 0 || kern_gemm_select(NULL) != 0 || strcmp(kern_gemm_name(), "f32") == 0) return;
    int R = 64, K = 1536, T = 8;
    size_t rb = (size_t)K / 32 * sizeof(block_q8_0);
    uint8_t *W = malloc(rb * R);
    float *x = malloc((size_t)T * K * 4), *o8 = calloc((size_t)T * R, 4), *o32 = calloc((size_t)T * R, 4), *row = malloc((size_t)K * 4);
    float *scratch = aligned_alloc(64, KERN_GEMM_SCRATCH * sizeof(float));
    for (int r = 0; r < R; r++) {
        for (int k = 0; k < K; k++) row[k] = frand();
        quantize_row_q8_0(row, (block_q8_0 *)(W + (size_t)r * rb), K);
    }
    for (int i = 0; i < T * K; i++) x[i] = frand();
    kern_gemm(GGML_TYPE_Q8_0, W, rb, 0, R, K, x, T, o8, R, scratch);
    kern_gemm_select("f32");
    kern_gemm(GGML_TYPE_Q8_0, W, rb, 0, R, K, x, T, o32, R, scratch);
    double se = 0, ss = 0;
    for (int i = 0; i < T * R; i++) { se += (o8[i] - o32[i]) * (double)(o8[i] - o32[i]); ss += (double)o32[i] * o32[i]; }
    printf("int8 vs f32 activations, q8_0 K=%d: relative RMS difference %.2e\n", K, sqrt(se / ss));
    CHECK(sqrt(se / ss) < 2e-2, "int8 vs f32: relative RMS difference %g", sqrt(se / ss));
    free(W); free(x); free(o8); free(o32); free(row); free(scratch);
    kernels_init(NULL);
}

/* ---- integer dot products against quantized activations (decode) ------- */

static int act_block(uint32_t t) { return kern_act_format(t) == KERN_ACT_Q8_K ? 256 : 32; }

/* One weight row of n values in type t: from the quantizer (random == 0) or
** random bytes with a sane f16 scale (every bit pattern of the quants,
** 6-bit scales/mins up to 63, q6_K scales −128..127, q8_0 −128). */
static void make_row(uint32_t t, int n, int random, float *tmp, uint8_t *row) {
    if (!random) {
        for (int i = 0; i < n; i++) tmp[i] = frand() * (i % 61 == 7 ? 4.0f : 1.0f);
        kern_quantize_row(t, tmp, row, n);
        return;
    }
    uint32_t be, bb;
    ggml_type_block(t, &be, &bb);
    for (size_t i = 0; i < (size_t)n / be * bb; i++) { frand(); row[i] = (uint8_t)(rng >> 33); }
    for (int b = 0; b < n / (int)be; b++) {
        uint8_t *blk = row + (size_t)b * bb;
        uint16_t d = f32_to_f16(frand() * 0.02f), dmin = f32_to_f16(frand() * 0.01f);
        switch (t) {
        case GGML_TYPE_Q8_0: case GGML_TYPE_Q4_0: memcpy(blk, &d, 2); break;
        case GGML_TYPE_Q4_K: memcpy(&((block_q4_K *)blk)->d, &d, 2); memcpy(&((block_q4_K *)blk)->dmin, &dmin, 2); break;
        case GGML_TYPE_Q5_K: memcpy(&((block_q5_K *)blk)->d, &d, 2); memcpy(&((block_q5_K *)blk)->dmin, &dmin, 2); break;
        case GGML_TYPE_Q6_K: memcpy(&((block_q6_K *)blk)->d, &d, 2); break;
        }
    }
}

/* x̂ = d·q of block-quantized activations (either format), in double. */
static void act_dequant(uint32_t t, const void *act, int n, double *xh, double *d_of) {
    if (kern_act_format(t) == KERN_ACT_Q8_K) {
        const block_q8_K *b = act;
        for (int i = 0; i < n; i++) { xh[i] = (double)b[i / 256].d * b[i / 256].qs[i % 256]; d_of[i] = b[i / 256].d; }
    } else {
        const int8_t *q = act;
        const float *d = (const float *)((const uint8_t *)act + KERN_ACT32_D(n));
        for (int i = 0; i < n; i++) { xh[i] = (double)d[i / 32] * q[i]; d_of[i] = d[i / 32]; }
    }
}

/* The quantizer's promise (kernels.h, quant.h): per block d = amax/127,
** |x − d·q| ≤ d/2, |q| ≤ 127, and the sums (s of 32-blocks, q8_K bsums)
** are the sums of q. q = round(x·(1/d)) rather than round(x/d): the two
** differ by a few ulp of at most 127, so a near-tie may round the other
** way: d/2 gets a margin of 1e-4·d. Returns the number of violations. */
#define ACT_HALF_STEP (0.5 + 1e-4)
static int act_check(uint32_t t, const float *x, const void *act, int n) {
    int bad = 0, B = act_block(t);
    for (int b = 0; b < n / B; b++) {
        float amax = 0;
        for (int i = 0; i < B; i++) amax = fmaxf(amax, fabsf(x[b * B + i]));
        const int8_t *q;
        float d;
        if (kern_act_format(t) == KERN_ACT_Q8_K) {
            const block_q8_K *k = (const block_q8_K *)act + b;
            q = k->qs;
            d = k->d;
            for (int j = 0; j < 16; j++) {
                int s = 0;
                for (int l = 0; l < 16; l++) s += q[16 * j + l];
                bad += s != k->bsums[j];
            }
        } else {
            q = (const int8_t *)act + 32 * b;
            d = ((const float *)((const uint8_t *)act + KERN_ACT32_D(n)))[b];
            int s = 0;
            for (int l = 0; l < 32; l++) s += q[l];
            bad += s != ((const int32_t *)((const uint8_t *)act + KERN_ACT32_S(n)))[b];
            /* the expanded copies that the several-token kernels read */
            const uint8_t *u = (const uint8_t *)act + KERN_ACT32_U(n) + 32 * b;
            const float *dx = (const float *)((const uint8_t *)act + KERN_ACT32_DX(n)) + 8 * b;
            const int32_t *sx = (const int32_t *)((const uint8_t *)act + KERN_ACT32_SX(n)) + 8 * b;
            for (int l = 0; l < 32; l++) bad += u[l] != q[l] + 128;
            for (int l = 0; l < 8; l++) bad += memcmp(&dx[l], &d, 4) != 0 || sx[l] != -s;
        }
        bad += d != amax / 127.0f;
        for (int i = 0; i < B; i++)
            bad += q[i] < -127 || fabs((double)x[b * B + i] - (double)d * q[i]) > d * ACT_HALF_STEP;
    }
    return bad;
}

/* For each integer-path type and size, on the selected ISA:
**  - the activation quantizer agrees byte for byte with the portable one
**    and keeps its promise (act_check);
**  - kern_dot_act (SIMD) and kern_dot_act_portable both equal the exact
**    Σ w_i·x̂_i (double) within 1e-5·Σ|w_i·x̂_i|: the integer sums are
**    exact, only f32 scaling and summation round;
**  - against the f32 path kern_dot(w, x) the difference is at most the
**    activation rounding, Σ_blocks (d_x/2)·Σ_{i∈block}|w_i| (each x̂_i is
**    within d_x/2 of x_i), plus 1e-5·Σ|w_i·x_i| for f32 rounding. With
**    uniform x that bound is ~1/127 of Σ|w·x|, so a wrong scale, min or
**    sub-block order (tens of percent) cannot pass.
** Rows are quantizer output and random bytes; x has outliers and, in half
** the cases, an all-zero block. NaN and Inf in x must give NaN. */
static void test_dot_act(const char *isa) {
    kernels_init(isa);
    if (strcmp(kernels_isa(), isa) != 0) { check_skip_hw("act %s: not available on this CPU", isa); kernels_init(NULL); return; }
    const char *ai = kern_dot_act_isa();
    int ai_ok = !strcmp(isa, "portable") ? !strcmp(ai, "portable")
              : !strcmp(isa, "avx2") ? !strcmp(ai, "avx2")
              : !strcmp(ai, "vnni") || !strcmp(ai, "avx2");          /* avx512: VNNI where the CPU has it */
    CHECK(ai_ok, "isa %s: integer kernels %s", isa, ai);
    const uint32_t types[] = { GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K };
    const int sizes[] = { 32, 64, 96, 160, 256, 512, 768, 800, 1536, 4864 + 32, 4864, 8960 };
    enum { NMAX = 8960 };
    float *x = malloc(NMAX * 4), *tmp = malloc(NMAX * 4), *deq = malloc(NMAX * 4);
    double *xh = malloc(NMAX * 8), *dx = malloc(NMAX * 8);
    int cases = 0;
    double worst_exact = 0, worst_bound = 0;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        uint32_t t = types[ti];
        CHECK(kern_act_format(t) != KERN_ACT_NONE, "%s has no integer path", ggml_type_name(t));
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            int n = sizes[si];
            if (n % act_block(t)) { CHECK(kern_act_bytes(t, n) == 0, "%s n=%d: act bytes for a partial block", ggml_type_name(t), n); continue; }
            size_t ab = kern_act_bytes(t, n);
            CHECK(ab > 0 && ab % 64 == 0 && ab <= KERN_ACT32_BYTES(NMAX) + NMAX, "%s n=%d: act bytes %zu", ggml_type_name(t), n, ab);
            uint32_t be, bb;
            ggml_type_block(t, &be, &bb);
            /* exact sizes, so that the sanitizer build catches a read past the end */
            uint8_t *row = malloc((size_t)n / be * bb);
            void *act = aligned_alloc(64, ab), *act2 = aligned_alloc(64, ab);
            for (int rnd = 0; rnd < 2; rnd++) {
                float xs = rnd ? 0.05f : 3.0f;
                for (int i = 0; i < n; i++) x[i] = frand() * xs * (i % 97 == 5 ? 30.0f : 1.0f);
                if (rnd == 0 && n >= 2 * act_block(t)) memset(x + act_block(t), 0, (size_t)act_block(t) * 4);   /* a zero block */
                make_row(t, n, rnd, tmp, row);
                memset(act, 0xa5, ab);
                memset(act2, 0x5a, ab);
                kern_act_quantize(t, x, n, act);
                kern_act_quantize_portable(t, x, n, act2);
                int same;      /* the data, not the padding */
                if (kern_act_format(t) == KERN_ACT_Q8_K) same = !memcmp(act, act2, (size_t)n / 256 * sizeof(block_q8_K));
                else same = !memcmp(act, act2, (size_t)n) &&
                            !memcmp((uint8_t *)act + KERN_ACT32_D(n), (uint8_t *)act2 + KERN_ACT32_D(n), (size_t)n / 8) &&
                            !memcmp((uint8_t *)act + KERN_ACT32_S(n), (uint8_t *)act2 + KERN_ACT32_S(n), (size_t)n / 8);
                CHECK(same, "%s %s n=%d: activation quantizer differs from the portable one", isa, ggml_type_name(t), n);
                int bad = act_check(t, x, act, n);
                CHECK(bad == 0, "%s %s n=%d: %d activation quantization violations", isa, ggml_type_name(t), n, bad);
                kern_dequant_row(t, row, deq, n);
                act_dequant(t, act, n, xh, dx);
                double exact = 0, mag = 0, magx = 0, bound = 0;
                for (int i = 0; i < n; i++) {
                    exact += deq[i] * xh[i];
                    mag += fabs(deq[i] * xh[i]);
                    magx += fabs((double)deq[i] * x[i]);
                    bound += dx[i] * ACT_HALF_STEP * fabs(deq[i]);
                }
                float simd = kern_dot_act(t, row, act, n), port = kern_dot_act_portable(t, row, act, n);
                float f32 = kern_dot(t, row, x, n);
                double tol = 1e-5 * mag + 1e-30;
                CHECK(fabs(simd - exact) <= tol, "%s %s n=%d rnd=%d: integer kernel %.9g vs exact %.9g (tol %.3g)", isa, ggml_type_name(t), n, rnd, simd, exact, tol);
                CHECK(fabs(port - exact) <= tol, "%s %s n=%d rnd=%d: portable integer kernel %.9g vs exact %.9g", isa, ggml_type_name(t), n, rnd, port, exact);
                double lim = bound + 1e-5 * magx + 1e-30;
                CHECK(fabs(simd - (double)f32) <= lim, "%s %s n=%d rnd=%d: integer %.9g vs f32 %.9g: |diff| %.3g > bound %.3g",
                      isa, ggml_type_name(t), n, rnd, simd, f32, fabs(simd - (double)f32), lim);
                worst_exact = fmax(worst_exact, fabs(simd - exact) / (mag + 1e-30));
                worst_bound = fmax(worst_bound, fabs(simd - (double)f32) / lim);
                cases++;
            }
            free(row); free(act); free(act2);
        }
        /* a NaN (and an Inf) in x reaches the output, as on the f32 path */
        int n = 2 * act_block(t);
        uint32_t be, bb;
        ggml_type_block(t, &be, &bb);
        uint8_t *row = malloc((size_t)n / be * bb);
        void *act = aligned_alloc(64, kern_act_bytes(t, n));
        for (int i = 0; i < n; i++) x[i] = frand();
        make_row(t, n, 0, tmp, row);
        x[3] = NAN;
        kern_act_quantize(t, x, n, act);
        CHECK(isnan(kern_dot_act(t, row, act, n)), "%s %s: NaN in x does not reach the output", isa, ggml_type_name(t));
        x[3] = INFINITY;
        kern_act_quantize(t, x, n, act);
        CHECK(isnan(kern_dot_act(t, row, act, n)), "%s %s: Inf in x does not reach the output", isa, ggml_type_name(t));
        free(row); free(act);
    }
    printf("%s: %d integer dot cases (kernels %s); max |int - exact|/sum|w*x^| %.2e, max |int - f32|/bound %.3f\n", isa, cases, ai,
           worst_exact, worst_bound);
    free(x); free(tmp); free(deq); free(xh); free(dx);
    kernels_init(NULL);
}

/* ---- k-quant GEMM (prompt processing) against exact sums ---------------- */

/* Integer content of one k-quant super-block, unpacked here independently
** of quant.c: q[256] (q4_K 0..15, q5_K 0..31, q6_K 0..63), per-value scale
** index sub[256], scales sc[16], mins mn[8] (q4_K/q5_K), d, dmin; the value
** is d·sc·q − dmin·m (q4_K/q5_K) or d·sc·(q − 32) (q6_K). */
static void kq_ref_block(uint32_t t, const uint8_t *b, int q[256], int sub[256], int sc[16], int mn[8], double *d, double *dmin) {
    uint16_t h;
    if (t == GGML_TYPE_Q6_K) {
        memcpy(&h, b + 208, 2);
        *d = f16_to_f32(h);
        *dmin = 0;
        for (int j = 0; j < 16; j++) sc[j] = (int8_t)b[192 + j];
        for (int i = 0; i < 256; i++) {
            int half = i / 128, v = i % 128, s = v / 32, l = v % 32;
            int lo = b[64 * half + 32 * (s & 1) + l] >> (s >= 2 ? 4 : 0) & 15;
            int hi = b[128 + 32 * half + l] >> (2 * s) & 3;
            q[i] = lo | hi << 4;
            sub[i] = i / 16;
        }
        return;
    }
    memcpy(&h, b, 2);
    *d = f16_to_f32(h);
    memcpy(&h, b + 2, 2);
    *dmin = f16_to_f32(h);
    const uint8_t *s = b + 4;
    for (int j = 0; j < 8; j++) {
        if (j < 4) { sc[j] = s[j] & 63; mn[j] = s[j + 4] & 63; }
        else { sc[j] = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4; mn[j] = (s[j + 4] >> 4) | (s[j] >> 6) << 4; }
    }
    int q5 = t == GGML_TYPE_Q5_K;
    const uint8_t *qs = b + (q5 ? 48 : 16), *qh = b + 16;
    for (int i = 0; i < 256; i++) {
        int c = i / 64, l = i % 32, upper = (i % 64) >= 32;
        q[i] = qs[32 * c + l] >> (upper ? 4 : 0) & 15;
        if (q5) q[i] |= (qh[l] >> (2 * c + upper) & 1) << 4;
        sub[i] = i / 32;
    }
}

static void make_row(uint32_t t, int n, int random, float *tmp, uint8_t *row);

/* One k-quant GEMM case (R rows × K of type t, T tokens, out pre-filled):
** kern_gemm against the exact Σ_blocks d_x·Σ_i w_i·q_i in double (w_i =
** d·sc·q − dmin·m from the integers above), relative to Σ|w_i·x̂_i|; and
** against the decode dot kern_dot_act on the same activations (the same
** math: equal up to f32 rounding). Prepared (split at row 64 as two threads
** would) must equal kern_gemm bit for bit. *worst_dec receives the largest
** relative difference to the decode dot. Returns the exact-sum error. */
static double gemm_kq_case(uint32_t t, int R, int K, int T, int variant, double *worst_dec) {
    uint32_t be, bb;
    ggml_type_block(t, &be, &bb);
    size_t rb = (size_t)K / be * bb, ab = kern_act_bytes(t, K);
    int nsb = K / 256;
    uint8_t *W = malloc(rb * (size_t)R);
    float *tmp = malloc((size_t)K * 4), *x = malloc((size_t)T * K * 4);
    float *out = malloc((size_t)T * R * 4), *out2 = malloc((size_t)T * R * 4);
    uint8_t *act = aligned_alloc(64, ab * (size_t)T);
    float *scratch = aligned_alloc(64, KERN_GEMM_SCRATCH * sizeof(float));
    for (int r = 0; r < R; r++) make_row(t, K, variant == 1 || r % 3 != 0, tmp, W + (size_t)r * rb);
    for (int i = 0; i < T * K; i++) x[i] = frand() * (i % 97 == 5 ? 20.0f : 1.0f);
    if (variant == 2) memset(x, 0, (size_t)K * 4);                       /* an all-zero token */
    if (variant == 3 && T > 1) x[(size_t)K + 3] = NAN;                   /* token 1: NaN everywhere */
    for (int i = 0; i < T; i++) kern_act_quantize(t, x + (size_t)i * K, K, act + (size_t)i * ab);
    for (int i = 0; i < T * R; i++) out[i] = out2[i] = (float)(i % 13) * 0.25f;
    kern_gemm(t, W, rb, 0, R, K, x, T, out, R, scratch);
    size_t nb = kern_gemm_prepare_bytes(t, T, K);
    CHECK(nb > 0, "k-quant %s: prepare_bytes 0", ggml_type_name(t));
    if (nb) {
        void *buf = aligned_alloc(64, nb);
        const kern_gemm_act *a = kern_gemm_prepare(t, x, T, K, buf);
        int split = R < 64 ? R : 64;
        kern_gemm_prepared(t, W, rb, split, R, a, out2, R, scratch);
        kern_gemm_prepared(t, W, rb, 0, split, a, out2, R, scratch);
        CHECK(memcmp(out, out2, (size_t)T * R * 4) == 0, "k-quant %s R=%d K=%d T=%d: prepared and unprepared differ",
              ggml_type_name(t), R, K, T);
        free(buf);
    }
    double maxerr = 0;
    int q[256], sub[256], sc[16], mn[8];
    double d, dmin;
    for (int r = 0; r < R; r++)
        for (int tt = 0; tt < T; tt++) {
            const block_q8_K *xb = (const block_q8_K *)(act + (size_t)tt * ab);
            double pre = (double)((tt * R + r) % 13) * 0.25, e = pre, mag = 0;
            for (int s = 0; s < nsb; s++) {
                kq_ref_block(t, W + (size_t)r * rb + (size_t)s * bb, q, sub, sc, mn, &d, &dmin);
                for (int i = 0; i < 256; i++) {
                    double wv = t == GGML_TYPE_Q6_K ? d * sc[sub[i]] * (q[i] - 32) : d * sc[sub[i]] * q[i] - dmin * mn[sub[i]];
                    double p = wv * (double)xb[s].d * xb[s].qs[i];
                    e += p;
                    mag += fabs(p);
                }
            }
            float o = out[(size_t)tt * R + r];
            if (variant == 3 && tt == 1) {
                CHECK(isnan(o), "k-quant %s: NaN in token 1 does not reach row %d", ggml_type_name(t), r);
                continue;
            }
            double err = fabs(o - e) / (mag + 1.0);
            if (!(err <= maxerr)) maxerr = err;        /* NaN counts as an error */
            double dec = pre + kern_dot_act(t, W + (size_t)r * rb, act + (size_t)tt * ab, K);
            double de = fabs(o - dec) / (mag + 1.0);
            if (!(de <= *worst_dec)) *worst_dec = de;
        }
    free(W); free(tmp); free(x); free(out); free(out2); free(act); free(scratch);
    return maxerr;
}

/* The integer k-quant GEMM (taken for q4_K/q5_K/q6_K whenever the int8 path
** is not "f32"): odd row counts, rows not a multiple of 16, T of 1 to 70
** (not multiples of the 3-token tile), odd numbers of super-blocks, random
** bytes (every bit pattern of quants, scales, mins) and quantizer output. */
static void test_gemm_kquant(void) {
    kernels_init("avx512");
    if (strcmp(kernels_isa(), "avx512") != 0 || kern_gemm_select("vnni") != 0) {
        check_skip_hw("k-quant gemm: no AVX-512 VNNI on this CPU");
        kernels_init(NULL);
        return;
    }
    const uint32_t types[] = { GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K };
    const int rows_list[] = { 1, 15, 17, 64, 100, 130 }, K_list[] = { 256, 768, 1280 }, T_list[] = { 1, 2, 4, 5, 17, 64, 70 };
    int cases = 0;
    double worst = 0, worst_dec = 0;
    for (size_t ti = 0; ti < 3; ti++) {
        uint32_t t = types[ti];
        for (size_t ri = 0; ri < sizeof rows_list / sizeof rows_list[0]; ri++)
            for (size_t ki = 0; ki < sizeof K_list / sizeof K_list[0]; ki++)
                for (size_t xi = 0; xi < sizeof T_list / sizeof T_list[0]; xi++) {
                    int R = rows_list[ri], K = K_list[ki], T = T_list[xi];
                    if (T >= 64 && R < 64 && K > 256) continue;          /* keep the reference sums quick */
                    double err = gemm_kq_case(t, R, K, T, (int)((ri + ki + xi) % 4), &worst_dec);
                    CHECK(err < 1e-5, "k-quant gemm %s R=%d K=%d T=%d: relative error %g", ggml_type_name(t), R, K, T, err);
                    worst = fmax(worst, err);
                    cases++;
                }
    }
    CHECK(worst_dec < 1e-5, "k-quant gemm vs decode dots: relative difference %g", worst_dec);
    /* SQLASSIST_GEMM=f32 keeps k-quants on the f32 panels */
    kern_gemm_select("f32");
    CHECK(kern_gemm_prepare_bytes(GGML_TYPE_Q4_K, 8, 512) == 0, "the f32 path quantizes k-quant activations");
    printf("k-quant gemm: %d cases; max |gemm - exact|/sum|w*x^| %.2e, max |gemm - decode dot| %.2e\n", cases, worst, worst_dec);
    kernels_init(NULL);
}

/* kern_dot_act_n (one row, T tokens; prompts without a GEMM) equals the
** single-token kern_dot_act bit for bit, on every ISA, for T odd and even
** around the token blocks of the AVX2 and VNNI kernels, and rows with an odd
** number of 32-blocks (800 values; the k-quants have no 800-value rows). */
static void test_dot_act_n(const char *isa) {
    kernels_init(isa);
    if (strcmp(kernels_isa(), isa) != 0) { kernels_init(NULL); return; }
    const uint32_t types[] = { GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K };
    const int T_list[] = { 1, 3, 4, 5, 7, 8, 11, 17 }, n_list[] = { 256, 768, 800, 1280 };
    int cases = 0;
    float *tmp = malloc(1280 * 4), *x = malloc(17 * 1280 * 4), out[17 * 3];
    for (size_t ti = 0; ti < 5; ti++)
        for (size_t ni = 0; ni < 4; ni++)
            for (size_t xi = 0; xi < 8; xi++) {
                uint32_t t = types[ti];
                int n = n_list[ni], T = T_list[xi];
                uint32_t be, bb;
                ggml_type_block(t, &be, &bb);
                size_t ab = kern_act_bytes(t, n);
                if (n % (int)be) continue;
                CHECK(ab > 0, "%s: no integer path for %d values", ggml_type_name(t), n);
                uint8_t *row = malloc((size_t)n / be * bb), *act = aligned_alloc(64, ab * (size_t)T);
                make_row(t, n, (int)(xi & 1), tmp, row);
                for (int i = 0; i < T * n; i++) x[i] = frand();
                for (int i = 0; i < T; i++) kern_act_quantize(t, x + (size_t)i * n, n, act + (size_t)i * ab);
                for (int i = 0; i < 3 * T; i++) out[i] = -1.0f;
                kern_dot_act_n(t, row, act, ab, T, n, out + 1, 3);
                int bad = 0;
                for (int i = 0; i < T; i++) {
                    float one = kern_dot_act(t, row, act + (size_t)i * ab, n);
                    bad += memcmp(&one, &out[1 + 3 * i], 4) != 0 || out[3 * i] != -1.0f || out[3 * i + 2] != -1.0f;
                }
                CHECK(bad == 0, "%s %s n=%d T=%d: kern_dot_act_n differs from kern_dot_act (%d)", isa, ggml_type_name(t), n, T, bad);
                free(row); free(act);
                cases++;
            }
    printf("%s: %d kern_dot_act_n cases\n", isa, cases);
    free(tmp); free(x);
    kernels_init(NULL);
}

/* The 16-row q8_0 and q4_0 panels (kern_x16_pack, kern_dot_act_x16; kernels.h):
**  - every output equals, bit for bit, a scalar model of the documented
**    order (per block the exact Σ q·w, then acc = fma(isum, d_w·d_x, acc),
**    block after block), built here from the row-major rows;
**  - each token's outputs are the same whether it comes alone or among T;
**  - it stays within 1e-5 (relative to Σ|terms|) of the exact product in
**    double, and of kern_dot_act on the row-major rows;
**  - the int8 GEMM reads the panels to the same bits as the row-major rows
**    (VNNI, and the emulated tiles where VNNI is present);
**  - packing in two ranges of groups gives the same bytes as in one, and
**    kern_x16_row reads every row back byte for byte;
**  - $SQLASSIST_X16=0 turns the panels off. */
static void test_x16(void) {
    kernels_init(NULL);
    if (!kern_x16_ok(GGML_TYPE_Q8_0, 16, 64)) { check_skip_hw("x16 panels: no VNNI integer path on this CPU"); return; }
    CHECK(kern_x16_ok(GGML_TYPE_Q4_0, 16, 64) && !kern_x16_ok(GGML_TYPE_Q4_K, 16, 256) && !kern_x16_ok(GGML_TYPE_F16, 16, 64) &&
          !kern_x16_ok(GGML_TYPE_Q8_0, 24, 64) && !kern_x16_ok(GGML_TYPE_Q8_0, 16, 96),
          "kern_x16_ok refuses q4_0 or accepts a type or shape the panels do not serve");
    setenv("SQLASSIST_X16", "0", 1);
    kernels_init("avx512");
    CHECK(!kern_x16_ok(GGML_TYPE_Q8_0, 16, 64), "SQLASSIST_X16=0 leaves the panels on");
    unsetenv("SQLASSIST_X16");
    kernels_init("avx512");
    const int R_list[] = { 16, 48, 160 }, K_list[] = { 64, 320, 1536 }, T_list[] = { 1, 2, 3, 4, 5, 7, 8, 9, 17 };
    int cases = 0, gemm_cases = 0;
    for (int ty = 0; ty < 2; ty++)
    for (size_t ri = 0; ri < 3; ri++)
        for (size_t ki = 0; ki < 3; ki++) {
            const uint32_t TY = ty ? GGML_TYPE_Q4_0 : GGML_TYPE_Q8_0;
            const char *tn = ggml_type_name(TY);
            int R = R_list[ri], K = K_list[ki], nb = K / 32;
            size_t bb = ty ? sizeof(block_q4_0) : sizeof(block_q8_0), rb = (size_t)nb * bb, ab = kern_act_bytes(TY, K);
            uint8_t *W = malloc(rb * R), *P = aligned_alloc(64, rb * R), *P2 = aligned_alloc(64, rb * R);
            float *tmp = malloc((size_t)K * 4), *x = malloc((size_t)17 * K * 4);
            for (int r = 0; r < R; r++) {
                float sc = 0.01f + 2.0f * (float)((r * 7 + (int)ki) % 11);   /* scales differ by row and block */
                for (int i = 0; i < K; i++) tmp[i] = frand() * sc * (1.0f + (float)((i / 32) % 5));
                if (ty) quantize_row_q4_0(tmp, (block_q4_0 *)(W + (size_t)r * rb), K);
                else quantize_row_q8_0(tmp, (block_q8_0 *)(W + (size_t)r * rb), K);
            }
            kern_x16_pack(TY, W, rb, 0, R / 16, K, P);
            kern_x16_pack(TY, W, rb, R / 32, R / 16, K, P2);
            kern_x16_pack(TY, W, rb, 0, R / 32, K, P2);
            CHECK(memcmp(P, P2, rb * R) == 0, "x16 %s R=%d K=%d: packing in two ranges differs", tn, R, K);
            int bad_rows = 0;
            for (int r = 0; r < R; r++) {
                kern_x16_row(TY, P, rb, r, K, P2);
                bad_rows += memcmp(P2, W + (size_t)r * rb, rb) != 0;
            }
            CHECK(bad_rows == 0, "x16 %s R=%d K=%d: %d rows read back from the panels differ from the rows", tn, R, K, bad_rows);
            uint8_t *act = aligned_alloc(64, ab * 17);
            for (int i = 0; i < 17 * K; i++) x[i] = frand() * (1.0f + (float)(i % 97) / 10.0f);
            for (int t = 0; t < 17; t++) kern_act_quantize(TY, x + (size_t)t * K, K, act + (size_t)t * ab);
            float *out = malloc((size_t)17 * R * 4), *one = malloc((size_t)R * 4);
            for (size_t xi = 0; xi < sizeof T_list / sizeof T_list[0]; xi++) {
                int T = T_list[xi], bad_model = 0, bad_alone = 0, bad_err = 0;
                double worst = 0;
                for (int g = 0; g < R / 16; g++) kern_dot_act_x16(TY, P + (size_t)g * 16 * rb, act, ab, T, K, out + 16 * g, R);
                for (int t = 0; t < T; t++) {
                    const uint8_t *a = act + (size_t)t * ab;
                    const int8_t *q = (const int8_t *)a;
                    const float *d = (const float *)(a + KERN_ACT32_D(K));
                    for (int g = 0; g < R / 16; g++) kern_dot_act_x16(TY, P + (size_t)g * 16 * rb, a, ab, 1, K, one + 16 * g, R);
                    for (int r = 0; r < R; r++) {
                        const uint8_t *wr = W + (size_t)r * rb;
                        float acc = 0.0f;
                        double exact = 0, mag = 0, mag_el = 0;   /* Σ|block terms|, Σ|element terms| */
                        for (int b = 0; b < nb; b++) {
                            /* the block's 32 weights as integers, decoded here from the bytes */
                            const uint8_t *blk = wr + (size_t)b * bb;
                            uint16_t dh;
                            memcpy(&dh, blk, 2);
                            int wv[32];
                            for (int k = 0; k < 32; k++)
                                wv[k] = ty ? (k < 16 ? (blk[2 + k] & 15) - 8 : (blk[2 + k - 16] >> 4) - 8) : (int8_t)blk[2 + k];
                            int32_t is = 0, ia = 0;
                            for (int k = 0; k < 32; k++) is += wv[k] * q[32 * b + k], ia += abs(wv[k] * q[32 * b + k]);
                            float dw = f16_to_f32(dh);
                            mag_el += (double)ia * fabs(dw * d[b]);
                            float f = dw * d[b];
                            acc = fmaf((float)is, f, acc);
                            exact += (double)is * dw * d[b];
                            mag += fabs((double)is * dw * d[b]);
                        }
                        float got = out[(size_t)t * R + r];
                        bad_model += memcmp(&acc, &got, 4) != 0;
                        bad_alone += memcmp(&one[r], &got, 4) != 0;
                        float ref = kern_dot_act(TY, W + (size_t)r * rb, a, K);
                        /* kern_dot_act rounds each int32 lane (4 products) on its own: within
                        ** a block those can cancel, so it is held to the element terms */
                        double e = fmax(fabs(got - exact) / (mag + 1e-30), fabs((double)got - ref) / (mag_el + 1e-30));
                        if (e > worst) worst = e;
                        bad_err += !(e < 1e-5);
                    }
                }
                CHECK(bad_model == 0, "x16 %s R=%d K=%d T=%d: %d outputs differ from the scalar model of the order", tn, R, K, T, bad_model);
                CHECK(bad_alone == 0, "x16 %s R=%d K=%d T=%d: %d outputs differ from the token alone", tn, R, K, T, bad_alone);
                CHECK(bad_err == 0, "x16 %s R=%d K=%d T=%d: %d outputs off the exact product (worst %g)", tn, R, K, T, bad_err, worst);
                cases++;
                /* the GEMM from panels = the GEMM from rows, bit for bit */
                static const char *const paths[] = { "vnni", "amx-emulated" };
                for (int pi = 0; pi < 2; pi++) {
                    if (kern_gemm_select(paths[pi]) != 0 || (pi == 1 && (K > 320 || T > 5))) continue;
                    size_t gb = kern_gemm_prepare_bytes(TY, T, K);
                    void *buf = aligned_alloc(64, gb);
                    const kern_gemm_act *ga = kern_gemm_prepare(TY, x, T, K, buf);
                    float *o1 = calloc((size_t)T * R, 4), *o2 = calloc((size_t)T * R, 4);
                    float *scratch = aligned_alloc(64, KERN_GEMM_SCRATCH * sizeof(float));
                    kern_gemm_prepared(TY, W, rb, 0, R, ga, o1, R, scratch);
                    kern_gemm_prepared_x16(TY, P, rb, 0, R, ga, o2, R, scratch);
                    CHECK(memcmp(o1, o2, (size_t)T * R * 4) == 0, "x16 %s gemm %s R=%d K=%d T=%d: panels and rows differ", tn, paths[pi], R, K, T);
                    /* and each token's row = its one-token dot (out above): decode rows
                    ** may share a prompt's GEMM pass (model_rows_exact) */
                    CHECK(memcmp(out, o2, (size_t)T * R * 4) == 0, "x16 %s gemm %s R=%d K=%d T=%d: the GEMM differs from the dots", tn,
                          paths[pi], R, K, T);
                    if (R > 64) {      /* a range starting past the first 64 rows, as threads take them */
                        memset(o2, 0, (size_t)T * R * 4);
                        kern_gemm_prepared_x16(TY, P, rb, 64, R, ga, o2, R, scratch);
                        kern_gemm_prepared_x16(TY, P, rb, 0, 64, ga, o2, R, scratch);
                        CHECK(memcmp(o1, o2, (size_t)T * R * 4) == 0, "x16 %s gemm %s R=%d K=%d T=%d: split rows differ", tn, paths[pi], R, K, T);
                    }
                    free(o1); free(o2); free(scratch); free(buf);
                    gemm_cases++;
                }
                kern_gemm_select(NULL);
            }
            free(W); free(P); free(P2); free(tmp); free(x); free(act); free(out); free(one);
        }
    printf("x16 panels: %d cases, %d gemm cases\n", cases, gemm_cases);
    kernels_init(NULL);
}

/* $SQLASSIST_GEMM=f32 (f32 activations) also turns off the integer decode path. */
static void test_dot_act_env(void) {
    const char *saved = getenv("SQLASSIST_GEMM");
    char *copy = saved ? strdup(saved) : NULL;
    setenv("SQLASSIST_GEMM", "f32", 1);
    kernels_init("portable");
    CHECK(!kern_dot_act_enabled(), "SQLASSIST_GEMM=f32 leaves the integer decode path on");
    unsetenv("SQLASSIST_GEMM");
    kernels_init("portable");
    CHECK(kern_dot_act_enabled(), "the integer decode path is off without SQLASSIST_GEMM=f32");
    if (copy) setenv("SQLASSIST_GEMM", copy, 1);
    free(copy);
    kernels_init(NULL);
}

/* kern_matvec, kern_outer_add and kern_exp_sub (the training model's
** attention) on each ISA: products against exact double sums on widths
** around the 16-lane blocks and row counts around the 4-row groups, nothing
** written past the rows' n floats; exp within 2 ulp of expf (kernels.h) from -110 to 90,
** exactly 0 for -inf, +inf past e^88.8, NaN kept, and the sum returned. */
static void test_attention_kernels(const char *isa) {
    kernels_init(isa);
    if (strcmp(kernels_isa(), isa) != 0) { kernels_init(NULL); return; }
    static const int ns[] = { 1, 15, 16, 17, 32, 33, 64, 100, 128 };
    static const int rs[] = { 1, 3, 4, 5, 9 };
    int cases = 0;
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (size_t b = 0; b < sizeof rs / sizeof *rs; b++) {
            int n = ns[a], r = rs[b];
            size_t ld = (size_t)n + 3;
            float m[9 * 131], m2[9 * 131], x[128], c[9], out[10], s = -0.61f;
            for (size_t i = 0; i < (size_t)r * ld; i++) m[i] = m2[i] = frand();
            for (int i = 0; i < n; i++) x[i] = frand();
            for (int k = 0; k < r; k++) c[k] = frand();
            out[r] = 12345.0f;
            kern_matvec(out, s, m, ld, x, r, n);
            kern_outer_add(m2, ld, c, r, x, n);
            for (int k = 0; k < r; k++) {
                double sum = 0, mag = 0;
                for (int i = 0; i < n; i++) { sum += (double)m[(size_t)k * ld + i] * x[i]; mag += fabs((double)m[(size_t)k * ld + i] * x[i]); }
                CHECK(fabs(out[k] - s * sum) <= 1e-6 * fabs(s) * mag + 1e-30, "%s matvec n=%d r=%d k=%d: %.9g vs exact %.9g", isa, n, r, k, out[k], s * sum);
                for (size_t i = 0; i < ld; i++) {
                    size_t at = (size_t)k * ld + i;
                    float want = i < (size_t)n ? m[at] + c[k] * x[i] : m[at];
                    CHECK(i < (size_t)n ? fabsf(m2[at] - want) <= 1e-6f * (fabsf(m[at]) + fabsf(c[k] * x[i])) : m2[at] == want,
                          "%s outer_add n=%d r=%d at (%d, %zu): %.9g vs %.9g", isa, n, r, k, i, m2[at], want);
                }
            }
            CHECK(out[r] == 12345.0f, "%s matvec n=%d r=%d wrote past r", isa, n, r);
            cases++;
        }
    float e[205];
    int ne = 201;
    for (int i = 0; i < ne; i++) e[i] = -110.0f + 200.0f * (float)i / (float)(ne - 1) + 0.37f * frand();
    e[ne] = -INFINITY; e[ne + 1] = 95.0f; e[ne + 2] = NAN; e[ne + 3] = 0.0f;
    float ref[205];
    for (int i = 0; i < ne + 4; i++) ref[i] = expf(e[i] - 1.5f);
    kern_exp_sub(e, ne + 2, 1.5f);
    int worst = 0;
    for (int i = 0; i < ne; i++) {
        if (!isfinite(ref[i])) { CHECK(isinf(e[i]) && e[i] > 0, "%s exp(%g) = %g, not +inf", isa, e[i], ref[i]); continue; }
        if (ref[i] < FLT_MIN) { CHECK(e[i] < 2 * FLT_MIN, "%s exp: %g where expf gives %g", isa, e[i], ref[i]); continue; }
        int32_t bits_got, bits_ref;
        memcpy(&bits_got, &e[i], 4);
        memcpy(&bits_ref, &ref[i], 4);
        int ulp = abs((int)(bits_got - bits_ref));
        if (ulp > worst) worst = ulp;
    }
    CHECK(worst <= 2, "%s exp: %d ulp from expf", isa, worst);
    CHECK(e[ne] == 0.0f, "%s exp(-inf) = %g", isa, e[ne]);
    CHECK(isinf(e[ne + 1]) && e[ne + 1] > 0, "%s exp(93.5) = %g", isa, e[ne + 1]);
    float f[40], g[40];
    for (int i = 0; i < 40; i++) f[i] = g[i] = 3.0f * frand();
    float fs = kern_exp_sub(f, 37, 0.25f);
    double want = 0;
    for (int i = 0; i < 37; i++) want += expf(g[i] - 0.25f);
    CHECK(fabs(fs - want) <= 1e-5 * want, "%s exp sum %.9g vs %.9g", isa, fs, want);
    CHECK(f[37] == g[37] && f[39] == g[39], "%s exp wrote past n", isa);
    float h[3] = { NAN, 1.0f, 2.0f };
    kern_exp_sub(h, 3, 0.0f);
    CHECK(isnan(h[0]), "%s exp(NaN) = %g", isa, h[0]);
    printf("%s: %d matvec/outer_add cases, exp within %d ulp of expf\n", isa, cases, worst);
    kernels_init(NULL);
}

/* kern_attn_group (prompt and decode attention, a GQA group at a time) on
** each ISA and the portable reference, against softmax attention summed in
** double: head sizes a multiple of 16 (the AVX-512 path, 48 with a 16-wide
** tail) and not (40), groups of 1 to 14 heads (more than the 8 the AVX-512
** path takes at once), 1 to 70 positions, keys and values in rows wider
** than a head (as in the cache); nothing written past the group's heads. */
static void test_attn_group(const char *isa) {
    kernels_init(isa);
    if (strcmp(kernels_isa(), isa) != 0) { kernels_init(NULL); return; }
    static const int Ds[] = { 16, 40, 48, 64, 128 }, nqs[] = { 1, 2, 6, 8, 9, 14 }, ns[] = { 1, 2, 17, 70 };
    int cases = 0;
    double worst = 0;
    for (size_t a = 0; a < sizeof Ds / sizeof *Ds; a++)
        for (size_t b = 0; b < sizeof nqs / sizeof *nqs; b++)
            for (size_t c = 0; c < sizeof ns / sizeof *ns; c++) {
                int D = Ds[a], nq = nqs[b], n = ns[c];
                size_t stride = (size_t)D * 2 + 5;
                float *q = malloc((size_t)nq * D * sizeof *q), *k = malloc((size_t)n * stride * sizeof *k);
                float *v = malloc((size_t)n * stride * sizeof *v), *out = malloc(((size_t)nq * D + 1) * sizeof *out);
                float *sc = malloc((size_t)nq * n * sizeof *sc);
                for (size_t i = 0; i < (size_t)nq * D; i++) q[i] = 2.0f * frand();
                for (size_t i = 0; i < (size_t)n * stride; i++) { k[i] = frand(); v[i] = frand(); }
                out[(size_t)nq * D] = 12345.0f;
                float scale = 1.0f / sqrtf((float)D);
                if (!strcmp(isa, "portable")) kern_attn_group_portable(q, nq, k, v, stride, n, D, scale, out, sc);
                else kern_attn_group(q, nq, k, v, stride, n, D, scale, out, sc);
                for (int i = 0; i < nq; i++) {
                    double w[70], mx = -1e300, sum = 0;
                    for (int p = 0; p < n; p++) {
                        double d = 0;
                        for (int j = 0; j < D; j++) d += (double)q[(size_t)i * D + j] * k[(size_t)p * stride + j];
                        w[p] = d * scale;
                        if (w[p] > mx) mx = w[p];
                    }
                    for (int p = 0; p < n; p++) { w[p] = exp(w[p] - mx); sum += w[p]; }
                    for (int j = 0; j < D; j++) {
                        double want = 0;
                        for (int p = 0; p < n; p++) want += w[p] / sum * v[(size_t)p * stride + j];
                        double err = fabs(out[(size_t)i * D + j] - want);
                        if (err > worst) worst = err;
                        CHECK(err <= 1e-5, "%s attn_group D=%d nq=%d n=%d head %d [%d]: %.9g vs %.9g", isa, D, nq, n, i, j,
                              out[(size_t)i * D + j], want);
                    }
                }
                CHECK(out[(size_t)nq * D] == 12345.0f, "%s attn_group D=%d nq=%d n=%d wrote past the heads", isa, D, nq, n);
                free(q); free(k); free(v); free(out); free(sc);
                cases++;
            }
    printf("%s: %d attention group cases, worst error %.3g\n", isa, cases, worst);
    kernels_init(NULL);
}

/* kern_matvec_t (LoRA's B product): SIMD and portable against an exact sum,
** on odd widths and ranks, the floats past n left alone. */
static void test_matvec_t(const char *isa) {
    kernels_init(isa);
    if (strcmp(kernels_isa(), isa) != 0) return;
    static const int ns[] = { 1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 129, 255, 256 };
    static const int rs[] = { 1, 3, 16 };
    int cases = 0;
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (size_t b = 0; b < sizeof rs / sizeof *rs; b++) {
            int n = ns[a], r = rs[b];
            size_t ld = (size_t)n + 5;
            float m[16 * 261], c[16], o0[257], o1[257], o2[257], s = 0.37f;
            for (size_t i = 0; i < (size_t)r * ld; i++) m[i] = frand();
            for (int k = 0; k < r; k++) c[k] = frand();
            for (int i = 0; i <= n; i++) o0[i] = o1[i] = o2[i] = frand();
            float guard = o1[n];
            kern_matvec_t(o1, s, m, ld, c, r, n);
            kern_matvec_t_portable(o2, s, m, ld, c, r, n);
            for (int i = 0; i < n; i++) {
                double sum = 0, mag = 0;
                for (int k = 0; k < r; k++) { sum += (double)c[k] * m[(size_t)k * ld + i]; mag += fabs((double)c[k] * m[(size_t)k * ld + i]); }
                double exact = (double)o0[i] + s * sum, tol = 1e-6 * (fabs(s) * mag + fabs((double)o0[i]));
                CHECK(fabs(o1[i] - exact) <= tol, "%s matvec_t n=%d r=%d i=%d: simd %.9g vs exact %.9g", isa, n, r, i, o1[i], exact);
                CHECK(fabs(o2[i] - exact) <= tol, "%s matvec_t n=%d r=%d i=%d: portable %.9g vs exact %.9g", isa, n, r, i, o2[i], exact);
            }
            CHECK(o1[n] == guard && o2[n] == guard, "%s matvec_t n=%d r=%d wrote past n", isa, n, r);
            cases++;
        }
    printf("%s: %d matvec_t cases checked\n", isa, cases);
}

int main(void) {
    test_conversions();
    test_dots("portable");
    test_dots("avx2");
    test_dots("avx512");
    test_gemm("portable");
    test_gemm("avx2");
    test_gemm("avx512");
    test_gemm_int8("f32");
    test_gemm_int8("vnni");
    test_gemm_int8("amx");
    test_gemm_int8("amx-emulated");
    test_gemm_int8_vs_f32();
    test_dot_act("portable");
    test_dot_act("avx2");
    test_dot_act("avx512");
    test_dot_act_env();
    test_gemm_kquant();
    test_dot_act_n("portable");
    test_dot_act_n("avx2");
    test_dot_act_n("avx512");
    test_x16();
    test_attention_kernels("portable");
    test_attention_kernels("avx2");
    test_attention_kernels("avx512");
    test_attn_group("portable");
    test_attn_group("avx2");
    test_attn_group("avx512");
    test_matvec_t("portable");
    test_matvec_t("avx2");
    test_matvec_t("avx512");
    /* q8_0 block layout is ggml's: 2-byte f16 scale then 32 int8 */
    CHECK(sizeof(block_q8_0) == 34 && sizeof(block_q4_0) == 18, "block sizes");
    float v[32];
    for (int i = 0; i < 32; i++) v[i] = (float)(i - 16) / 16.0f;
    block_q8_0 b;
    quantize_row_q8_0(v, &b, 32);
    CHECK(b.qs[0] == -127 && b.qs[16] == 0, "q8_0 values %d %d", b.qs[0], b.qs[16]);
    CHECK(f16_to_f32(b.d) == f16_to_f32(f32_to_f16(1.0f / 127)), "q8_0 scale");
    return check_done();
}

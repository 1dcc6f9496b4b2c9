/*
** test_kernels.c — every SIMD dot kernel agrees with the portable C kernel
** on random data of many (including odd) sizes, number conversions agree
** with hand-checked values, and quantize → dequantize round trips stay
** within the format's step.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/kernels.h"
#include "engine/quant.h"

static int failures;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

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
    if (strcmp(kernels_isa(), isa) != 0) { printf("skip %s: not available on this CPU\n", isa); return; }
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

int main(void) {
    test_conversions();
    test_dots("portable");
    test_dots("avx2");
    test_dots("avx512");
    test_gemm("portable");
    test_gemm("avx2");
    test_gemm("avx512");
    /* q8_0 block layout is ggml's: 2-byte f16 scale then 32 int8 */
    CHECK(sizeof(block_q8_0) == 34 && sizeof(block_q4_0) == 18, "block sizes");
    float v[32];
    for (int i = 0; i < 32; i++) v[i] = (float)(i - 16) / 16.0f;
    block_q8_0 b;
    quantize_row_q8_0(v, &b, 32);
    CHECK(b.qs[0] == -127 && b.qs[16] == 0, "q8_0 values %d %d", b.qs[0], b.qs[16]);
    CHECK(f16_to_f32(b.d) == f16_to_f32(f32_to_f16(1.0f / 127)), "q8_0 scale");
    printf("%s\n", failures ? "FAILED" : "all kernel checks passed");
    return failures ? 1 : 0;
}

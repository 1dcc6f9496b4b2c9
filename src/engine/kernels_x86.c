/*
** kernels_x86.c — AVX-512 and AVX2 versions of the kernels (see kernels.h;
** their prototypes in kernels_impl.h). Compiled with per-function target attributes so the rest of
** the program stays portable; kernels_init() only calls them after CPUID
** says the instructions exist. Tails (n not a multiple of the vector width)
** fall back to the portable kernel on the remaining elements.
*/
#include "kernels.h"
#include "kernels_impl.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "gguf.h"
#include "quant.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define T256 __attribute__((target("avx2,fma,f16c")))

/* f16 → f32 of one scale with the F16C instruction (both ISAs here have it). */
#define H2F(h) _cvtsh_ss(h)

/* ---- AVX-512 ------------------------------------------------------------- */

T512 static float hsum512(__m512 v) { return _mm512_reduce_add_ps(v); }

T512 static float dot_f32_512(const float *w, const float *x, int n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), _mm512_loadu_ps(x + i + 16), a1);
    }
    for (; i + 16 <= n; i += 16) a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), a0);
    float s = hsum512(_mm512_add_ps(a0, a1));
    for (; i < n; i++) s += w[i] * x[i];
    return s;
}

T512 static float dot_f16_512(const uint16_t *w, const float *x, int n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 w0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + i)));
        __m512 w1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + i + 16)));
        a0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + i + 16), a1);
    }
    float s = hsum512(_mm512_add_ps(a0, a1));
    for (; i < n; i++) s += f16_to_f32(w[i]) * x[i];
    return s;
}

T512 static float dot_bf16_512(const uint16_t *w, const float *x, int n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512i r0 = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(w + i)));
        __m512i r1 = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(w + i + 16)));
        a0 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(r0, 16)), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(r1, 16)), _mm512_loadu_ps(x + i + 16), a1);
    }
    float s = hsum512(_mm512_add_ps(a0, a1));
    for (; i < n; i++) s += bf16_to_f32(w[i]) * x[i];
    return s;
}

T512 static float dot_q8_0_512(const block_q8_0 *b, const float *x, int n) {
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < n / QK8_0; i++, x += QK8_0) {
        __m128i q0 = _mm_loadu_si128((const __m128i *)b[i].qs);
        __m128i q1 = _mm_loadu_si128((const __m128i *)(b[i].qs + 16));
        __m512 p = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0)), _mm512_loadu_ps(x));
        p = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1)), _mm512_loadu_ps(x + 16), p);
        acc = _mm512_fmadd_ps(_mm512_set1_ps(H2F(b[i].d)), p, acc);
    }
    return hsum512(acc);
}

T512 static float dot_q4_0_512(const block_q4_0 *b, const float *x, int n) {
    __m512 acc = _mm512_setzero_ps();
    const __m128i lowmask = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
    for (int i = 0; i < n / QK4_0; i++, x += QK4_0) {
        __m128i raw = _mm_loadu_si128((const __m128i *)b[i].qs);
        __m128i lo = _mm_sub_epi8(_mm_and_si128(raw, lowmask), eight);
        __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(raw, 4), lowmask), eight);
        __m512 p = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo)), _mm512_loadu_ps(x));
        p = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi)), _mm512_loadu_ps(x + 16), p);
        acc = _mm512_fmadd_ps(_mm512_set1_ps(H2F(b[i].d)), p, acc);
    }
    return hsum512(acc);
}

/* ---- AVX-512 k-quant unpacking ------------------------------------------ */
/* One q4_K super-block (256 weights) to f32: per 64-chunk, 32 bytes give the
** low nibbles (sub-block 2c) and high nibbles (sub-block 2c+1). */
T512 static void dequant_q4_K_block_512(const block_q4_K *b, float *y) {
    float d = H2F(b->d), dmin = H2F(b->dmin);
    const uint8_t *q = b->qs, *s = b->scales;
    const __m256i mask = _mm256_set1_epi8(0x0f);
    for (int j = 0, is = 0; j < QK_K; j += 64, is += 2, q += 32) {
        uint8_t sc[2], m[2];
        for (int k = 0; k < 2; k++) {
            int jj = is + k;
            if (jj < 4) { sc[k] = s[jj] & 63; m[k] = s[jj + 4] & 63; }
            else { sc[k] = (uint8_t)((s[jj + 4] & 0xF) | ((s[jj - 4] >> 6) << 4)); m[k] = (uint8_t)((s[jj + 4] >> 4) | ((s[jj] >> 6) << 4)); }
        }
        __m256i raw = _mm256_loadu_si256((const __m256i *)q);
        __m256i lo = _mm256_and_si256(raw, mask), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask);
        __m512 d1 = _mm512_set1_ps(d * sc[0]), m1 = _mm512_set1_ps(dmin * m[0]);
        __m512 d2 = _mm512_set1_ps(d * sc[1]), m2 = _mm512_set1_ps(dmin * m[1]);
        _mm512_storeu_ps(y + j, _mm512_fmsub_ps(d1, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(lo))), m1));
        _mm512_storeu_ps(y + j + 16, _mm512_fmsub_ps(d1, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_extracti128_si256(lo, 1))), m1));
        _mm512_storeu_ps(y + j + 32, _mm512_fmsub_ps(d2, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(hi))), m2));
        _mm512_storeu_ps(y + j + 48, _mm512_fmsub_ps(d2, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_extracti128_si256(hi, 1))), m2));
    }
}

/* One q6_K super-block to f32: 16 lanes of l at a time share one scale. */
T512 static void dequant_q6_K_block_512(const block_q6_K *b, float *y) {
    float d = H2F(b->d);
    const uint8_t *ql = b->ql, *qh = b->qh;
    const int8_t *sc = b->scales;
    const __m512i m4 = _mm512_set1_epi32(0xF), m3 = _mm512_set1_epi32(3), k32 = _mm512_set1_epi32(32);
    for (int h = 0; h < QK_K; h += 128, y += 128, ql += 64, qh += 32, sc += 8) {
        for (int l0 = 0; l0 < 32; l0 += 16) {
            int is = l0 / 16;
            __m512i a = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(ql + l0)));
            __m512i c = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(ql + l0 + 32)));
            __m512i e = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(qh + l0)));
            __m512i q1 = _mm512_sub_epi32(_mm512_or_si512(_mm512_and_si512(a, m4), _mm512_slli_epi32(_mm512_and_si512(e, m3), 4)), k32);
            __m512i q2 = _mm512_sub_epi32(_mm512_or_si512(_mm512_and_si512(c, m4), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(e, 2), m3), 4)), k32);
            __m512i q3 = _mm512_sub_epi32(_mm512_or_si512(_mm512_srli_epi32(a, 4), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(e, 4), m3), 4)), k32);
            __m512i q4 = _mm512_sub_epi32(_mm512_or_si512(_mm512_srli_epi32(c, 4), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(e, 6), m3), 4)), k32);
            _mm512_storeu_ps(y + l0, _mm512_mul_ps(_mm512_set1_ps(d * sc[is]), _mm512_cvtepi32_ps(q1)));
            _mm512_storeu_ps(y + l0 + 32, _mm512_mul_ps(_mm512_set1_ps(d * sc[is + 2]), _mm512_cvtepi32_ps(q2)));
            _mm512_storeu_ps(y + l0 + 64, _mm512_mul_ps(_mm512_set1_ps(d * sc[is + 4]), _mm512_cvtepi32_ps(q3)));
            _mm512_storeu_ps(y + l0 + 96, _mm512_mul_ps(_mm512_set1_ps(d * sc[is + 6]), _mm512_cvtepi32_ps(q4)));
        }
    }
}

/* k-quant dot: unpack one super-block with SIMD, then an f32 dot. */
T512 static float dot_kquant_512(uint32_t type, const void *row, const float *x, int n) {
    float tmp[QK_K] __attribute__((aligned(64)));
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < n / QK_K; i++, x += QK_K) {
        switch (type) {
        case GGML_TYPE_Q4_K: dequant_q4_K_block_512((const block_q4_K *)row + i, tmp); break;
        case GGML_TYPE_Q6_K: dequant_q6_K_block_512((const block_q6_K *)row + i, tmp); break;
        default: dequant_row_q5_K((const block_q5_K *)row + i, tmp, QK_K); break;
        }
        for (int k = 0; k < QK_K; k += 16) acc = _mm512_fmadd_ps(_mm512_load_ps(tmp + k), _mm512_loadu_ps(x + k), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

float kern_dot_avx512(uint32_t type, const void *row, const float *x, int n) {
    switch (type) {
    case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K: case GGML_TYPE_Q6_K: return dot_kquant_512(type, row, x, n);
    case GGML_TYPE_F32: return dot_f32_512(row, x, n);
    case GGML_TYPE_F16: return dot_f16_512(row, x, n);
    case GGML_TYPE_BF16: return dot_bf16_512(row, x, n);
    case GGML_TYPE_Q8_0: return dot_q8_0_512(row, x, n);
    case GGML_TYPE_Q4_0: return dot_q4_0_512(row, x, n);
    }
    return kern_dot_portable(type, row, x, n);
}

T512 void kern_axpy_avx512(float *y, float a, const float *x, int n) {
    __m512 va = _mm512_set1_ps(a);
    int i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

/* The value products of kern_attn_group for NQ heads (constant at each call
** site, so the 2·NQ accumulators stay in registers): 32 output floats at a
** time, each value row loaded once for all heads; w[i·n + p] = the weights. */
T512 static inline __attribute__((always_inline)) void attn_values_512(const int NQ, const float *w, int n, const float *v,
                                                                       size_t stride, int D, const float *inv, float *out) {
    for (int c0 = 0; c0 < D; c0 += 32) {
        int two = c0 + 32 <= D;
        __m512 a0[8], a1[8];
#pragma GCC unroll 8
        for (int i = 0; i < NQ; i++) a0[i] = a1[i] = _mm512_setzero_ps();
        for (int p = 0; p < n; p++) {
            const float *vp = v + (size_t)p * stride + c0;
            __m512 v0 = _mm512_loadu_ps(vp), v1 = two ? _mm512_loadu_ps(vp + 16) : _mm512_setzero_ps();
#pragma GCC unroll 8
            for (int i = 0; i < NQ; i++) {
                __m512 wi = _mm512_set1_ps(w[(size_t)i * n + p]);
                a0[i] = _mm512_fmadd_ps(wi, v0, a0[i]);
                a1[i] = _mm512_fmadd_ps(wi, v1, a1[i]);
            }
        }
#pragma GCC unroll 8
        for (int i = 0; i < NQ; i++) {
            __m512 s = _mm512_set1_ps(inv[i]);
            _mm512_storeu_ps(out + (size_t)i * D + c0, _mm512_mul_ps(a0[i], s));
            if (two) _mm512_storeu_ps(out + (size_t)i * D + c0 + 16, _mm512_mul_ps(a1[i], s));
        }
    }
}

/* kern_attn_group for D a multiple of 16. */
T512 void kern_attn_group_avx512(const float *q, int nq, const float *k, const float *v, size_t stride, int n, int D,
                                 float scale, float *out, float *scores) {
    for (int p = 0; p < n; p++) {      /* each key row once, against every head */
        const float *kp = k + (size_t)p * stride;
        for (int i = 0; i < nq; i++) {
            const float *qi = q + (size_t)i * D;
            __m512 a = _mm512_mul_ps(_mm512_loadu_ps(qi), _mm512_loadu_ps(kp));
            for (int c = 16; c < D; c += 16) a = _mm512_fmadd_ps(_mm512_loadu_ps(qi + c), _mm512_loadu_ps(kp + c), a);
            scores[(size_t)i * n + p] = hsum512(a) * scale;
        }
    }
    float inv[8];
    for (int i0 = 0; i0 < nq; i0 += 8) {
        int m = nq - i0 < 8 ? nq - i0 : 8;
        for (int i = 0; i < m; i++) {
            float *sc = scores + (size_t)(i0 + i) * n, mx = -INFINITY;
            for (int p = 0; p < n; p++) mx = sc[p] > mx ? sc[p] : mx;
            inv[i] = 1.0f / kern_exp_sub_avx512(sc, n, mx);
        }
        const float *w = scores + (size_t)i0 * n;
        float *o = out + (size_t)i0 * D;
        switch (m) {
#define NQ_CASE(K) case K: attn_values_512(K, w, n, v, stride, D, inv, o); break;
        NQ_CASE(1) NQ_CASE(2) NQ_CASE(3) NQ_CASE(4) NQ_CASE(5) NQ_CASE(6) NQ_CASE(7) NQ_CASE(8)
#undef NQ_CASE
        }
    }
}

/* ---- AVX-512 GEMM for prompt processing --------------------------------- */
/*
** out[t][r] += Σ_k x[t][k]·W[r][k] over a block of 16 rows at a time: the
** 16 rows' K-slice of 256 is dequantized once into a transposed f32 panel
** [256][16] (one zmm per k), then every token's accumulators sweep it with
** broadcast FMAs, 8 tokens at a time so the panel load is shared. Weights
** are dequantized once per call instead of once per token, and the x slice
** [T][256] stays in L2 however long the rows are.
*/
#define GEMM_KC 256
#define GEMM_ROWS 64

T512 static void dequant_slice_512(uint32_t type, const void *src, float *dst, int n) {
    switch (type) {
    case GGML_TYPE_F32: memcpy(dst, src, (size_t)n * 4); return;
    case GGML_TYPE_F16: {
        const uint16_t *h = src;
        int i = 0;
        for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + i))));
        for (; i < n; i++) dst[i] = f16_to_f32(h[i]);
        return;
    }
    case GGML_TYPE_BF16: {
        const uint16_t *h = src;
        int i = 0;
        for (; i + 16 <= n; i += 16)
            _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(h + i))), 16)));
        for (; i < n; i++) dst[i] = bf16_to_f32(h[i]);
        return;
    }
    case GGML_TYPE_Q8_0: {
        const block_q8_0 *b = src;
        for (int i = 0; i < n / QK8_0; i++) {
            __m512 d = _mm512_set1_ps(H2F(b[i].d));
            _mm512_storeu_ps(dst + 32 * i, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b[i].qs)))));
            _mm512_storeu_ps(dst + 32 * i + 16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b[i].qs + 16))))));
        }
        return;
    }
    case GGML_TYPE_Q4_0: {
        const block_q4_0 *b = src;
        const __m128i lowmask = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
        for (int i = 0; i < n / QK4_0; i++) {
            __m512 d = _mm512_set1_ps(H2F(b[i].d));
            __m128i raw = _mm_loadu_si128((const __m128i *)b[i].qs);
            __m128i lo = _mm_sub_epi8(_mm_and_si128(raw, lowmask), eight);
            __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(raw, 4), lowmask), eight);
            _mm512_storeu_ps(dst + 32 * i, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo))));
            _mm512_storeu_ps(dst + 32 * i + 16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi))));
        }
        return;
    }
    case GGML_TYPE_Q4_K:
        for (int i = 0; i < n / QK_K; i++) dequant_q4_K_block_512((const block_q4_K *)src + i, dst + (size_t)i * QK_K);
        return;
    case GGML_TYPE_Q6_K:
        for (int i = 0; i < n / QK_K; i++) dequant_q6_K_block_512((const block_q6_K *)src + i, dst + (size_t)i * QK_K);
        return;
    default: kern_dequant_row(type, src, dst, n); return;
    }
}

/* out[t][0..64) += Σ_k x[t][k]·panel[k][0..64) for all t: 6 tokens × 64 rows
** of accumulators (24 zmm) per pass, so each k costs 4 panel loads and 6
** broadcasts for 24 FMAs. m[i] masks the valid rows of the i-th 16. */
T512 static void gemm_panel_512(const float *panel, int kc, const float *x, int K, int T, float *out, int ldo,
                                const __mmask16 m[4]) {
    int t = 0;
    for (; t + 6 <= T; t += 6) {
        const float *xr[6];
        for (int j = 0; j < 6; j++) xr[j] = x + (size_t)(t + j) * K;
        __m512 acc[6][4];
        for (int j = 0; j < 6; j++)
            for (int q = 0; q < 4; q++) acc[j][q] = _mm512_maskz_loadu_ps(m[q], out + (size_t)(t + j) * ldo + 16 * q);
        for (int k = 0; k < kc; k++) {
            const float *pk = panel + 64 * k;
            __m512 p0 = _mm512_load_ps(pk), p1 = _mm512_load_ps(pk + 16), p2 = _mm512_load_ps(pk + 32),
                   p3 = _mm512_load_ps(pk + 48);
#define ROW6(j) do { __m512 b = _mm512_set1_ps(xr[j][k]); \
                acc[j][0] = _mm512_fmadd_ps(b, p0, acc[j][0]); acc[j][1] = _mm512_fmadd_ps(b, p1, acc[j][1]); \
                acc[j][2] = _mm512_fmadd_ps(b, p2, acc[j][2]); acc[j][3] = _mm512_fmadd_ps(b, p3, acc[j][3]); } while (0)
            ROW6(0); ROW6(1); ROW6(2); ROW6(3); ROW6(4); ROW6(5);
#undef ROW6
        }
        for (int j = 0; j < 6; j++)
            for (int q = 0; q < 4; q++) _mm512_mask_storeu_ps(out + (size_t)(t + j) * ldo + 16 * q, m[q], acc[j][q]);
    }
    for (; t < T; t++) {
        const float *x0 = x + (size_t)t * K;
        float *o = out + (size_t)t * ldo;
        __m512 a0 = _mm512_maskz_loadu_ps(m[0], o), a1 = _mm512_maskz_loadu_ps(m[1], o + 16),
               a2 = _mm512_maskz_loadu_ps(m[2], o + 32), a3 = _mm512_maskz_loadu_ps(m[3], o + 48);
        for (int k = 0; k < kc; k++) {
            __m512 b = _mm512_set1_ps(x0[k]);
            const float *pk = panel + 64 * k;
            a0 = _mm512_fmadd_ps(b, _mm512_load_ps(pk), a0);
            a1 = _mm512_fmadd_ps(b, _mm512_load_ps(pk + 16), a1);
            a2 = _mm512_fmadd_ps(b, _mm512_load_ps(pk + 32), a2);
            a3 = _mm512_fmadd_ps(b, _mm512_load_ps(pk + 48), a3);
        }
        _mm512_mask_storeu_ps(o, m[0], a0);
        _mm512_mask_storeu_ps(o + 16, m[1], a1);
        _mm512_mask_storeu_ps(o + 32, m[2], a2);
        _mm512_mask_storeu_ps(o + 48, m[3], a3);
    }
}

/* Transposes the 16×16 block src[i][j] (rows ld floats apart) into
** dst[j][i] (rows ldd floats apart), in registers. */
T512 static void transpose16_512(const float *src, int ld, float *dst, int ldd) {
    __m512 r[16], t[16], u[16], v[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + (size_t)i * ld);
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int g = 0; g < 16; g += 4) {      /* rows g..g+3: u[g+c] holds column c of each 4-wide lane */
        u[g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[g]), _mm512_castps_pd(t[g + 2])));
        u[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[g]), _mm512_castps_pd(t[g + 2])));
        u[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[g + 1]), _mm512_castps_pd(t[g + 3])));
        u[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[g + 1]), _mm512_castps_pd(t[g + 3])));
    }
    for (int j = 0; j < 4; j++) {
        v[j] = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88);
        v[4 + j] = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xdd);
        v[8 + j] = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
        v[12 + j] = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xdd);
    }
    for (int j = 0; j < 4; j++) {
        _mm512_storeu_ps(dst + (size_t)j * ldd, _mm512_shuffle_f32x4(v[j], v[8 + j], 0x88));
        _mm512_storeu_ps(dst + (size_t)(8 + j) * ldd, _mm512_shuffle_f32x4(v[j], v[8 + j], 0xdd));
        _mm512_storeu_ps(dst + (size_t)(4 + j) * ldd, _mm512_shuffle_f32x4(v[4 + j], v[12 + j], 0x88));
        _mm512_storeu_ps(dst + (size_t)(12 + j) * ldd, _mm512_shuffle_f32x4(v[4 + j], v[12 + j], 0xdd));
    }
}

T512 void kern_gemm_avx512(uint32_t type, const void *w, size_t row_bytes, int r0, int r1, int K, const float *x, int T,
                           float *out, int ldo, float *scratch) {
    uint32_t be, bb;
    ggml_type_block(type, &be, &bb);
    /* scratch: panel [KC][64] then rows [64][KC], both 64-byte aligned */
    float *panel = scratch, *rows = scratch + GEMM_ROWS * GEMM_KC;
    for (int rb = r0; rb < r1; rb += GEMM_ROWS) {
        int nr = r1 - rb < GEMM_ROWS ? r1 - rb : GEMM_ROWS;
        __mmask16 m[4];
        for (int q = 0; q < 4; q++) {
            int valid = nr - 16 * q;
            m[q] = valid >= 16 ? (__mmask16)0xffff : valid <= 0 ? (__mmask16)0 : (__mmask16)((1u << valid) - 1);
        }
        for (int k0 = 0; k0 < K; k0 += GEMM_KC) {
            int kc = K - k0 < GEMM_KC ? K - k0 : GEMM_KC;
            int kc16 = (kc + 15) / 16 * 16;
            for (int i = 0; i < GEMM_ROWS; i++) {
                float *dst = rows + (size_t)i * GEMM_KC;
                if (i < nr) dequant_slice_512(type, (const uint8_t *)w + (size_t)(rb + i) * row_bytes + (size_t)k0 / be * bb, dst, kc);
                else memset(dst, 0, (size_t)kc * sizeof *dst);
                for (int k = kc; k < kc16; k++) dst[k] = 0;
            }
            for (int g = 0; g < GEMM_ROWS; g += 16)
                for (int kb = 0; kb < kc16; kb += 16)
                    transpose16_512(rows + (size_t)g * GEMM_KC + kb, GEMM_KC, panel + (size_t)kb * GEMM_ROWS + g, GEMM_ROWS);
            gemm_panel_512(panel, kc, x + k0, K, T, out + rb, ldo, m);
        }
    }
}

/* ---- AVX2 ---------------------------------------------------------------- */

T256 static float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

T256 static float dot_f32_256(const float *w, const float *x, int n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
    }
    float s = hsum256(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += w[i] * x[i];
    return s;
}

T256 static float dot_f16_256(const uint16_t *w, const float *x, int n) {
    __m256 a0 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i))), _mm256_loadu_ps(x + i), a0);
    float s = hsum256(a0);
    for (; i < n; i++) s += f16_to_f32(w[i]) * x[i];
    return s;
}

T256 static float dot_bf16_256(const uint16_t *w, const float *x, int n) {
    __m256 a0 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i r = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + i)));
        a0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(r, 16)), _mm256_loadu_ps(x + i), a0);
    }
    float s = hsum256(a0);
    for (; i < n; i++) s += bf16_to_f32(w[i]) * x[i];
    return s;
}

T256 static float dot_q8_0_256(const block_q8_0 *b, const float *x, int n) {
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / QK8_0; i++, x += QK8_0) {
        __m256 p = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            __m128i q = _mm_loadl_epi64((const __m128i *)(b[i].qs + 8 * k));
            p = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), _mm256_loadu_ps(x + 8 * k), p);
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(H2F(b[i].d)), p, acc);
    }
    return hsum256(acc);
}

T256 static float dot_q4_0_256(const block_q4_0 *b, const float *x, int n) {
    __m256 acc = _mm256_setzero_ps();
    const __m128i lowmask = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
    for (int i = 0; i < n / QK4_0; i++, x += QK4_0) {
        __m128i raw = _mm_loadu_si128((const __m128i *)b[i].qs);
        __m128i lo = _mm_sub_epi8(_mm_and_si128(raw, lowmask), eight);
        __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(raw, 4), lowmask), eight);
        __m256 p = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), _mm256_loadu_ps(x));
        p = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), _mm256_loadu_ps(x + 8), p);
        p = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), _mm256_loadu_ps(x + 16), p);
        p = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), _mm256_loadu_ps(x + 24), p);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(H2F(b[i].d)), p, acc);
    }
    return hsum256(acc);
}

float kern_dot_avx2(uint32_t type, const void *row, const float *x, int n) {
    switch (type) {
    case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K: case GGML_TYPE_Q6_K: return kern_dot_kquant(type, row, x, n, dot_f32_256);
    case GGML_TYPE_F32: return dot_f32_256(row, x, n);
    case GGML_TYPE_F16: return dot_f16_256(row, x, n);
    case GGML_TYPE_BF16: return dot_bf16_256(row, x, n);
    case GGML_TYPE_Q8_0: return dot_q8_0_256(row, x, n);
    case GGML_TYPE_Q4_0: return dot_q4_0_256(row, x, n);
    }
    return kern_dot_portable(type, row, x, n);
}

/* ---- integer dot products against quantized activations (decode) --------- */
/*
** kern_dot_act (kernels.h): the weights' small integers are multiplied by
** the int8 activations with maddubs (u8 × s8 → pairs summed into i16, exact
** here: at most 2·128·127 < 2^15) and scaled per sub-block in integers with
** madd / VNNI's vpdpwssd (i16 × i16 → i32), or, for 32-blocks, summed by
** vpdpbusd. Each super-block's (or block's) int32 sum is exact, so these
** agree with the portable kernels up to f32 summation order.
*/
#define T_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

/* The q4_K/q5_K 6-bit scales and mins from the 12 packed bytes p[0..12)
** (16 bytes are read: the block goes on). Result bytes 0..7 are sc[0..7],
** bytes 8..15 m[0..7]. With dwords A, B, C of p: sub-blocks 0..3 are the
** low 6 bits of A (scales) and B (mins); 4..7 the low / high nibbles of C
** with the top 2 bits of A / B as bits 4..5. */
T256 static inline __attribute__((always_inline)) __m128i scales_mins_k4(const uint8_t *p) {
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    __m128i x = _mm_srlv_epi32(_mm_shuffle_epi32(v, _MM_SHUFFLE(2, 1, 2, 0)), _mm_setr_epi32(0, 0, 0, 4));   /* A C B C>>4 */
    __m128i y = _mm_srli_epi32(_mm_shuffle_epi32(v, _MM_SHUFFLE(1, 1, 0, 0)), 2);                         /* (A A B B) >> 2 */
    __m128i lo = _mm_and_si128(x, _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
    return _mm_or_si128(lo, _mm_and_si128(y, _mm_setr_epi32(0, 0x30303030, 0, 0x30303030)));
}

#define ACT32(act, n, q, d, s) \
    const int8_t *q = (const int8_t *)(act); \
    const float *d = (const float *)((const uint8_t *)(act) + KERN_ACT32_D(n)); \
    const int32_t *s = (const int32_t *)((const uint8_t *)(act) + KERN_ACT32_S(n))

/* ---- AVX-512 VNNI -------------------------------------------------------- */

/* Decode streams every weight once per token, more than any cache holds.
** Intel's hardware prefetchers stop at 4 KB page edges, and on a 2-core
** Xeon (AMX) a prefetch this far ahead in the row stream lifted decode of
** the 1.5B shape (2 threads): VNNI q8_0 7.9 -> 11.2 tokens/s, q4_0 8.3 ->
** 17.2, Q4_K_M 9.2 -> 15.7; AVX2 q8_0 6.3 -> 10.6, q4_0 6.6 -> 14.1, Q4_K_M
** 10.0 -> 18.9 (q8_0, 1.6 KB to 6 KB ahead all within 3%). On AMD Zen 5
** 2 KB was inside the noise, but 6 KB lifted decode again (alternating
** bench-model -t 2 -p 1 -n 64 runs, medians of 3-4): q8_0 15.2 -> 20.4,
** q4_0 21.1 -> 33.7, Q4_K_M 30.9 -> 35.8 tokens/s; 8 KB was level with 6 KB,
** 12-16 KB and 4 KB below it, several rows in flight at once (4 streams)
** far worse. Block-at-a-time loops prefetch once per block or block pair,
** super-block loops once per line; past a matrix's end it is a harmless
** hint. */
#define KERN_PREFETCH_AHEAD 6144
/* The 16-row panels (kern_dot_act_x16) are one stream per thread; two q8_0
** block pairs ahead measured best on the Zen 5 (1, 2, 4 and 8 pairs of 1088 B
** within the noise of each other). */
#define X16_PREFETCH_AHEAD (2 * KERN_X16_PAIR_BYTES(GGML_TYPE_Q8_0))

/* Prefetches the lines of the `bytes` at p, KERN_PREFETCH_AHEAD further on. */
static inline __attribute__((always_inline)) void prefetch_ahead(const void *p, size_t bytes) {
    for (size_t o = 0; o < bytes; o += 64) _mm_prefetch((const char *)p + KERN_PREFETCH_AHEAD + o, _MM_HINT_T0);
}

/* q4_K · q8_K: per 64 values (sub-blocks 2c, 2c+1) one zmm: the 32 bytes
** qs[32c..) in both halves, the upper one shifted right by 4, so the
** nibbles line up with x.qs[64c..64c+64) in natural order. */
T_VNNI static float dot_q4_K_vnni(const block_q4_K *w, const block_q8_K *x, int n) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), shift = _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0);
    __m512i idx[4];       /* i16 lane l of chunk c takes the scale of sub-block 2c + l/16 */
    for (int c = 0; c < 4; c++)
        idx[c] = _mm512_mask_blend_epi16(0xffff0000u, _mm512_set1_epi16((short)(2 * c)), _mm512_set1_epi16((short)(2 * c + 1)));
    __m512 acc = _mm512_setzero_ps();
    __m256 accm = _mm256_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        prefetch_ahead(&w[i], sizeof w[i]);
        __m128i scm = scales_mins_k4(w[i].scales);
        __m256i sc16 = _mm256_cvtepu8_epi16(scm);                             /* sc[0..8), m[0..8) as i16 */
        __m256i mins2 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(scm, scm));    /* m0 m0 m1 m1 … m7 m7 */
        __m256i mp = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)x[i].bsums), mins2);
        float dy = x[i].d;
        accm = _mm256_fmadd_ps(_mm256_set1_ps(H2F(w[i].dmin) * dy), _mm256_cvtepi32_ps(mp), accm);
        __m512i scz = _mm512_zextsi256_si512(sc16), isum = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            __m512i raw = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * c)));
            __m512i q = _mm512_and_si512(_mm512_srlv_epi64(raw, shift), m4);
            __m512i p = _mm512_maddubs_epi16(q, _mm512_loadu_si512(x[i].qs + 64 * c));
            isum = _mm512_dpwssd_epi32(isum, p, _mm512_permutexvar_epi16(idx[c], scz));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(H2F(w[i].d) * dy), _mm512_cvtepi32_ps(isum), acc);
    }
    return _mm512_reduce_add_ps(_mm512_sub_ps(acc, _mm512_zextps256_ps512(accm)));
}

/* q5_K: as q4_K, plus the 5th bit: bit 2c (lower half) / 2c+1 (upper) of qh[l]. */
T_VNNI static float dot_q5_K_vnni(const block_q5_K *w, const block_q8_K *x, int n) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), shift = _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0);
    const __m512i k16 = _mm512_set1_epi8(16);
    __m512i idx[4], bit[4];
    for (int c = 0; c < 4; c++) {
        idx[c] = _mm512_mask_blend_epi16(0xffff0000u, _mm512_set1_epi16((short)(2 * c)), _mm512_set1_epi16((short)(2 * c + 1)));
        bit[c] = _mm512_mask_blend_epi8(0xffffffff00000000ull, _mm512_set1_epi8((char)(1 << (2 * c))),
                                        _mm512_set1_epi8((char)(1 << (2 * c + 1))));
    }
    __m512 acc = _mm512_setzero_ps();
    __m256 accm = _mm256_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        prefetch_ahead(&w[i], sizeof w[i]);
        __m128i scm = scales_mins_k4(w[i].scales);
        __m256i sc16 = _mm256_cvtepu8_epi16(scm);
        __m256i mins2 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(scm, scm));
        __m256i mp = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)x[i].bsums), mins2);
        float dy = x[i].d;
        accm = _mm256_fmadd_ps(_mm256_set1_ps(H2F(w[i].dmin) * dy), _mm256_cvtepi32_ps(mp), accm);
        __m512i scz = _mm512_zextsi256_si512(sc16), isum = _mm512_setzero_si512();
        __m512i hb = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)w[i].qh));
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            __m512i raw = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * c)));
            __m512i q = _mm512_and_si512(_mm512_srlv_epi64(raw, shift), m4);
            q = _mm512_mask_add_epi8(q, _mm512_test_epi8_mask(hb, bit[c]), q, k16);
            __m512i p = _mm512_maddubs_epi16(q, _mm512_loadu_si512(x[i].qs + 64 * c));
            isum = _mm512_dpwssd_epi32(isum, p, _mm512_permutexvar_epi16(idx[c], scz));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(H2F(w[i].d) * dy), _mm512_cvtepi32_ps(isum), acc);
    }
    return _mm512_reduce_add_ps(_mm512_sub_ps(acc, _mm512_zextps256_ps512(accm)));
}

/* q6_K · q8_K: per 128 values (half h) the 64 bytes ql[64h..) give values
** 0..63 (low nibbles) and 64..127 (high nibbles) in natural order; the 32
** bytes qh[32h..) sit in both halves of a zmm, shifted per half so that
** the right 2 bits land at bits 4..5. Sub-block j (16 values) has scale
** sc[j]; the offset 32 is taken off through bsums: Σ sc_j·32·bsums_j. */
T_VNNI static float dot_q6_K_vnni(const block_q6_K *w, const block_q8_K *x, int n) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
    const __m512i sh_lo = _mm512_set_epi64(2, 2, 2, 2, 4, 4, 4, 4), sh_hi = _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0);
    __m512i idx[4];       /* i16 lane l of chunk c takes the scale of sub-block 4c + l/8 */
    for (int c = 0; c < 4; c++)
        idx[c] = _mm512_add_epi16(_mm512_set1_epi16((short)(4 * c)),
                                  _mm512_srli_epi16(_mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16,
                                                                     15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 3));
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        prefetch_ahead(&w[i], sizeof w[i]);
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w[i].scales));
        __m256i off = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)x[i].bsums));
        __m512i scz = _mm512_zextsi256_si512(sc16);
        __m512i isum = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(_mm512_zextsi256_si512(off), 5));
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m512i L = _mm512_loadu_si512(w[i].ql + 64 * h);
            __m512i H = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(w[i].qh + 32 * h)));
            __m512i q0 = _mm512_or_si512(_mm512_and_si512(L, m4), _mm512_and_si512(_mm512_sllv_epi64(H, sh_lo), m30));
            __m512i q1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L, 4), m4), _mm512_and_si512(_mm512_srlv_epi64(H, sh_hi), m30));
            __m512i p0 = _mm512_maddubs_epi16(q0, _mm512_loadu_si512(x[i].qs + 128 * h));
            __m512i p1 = _mm512_maddubs_epi16(q1, _mm512_loadu_si512(x[i].qs + 128 * h + 64));
            isum = _mm512_dpwssd_epi32(isum, p0, _mm512_permutexvar_epi16(idx[2 * h], scz));
            isum = _mm512_dpwssd_epi32(isum, p1, _mm512_permutexvar_epi16(idx[2 * h + 1], scz));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(H2F(w[i].d) * x[i].d), _mm512_cvtepi32_ps(isum), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

/* Two 32-blocks per zmm: int32 lanes 0..7 belong to block b, 8..15 to b+1.
** The weight scales of the pair, one per lane; each lane's scale d_w·d_x is
** this times the activations' pre-expanded KERN_ACT32_DX. */
T_VNNI static inline __attribute__((always_inline)) __m512 pair_scale(uint16_t h0, uint16_t h1) {
    const __m512i idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(_mm_cvtph_ps(_mm_insert_epi16(_mm_cvtsi32_si128(h0), h1, 1))));
}

/* q4_0 · q8: [b lo | b hi | b+1 lo | b+1 hi] nibbles by 128-bit lane match
** the activations in natural order; vpdpbusd (u8 nibble × s8) starts from
** −s per lane, 8 lanes per block: Σ (q − 8)·x = Σ q·x − 8·s. The seeds and
** the activation scales come pre-expanded per lane (KERN_ACT32_SX/DX). */
T_VNNI static float dot_q4_0_q8_vnni(const block_q4_0 *w, const void *act, int n) {
    ACT32(act, n, q, d, s);
    const int32_t *sx = (const int32_t *)((const uint8_t *)act + KERN_ACT32_SX(n));
    const float *dx = (const float *)((const uint8_t *)act + KERN_ACT32_DX(n));
    const __m512i m4 = _mm512_set1_epi8(0x0f), shift = _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0);
    __m512 acc = _mm512_setzero_ps();
    int nb = n / 32, b = 0;
    for (; b + 2 <= nb; b += 2) {
        __m256i r0 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)w[b].qs));
        __m256i r1 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)w[b + 1].qs));
        __m512i wq = _mm512_and_si512(_mm512_srlv_epi64(_mm512_inserti64x4(_mm512_castsi256_si512(r0), r1, 1), shift), m4);
        __m512i isum = _mm512_dpbusd_epi32(_mm512_loadu_si512(sx + 8 * b), wq, _mm512_loadu_si512(q + 32 * b));
        __m512 wd = pair_scale(w[b].d, w[b + 1].d);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(wd, _mm512_loadu_ps(dx + 8 * b)), acc);
    }
    float r = _mm512_reduce_add_ps(acc);
    if (b < nb) {       /* an odd last block */
        int32_t isum = 0;
        for (int k = 0; k < 16; k++) isum += (w[b].qs[k] & 0x0f) * q[32 * b + k] + (w[b].qs[k] >> 4) * q[32 * b + k + 16];
        r += H2F(w[b].d) * d[b] * (float)(isum - 8 * s[b]);
    }
    return r;
}

/* q8_0 · q8: vpdpbusd of the activations + 128 (u8, KERN_ACT32_U) with w
** (s8), from a seed of −128·Σw per lane: Σ q·w exactly. */
T_VNNI static float dot_q8_0_q8_vnni(const block_q8_0 *w, const void *act, int n) {
    ACT32(act, n, q, d, s);
    (void)s;
    const uint8_t *u = (const uint8_t *)act + KERN_ACT32_U(n);
    const float *dx = (const float *)((const uint8_t *)act + KERN_ACT32_DX(n));
    const __m512i u128 = _mm512_set1_epi8((char)0x80);
    __m512 acc = _mm512_setzero_ps();
    int nb = n / 32, b = 0;
    for (; b + 2 <= nb; b += 2) {
        __m512i wv = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)w[b].qs)),
                                        _mm256_loadu_si256((const __m256i *)w[b + 1].qs), 1);
        __m512i seed = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), u128, wv));
        __m512i isum = _mm512_dpbusd_epi32(seed, _mm512_loadu_si512(u + 32 * b), wv);
        __m512 wd = pair_scale(w[b].d, w[b + 1].d);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(wd, _mm512_loadu_ps(dx + 8 * b)), acc);
    }
    float r = _mm512_reduce_add_ps(acc);
    if (b < nb) {
        int32_t isum = 0;
        for (int k = 0; k < 32; k++) isum += w[b].qs[k] * q[32 * b + k];
        r += H2F(w[b].d) * d[b] * (float)isum;
    }
    return r;
}

/* q8_0 / q4_0 rows against NT token vectors at once (batched decode, draft
** verification): the weights are loaded and unpacked once per block pair,
** and each token then costs a vpdpbusd, a multiply, a conversion and an FMA,
** its operands read from the expanded layout of KERN_ACT32_U/DX/SX. Every
** int32 lane holds exactly the sum it holds in the one-token kernels above
** (q8_0: Σ (q+128)·w from a seed of −128·Σw is Σ q·w; q4_0: the same seed
** −s), and the f32 scale of each lane is the same product d_w·d_x, taken in
** the same order, so every result is bit for bit that of dot_q8_0_q8_vnni /
** dot_q4_0_q8_vnni. NT is a constant at each call site. */
T_VNNI static inline __attribute__((always_inline)) void dot_q8_0_q8_vnni_nt(int NT, const block_q8_0 *w, const uint8_t *act,
                                                                              size_t stride, int n, float *res) {
    const uint8_t *u[8];
    const float *dx[8];
    __m512 acc[8];
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++) {
        u[t] = act + (size_t)t * stride + KERN_ACT32_U(n);
        dx[t] = (const float *)(act + (size_t)t * stride + KERN_ACT32_DX(n));
        acc[t] = _mm512_setzero_ps();
    }
    const __m512i u128 = _mm512_set1_epi8((char)0x80);
    int nb = n / 32, b = 0;
    for (; b + 2 <= nb; b += 2) {
        _mm_prefetch((const char *)(w + b) + KERN_PREFETCH_AHEAD, _MM_HINT_T0);
        __m512i wv = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)w[b].qs)),
                                        _mm256_loadu_si256((const __m256i *)w[b + 1].qs), 1);
        __m512i seed = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), u128, wv));
        __m512 wd = pair_scale(w[b].d, w[b + 1].d);
        /* unrolled: the accumulators and pointers stay in registers (a loop kept
        ** them on the stack, a store and reload per token per block pair) */
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) {
            __m512i isum = _mm512_dpbusd_epi32(seed, _mm512_loadu_si512(u[t] + 32 * b), wv);
            __m512 f = _mm512_mul_ps(wd, _mm512_loadu_ps(dx[t] + 8 * b));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), f, acc[t]);
        }
    }
    for (int t = 0; t < NT; t++) {
        float r = _mm512_reduce_add_ps(acc[t]);
        if (b < nb) {
            const int8_t *q = (const int8_t *)(act + (size_t)t * stride);
            const float *d = (const float *)(act + (size_t)t * stride + KERN_ACT32_D(n));
            int32_t isum = 0;
            for (int k = 0; k < 32; k++) isum += w[b].qs[k] * q[32 * b + k];
            r += H2F(w[b].d) * d[b] * (float)isum;
        }
        res[t] = r;
    }
}

T_VNNI static inline __attribute__((always_inline)) void dot_q4_0_q8_vnni_nt(int NT, const block_q4_0 *w, const uint8_t *act,
                                                                              size_t stride, int n, float *res) {
    const int8_t *q[8];
    const float *dx[8];
    const int32_t *sx[8];
    __m512 acc[8];
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++) {
        q[t] = (const int8_t *)(act + (size_t)t * stride);
        dx[t] = (const float *)(act + (size_t)t * stride + KERN_ACT32_DX(n));
        sx[t] = (const int32_t *)(act + (size_t)t * stride + KERN_ACT32_SX(n));
        acc[t] = _mm512_setzero_ps();
    }
    const __m512i m4 = _mm512_set1_epi8(0x0f), shift = _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0);
    int nb = n / 32, b = 0;
    for (; b + 2 <= nb; b += 2) {
        _mm_prefetch((const char *)(w + b) + KERN_PREFETCH_AHEAD, _MM_HINT_T0);
        __m256i r0 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)w[b].qs));
        __m256i r1 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)w[b + 1].qs));
        __m512i wq = _mm512_and_si512(_mm512_srlv_epi64(_mm512_inserti64x4(_mm512_castsi256_si512(r0), r1, 1), shift), m4);
        __m512 wd = pair_scale(w[b].d, w[b + 1].d);
        /* unrolled: the accumulators and pointers stay in registers (a loop kept
        ** them on the stack, a store and reload per token per block pair) */
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) {
            __m512i isum = _mm512_dpbusd_epi32(_mm512_loadu_si512(sx[t] + 8 * b), wq, _mm512_loadu_si512(q[t] + 32 * b));
            __m512 f = _mm512_mul_ps(wd, _mm512_loadu_ps(dx[t] + 8 * b));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), f, acc[t]);
        }
    }
    for (int t = 0; t < NT; t++) {
        float r = _mm512_reduce_add_ps(acc[t]);
        if (b < nb) {
            const float *d = (const float *)(act + (size_t)t * stride + KERN_ACT32_D(n));
            const int32_t *s = (const int32_t *)(act + (size_t)t * stride + KERN_ACT32_S(n));
            int32_t isum = 0;
            for (int k = 0; k < 16; k++) isum += (w[b].qs[k] & 0x0f) * q[t][32 * b + k] + (w[b].qs[k] >> 4) * q[t][32 * b + k + 16];
            r += H2F(w[b].d) * d[b] * (float)(isum - 8 * s[b]);
        }
        res[t] = r;
    }
}

/* kern_dot_act_n (kernels.h) with VNNI: q8_0 / q4_0 rows take up to 8 tokens per pass. */
T_VNNI void kern_dot_act_n_vnni(uint32_t type, const void *row, const void *act, size_t stride, int T, int n, float *out, size_t ostride) {
    const uint8_t *a = act;
    float r[8];
    int t = 0;
    if (type == GGML_TYPE_Q8_0 || type == GGML_TYPE_Q4_0) {
        int q8 = type == GGML_TYPE_Q8_0;
        for (; t < T;) {
            int nt = T - t >= 8 ? 8 : T - t;
            const uint8_t *at = a + (size_t)t * stride;
            switch (nt) {    /* constant NT per call: the accumulators stay in registers */
#define NT_CASE(k) case k: if (q8) dot_q8_0_q8_vnni_nt(k, row, at, stride, n, r); else dot_q4_0_q8_vnni_nt(k, row, at, stride, n, r); break;
            NT_CASE(8) NT_CASE(7) NT_CASE(6) NT_CASE(5) NT_CASE(4) NT_CASE(3) NT_CASE(2)
#undef NT_CASE
            default: if (q8) dot_q8_0_q8_vnni_nt(1, row, at, stride, n, r); else dot_q4_0_q8_vnni_nt(1, row, at, stride, n, r); break;
            }
            for (int i = 0; i < nt; i++) out[(size_t)(t + i) * ostride] = r[i];
            t += nt;
        }
        return;
    }
    for (; t < T; t++) out[(size_t)t * ostride] = kern_dot_act_vnni(type, row, a + (size_t)t * stride, n);
}

/* Four bytes of a token's quantized activations, read where they lie. */
typedef int32_t x16_word __attribute__((may_alias, aligned(4)));

/* kern_dot_act_x16 (kernels.h): NT tokens against one 16-row group of q8_0
** (Q4 = 0) or q4_0 (Q4 = 1) panels. Per block, the 8 lines are loaded (q4_0:
** 4 lines, their nibbles split into 8) once; each token then takes 8
** VPDPBUSD with its q broadcast 4 bytes at a time, from a seed of −128·Σq
** (−8·Σq), and one conversion, multiply and FMA for all 16 rows. Each
** token's lanes see the same operations in the same order whatever NT is. */
T_VNNI static inline __attribute__((always_inline)) void dot_x16_nt(int NT, int Q4, const uint8_t *grp, const uint8_t *act,
                                                                     size_t stride, int n, float *out, size_t ostride) {
    const int8_t *q[8];
    const float *d[8];
    const int32_t *s[8];
    __m512 acc[8];
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++) {
        q[t] = (const int8_t *)(act + (size_t)t * stride);
        d[t] = (const float *)(act + (size_t)t * stride + KERN_ACT32_D(n));
        s[t] = (const int32_t *)(act + (size_t)t * stride + KERN_ACT32_S(n));
        acc[t] = _mm512_setzero_ps();
    }
    const uint32_t type = Q4 ? GGML_TYPE_Q4_0 : GGML_TYPE_Q8_0;
    const int pair_bytes = KERN_X16_PAIR_BYTES(type), block_lines = KERN_X16_LINE_BYTES(type), seed_mul = Q4 ? -8 : -128;
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    int npair = n / 64;
    for (int p = 0; p < npair; p++) {
        const uint8_t *o = grp + (size_t)p * pair_bytes;
        /* the stream is one forward run: all lines of the pair this far ahead */
        for (int l = 0; l < pair_bytes / 64; l++) _mm_prefetch((const char *)o + X16_PREFETCH_AHEAD + 64 * l, _MM_HINT_T0);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            int b = 2 * p + h;
            __m512i L[8];
            if (Q4) {
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++) {
                    __m512i raw = _mm512_load_si512((const __m512i *)(o + block_lines * h + 64 * j));
                    L[j] = _mm512_and_si512(raw, m4);
                    L[4 + j] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);
                }
            } else {
#pragma GCC unroll 8
                for (int j = 0; j < 8; j++) L[j] = _mm512_load_si512((const __m512i *)(o + block_lines * h + 64 * j));
            }
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) __asm__("" : "+v"(L[j]));     /* one load or unpack per line, not one per token */
            __m512 dw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(o + 2 * block_lines + 32 * h)));
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++) {
                /* read in place: each broadcast is one load (VPBROADCASTD from
                ** memory), not a move through a general register and a shuffle */
                const x16_word *qw = (const x16_word *)(q[t] + 32 * b);
                __m512i is = _mm512_set1_epi32(seed_mul * s[t][b]);
#pragma GCC unroll 8
                for (int j = 0; j < 8; j++) is = _mm512_dpbusd_epi32(is, L[j], _mm512_set1_epi32(qw[j]));
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), _mm512_mul_ps(dw, _mm512_set1_ps(d[t][b])), acc[t]);
            }
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < NT; t++) _mm512_storeu_ps(out + (size_t)t * ostride, acc[t]);
}

T_VNNI void kern_dot_act_x16_vnni(uint32_t type, const void *grp, const void *act, size_t stride, int T, int n, float *out,
                                  size_t ostride) {
    assert((type == GGML_TYPE_Q8_0 || type == GGML_TYPE_Q4_0) && n % 64 == 0);
    const int q4 = type == GGML_TYPE_Q4_0;
    const uint8_t *a = act;
    for (int t = 0; t < T;) {
        int nt = T - t >= 8 ? 8 : T - t;
        const uint8_t *at = a + (size_t)t * stride;
        float *ot = out + (size_t)t * ostride;
        switch (nt) {    /* constant NT and type per call: the accumulators stay in registers */
#define X16_CASE(k) case k: { if (q4) dot_x16_nt(k, 1, grp, at, stride, n, ot, ostride); \
                              else dot_x16_nt(k, 0, grp, at, stride, n, ot, ostride); } break;
        X16_CASE(8) X16_CASE(7) X16_CASE(6) X16_CASE(5) X16_CASE(4) X16_CASE(3) X16_CASE(2)
#undef X16_CASE
        default: if (q4) dot_x16_nt(1, 1, grp, at, stride, n, ot, ostride); else dot_x16_nt(1, 0, grp, at, stride, n, ot, ostride); break;
        }
        t += nt;
    }
}

float kern_dot_act_vnni(uint32_t type, const void *row, const void *act, int n) {
    switch (type) {
    case GGML_TYPE_Q4_K: return dot_q4_K_vnni(row, act, n);
    case GGML_TYPE_Q5_K: return dot_q5_K_vnni(row, act, n);
    case GGML_TYPE_Q6_K: return dot_q6_K_vnni(row, act, n);
    case GGML_TYPE_Q4_0: return dot_q4_0_q8_vnni(row, act, n);
    case GGML_TYPE_Q8_0: return dot_q8_0_q8_vnni(row, act, n);
    }
    return kern_dot_act_portable(type, row, act, n);
}

/* ---- AVX2 ----------------------------------------------------------------- */

/* q4_K · q8_K: one ymm per sub-block; the scale reaches its 16 i16 lanes by
** a byte shuffle of the 8 scales. */
T256 static float dot_q4_K_256(const block_q4_K *w, const block_q8_K *x, int n) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256i pick[8];      /* bytes 2j, 2j+1 (i16 scale j) in every i16 lane */
    for (int j = 0; j < 8; j++) pick[j] = _mm256_set1_epi16((short)(((2 * j + 1) << 8) | (2 * j)));
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        prefetch_ahead(&w[i], sizeof w[i]);
        __m128i scm = scales_mins_k4(w[i].scales);
        __m256i sc16 = _mm256_cvtepu8_epi16(scm);
        __m256i mins2 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(scm, scm));
        __m256i mp = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)x[i].bsums), mins2);
        float dy = x[i].d;
        accm = _mm256_fmadd_ps(_mm256_set1_ps(H2F(w[i].dmin) * dy), _mm256_cvtepi32_ps(mp), accm);
        __m256i scl = _mm256_permute2x128_si256(sc16, sc16, 0x00), isum = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            __m256i raw = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * c));
            __m256i p0 = _mm256_maddubs_epi16(_mm256_and_si256(raw, m4), _mm256_loadu_si256((const __m256i *)(x[i].qs + 64 * c)));
            __m256i p1 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(raw, 4), m4),
                                              _mm256_loadu_si256((const __m256i *)(x[i].qs + 64 * c + 32)));
            p0 = _mm256_madd_epi16(p0, _mm256_shuffle_epi8(scl, pick[2 * c]));
            p1 = _mm256_madd_epi16(p1, _mm256_shuffle_epi8(scl, pick[2 * c + 1]));
            isum = _mm256_add_epi32(isum, _mm256_add_epi32(p0, p1));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(H2F(w[i].d) * dy), _mm256_cvtepi32_ps(isum), acc);
    }
    return hsum256(_mm256_sub_ps(acc, accm));
}

T256 static float dot_q5_K_256(const block_q5_K *w, const block_q8_K *x, int n) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
    __m256i pick[8];
    for (int j = 0; j < 8; j++) pick[j] = _mm256_set1_epi16((short)(((2 * j + 1) << 8) | (2 * j)));
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        prefetch_ahead(&w[i], sizeof w[i]);
        __m128i scm = scales_mins_k4(w[i].scales);
        __m256i sc16 = _mm256_cvtepu8_epi16(scm);
        __m256i mins2 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(scm, scm));
        __m256i mp = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)x[i].bsums), mins2);
        float dy = x[i].d;
        accm = _mm256_fmadd_ps(_mm256_set1_ps(H2F(w[i].dmin) * dy), _mm256_cvtepi32_ps(mp), accm);
        __m256i scl = _mm256_permute2x128_si256(sc16, sc16, 0x00), isum = _mm256_setzero_si256();
        __m256i hb = _mm256_loadu_si256((const __m256i *)w[i].qh);
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            __m256i raw = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * c));
            __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * c), one), 4);
            __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * c + 1), one), 4);
            __m256i q0 = _mm256_or_si256(_mm256_and_si256(raw, m4), h0);
            __m256i q1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(raw, 4), m4), h1);
            __m256i p0 = _mm256_maddubs_epi16(q0, _mm256_loadu_si256((const __m256i *)(x[i].qs + 64 * c)));
            __m256i p1 = _mm256_maddubs_epi16(q1, _mm256_loadu_si256((const __m256i *)(x[i].qs + 64 * c + 32)));
            p0 = _mm256_madd_epi16(p0, _mm256_shuffle_epi8(scl, pick[2 * c]));
            p1 = _mm256_madd_epi16(p1, _mm256_shuffle_epi8(scl, pick[2 * c + 1]));
            isum = _mm256_add_epi32(isum, _mm256_add_epi32(p0, p1));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(H2F(w[i].d) * dy), _mm256_cvtepi32_ps(isum), acc);
    }
    return hsum256(_mm256_sub_ps(acc, accm));
}

/* q6_K · q8_K: per half h, the 4 ymm of 32 values (0..31, 32..63, 64..95,
** 96..127) each cover sub-blocks 8h+2k, 8h+2k+1: their scales go to the
** low / high 128-bit lane of the madd operand. */
T256 static float dot_q6_K_256(const block_q6_K *w, const block_q8_K *x, int n) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
    __m256i pick[4];      /* lane 0: i16 scale 2k (of 8), lane 1: 2k+1 */
    for (int k = 0; k < 4; k++)
        pick[k] = _mm256_setr_m128i(_mm_set1_epi16((short)(((4 * k + 1) << 8) | (4 * k))),
                                    _mm_set1_epi16((short)(((4 * k + 3) << 8) | (4 * k + 2))));
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        prefetch_ahead(&w[i], sizeof w[i]);
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w[i].scales));
        __m256i off = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)x[i].bsums));
        __m256i isum = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 5));
        const __m256i halves[2] = { _mm256_permute2x128_si256(sc16, sc16, 0x00), _mm256_permute2x128_si256(sc16, sc16, 0x11) };
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w[i].ql + 64 * h;
            const int8_t *y = x[i].qs + 128 * h;
            __m256i L0 = _mm256_loadu_si256((const __m256i *)ql), L1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i H = _mm256_loadu_si256((const __m256i *)(w[i].qh + 32 * h));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(L0, m4), _mm256_and_si256(_mm256_slli_epi16(H, 4), m30));
            q[1] = _mm256_or_si256(_mm256_and_si256(L1, m4), _mm256_and_si256(_mm256_slli_epi16(H, 2), m30));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L0, 4), m4), _mm256_and_si256(H, m30));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(H, 2), m30));
            __m256i half = halves[h];      /* scales 8h..8h+7 in both lanes */
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                __m256i p = _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(y + 32 * k)));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, _mm256_shuffle_epi8(half, pick[k])));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(H2F(w[i].d) * x[i].d), _mm256_cvtepi32_ps(isum), acc);
    }
    return hsum256(acc);
}

/* q4_0 · q8: [low nibbles | high nibbles] of a block match its 32
** activations; Σ (q − 8)·x = Σ q·x − 8·s (8 lanes start at −s each). */
T256 static float dot_q4_0_q8_256(const block_q4_0 *w, const void *act, int n) {
    ACT32(act, n, q, d, s);
    const __m256i m4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < n / 32; b++) {
        _mm_prefetch((const char *)(w + b) + KERN_PREFETCH_AHEAD, _MM_HINT_T0);
        __m128i raw = _mm_loadu_si128((const __m128i *)w[b].qs);
        __m256i wq = _mm256_and_si256(_mm256_setr_m128i(raw, _mm_srli_epi16(raw, 4)), m4);
        __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(wq, _mm256_loadu_si256((const __m256i *)(q + 32 * b))), ones);
        p = _mm256_sub_epi32(p, _mm256_set1_epi32(s[b]));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(H2F(w[b].d) * d[b]), _mm256_cvtepi32_ps(p), acc);
    }
    return hsum256(acc);
}

/* q8_0 · q8: maddubs of |w| with x carrying w's sign. */
T256 static float dot_q8_0_q8_256(const block_q8_0 *w, const void *act, int n) {
    ACT32(act, n, q, d, s);
    (void)s;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < n / 32; b++) {
        _mm_prefetch((const char *)(w + b) + KERN_PREFETCH_AHEAD, _MM_HINT_T0);
        __m256i wv = _mm256_loadu_si256((const __m256i *)w[b].qs), xv = _mm256_loadu_si256((const __m256i *)(q + 32 * b));
        __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(xv, wv)), ones);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(H2F(w[b].d) * d[b]), _mm256_cvtepi32_ps(p), acc);
    }
    return hsum256(acc);
}

float kern_dot_act_avx2(uint32_t type, const void *row, const void *act, int n) {
    switch (type) {
    case GGML_TYPE_Q4_K: return dot_q4_K_256(row, act, n);
    case GGML_TYPE_Q5_K: return dot_q5_K_256(row, act, n);
    case GGML_TYPE_Q6_K: return dot_q6_K_256(row, act, n);
    case GGML_TYPE_Q4_0: return dot_q4_0_q8_256(row, act, n);
    case GGML_TYPE_Q8_0: return dot_q8_0_q8_256(row, act, n);
    }
    return kern_dot_act_portable(type, row, act, n);
}

/* One weight row against NT (1..4) tokens: the q4_K / q6_K dots above with
** the row's unpacking and scale shuffles done once for all NT tokens; each
** token's arithmetic is the single-token kernel's, in the same order, so the
** results are bit-identical to it (prompt processing without a GEMM). With
** 16 ymm registers NT = 2 is fastest (pp128 of a 1.5B Q4_K_M: +10% over
** single dots; NT = 3 or 4 spill and lose). */
T256 static inline __attribute__((always_inline)) void dot_q4_K_256_n(const int NT, const block_q4_K *w, const block_q8_K *const *x,
                                                                      int n, float *res) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256 acc[4], accm[4];
    for (int t = 0; t < NT; t++) acc[t] = accm[t] = _mm256_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        prefetch_ahead(&w[i], sizeof w[i]);
        __m128i scm = scales_mins_k4(w[i].scales);
        __m256i sc16 = _mm256_cvtepu8_epi16(scm);
        __m256i mins2 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(scm, scm));
        float d = H2F(w[i].d), dmin = H2F(w[i].dmin);
        __m256i scl = _mm256_permute2x128_si256(sc16, sc16, 0x00), isum[4];
        for (int t = 0; t < NT; t++) {
            __m256i mp = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)x[t][i].bsums), mins2);
            accm[t] = _mm256_fmadd_ps(_mm256_set1_ps(dmin * x[t][i].d), _mm256_cvtepi32_ps(mp), accm[t]);
            isum[t] = _mm256_setzero_si256();
        }
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            __m256i raw = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * c));
            __m256i lo = _mm256_and_si256(raw, m4), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
            __m256i s0 = _mm256_shuffle_epi8(scl, _mm256_set1_epi16((short)(((4 * c + 1) << 8) | (4 * c))));
            __m256i s1 = _mm256_shuffle_epi8(scl, _mm256_set1_epi16((short)(((4 * c + 3) << 8) | (4 * c + 2))));
            for (int t = 0; t < NT; t++) {
                __m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(x[t][i].qs + 64 * c)));
                __m256i p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(x[t][i].qs + 64 * c + 32)));
                isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(_mm256_madd_epi16(p0, s0), _mm256_madd_epi16(p1, s1)));
            }
        }
        for (int t = 0; t < NT; t++) acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * x[t][i].d), _mm256_cvtepi32_ps(isum[t]), acc[t]);
    }
    for (int t = 0; t < NT; t++) res[t] = hsum256(_mm256_sub_ps(acc[t], accm[t]));
}

T256 static inline __attribute__((always_inline)) void dot_q6_K_256_n(const int NT, const block_q6_K *w, const block_q8_K *const *x,
                                                                      int n, float *res) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
    __m256 acc[4];
    for (int t = 0; t < NT; t++) acc[t] = _mm256_setzero_ps();
    for (int i = 0; i < n / QK_K; i++) {
        prefetch_ahead(&w[i], sizeof w[i]);
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w[i].scales)), isum[4];
        for (int t = 0; t < NT; t++) {
            __m256i off = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)x[t][i].bsums));
            isum[t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 5));
        }
        const __m256i halves[2] = { _mm256_permute2x128_si256(sc16, sc16, 0x00), _mm256_permute2x128_si256(sc16, sc16, 0x11) };
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w[i].ql + 64 * h;
            __m256i L0 = _mm256_loadu_si256((const __m256i *)ql), L1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i H = _mm256_loadu_si256((const __m256i *)(w[i].qh + 32 * h));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(L0, m4), _mm256_and_si256(_mm256_slli_epi16(H, 4), m30));
            q[1] = _mm256_or_si256(_mm256_and_si256(L1, m4), _mm256_and_si256(_mm256_slli_epi16(H, 2), m30));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L0, 4), m4), _mm256_and_si256(H, m30));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(H, 2), m30));
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                __m256i s = _mm256_shuffle_epi8(halves[h], _mm256_setr_m128i(_mm_set1_epi16((short)(((4 * k + 1) << 8) | (4 * k))),
                                                                             _mm_set1_epi16((short)(((4 * k + 3) << 8) | (4 * k + 2)))));
                for (int t = 0; t < NT; t++) {
                    __m256i p = _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(x[t][i].qs + 128 * h + 32 * k)));
                    isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(p, s));
                }
            }
        }
        for (int t = 0; t < NT; t++) acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(H2F(w[i].d) * x[t][i].d), _mm256_cvtepi32_ps(isum[t]), acc[t]);
    }
    for (int t = 0; t < NT; t++) res[t] = hsum256(acc[t]);
}

/* kern_dot_act_n (kernels.h) on AVX2: q4_K / q6_K rows take NT_AVX2 tokens per pass. */
#ifndef NT_AVX2
#define NT_AVX2 2
#endif
T256 void kern_dot_act_n_avx2(uint32_t type, const void *row, const void *act, size_t stride, int T, int n, float *out, size_t ostride) {
    int t = 0;
    if (type == GGML_TYPE_Q4_K || type == GGML_TYPE_Q6_K)
        for (; t + NT_AVX2 <= T; t += NT_AVX2) {
            const block_q8_K *x[4];
            float r[4];
            for (int i = 0; i < NT_AVX2; i++) x[i] = (const block_q8_K *)((const uint8_t *)act + (size_t)(t + i) * stride);
            if (type == GGML_TYPE_Q4_K) dot_q4_K_256_n(NT_AVX2, row, x, n, r);
            else dot_q6_K_256_n(NT_AVX2, row, x, n, r);
            for (int i = 0; i < NT_AVX2; i++) out[(size_t)(t + i) * ostride] = r[i];
        }
    for (; t < T; t++) out[(size_t)t * ostride] = kern_dot_act_avx2(type, row, (const uint8_t *)act + (size_t)t * stride, n);
}

/* ---- activation quantization (AVX2; bit-exact with the portable one) ------ */

/* max |v| over len floats (a multiple of 8); *finite = 0 when one is NaN/Inf. */
T256 static float amax_256(const float *v, int len, int *finite) {
    const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)), big = _mm256_set1_ps(FLT_MAX);
    __m256 mx = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
    for (int k = 0; k < len; k += 8) {
        __m256 a = _mm256_and_ps(_mm256_loadu_ps(v + k), absm);
        bad = _mm256_or_ps(bad, _mm256_cmp_ps(a, big, _CMP_NLE_UQ));
        mx = _mm256_max_ps(mx, a);
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    *finite = _mm256_movemask_ps(bad) == 0;
    return _mm_cvtss_f32(m);
}

/* round(v·id) of 32 floats to int8 at q; returns the four i32 vectors. */
T256 static inline __attribute__((always_inline)) void round32_256(const float *v, __m256 id, int8_t *q, __m256i i[4]) {
    for (int k = 0; k < 4; k++) i[k] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(v + 8 * k), id));
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i[0], i[1]), _mm256_packs_epi32(i[2], i[3]));
    /* dword order after the in-lane packs: i0[0..4) i1[0..4) i2 i3 | i0[4..8) i1[4..8) … */
    _mm256_storeu_si256((__m256i *)q, _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

T256 static int32_t hsum_epi32_256(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* The scale of a block from its amax, exactly as the portable quantizers. */
static inline void act_scale(float amax, int finite, float *d, float *id) {
    float db = amax / 127.0f, ib = db != 0.0f ? 1.0f / db : 0.0f;
    if (!(ib <= FLT_MAX)) db = ib = 0.0f;
    if (!finite) { db = NAN; ib = 0.0f; }
    *d = db;
    *id = ib;
}

T256 static void quantize_act32_256(const float *x, int n, void *act) {
    int8_t *q = act;
    float *d = (float *)((uint8_t *)act + KERN_ACT32_D(n));
    int32_t *s = (int32_t *)((uint8_t *)act + KERN_ACT32_S(n));
    for (int b = 0; b < n / 32; b++, x += 32, q += 32) {
        int finite;
        float amax = amax_256(x, 32, &finite), id;
        act_scale(amax, finite, &d[b], &id);
        if (!finite) { memset(q, 0, 32); s[b] = 0; continue; }
        __m256i i[4];
        round32_256(x, _mm256_set1_ps(id), q, i);
        s[b] = hsum_epi32_256(_mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3])));
    }
    kern_act32_expand(act, n);
}

T256 static void quantize_q8_K_256(const float *x, block_q8_K *y, int n) {
    for (int b = 0; b < n / QK_K; b++, x += QK_K) {
        int finite;
        float amax = amax_256(x, QK_K, &finite), id;
        act_scale(amax, finite, &y[b].d, &id);
        if (!finite) { memset(y[b].qs, 0, sizeof y[b].qs); memset(y[b].bsums, 0, sizeof y[b].bsums); continue; }
        __m256i S[16];      /* S[j]: 8 partial sums of the 16 values of bsums[j] */
        for (int g = 0; g < 8; g++) {
            __m256i i[4];
            round32_256(x + 32 * g, _mm256_set1_ps(id), y[b].qs + 32 * g, i);
            S[2 * g] = _mm256_add_epi32(i[0], i[1]);
            S[2 * g + 1] = _mm256_add_epi32(i[2], i[3]);
        }
        for (int h = 0; h < 2; h++) {
            const __m256i *s8 = S + 8 * h;
            __m256i u0 = _mm256_hadd_epi32(_mm256_hadd_epi32(s8[0], s8[1]), _mm256_hadd_epi32(s8[2], s8[3]));
            __m256i u1 = _mm256_hadd_epi32(_mm256_hadd_epi32(s8[4], s8[5]), _mm256_hadd_epi32(s8[6], s8[7]));
            __m128i r0 = _mm_add_epi32(_mm256_castsi256_si128(u0), _mm256_extracti128_si256(u0, 1));
            __m128i r1 = _mm_add_epi32(_mm256_castsi256_si128(u1), _mm256_extracti128_si256(u1, 1));
            _mm_storeu_si128((__m128i *)(y[b].bsums + 8 * h), _mm_packs_epi32(r0, r1));
        }
    }
}

void kern_act_quantize_avx2(uint32_t type, const float *x, int n, void *act) {
    assert(kern_act_bytes(type, n));
    if (kern_act_format(type) == KERN_ACT_Q8_K) quantize_q8_K_256(x, act, n);
    else quantize_act32_256(x, n, act);
}

/* ---- mᵀ·c, scaled and added (kern_matvec_t: LoRA's B product) ------------ */

/* 64 outputs at a time in four registers, over all r rows of m */
T512 void kern_matvec_t_avx512(float *out, float s, const float *m, size_t ld, const float *c, int r, int n) {
    const __m512 vs = _mm512_set1_ps(s);
    int i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        const float *row = m + i;
        for (int k = 0; k < r; k++, row += ld) {
            __m512 ck = _mm512_set1_ps(c[k]);
            a0 = _mm512_fmadd_ps(ck, _mm512_loadu_ps(row), a0);
            a1 = _mm512_fmadd_ps(ck, _mm512_loadu_ps(row + 16), a1);
            a2 = _mm512_fmadd_ps(ck, _mm512_loadu_ps(row + 32), a2);
            a3 = _mm512_fmadd_ps(ck, _mm512_loadu_ps(row + 48), a3);
        }
        float *o = out + i;
        _mm512_storeu_ps(o, _mm512_fmadd_ps(vs, a0, _mm512_loadu_ps(o)));
        _mm512_storeu_ps(o + 16, _mm512_fmadd_ps(vs, a1, _mm512_loadu_ps(o + 16)));
        _mm512_storeu_ps(o + 32, _mm512_fmadd_ps(vs, a2, _mm512_loadu_ps(o + 32)));
        _mm512_storeu_ps(o + 48, _mm512_fmadd_ps(vs, a3, _mm512_loadu_ps(o + 48)));
    }
    for (; i + 16 <= n; i += 16) {
        __m512 a0 = _mm512_setzero_ps();
        const float *row = m + i;
        for (int k = 0; k < r; k++, row += ld) a0 = _mm512_fmadd_ps(_mm512_set1_ps(c[k]), _mm512_loadu_ps(row), a0);
        _mm512_storeu_ps(out + i, _mm512_fmadd_ps(vs, a0, _mm512_loadu_ps(out + i)));
    }
    if (i < n) kern_matvec_t_portable(out + i, s, m + i, ld, c, r, n - i);
}

/* 32 outputs at a time in four registers */
T256 void kern_matvec_t_avx2(float *out, float s, const float *m, size_t ld, const float *c, int r, int n) {
    const __m256 vs = _mm256_set1_ps(s);
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        const float *row = m + i;
        for (int k = 0; k < r; k++, row += ld) {
            __m256 ck = _mm256_set1_ps(c[k]);
            a0 = _mm256_fmadd_ps(ck, _mm256_loadu_ps(row), a0);
            a1 = _mm256_fmadd_ps(ck, _mm256_loadu_ps(row + 8), a1);
            a2 = _mm256_fmadd_ps(ck, _mm256_loadu_ps(row + 16), a2);
            a3 = _mm256_fmadd_ps(ck, _mm256_loadu_ps(row + 24), a3);
        }
        float *o = out + i;
        _mm256_storeu_ps(o, _mm256_fmadd_ps(vs, a0, _mm256_loadu_ps(o)));
        _mm256_storeu_ps(o + 8, _mm256_fmadd_ps(vs, a1, _mm256_loadu_ps(o + 8)));
        _mm256_storeu_ps(o + 16, _mm256_fmadd_ps(vs, a2, _mm256_loadu_ps(o + 16)));
        _mm256_storeu_ps(o + 24, _mm256_fmadd_ps(vs, a3, _mm256_loadu_ps(o + 24)));
    }
    if (i < n) kern_matvec_t_portable(out + i, s, m + i, ld, c, r, n - i);
}

/* ---- attention's short-vector products (kern_matvec, kern_outer_add, kern_exp_sub) ---- */

static inline __mmask16 tail_mask(int left) { return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1); }

/* Four rows at a time, each row's sum in its own register, reduced once. */
T512 void kern_matvec_avx512(float *out, float s, const float *m, size_t ld, const float *x, int r, int n) {
    int k = 0;
    for (; k + 4 <= r; k += 4) {
        const float *r0 = m + (size_t)k * ld, *r1 = r0 + ld, *r2 = r1 + ld, *r3 = r2 + ld;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < n; i += 16) {
            __mmask16 mk = tail_mask(n - i);
            __m512 xv = _mm512_maskz_loadu_ps(mk, x + i);
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, r0 + i), xv, a0);
            a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, r1 + i), xv, a1);
            a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, r2 + i), xv, a2);
            a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, r3 + i), xv, a3);
        }
        out[k] = s * _mm512_reduce_add_ps(a0);
        out[k + 1] = s * _mm512_reduce_add_ps(a1);
        out[k + 2] = s * _mm512_reduce_add_ps(a2);
        out[k + 3] = s * _mm512_reduce_add_ps(a3);
    }
    for (; k < r; k++) {
        const float *row = m + (size_t)k * ld;
        __m512 a0 = _mm512_setzero_ps();
        for (int i = 0; i < n; i += 16) {
            __mmask16 mk = tail_mask(n - i);
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, row + i), _mm512_maskz_loadu_ps(mk, x + i), a0);
        }
        out[k] = s * _mm512_reduce_add_ps(a0);
    }
}

T512 void kern_outer_add_avx512(float *m, size_t ld, const float *c, int r, const float *x, int n) {
    for (int i = 0; i < n; i += 16) {
        __mmask16 mk = tail_mask(n - i);
        __m512 xv = _mm512_maskz_loadu_ps(mk, x + i);
        float *row = m + i;
        for (int k = 0; k < r; k++, row += ld)
            _mm512_mask_storeu_ps(row, mk, _mm512_fmadd_ps(_mm512_set1_ps(c[k]), xv, _mm512_maskz_loadu_ps(mk, row)));
    }
}

/* exp as Cephes' expf computes it: x = n·ln2 + r with n = round(x·log2 e)
** (ln2 in two parts, so r is exact), e^r by its degree-7 polynomial, then
** scaled by 2^n (vscalefps, which also gives 0 and +inf at the ends). Inputs
** below -104 are taken as -104 (e^-104 is below the smallest float); NaN stays. */
T512 static inline __m512 exp_512(__m512 x) {
    x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

T512 float kern_exp_sub_avx512(float *x, int n, float sub) {
    const __m512 vs = _mm512_set1_ps(sub);
    __m512 sum = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 mk = tail_mask(n - i);
        __m512 e = exp_512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, x + i), vs));
        _mm512_mask_storeu_ps(x + i, mk, e);
        sum = _mm512_mask_add_ps(sum, mk, sum, e);
    }
    return _mm512_reduce_add_ps(sum);
}

#else
void kern_axpy_avx512(float *y, float a, const float *x, int n) { for (int i = 0; i < n; i++) y[i] += a * x[i]; }
void kern_attn_group_avx512(const float *q, int nq, const float *k, const float *v, size_t stride, int n, int D,
                            float scale, float *out, float *scores) {
    kern_attn_group_portable(q, nq, k, v, stride, n, D, scale, out, scores);
}
void kern_matvec_avx512(float *out, float s, const float *m, size_t ld, const float *x, int r, int n) { kern_matvec_portable(out, s, m, ld, x, r, n); }
void kern_outer_add_avx512(float *m, size_t ld, const float *c, int r, const float *x, int n) { kern_outer_add_portable(m, ld, c, r, x, n); }
float kern_exp_sub_avx512(float *x, int n, float sub) { return kern_exp_sub_portable(x, n, sub); }

void kern_gemm_avx512(uint32_t type, const void *w, size_t row_bytes, int r0, int r1, int K, const float *x, int T,
                      float *out, int ldo, float *scratch) { assert(0); }
float kern_dot_avx512(uint32_t type, const void *row, const float *x, int n) { return kern_dot_portable(type, row, x, n); }
float kern_dot_avx2(uint32_t type, const void *row, const float *x, int n) { return kern_dot_portable(type, row, x, n); }
float kern_dot_act_vnni(uint32_t type, const void *row, const void *act, int n) { return kern_dot_act_portable(type, row, act, n); }
float kern_dot_act_avx2(uint32_t type, const void *row, const void *act, int n) { return kern_dot_act_portable(type, row, act, n); }
void kern_act_quantize_avx2(uint32_t type, const float *x, int n, void *act) { kern_act_quantize_portable(type, x, n, act); }
void kern_dot_act_n_vnni(uint32_t type, const void *row, const void *act, size_t stride, int T, int n, float *out, size_t ostride) {
    for (int t = 0; t < T; t++) out[(size_t)t * ostride] = kern_dot_act_portable(type, row, (const uint8_t *)act + (size_t)t * stride, n);
}
void kern_dot_act_n_avx2(uint32_t type, const void *row, const void *act, size_t stride, int T, int n, float *out, size_t ostride) {
    for (int t = 0; t < T; t++) out[(size_t)t * ostride] = kern_dot_act_portable(type, row, (const uint8_t *)act + (size_t)t * stride, n);
}
void kern_dot_act_x16_vnni(uint32_t type, const void *grp, const void *act, size_t stride, int T, int n, float *out,
                           size_t ostride) { assert(0); }
#endif

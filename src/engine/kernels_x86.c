/*
** kernels_x86.c — AVX-512 and AVX2 versions of the dot kernels (see
** kernels.h). Compiled with per-function target attributes so the rest of
** the program stays portable; kernels_init() only calls them after CPUID
** says the instructions exist. Tails (n not a multiple of the vector width)
** fall back to the portable kernel on the remaining elements.
*/
#include "kernels.h"

#include <assert.h>
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

float kern_dot_kquant(uint32_t type, const void *row, const float *x, int n, float (*dot32)(const float *, const float *, int));

float kern_dot_avx512(uint32_t type, const void *row, const float *x, int n);
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


void kern_axpy_avx512(float *y, float a, const float *x, int n);
T512 void kern_axpy_avx512(float *y, float a, const float *x, int n) {
    __m512 va = _mm512_set1_ps(a);
    int i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
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

void kern_gemm_avx512(uint32_t type, const void *w, size_t row_bytes, int r0, int r1, int K, const float *x, int T,
                      float *out, int ldo, float *scratch);
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

float kern_dot_avx2(uint32_t type, const void *row, const float *x, int n);
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

#else
void kern_axpy_avx512(float *y, float a, const float *x, int n);
void kern_axpy_avx512(float *y, float a, const float *x, int n) { for (int i = 0; i < n; i++) y[i] += a * x[i]; }
void kern_gemm_avx512(uint32_t type, const void *w, size_t row_bytes, int r0, int r1, int K, const float *x, int T,
                      float *out, int ldo, float *scratch);
void kern_gemm_avx512(uint32_t type, const void *w, size_t row_bytes, int r0, int r1, int K, const float *x, int T,
                      float *out, int ldo, float *scratch) { assert(0); }
float kern_dot_avx512(uint32_t type, const void *row, const float *x, int n);
float kern_dot_avx2(uint32_t type, const void *row, const float *x, int n);
float kern_dot_avx512(uint32_t type, const void *row, const float *x, int n) { return kern_dot_portable(type, row, x, n); }
float kern_dot_avx2(uint32_t type, const void *row, const float *x, int n) { return kern_dot_portable(type, row, x, n); }
#endif

/*
** kernels_x86.c — AVX-512 and AVX2 versions of the dot kernels (see
** kernels.h). Compiled with per-function target attributes so the rest of
** the program stays portable; kernels_init() only calls them after CPUID
** says the instructions exist. Tails (n not a multiple of the vector width)
** fall back to the portable kernel on the remaining elements.
*/
#include "kernels.h"

#include <assert.h>

#include "gguf.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define T256 __attribute__((target("avx2,fma,f16c")))

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
        acc = _mm512_fmadd_ps(_mm512_set1_ps(f16_to_f32(b[i].d)), p, acc);
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
        acc = _mm512_fmadd_ps(_mm512_set1_ps(f16_to_f32(b[i].d)), p, acc);
    }
    return hsum512(acc);
}

float kern_dot_kquant(uint32_t type, const void *row, const float *x, int n, float (*dot32)(const float *, const float *, int));

float kern_dot_avx512(uint32_t type, const void *row, const float *x, int n);
float kern_dot_avx512(uint32_t type, const void *row, const float *x, int n) {
    switch (type) {
    case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K: case GGML_TYPE_Q6_K: return kern_dot_kquant(type, row, x, n, dot_f32_512);
    case GGML_TYPE_F32: return dot_f32_512(row, x, n);
    case GGML_TYPE_F16: return dot_f16_512(row, x, n);
    case GGML_TYPE_BF16: return dot_bf16_512(row, x, n);
    case GGML_TYPE_Q8_0: return dot_q8_0_512(row, x, n);
    case GGML_TYPE_Q4_0: return dot_q4_0_512(row, x, n);
    }
    return kern_dot_portable(type, row, x, n);
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
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16_to_f32(b[i].d)), p, acc);
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
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16_to_f32(b[i].d)), p, acc);
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
float kern_dot_avx512(uint32_t type, const void *row, const float *x, int n);
float kern_dot_avx2(uint32_t type, const void *row, const float *x, int n);
float kern_dot_avx512(uint32_t type, const void *row, const float *x, int n) { return kern_dot_portable(type, row, x, n); }
float kern_dot_avx2(uint32_t type, const void *row, const float *x, int n) { return kern_dot_portable(type, row, x, n); }
#endif

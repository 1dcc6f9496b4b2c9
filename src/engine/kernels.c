/*
** kernels.c — portable C kernels, conversions and the run-time dispatcher
** (see kernels.h). The SIMD versions live in kernels_x86.c (kernels_impl.h).
*/
#include "kernels.h"
#include "kernels_impl.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "quant.h"

float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0) {
        if (man == 0) u = sign;
        else {                                   /* subnormal: normalize */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) { man <<= 1; exp--; }
            u = sign | (exp << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t f32_to_f16(float f) {
    /* Round to nearest even using float arithmetic: scaling by 2^112 then
    ** 2^-110 makes the FPU round the mantissa at the f16 position, and the
    ** bias term moves subnormals into place. Matches F16C's VCVTPS2PH. */
    const float to_inf = 0x1.0p+112f, to_zero = 0x1.0p-110f;
    uint32_t w;
    memcpy(&w, &f, 4);
    float base = (fabsf(f) * to_inf) * to_zero;
    uint32_t shl1 = w + w, sign = w & 0x80000000u;
    uint32_t bias = shl1 & 0xff000000u;
    if (bias < 0x71000000u) bias = 0x71000000u;
    uint32_t bb = (bias >> 1) + 0x07800000u;
    float fb;
    memcpy(&fb, &bb, 4);
    base = fb + base;
    uint32_t bits;
    memcpy(&bits, &base, 4);
    uint32_t nonsign = ((bits >> 13) & 0x7c00u) + (bits & 0x0fffu);
    return (uint16_t)((sign >> 16) | (shl1 > 0xff000000u ? 0x7e00u : nonsign));
}

uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40);   /* quiet NaN */
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

/* ---- portable kernels ---------------------------------------------------- */

static float dot_f32_c(const float *w, const float *x, int n) {
    /* 8 independent partial sums: both for speed and so the rounding pattern
    ** resembles the SIMD versions. */
    float s[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += w[i + j] * x[i + j];
    float r = 0;
    for (; i < n; i++) r += w[i] * x[i];
    return r + ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

static float dot_f16_c(const uint16_t *w, const float *x, int n) {
    float s = 0;
    for (int i = 0; i < n; i++) s += f16_to_f32(w[i]) * x[i];
    return s;
}

static float dot_bf16_c(const uint16_t *w, const float *x, int n) {
    float s = 0;
    for (int i = 0; i < n; i++) s += bf16_to_f32(w[i]) * x[i];
    return s;
}

static float dot_q8_0_c(const block_q8_0 *b, const float *x, int n) {
    float s = 0;
    for (int i = 0; i < n / QK8_0; i++, x += QK8_0) {
        float bs = 0;
        for (int j = 0; j < QK8_0; j++) bs += (float)b[i].qs[j] * x[j];
        s += f16_to_f32(b[i].d) * bs;
    }
    return s;
}

static float dot_q4_0_c(const block_q4_0 *b, const float *x, int n) {
    float s = 0;
    for (int i = 0; i < n / QK4_0; i++, x += QK4_0) {
        float bs = 0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            bs += (float)((b[i].qs[j] & 0x0f) - 8) * x[j];
            bs += (float)((b[i].qs[j] >> 4) - 8) * x[j + QK4_0 / 2];
        }
        s += f16_to_f32(b[i].d) * bs;
    }
    return s;
}

/* k-quants: dequantize one super-block at a time, then an f32 dot (also
** the AVX2 kernel's, with its own dot32). */
float kern_dot_kquant(uint32_t type, const void *row, const float *x, int n, float (*dot32)(const float *, const float *, int)) {
    float tmp[QK_K], s = 0;
    for (int i = 0; i < n / QK_K; i++) {
        switch (type) {
        case GGML_TYPE_Q4_K: dequant_row_q4_K((const block_q4_K *)row + i, tmp, QK_K); break;
        case GGML_TYPE_Q5_K: dequant_row_q5_K((const block_q5_K *)row + i, tmp, QK_K); break;
        case GGML_TYPE_Q6_K: dequant_row_q6_K((const block_q6_K *)row + i, tmp, QK_K); break;
        default: assert(0);
        }
        s += dot32(tmp, x + (size_t)i * QK_K, QK_K);
    }
    return s;
}

float kern_dot_portable(uint32_t type, const void *row, const float *x, int n) {
    switch (type) {
    case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K: case GGML_TYPE_Q6_K: return kern_dot_kquant(type, row, x, n, dot_f32_c);
    case GGML_TYPE_F32: return dot_f32_c(row, x, n);
    case GGML_TYPE_F16: return dot_f16_c(row, x, n);
    case GGML_TYPE_BF16: return dot_bf16_c(row, x, n);
    case GGML_TYPE_Q8_0: return dot_q8_0_c(row, x, n);
    case GGML_TYPE_Q4_0: return dot_q4_0_c(row, x, n);
    }
    assert(!"kern_dot: unsupported type");
    return 0;
}

void kern_dequant_row(uint32_t type, const void *row, float *dst, int n) {
    switch (type) {
    case GGML_TYPE_Q4_K: dequant_row_q4_K(row, dst, n); return;
    case GGML_TYPE_Q5_K: dequant_row_q5_K(row, dst, n); return;
    case GGML_TYPE_Q6_K: dequant_row_q6_K(row, dst, n); return;
    case GGML_TYPE_F32: memcpy(dst, row, (size_t)n * 4); return;
    case GGML_TYPE_F16: for (int i = 0; i < n; i++) dst[i] = f16_to_f32(((const uint16_t *)row)[i]); return;
    case GGML_TYPE_BF16: for (int i = 0; i < n; i++) dst[i] = bf16_to_f32(((const uint16_t *)row)[i]); return;
    case GGML_TYPE_Q8_0: {
        const block_q8_0 *b = row;
        for (int i = 0; i < n / QK8_0; i++) {
            float d = f16_to_f32(b[i].d);
            for (int j = 0; j < QK8_0; j++) dst[i * QK8_0 + j] = d * (float)b[i].qs[j];
        }
        return;
    }
    case GGML_TYPE_Q4_0: {
        const block_q4_0 *b = row;
        for (int i = 0; i < n / QK4_0; i++) {
            float d = f16_to_f32(b[i].d);
            for (int j = 0; j < QK4_0 / 2; j++) {
                dst[i * QK4_0 + j] = d * (float)((b[i].qs[j] & 0x0f) - 8);
                dst[i * QK4_0 + j + QK4_0 / 2] = d * (float)((b[i].qs[j] >> 4) - 8);
            }
        }
        return;
    }
    }
    assert(!"kern_dequant_row: unsupported type");
}

void kern_quantize_row(uint32_t type, const float *src, void *dst, int n) {
    switch (type) {
    case GGML_TYPE_F32: memcpy(dst, src, (size_t)n * 4); return;
    case GGML_TYPE_F16: for (int i = 0; i < n; i++) ((uint16_t *)dst)[i] = f32_to_f16(src[i]); return;
    case GGML_TYPE_BF16: for (int i = 0; i < n; i++) ((uint16_t *)dst)[i] = f32_to_bf16(src[i]); return;
    case GGML_TYPE_Q8_0: quantize_row_q8_0(src, dst, n); return;
    case GGML_TYPE_Q4_0: quantize_row_q4_0(src, dst, n); return;
    case GGML_TYPE_Q4_K: quantize_row_q4_K(src, dst, n); return;
    case GGML_TYPE_Q5_K: quantize_row_q5_K(src, dst, n); return;
    case GGML_TYPE_Q6_K: quantize_row_q6_K(src, dst, n); return;
    }
    assert(!"kern_quantize_row: unsupported type");
}

void quantize_row_q8_0(const float *x, block_q8_0 *y, int n) {
    assert(n % QK8_0 == 0);
    for (int i = 0; i < n / QK8_0; i++, x += QK8_0) {
        float amax = 0;
        for (int j = 0; j < QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        y[i].d = f32_to_f16(d);
        for (int j = 0; j < QK8_0; j++) y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

void quantize_row_q4_0(const float *x, block_q4_0 *y, int n) {
    assert(n % QK4_0 == 0);
    for (int i = 0; i < n / QK4_0; i++, x += QK4_0) {
        float amax = 0, max = 0;               /* the signed value of largest magnitude */
        for (int j = 0; j < QK4_0; j++)
            if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); max = x[j]; }
        float d = max / -8.0f, id = d ? 1.0f / d : 0.0f;
        y[i].d = f32_to_f16(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            int a = (int)(x[j] * id + 8.5f), b = (int)(x[j + QK4_0 / 2] * id + 8.5f);
            if (a > 15) a = 15;
            if (b > 15) b = 15;
            y[i].qs[j] = (uint8_t)(a | (b << 4));
        }
    }
}

/* ---- integer dot products against quantized activations ------------------ */

int kern_act_format(uint32_t type) {
    switch (type) {
    case GGML_TYPE_Q8_0: case GGML_TYPE_Q4_0: return KERN_ACT_Q8_32;
    case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K: case GGML_TYPE_Q6_K: return KERN_ACT_Q8_K;
    }
    return KERN_ACT_NONE;
}

size_t kern_act_bytes(uint32_t type, int n) {
    switch (kern_act_format(type)) {
    case KERN_ACT_Q8_32: return n > 0 && n % 32 == 0 ? KERN_ACT32_BYTES(n) : 0;
    case KERN_ACT_Q8_K: return n > 0 && n % QK_K == 0 ? KERN_ROUND64((size_t)(n / QK_K) * sizeof(block_q8_K)) : 0;
    }
    return 0;
}

/* 32-blocks: d = amax/127 (f32), q = round(x/d) ties to even, as the int8
** GEMM does; s = Σ q. NaN/Inf: d = NaN, q = 0. */
static void quantize_act32_c(const float *x, int n, void *act) {
    int8_t *q = act;
    float *d = (float *)((uint8_t *)act + KERN_ACT32_D(n));
    int32_t *s = (int32_t *)((uint8_t *)act + KERN_ACT32_S(n));
    for (int b = 0; b < n / 32; b++, x += 32, q += 32) {
        float amax = 0;
        int finite = 1;
        for (int k = 0; k < 32; k++) {
            float a = fabsf(x[k]);
            if (!(a <= FLT_MAX)) finite = 0;
            else if (a > amax) amax = a;
        }
        float db = amax / 127.0f, id = db != 0.0f ? 1.0f / db : 0.0f;
        if (!(id <= FLT_MAX)) db = id = 0.0f;          /* 1/d overflows: values ≈ 0 */
        int32_t sum = 0;
        if (!finite) { db = NAN; memset(q, 0, 32); }
        else for (int k = 0; k < 32; k++) { q[k] = (int8_t)nearbyintf(x[k] * id); sum += q[k]; }
        d[b] = db;
        s[b] = sum;
    }
    kern_act32_expand(act, n);
}

void kern_act32_expand(void *act, int n) {
    const int8_t *q = act;
    const float *d = (const float *)((const uint8_t *)act + KERN_ACT32_D(n));
    const int32_t *s = (const int32_t *)((const uint8_t *)act + KERN_ACT32_S(n));
    uint8_t *u = (uint8_t *)act + KERN_ACT32_U(n);
    float *dx = (float *)((uint8_t *)act + KERN_ACT32_DX(n));
    int32_t *sx = (int32_t *)((uint8_t *)act + KERN_ACT32_SX(n));
    for (int i = 0; i < n; i++) u[i] = (uint8_t)(q[i] + 128);
    for (int b = 0; b < n / 32; b++)
        for (int k = 0; k < 8; k++) {
            dx[8 * b + k] = d[b];
            sx[8 * b + k] = -s[b];
        }
}

void kern_act_quantize_portable(uint32_t type, const float *x, int n, void *act) {
    assert(kern_act_bytes(type, n));
    if (kern_act_format(type) == KERN_ACT_Q8_K) quantize_row_q8_K(x, act, n);
    else quantize_act32_c(x, n, act);
}

/* Per block: the exact integer Σ (q_w − 8)·q_x = Σ q_w·q_x − 8·s, scaled by d_w·d_x. */
static float dot_q4_0_q8_c(const block_q4_0 *w, const void *act, int n) {
    const int8_t *q = act;
    const float *d = (const float *)((const uint8_t *)act + KERN_ACT32_D(n));
    const int32_t *s = (const int32_t *)((const uint8_t *)act + KERN_ACT32_S(n));
    float sum = 0;
    for (int b = 0; b < n / 32; b++, q += 32) {
        int32_t isum = 0;
        for (int k = 0; k < 16; k++) isum += (w[b].qs[k] & 0x0f) * q[k] + (w[b].qs[k] >> 4) * q[k + 16];
        sum += f16_to_f32(w[b].d) * d[b] * (float)(isum - 8 * s[b]);
    }
    return sum;
}

static float dot_q8_0_q8_c(const block_q8_0 *w, const void *act, int n) {
    const int8_t *q = act;
    const float *d = (const float *)((const uint8_t *)act + KERN_ACT32_D(n));
    float sum = 0;
    for (int b = 0; b < n / 32; b++, q += 32) {
        int32_t isum = 0;
        for (int k = 0; k < 32; k++) isum += w[b].qs[k] * q[k];
        sum += f16_to_f32(w[b].d) * d[b] * (float)isum;
    }
    return sum;
}

float kern_dot_act_portable(uint32_t type, const void *row, const void *act, int n) {
    switch (type) {
    case GGML_TYPE_Q4_0: return dot_q4_0_q8_c(row, act, n);
    case GGML_TYPE_Q8_0: return dot_q8_0_q8_c(row, act, n);
    case GGML_TYPE_Q4_K: return dot_q4_K_q8_K(row, act, n);
    case GGML_TYPE_Q5_K: return dot_q5_K_q8_K(row, act, n);
    case GGML_TYPE_Q6_K: return dot_q6_K_q8_K(row, act, n);
    }
    assert(!"kern_dot_act: unsupported type");
    return 0;
}

void kern_matvec_t_portable(float *out, float s, const float *m, size_t ld, const float *c, int r, int n) {
    float acc[KERN_MATVEC_T_MAX];
    assert(n <= KERN_MATVEC_T_MAX);
    memset(acc, 0, (size_t)n * sizeof *acc);
    for (int k = 0; k < r; k++) {
        const float *row = m + (size_t)k * ld;
        float ck = c[k];
        for (int i = 0; i < n; i++) acc[i] += ck * row[i];
    }
    for (int i = 0; i < n; i++) out[i] += s * acc[i];
}

void kern_matvec_portable(float *out, float s, const float *m, size_t ld, const float *x, int r, int n) {
    for (int k = 0; k < r; k++) {
        const float *row = m + (size_t)k * ld;
        float acc = 0;
        for (int i = 0; i < n; i++) acc += row[i] * x[i];
        out[k] = s * acc;
    }
}

void kern_outer_add_portable(float *m, size_t ld, const float *c, int r, const float *x, int n) {
    for (int k = 0; k < r; k++)
        for (int i = 0; i < n; i++) m[(size_t)k * ld + i] += c[k] * x[i];
}

float kern_exp_sub_portable(float *x, int n, float sub) {
    float sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - sub);
        sum += x[i];
    }
    return sum;
}

/* ---- dispatch ------------------------------------------------------------ */

typedef float (*dot_fn)(uint32_t, const void *, const float *, int);

static dot_fn g_dot = kern_dot_portable;

typedef void (*matvec_t_fn)(float *, float, const float *, size_t, const float *, int, int);
static matvec_t_fn g_matvec_t = kern_matvec_t_portable;

typedef float (*dot_act_fn)(uint32_t, const void *, const void *, int);
typedef void (*act_quant_fn)(uint32_t, const float *, int, void *);
static dot_act_fn g_dot_act = kern_dot_act_portable;
static act_quant_fn g_act_quant = kern_act_quantize_portable;
static const char *g_act_isa = "portable";
static int g_act_on = 1;
static int g_x16_on = 1;

#if defined(__x86_64__)
#include <cpuid.h>
/* CPUID plus XGETBV: the instructions must exist and the OS must save the
** wider registers on context switch. */
static void cpu_features(int *avx2, int *avx512, int *vnni) {
    unsigned a, b, c, d;
    *avx2 = *avx512 = *vnni = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, f16c = (c >> 29) & 1;
    if (!osxsave) return;
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    int ymm_os = (xlo & 0x6) == 0x6, zmm_os = (xlo & 0xe6) == 0xe6;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    int has_avx2 = (b >> 5) & 1, f = (b >> 16) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
    *avx2 = ymm_os && has_avx2 && fma && f16c;
    *avx512 = *avx2 && zmm_os && f && bw && vl;
    *vnni = *avx512 && ((c >> 11) & 1);           /* AVX512_VNNI */
}
#endif
static const char *g_isa = "portable";
static int g_ready;

void kernels_init(const char *force) {
    if (g_ready && !force) return;
    g_dot = kern_dot_portable;
    g_isa = "portable";
    g_matvec_t = kern_matvec_t_portable;
    g_dot_act = kern_dot_act_portable;
    g_act_quant = kern_act_quantize_portable;
    g_act_isa = "portable";
#if defined(__x86_64__)
    int has2 = 0, has512 = 0, vnni = 0;
    cpu_features(&has2, &has512, &vnni);
    int want512 = !force || strcmp(force, "avx512") == 0;
    int want2 = !force || strcmp(force, "avx2") == 0 || strcmp(force, "avx512") == 0;
    if (has512 && has2 && want512) { g_dot = kern_dot_avx512; g_matvec_t = kern_matvec_t_avx512; g_isa = "avx512"; }
    else if (has2 && want2) { g_dot = kern_dot_avx2; g_matvec_t = kern_matvec_t_avx2; g_isa = "avx2"; }
    /* integer dots: VNNI with AVX-512, else the AVX2 ones (AVX-512 without VNNI too) */
    if (g_dot != kern_dot_portable) {
        g_act_quant = kern_act_quantize_avx2;
        if (g_dot == kern_dot_avx512 && vnni) { g_dot_act = kern_dot_act_vnni; g_act_isa = "vnni"; }
        else { g_dot_act = kern_dot_act_avx2; g_act_isa = "avx2"; }
    }
#endif
    const char *gemm_env = getenv("SQLASSIST_GEMM");
    g_act_on = !(gemm_env && strcmp(gemm_env, "f32") == 0);
    const char *x16_env = getenv("SQLASSIST_X16");
    g_x16_on = !(x16_env && strcmp(x16_env, "0") == 0);
    /* the int8 GEMM needs AVX-512; an unavailable $SQLASSIST_GEMM keeps the fastest path */
    if (g_dot != kern_dot_avx512) kern_gemm_select("f32");
    else if (kern_gemm_select(gemm_env)) kern_gemm_select(NULL);
    g_ready = 1;
}

const char *kernels_isa(void) { return g_isa; }

void kern_axpy(float *y, float a, const float *x, int n) {
    if (g_dot == kern_dot_avx512) { kern_axpy_avx512(y, a, x, n); return; }
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

void kern_attn_group_portable(const float *q, int nq, const float *k, const float *v, size_t stride, int n, int D,
                              float scale, float *out, float *scores) {
    for (int i = 0; i < nq; i++) {
        float *sc = scores + (size_t)i * n, mx = -INFINITY, sum = 0;
        for (int p = 0; p < n; p++) {
            float d = 0;
            for (int j = 0; j < D; j++) d += q[(size_t)i * D + j] * k[(size_t)p * stride + j];
            sc[p] = d * scale;
            if (sc[p] > mx) mx = sc[p];
        }
        for (int p = 0; p < n; p++) { sc[p] = expf(sc[p] - mx); sum += sc[p]; }
        float *o = out + (size_t)i * D;
        for (int j = 0; j < D; j++) o[j] = 0;
        for (int p = 0; p < n; p++)
            for (int j = 0; j < D; j++) o[j] += sc[p] / sum * v[(size_t)p * stride + j];
    }
}

void kern_attn_group(const float *q, int nq, const float *k, const float *v, size_t stride, int n, int D, float scale,
                     float *out, float *scores) {
    assert(nq >= 1 && n >= 1 && D >= 1);
    if (g_dot == kern_dot_avx512 && D % 16 == 0) { kern_attn_group_avx512(q, nq, k, v, stride, n, D, scale, out, scores); return; }
    /* other CPUs: the dots, exponentials and products of this ISA, a call per position */
    for (int i = 0; i < nq; i++) {
        float *sc = scores + (size_t)i * n, mx = -INFINITY;
        for (int p = 0; p < n; p++) {
            sc[p] = kern_dot(GGML_TYPE_F32, k + (size_t)p * stride, q + (size_t)i * D, D) * scale;
            if (sc[p] > mx) mx = sc[p];
        }
        float inv = 1.0f / kern_exp_sub(sc, n, mx);
        float *o = out + (size_t)i * D;
        memset(o, 0, (size_t)D * sizeof *o);
        for (int p = 0; p < n; p++) kern_axpy(o, sc[p] * inv, v + (size_t)p * stride, D);
    }
}

void kern_matvec(float *out, float s, const float *m, size_t ld, const float *x, int r, int n) {
    if (g_dot == kern_dot_avx512) { kern_matvec_avx512(out, s, m, ld, x, r, n); return; }
    kern_matvec_portable(out, s, m, ld, x, r, n);
}

void kern_outer_add(float *m, size_t ld, const float *c, int r, const float *x, int n) {
    if (g_dot == kern_dot_avx512) { kern_outer_add_avx512(m, ld, c, r, x, n); return; }
    kern_outer_add_portable(m, ld, c, r, x, n);
}

float kern_exp_sub(float *x, int n, float sub) {
    if (g_dot == kern_dot_avx512) return kern_exp_sub_avx512(x, n, sub);
    return kern_exp_sub_portable(x, n, sub);
}

void kern_matvec_t(float *out, float s, const float *m, size_t ld, const float *c, int r, int n) {
    g_matvec_t(out, s, m, ld, c, r, n);
}

int kern_has_gemm(void) { return g_dot == kern_dot_avx512; }

void kern_gemm(uint32_t type, const void *w, size_t row_bytes, int r0, int r1, int K, const float *x, int T,
               float *out, int ldo, float *scratch) {
    if (g_dot == kern_dot_avx512) {
        if (kern_gemm_int8(type, w, row_bytes, r0, r1, K, x, T, out, ldo, scratch)) return;
        kern_gemm_avx512(type, w, row_bytes, r0, r1, K, x, T, out, ldo, scratch);
        return;
    }
    for (int r = r0; r < r1; r++) {
        const void *row = (const uint8_t *)w + (size_t)r * row_bytes;
        for (int t = 0; t < T; t++) out[(size_t)t * ldo + r] += g_dot(type, row, x + (size_t)t * K, K);
    }
}

float kern_dot(uint32_t type, const void *row, const float *x, int n) {
    return g_dot(type, row, x, n);
}

const char *kern_dot_act_isa(void) { return g_act_isa; }

int kern_dot_act_enabled(void) { return g_act_on; }

void kern_act_quantize(uint32_t type, const float *x, int n, void *act) { g_act_quant(type, x, n, act); }

float kern_dot_act(uint32_t type, const void *row, const void *act, int n) {
    return g_dot_act(type, row, act, n);
}

int kern_x16_ok(uint32_t type, int rows, int cols) {
    return g_x16_on && g_act_on && g_dot_act == kern_dot_act_vnni && (type == GGML_TYPE_Q8_0 || type == GGML_TYPE_Q4_0) &&
           rows > 0 && rows % 16 == 0 &&
           cols > 0 && cols % 64 == 0;
}

void kern_x16_row(uint32_t type, const void *x16, size_t row_bytes, int r, int cols, void *out) {
    assert((type == GGML_TYPE_Q8_0 || type == GGML_TYPE_Q4_0) && r >= 0 && cols % 64 == 0);
    const int q8 = type == GGML_TYPE_Q8_0, nq = q8 ? 32 : 16, i = r % 16;
    const size_t bb = q8 ? sizeof(block_q8_0) : sizeof(block_q4_0), lines = KERN_X16_LINE_BYTES(type);
    const uint8_t *grp = (const uint8_t *)x16 + (size_t)(r / 16) * 16 * row_bytes, flip = q8 ? 0x80 : 0;
    uint8_t *o = out;
    for (int b = 0; b < cols / 32; b++) {
        const uint8_t *pair = grp + (size_t)(b / 2) * KERN_X16_PAIR_BYTES(type), *ln = pair + lines * (size_t)(b & 1);
        uint8_t *blk = o + (size_t)b * bb;
        memcpy(blk, pair + 2 * lines + 32 * (size_t)(b & 1) + 2 * (size_t)i, 2);      /* f16 scale */
        for (int k = 0; k < nq; k++) blk[2 + k] = ln[64 * (k / 4) + 4 * i + k % 4] ^ flip;
    }
}

void kern_dot_act_x16(uint32_t type, const void *grp, const void *act, size_t stride, int T, int n, float *out, size_t ostride) {
    assert(g_dot_act == kern_dot_act_vnni);
    kern_dot_act_x16_vnni(type, grp, act, stride, T, n, out, ostride);
}

void kern_dot_act_n(uint32_t type, const void *row, const void *act, size_t stride, int T, int n, float *out, size_t ostride) {
    if (g_dot_act == kern_dot_act_avx2) { kern_dot_act_n_avx2(type, row, act, stride, T, n, out, ostride); return; }
    if (g_dot_act == kern_dot_act_vnni) { kern_dot_act_n_vnni(type, row, act, stride, T, n, out, ostride); return; }
    for (int t = 0; t < T; t++) out[(size_t)t * ostride] = g_dot_act(type, row, (const uint8_t *)act + (size_t)t * stride, n);
}

/*
** quant.c — k-quant layouts (see quant.h). The unpacking of the 6-bit
** scales/mins and the interleaving of q5_K/q6_K bits follow ggml's
** published block layout exactly, since files from llama.cpp must decode
** to the same numbers.
*/
#include "quant.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "kernels.h"

/* Scale and min j (0..7) of a q4_K/q5_K block from the 12 packed bytes. */
static void get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

static void set_scale_min_k4(int j, uint8_t *q, uint8_t sc, uint8_t m) {
    assert(sc < 64 && m < 64);
    if (j < 4) {
        q[j] = (uint8_t)((q[j] & 0xC0) | sc);
        q[j + 4] = (uint8_t)((q[j + 4] & 0xC0) | m);
    } else {
        q[j + 4] = (uint8_t)((sc & 0xF) | ((m & 0xF) << 4));
        q[j - 4] = (uint8_t)((q[j - 4] & 0x3F) | ((sc >> 4) << 6));
        q[j] = (uint8_t)((q[j] & 0x3F) | ((m >> 4) << 6));
    }
}

void dequant_row_q4_K(const block_q4_K *x, float *y, int n) {
    assert(n % QK_K == 0);
    for (int i = 0; i < n / QK_K; i++) {
        const uint8_t *q = x[i].qs;
        float d = f16_to_f32(x[i].d), min = f16_to_f32(x[i].dmin);
        for (int j = 0, is = 0; j < QK_K; j += 64, is += 2, q += 32) {
            uint8_t sc, m;
            get_scale_min_k4(is, x[i].scales, &sc, &m);
            float d1 = d * sc, m1 = min * m;
            get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

void dequant_row_q5_K(const block_q5_K *x, float *y, int n) {
    assert(n % QK_K == 0);
    for (int i = 0; i < n / QK_K; i++) {
        const uint8_t *ql = x[i].qs, *qh = x[i].qh;
        float d = f16_to_f32(x[i].d), min = f16_to_f32(x[i].dmin);
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0, is = 0; j < QK_K; j += 64, is += 2, ql += 32) {
            uint8_t sc, m;
            get_scale_min_k4(is, x[i].scales, &sc, &m);
            float d1 = d * sc, m1 = min * m;
            get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
            u1 = (uint8_t)(u1 << 2);
            u2 = (uint8_t)(u2 << 2);
        }
    }
}

void dequant_row_q6_K(const block_q6_K *x, float *y, int n) {
    assert(n % QK_K == 0);
    for (int i = 0; i < n / QK_K; i++) {
        float d = f16_to_f32(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int h = 0; h < QK_K; h += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = (int)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = (int)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is] * (float)q1;
                y[l + 32] = d * sc[is + 2] * (float)q2;
                y[l + 64] = d * sc[is + 4] * (float)q3;
                y[l + 96] = d * sc[is + 6] * (float)q4;
            }
        }
    }
}

/* Per sub-block affine fit x ≈ scale·q − mn with q in [0, qmax]; then the
** 8 scales and mins are themselves quantized to 6 bits against d, dmin.
** Shared by q4_K (qmax 15) and q5_K (qmax 31). Writes the quants to L. */
static void fit_affine_k(const float *x, int qmax, uint16_t *d_out, uint16_t *dmin_out, uint8_t *scales,
                         uint8_t L[QK_K]) {
    float sub_scale[8], sub_min[8], max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        const float *v = x + 32 * j;
        float lo = v[0], hi = v[0];
        for (int l = 1; l < 32; l++) { lo = fminf(lo, v[l]); hi = fmaxf(hi, v[l]); }
        if (lo > 0) lo = 0;
        sub_scale[j] = (hi - lo) / (float)qmax;
        sub_min[j] = -lo;
        max_scale = fmaxf(max_scale, sub_scale[j]);
        max_min = fmaxf(max_min, sub_min[j]);
    }
    float d = max_scale / 63.0f, dmin = max_min / 63.0f;
    *d_out = f32_to_f16(d);
    *dmin_out = f32_to_f16(dmin);
    d = f16_to_f32(*d_out);
    dmin = f16_to_f32(*dmin_out);
    memset(scales, 0, K_SCALE_SIZE);
    for (int j = 0; j < 8; j++) {
        int sc = d > 0 ? (int)lroundf(sub_scale[j] / d) : 0, m = dmin > 0 ? (int)lroundf(sub_min[j] / dmin) : 0;
        sc = sc < 0 ? 0 : sc > 63 ? 63 : sc;
        m = m < 0 ? 0 : m > 63 ? 63 : m;
        set_scale_min_k4(j, scales, (uint8_t)sc, (uint8_t)m);
        float ds = d * (float)sc, dm = dmin * (float)m;
        for (int l = 0; l < 32; l++) {
            int q = ds > 0 ? (int)lroundf((x[32 * j + l] + dm) / ds) : 0;
            L[32 * j + l] = (uint8_t)(q < 0 ? 0 : q > qmax ? qmax : q);
        }
    }
}

void quantize_row_q4_K(const float *x, block_q4_K *y, int n) {
    assert(n % QK_K == 0);
    for (int i = 0; i < n / QK_K; i++, x += QK_K) {
        uint8_t L[QK_K];
        fit_affine_k(x, 15, &y[i].d, &y[i].dmin, y[i].scales, L);
        uint8_t *q = y[i].qs;
        for (int j = 0; j < QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

void quantize_row_q5_K(const float *x, block_q5_K *y, int n) {
    assert(n % QK_K == 0);
    for (int i = 0; i < n / QK_K; i++, x += QK_K) {
        uint8_t L[QK_K];
        fit_affine_k(x, 31, &y[i].d, &y[i].dmin, y[i].scales, L);
        memset(y[i].qh, 0, sizeof y[i].qh);
        uint8_t *ql = y[i].qs, m1 = 1, m2 = 2;
        for (int j = 0; j < QK_K; j += 64, ql += 32) {
            for (int l = 0; l < 32; l++) {
                int l1 = L[j + l], l2 = L[j + l + 32];
                if (l1 > 15) { l1 -= 16; y[i].qh[l] |= m1; }
                if (l2 > 15) { l2 -= 16; y[i].qh[l] |= m2; }
                ql[l] = (uint8_t)(l1 | (l2 << 4));
            }
            m1 = (uint8_t)(m1 << 2);
            m2 = (uint8_t)(m2 << 2);
        }
    }
}

void quantize_row_q6_K(const float *x, block_q6_K *y, int n) {
    assert(n % QK_K == 0);
    for (int i = 0; i < n / QK_K; i++, x += QK_K) {
        float sub[16], max_abs_scale = 0, signed_max = 0;
        for (int j = 0; j < 16; j++) {
            float amax = 0, vmax = 0;
            for (int l = 0; l < 16; l++)
                if (fabsf(x[16 * j + l]) > amax) { amax = fabsf(x[16 * j + l]); vmax = x[16 * j + l]; }
            sub[j] = vmax / -32.0f;          /* the extreme value maps to q = -32 */
            if (fabsf(sub[j]) > max_abs_scale) { max_abs_scale = fabsf(sub[j]); signed_max = sub[j]; }
        }
        float d = signed_max / -128.0f;
        y[i].d = f32_to_f16(d);
        d = f16_to_f32(y[i].d);
        uint8_t L[QK_K];
        for (int j = 0; j < 16; j++) {
            int sc = d != 0 ? (int)lroundf(sub[j] / d) : 0;
            sc = sc < -128 ? -128 : sc > 127 ? 127 : sc;
            y[i].scales[j] = (int8_t)sc;
            float ds = d * (float)sc;
            for (int l = 0; l < 16; l++) {
                int q = ds != 0 ? (int)lroundf(x[16 * j + l] / ds) : 0;
                q = q < -32 ? -32 : q > 31 ? 31 : q;
                L[16 * j + l] = (uint8_t)(q + 32);
            }
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int h = 0; h < QK_K; h += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                uint8_t q1 = L[h + l], q2 = L[h + l + 32], q3 = L[h + l + 64], q4 = L[h + l + 96];
                ql[l] = (uint8_t)((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[l + 32] = (uint8_t)((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[l] = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }
}

/* ---- q8_K activations and integer dot products --------------------------- */

/* The 8 six-bit scales and 8 mins of a q4_K/q5_K block (sub-block j of 32 values). */
static void unpack_scales_k4(const uint8_t packed[K_SCALE_SIZE], uint8_t sc[8], uint8_t m[8]) {
    for (int j = 0; j < 8; j++) get_scale_min_k4(j, packed, &sc[j], &m[j]);
}

void quantize_row_q8_K(const float *x, block_q8_K *y, int n) {
    assert(n % QK_K == 0);
    for (int i = 0; i < n / QK_K; i++, x += QK_K) {
        float amax = 0;
        int finite = 1;
        for (int j = 0; j < QK_K; j++) {
            float a = fabsf(x[j]);
            if (!(a <= FLT_MAX)) finite = 0;          /* NaN or ±Inf */
            else if (a > amax) amax = a;
        }
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        if (!(id <= FLT_MAX)) d = id = 0.0f;          /* amax so small that 1/d overflows: values ≈ 0 */
        if (!finite) d = NAN;
        y[i].d = d;
        for (int j = 0; j < QK_K; j++) y[i].qs[j] = finite ? (int8_t)nearbyintf(x[j] * id) : 0;
        for (int j = 0; j < QK_K / 16; j++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += y[i].qs[16 * j + l];
            y[i].bsums[j] = (int16_t)s;
        }
    }
}

/* Per super-block: sumi = Σ_j sc_j·Σ_{l∈j} q_l·y_l (exact), summ = Σ_j m_j·Σ_{l∈j} y_l
** from bsums; w·x = d_x·(d·sumi − dmin·summ). */
float dot_q4_K_q8_K(const block_q4_K *w, const block_q8_K *x, int n) {
    assert(n % QK_K == 0);
    float s = 0;
    for (int i = 0; i < n / QK_K; i++) {
        uint8_t sc[8], m[8];
        unpack_scales_k4(w[i].scales, sc, m);
        const uint8_t *q = w[i].qs;
        const int8_t *y = x[i].qs;
        int32_t sumi = 0, summ = 0;
        for (int j = 0; j < 4; j++, q += 32, y += 64) {
            int32_t s0 = 0, s1 = 0;
            for (int l = 0; l < 32; l++) {
                s0 += (q[l] & 0xF) * y[l];
                s1 += (q[l] >> 4) * y[l + 32];
            }
            sumi += sc[2 * j] * s0 + sc[2 * j + 1] * s1;
        }
        for (int j = 0; j < 8; j++) summ += m[j] * (x[i].bsums[2 * j] + x[i].bsums[2 * j + 1]);
        s += x[i].d * (f16_to_f32(w[i].d) * (float)sumi - f16_to_f32(w[i].dmin) * (float)summ);
    }
    return s;
}

float dot_q5_K_q8_K(const block_q5_K *w, const block_q8_K *x, int n) {
    assert(n % QK_K == 0);
    float s = 0;
    for (int i = 0; i < n / QK_K; i++) {
        uint8_t sc[8], m[8];
        unpack_scales_k4(w[i].scales, sc, m);
        const uint8_t *q = w[i].qs, *qh = w[i].qh;
        const int8_t *y = x[i].qs;
        int32_t sumi = 0, summ = 0;
        for (int j = 0; j < 4; j++, q += 32, y += 64) {
            int32_t s0 = 0, s1 = 0;
            for (int l = 0; l < 32; l++) {
                s0 += ((q[l] & 0xF) | (((qh[l] >> (2 * j)) & 1) << 4)) * y[l];
                s1 += ((q[l] >> 4) | (((qh[l] >> (2 * j + 1)) & 1) << 4)) * y[l + 32];
            }
            sumi += sc[2 * j] * s0 + sc[2 * j + 1] * s1;
        }
        for (int j = 0; j < 8; j++) summ += m[j] * (x[i].bsums[2 * j] + x[i].bsums[2 * j + 1]);
        s += x[i].d * (f16_to_f32(w[i].d) * (float)sumi - f16_to_f32(w[i].dmin) * (float)summ);
    }
    return s;
}

/* q6_K: w = d·sc_j·(q − 32) over 16 sub-blocks of 16; the −32 goes through
** bsums: sumi = Σ_j sc_j·(Σ_{l∈j} q_l·y_l − 32·bsums_j). */
float dot_q6_K_q8_K(const block_q6_K *w, const block_q8_K *x, int n) {
    assert(n % QK_K == 0);
    float s = 0;
    for (int i = 0; i < n / QK_K; i++) {
        uint8_t L[QK_K];
        const uint8_t *ql = w[i].ql, *qh = w[i].qh;
        for (int h = 0; h < QK_K; h += 128, ql += 64, qh += 32)
            for (int l = 0; l < 32; l++) {
                L[h + l] = (uint8_t)((ql[l] & 0xF) | ((qh[l] & 3) << 4));
                L[h + l + 32] = (uint8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
                L[h + l + 64] = (uint8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
                L[h + l + 96] = (uint8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
            }
        int32_t sumi = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            int32_t sj = 0;
            for (int l = 0; l < 16; l++) sj += L[16 * j + l] * x[i].qs[16 * j + l];
            sumi += w[i].scales[j] * (sj - 32 * x[i].bsums[j]);
        }
        s += x[i].d * f16_to_f32(w[i].d) * (float)sumi;
    }
    return s;
}

/*
** quant.h — ggml's k-quant block formats (q4_K, q5_K, q6_K): layouts
** bit-exact to llama.cpp's, dequantization, and quantizers.
**
** A k-quant super-block holds QK_K = 256 weights. q4_K/q5_K split it into 8
** sub-blocks of 32 with 6-bit scales and mins (x = d·sc·q − dmin·m); q6_K
** into 16 sub-blocks of 16 with 8-bit signed scales (x = d·sc·(q − 32)).
** The quantizers here choose scales by min/max per sub-block (llama.cpp
** additionally searches for error-minimizing scales); files they write load
** in llama.cpp, and dequantization of llama.cpp's own files is exact.
*/
#ifndef SA_QUANT_H
#define SA_QUANT_H

#include <stdint.h>

#define QK_K 256
#define K_SCALE_SIZE 12

typedef struct {
    uint16_t d, dmin;                 /* f16 super-block scales */
    uint8_t scales[K_SCALE_SIZE];     /* 8 scales + 8 mins, 6 bits each */
    uint8_t qs[QK_K / 2];             /* 4-bit quants */
} block_q4_K;

typedef struct {
    uint16_t d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];             /* 5th bits */
    uint8_t qs[QK_K / 2];             /* low 4 bits */
} block_q5_K;

typedef struct {
    uint8_t ql[QK_K / 2];             /* low 4 bits */
    uint8_t qh[QK_K / 4];             /* high 2 bits */
    int8_t scales[QK_K / 16];         /* 16 signed 8-bit scales */
    uint16_t d;                       /* f16 super-block scale */
} block_q6_K;

void dequant_row_q4_K(const block_q4_K *x, float *y, int n);
void dequant_row_q5_K(const block_q5_K *x, float *y, int n);
void dequant_row_q6_K(const block_q6_K *x, float *y, int n);

void quantize_row_q4_K(const float *x, block_q4_K *y, int n);
void quantize_row_q5_K(const float *x, block_q5_K *y, int n);
void quantize_row_q6_K(const float *x, block_q6_K *y, int n);

/* q8_K: the activation side of a k-quant dot product (ggml's block_q8_K).
** Per 256 values x: d = amax/127, qs = round(x/d) (ties to even, so |qs| ≤
** 127), bsums[j] = Σ qs[16j..16j+16). A block holding a NaN or ±Inf gets
** d = NaN and qs = bsums = 0, so the NaN reaches every product with it.
** (llama.cpp maps the signed extreme to −128; the symmetric choice here is
** the one the q8_0 activations of kernels_int8.c use.) */
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} block_q8_K;

void quantize_row_q8_K(const float *x, block_q8_K *y, int n);

/* Σ_i w_i·x̂_i over n values (a multiple of QK_K) of one weight row in
** q4_K / q5_K / q6_K against q8_K activations: each super-block's sums are
** exact in int32 and scaled once by d_w·d_x (the mins, or q6_K's offset 32,
** through bsums). Portable reference for the SIMD versions in kernels_x86.c. */
float dot_q4_K_q8_K(const block_q4_K *w, const block_q8_K *x, int n);
float dot_q5_K_q8_K(const block_q5_K *w, const block_q8_K *x, int n);
float dot_q6_K_q8_K(const block_q6_K *w, const block_q8_K *x, int n);

#endif

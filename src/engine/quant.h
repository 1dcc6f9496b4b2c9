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

#endif

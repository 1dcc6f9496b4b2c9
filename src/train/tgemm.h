/*
** tgemm.h — the matrix products of training: a linear layer's forward
** y = x·Wᵀ + b and its two backward products dx = dy·W and dW += dyᵀ·x,
** spread over a thread pool.
**
** Owns: per-thread scratch (the packed weight panels), the bf16 copies of
** a call's operands, and the choice of micro-kernel (AVX-512, AVX2+FMA or
** portable C, following kernels_isa()).
**
** Precision (tg_set_precision): f32 (the default) multiplies f32 operands
** with f32 FMAs. bf16 rounds both operands of every product (forward, dx
** and dW, LoRA's and the output head's included) to bfloat16, round to
** nearest even as the hardware does (VCVTNEPS2BF16: zeros and f32
** subnormals become signed zero, NaN stays NaN), and sums their products
** in f32 with AVX512_BF16's VDPBF16PS, two reduction steps per
** instruction. Only the operands are rounded: outputs, and dW which
** accumulates in place, stay f32, as do the parameters, the optimizer and
** everything outside these products (mixed precision). Available only
** where the CPU has AVX512_BF16 and the AVX-512 kernel is in use.
**
** Determinism: every output element is computed by exactly one work item,
** summing over its reduction index in a fixed order (blocks of 256, in
** order), so results do not depend on the thread count or on timing; they
** depend only on the instruction set, the precision and the bf16 path
** (tg_bf16_select) chosen.
**
** Shapes: N tokens, K inputs (columns of W), R outputs (rows of W).
** W is an engine wmat (any stored type: f32, f16, bf16, q8_0, q4_0, k-quants),
** dequantized a block of rows at a time, never as a whole.
*/
#ifndef SA_TGEMM_H
#define SA_TGEMM_H

#include <stddef.h>
#include <stdint.h>

#include "../engine/model.h"
#include "../engine/threadpool.h"

enum { TG_F32 = 0, TG_BF16 = 1 };

typedef struct tg_ctx {
    threadpool *tp;
    int n_threads;
    float **scratch;     /* [threads][TG_SCRATCH_FLOATS], 64-byte aligned */
    float *xt;           /* [K][N] a transposed input, shared by one call's items */
    size_t xt_cap;
    int precision;       /* TG_F32 or TG_BF16 */
    uint16_t *bf[2];     /* bf16 operands of one call, shared by its items */
    size_t bf_cap[2];    /* in elements */
} tg_ctx;

/* Picks the micro-kernel for the instruction set kernels_init() chose and
** allocates scratch for tp's threads. Returns 0, or -1 when out of memory. */
int tg_init(tg_ctx *g, threadpool *tp);
void tg_free(tg_ctx *g);
/* "avx512", "avx2" or "portable": the micro-kernel in use. */
const char *tg_isa(void);

/* NULL when TG_BF16 can run here (after tg_init), else why not. */
const char *tg_bf16_unavailable(void);
/* The instructions of the bf16 products: "amx" (AMX-BF16 tiles for every
** 16 × 16 × 32 part of a product, VDPBF16PS for the edges), "amx-emulated"
** (a slow software model of the same tile instructions, so that tests check
** that code on any CPU with AVX512_BF16), "vdpbf16ps" (no tiles), or NULL /
** "" for the fastest available. Tiles and VDPBF16PS sum in different orders,
** so results differ by f32 rounding between paths. Returns 0, or -1 when the
** name is unknown or the CPU/OS lacks it (selection unchanged). tg_init
** chooses with $SQLASSIST_GEMM ("amx", "amx-emulated"; "vnni" and "f32" mean
** no tiles; unset, the fastest). Not thread-safe. */
int tg_bf16_select(const char *name);
/* "amx", "amx-emulated" or "vdpbf16ps": the path tg_bf16_select chose. */
const char *tg_bf16_path(void);

/* Chooses the products' precision; -1 (precision unchanged) when TG_BF16
** is asked for and tg_bf16_unavailable() says why not. With TG_BF16 the
** operands' bf16 copies are grown on demand; should that allocation ever
** fail, that one call runs in f32. */
int tg_set_precision(tg_ctx *g, int precision);
/* "f32" or "bf16". */
const char *tg_precision_name(int precision);

/* C[i][j] += Σ_k A(i,k)·B[k][j] for i < M, j < N, k < K, on the calling
** thread. A(i,k) = A[i·as + k·ak] (so a transposed A is just other
** strides); B's rows are ldb floats apart, C's rows ldc. */
void tg_gemm(int M, int N, int K, const float *A, size_t as, size_t ak, const float *B, size_t ldb, float *C,
             size_t ldc);

/* y[N][R] = x[N][K]·Wᵀ (+ bias[R] when non-NULL). */
void tg_linear_fwd(tg_ctx *g, float *y, const float *x, int N, const wmat *w, const float *bias);

/* dx[N][K] = dy[N][R]·W, or += when accumulate. */
void tg_linear_bwd_x(tg_ctx *g, float *dx, const float *dy, int N, const wmat *w, int accumulate);

/* dW[R][K] += dy[N][R]ᵀ·x[N][K] (dW is f32). */
void tg_linear_bwd_w(tg_ctx *g, float *dW, const float *dy, const float *x, int N, int R, int K);

/* db[R] += Σ_t dy[t][r]. */
void tg_bias_bwd(tg_ctx *g, float *db, const float *dy, int N, int R);

/* A wmat view of an f32 matrix [rows][cols] (LoRA A/B, trained weights). */
wmat tg_f32_mat(const float *data, int rows, int cols);

#endif

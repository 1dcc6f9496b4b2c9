/*
** tgemm.h — the matrix products of training: a linear layer's forward
** y = x·Wᵀ + b and its two backward products dx = dy·W and dW += dyᵀ·x,
** spread over a thread pool.
**
** Owns: per-thread scratch (the packed weight panels) and the choice of
** micro-kernel (AVX-512, AVX2+FMA or portable C, following kernels_isa()).
**
** Determinism: every output element is computed by exactly one work item,
** summing over its reduction index in a fixed order (blocks of 256, in
** order), so results do not depend on the thread count or on timing; they
** depend only on the instruction set chosen.
**
** Shapes: N tokens, K inputs (columns of W), R outputs (rows of W).
** W is an engine wmat (any stored type: f32, f16, bf16, q8_0, q4_0, k-quants),
** dequantized a block of rows at a time, never as a whole.
*/
#ifndef SA_TGEMM_H
#define SA_TGEMM_H

#include <stddef.h>

#include "../engine/model.h"
#include "../engine/threadpool.h"

typedef struct tg_ctx {
    threadpool *tp;
    int n_threads;
    float **scratch;     /* [threads][TG_SCRATCH_FLOATS], 64-byte aligned */
    float *xt;           /* [K][N] a transposed input, shared by one call's items */
    size_t xt_cap;
} tg_ctx;

/* Picks the micro-kernel for the instruction set kernels_init() chose and
** allocates scratch for tp's threads. Returns 0, or -1 when out of memory. */
int tg_init(tg_ctx *g, threadpool *tp);
void tg_free(tg_ctx *g);
/* "avx512", "avx2" or "portable": the micro-kernel in use. */
const char *tg_isa(void);

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

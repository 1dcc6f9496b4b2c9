/*
** kernels_impl.h — private to the kernel files (kernels.c, kernels_x86.c,
** kernels_int8.c): the instruction-set versions that kernels.c's dispatcher
** points at, declared once. Nothing outside the kernel files includes it;
** the rest of the engine calls the dispatched kernels of kernels.h.
*/
#ifndef SA_KERNELS_IMPL_H
#define SA_KERNELS_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"

/* kernels.c: k-quants dequantized one super-block at a time, then dot32 (an f32 dot). */
float kern_dot_kquant(uint32_t type, const void *row, const float *x, int n, float (*dot32)(const float *, const float *, int));

/* kernels_x86.c (on other CPUs: the portable versions under these names) */
float kern_dot_avx512(uint32_t type, const void *row, const float *x, int n);
float kern_dot_avx2(uint32_t type, const void *row, const float *x, int n);
void kern_axpy_avx512(float *y, float a, const float *x, int n);
void kern_attn_group_avx512(const float *q, int nq, const float *k, const float *v, size_t stride, int n, int D,
                            float scale, float *out, float *scores);
void kern_gemm_avx512(uint32_t type, const void *w, size_t row_bytes, int r0, int r1, int K, const float *x, int T,
                      float *out, int ldo, float *scratch);
float kern_dot_act_vnni(uint32_t type, const void *row, const void *act, int n);
float kern_dot_act_avx2(uint32_t type, const void *row, const void *act, int n);
void kern_act_quantize_avx2(uint32_t type, const float *x, int n, void *act);
void kern_dot_act_n_avx2(uint32_t type, const void *row, const void *act, size_t stride, int T, int n, float *out,
                         size_t ostride);
void kern_dot_act_n_vnni(uint32_t type, const void *row, const void *act, size_t stride, int T, int n, float *out,
                         size_t ostride);
void kern_dot_act_x16_vnni(uint32_t type, const void *grp, const void *act, size_t stride, int T, int n, float *out,
                           size_t ostride);
/* kern_matvec, kern_outer_add, kern_exp_sub (kernels.h): portable and AVX-512. */
void kern_matvec_portable(float *out, float s, const float *m, size_t ld, const float *x, int r, int n);
void kern_matvec_avx512(float *out, float s, const float *m, size_t ld, const float *x, int r, int n);
void kern_outer_add_portable(float *m, size_t ld, const float *c, int r, const float *x, int n);
void kern_outer_add_avx512(float *m, size_t ld, const float *c, int r, const float *x, int n);
float kern_exp_sub_portable(float *x, int n, float sub);
float kern_exp_sub_avx512(float *x, int n, float sub);
/* kern_matvec_t (kernels.h); x86-64 only. */
void kern_matvec_t_avx512(float *out, float s, const float *m, size_t ld, const float *c, int r, int n);
void kern_matvec_t_avx2(float *out, float s, const float *m, size_t ld, const float *c, int r, int n);

/* kernels_int8.c: kern_gemm for q8_0/q4_0 (and k-quants) on the int8 path; 0 when not taken. */
int kern_gemm_int8(uint32_t type, const void *w, size_t row_bytes, int r0, int r1, int K, const float *x, int T,
                   float *out, int ldo, float *scratch);

#endif

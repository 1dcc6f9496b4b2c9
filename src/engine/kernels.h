/*
** kernels.h — the numeric inner loops of the engine: number-format
** conversion, dot products of a stored weight row (f32, f16, bf16, q8_0,
** q4_0, k-quants) with an f32 activation vector or, for decode, with an
** int8-quantized one (integer dot products), and row dequantization.
**
** Owns: the choice of instruction set. kernels_init() reads CPUID once and
** points each kernel at the AVX-512, AVX2 or portable C version; every SIMD
** version is tested against the portable one (tests/test_kernels.c).
*/
#ifndef SA_KERNELS_H
#define SA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* q8_0: 32 weights share one f16 scale (34 bytes), as in ggml. */
#define QK8_0 32
typedef struct { uint16_t d; int8_t qs[QK8_0]; } block_q8_0;
/* q4_0: 32 weights, f16 scale, 4-bit values stored as two nibbles, offset 8. */
#define QK4_0 32
typedef struct { uint16_t d; uint8_t qs[QK4_0 / 2]; } block_q4_0;

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
static inline float bf16_to_f32(uint16_t h) {
    union { uint32_t u; float f; } v = { .u = (uint32_t)h << 16 };
    return v.f;
}
uint16_t f32_to_bf16(float f);           /* round to nearest even, NaN kept */

/* Which implementation kernels_init() selected: "avx512", "avx2" or "portable". */
const char *kernels_isa(void);
/* Selects kernels from CPUID. `force` may be NULL, "portable", "avx2" or
** "avx512" (the latter two only if the CPU has them). Idempotent. */
void kernels_init(const char *force);

/* dot(row, x) over n elements, where row is stored in ggml type `type`.
** n must be a multiple of the type's block size. */
float kern_dot(uint32_t type, const void *row, const float *x, int n);

/* y[0..n) += a · x[0..n) (f32). */
void kern_axpy(float *y, float a, const float *x, int n);

/* out[i] += s · Σ_{k<r} c[k]·m[k·ld + i] for i in [0, n), n <= KERN_MATVEC_T_MAX
** (f32): r rows of a row-major matrix, ld floats apart, times the vector c
** (mᵀ·c), scaled and added. Each sum over k is taken whole before s·sum is
** added to out. LoRA's B product (lora.c), B stored transposed. */
#define KERN_MATVEC_T_MAX 256
void kern_matvec_t(float *out, float s, const float *m, size_t ld, const float *c, int r, int n);

/* out[k] = s · Σ_{i<n} m[k·ld + i]·x[i] for k in [0, r) (f32): r rows of a
** row-major matrix, ld floats apart, times x (m·x), scaled. Attention's
** scores over a run of keys (the training model's, tmodel.c). */
void kern_matvec(float *out, float s, const float *m, size_t ld, const float *x, int r, int n);

/* m[k·ld + i] += c[k]·x[i] for k < r, i < n (f32): the outer product c·xᵀ
** added to r rows ld floats apart. Attention's key and value gradients. */
void kern_outer_add(float *m, size_t ld, const float *c, int r, const float *x, int n);

/* x[i] = exp(x[i] − sub) for i < n (f32; within 2 ulp of expf, 0 below
** e^-103, +inf above e^88.7); returns Σ x[i] after. Softmax numerators. */
float kern_exp_sub(float *x, int n, float sub);

/* Causal attention of one GQA group: nq query heads q[i·D .. i·D + D) that
** share a key/value head, over n cached positions (k_p = k + p·stride,
** v_p = v + p·stride, D floats each):
**   out[i·D ..] = Σ_p softmax_p(scale · q_i·k_p) · v_p.
** scores: nq·n floats of scratch. One pass over the keys and one over the
** values serve all the group's heads (the values' products in registers). */
void kern_attn_group(const float *q, int nq, const float *k, const float *v, size_t stride, int n, int D, float scale,
                     float *out, float *scores);

/* Converts n elements of a row in ggml type `type` to f32. */
void kern_dequant_row(uint32_t type, const void *row, float *dst, int n);

/* Encodes n f32 values as one row of `type` (f32, f16, bf16, q8_0, q4_0,
** q4_K, q5_K, q6_K); n must be a multiple of the block size. */
void kern_quantize_row(uint32_t type, const float *src, void *dst, int n);

/* Quantizes n f32 values (multiple of 32) into q8_0 / q4_0 blocks, as
** ggml's reference quantizers do. */
void quantize_row_q8_0(const float *x, block_q8_0 *y, int n);
void quantize_row_q4_0(const float *x, block_q4_0 *y, int n);

/* Batched product for prompt processing: out[t·ldo + r] += Σ_k x[t·K + k]·W[r][k]
** for rows r in [r0, r1) and tokens t in [0, T); W's rows are row_bytes
** apart in ggml type `type`; K a multiple of the type's block size.
** scratch: KERN_GEMM_SCRATCH floats, 64-byte aligned, private to the caller.
** Falls back to kern_dot per (row, token) where no SIMD GEMM exists. With
** q8_0/q4_0 weights on an int8 path (below), x is first rounded to int8. */
#define KERN_GEMM_SCRATCH (128 * 256)
#define KERN_GEMM_ROWS 64    /* rows per GEMM block: callers split work in multiples of it */
void kern_gemm(uint32_t type, const void *w, size_t row_bytes, int r0, int r1, int K, const float *x, int T,
               float *out, int ldo, float *scratch);
/* 1 when kern_gemm has a blocked implementation on this CPU. */
int kern_has_gemm(void);

/* ---- int8 GEMM for q8_0 / q4_0 weights (kernels_int8.c) ------------------
** With q8_0 or q4_0 weights, kern_gemm quantizes the activations per token
** and 32-block to int8 with an f32 scale (d = amax/127, q = round(x/d), as
** llama.cpp does) and multiplies in integers: with AMX tiles where the CPU
** and OS allow, else AVX-512 VNNI, else the f32 panels. Results differ from
** the f32 path by the activation rounding (at most d/2 per element).
** q4_K, q5_K and q6_K weights on any path but "f32" take an integer GEMM
** too (AVX-512 VNNI, AMX or not): activations as q8_K blocks per token
** (kern_act_quantize, the decode format below), weights unpacked per 64
** rows and super-block into an int8 panel in the caller's scratch, the same
** integer arithmetic as kern_dot_act (so the two agree to f32 rounding).
** Other weight types always take the f32 panels. */

/* The path for q8_0/q4_0: "amx", "vnni", "amx-emulated" or "f32" (k-quants:
** VNNI unless "f32"). Only meaningful while kern_has_gemm(). */
const char *kern_gemm_name(void);
/* Selects that path: "amx", "vnni", "f32", "amx-emulated" (a slow software
** model of the tile instructions, so tests can check the AMX code on any
** CPU), or NULL / "" for the fastest available. An AMX path is first run
** once on a small product and must match VNNI bit for bit, else it counts
** as unavailable. Returns 0, or -1 when the name is unknown or the CPU/OS
** lacks it (the selection is then unchanged). kernels_init() calls it with
** $SQLASSIST_GEMM (falling back to the fastest); not thread-safe. */
int kern_gemm_select(const char *name);

/* 1 when the CPU has AMX-TILE and AMX-BF16 and the OS lets this process use
** the tiles (the permission is requested on the first call and covers every
** thread), else 0. The training products use it (src/train/tgemm.c). */
int kern_amx_bf16_available(void);

/* Activations quantized once per matmul and then read by every thread:
**   size_t n = kern_gemm_prepare_bytes(type, T, K);         // 0: use kern_gemm
**   buf = aligned_alloc(64, n);
**   const kern_gemm_act *a = kern_gemm_prepare(type, x, T, K, buf);
**   per thread: kern_gemm_prepared(type, w, row_bytes, r0, r1, a, out, ldo, scratch);
** kern_gemm_prepared adds the same products to out as kern_gemm would, for
** the T tokens and K inputs given to kern_gemm_prepare. The handle lives in
** buf and is valid until buf is freed or the path is reselected. */
typedef struct kern_gemm_act kern_gemm_act;
/* Bytes (a multiple of 64) kern_gemm_prepare needs, or 0 when the active
** path does not quantize activations for `type`. */
size_t kern_gemm_prepare_bytes(uint32_t type, int T, int K);
const kern_gemm_act *kern_gemm_prepare(uint32_t type, const float *x, int T, int K, void *buf);
void kern_gemm_prepared(uint32_t type, const void *w, size_t row_bytes, int r0, int r1, const kern_gemm_act *xa,
                        float *out, int ldo, float *scratch);

/* ---- integer matrix × vector (decode) -------------------------------------
** For q4_0, q8_0, q4_K, q5_K and q6_K weights, an activation vector x is
** quantized once per matrix product (kern_act_quantize) and every row's dot
** product with it is taken in integers (kern_dot_act), as llama.cpp does:
**   - k-quants: q8_K super-blocks (quant.h: per 256 values d = amax/127,
**     int8 qs, int16 bsums of each 16); a super-block's products with the
**     6-bit scales are summed exactly in int32, and the mins (q4_K/q5_K) or
**     q6_K's offset 32 are applied through bsums;
**   - q4_0 / q8_0: per 32 values d = amax/127 in f32 and int8 q, exactly as
**     the int8 GEMM quantizes (so decode and prompt rounding agree).
** Against kern_dot on the same weights the result differs only by the
** activation rounding: |Δ| ≤ Σ_blocks (d_x/2)·Σ_{i∈block} |w_i| (plus f32
** rounding). A block of x holding NaN/Inf gets d = NaN (the output is NaN).
** Instruction sets follow kernels_init(): AVX-512 with VNNI, else AVX2 (also
** on AVX-512 CPUs without VNNI), else portable C. */
enum { KERN_ACT_NONE, KERN_ACT_Q8_32, KERN_ACT_Q8_K };
/* The activation format weights of `type` take (KERN_ACT_NONE: use kern_dot).
** Products whose weights share a format can share one quantized x. */
int kern_act_format(uint32_t type);
/* Bytes (a multiple of 64) the quantized form of n values takes for weights
** of `type`, or 0 when there is no integer path or n is not a multiple of
** the type's block size. */
size_t kern_act_bytes(uint32_t type, int n);
/* Quantizes x[0..n) into act (kern_act_bytes(type, n) bytes, 4-byte aligned). */
void kern_act_quantize(uint32_t type, const float *x, int n, void *act);
/* Σ_i row_i·x̂_i for one weight row of n values in `type`, x̂ from kern_act_quantize. */
float kern_dot_act(uint32_t type, const void *row, const void *act, int n);
/* out[t·ostride] = kern_dot_act(type, row, act + t·stride, n) for t in [0, T):
** one row against T quantized vectors (batched decode, draft verification,
** prompts without a GEMM). Bit-identical to the single calls; the row is
** unpacked once per several tokens: with VNNI, q8_0/q4_0 rows per 8 tokens;
** on AVX2, q4_K/q6_K rows per 2. */
void kern_dot_act_n(uint32_t type, const void *row, const void *act, size_t stride, int T, int n, float *out, size_t ostride);

/* ---- 16-row panels (q8_0 / q4_0 decode with VNNI) -------------------------
** The row-major layout makes a one-row dot spend ~14 vector instructions
** per 64 weights (each 32-block's scale applied to 8 int32 lanes) and ~4
** more per extra token: batched decode and draft verification were bound by
** arithmetic, not memory. A matrix whose rows are a multiple of 16 and
** columns of 64 can be repacked once, at load, into groups of 16 rows in
** which int32 lane i is row i. Per group and pair of 32-blocks (b, b+1),
** KERN_X16_PAIR_BYTES(type) bytes = 32 blocks' worth:
**   q8_0: 16 lines of 64 bytes, line 8h + j holding bytes 4j..4j+3 of
**   block b+h of rows 0..15 (four bytes per row), each byte w XOR 0x80
**   (w + 128, VPDPBUSD's unsigned operand);
**   q4_0: 8 lines, line 4h + j holding bytes 4j..4j+3 of block b+h's
**   packed nibbles (low: elements 4j.., high: 16 + 4j..) as stored;
**   then 64 bytes: the 16 f16 scales of block b, then the 16 of block b+1.
** A group of 16 rows then takes 16·row_bytes bytes, as before (no memory
** added), and the whole matrix is one forward stream. Per token and block:
** 8 VPDPBUSD of the (unpacked) lines with the token's int8 q broadcast, seeded
** with −128·Σq (q8_0) or −8·Σq (q4_0; KERN_ACT32_S), which gives Σ q·w
** exactly; then the int32 is scaled by d_w·d_x into one f32 accumulator per
** row, block after block in order (the int8 GEMM's order, kernels_int8.c).
** One token costs ~2.7 instructions per 64 weights, each further token ~1.6. */
#define KERN_X16_LINE_BYTES(type) ((type) == GGML_TYPE_Q8_0 ? 512 : 256)   /* one block's lines */
#define KERN_X16_PAIR_BYTES(type) (2 * KERN_X16_LINE_BYTES(type) + 64)
/* 1 when kern_dot_act_x16 serves `type` matrices of rows × cols on this CPU
** (q8_0 or q4_0, rows % 16 == 0, cols % 64 == 0, the VNNI integer path selected,
** and $SQLASSIST_X16 not "0"). */
int kern_x16_ok(uint32_t type, int rows, int cols);
/* Repacks row groups [g0, g1) (rows 16·g0 .. 16·g1) of a row-major q8_0/q4_0 matrix
** w (row_bytes apart, cols values) into dst, the start of the whole
** matrix's panel buffer (64-byte aligned; group g at dst + g·16·row_bytes). */
void kern_x16_pack(uint32_t type, const void *w, size_t row_bytes, int g0, int g1, int cols, void *dst);
/* out[t·ostride + i] = row i of the group at grp · token t's act (i < 16,
** t < T; act as kern_dot_act_n's). The same value for a token whatever T is
** (batched decode and verification stay bit for bit one-token decoding);
** within kern_dot_act's bounds of the exact product. */
void kern_dot_act_x16(uint32_t type, const void *grp, const void *act, size_t stride, int T, int n, float *out, size_t ostride);
/* Row r of a matrix held as 16-row panels, written back in its row-major
** form (row_bytes bytes at out: the very bytes kern_x16_pack read). */
void kern_x16_row(uint32_t type, const void *x16, size_t row_bytes, int r, int cols, void *out);
/* kern_gemm_prepared on a matrix held as 16-row panels (row_bytes: its
** row-major row size). */
void kern_gemm_prepared_x16(uint32_t type, const void *x16, size_t row_bytes, int r0, int r1, const kern_gemm_act *xa,
                            float *out, int ldo, float *scratch);

/* Which integer kernels kernels_init() selected: "vnni", "avx2" or "portable". */
const char *kern_dot_act_isa(void);
/* 1 when matrix × vector products with quantized weights should take this
** integer path; 0 when $SQLASSIST_GEMM=f32 asked for f32 activations in
** every product (as the PyTorch oracle computes), read by kernels_init(). */
int kern_dot_act_enabled(void);

/* KERN_ACT_Q8_32 layout for n values (nb = n/32 blocks), shared by the
** kernel files: int8 q[n]; at KERN_ACT32_D(n) float d[nb]; at
** KERN_ACT32_S(n) int32 s[nb], the sum of each block's q (q4_0's offset 8
** is applied through it). Then the same, laid out for the VNNI q8_0/q4_0
** dots (one token and kern_dot_act_n's several), so that each token costs a
** load where it cost a shuffle: at KERN_ACT32_U(n) uint8 u[n],
** q + 128 (vpdpbusd's unsigned operand, the weights signed); at
** KERN_ACT32_DX(n) float dx[8·nb], each d repeated 8 times (one per int32
** lane of its block); at KERN_ACT32_SX(n) int32 sx[8·nb], each −s repeated
** 8 times. kern_act32_expand fills them from q, d and s.
** KERN_ACT_Q8_K: block_q8_K[n/256] (quant.h). */
#define KERN_ROUND64(b) (((size_t)(b) + 63) / 64 * 64)
#define KERN_ACT32_D(n) KERN_ROUND64(n)
#define KERN_ACT32_S(n) (KERN_ACT32_D(n) + KERN_ROUND64((size_t)(n) / 32 * 4))
#define KERN_ACT32_U(n) (KERN_ACT32_S(n) + KERN_ROUND64((size_t)(n) / 32 * 4))
#define KERN_ACT32_DX(n) (KERN_ACT32_U(n) + KERN_ROUND64(n))
#define KERN_ACT32_SX(n) (KERN_ACT32_DX(n) + KERN_ROUND64((size_t)(n) / 32 * 32))
#define KERN_ACT32_BYTES(n) (KERN_ACT32_SX(n) + KERN_ROUND64((size_t)(n) / 32 * 32))
/* Fills u, dx and sx of a KERN_ACT_Q8_32 vector from its q, d and s. */
void kern_act32_expand(void *act, int n);

/* Portable reference versions, exported for tests. */
void kern_attn_group_portable(const float *q, int nq, const float *k, const float *v, size_t stride, int n, int D,
                              float scale, float *out, float *scores);
float kern_dot_portable(uint32_t type, const void *row, const float *x, int n);
void kern_act_quantize_portable(uint32_t type, const float *x, int n, void *act);
float kern_dot_act_portable(uint32_t type, const void *row, const void *act, int n);
void kern_matvec_t_portable(float *out, float s, const float *m, size_t ld, const float *c, int r, int n);

#endif

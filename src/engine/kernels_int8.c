/*
** kernels_int8.c — integer GEMM for prompt processing with q8_0 and q4_0
** weights (see kernels.h, "int8 GEMM"), and with q4_K/q5_K/q6_K weights
** against q8_K activations ("k-quant GEMM" below).
**
** Activations are quantized once per matmul, per token and 32-block, to
** int8 with an f32 scale (d = amax/127, q = round(x/d), as llama.cpp does
** for q8_0 weights). Weights are repacked, 64 rows by one K-chunk at a
** time, into an int8 panel in which one 64-byte line holds 4 consecutive k
** of 16 rows: the layout of both VPDPBUSD's per-lane 4-byte dot product and
** an AMX B tile. Each 32-block's integer dot product is exact in int32 and
** is scaled by d_w·d_x into f32 accumulators, so q4_0 (unpacked to
** [-8, 7]) and q8_0 share every kernel.
**
** Two engines:
**  - AMX (TDPBSSD, signed × signed): A tile = 16 tokens × 32 k of the
**    quantized activations, read in place; B tile = one block of 16 panel
**    rows; C = 16 × 16 int32, stored and scaled with AVX-512.
**  - AVX-512 VNNI (VPDPBUSD, unsigned × signed): the activations are
**    stored as q + 128 (unsigned), and the panel carries −128·Σw per row and
**    block, which seeds each block's integer accumulator to cancel it.
** A software model of the four tile instructions ("amx-emulated") runs the
** AMX code on any CPU, so the tests check its data layout even where the
** hardware is missing; it is slow and only for tests.
*/
#include "kernels.h"
#include "kernels_impl.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "quant.h"

enum { PATH_F32, PATH_VNNI, PATH_AMX, PATH_AMX_EMU };
static const char *const path_names[] = { "f32", "vnni", "amx", "amx-emulated" };
static int g_path = PATH_F32;

/* Activations quantized by kern_gemm_prepare; lives at the start of the
** caller's buffer, followed by q and d. */
struct kern_gemm_act {
    int T, Tpad, K;          /* Tpad: T rounded up to 16; rows T..Tpad are zero (AMX reads 16 at a time) */
    int offset;              /* 1: q holds q + 128 as unsigned bytes (VNNI); 0: signed q (AMX) */
    int kq;                  /* 1: k-quant weights; q holds block_q8_K[T][K / 256] (kern_act_quantize), d unused */
    int32_t *sp;             /* k-quants: [T][K / 256][4] i16 pairs (S_2i, S_2i+1), S_j = bsums_2j + bsums_2j+1 */
    uint8_t *q;              /* [Tpad][K] */
    float *d;                /* [Tpad][K / 32] */
};

#define ACT_HEADER 64
#define ROUND64(n) (((n) + 63) / 64 * 64)

static int int8_type(uint32_t type) { return type == GGML_TYPE_Q8_0 || type == GGML_TYPE_Q4_0; }
static int kq_type(uint32_t type) { return type == GGML_TYPE_Q4_K || type == GGML_TYPE_Q5_K || type == GGML_TYPE_Q6_K; }

size_t kern_gemm_prepare_bytes(uint32_t type, int T, int K) {
    if (g_path == PATH_F32 || T < 1) return 0;
    if (kq_type(type))
        return K >= QK_K && K % QK_K == 0
                   ? ACT_HEADER + ROUND64((size_t)T * (size_t)(K / QK_K) * sizeof(block_q8_K)) + ROUND64((size_t)T * (size_t)(K / QK_K) * 16)
                   : 0;
    if (!int8_type(type) || K < 32 || K % 32) return 0;
    size_t tpad = (size_t)(T + 15) / 16 * 16;
    return ACT_HEADER + ROUND64(tpad * (size_t)K) + ROUND64(tpad * (size_t)(K / 32) * sizeof(float));
}

const char *kern_gemm_name(void) { return path_names[g_path]; }

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#define T_I8 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
#define INLINE inline __attribute__((always_inline))

/* ---- CPU and OS support -------------------------------------------------- */

static uint64_t xcr0(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 27) & 1)) return 0;     /* OSXSAVE */
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

/* AVX-512 F/BW/VL/DQ + VNNI, with the OS saving opmask and zmm state. */
static int have_vnni(void) {
    unsigned a, b, c, d;
    if ((xcr0() & 0xe6) != 0xe6 || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b >> 16 & 1) && (b >> 17 & 1) && (b >> 30 & 1) && (b >> 31 & 1) && (c >> 11 & 1);
}

/* AMX-TILE and the CPUID.(7,0):EDX bit `unit` (25: AMX-INT8, 22: AMX-BF16),
** the tile state enabled in XCR0 (bits 17, 18) with the opmask and zmm
** state, and Linux's per-process permission to use it (ARCH_REQ_XCOMP_PERM
** for XFEATURE_XTILEDATA, asked once; without it the first tile instruction
** raises SIGILL). The permission covers every thread of the process. */
static int have_tiles(int unit) {
    static int permitted = -1;
    unsigned a, b, c, d;
    if ((xcr0() & 0x600e6) != 0x600e6 || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    if (!(d >> 24 & 1) || !(d >> unit & 1)) return 0;
    if (permitted < 0) {
        permitted = 0;
#ifdef SYS_arch_prctl
        permitted = syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
#endif
    }
    return permitted;
}

/* AMX-INT8 tiles, on a CPU with the VNNI path too. */
static int have_amx(void) { return have_vnni() && have_tiles(25); }

/* AMX-BF16 tiles; AVX512_BF16 is not required. */
int kern_amx_bf16_available(void) { return have_tiles(22); }

static int amx_selftest(int path);

int kern_gemm_select(const char *name) {
    int want;
    if (!name || !*name) want = have_amx() ? PATH_AMX : have_vnni() ? PATH_VNNI : PATH_F32;
    else if (!strcmp(name, "f32")) want = PATH_F32;
    else if (!strcmp(name, "vnni")) want = PATH_VNNI;
    else if (!strcmp(name, "amx")) want = PATH_AMX;
    else if (!strcmp(name, "amx-emulated")) want = PATH_AMX_EMU;
    else return -1;
    if ((want == PATH_VNNI || want == PATH_AMX_EMU) && !have_vnni()) return -1;
    if (want == PATH_AMX && !have_amx()) return -1;
    if ((want == PATH_AMX || want == PATH_AMX_EMU) && amx_selftest(want) != 0) {
        if (name && *name) return -1;
        want = PATH_VNNI;
    }
    g_path = want;
    return 0;
}

/* ---- activations --------------------------------------------------------- */

/* One token: q[k] = round(x[k]/d) per 32-block (ties to even, the default
** MXCSR mode), d = amax/127 (0 for an all-zero block). A block holding a
** NaN gets d = NaN so the NaN reaches the output as in the f32 path. */
T_I8 static void quant_act_row(const float *x, int K, uint8_t *q, float *d, int offset) {
    const __m128i flip = _mm_set1_epi8(offset ? (char)0x80 : 0);
    for (int b = 0; b < K / 32; b++) {
        __m512 v0 = _mm512_loadu_ps(x + 32 * b), v1 = _mm512_loadu_ps(x + 32 * b + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        float db = amax / 127.0f, id = db != 0.0f ? 1.0f / db : 0.0f;
        if (_mm512_cmp_ps_mask(v0, v1, _CMP_UNORD_Q)) {      /* lane i: v0[i] or v1[i] is NaN */
            db = NAN;
            id = 0;
        }
        __m512 vid = _mm512_set1_ps(id);
        __m128i q0 = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v0, vid)));
        __m128i q1 = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v1, vid)));
        _mm_storeu_si128((__m128i *)(q + 32 * b), _mm_xor_si128(q0, flip));
        _mm_storeu_si128((__m128i *)(q + 32 * b + 16), _mm_xor_si128(q1, flip));
        d[b] = db;
    }
}

const kern_gemm_act *kern_gemm_prepare(uint32_t type, const float *x, int T, int K, void *buf) {
    size_t bytes = kern_gemm_prepare_bytes(type, T, K);
    assert(bytes && buf && ((uintptr_t)buf & 63) == 0);
    (void)bytes;
    kern_gemm_act *a = buf;
    if (kq_type(type)) {      /* k-quants: q8_K blocks per token, as for decode */
        size_t tb = (size_t)(K / QK_K) * sizeof(block_q8_K);
        a->T = a->Tpad = T;
        a->K = K;
        a->offset = 0;
        a->kq = 1;
        a->q = (uint8_t *)buf + ACT_HEADER;
        a->d = NULL;
        a->sp = (int32_t *)(a->q + ROUND64((size_t)T * tb));
        for (int t = 0; t < T; t++) {
            const block_q8_K *b = (const block_q8_K *)(a->q + (size_t)t * tb);
            kern_act_quantize(type, x + (size_t)t * K, K, (void *)b);
            for (int s = 0; s < K / QK_K; s++)      /* the 32-value sums q4_K/q5_K's mins multiply */
                for (int i = 0; i < 4; i++) {
                    const int16_t *bs = b[s].bsums + 4 * i;
                    uint32_t lo = (uint16_t)(bs[0] + bs[1]), hi = (uint16_t)(bs[2] + bs[3]);
                    a->sp[((size_t)t * (K / QK_K) + s) * 4 + i] = (int32_t)(lo | hi << 16);
                }
        }
        return a;
    }
    a->kq = 0;
    a->T = T;
    a->Tpad = (T + 15) / 16 * 16;
    a->K = K;
    a->offset = g_path == PATH_VNNI;
    a->q = (uint8_t *)buf + ACT_HEADER;
    a->d = (float *)(a->q + ROUND64((size_t)a->Tpad * K));
    for (int t = 0; t < T; t++)
        quant_act_row(x + (size_t)t * K, K, a->q + (size_t)t * K, a->d + (size_t)t * (K / 32), a->offset);
    memset(a->q + (size_t)T * K, 0, (size_t)(a->Tpad - T) * K);
    memset(a->d + (size_t)T * (K / 32), 0, (size_t)(a->Tpad - T) * (K / 32) * sizeof(float));
    return a;
}

/* ---- weight panel -------------------------------------------------------- */
/*
** Per 64-row block and K-chunk, for each 32-block b of the chunk
** (PANEL_BLOCK bytes, 64-byte aligned):
**   int8  w[8][64][4]   w[j][r][i] = W[row r][32b + 4j + i]
**   float d[64]         weight scale of row r (0 past the last row)
**   int32 c[64]         −128·Σ_k W[row r][32b + k]   (VNNI only)
** One 16-row group g of one j is the 64-byte line w[j][16g..16g+16): a zmm
** operand of VPDPBUSD, and, with stride 256, the 8 rows of an AMX B tile.
*/
#define PANEL_W 0
#define PANEL_D 2048
#define PANEL_C 2304
#define PANEL_BLOCK 2560
#define KC_BLOCKS 16       /* 32-blocks per K-chunk: a 40 KB panel, re-read from L1 by every token */

/* Per 128-bit lane, the 4×4 transpose of 32-bit elements: y[c] lane L
** element p = x[p] lane L element c. */
T_I8 static INLINE void transpose4_epi32(const __m512i x[4], __m512i y[4]) {
    __m512i t0 = _mm512_unpacklo_epi32(x[0], x[1]), t1 = _mm512_unpackhi_epi32(x[0], x[1]);
    __m512i t2 = _mm512_unpacklo_epi32(x[2], x[3]), t3 = _mm512_unpackhi_epi32(x[2], x[3]);
    y[0] = _mm512_unpacklo_epi64(t0, t2);
    y[1] = _mm512_unpackhi_epi64(t0, t2);
    y[2] = _mm512_unpacklo_epi64(t1, t3);
    y[3] = _mm512_unpackhi_epi64(t1, t3);
}

/* x[a] lane L = the 16 bytes at p + (4L + a)·stride: after transpose4,
** element 4L + p of y[c] is dword c of row 4L + p, i.e. rows stay in order. */
T_I8 static INLINE void load_rows16(const uint8_t *p, size_t stride, __m512i x[4]) {
#pragma GCC unroll 4
    for (int a = 0; a < 4; a++) {
        const uint8_t *r = p + (size_t)a * stride;
        __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)r));
        v = _mm512_mask_broadcast_i32x4(v, 0x00f0, _mm_loadu_si128((const __m128i *)(r + 4 * stride)));
        v = _mm512_mask_broadcast_i32x4(v, 0x0f00, _mm_loadu_si128((const __m128i *)(r + 8 * stride)));
        x[a] = _mm512_mask_broadcast_i32x4(v, 0xf000, _mm_loadu_si128((const __m128i *)(r + 12 * stride)));
    }
}

static INLINE short ld16(const uint8_t *p) {
    int16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* The 16 f16 scales of a 32-block of 16 rows (blk: row 0's block), without
** a gather (slow on CPUs with the GDS mitigation). */
T_I8 static INLINE __m256i scales16(const uint8_t *blk, size_t stride) {
#define H(i) ld16(blk + (size_t)(i) * stride)
    __m128i h0 = _mm_setr_epi16(H(0), H(1), H(2), H(3), H(4), H(5), H(6), H(7));
    __m128i h1 = _mm_setr_epi16(H(8), H(9), H(10), H(11), H(12), H(13), H(14), H(15));
#undef H
    return _mm256_inserti128_si256(_mm256_castsi128_si256(h0), h1, 1);
}

/* Writes a packed 32-block of 16 rows into the GEMM panel: its 8 lines
** (P[j]: bytes 4j..4j+3 of each row, signed) at pw + 256·j, the 16 scales
** as f32 to pd and, if corr, −128·Σw per row to pc. */
T_I8 static INLINE void store16(const __m512i P[8], __m256i scales, uint8_t *pw, float *pd, int32_t *pc, int corr) {
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) _mm512_store_si512((__m512i *)(pw + 256 * j), P[j]);
    _mm512_store_ps(pd, _mm512_cvtph_ps(scales));
    if (corr) {
        __m512i s = _mm512_setzero_si512();
        const __m512i k128 = _mm512_set1_epi8((char)0x80);
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) s = _mm512_dpbusd_epi32(s, k128, P[j]);
        _mm512_store_si512((__m512i *)pc, _mm512_sub_epi32(_mm512_setzero_si512(), s));
    }
}

/* q4_0's 4 lines of packed nibbles (transposed: dword j of 16 rows each) as
** the 8 signed lines of the GEMM panel: low nibbles are elements 4j.., high
** ones 16 + 4j.., both less the offset 8. */
T_I8 static INLINE void unpack_q4_lines(const __m512i y[4], __m512i P[8]) {
    const __m512i lo = _mm512_set1_epi8(0x0f), eight = _mm512_set1_epi8(8);
#pragma GCC unroll 4
    for (int m = 0; m < 4; m++) {
        P[m] = _mm512_sub_epi8(_mm512_and_si512(y[m], lo), eight);
        P[4 + m] = _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(y[m], 4), lo), eight);
    }
}

/* A 32-block of 16 rows (blk: row 0's block, q8_0 or q4_0, the rows
** `stride` bytes apart) as lines: Y[j] holds bytes 4j..4j+3 of each row's
** quants, rows in order; 8 lines for q8_0, 4 of packed nibbles for q4_0. */
T_I8 static INLINE void load_lines16(uint32_t type, const uint8_t *blk, size_t stride, __m512i Y[8]) {
    __m512i x[4];
    int halves = type == GGML_TYPE_Q8_0 ? 2 : 1;
    for (int h = 0; h < halves; h++) {
        load_rows16(blk + 2 + 16 * h, stride, x);
        transpose4_epi32(x, Y + 4 * h);
    }
}

/* Packs one 32-block of 16 rows: blk points at row 0's block (q8_0 or q4_0,
** f16 scale first), the rows `stride` bytes apart. Writes the 8 lines at
** pw + 256·j, 16 scales to pd and, if corr, 16 corrections to pc. */
T_I8 static void pack16(uint32_t type, const uint8_t *blk, size_t stride, uint8_t *pw, float *pd, int32_t *pc, int corr) {
    __m512i P[8];
    if (type == GGML_TYPE_Q8_0) load_lines16(type, blk, stride, P);
    else {
        /* byte i of a q4_0 block: low nibble = element i, high = element i + 16 */
        __m512i y[8];
        load_lines16(type, blk, stride, y);
        unpack_q4_lines(y, P);
    }
    store16(P, scales16(blk, stride), pw, pd, pc, corr);
}

/* Packs one 32-block of a 16-row group held as kern_x16_pack panels (src:
** the block's lines, sc: its 16 f16 scales) into the GEMM panel, as pack16
** does from row-major rows. */
T_I8 static void pack16_x16(uint32_t type, const uint8_t *src, const uint8_t *sc, uint8_t *pw, float *pd, int32_t *pc, int corr) {
    __m512i P[8];
    if (type == GGML_TYPE_Q8_0) {
        const __m512i k128 = _mm512_set1_epi8((char)0x80);
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) P[j] = _mm512_xor_si512(_mm512_load_si512((const __m512i *)(src + 64 * j)), k128);
    } else {
        __m512i y[4];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) y[j] = _mm512_load_si512((const __m512i *)(src + 64 * j));
        unpack_q4_lines(y, P);
    }
    store16(P, _mm256_load_si256((const __m256i *)sc), pw, pd, pc, corr);
}

/* kern_x16_pack (kernels.h): q8_0 / q4_0 row groups into 16-row panels. */
T_I8 void kern_x16_pack(uint32_t type, const void *w, size_t row_bytes, int g0, int g1, int cols, void *dst) {
    assert((type == GGML_TYPE_Q8_0 || type == GGML_TYPE_Q4_0) && cols % 64 == 0 && ((uintptr_t)dst & 63) == 0);
    const int q8 = type == GGML_TYPE_Q8_0, nlines = q8 ? 8 : 4;
    const size_t bb = q8 ? sizeof(block_q8_0) : sizeof(block_q4_0), lines = KERN_X16_LINE_BYTES(type);
    /* q8_0 bytes become w + 128 (VPDPBUSD's unsigned operand); q4_0 nibbles stay as stored */
    const __m512i flip = _mm512_set1_epi8(q8 ? (char)0x80 : 0);
    int nb = cols / 32;
    for (int g = g0; g < g1; g++) {
        const uint8_t *rows = (const uint8_t *)w + (size_t)g * 16 * row_bytes;
        uint8_t *o = (uint8_t *)dst + (size_t)g * 16 * row_bytes;
        for (int b = 0; b < nb; b++) {
            const uint8_t *blk = rows + (size_t)b * bb;
            uint8_t *pair = o + (size_t)(b / 2) * KERN_X16_PAIR_BYTES(type), *dl = pair + lines * (b & 1);
            __m512i Y[8];
            load_lines16(type, blk, row_bytes, Y);
            for (int j = 0; j < nlines; j++) _mm512_store_si512((__m512i *)(dl + 64 * j), _mm512_xor_si512(Y[j], flip));
            _mm256_store_si256((__m256i *)(pair + 2 * lines + 32 * (b & 1)), scales16(blk, row_bytes));
        }
    }
}

/* Panel for rows [rb, rb + nr) (nr ≤ 64) and blocks [kb0, kb0 + nkb). */
/* x16: w holds kern_x16_pack panels (whole 16-row groups, so nr is a
** multiple of 16). */
T_I8 static void pack_panel(uint32_t type, const uint8_t *w, size_t row_bytes, int rb, int nr, int kb0, int nkb,
                            uint8_t *panel, int corr, int x16) {
    const size_t bb = type == GGML_TYPE_Q8_0 ? sizeof(block_q8_0) : sizeof(block_q4_0);
    assert(nr >= 1 && nr <= 64 && nkb >= 1 && nkb <= KC_BLOCKS);
    if (x16) {
        assert(nr % 16 == 0 && rb % 16 == 0);
        for (int g = 0; g < nr / 16; g++) {
            const uint8_t *grp = w + (size_t)(rb + 16 * g) * row_bytes;
            for (int b = 0; b < nkb; b++) {
                int k = kb0 + b;
                const size_t lines = KERN_X16_LINE_BYTES(type);
                const uint8_t *pair = grp + (size_t)(k / 2) * KERN_X16_PAIR_BYTES(type);
                uint8_t *pb = panel + (size_t)b * PANEL_BLOCK;
                pack16_x16(type, pair + lines * (k & 1), pair + 2 * lines + 32 * (k & 1), pb + PANEL_W + 64 * g,
                           (float *)(pb + PANEL_D) + 16 * g, (int32_t *)(pb + PANEL_C) + 16 * g, corr);
            }
        }
        for (int g = nr / 16; g < 4; g++)      /* rows past the end: zero weights and scales */
            for (int b = 0; b < nkb; b++) {
                uint8_t *pb = panel + (size_t)b * PANEL_BLOCK;
                for (int j = 0; j < 8; j++) memset(pb + PANEL_W + 256 * j + 64 * g, 0, 64);
                memset((float *)(pb + PANEL_D) + 16 * g, 0, 64);
                memset((int32_t *)(pb + PANEL_C) + 16 * g, 0, 64);
            }
        return;
    }
    for (int g = 0; g < 4; g++) {
        int valid = nr - 16 * g;
        const uint8_t *base = valid > 0 ? w + (size_t)(rb + 16 * g) * row_bytes + (size_t)kb0 * bb : NULL;
        for (int b = 0; b < nkb; b++) {
            uint8_t *pb = panel + (size_t)b * PANEL_BLOCK;
            uint8_t *pw = pb + PANEL_W + 64 * g;
            float *pd = (float *)(pb + PANEL_D) + 16 * g;
            int32_t *pc = (int32_t *)(pb + PANEL_C) + 16 * g;
            if (valid >= 16) {
                pack16(type, base + (size_t)b * bb, row_bytes, pw, pd, pc, corr);
            } else {
                /* the matrix's last rows: copy them into a zero-padded block so the
                ** fast path reads only memory that exists; rows past the end get
                ** zero weights and scale, hence contribute 0 */
                _Alignas(64) uint8_t tmp[16 * sizeof(block_q8_0)];
                memset(tmp, 0, sizeof tmp);
                for (int i = 0; i < valid; i++) memcpy(tmp + i * bb, base + (size_t)i * row_bytes + (size_t)b * bb, bb);
                pack16(type, tmp, bb, pw, pd, pc, corr);
            }
        }
    }
}

/* The weights of the next panel, prefetched while the current one is
** multiplied: 64 rows at once are too many streams for the hardware
** prefetchers, and without this the packing waits on memory. */
typedef struct prefetch_plan {
    const uint8_t *base;     /* first row's first byte; NULL: nothing to fetch */
    size_t row_bytes, len;   /* distance between rows; bytes per row */
    int nrows;
} prefetch_plan;

/* Part `part` of `nparts` of the plan (contiguous rows). */
static INLINE void prefetch_part(const prefetch_plan *p, int part, int nparts) {
    if (!p->base) return;
    int a = p->nrows * part / nparts, z = p->nrows * (part + 1) / nparts;
    for (int r = a; r < z; r++) {
        const uint8_t *row = p->base + (size_t)r * p->row_bytes;
        for (size_t off = 0; off < p->len + 63; off += 64)     /* every line of [row, row + len) */
            _mm_prefetch((const char *)(row + (off < p->len ? off : p->len - 1)), _MM_HINT_T0);
    }
}

/* ---- VNNI micro-kernel --------------------------------------------------- */
/*
** tt (1..3) tokens × 64 rows: per k-quad, 4 panel lines are loaded once and
** each token's 4 activation bytes are broadcast against them (12 VPDPBUSD
** per 4 loads + 3 broadcasts). The block's int32 sums start at −128·Σw,
** which cancels the +128 of the activations, then are scaled by d_w·d_x.
** Registers: 12 f32 + 12 int32 accumulators + 4 panel lines + 1 broadcast.
*/
T_I8 static INLINE void vnni_tokens(const int tt, const uint8_t *panel, int nkb, const uint8_t *const xq[3],
                                    const float *const xd[3], float *const o[3], const __mmask16 m[4]) {
    __m512 acc[3][4];
#pragma GCC unroll 3
    for (int t = 0; t < tt; t++)
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) acc[t][g] = _mm512_maskz_loadu_ps(m[g], o[t] + 16 * g);
    for (int b = 0; b < nkb; b++) {
        const uint8_t *pb = panel + (size_t)b * PANEL_BLOCK;
        __m512i ia[3][4];
#pragma GCC unroll 3
        for (int t = 0; t < tt; t++)
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) ia[t][g] = _mm512_load_si512((const __m512i *)(pb + PANEL_C) + g);
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            __m512i p[4];
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) {
                p[g] = _mm512_load_si512((const __m512i *)(pb + PANEL_W + 256 * j) + g);
                /* keep the line in a register: GCC would otherwise fold the load into
                ** every VPDPBUSD, tripling the loads, which then bound the loop */
                __asm__("" : "+v"(p[g]));
            }
#pragma GCC unroll 3
            for (int t = 0; t < tt; t++) {
                int32_t v;
                memcpy(&v, xq[t] + 32 * b + 4 * j, 4);
                __m512i xb = _mm512_set1_epi32(v);
#pragma GCC unroll 4
                for (int g = 0; g < 4; g++) ia[t][g] = _mm512_dpbusd_epi32(ia[t][g], xb, p[g]);
            }
        }
#pragma GCC unroll 3
        for (int t = 0; t < tt; t++) {
            __m512 dx = _mm512_set1_ps(xd[t][b]);
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++)
                acc[t][g] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia[t][g]),
                                            _mm512_mul_ps(_mm512_load_ps((const float *)(pb + PANEL_D) + 16 * g), dx), acc[t][g]);
        }
    }
#pragma GCC unroll 3
    for (int t = 0; t < tt; t++)
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) _mm512_mask_storeu_ps(o[t] + 16 * g, m[g], acc[t][g]);
}

/* out[t][0..64) += panel · activations of blocks [kb0, kb0 + nkb), all tokens. */
T_I8 static void vnni_panel(const uint8_t *panel, int nkb, const kern_gemm_act *a, int kb0, float *out, int ldo,
                            const __mmask16 m[4], const prefetch_plan *pf) {
    /* tiles of 3 tokens; a remainder of 1 becomes 2 + 2 (a 1-token tile
    ** loads 4 panel lines per 4 VPDPBUSD instead of per 12) */
    int nb = a->K / 32, full = a->T / 3, rem = a->T % 3;
    if (rem == 1 && full > 0) { full--; rem = 4; }
    int ntiles = full + (rem == 4 ? 2 : rem ? 1 : 0), tile = 0, t = 0;
    const uint8_t *xq[3];
    const float *xd[3];
    float *o[3];
#define SETUP(n) for (int i = 0; i < (n); i++) { \
        xq[i] = a->q + (size_t)(t + i) * a->K + (size_t)kb0 * 32; \
        xd[i] = a->d + (size_t)(t + i) * nb + kb0; \
        o[i] = out + (size_t)(t + i) * ldo; } \
    prefetch_part(pf, tile++, ntiles);
    for (int f = 0; f < full; f++, t += 3) { SETUP(3); vnni_tokens(3, panel, nkb, xq, xd, o, m); }
    for (; rem >= 2; rem -= 2, t += 2) { SETUP(2); vnni_tokens(2, panel, nkb, xq, xd, o, m); }
    if (rem == 1) { SETUP(1); vnni_tokens(1, panel, nkb, xq, xd, o, m); t++; }
#undef SETUP
    assert(t == a->T && tile == ntiles);
}

/* ---- AMX ----------------------------------------------------------------- */
/*
** Tiles: 0, 1 = C (16 tokens × 16 rows, int32); 4, 5 = A (16 tokens × 32
** bytes: one 32-block); 6, 7 = B (8 k-quads × 16 rows × 4 bytes). Two
** blocks are in flight per step (C0 ← A4·B6, C1 ← A5·B7), then both C tiles
** are stored and scaled into 16 zmm of f32 accumulators (16 tokens × one
** 16-row group). GCC 12's tile-load intrinsic does not tell the compiler
** that it reads memory, so the wrappers below use asm with a memory clobber.
*/
typedef struct amx_emu {       /* the software model: tile registers and shapes */
    int8_t t[8][16][64];
    int rows[8], colsb[8];
} amx_emu;

static void tile_shape(int id, int *rows, int *colsb) {
    *rows = id >= 6 ? 8 : 16;
    *colsb = id == 4 || id == 5 ? 32 : 64;
}

static void tile_config(amx_emu *e) {
    if (e) {
        for (int i = 0; i < 8; i++) tile_shape(i, &e->rows[i], &e->colsb[i]);
        return;
    }
    _Alignas(64) uint8_t cfg[64];
    memset(cfg, 0, sizeof cfg);
    cfg[0] = 1;                                   /* palette 1; colsb[i] at 16 + 2i, rows[i] at 48 + i */
    for (int i = 0; i < 8; i++) {
        if (i == 2 || i == 3) continue;
        int rows, colsb;
        tile_shape(i, &rows, &colsb);
        cfg[16 + 2 * i] = (uint8_t)colsb;
        cfg[48 + i] = (uint8_t)rows;
    }
    __asm__ volatile("ldtilecfg %0" :: "m"(cfg) : "memory");
}

static void tile_release(amx_emu *e) {
    if (!e) __asm__ volatile("tilerelease" ::: "memory");
}

#define TASM(insn, p, s) __asm__ volatile(insn :: "r"(p), "r"((long)(s)) : "memory")
static INLINE void tile_load(amx_emu *e, int id, const void *p, size_t stride) {
    if (e) {
        for (int r = 0; r < e->rows[id]; r++) memcpy(e->t[id][r], (const uint8_t *)p + r * stride, (size_t)e->colsb[id]);
        return;
    }
    switch (id) {
    case 4: TASM("tileloadd (%0,%1,1), %%tmm4", p, stride); break;
    case 5: TASM("tileloadd (%0,%1,1), %%tmm5", p, stride); break;
    case 6: TASM("tileloadd (%0,%1,1), %%tmm6", p, stride); break;
    case 7: TASM("tileloadd (%0,%1,1), %%tmm7", p, stride); break;
    default: assert(0);
    }
}

static INLINE void tile_store(amx_emu *e, int id, void *p, size_t stride) {
    if (e) {
        for (int r = 0; r < e->rows[id]; r++) memcpy((uint8_t *)p + r * stride, e->t[id][r], (size_t)e->colsb[id]);
        return;
    }
    switch (id) {
    case 0: TASM("tilestored %%tmm0, (%0,%1,1)", p, stride); break;
    case 1: TASM("tilestored %%tmm1, (%0,%1,1)", p, stride); break;
    default: assert(0);
    }
}

static INLINE void tile_zero(amx_emu *e, int id) {
    if (e) { memset(e->t[id], 0, sizeof e->t[id]); return; }
    switch (id) {
    case 0: __asm__ volatile("tilezero %%tmm0" ::: "memory"); break;
    case 1: __asm__ volatile("tilezero %%tmm1" ::: "memory"); break;
    default: assert(0);
    }
}

/* C[m][n] += Σ_k Σ_i A[m][4k + i]·B[k][4n + i], all signed bytes (TDPBSSD). */
static INLINE void tile_dpbssd(amx_emu *e, int c, int a, int b) {
    if (e) {
        int M = e->rows[a], KQ = e->colsb[a] / 4, N = e->colsb[b] / 4;
        assert(e->rows[b] == KQ && e->rows[c] == M && e->colsb[c] == 4 * N);
        for (int mm = 0; mm < M; mm++)
            for (int n = 0; n < N; n++) {
                int32_t s;
                memcpy(&s, &e->t[c][mm][4 * n], 4);
                for (int k = 0; k < KQ; k++)
                    for (int i = 0; i < 4; i++) s += e->t[a][mm][4 * k + i] * e->t[b][k][4 * n + i];
                memcpy(&e->t[c][mm][4 * n], &s, 4);
            }
        return;
    }
    if (c == 0 && a == 4 && b == 6) __asm__ volatile("tdpbssd %%tmm6, %%tmm4, %%tmm0" ::: "memory");
    else if (c == 1 && a == 5 && b == 7) __asm__ volatile("tdpbssd %%tmm7, %%tmm5, %%tmm1" ::: "memory");
    else assert(0);
}

/* acc[i] += cvt(c[i][0..16))·d_w·d_x[i] for the 16 tokens of one C tile. */
T_I8 static INLINE void amx_scale(__m512 acc[16], const int32_t *c, const float *dw, const float *dx, int ldx) {
    __m512 w = _mm512_load_ps(dw);
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512((const __m512i *)(c + 16 * i))),
                                 _mm512_mul_ps(w, _mm512_set1_ps(dx[(size_t)i * ldx])), acc[i]);
}

/* Like vnni_panel, with tiles; cbuf: 2 KB, 64-byte aligned. */
T_I8 static void amx_panel(amx_emu *e, const uint8_t *panel, int nkb, const kern_gemm_act *a, int kb0, float *out,
                           int ldo, const __mmask16 m[4], int32_t *cbuf, const prefetch_plan *pf) {
    int nb = a->K / 32, nparts = (a->T + 15) / 16 * 4;
    for (int t0 = 0; t0 < a->T; t0 += 16) {
        int nt = a->T - t0 < 16 ? a->T - t0 : 16;
        const uint8_t *xq = a->q + (size_t)t0 * a->K + (size_t)kb0 * 32;
        const float *xd = a->d + (size_t)t0 * nb + kb0;
        for (int g = 0; g < 4; g++) {
            prefetch_part(pf, t0 / 16 * 4 + g, nparts);
            if (!m[g]) continue;
            __m512 acc[16];
            for (int i = 0; i < 16; i++)
                acc[i] = i < nt ? _mm512_maskz_loadu_ps(m[g], out + (size_t)(t0 + i) * ldo + 16 * g) : _mm512_setzero_ps();
            int b = 0;
            for (; b + 2 <= nkb; b += 2) {
                const uint8_t *p0 = panel + (size_t)b * PANEL_BLOCK, *p1 = p0 + PANEL_BLOCK;
                tile_zero(e, 0);
                tile_zero(e, 1);
                tile_load(e, 4, xq + 32 * b, (size_t)a->K);
                tile_load(e, 6, p0 + PANEL_W + 64 * g, 256);
                tile_load(e, 5, xq + 32 * (b + 1), (size_t)a->K);
                tile_load(e, 7, p1 + PANEL_W + 64 * g, 256);
                tile_dpbssd(e, 0, 4, 6);
                tile_dpbssd(e, 1, 5, 7);
                tile_store(e, 0, cbuf, 64);
                tile_store(e, 1, cbuf + 256, 64);
                amx_scale(acc, cbuf, (const float *)(p0 + PANEL_D) + 16 * g, xd + b, nb);
                amx_scale(acc, cbuf + 256, (const float *)(p1 + PANEL_D) + 16 * g, xd + b + 1, nb);
            }
            if (b < nkb) {
                const uint8_t *p0 = panel + (size_t)b * PANEL_BLOCK;
                tile_zero(e, 0);
                tile_load(e, 4, xq + 32 * b, (size_t)a->K);
                tile_load(e, 6, p0 + PANEL_W + 64 * g, 256);
                tile_dpbssd(e, 0, 4, 6);
                tile_store(e, 0, cbuf, 64);
                amx_scale(acc, cbuf, (const float *)(p0 + PANEL_D) + 16 * g, xd + b, nb);
            }
            for (int i = 0; i < nt; i++) _mm512_mask_storeu_ps(out + (size_t)(t0 + i) * ldo + 16 * g, m[g], acc[i]);
        }
    }
}

/* ---- k-quant GEMM (q4_K, q5_K, q6_K against q8_K activations) ------------ */
/*
** The same shape as the q8_0 VNNI path: weights are unpacked, 64 rows by
** one super-block at a time, into an int8 panel of 64-byte lines (4
** consecutive k of 16 rows), each token's 4 activation bytes are broadcast
** against them with VPDPBUSD (the weights' small integers are the unsigned
** operand, so no offset is needed), 3 tokens × 64 rows per pass. A
** sub-block's int32 sums are multiplied by its integer scale (VPMULLD) into
** a super-block sum, exact in int32 as in the decode dots (quant.h), which
** is then scaled by d_w·d_x into out:
**   q4_K/q5_K: out += d_x·(d·Σ_j sc_j·Σ q·y − dmin·Σ_j m_j·(bsums_2j + bsums_2j+1))
**   q6_K:      out += d_x·d·Σ_j sc_j·(Σ q·y − 32·bsums_j)
** The min (and q6_K's offset) terms come from the activations' bsums with
** VPDPWSSD against pairs of i16 per row. The panel is unpacked once per
** super-block and 64 rows and swept by every token, so its cost is shared
** by all T tokens; nothing outlives the call but the caller's scratch.
*/
#define KP_W 0              /* int8 [64 kq][64 rows][4]: line kq·256 + 64·g holds rows 16g.. */
#define KP_SC 16384         /* int32 [16 sub-blocks][64 rows]: sc_j (q4_K/q5_K: 8 used) */
#define KP_MN 20480         /* int32 [8][64]: i16 pairs (m_2i, m_2i+1) (4 used), or q6_K's (−32·sc_2i, −32·sc_2i+1) */
#define KP_D 22528          /* float [64]: d */
#define KP_DM 22784         /* float [64]: dmin */
#define KP_BLOCK 23040

/* q4_K/q5_K's 8 six-bit scales (bytes 0..7) and mins (8..15) from the 12
** packed bytes at p (16 are read; the block goes on): see kernels_x86.c. */
T_I8 static INLINE __m128i kq_scales_mins(const uint8_t *p) {
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    __m128i x = _mm_srlv_epi32(_mm_shuffle_epi32(v, _MM_SHUFFLE(2, 1, 2, 0)), _mm_setr_epi32(0, 0, 0, 4));
    __m128i y = _mm_srli_epi32(_mm_shuffle_epi32(v, _MM_SHUFFLE(1, 1, 0, 0)), 2);
    __m128i lo = _mm_and_si128(x, _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
    return _mm_or_si128(lo, _mm_and_si128(y, _mm_setr_epi32(0, 0x30303030, 0, 0x30303030)));
}

/* y[c] lane r = dword c of the 16 bytes at p + r·stride (16 rows). */
T_I8 static INLINE void rows_dwords(const uint8_t *p, size_t stride, __m512i y[4]) {
    __m512i x[4];
    load_rows16(p, stride, x);
    transpose4_epi32(x, y);
}

/* Byte e (0..3) of each dword, zero- or sign-extended. */
T_I8 static INLINE __m512i dword_byte_u(__m512i v, int e) {
    return _mm512_and_si512(_mm512_srlv_epi32(v, _mm512_set1_epi32(8 * e)), _mm512_set1_epi32(0xff));
}
T_I8 static INLINE __m512i dword_byte_s(__m512i v, int e) {
    return _mm512_srai_epi32(_mm512_sllv_epi32(v, _mm512_set1_epi32(24 - 8 * e)), 24);
}

/* The 16 f16 values at p + r·stride as f32. */
T_I8 static INLINE __m512 rows_f16(const uint8_t *p, size_t stride) {
#define H(i) ld16(p + (size_t)(i) * stride)
    __m128i h0 = _mm_setr_epi16(H(0), H(1), H(2), H(3), H(4), H(5), H(6), H(7));
    __m128i h1 = _mm_setr_epi16(H(8), H(9), H(10), H(11), H(12), H(13), H(14), H(15));
#undef H
    return _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(h0), h1, 1));
}

/* Unpacks one super-block of 16 rows (row r's block at blk + r·stride) into
** row group g of the panel block P. */
T_I8 static void kq_pack16(uint32_t type, const uint8_t *blk, size_t stride, uint8_t *P, int g) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30), b1 = _mm512_set1_epi8(1), b2 = _mm512_set1_epi8(2);
    uint8_t *pw = P + KP_W + 64 * g;
    int32_t *sc = (int32_t *)(P + KP_SC) + 16 * g, *mn = (int32_t *)(P + KP_MN) + 16 * g;
#define LINE(kq, v) _mm512_store_si512((__m512i *)(pw + 256 * (kq)), (v))
    if (type == GGML_TYPE_Q6_K) {
        /* ql[128] qh[64] scales[16] d: per half h, value 128h + 32s + l (s = 0..3)
        ** has its low nibble in ql[64h + 32(s&1) + l] (>> 4 for s ≥ 2) and its
        ** top 2 bits at bit 2s of qh[32h + l] */
        for (int h = 0; h < 2; h++) {
            __m512i L[16], H[8];
            for (int c = 0; c < 4; c++) rows_dwords(blk + 64 * h + 16 * c, stride, L + 4 * c);
            for (int c = 0; c < 2; c++) rows_dwords(blk + 128 + 32 * h + 16 * c, stride, H + 4 * c);
            for (int i = 0; i < 8; i++) {
                LINE(32 * h + i, _mm512_or_si512(_mm512_and_si512(L[i], m4), _mm512_and_si512(_mm512_slli_epi32(H[i], 4), m30)));
                LINE(32 * h + 8 + i, _mm512_or_si512(_mm512_and_si512(L[8 + i], m4), _mm512_and_si512(_mm512_slli_epi32(H[i], 2), m30)));
                LINE(32 * h + 16 + i, _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(L[i], 4), m4), _mm512_and_si512(H[i], m30)));
                LINE(32 * h + 24 + i, _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(L[8 + i], 4), m4),
                                                      _mm512_and_si512(_mm512_srli_epi32(H[i], 2), m30)));
            }
        }
        __m512i S[4], s[16];
        rows_dwords(blk + 192, stride, S);
        for (int j = 0; j < 16; j++) {
            s[j] = dword_byte_s(S[j / 4], j % 4);
            _mm512_store_si512((__m512i *)(sc + 64 * j), s[j]);
        }
        const __m512i k32 = _mm512_set1_epi32(-32), lo16 = _mm512_set1_epi32(0xffff);
        for (int i = 0; i < 8; i++)
            _mm512_store_si512((__m512i *)(mn + 64 * i),
                               _mm512_or_si512(_mm512_and_si512(_mm512_mullo_epi32(s[2 * i], k32), lo16),
                                               _mm512_slli_epi32(_mm512_mullo_epi32(s[2 * i + 1], k32), 16)));
        _mm512_store_ps((float *)(P + KP_D) + 16 * g, rows_f16(blk + 208, stride));
        return;
    }
    /* q4_K: d dmin scales[12] qs[128]; q5_K: d dmin scales[12] qh[32] qs[128].
    ** Byte 32c + l of qs: low nibble = value 64c + l, high = 64c + 32 + l;
    ** q5_K's 5th bits: bit 2c / 2c + 1 of qh[l]. */
    const int q5 = type == GGML_TYPE_Q5_K;
    const uint8_t *qs = blk + (q5 ? 48 : 16);
    __m512i hb[8];
    if (q5) for (int c = 0; c < 2; c++) rows_dwords(blk + 16 + 16 * c, stride, hb + 4 * c);
    for (int c = 0; c < 4; c++) {
        __m512i R[8];
        rows_dwords(qs + 32 * c, stride, R);
        rows_dwords(qs + 32 * c + 16, stride, R + 4);
        for (int i = 0; i < 8; i++) {
            __m512i lo = _mm512_and_si512(R[i], m4), hi = _mm512_and_si512(_mm512_srli_epi32(R[i], 4), m4);
            if (q5) {
                lo = _mm512_or_si512(lo, _mm512_slli_epi32(_mm512_and_si512(hb[i], b1), 4));
                hi = _mm512_or_si512(hi, _mm512_slli_epi32(_mm512_and_si512(hb[i], b2), 3));
                hb[i] = _mm512_srli_epi32(hb[i], 2);
            }
            LINE(16 * c + i, lo);
            LINE(16 * c + 8 + i, hi);
        }
    }
    _Alignas(16) uint8_t st[16][16];       /* row r: sc[0..8) m[0..8) */
    for (int r = 0; r < 16; r++) _mm_store_si128((__m128i *)st[r], kq_scales_mins(blk + (size_t)r * stride + 4));
    __m512i S[4];
    rows_dwords(&st[0][0], 16, S);
    for (int j = 0; j < 8; j++) _mm512_store_si512((__m512i *)(sc + 64 * j), dword_byte_u(S[j / 4], j % 4));
    for (int i = 0; i < 4; i++)
        _mm512_store_si512((__m512i *)(mn + 64 * i), _mm512_or_si512(dword_byte_u(S[2 + i / 2], 2 * (i % 2)),
                                                                     _mm512_slli_epi32(dword_byte_u(S[2 + i / 2], 2 * (i % 2) + 1), 16)));
    _mm512_store_ps((float *)(P + KP_D) + 16 * g, rows_f16(blk, stride));
    _mm512_store_ps((float *)(P + KP_DM) + 16 * g, rows_f16(blk + 2, stride));
#undef LINE
}

/* Panel block for rows [rb, rb + nr) (nr ≤ 64) and super-block kb. */
T_I8 static void kq_pack_panel(uint32_t type, const uint8_t *w, size_t row_bytes, size_t bb, int rb, int nr, int kb, uint8_t *P) {
    for (int g = 0; g < 4; g++) {
        int valid = nr - 16 * g;
        if (valid >= 16) {
            kq_pack16(type, w + (size_t)(rb + 16 * g) * row_bytes + (size_t)kb * bb, row_bytes, P, g);
        } else {
            /* past the matrix's last row: zero blocks (zero weights and scales) */
            _Alignas(64) uint8_t tmp[16 * sizeof(block_q6_K) + 64];
            memset(tmp, 0, sizeof tmp);
            for (int i = 0; i < valid; i++) memcpy(tmp + i * bb, w + (size_t)(rb + 16 * g + i) * row_bytes + (size_t)kb * bb, bb);
            kq_pack16(type, tmp, bb, P, g);
        }
    }
}

/* tt (1..3) tokens × 64 rows of one panel block; xb[t]: token t's q8_K block. */
T_I8 static INLINE void kq_tokens(const int tt, const int q6, const uint8_t *P, const block_q8_K *const xb[3],
                                  const int32_t *const sp[3], float *const o[3], const __mmask16 m[4]) {
    const int nsub = q6 ? 16 : 8, kps = q6 ? 4 : 8;     /* sub-blocks; k-quads per sub-block */
    __m512i isb[3][4];
#pragma GCC unroll 3
    for (int t = 0; t < tt; t++)
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) isb[t][g] = _mm512_setzero_si512();
    if (q6) {       /* −32·Σ_j sc_j·bsums_j */
        for (int i = 0; i < 8; i++) {
            const __m512i *mn = (const __m512i *)(P + KP_MN) + 4 * i;
#pragma GCC unroll 3
            for (int t = 0; t < tt; t++) {
                int32_t v;
                memcpy(&v, &xb[t]->bsums[2 * i], 4);
                __m512i b = _mm512_set1_epi32(v);
#pragma GCC unroll 4
                for (int g = 0; g < 4; g++) isb[t][g] = _mm512_dpwssd_epi32(isb[t][g], b, _mm512_load_si512(mn + g));
            }
        }
    }
    for (int j = 0; j < nsub; j++) {
        __m512i is[3][4];
#pragma GCC unroll 3
        for (int t = 0; t < tt; t++)
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) is[t][g] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int i = 0; i < kps; i++) {
            const int kq = j * kps + i;
            __m512i p[4];
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) {
                p[g] = _mm512_load_si512((const __m512i *)(P + KP_W + 256 * kq) + g);
                __asm__("" : "+v"(p[g]));        /* one load per line (see vnni_tokens) */
            }
#pragma GCC unroll 3
            for (int t = 0; t < tt; t++) {
                int32_t v;
                memcpy(&v, xb[t]->qs + 4 * kq, 4);
                __m512i xv = _mm512_set1_epi32(v);
#pragma GCC unroll 4
                for (int g = 0; g < 4; g++) is[t][g] = _mm512_dpbusd_epi32(is[t][g], p[g], xv);
            }
        }
        const __m512i *sc = (const __m512i *)(P + KP_SC) + 4 * j;
#pragma GCC unroll 3
        for (int t = 0; t < tt; t++)
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) isb[t][g] = _mm512_add_epi32(isb[t][g], _mm512_mullo_epi32(is[t][g], _mm512_load_si512(sc + g)));
    }
#pragma GCC unroll 3
    for (int t = 0; t < tt; t++) {
        __m512 dx = _mm512_set1_ps(xb[t]->d);
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) {
            __m512 acc = _mm512_maskz_loadu_ps(m[g], o[t] + 16 * g);
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isb[t][g]), _mm512_mul_ps(_mm512_load_ps((const float *)(P + KP_D) + 16 * g), dx), acc);
            if (!q6) {
                /* Σ_j m_j·S_j as 2 independent chains of 2 pairs */
                const __m512i *mn = (const __m512i *)(P + KP_MN) + g;
                __m512i m0 = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_set1_epi32(sp[t][0]), _mm512_load_si512(mn));
                __m512i m1 = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_set1_epi32(sp[t][2]), _mm512_load_si512(mn + 8));
                m0 = _mm512_dpwssd_epi32(m0, _mm512_set1_epi32(sp[t][1]), _mm512_load_si512(mn + 4));
                m1 = _mm512_dpwssd_epi32(m1, _mm512_set1_epi32(sp[t][3]), _mm512_load_si512(mn + 12));
                __m512i mins = _mm512_add_epi32(m0, m1);
                acc = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mins), _mm512_mul_ps(_mm512_load_ps((const float *)(P + KP_DM) + 16 * g), dx), acc);
            }
            _mm512_mask_storeu_ps(o[t] + 16 * g, m[g], acc);
        }
    }
}

T_I8 static void kq_tokens_q45(int tt, const uint8_t *P, const block_q8_K *const xb[3], const int32_t *const sp[3],
                               float *const o[3], const __mmask16 m[4]) {
    if (tt == 3) kq_tokens(3, 0, P, xb, sp, o, m);
    else if (tt == 2) kq_tokens(2, 0, P, xb, sp, o, m);
    else kq_tokens(1, 0, P, xb, sp, o, m);
}
T_I8 static void kq_tokens_q6(int tt, const uint8_t *P, const block_q8_K *const xb[3], const int32_t *const sp[3],
                              float *const o[3], const __mmask16 m[4]) {
    if (tt == 3) kq_tokens(3, 1, P, xb, sp, o, m);
    else if (tt == 2) kq_tokens(2, 1, P, xb, sp, o, m);
    else kq_tokens(1, 1, P, xb, sp, o, m);
}

/* out[t][rb..rb + 64) += panel block (super-block kb) · activations, all tokens,
** in tiles of 3 tokens (a remainder of 1 as 2 + 2, as in vnni_panel). */
T_I8 static void kq_panel(uint32_t type, const uint8_t *P, const kern_gemm_act *a, int kb, float *out, int ldo,
                          const __mmask16 m[4], const prefetch_plan *pf) {
    const int nsb = a->K / QK_K, q6 = type == GGML_TYPE_Q6_K;
    int full = a->T / 3, rem = a->T % 3;
    if (rem == 1 && full > 0) { full--; rem = 4; }
    int ntiles = full + (rem == 4 ? 2 : rem ? 1 : 0), tile = 0, t = 0;
    const block_q8_K *xk = (const block_q8_K *)a->q;
    (void)rem;
    while (t < a->T) {
        int tt = tile < full ? 3 : a->T - t >= 2 ? 2 : 1;
        const block_q8_K *xb[3];
        const int32_t *sp[3];
        float *o[3];
        for (int i = 0; i < tt; i++) {
            xb[i] = xk + (size_t)(t + i) * nsb + kb;
            sp[i] = a->sp + ((size_t)(t + i) * nsb + kb) * 4;
            o[i] = out + (size_t)(t + i) * ldo;
        }
        prefetch_part(pf, tile++, ntiles);
        if (q6) kq_tokens_q6(tt, P, xb, sp, o, m);
        else kq_tokens_q45(tt, P, xb, sp, o, m);
        t += tt;
    }
    assert(t == a->T && tile == ntiles);
}

_Static_assert(KP_BLOCK <= KERN_GEMM_SCRATCH * sizeof(float), "KERN_GEMM_SCRATCH too small");

T_I8 static void kq_gemm(uint32_t type, const void *w, size_t row_bytes, int r0, int r1, const kern_gemm_act *xa,
                         float *out, int ldo, uint8_t *panel) {
    uint32_t be, bb32;
    ggml_type_block(type, &be, &bb32);
    const size_t bb = bb32;
    const int nsb = xa->K / QK_K;
    assert(be == QK_K && xa->kq);
    for (int rb = r0; rb < r1; rb += 64) {
        int nr = r1 - rb < 64 ? r1 - rb : 64;
        __mmask16 m[4];
        for (int g = 0; g < 4; g++) {
            int valid = nr - 16 * g;
            m[g] = valid >= 16 ? (__mmask16)0xffff : valid <= 0 ? (__mmask16)0 : (__mmask16)((1u << valid) - 1);
        }
        for (int kb = 0; kb < nsb; kb++) {
            kq_pack_panel(type, w, row_bytes, bb, rb, nr, kb, panel);
            /* the next panel block: the next super-block of these rows, else the first of the next rows */
            prefetch_plan pf = { NULL, row_bytes, bb, 0 };
            int nrb = kb + 1 < nsb ? rb : rb + 64, nkb = kb + 1 < nsb ? kb + 1 : 0;
            if (nrb < r1) {
                pf.base = (const uint8_t *)w + (size_t)nrb * row_bytes + (size_t)nkb * bb;
                pf.nrows = r1 - nrb < 64 ? r1 - nrb : 64;
            }
            kq_panel(type, panel, xa, kb, out + rb, ldo, m, &pf);
        }
    }
}

/* ---- driver -------------------------------------------------------------- */

/* Scratch: the panel, then AMX's C buffer, then the emulator's tiles. */
#define SCRATCH_PANEL (KC_BLOCKS * PANEL_BLOCK)
#define SCRATCH_CBUF 2048
_Static_assert(SCRATCH_PANEL + SCRATCH_CBUF + sizeof(amx_emu) <= KERN_GEMM_SCRATCH * sizeof(float), "KERN_GEMM_SCRATCH too small");

static void gemm_int8(uint32_t type, const void *w, size_t row_bytes, int r0, int r1, const kern_gemm_act *xa,
                      float *out, int ldo, float *scratch, int x16);

void kern_gemm_prepared(uint32_t type, const void *w, size_t row_bytes, int r0, int r1, const kern_gemm_act *xa,
                        float *out, int ldo, float *scratch) {
    gemm_int8(type, w, row_bytes, r0, r1, xa, out, ldo, scratch, 0);
}

void kern_gemm_prepared_x16(uint32_t type, const void *x16, size_t row_bytes, int r0, int r1, const kern_gemm_act *xa,
                            float *out, int ldo, float *scratch) {
    assert((type == GGML_TYPE_Q8_0 || type == GGML_TYPE_Q4_0) && r0 % 16 == 0 && (r1 % 16 == 0 || r1 == ldo));
    gemm_int8(type, x16, row_bytes, r0, r1, xa, out, ldo, scratch, 1);
}

static void gemm_int8(uint32_t type, const void *w, size_t row_bytes, int r0, int r1, const kern_gemm_act *xa,
                      float *out, int ldo, float *scratch, int x16) {
    assert(((uintptr_t)scratch & 63) == 0 && r0 >= 0 && r0 <= r1 && ldo >= r1);
    if (kq_type(type)) {
        assert(g_path != PATH_F32 && xa->kq);
        kq_gemm(type, w, row_bytes, r0, r1, xa, out, ldo, (uint8_t *)scratch);
        return;
    }
    assert(int8_type(type) && g_path != PATH_F32 && !xa->kq && xa->offset == (g_path == PATH_VNNI));
    uint8_t *panel = (uint8_t *)scratch;
    int32_t *cbuf = (int32_t *)(panel + SCRATCH_PANEL);
    amx_emu *emu = g_path == PATH_AMX_EMU ? (amx_emu *)(panel + SCRATCH_PANEL + SCRATCH_CBUF) : NULL;
    int amx = g_path == PATH_AMX || g_path == PATH_AMX_EMU, nb = xa->K / 32;
    const size_t bb = type == GGML_TYPE_Q8_0 ? sizeof(block_q8_0) : sizeof(block_q4_0);
    if (amx) tile_config(emu);
    /* prefetch plans: row-major, `nrows` rows of `len` bytes; panels, 16-row
    ** groups whose K-chunk of KC_BLOCKS blocks is one run of bytes */
    const size_t pstride = x16 ? 16 * row_bytes : row_bytes, pblk = x16 ? KERN_X16_PAIR_BYTES(type) / 2 : bb;
#define PF_ROWS(n) (x16 ? ((n) + 15) / 16 : (n))
    if (r0 < r1) {      /* the first panel: all its lines requested at once rather than missed one by one */
        prefetch_plan first = { (const uint8_t *)w + (size_t)r0 * row_bytes, pstride,
                                (size_t)(nb < KC_BLOCKS ? nb : KC_BLOCKS) * pblk, PF_ROWS(r1 - r0 < 64 ? r1 - r0 : 64) };
        prefetch_part(&first, 0, 1);
    }
    for (int rb = r0; rb < r1; rb += 64) {
        int nr = r1 - rb < 64 ? r1 - rb : 64;
        __mmask16 m[4];
        for (int g = 0; g < 4; g++) {
            int valid = nr - 16 * g;
            m[g] = valid >= 16 ? (__mmask16)0xffff : valid <= 0 ? (__mmask16)0 : (__mmask16)((1u << valid) - 1);
        }
        for (int kb0 = 0; kb0 < nb; kb0 += KC_BLOCKS) {
            int nkb = nb - kb0 < KC_BLOCKS ? nb - kb0 : KC_BLOCKS;
            pack_panel(type, w, row_bytes, rb, nr, kb0, nkb, panel, !amx, x16);
            /* the next panel: the next K-chunk of these rows, else the first of the next rows */
            prefetch_plan pf = { NULL, pstride, 0, 0 };
            int nrb = kb0 + KC_BLOCKS < nb ? rb : rb + 64, nkb0 = kb0 + KC_BLOCKS < nb ? kb0 + KC_BLOCKS : 0;
            if (nrb < r1) {
                int nnkb = nb - nkb0 < KC_BLOCKS ? nb - nkb0 : KC_BLOCKS;
                pf.base = (const uint8_t *)w + (size_t)nrb * row_bytes + (size_t)nkb0 * pblk;
                pf.len = (size_t)nnkb * pblk;
                pf.nrows = PF_ROWS(r1 - nrb < 64 ? r1 - nrb : 64);
            }
            if (amx) amx_panel(emu, panel, nkb, xa, kb0, out + rb, ldo, m, cbuf, &pf);
            else vnni_panel(panel, nkb, xa, kb0, out + rb, ldo, m, &pf);
        }
    }
    if (amx) tile_release(emu);
#undef PF_ROWS
}

/* The AMX code was developed against the software model on a CPU without
** AMX. Before a tile path is used, this checks once that it agrees bit for
** bit with VNNI on a small product (both sum each block exactly and scale
** in the same order, so they must), covering a partial row group, a partial
** token tile and an odd block count. Returns 0 when they agree. */
static int amx_selftest(int path) {
    enum { R = 80, K = 96, T = 17 };
    static int cached[2] = { -1, -1 };       /* per AMX path */
    int *c = &cached[path == PATH_AMX_EMU];
    if (*c >= 0) return *c;
    size_t rb = K / 32 * sizeof(block_q8_0);
    uint8_t *w = malloc(R * rb);
    float *x = malloc(sizeof(float) * T * K), *o1 = calloc(T * R, sizeof(float)), *o2 = calloc(T * R, sizeof(float));
    float *scratch = aligned_alloc(64, KERN_GEMM_SCRATCH * sizeof(float));
    void *act = aligned_alloc(64, 8192);     /* kern_gemm_prepare_bytes(q8_0, 17, 96) = 3584 */
    int saved = g_path, bad = 1;
    if (w && x && o1 && o2 && scratch && act) {
        float row[K];
        for (int r = 0; r < R; r++) {
            for (int k = 0; k < K; k++) row[k] = (float)((r * 7 + k * 13) % 23 - 11) * (r % 3 ? 0.5f : 2.0f);
            quantize_row_q8_0(row, (block_q8_0 *)(w + r * rb), K);
        }
        for (int i = 0; i < T * K; i++) x[i] = (float)((i * 5) % 17 - 8) * 0.25f;
        g_path = PATH_VNNI;
        assert(kern_gemm_prepare_bytes(GGML_TYPE_Q8_0, T, K) <= 8192);
        kern_gemm_prepared(GGML_TYPE_Q8_0, w, rb, 0, R, kern_gemm_prepare(GGML_TYPE_Q8_0, x, T, K, act), o1, R, scratch);
        g_path = path;
        kern_gemm_prepared(GGML_TYPE_Q8_0, w, rb, 0, R, kern_gemm_prepare(GGML_TYPE_Q8_0, x, T, K, act), o2, R, scratch);
        bad = memcmp(o1, o2, sizeof(float) * T * R) != 0;
    }
    g_path = saved;
    free(w); free(x); free(o1); free(o2); free(scratch); free(act);
    return *c = bad;
}

#else   /* not x86-64: no int8 GEMM */

int kern_gemm_select(const char *name) { return !name || !*name || !strcmp(name, "f32") ? 0 : -1; }
int kern_amx_bf16_available(void) { return 0; }
const kern_gemm_act *kern_gemm_prepare(uint32_t type, const float *x, int T, int K, void *buf) { assert(0); return NULL; }
void kern_gemm_prepared(uint32_t type, const void *w, size_t row_bytes, int r0, int r1, const kern_gemm_act *xa,
                        float *out, int ldo, float *scratch) { assert(0); }
void kern_gemm_prepared_x16(uint32_t type, const void *x16, size_t row_bytes, int r0, int r1, const kern_gemm_act *xa,
                            float *out, int ldo, float *scratch) { assert(0); }
void kern_x16_pack(uint32_t type, const void *w, size_t row_bytes, int g0, int g1, int cols, void *dst) { assert(0); }

#endif

int kern_gemm_int8(uint32_t type, const void *w, size_t row_bytes, int r0, int r1, int K, const float *x, int T,
                   float *out, int ldo, float *scratch) {
    size_t bytes = kern_gemm_prepare_bytes(type, T, K);
    void *buf = bytes ? aligned_alloc(64, bytes) : NULL;
    if (!buf) return 0;
    kern_gemm_prepared(type, w, row_bytes, r0, r1, kern_gemm_prepare(type, x, T, K, buf), out, ldo, scratch);
    free(buf);
    return 1;
}

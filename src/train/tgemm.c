/*
** tgemm.c — training matrix products (see tgemm.h).
**
** One micro-kernel shape serves all three products of a linear layer:
** C[MR][NR] += A(MR, kc)·B[kc][NR], with A read through two strides
** (broadcast one element per row per k) and B read as rows (NR wide
** vectors). The forward product packs Wᵀ into a [256][64] panel so the
** weights become B; dx = dy·W reads W's rows directly as B (after
** dequantizing a block of them when W is not f32); dW += dyᵀ·x reads dy
** through transposed strides as A and x as B. No product ever needs more
** than a 256-row slice of W in f32 at once, so quantized base models stay
** quantized in memory.
**
** The bf16 path (tgemm.h: Precision) has its own micro-kernel of the same
** 6 × 64 shape, C[MR][64] += A(MR, 2·kp)·B[2·kp][64], where both operands
** hold bf16 pairs along the reduction index: A's rows are bf16 runs (a
** 32-bit broadcast takes A(i,k), A(i,k+1)) and B is pair-interleaved, each
** 32-bit element holding B[k][j], B[k+1][j]; one VDPBF16PS then adds both
** products to C[i][j]. Each product converts its activation operands once
** per call (in parallel, into tg_ctx's shared buffers), and packs weight
** slices per work item as the f32 path does: forward y = x·Wᵀ takes x's
** rows as A and packs Wᵀ's slice as interleaved B; dx = dy·W takes dy's
** rows as A and packs pairs of W's rows as B; dW += dyᵀ·x transposes dy
** into pairs along the tokens (A) and interleaves x by token pairs (B), in
** 64-column panels so that B's rows are contiguous (a row stride of 1 or
** 3 KiB would crowd a few L1 sets).
** An odd reduction length is padded with a zero. Sums run in the same
** fixed order whatever the thread count.
*/
#include "tgemm.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/gguf.h"
#include "../engine/kernels.h"

#define MR 6             /* rows of C per micro-kernel call */
#define KC 256           /* reduction block: B's slice stays in L1/L2 */
#define FWD_ROWS 64      /* W rows per forward panel (= its column count) */
#define TOK_BLOCK 192    /* tokens per work item (a multiple of MR) */
#define WG_ROWS 48       /* dW rows per work item (a multiple of MR) */
#define WG_COLS 256      /* dW columns per work item */
#define TG_SCRATCH_FLOATS (KC * 256)

typedef void (*ukr_fn)(int mr, int nr, int kc, const float *A, size_t as, size_t ak, const float *B, size_t ldb,
                       float *C, size_t ldc);

/* ---- portable micro-kernel -------------------------------------------------- */

#define NR_C 16
static void ukr_portable(int mr, int nr, int kc, const float *A, size_t as, size_t ak, const float *B, size_t ldb,
                         float *C, size_t ldc) {
    for (int i = 0; i < mr; i++) {
        float acc[NR_C];
        float *c = C + (size_t)i * ldc;
        for (int j = 0; j < nr; j++) acc[j] = c[j];
        for (int k = 0; k < kc; k++) {
            float a = A[(size_t)i * as + (size_t)k * ak];
            const float *b = B + (size_t)k * ldb;
            for (int j = 0; j < nr; j++) acc[j] += a * b[j];
        }
        for (int j = 0; j < nr; j++) c[j] = acc[j];
    }
}

/* ---- x86 micro-kernels -------------------------------------------------------- */

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx2,fma")))
#define T256 __attribute__((target("avx2,fma")))

/* 6 rows × 64 columns: 24 zmm accumulators; each k costs 4 B loads and 6
** broadcasts for 24 FMAs. Rows past mr repeat the last valid row (computed,
** never stored); columns past nr are masked out of every load and store. */
#define NR_512 64
T512 static void ukr_512(int mr, int nr, int kc, const float *A, size_t as, size_t ak, const float *B, size_t ldb,
                         float *C, size_t ldc) {
    __mmask16 m[4];
    for (int q = 0; q < 4; q++) {
        int valid = nr - 16 * q;
        m[q] = valid >= 16 ? (__mmask16)0xffff : valid <= 0 ? (__mmask16)0 : (__mmask16)((1u << valid) - 1);
    }
    const float *ar[MR];
    for (int j = 0; j < MR; j++) ar[j] = A + (size_t)(j < mr ? j : mr - 1) * as;
    __m512 acc[MR][4];
    for (int j = 0; j < MR; j++)
        for (int q = 0; q < 4; q++)
            acc[j][q] = j < mr ? _mm512_maskz_loadu_ps(m[q], C + (size_t)j * ldc + 16 * q) : _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        const float *bk = B + (size_t)k * ldb;
        size_t ko = (size_t)k * ak;
        __m512 p0 = _mm512_maskz_loadu_ps(m[0], bk), p1 = _mm512_maskz_loadu_ps(m[1], bk + 16),
               p2 = _mm512_maskz_loadu_ps(m[2], bk + 32), p3 = _mm512_maskz_loadu_ps(m[3], bk + 48);
#define ROW512(j) do { __m512 b = _mm512_set1_ps(ar[j][ko]); \
        acc[j][0] = _mm512_fmadd_ps(b, p0, acc[j][0]); acc[j][1] = _mm512_fmadd_ps(b, p1, acc[j][1]); \
        acc[j][2] = _mm512_fmadd_ps(b, p2, acc[j][2]); acc[j][3] = _mm512_fmadd_ps(b, p3, acc[j][3]); } while (0)
        ROW512(0); ROW512(1); ROW512(2); ROW512(3); ROW512(4); ROW512(5);
#undef ROW512
    }
    for (int j = 0; j < mr; j++)
        for (int q = 0; q < 4; q++) _mm512_mask_storeu_ps(C + (size_t)j * ldc + 16 * q, m[q], acc[j][q]);
}

/* 6 rows × 16 columns: 12 ymm accumulators + 2 B vectors + 1 broadcast. */
#define NR_256 16
T256 static __m256i mask256(int valid) {
    static const int32_t lanes[16] = { -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0 };
    if (valid <= 0) return _mm256_setzero_si256();
    if (valid >= 8) return _mm256_set1_epi32(-1);
    return _mm256_loadu_si256((const __m256i *)(lanes + 8 - valid));
}

T256 static void ukr_256(int mr, int nr, int kc, const float *A, size_t as, size_t ak, const float *B, size_t ldb,
                         float *C, size_t ldc) {
    __m256i m0 = mask256(nr), m1 = mask256(nr - 8);
    const float *ar[MR];
    for (int j = 0; j < MR; j++) ar[j] = A + (size_t)(j < mr ? j : mr - 1) * as;
    __m256 acc[MR][2];
    for (int j = 0; j < MR; j++) {
        acc[j][0] = j < mr ? _mm256_maskload_ps(C + (size_t)j * ldc, m0) : _mm256_setzero_ps();
        acc[j][1] = j < mr ? _mm256_maskload_ps(C + (size_t)j * ldc + 8, m1) : _mm256_setzero_ps();
    }
    for (int k = 0; k < kc; k++) {
        const float *bk = B + (size_t)k * ldb;
        size_t ko = (size_t)k * ak;
        __m256 p0 = _mm256_maskload_ps(bk, m0), p1 = _mm256_maskload_ps(bk + 8, m1);
#define ROW256(j) do { __m256 b = _mm256_broadcast_ss(ar[j] + ko); \
        acc[j][0] = _mm256_fmadd_ps(b, p0, acc[j][0]); acc[j][1] = _mm256_fmadd_ps(b, p1, acc[j][1]); } while (0)
        ROW256(0); ROW256(1); ROW256(2); ROW256(3); ROW256(4); ROW256(5);
#undef ROW256
    }
    for (int j = 0; j < mr; j++) {
        _mm256_maskstore_ps(C + (size_t)j * ldc, m0, acc[j][0]);
        _mm256_maskstore_ps(C + (size_t)j * ldc + 8, m1, acc[j][1]);
    }
}

/* ---- bf16 (AVX512_BF16) ----------------------------------------------------------- */

#define TBF __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma")))
#define HAVE_BF16_KERNEL 1
#define KCP (KC / 2)     /* bf16 pairs per reduction block */

static __mmask16 mask16(int valid) {
    return valid >= 16 ? (__mmask16)0xffff : valid <= 0 ? (__mmask16)0 : (__mmask16)((1u << valid) - 1);
}

/* dst[0..n) = bf16(src[0..n)), rounded by the hardware (VCVTNEPS2BF16). */
TBF static void cvt_bf16(const float *src, int n, uint16_t *dst) {
    for (int j = 0; j < n; j += 16) {
        __mmask16 m = mask16(n - j);
        __m256i h = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + j));
        _mm256_mask_storeu_epi16(dst + j, m, h);
    }
}

/* dst[j] = bf16(a[j]) | bf16(b[j]) << 16 for j < n; b NULL: zeros. */
TBF static void cvt_pairs(const float *a, const float *b, int n, uint32_t *dst) {
    for (int j = 0; j < n; j += 16) {
        __mmask16 m = mask16(n - j);
        __m256i lo = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, a + j));
        __m256i hi = b ? (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, b + j)) : _mm256_setzero_si256();
        __m512i p = _mm512_or_si512(_mm512_cvtepu16_epi32(lo), _mm512_slli_epi32(_mm512_cvtepu16_epi32(hi), 16));
        _mm512_mask_storeu_epi32(dst + j, m, p);
    }
}

/* C[mr][nr] += Σ_p A[i][p]·B[p][j] over kp pairs: A's rows are `as` pairs
** apart, B's ldb. Rows past mr repeat the last valid row, columns past nr
** are masked, as in ukr_512. */
TBF static void ukr_bf16(int mr, int nr, int kp, const uint32_t *A, size_t as, const uint32_t *B, size_t ldb,
                         float *C, size_t ldc) {
    __mmask16 m[4];
    for (int q = 0; q < 4; q++) m[q] = mask16(nr - 16 * q);
    const uint32_t *ar[MR];
    for (int j = 0; j < MR; j++) ar[j] = A + (size_t)(j < mr ? j : mr - 1) * as;
    __m512 acc[MR][4];
    for (int j = 0; j < MR; j++)
        for (int q = 0; q < 4; q++)
            acc[j][q] = j < mr ? _mm512_maskz_loadu_ps(m[q], C + (size_t)j * ldc + 16 * q) : _mm512_setzero_ps();
    for (int p = 0; p < kp; p++) {
        const uint32_t *bp = B + (size_t)p * ldb;
        __m512bh p0 = (__m512bh)_mm512_maskz_loadu_epi32(m[0], bp), p1 = (__m512bh)_mm512_maskz_loadu_epi32(m[1], bp + 16),
                 p2 = (__m512bh)_mm512_maskz_loadu_epi32(m[2], bp + 32), p3 = (__m512bh)_mm512_maskz_loadu_epi32(m[3], bp + 48);
#define ROWBF(j) do { __m512bh a = (__m512bh)_mm512_set1_epi32((int)ar[j][p]); \
        acc[j][0] = _mm512_dpbf16_ps(acc[j][0], a, p0); acc[j][1] = _mm512_dpbf16_ps(acc[j][1], a, p1); \
        acc[j][2] = _mm512_dpbf16_ps(acc[j][2], a, p2); acc[j][3] = _mm512_dpbf16_ps(acc[j][3], a, p3); } while (0)
        ROWBF(0); ROWBF(1); ROWBF(2); ROWBF(3); ROWBF(4); ROWBF(5);
#undef ROWBF
    }
    for (int j = 0; j < mr; j++)
        for (int q = 0; q < 4; q++) _mm512_mask_storeu_ps(C + (size_t)j * ldc + 16 * q, m[q], acc[j][q]);
}

/* gemm_bf16 with VDPBF16PS only, blocked as tg_gemm is. */
static void gemm_bf16_vec(int M, int N, int kp, const uint32_t *A, size_t as, const uint32_t *B, size_t ldb, float *C,
                          size_t ldc) {
    for (int p0 = 0; p0 < kp; p0 += KCP) {
        int pc = kp - p0 < KCP ? kp - p0 : KCP;
        for (int j0 = 0; j0 < N; j0 += NR_512) {
            int n = N - j0 < NR_512 ? N - j0 : NR_512;
            for (int i0 = 0; i0 < M; i0 += MR) {
                int m = M - i0 < MR ? M - i0 : MR;
                ukr_bf16(m, n, pc, A + (size_t)i0 * as + p0, as, B + (size_t)p0 * ldb + j0, ldb, C + (size_t)i0 * ldc + j0,
                         ldc);
            }
        }
    }
}

/* ---- bf16 with AMX tiles ----------------------------------------------------------- */
/*
** The operands are already in the tiles' layout: A's rows are runs of bf16
** pairs (an A tile is 16 rows × 16 pairs) and B is pair-interleaved (a B
** tile is 16 pair rows × 16 columns), so tiles load straight from the
** buffers above. Tiles 0–3 hold a 32 × 32 block of C in f32, 4–5 two A
** tiles, 6–7 two B tiles; every tile is configured 16 rows × 64 bytes.
** The SDM describes TDPBF16PS as adding, per C element and pair, first the
** even then the odd product with f32 FMAs; the hardware's own order within
** one instruction lands a few ulps from that, but it is fixed, so every
** element's sum still runs in an order set by the shapes alone. A software
** model of the four instructions as the SDM has them ("amx-emulated") lets
** the tests check this code's layout on any CPU with AVX512_BF16. The tile
** wrappers are asm with a memory clobber, as in the engine (kernels_int8.c:
** GCC 12's tile-load intrinsic does not say that it reads memory).
*/
enum { TILES_OFF = 0, TILES_AMX = 1, TILES_EMU = 2 };
static int g_tiles = TILES_OFF;

typedef struct tiles_emu { uint32_t t[8][16][16]; } tiles_emu;

static float bf16_lo(uint32_t p) { uint32_t u = p << 16; float f; memcpy(&f, &u, 4); return f; }
static float bf16_hi(uint32_t p) { uint32_t u = p & 0xffff0000u; float f; memcpy(&f, &u, 4); return f; }

static void tiles_config(tiles_emu *e) {
    if (e) return;
    _Alignas(64) uint8_t cfg[64];
    memset(cfg, 0, sizeof cfg);
    cfg[0] = 1;                                   /* palette 1; colsb[i] at 16 + 2i, rows[i] at 48 + i */
    for (int i = 0; i < 8; i++) {
        cfg[16 + 2 * i] = 64;
        cfg[48 + i] = 16;
    }
    __asm__ volatile("ldtilecfg %0" :: "m"(cfg) : "memory");
}

static void tiles_release(tiles_emu *e) {
    if (!e) __asm__ volatile("tilerelease" ::: "memory");
}

#define TLOAD(n, p, s) __asm__ volatile("tileloadd (%0,%1,1), %%tmm" #n :: "r"(p), "r"((long)(s)) : "memory")
#define TSTORE(n, p, s) __asm__ volatile("tilestored %%tmm" #n ", (%0,%1,1)" :: "r"(p), "r"((long)(s)) : "memory")
#define TDP(c, a, b) __asm__ volatile("tdpbf16ps %%tmm" #b ", %%tmm" #a ", %%tmm" #c ::: "memory")

/* tile id ← 16 rows of 64 bytes, `stride` bytes apart */
static inline void tl_load(tiles_emu *e, int id, const void *p, size_t stride) {
    if (e) {
        for (int r = 0; r < 16; r++) memcpy(e->t[id][r], (const uint8_t *)p + r * stride, 64);
        return;
    }
    switch (id) {
    case 0: TLOAD(0, p, stride); break;
    case 1: TLOAD(1, p, stride); break;
    case 2: TLOAD(2, p, stride); break;
    case 3: TLOAD(3, p, stride); break;
    case 4: TLOAD(4, p, stride); break;
    case 5: TLOAD(5, p, stride); break;
    case 6: TLOAD(6, p, stride); break;
    case 7: TLOAD(7, p, stride); break;
    default: assert(0);
    }
}

static inline void tl_store(tiles_emu *e, int id, void *p, size_t stride) {
    if (e) {
        for (int r = 0; r < 16; r++) memcpy((uint8_t *)p + r * stride, e->t[id][r], 64);
        return;
    }
    switch (id) {
    case 0: TSTORE(0, p, stride); break;
    case 1: TSTORE(1, p, stride); break;
    case 2: TSTORE(2, p, stride); break;
    case 3: TSTORE(3, p, stride); break;
    default: assert(0);
    }
}

/* C tile c += A tile a · B tile b: C[m][n] += A[m][k].even·B[k][n].even,
** then += the odd pair, for k = 0..15 in order (TDPBF16PS). */
static inline void tl_dp(tiles_emu *e, int c, int a, int b) {
    if (e) {
        for (int m = 0; m < 16; m++)
            for (int n = 0; n < 16; n++) {
                float s;
                memcpy(&s, &e->t[c][m][n], 4);
                for (int k = 0; k < 16; k++) {
                    s = fmaf(bf16_lo(e->t[a][m][k]), bf16_lo(e->t[b][k][n]), s);
                    s = fmaf(bf16_hi(e->t[a][m][k]), bf16_hi(e->t[b][k][n]), s);
                }
                memcpy(&e->t[c][m][n], &s, 4);
            }
        return;
    }
    if (c == 0 && a == 4 && b == 6) TDP(0, 4, 6);
    else if (c == 1 && a == 4 && b == 7) TDP(1, 4, 7);
    else if (c == 2 && a == 5 && b == 6) TDP(2, 5, 6);
    else if (c == 3 && a == 5 && b == 7) TDP(3, 5, 7);
    else assert(0);
}

/* C[M][N] += A[M][kp]·B[kp][N] with M, N and kp multiples of 16: 32 × 32
** blocks of C (16 wide at an edge) held in tiles over the whole reduction. */
static void gemm_tiles(tiles_emu *e, int M, int N, int kp, const uint32_t *A, size_t as, const uint32_t *B,
                       size_t ldb, float *C, size_t ldc) {
    assert(M % 16 == 0 && N % 16 == 0 && kp % 16 == 0);
    tiles_config(e);
    for (int i0 = 0; i0 < M; i0 += 32) {
        int mi = M - i0 >= 32 ? 2 : 1;
        for (int j0 = 0; j0 < N; j0 += 32) {
            int nj = N - j0 >= 32 ? 2 : 1;
            for (int a = 0; a < mi; a++)
                for (int b = 0; b < nj; b++)
                    tl_load(e, 2 * a + b, C + (size_t)(i0 + 16 * a) * ldc + j0 + 16 * b, ldc * sizeof(float));
            for (int p = 0; p < kp; p += 16) {
                for (int a = 0; a < mi; a++) tl_load(e, 4 + a, A + (size_t)(i0 + 16 * a) * as + p, as * 4);
                for (int b = 0; b < nj; b++) tl_load(e, 6 + b, B + (size_t)p * ldb + j0 + 16 * b, ldb * 4);
                for (int a = 0; a < mi; a++)
                    for (int b = 0; b < nj; b++) tl_dp(e, 2 * a + b, 4 + a, 6 + b);
            }
            for (int a = 0; a < mi; a++)
                for (int b = 0; b < nj; b++)
                    tl_store(e, 2 * a + b, C + (size_t)(i0 + 16 * a) * ldc + j0 + 16 * b, ldc * sizeof(float));
        }
    }
    tiles_release(e);
}

/* tg_gemm over bf16 pairs: C[M][N] += A[M][kp]·B[kp][N] (A's rows `as`
** pairs apart, B's ldb). With tiles, their part is the largest block whose
** sizes are multiples of 16; the rest (columns, then reduction, then rows
** at the edges) takes VDPBF16PS. Which elements take which path depends on
** the shapes only, never on threads. */
static void gemm_bf16(int M, int N, int kp, const uint32_t *A, size_t as, const uint32_t *B, size_t ldb, float *C,
                      size_t ldc) {
    int Mt = M & ~15, Nt = N & ~15, Kt = kp & ~15;
    if (g_tiles == TILES_OFF || !Mt || !Nt || !Kt) {
        gemm_bf16_vec(M, N, kp, A, as, B, ldb, C, ldc);
        return;
    }
    if (g_tiles == TILES_EMU) {
        tiles_emu *e = malloc(sizeof *e);
        if (!e) { gemm_bf16_vec(M, N, kp, A, as, B, ldb, C, ldc); return; }
        gemm_tiles(e, Mt, Nt, Kt, A, as, B, ldb, C, ldc);
        free(e);
    } else {
        gemm_tiles(NULL, Mt, Nt, Kt, A, as, B, ldb, C, ldc);
    }
    if (Kt < kp) gemm_bf16_vec(Mt, Nt, kp - Kt, A + Kt, as, B + (size_t)Kt * ldb, ldb, C, ldc);
    if (Nt < N) gemm_bf16_vec(Mt, N - Nt, kp, A, as, B + Nt, ldb, C + Nt, ldc);
    if (Mt < M) gemm_bf16_vec(M - Mt, N, kp, A + (size_t)Mt * as, as, B, ldb, C + (size_t)Mt * ldc, ldc);
}

/* AVX512_BF16: CPUID.(EAX=7, ECX=1):EAX bit 5. */
static int cpu_has_avx512_bf16(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return 0;
    return (a >> 5) & 1;
}
#endif

/* ---- selection ----------------------------------------------------------------- */

static ukr_fn g_ukr = ukr_portable;
static int g_nr = NR_C;
static const char *g_isa = "portable";

const char *tg_isa(void) { return g_isa; }

const char *tg_bf16_unavailable(void) {
#ifdef HAVE_BF16_KERNEL
    if (strcmp(g_isa, "avx512")) return "the bf16 kernel needs the AVX-512 micro-kernel (SQLASSIST_ISA chose a lesser one, or the CPU lacks AVX-512)";
    if (!cpu_has_avx512_bf16()) return "this CPU has no AVX512_BF16 (VDPBF16PS)";
    return NULL;
#else
    return "the bf16 kernel is x86-64 only";
#endif
}

int tg_bf16_select(const char *name) {
#ifdef HAVE_BF16_KERNEL
    int want;
    if (!name || !*name) want = kern_amx_bf16_available() ? TILES_AMX : TILES_OFF;
    else if (!strcmp(name, "amx")) want = TILES_AMX;
    else if (!strcmp(name, "amx-emulated")) want = TILES_EMU;
    else if (!strcmp(name, "vdpbf16ps")) want = TILES_OFF;
    else return -1;
    if (want == TILES_AMX && !kern_amx_bf16_available()) return -1;
    g_tiles = want;
    return 0;
#else
    return !name || !*name || !strcmp(name, "vdpbf16ps") ? 0 : -1;
#endif
}

const char *tg_bf16_path(void) {
#ifdef HAVE_BF16_KERNEL
    return g_tiles == TILES_AMX ? "amx" : g_tiles == TILES_EMU ? "amx-emulated" : "vdpbf16ps";
#else
    return "vdpbf16ps";
#endif
}

int tg_set_precision(tg_ctx *g, int precision) {
    if (precision == TG_BF16 && tg_bf16_unavailable()) return -1;
    g->precision = precision == TG_BF16 ? TG_BF16 : TG_F32;
    return 0;
}

const char *tg_precision_name(int precision) { return precision == TG_BF16 ? "bf16" : "f32"; }

int tg_init(tg_ctx *g, threadpool *tp) {
    memset(g, 0, sizeof *g);
    g_ukr = ukr_portable;
    g_nr = NR_C;
    g_isa = "portable";
#if defined(__x86_64__)
    /* follow the engine's choice (SQLASSIST_ISA can force a lesser one) */
    if (!strcmp(kernels_isa(), "avx512")) { g_ukr = ukr_512; g_nr = NR_512; g_isa = "avx512"; }
    else if (!strcmp(kernels_isa(), "avx2")) { g_ukr = ukr_256; g_nr = NR_256; g_isa = "avx2"; }
#endif
#ifdef HAVE_BF16_KERNEL
    /* SQLASSIST_GEMM picks the engine's int8 path too: "amx" or
    ** "amx-emulated" ask for tiles here, "vnni" or "f32" for none */
    const char *env = getenv("SQLASSIST_GEMM");
    if (env && (!strcmp(env, "vnni") || !strcmp(env, "f32"))) env = "vdpbf16ps";
    if (tg_bf16_select(env) != 0) tg_bf16_select(NULL);
#endif
    g->tp = tp;
    g->n_threads = tp_size(tp);
    g->scratch = calloc((size_t)g->n_threads, sizeof *g->scratch);
    if (!g->scratch) return -1;
    for (int i = 0; i < g->n_threads; i++)
        if (!(g->scratch[i] = aligned_alloc(64, TG_SCRATCH_FLOATS * sizeof(float)))) { tg_free(g); return -1; }
    return 0;
}

void tg_free(tg_ctx *g) {
    if (g->scratch)
        for (int i = 0; i < g->n_threads; i++) free(g->scratch[i]);
    free(g->scratch);
    g->scratch = NULL;
    free(g->xt);
    g->xt = NULL;
    g->xt_cap = 0;
    for (int i = 0; i < 2; i++) {
        free(g->bf[i]);
        g->bf[i] = NULL;
        g->bf_cap[i] = 0;
    }
}

wmat tg_f32_mat(const float *data, int rows, int cols) {
    wmat w = { GGML_TYPE_F32, rows, cols, (size_t)cols * sizeof(float), data };
    return w;
}

/* ---- the driver ------------------------------------------------------------------- */

void tg_gemm(int M, int N, int K, const float *A, size_t as, size_t ak, const float *B, size_t ldb, float *C,
             size_t ldc) {
    int nr = g_nr;
    for (int k0 = 0; k0 < K; k0 += KC) {
        int kc = K - k0 < KC ? K - k0 : KC;
        for (int j0 = 0; j0 < N; j0 += nr) {
            int n = N - j0 < nr ? N - j0 : nr;
            for (int i0 = 0; i0 < M; i0 += MR) {
                int m = M - i0 < MR ? M - i0 : MR;
                g_ukr(m, n, kc, A + (size_t)i0 * as + (size_t)k0 * ak, as, ak, B + (size_t)k0 * ldb + j0, ldb,
                      C + (size_t)i0 * ldc + j0, ldc);
            }
        }
    }
}

static int type_block(uint32_t type, uint32_t *bytes) {
    uint32_t be = 1, bb = 4;
    ggml_type_block(type, &be, &bb);
    if (bytes) *bytes = bb;
    return (int)be;
}

/* n elements of row `row` of w starting at column k0 (a multiple of the
** type's block size), as f32: a pointer into w itself when w is f32,
** otherwise dequantized into buf. */
static const float *row_slice(const wmat *w, int row, int k0, int n, float *buf) {
    const uint8_t *r = (const uint8_t *)w->data + (size_t)row * w->row_bytes;
    if (w->type == GGML_TYPE_F32) return (const float *)r + k0;
    uint32_t bb;
    int be = type_block(w->type, &bb);
    assert(k0 % be == 0 && n % be == 0);
    kern_dequant_row(w->type, r + (size_t)(k0 / be) * bb, buf, n);
    return buf;
}

static int cdiv(int a, int b) { return (a + b - 1) / b; }

/* ---- bf16 products ----------------------------------------------------------------------- */

#ifdef HAVE_BF16_KERNEL
/* g->bf[i] with room for n elements (even, so pair rows stay 4-byte
** aligned), or NULL when it cannot grow. */
static uint16_t *bf_buf(tg_ctx *g, int i, size_t n) {
    if (g->bf_cap[i] < n) {
        uint16_t *p = aligned_alloc(64, (n * sizeof *p + 63) / 64 * 64);
        if (!p) return NULL;
        free(g->bf[i]);
        g->bf[i] = p;
        g->bf_cap[i] = n;
    }
    return g->bf[i];
}

static int even(int n) { return n + (n & 1); }

/* rows: dst[t][0..cols) = bf16(src[t][..]), each row ldd (even) apart, an
** odd row padded with a zero */
typedef struct cvr_job {
    const float *src;
    int cols;
    uint16_t *dst;
    size_t ldd;
} cvr_job;

static void cvr_items(void *ctx, int begin, int end, int ith) {
    const cvr_job *j = ctx;
    for (int t = begin; t < end; t++) {
        uint16_t *d = j->dst + (size_t)t * j->ldd;
        cvt_bf16(j->src + (size_t)t * j->cols, j->cols, d);
        if ((size_t)j->cols < j->ldd) d[j->cols] = 0;
    }
}

/* pairs of rows in column panels: pair (src[2p][c], src[2p+1][c]) at
** dst[c / 64][p][c % 64], each panel np·64 pairs, so a micro-kernel's B
** rows are contiguous whatever the width; a missing last row is zeros */
#define PANEL 64
typedef struct cvp_job {
    const float *src;
    int rows, cols;
    uint32_t *dst;
    size_t np;
} cvp_job;

static void cvp_items(void *ctx, int begin, int end, int ith) {
    const cvp_job *j = ctx;
    for (int p = begin; p < end; p++) {
        const float *a = j->src + (size_t)2 * p * j->cols, *b = 2 * p + 1 < j->rows ? a + j->cols : NULL;
        for (int c0 = 0; c0 < j->cols; c0 += PANEL)
            cvt_pairs(a + c0, b ? b + c0 : NULL, j->cols - c0 < PANEL ? j->cols - c0 : PANEL,
                      j->dst + ((size_t)(c0 / PANEL) * j->np + (size_t)p) * PANEL);
    }
}

/* transposed pairs: dst[c][p] = (src[2p][c], src[2p+1][c]), rows of dst
** ts pairs apart; items are blocks of 16 pairs, so each column's 16 pairs
** are one 64-byte store */
#define TP_PAIRS 16
#define TP_COLS 256
typedef struct cvt_job {
    tg_ctx *g;
    const float *src;
    int rows, cols;
    uint32_t *dst;
    size_t ts;
} cvt_job;

static void cvt_items(void *ctx, int begin, int end, int ith) {
    const cvt_job *j = ctx;
    uint32_t *tmp = (uint32_t *)j->g->scratch[ith];      /* [TP_PAIRS][TP_COLS] */
    int np = (j->rows + 1) / 2;
    for (int it = begin; it < end; it++) {
        int p0 = it * TP_PAIRS, n = np - p0 < TP_PAIRS ? np - p0 : TP_PAIRS;
        for (int c0 = 0; c0 < j->cols; c0 += TP_COLS) {
            int cc = j->cols - c0 < TP_COLS ? j->cols - c0 : TP_COLS;
            for (int p = 0; p < n; p++) {
                const float *a = j->src + (size_t)2 * (p0 + p) * j->cols + c0;
                cvt_pairs(a, 2 * (p0 + p) + 1 < j->rows ? a + j->cols : NULL, cc, tmp + (size_t)p * TP_COLS);
            }
            for (int c = 0; c < cc; c++) {
                uint32_t *d = j->dst + (size_t)(c0 + c) * j->ts + p0;
                for (int p = 0; p < n; p++) d[p] = tmp[(size_t)p * TP_COLS + c];
            }
        }
    }
}

/* forward: A = x's bf16 rows, B = Wᵀ's slice packed as pairs [kc/2][FWD_ROWS] */
typedef struct fwdb_job {
    tg_ctx *g;
    float *y;
    const uint32_t *xb;      /* [N][xs] pairs */
    size_t xs;
    const float *bias;
    const wmat *w;
    int N, n_tb;
} fwdb_job;

static void fwdb_items(void *ctx, int begin, int end, int ith) {
    const fwdb_job *j = ctx;
    const wmat *w = j->w;
    int R = w->rows, K = w->cols;
    float *rows = j->g->scratch[ith];                            /* [FWD_ROWS][KC] dequantized slices */
    uint32_t *panel = (uint32_t *)(rows + FWD_ROWS * KC);         /* [KCP][FWD_ROWS] */
    uint32_t *row = panel + KCP * FWD_ROWS;                       /* [KCP] one row's pairs */
    for (int it = begin; it < end; it++) {
        int r0 = (it / j->n_tb) * FWD_ROWS, t0 = (it % j->n_tb) * TOK_BLOCK;
        int nr = R - r0 < FWD_ROWS ? R - r0 : FWD_ROWS, nt = j->N - t0 < TOK_BLOCK ? j->N - t0 : TOK_BLOCK;
        for (int t = t0; t < t0 + nt; t++) {
            float *yr = j->y + (size_t)t * R + r0;
            if (j->bias) memcpy(yr, j->bias + r0, (size_t)nr * sizeof *yr);
            else memset(yr, 0, (size_t)nr * sizeof *yr);
        }
        for (int k0 = 0; k0 < K; k0 += KC) {
            int kc = K - k0 < KC ? K - k0 : KC, pc = (kc + 1) / 2;
            for (int i = 0; i < nr; i++) {
                const float *src = row_slice(w, r0 + i, k0, kc, rows + (size_t)i * KC);
                row[pc - 1] = 0;
                cvt_bf16(src, kc, (uint16_t *)row);
                for (int p = 0; p < pc; p++) panel[(size_t)p * FWD_ROWS + i] = row[p];
            }
            gemm_bf16(nt, nr, pc, j->xb + (size_t)t0 * j->xs + k0 / 2, j->xs, panel, FWD_ROWS, j->y + (size_t)t0 * R + r0,
                      (size_t)R);
        }
    }
}

static int fwd_bf16(tg_ctx *g, float *y, const float *x, int N, const wmat *w, const float *bias) {
    int K = w->cols, Kp = even(K);
    uint16_t *xb = bf_buf(g, 0, (size_t)N * Kp);
    if (!xb) return 0;
    cvr_job cj = { x, K, xb, (size_t)Kp };
    tp_run(g->tp, N, cvr_items, &cj);
    fwdb_job j = { g, y, (const uint32_t *)xb, (size_t)Kp / 2, bias, w, N, cdiv(N, TOK_BLOCK) };
    tp_run(g->tp, cdiv(w->rows, FWD_ROWS) * j.n_tb, fwdb_items, &j);
    return 1;
}

/* dx = dy·W: A = dy's bf16 rows, B = pairs of W's rows [rc/2][nk] */
typedef struct bxb_job {
    tg_ctx *g;
    float *dx;
    const uint32_t *dyb;     /* [N][ys] pairs */
    size_t ys;
    const wmat *w;
    int N, n_tb, nb, accumulate;
} bxb_job;

static void bxb_items(void *ctx, int begin, int end, int ith) {
    const bxb_job *j = ctx;
    const wmat *w = j->w;
    int R = w->rows, K = w->cols;
    float *buf = j->g->scratch[ith];                       /* [2][nb] dequantized rows */
    uint32_t *B = (uint32_t *)(buf + 2 * j->nb);           /* [KCP][nb] */
    for (int it = begin; it < end; it++) {
        int k0 = (it / j->n_tb) * j->nb, t0 = (it % j->n_tb) * TOK_BLOCK;
        int nk = K - k0 < j->nb ? K - k0 : j->nb, nt = j->N - t0 < TOK_BLOCK ? j->N - t0 : TOK_BLOCK;
        if (!j->accumulate)
            for (int t = t0; t < t0 + nt; t++) memset(j->dx + (size_t)t * K + k0, 0, (size_t)nk * sizeof(float));
        for (int r0 = 0; r0 < R; r0 += KC) {
            int rc = R - r0 < KC ? R - r0 : KC, pc = (rc + 1) / 2;
            for (int p = 0; p < pc; p++) {
                int r = r0 + 2 * p;
                const float *a = row_slice(w, r, k0, nk, buf);
                const float *b = r + 1 < R ? row_slice(w, r + 1, k0, nk, buf + j->nb) : NULL;
                cvt_pairs(a, b, nk, B + (size_t)p * nk);
            }
            gemm_bf16(nt, nk, pc, j->dyb + (size_t)t0 * j->ys + r0 / 2, j->ys, B, (size_t)nk, j->dx + (size_t)t0 * K + k0,
                      (size_t)K);
        }
    }
}

static int bwd_x_bf16(tg_ctx *g, float *dx, const float *dy, int N, const wmat *w, int accumulate) {
    int R = w->rows, Rp = even(R);
    int be = type_block(w->type, NULL);
    int nb = be > 64 ? be : 64;
    assert(2 * nb + KCP * nb <= TG_SCRATCH_FLOATS);
    uint16_t *dyb = bf_buf(g, 0, (size_t)N * Rp);
    if (!dyb) return 0;
    cvr_job cj = { dy, R, dyb, (size_t)Rp };
    tp_run(g->tp, N, cvr_items, &cj);
    bxb_job j = { g, dx, (const uint32_t *)dyb, (size_t)Rp / 2, w, N, cdiv(N, TOK_BLOCK), nb, accumulate };
    tp_run(g->tp, cdiv(w->cols, nb) * j.n_tb, bxb_items, &j);
    return 1;
}

/* dW += dyᵀ·x: A = dyᵀ as token pairs [R][ts], B = x by token pairs in
** 64-column panels [K/64][ts][64] */
typedef struct bwb_job {
    float *dW;
    const uint32_t *dyT, *xp;
    size_t ts;
    int R, K, n_kb;
} bwb_job;

static void bwb_items(void *ctx, int begin, int end, int ith) {
    const bwb_job *j = ctx;
    for (int it = begin; it < end; it++) {
        int r0 = (it / j->n_kb) * WG_ROWS, k0 = (it % j->n_kb) * WG_COLS;
        int nr = j->R - r0 < WG_ROWS ? j->R - r0 : WG_ROWS, nk = j->K - k0 < WG_COLS ? j->K - k0 : WG_COLS;
        for (int c = k0; c < k0 + nk; c += PANEL)
            gemm_bf16(nr, k0 + nk - c < PANEL ? k0 + nk - c : PANEL, (int)j->ts, j->dyT + (size_t)r0 * j->ts, j->ts,
                      j->xp + (size_t)(c / PANEL) * j->ts * PANEL, PANEL, j->dW + (size_t)r0 * j->K + c, (size_t)j->K);
    }
}

static int bwd_w_bf16(tg_ctx *g, float *dW, const float *dy, const float *x, int N, int R, int K) {
    int np = (N + 1) / 2;
    uint16_t *dyT = bf_buf(g, 0, (size_t)R * 2 * np), *xp = bf_buf(g, 1, (size_t)2 * np * cdiv(K, PANEL) * PANEL);
    if (!dyT || !xp) return 0;
    assert(TP_PAIRS * TP_COLS <= TG_SCRATCH_FLOATS && WG_COLS % PANEL == 0);
    cvt_job tj = { g, dy, N, R, (uint32_t *)dyT, (size_t)np };
    tp_run(g->tp, cdiv(np, TP_PAIRS), cvt_items, &tj);
    cvp_job pj = { x, N, K, (uint32_t *)xp, (size_t)np };
    tp_run(g->tp, np, cvp_items, &pj);
    bwb_job j = { dW, (const uint32_t *)dyT, (const uint32_t *)xp, (size_t)np, R, K, cdiv(K, WG_COLS) };
    tp_run(g->tp, cdiv(R, WG_ROWS) * j.n_kb, bwb_items, &j);
    return 1;
}
#endif

/* ---- forward: y = x·Wᵀ + b ----------------------------------------------------------- */

typedef struct fwd_job {
    tg_ctx *g;
    float *y;
    const float *x, *bias;
    const wmat *w;
    int N, n_tb;
} fwd_job;

static void fwd_items(void *ctx, int begin, int end, int ith) {
    const fwd_job *j = ctx;
    const wmat *w = j->w;
    int R = w->rows, K = w->cols;
    float *rows = j->g->scratch[ith];            /* [FWD_ROWS][KC] dequantized slices */
    float *panel = rows + FWD_ROWS * KC;          /* [KC][FWD_ROWS] = Wᵀ slice */
    for (int it = begin; it < end; it++) {
        int r0 = (it / j->n_tb) * FWD_ROWS, t0 = (it % j->n_tb) * TOK_BLOCK;
        int nr = R - r0 < FWD_ROWS ? R - r0 : FWD_ROWS, nt = j->N - t0 < TOK_BLOCK ? j->N - t0 : TOK_BLOCK;
        for (int t = t0; t < t0 + nt; t++) {
            float *yr = j->y + (size_t)t * R + r0;
            if (j->bias) memcpy(yr, j->bias + r0, (size_t)nr * sizeof *yr);
            else memset(yr, 0, (size_t)nr * sizeof *yr);
        }
        for (int k0 = 0; k0 < K; k0 += KC) {
            int kc = K - k0 < KC ? K - k0 : KC;
            const float *src[FWD_ROWS];
            for (int i = 0; i < nr; i++) src[i] = row_slice(w, r0 + i, k0, kc, rows + (size_t)i * KC);
            /* transposed in 16-wide column strips so the writes stay in a
            ** few cache lines at a time */
            for (int kb = 0; kb < kc; kb += 16) {
                int ke = kb + 16 < kc ? kb + 16 : kc;
                for (int i = 0; i < nr; i++)
                    for (int k = kb; k < ke; k++) panel[(size_t)k * FWD_ROWS + i] = src[i][k];
            }
            tg_gemm(nt, nr, kc, j->x + (size_t)t0 * K + k0, (size_t)K, 1, panel, FWD_ROWS, j->y + (size_t)t0 * R + r0,
                    (size_t)R);
        }
    }
}

/* Few tokens (the output head on a chunk of answer tokens, decode-sized
** batches): packing Wᵀ would cost more than the product, so the roles
** swap: yᵀ = W·xᵀ with W's rows broadcast and the tokens as the vector
** dimension, xᵀ transposed once per call, each item's output tile
** transposed back into y. Sums run in the same order as fwd_items'. */
typedef struct fwdt_job {
    tg_ctx *g;
    float *y;
    const float *xt, *bias;    /* xt: [K][N] */
    const wmat *w;
    int N;
} fwdt_job;

static void fwdt_items(void *ctx, int begin, int end, int ith) {
    const fwdt_job *j = ctx;
    const wmat *w = j->w;
    int R = w->rows, K = w->cols, N = j->N;
    float *rows = j->g->scratch[ith];            /* [FWD_ROWS][KC] dequantized slices */
    float *tile = rows + FWD_ROWS * KC;           /* [FWD_ROWS][N] = yᵀ block */
    for (int it = begin; it < end; it++) {
        int r0 = it * FWD_ROWS, nr = R - r0 < FWD_ROWS ? R - r0 : FWD_ROWS;
        for (int i = 0; i < nr; i++)
            for (int t = 0; t < N; t++) tile[(size_t)i * N + t] = j->bias ? j->bias[r0 + i] : 0.0f;
        for (int k0 = 0; k0 < K; k0 += KC) {
            int kc = K - k0 < KC ? K - k0 : KC;
            const float *A;
            size_t as;
            if (w->type == GGML_TYPE_F32) {
                A = (const float *)w->data + (size_t)r0 * (w->row_bytes / 4) + k0;
                as = w->row_bytes / 4;
            } else {
                for (int i = 0; i < nr; i++) row_slice(w, r0 + i, k0, kc, rows + (size_t)i * KC);
                A = rows;
                as = KC;
            }
            tg_gemm(nr, N, kc, A, as, 1, j->xt + (size_t)k0 * N, (size_t)N, tile, (size_t)N);
        }
        for (int t = 0; t < N; t++)
            for (int i = 0; i < nr; i++) j->y[(size_t)t * R + r0 + i] = tile[(size_t)i * N + t];
    }
}

#define FEW_TOKENS 64

void tg_linear_fwd(tg_ctx *g, float *y, const float *x, int N, const wmat *w, const float *bias) {
    if (N <= 0) return;
#ifdef HAVE_BF16_KERNEL
    /* every size, few tokens included: bf16 means every product */
    if (g->precision == TG_BF16 && fwd_bf16(g, y, x, N, w, bias)) return;
#endif
    int K = w->cols;
    if (N <= FEW_TOKENS && (size_t)K * N <= (size_t)KC * 256 * 4) {
        if (g->xt_cap < (size_t)K * N) {
            float *p = realloc(g->xt, (size_t)K * N * sizeof *p);
            if (p) { g->xt = p; g->xt_cap = (size_t)K * N; }
        }
        if (g->xt_cap >= (size_t)K * N) {
            for (int t = 0; t < N; t++)
                for (int k = 0; k < K; k++) g->xt[(size_t)k * N + t] = x[(size_t)t * K + k];
            fwdt_job j = { g, y, g->xt, bias, w, N };
            tp_run(g->tp, cdiv(w->rows, FWD_ROWS), fwdt_items, &j);
            return;
        }
    }
    fwd_job j = { g, y, x, bias, w, N, cdiv(N, TOK_BLOCK) };
    tp_run(g->tp, cdiv(w->rows, FWD_ROWS) * j.n_tb, fwd_items, &j);
}

/* ---- backward to the input: dx = dy·W ---------------------------------------------------- */

typedef struct bx_job {
    tg_ctx *g;
    float *dx;
    const float *dy;
    const wmat *w;
    int N, n_tb, nb, accumulate;
} bx_job;

static void bx_items(void *ctx, int begin, int end, int ith) {
    const bx_job *j = ctx;
    const wmat *w = j->w;
    int R = w->rows, K = w->cols;
    float *buf = j->g->scratch[ith];              /* [KC][nb] dequantized W slice */
    for (int it = begin; it < end; it++) {
        int k0 = (it / j->n_tb) * j->nb, t0 = (it % j->n_tb) * TOK_BLOCK;
        int nk = K - k0 < j->nb ? K - k0 : j->nb, nt = j->N - t0 < TOK_BLOCK ? j->N - t0 : TOK_BLOCK;
        if (!j->accumulate)
            for (int t = t0; t < t0 + nt; t++) memset(j->dx + (size_t)t * K + k0, 0, (size_t)nk * sizeof(float));
        for (int r0 = 0; r0 < R; r0 += KC) {
            int rc = R - r0 < KC ? R - r0 : KC;
            const float *B;
            size_t ldb;
            if (w->type == GGML_TYPE_F32) {
                B = (const float *)w->data + (size_t)r0 * (w->row_bytes / 4) + k0;
                ldb = w->row_bytes / 4;
            } else {
                for (int i = 0; i < rc; i++) row_slice(w, r0 + i, k0, nk, buf + (size_t)i * j->nb);
                B = buf;
                ldb = (size_t)j->nb;
            }
            tg_gemm(nt, nk, rc, j->dy + (size_t)t0 * R + r0, (size_t)R, 1, B, ldb, j->dx + (size_t)t0 * K + k0, (size_t)K);
        }
    }
}

void tg_linear_bwd_x(tg_ctx *g, float *dx, const float *dy, int N, const wmat *w, int accumulate) {
    if (N <= 0) return;
#ifdef HAVE_BF16_KERNEL
    if (g->precision == TG_BF16 && bwd_x_bf16(g, dx, dy, N, w, accumulate)) return;
#endif
    int be = type_block(w->type, NULL);
    int nb = be > 64 ? be : 64;
    assert(nb * KC <= TG_SCRATCH_FLOATS);
    bx_job j = { g, dx, dy, w, N, cdiv(N, TOK_BLOCK), nb, accumulate };
    tp_run(g->tp, cdiv(w->cols, nb) * j.n_tb, bx_items, &j);
}

/* ---- backward to the weights: dW += dyᵀ·x ------------------------------------------------- */

typedef struct bw_job {
    float *dW;
    const float *dy, *x;
    int N, R, K, n_kb;
} bw_job;

static void bw_items(void *ctx, int begin, int end, int ith) {
    const bw_job *j = ctx;
    for (int it = begin; it < end; it++) {
        int r0 = (it / j->n_kb) * WG_ROWS, k0 = (it % j->n_kb) * WG_COLS;
        int nr = j->R - r0 < WG_ROWS ? j->R - r0 : WG_ROWS, nk = j->K - k0 < WG_COLS ? j->K - k0 : WG_COLS;
        /* A(i, t) = dy[t][r0 + i]: dy read through transposed strides */
        tg_gemm(nr, nk, j->N, j->dy + r0, 1, (size_t)j->R, j->x + k0, (size_t)j->K, j->dW + (size_t)r0 * j->K + k0,
                (size_t)j->K);
    }
}

void tg_linear_bwd_w(tg_ctx *g, float *dW, const float *dy, const float *x, int N, int R, int K) {
    if (N <= 0) return;
#ifdef HAVE_BF16_KERNEL
    if (g->precision == TG_BF16 && bwd_w_bf16(g, dW, dy, x, N, R, K)) return;
#endif
    bw_job j = { dW, dy, x, N, R, K, cdiv(K, WG_COLS) };
    tp_run(g->tp, cdiv(R, WG_ROWS) * j.n_kb, bw_items, &j);
}

/* ---- bias ----------------------------------------------------------------------------------- */

typedef struct bb_job {
    float *db;
    const float *dy;
    int N, R;
} bb_job;

static void bb_items(void *ctx, int begin, int end, int ith) {
    const bb_job *j = ctx;
    for (int it = begin; it < end; it++) {
        int r0 = it * 64, nr = j->R - r0 < 64 ? j->R - r0 : 64;
        float acc[64] = {0};
        for (int t = 0; t < j->N; t++) {
            const float *d = j->dy + (size_t)t * j->R + r0;
            for (int i = 0; i < nr; i++) acc[i] += d[i];
        }
        for (int i = 0; i < nr; i++) j->db[r0 + i] += acc[i];
    }
}

void tg_bias_bwd(tg_ctx *g, float *db, const float *dy, int N, int R) {
    if (N <= 0) return;
    bb_job j = { db, dy, N, R };
    tp_run(g->tp, cdiv(R, 64), bb_items, &j);
}

/*
** x16_kernel.c — one thread's time for kern_dot_act_x16 (the q8_0 16-row
** panel dots of batched decode) on a random q8_0 matrix of ROWS × 1536
** (the Qwen2.5-1.5B width), for T = 1, 2, 4 and 8 tokens: best of REPS
** passes over the whole matrix, and the weight bytes read per second. With
** a small ROWS the panels stay in cache and the figure is the kernel's
** arithmetic; with a large one it is bound by memory. Reports only.
**
**   x16_kernel ROWS REPS      (bench/x16_kernel.sh builds and runs it)
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "engine/gguf.h"
#include "engine/kernels.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 3 || atoi(argv[1]) < 16 || atoi(argv[1]) % 16 || atoi(argv[2]) < 1) {
        fprintf(stderr, "usage: x16_kernel ROWS(multiple of 16) REPS\n");
        return 2;
    }
    int rows = atoi(argv[1]), reps = atoi(argv[2]), n = 1536;
    const uint32_t type = GGML_TYPE_Q8_0;
    kernels_init(NULL);
    if (!kern_x16_ok(type, rows, n)) { printf("no 16-row panels on this CPU (VNNI path not selected)\n"); return 0; }
    size_t row_bytes = (size_t)n / 32 * 34, act_bytes = kern_act_bytes(type, n);
    uint8_t *w = malloc(row_bytes * rows), *panels = aligned_alloc(64, row_bytes * rows), *act = aligned_alloc(64, act_bytes * 8);
    float *x = malloc(sizeof *x * n), *out = malloc(sizeof *out * rows * 8);
    if (!w || !panels || !act || !x || !out) { fprintf(stderr, "out of memory\n"); return 1; }
    srand(1);
    for (int r = 0; r < rows; r++) {
        for (int i = 0; i < n; i++) x[i] = (float)rand() / RAND_MAX - 0.5f;
        kern_quantize_row(type, x, w + row_bytes * r, n);
    }
    kern_x16_pack(type, w, row_bytes, 0, rows / 16, n, panels);
    for (int t = 0; t < 8; t++) {
        for (int i = 0; i < n; i++) x[i] = (float)rand() / RAND_MAX - 0.5f;
        kern_act_quantize(type, x, n, act + act_bytes * t);
    }
    static const int TS[] = { 1, 2, 4, 8 };
    double check = 0;
    for (int k = 0; k < 4; k++) {
        int T = TS[k];
        double best = 1e30;
        for (int rep = 0; rep < reps; rep++) {
            double t0 = now_s();
            for (int g = 0; g < rows / 16; g++)
                kern_dot_act_x16(type, panels + (size_t)g * 16 * row_bytes, act, act_bytes, T, n, out + g * 16, rows);
            double dt = now_s() - t0;
            if (dt < best) best = dt;
        }
        check += out[rows - 1];
        printf("rows %d (%.1f MB)  tokens %d: %.3f ms  %.2f GB/s of weights\n", rows, row_bytes * rows / 1e6, T, best * 1e3,
               row_bytes * rows / best / 1e9);
    }
    printf("checksum %.6f\n", check);
    return 0;
}

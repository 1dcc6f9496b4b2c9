/*
** fuzz_safetensors.c — libFuzzer target for the safetensors parser: any
** byte string must parse or fail with a message; parsed tensors are read
** end to end so an out-of-bounds span would trip AddressSanitizer.
*/
#include <stdint.h>
#include <stdlib.h>

#include "engine/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sa_err err;
    st_file *f = st_open_memory(data, size, "fuzz.safetensors", &err);
    if (!f) return 0;
    volatile float sink = 0;
    for (int i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        uint64_t n = st_numel(t);
        if (n && (t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16))
            sink += st_get_f32(t, 0) + st_get_f32(t, n - 1);
    }
    (void)sink;
    st_close(f);
    return 0;
}

/*
** fuzz_gguf.c — libFuzzer target for the GGUF parser: any byte string must
** parse or fail with a message, never crash, hang or over-allocate. Parsed
** files are also walked the way the model loader walks them (typed getters,
** tensor lookups, tokenizer metadata).
*/
#include <stdint.h>
#include <stdlib.h>

#include "engine/gguf.h"
#include "engine/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sa_err err;
    gguf_file *g = gguf_open_memory(data, size, "fuzz.gguf", &err);
    if (!g) return 0;
    uint32_t u = 0;
    float f = 0;
    char *s = NULL;
    gguf_get_u32(g, "qwen2.block_count", 0, &u, &err);
    gguf_get_f32(g, "qwen2.rope.freq_base", 0, &f, &err);
    if (gguf_get_str(g, "general.architecture", 0, &s, &err) == 0) free(s);
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].type == GGUF_ARRAY && g->kv[i].arr_type != GGUF_STRING && gguf_vtype_size(g->kv[i].arr_type))
            for (uint64_t j = 0; j < g->kv[i].arr_n && j < 64; j++) (void)gguf_arr_int(&g->kv[i], j);
    volatile uint8_t sink = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        if (t->nbytes) sink ^= ((const uint8_t *)t->data)[0] ^ ((const uint8_t *)t->data)[t->nbytes - 1];
    }
    (void)sink;
    tokenizer *tok = tok_load_gguf(g, &err);
    if (tok) {
        int32_t *ids;
        size_t n;
        if (tok_encode(tok, "SELECT 1;", 9, &ids, &n, &err) == 0) free(ids);
        tok_free(tok);
    }
    gguf_close(g);
    return 0;
}

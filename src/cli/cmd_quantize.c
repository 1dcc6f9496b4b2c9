/*
** cmd_quantize.c — `sqlassist quantize IN.gguf OUT.gguf --type T`: rewrites
** a GGUF model with its weight matrices in another type, keeping every
** metadata key (tokenizer included), so llama.cpp and sqlassist both load
** the result. q4_K_M follows llama.cpp's mix: q6_K for the output head (the
** tied embedding when there is no separate head) and for attn_v/ffn_down in
** the layers llama.cpp's use_more_bits picks, q4_K elsewhere.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/gguf_write.h"
#include "engine/kernels.h"
#include "util/progress.h"
#include "cli_args.h"
#include "commands.h"

typedef struct qtype { const char *name; uint32_t type; int mix_k_m; uint32_t ftype; } qtype;

static const qtype QTYPES[] = {
    {"f32", GGML_TYPE_F32, 0, 0}, {"f16", GGML_TYPE_F16, 0, 1}, {"bf16", GGML_TYPE_BF16, 0, 32},
    {"q8_0", GGML_TYPE_Q8_0, 0, 7}, {"q4_0", GGML_TYPE_Q4_0, 0, 2}, {"q4_K", GGML_TYPE_Q4_K, 0, 14},
    {"q5_K", GGML_TYPE_Q5_K, 0, 16}, {"q6_K", GGML_TYPE_Q6_K, 0, 18}, {"q4_K_M", GGML_TYPE_Q4_K, 1, 15},
    {"q5_K_M", GGML_TYPE_Q5_K, 1, 17},
};

/* llama.cpp's rule for which layers get more bits in the _M mixes. */
static int use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

static int layer_of(const char *name) {
    int l;
    return sscanf(name, "blk.%d.", &l) == 1 ? l : -1;
}

static uint32_t pick_type(const qtype *q, const gguf_file *g, const gguf_tensor *t, int n_layer, int *i_attn_v) {
    if (t->n_dims != 2) return t->type;                        /* norms and biases stay as they are */
    uint32_t type = q->type;
    if (q->mix_k_m) {
        int has_output = gguf_find_tensor(g, "output.weight") != NULL;
        if (!strcmp(t->name, "output.weight") || (!has_output && !strcmp(t->name, "token_embd.weight")))
            type = GGML_TYPE_Q6_K;
        else if (strstr(t->name, "attn_v.weight")) {
            if (use_more_bits((*i_attn_v)++, n_layer)) type = GGML_TYPE_Q6_K;
        } else if (strstr(t->name, "ffn_down.weight")) {
            if (use_more_bits(layer_of(t->name), n_layer)) type = GGML_TYPE_Q6_K;
        }
    }
    uint32_t be;
    ggml_type_block(type, &be, NULL);
    if (t->ne[0] % be) type = t->ne[0] % 32 == 0 ? GGML_TYPE_Q8_0 : GGML_TYPE_F16;   /* llama.cpp falls back too */
    return type;
}

int cmd_quantize(int argc, char **argv) {
    const char *type_name = NULL;
    cli_opt opts[] = {
        {"--type", NULL, 1, &type_name, NULL, "f32, f16, bf16, q8_0, q4_0, q4_K, q5_K, q6_K, q4_K_M, q5_K_M (required)"},
        {NULL},
    };
    const char *pos[2];
    int n_pos;
    const char *usage = "sqlassist quantize IN.gguf OUT.gguf --type T";
    int r = cli_parse(argc, argv, opts, usage, "Writes a copy of a GGUF model with its weight matrices in another type.", pos, 2, &n_pos);
    if (r == CLI_HELP) return 0;
    if (r == CLI_ERROR) return 2;
    if (n_pos != 2 || !type_name) { fprintf(stderr, "sqlassist: IN, OUT and --type are required\nusage: %s\n", usage); return 2; }
    const qtype *q = NULL;
    for (size_t i = 0; i < sizeof QTYPES / sizeof QTYPES[0]; i++)
        if (!strcmp(QTYPES[i].name, type_name)) q = &QTYPES[i];
    if (!q) { fprintf(stderr, "sqlassist: --type '%s': unknown type\nusage: %s\n", type_name, usage); return 2; }
    if (!strcmp(pos[0], pos[1])) { fprintf(stderr, "sqlassist: IN and OUT must differ\n"); return 2; }
    kernels_init(NULL);
    sa_err err = {{0}};
    gguf_file *g = gguf_open(pos[0], &err);
    if (!g) { fprintf(stderr, "sqlassist: %s\n", err.msg); return 1; }
    uint32_t n_layer = 0;
    char *arch = NULL;
    if (gguf_get_str(g, "general.architecture", 1, &arch, &err) == 0) {
        char key[128];
        snprintf(key, sizeof key, "%s.block_count", arch);
        gguf_get_u32(g, key, 0, &n_layer, &err);
        free(arch);
    }
    gguf_writer *w = gw_new();
    for (uint64_t i = 0; i < g->n_kv; i++) gw_copy_kv(w, &g->kv[i]);
    gw_set_u32(w, "general.file_type", q->ftype);
    gw_set_u32(w, "general.quantization_version", 2);
    int rc = 0, i_attn_v = 0;
    uint64_t in_bytes = 0, out_bytes = 0;
    progress pr;
    progress_start(&pr, "quantize", (long)g->n_tensors);
    for (uint64_t i = 0; i < g->n_tensors && rc == 0; i++) {
        const gguf_tensor *t = &g->tensors[i];
        uint32_t type = pick_type(q, g, t, (int)n_layer, &i_attn_v);
        in_bytes += t->nbytes;
        if (type == t->type) {
            gw_tensor(w, t->name, (int)t->n_dims, t->ne, t->type, t->data);
            out_bytes += t->nbytes;
        } else {
            uint32_t be, bb;
            ggml_type_block(type, &be, &bb);
            uint64_t rows = 1;
            for (uint32_t d = 1; d < t->n_dims; d++) rows *= t->ne[d];
            size_t in_row = (size_t)(t->nbytes / rows), out_row = (size_t)(t->ne[0] / be * bb);
            uint8_t *dst = malloc(out_row * rows);
            float *tmp = malloc((size_t)t->ne[0] * sizeof *tmp);
            if (!dst || !tmp) { free(dst); free(tmp); fprintf(stderr, "sqlassist: out of memory\n"); rc = 1; break; }
            for (uint64_t rr = 0; rr < rows; rr++) {
                kern_dequant_row(t->type, (const uint8_t *)t->data + rr * in_row, tmp, (int)t->ne[0]);
                kern_quantize_row(type, tmp, dst + rr * out_row, (int)t->ne[0]);
            }
            free(tmp);
            gw_tensor_owned(w, t->name, (int)t->n_dims, t->ne, type, dst);
            out_bytes += out_row * rows;
        }
        progress_update(&pr, (long)i + 1);
    }
    progress_end(&pr);
    if (rc == 0 && gw_write(w, pos[1], &err)) { fprintf(stderr, "sqlassist: %s\n", err.msg); rc = 1; }
    if (rc == 0)
        fprintf(stderr, "wrote %s: %s, tensors %.1f MiB -> %.1f MiB\n", pos[1], q->name, in_bytes / 1048576.0, out_bytes / 1048576.0);
    gw_free(w);
    gguf_close(g);
    return rc;
}

/*
** model.c — Qwen2 weights and forward pass (see model.h).
**
** Loading builds the same `model` from either source: GGUF tensors are used
** in place from the mmap; safetensors tensors are used in place when their
** dtype is the one asked for and the data is aligned, converted otherwise.
** The forward pass follows Hugging Face's Qwen2 (and llama.cpp's NEOX rope):
**   x = embed[token]
**   per layer: h = x + Wo·attn(rope(Wq·n(x)+bq), rope(Wk·n(x)+bk), Wv·n(x)+bv)
**              x = h + Wdown·(silu(Wgate·n(h)) ⊙ Wup·n(h))
**   logits = Wout·n(x)
*/
#include "model.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "kernels.h"
#include "lora.h"
#include "quant.h"
#include "../util/clock.h"

/* ---- storage helpers ----------------------------------------------------- */

/* A buffer of `bytes` aligned to `align` (a power of two ≥ 64), freed by model_free. */
static void *own_aligned(model *m, size_t bytes, size_t align) {
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? 2 * m->cap_owned : 64;
        void **p = realloc(m->owned, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        m->owned = p;
        m->cap_owned = cap;
    }
    void *b = aligned_alloc(align, (bytes + align - 1) / align * align);
    if (b) m->owned[m->n_owned++] = b;
    return b;
}

static void *own(model *m, size_t bytes) { return own_aligned(m, bytes, 64); }

static size_t type_row_bytes(uint32_t type, int cols) {
    uint32_t be, bb;
    if (ggml_type_block(type, &be, &bb)) return 0;
    return (size_t)cols / be * bb;
}

static int matmul_type_ok(uint32_t t) {
    return t == GGML_TYPE_F32 || t == GGML_TYPE_F16 || t == GGML_TYPE_BF16 || t == GGML_TYPE_Q8_0 ||
           t == GGML_TYPE_Q4_0 || t == GGML_TYPE_Q4_K || t == GGML_TYPE_Q5_K || t == GGML_TYPE_Q6_K;
}

static int parse_dtype(const char *s, uint32_t *t) {
    if (!s) return -1;
    if (!strcmp(s, "f32")) *t = GGML_TYPE_F32;
    else if (!strcmp(s, "f16")) *t = GGML_TYPE_F16;
    else if (!strcmp(s, "bf16")) *t = GGML_TYPE_BF16;
    else if (!strcmp(s, "q8_0")) *t = GGML_TYPE_Q8_0;
    else if (!strcmp(s, "q4_0")) *t = GGML_TYPE_Q4_0;
    else if (!strcmp(s, "q4_K") || !strcmp(s, "q4_k")) *t = GGML_TYPE_Q4_K;
    else if (!strcmp(s, "q5_K") || !strcmp(s, "q5_k")) *t = GGML_TYPE_Q5_K;
    else if (!strcmp(s, "q6_K") || !strcmp(s, "q6_k")) *t = GGML_TYPE_Q6_K;
    else return -1;
    return 0;
}

/* Re-encodes w into `type` in an owned buffer (w->data is replaced). */
static int convert_mat(model *m, wmat *w, uint32_t type, const char *name, sa_err *err) {
    if (w->type == type) return 0;
    uint32_t be;
    ggml_type_block(type, &be, NULL);
    if (w->cols % (int)be)
        return sa_fail(err, "%s: tensor '%s': %d columns cannot be stored as %s (block size %u)", m->path, name,
                       w->cols, ggml_type_name(type), be);
    size_t rb = type_row_bytes(type, w->cols);
    uint8_t *dst = own(m, rb * (size_t)w->rows);
    float *tmp = malloc((size_t)w->cols * sizeof *tmp);
    if (!dst || !tmp) { free(tmp); return sa_fail(err, "out of memory converting '%s'", name); }
    for (int r = 0; r < w->rows; r++) {
        kern_dequant_row(w->type, (const uint8_t *)w->data + (size_t)r * w->row_bytes, tmp, w->cols);
        kern_quantize_row(type, tmp, dst + (size_t)r * rb, w->cols);
    }
    free(tmp);
    w->type = type;
    w->data = dst;
    w->row_bytes = rb;
    return 0;
}

/* ---- GGUF source --------------------------------------------------------- */

static int gguf_mat(model *m, const char *name, int rows, int cols, wmat *w, sa_err *err) {
    const gguf_tensor *t = gguf_find_tensor(m->gguf, name);
    if (!t) return sa_fail(err, "%s: missing tensor '%s'", m->path, name);
    if (t->n_dims != 2 || t->ne[0] != (uint64_t)cols || t->ne[1] != (uint64_t)rows)
        return sa_fail(err, "%s: tensor '%s': shape [%llu, %llu] (n_dims %u), expected [%d, %d] (ne0 = inputs)",
                       m->path, name, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], t->n_dims, cols, rows);
    if (!matmul_type_ok(t->type))
        return sa_fail(err, "%s: tensor '%s': unsupported tensor type %s", m->path, name, ggml_type_name(t->type));
    w->type = t->type;
    w->rows = rows;
    w->cols = cols;
    w->row_bytes = type_row_bytes(t->type, cols);
    w->data = t->data;
    return 0;
}

static int gguf_vec(model *m, const char *name, int n, const float **out, sa_err *err) {
    const gguf_tensor *t = gguf_find_tensor(m->gguf, name);
    if (!t) return sa_fail(err, "%s: missing tensor '%s'", m->path, name);
    if (t->n_dims != 1 || t->ne[0] != (uint64_t)n)
        return sa_fail(err, "%s: tensor '%s': shape [%llu] (n_dims %u), expected [%d]", m->path, name,
                       (unsigned long long)t->ne[0], t->n_dims, n);
    if (t->type == GGML_TYPE_F32) { *out = t->data; return 0; }
    if (t->type != GGML_TYPE_F16 && t->type != GGML_TYPE_BF16)
        return sa_fail(err, "%s: tensor '%s': unsupported type %s for a vector", m->path, name, ggml_type_name(t->type));
    float *v = own(m, (size_t)n * 4);
    if (!v) return sa_fail(err, "out of memory");
    kern_dequant_row(t->type, t->data, v, n);
    *out = v;
    return 0;
}

/* Reads a size key into *out, bounded to [1, max]; dflt when absent and optional. */
static int gguf_size(const gguf_file *g, const char *key, int required, int dflt, int max, int *out, sa_err *err) {
    uint64_t v = (uint64_t)dflt;
    if (gguf_get_u64(g, key, required, &v, err)) return -1;
    if (v < 1 || v > (uint64_t)max)
        return sa_fail(err, "%s: key '%s': %llu is out of range [1, %d]", g->path, key, (unsigned long long)v, max);
    *out = (int)v;
    return 0;
}

static int load_gguf(model *m, sa_err *err) {
    m->gguf = gguf_open(m->path, err);
    if (!m->gguf) return -1;
    gguf_file *g = m->gguf;
    char *arch = NULL;
    if (gguf_get_str(g, "general.architecture", 1, &arch, err)) return -1;
    int ok = strcmp(arch, "qwen2") == 0;
    if (!ok) sa_fail(err, "%s: key 'general.architecture': '%s' is not supported (expected 'qwen2')", m->path, arch);
    free(arch);
    if (!ok) return -1;
    qwen2_config *c = &m->cfg;
    if (gguf_size(g, "qwen2.embedding_length", 1, 0, 1 << 16, &c->n_embd, err) ||
        gguf_size(g, "qwen2.feed_forward_length", 1, 0, 1 << 18, &c->n_ff, err) ||
        gguf_size(g, "qwen2.block_count", 1, 0, 1024, &c->n_layer, err) ||
        gguf_size(g, "qwen2.attention.head_count", 1, 0, 1024, &c->n_head, err) ||
        gguf_size(g, "qwen2.attention.head_count_kv", 0, c->n_head, 1024, &c->n_head_kv, err) ||
        gguf_size(g, "qwen2.context_length", 0, 32768, 1 << 24, &c->n_ctx_train, err))
        return -1;
    c->rope_theta = 10000.0f;
    if (gguf_get_f32(g, "qwen2.rope.freq_base", 0, &c->rope_theta, err)) return -1;
    c->rms_eps = 1e-6f;
    if (gguf_get_f32(g, "qwen2.attention.layer_norm_rms_epsilon", 0, &c->rms_eps, err)) return -1;
    const gguf_tensor *emb = gguf_find_tensor(g, "token_embd.weight");
    if (!emb) return sa_fail(err, "%s: missing tensor 'token_embd.weight'", m->path);
    if (emb->n_dims != 2 || emb->ne[1] > (1u << 24))
        return sa_fail(err, "%s: tensor 'token_embd.weight': bad shape", m->path);
    c->n_vocab = (int)emb->ne[1];
    c->tied = gguf_find_tensor(g, "output.weight") == NULL;
    return 0;
}

/* ---- Hugging Face source ------------------------------------------------- */

static char *path_join(const char *dir, const char *file) {
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, file);
    return p;
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int json_int_field(json_t *root, const char *file, const char *key, int required, int *out, sa_err *err) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return required ? sa_fail(err, "%s: missing key '%s'", file, key) : 0;
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > (1 << 24))
        return sa_fail(err, "%s: key '%s': expected a positive integer", file, key);
    *out = (int)json_integer_value(v);
    return 0;
}

static int json_num_field(json_t *root, const char *file, const char *key, float *out, sa_err *err) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v) || !(json_number_value(v) > 0))
        return sa_fail(err, "%s: key '%s': expected a positive number", file, key);
    *out = (float)json_number_value(v);
    return 0;
}

static int load_hf_config(model *m, sa_err *err) {
    char *cfg_path = path_join(m->path, "config.json");
    json_error_t je;
    json_t *root = NULL;
    int rc = -1;
    if (!file_exists(cfg_path)) { sa_fail(err, "%s: no config.json: not a Hugging Face model directory", m->path); goto out; }
    root = json_load_file(cfg_path, 0, &je);
    if (!root) { sa_fail(err, "%s: %s (line %d, column %d)", cfg_path, je.text, je.line, je.column); goto out; }
    if (!json_is_object(root)) { sa_fail(err, "%s: not a JSON object", cfg_path); goto out; }
    json_t *mt = json_object_get(root, "model_type");
    if (!mt) { sa_fail(err, "%s: missing key 'model_type'", cfg_path); goto out; }
    if (!json_is_string(mt) || strcmp(json_string_value(mt), "qwen2") != 0) {
        sa_fail(err, "%s: key 'model_type': %s%s%s is not supported (expected \"qwen2\")", cfg_path,
                json_is_string(mt) ? "\"" : "", json_is_string(mt) ? json_string_value(mt) : "missing",
                json_is_string(mt) ? "\"" : "");
        goto out;
    }
    qwen2_config *c = &m->cfg;
    if (json_int_field(root, cfg_path, "hidden_size", 1, &c->n_embd, err) ||
        json_int_field(root, cfg_path, "intermediate_size", 1, &c->n_ff, err) ||
        json_int_field(root, cfg_path, "num_hidden_layers", 1, &c->n_layer, err) ||
        json_int_field(root, cfg_path, "num_attention_heads", 1, &c->n_head, err) ||
        json_int_field(root, cfg_path, "vocab_size", 1, &c->n_vocab, err))
        goto out;
    c->n_head_kv = c->n_head;
    c->n_ctx_train = 32768;
    c->rope_theta = 10000.0f;
    c->rms_eps = 1e-6f;
    if (json_int_field(root, cfg_path, "num_key_value_heads", 0, &c->n_head_kv, err) ||
        json_int_field(root, cfg_path, "max_position_embeddings", 0, &c->n_ctx_train, err) ||
        json_num_field(root, cfg_path, "rope_theta", &c->rope_theta, err) ||
        json_num_field(root, cfg_path, "rms_norm_eps", &c->rms_eps, err))
        goto out;
    json_t *tie = json_object_get(root, "tie_word_embeddings");
    c->tied = json_is_true(tie);
    rc = 0;
out:
    json_decref(root);
    free(cfg_path);
    return rc;
}

static int open_shards(model *m, sa_err *err) {
    char *single = path_join(m->path, "model.safetensors");
    char *index = path_join(m->path, "model.safetensors.index.json");
    int rc = -1;
    json_t *root = NULL;
    if (file_exists(single)) {
        m->shards = calloc(1, sizeof *m->shards);
        if (!m->shards || !(m->shards[0] = st_open(single, err))) goto out;
        m->n_shards = 1;
        rc = 0;
        goto out;
    }
    if (!file_exists(index)) {
        sa_fail(err, "%s: neither model.safetensors nor model.safetensors.index.json found", m->path);
        goto out;
    }
    json_error_t je;
    root = json_load_file(index, 0, &je);
    if (!root) { sa_fail(err, "%s: %s (line %d, column %d)", index, je.text, je.line, je.column); goto out; }
    json_t *wm = json_object_get(root, "weight_map");
    if (!json_is_object(wm)) { sa_fail(err, "%s: missing object 'weight_map'", index); goto out; }
    /* distinct file names, in first-seen order */
    const char *key;
    json_t *v;
    size_t cap = json_object_size(wm);
    const char **names = calloc(cap ? cap : 1, sizeof *names);
    int n = 0;
    json_object_foreach(wm, key, v) {
        if (!json_is_string(v)) { free(names); sa_fail(err, "%s: weight_map['%s'] is not a string", index, key); goto out; }
        const char *fn = json_string_value(v);
        if (!*fn || !strcmp(fn, ".") || !strcmp(fn, "..") || strchr(fn, '/')) { free(names); sa_fail(err, "%s: weight_map['%s']: shard name '%s' must be a plain file name", index, key, fn); goto out; }
        int seen = 0;
        for (int i = 0; i < n; i++) seen |= strcmp(names[i], fn) == 0;
        if (!seen) names[n++] = fn;
    }
    m->shards = calloc((size_t)(n ? n : 1), sizeof *m->shards);
    for (int i = 0; i < n; i++) {
        char *p = path_join(m->path, names[i]);
        m->shards[i] = st_open(p, err);
        free(p);
        if (!m->shards[i]) { free(names); goto out; }
        m->n_shards = i + 1;
    }
    free(names);
    rc = 0;
out:
    json_decref(root);
    free(single);
    free(index);
    return rc;
}

static const st_tensor *hf_find(model *m, const char *name) {
    for (int i = 0; i < m->n_shards; i++) {
        const st_tensor *t = st_find(m->shards[i], name);
        if (t) return t;
    }
    return NULL;
}

static const char *hf_file_of(model *m, const st_tensor *t) {
    for (int i = 0; i < m->n_shards; i++)
        if (t >= m->shards[i]->tensors && t < m->shards[i]->tensors + m->shards[i]->n_tensors) return m->shards[i]->path;
    return m->path;
}

static int st_type_to_ggml(int dt, uint32_t *t) {
    if (dt == ST_F32) *t = GGML_TYPE_F32;
    else if (dt == ST_F16) *t = GGML_TYPE_F16;
    else if (dt == ST_BF16) *t = GGML_TYPE_BF16;
    else return -1;
    return 0;
}

static int hf_mat(model *m, const char *name, int rows, int cols, wmat *w, sa_err *err) {
    const st_tensor *t = hf_find(m, name);
    if (!t) return sa_fail(err, "%s: missing tensor '%s'", m->path, name);
    if (t->n_dims != 2 || t->shape[0] != rows || t->shape[1] != cols)
        return sa_fail(err, "%s: tensor '%s': shape [%lld, %lld] (%d dims), expected [%d, %d]", hf_file_of(m, t), name,
                       (long long)t->shape[0], (long long)(t->n_dims > 1 ? t->shape[1] : 0), t->n_dims, rows, cols);
    uint32_t type;
    if (st_type_to_ggml(t->dtype, &type))
        return sa_fail(err, "%s: tensor '%s': unsupported dtype %s (F32, F16, BF16 are)", hf_file_of(m, t), name, t->dtype_name);
    w->type = type;
    w->rows = rows;
    w->cols = cols;
    w->row_bytes = type_row_bytes(type, cols);
    size_t align = type == GGML_TYPE_F32 ? 4 : 2;
    if ((uintptr_t)t->data % align == 0) { w->data = t->data; return 0; }
    void *copy = own(m, t->nbytes);
    if (!copy) return sa_fail(err, "out of memory");
    memcpy(copy, t->data, t->nbytes);
    w->data = copy;
    return 0;
}

static int hf_vec(model *m, const char *name, int n, const float **out, sa_err *err) {
    const st_tensor *t = hf_find(m, name);
    if (!t) return sa_fail(err, "%s: missing tensor '%s'", m->path, name);
    if (t->n_dims != 1 || t->shape[0] != n)
        return sa_fail(err, "%s: tensor '%s': shape [%lld] (%d dims), expected [%d]", hf_file_of(m, t), name,
                       (long long)(t->n_dims ? t->shape[0] : 0), t->n_dims, n);
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)
        return sa_fail(err, "%s: tensor '%s': unsupported dtype %s", hf_file_of(m, t), name, t->dtype_name);
    float *v = own(m, (size_t)n * 4);
    if (!v) return sa_fail(err, "out of memory");
    for (int i = 0; i < n; i++) v[i] = st_get_f32(t, (uint64_t)i);
    *out = v;
    return 0;
}

/* ---- common -------------------------------------------------------------- */

static int check_config(model *m, sa_err *err) {
    qwen2_config *c = &m->cfg;
    if (c->n_embd <= 0 || c->n_ff <= 0 || c->n_layer <= 0 || c->n_layer > 1024 || c->n_head <= 0 ||
        c->n_head_kv <= 0 || c->n_vocab <= 0)
        return sa_fail(err, "%s: model config has a zero or absurd size", m->path);
    if (c->n_embd % c->n_head)
        return sa_fail(err, "%s: hidden size %d is not a multiple of the head count %d", m->path, c->n_embd, c->n_head);
    if (c->n_head % c->n_head_kv)
        return sa_fail(err, "%s: head count %d is not a multiple of the KV head count %d", m->path, c->n_head, c->n_head_kv);
    c->head_dim = c->n_embd / c->n_head;
    if (c->head_dim % 2) return sa_fail(err, "%s: head dim %d is odd", m->path, c->head_dim);
    if (!(c->rms_eps > 0) || !(c->rms_eps < 1)) return sa_fail(err, "%s: rms norm epsilon %g is not in (0, 1)", m->path, c->rms_eps);
    if (!(c->rope_theta > 0) || !isfinite(c->rope_theta)) return sa_fail(err, "%s: rope theta %g is not a positive number", m->path, c->rope_theta);
    if (c->n_ctx_train <= 0 || c->n_ctx_train > (1 << 24))
        return sa_fail(err, "%s: context length %d is zero or absurd (key qwen2.context_length / max_position_embeddings)", m->path, c->n_ctx_train);
    if (c->n_embd > (1 << 16) || c->n_ff > (1 << 18) || c->n_head > 1024 || c->n_vocab > (1 << 22))
        return sa_fail(err, "%s: model dimensions are absurd (hidden %d, ffn %d, heads %d, vocab %d)", m->path, c->n_embd, c->n_ff, c->n_head, c->n_vocab);
    return 0;
}

typedef int (*mat_loader)(model *, const char *, int, int, wmat *, sa_err *);
typedef int (*vec_loader)(model *, const char *, int, const float **, sa_err *);

static int load_tensors(model *m, int hf, sa_err *err) {
    qwen2_config *c = &m->cfg;
    mat_loader mat = hf ? hf_mat : gguf_mat;
    vec_loader vec = hf ? hf_vec : gguf_vec;
    int C = c->n_embd, F = c->n_ff, KV = c->n_head_kv * c->head_dim, V = c->n_vocab;
    if (mat(m, hf ? "model.embed_tokens.weight" : "token_embd.weight", V, C, &m->tok_embd, err)) return -1;
    if (vec(m, hf ? "model.norm.weight" : "output_norm.weight", C, &m->out_norm, err)) return -1;
    if (c->tied) m->output = m->tok_embd;
    else if (mat(m, hf ? "lm_head.weight" : "output.weight", V, C, &m->output, err)) return -1;
    m->layers = calloc((size_t)c->n_layer, sizeof *m->layers);
    if (!m->layers) return sa_fail(err, "out of memory");
    char name[128];
    for (int l = 0; l < c->n_layer; l++) {
        qwen2_layer *L = &m->layers[l];
#define NM(hfname, gname) (snprintf(name, sizeof name, hf ? "model.layers.%d." hfname : "blk.%d." gname, l), name)
        if (vec(m, NM("input_layernorm.weight", "attn_norm.weight"), C, &L->attn_norm, err) ||
            mat(m, NM("self_attn.q_proj.weight", "attn_q.weight"), C, C, &L->wq, err) ||
            mat(m, NM("self_attn.k_proj.weight", "attn_k.weight"), KV, C, &L->wk, err) ||
            mat(m, NM("self_attn.v_proj.weight", "attn_v.weight"), KV, C, &L->wv, err) ||
            vec(m, NM("self_attn.q_proj.bias", "attn_q.bias"), C, &L->bq, err) ||
            vec(m, NM("self_attn.k_proj.bias", "attn_k.bias"), KV, &L->bk, err) ||
            vec(m, NM("self_attn.v_proj.bias", "attn_v.bias"), KV, &L->bv, err) ||
            mat(m, NM("self_attn.o_proj.weight", "attn_output.weight"), C, C, &L->wo, err) ||
            vec(m, NM("post_attention_layernorm.weight", "ffn_norm.weight"), C, &L->ffn_norm, err) ||
            mat(m, NM("mlp.gate_proj.weight", "ffn_gate.weight"), F, C, &L->w_gate, err) ||
            mat(m, NM("mlp.up_proj.weight", "ffn_up.weight"), F, C, &L->w_up, err) ||
            mat(m, NM("mlp.down_proj.weight", "ffn_down.weight"), C, F, &L->w_down, err))
            return -1;
#undef NM
    }
    return 0;
}

static int convert_all(model *m, uint32_t type, sa_err *err) {
    int tied_same = m->output.data == m->tok_embd.data;
    if (convert_mat(m, &m->tok_embd, type, "token_embd", err)) return -1;
    if (tied_same) m->output = m->tok_embd;
    else if (convert_mat(m, &m->output, type, "output", err)) return -1;
    for (int l = 0; l < m->cfg.n_layer; l++) {
        qwen2_layer *L = &m->layers[l];
        wmat *mats[] = { &L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down };
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
            char nm[64];
            snprintf(nm, sizeof nm, "layer %d matrix %zu", l, i);
            if (convert_mat(m, mats[i], type, nm, err)) return -1;
        }
    }
    return 0;
}

/* Products (and attention) of fewer multiply-adds than this run on the
** calling thread alone (tp_run_sized). The pool's idle worker sleeps between jobs, and
** waking it costs tens of microseconds, more than it saves on such a
** product: the bundled model (hidden 256) decoded 576 tokens/s with every
** product split over 2 threads and 1,100 with products under 2^20 kept on
** one (bench-model -n 64, 2 threads), while the Qwen2.5-1.5B shape, whose
** every product is larger, is unchanged. Rows are the same either way. */
#define PAR_MIN_MACS 1048576.0

/* Models with at least this many multiply-adds per token keep the pool's
** worker spinning through each forward pass (tp_hold) instead of letting it
** sleep between products: nearly every product of such a model is split,
** and on a virtual machine each wake-up of a halted core costs more than a
** small product. Decode of the Qwen2.5-1.5B shape (q8_0, 2 threads, the
** 2-core EPYC VM): README, "The pool held through each pass". Smaller models
** (the bundled one: ~10M) run most products on the calling thread, and a
** spinning worker would take the core their grammar masks use.
** $SQLASSIST_HOLD=1 or 0 overrides the choice. */
#define HOLD_POOL_MACS 1e8

/* ---- 16-row panels --------------------------------------------------------- */

typedef struct x16_job {
    const wmat *w;
    void *dst;
} x16_job;

static void x16_groups(void *ctx, int begin, int end, int ith) {
    const x16_job *j = ctx;
    kern_x16_pack(j->w->type, j->w->data, j->w->row_bytes, begin, end, j->w->cols, j->dst);
}

/* Whether w is repacked: weights read in place from the GGUF mapping only. */
static int x16_eligible(const model *m, const wmat *w) {
    const gguf_file *g = m->gguf;
    const uint8_t *d = w->data;
    size_t bytes = w->row_bytes * (size_t)w->rows;
    return g && g->mapped && kern_x16_ok(w->type, w->rows, w->cols) && d >= g->base && d + bytes <= g->base + g->size;
}

/* Repacks every product matrix the panel kernels serve (kernels.h,
** kern_x16_ok) and hands the mmapped original's pages back to the kernel,
** so the weights stay resident once: the products read only the panels,
** a tied head's token embeddings are read back from them (kern_x16_row),
** and the rare reader of data (an adapter merge) faults its rows in again
** from the file. Only weights read in place from a GGUF mapping are
** repacked: a converted or copied matrix would have to be kept twice. */
static int pack_x16(model *m, sa_err *err) {
    wmat **mats = malloc((1 + 7 * (size_t)m->cfg.n_layer) * sizeof *mats);
    if (!mats) return sa_fail(err, "out of memory");
    int n = 0;
    mats[n++] = &m->output;
    for (int l = 0; l < m->cfg.n_layer; l++) {
        qwen2_layer *L = &m->layers[l];
        wmat *lm[] = { &L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down };
        for (int i = 0; i < 7; i++) mats[n++] = lm[i];
    }
    size_t total = 0;
    for (int i = 0; i < n; i++)
        if (x16_eligible(m, mats[i])) total += mats[i]->row_bytes * (size_t)mats[i]->rows;   /* 16 rows: a multiple of 64 */
    if (!total) { free(mats); return 0; }
    /* one buffer in 2 MB pages where the kernel gives them: a fault per 2 MB
    ** rather than per 4 KB (the 1.5B shape's 1.5 GB took ~0.7 s more in 4 KB pages) */
    const size_t huge = (size_t)2 << 20, rounded = (total + huge - 1) / huge * huge;
    uint8_t *buf = own_aligned(m, rounded, huge);
    if (!buf) { free(mats); return sa_fail(err, "%s: out of memory repacking the weights (%zu bytes)", m->path, total); }
    if (!getenv("SQLASSIST_NO_THP")) madvise(buf, rounded, MADV_HUGEPAGE);
    for (int i = 0; i < n; i++) {
        wmat *w = mats[i];
        if (!x16_eligible(m, w)) continue;
        size_t bytes = w->row_bytes * (size_t)w->rows;
        x16_job j = { w, buf };
        tp_run_sized(m->tp, w->rows / 16, x16_groups, &j, (double)bytes, PAR_MIN_MACS);   /* bytes as work */
        w->x16 = buf;
        if (w == &m->output && m->tok_embd.data == w->data) m->tok_embd.x16 = buf;   /* tied: lookups read the panels */
        buf += bytes;
        /* the whole pages inside the matrix: nothing else lives there. A row read
        ** again later (a tied head's token embeddings) comes back in a 4 KB page,
        ** not the 2 MB of a file huge page (+160 MB resident in a server run) */
        uintptr_t a = ((uintptr_t)w->data + 4095) & ~(uintptr_t)4095, z = ((uintptr_t)w->data + bytes) & ~(uintptr_t)4095;
        if (z > a) {
            madvise((void *)a, z - a, MADV_NOHUGEPAGE);
            madvise((void *)a, z - a, MADV_DONTNEED);
        }
    }
    free(mats);
    return 0;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

model *model_load(const char *path, const model_opts *opts, sa_err *err) {
    double t0 = clock_now_s();
    model_opts dflt = {0};
    if (!opts) opts = &dflt;
    kernels_init(getenv("SQLASSIST_ISA"));
    uint32_t want_type = 0;
    if (opts->dtype && parse_dtype(opts->dtype, &want_type)) {
        sa_fail(err, "--dtype '%s': unknown type (f32, bf16, f16, q8_0, q4_0, q4_K, q5_K, q6_K)", opts->dtype);
        return NULL;
    }
    model *m = calloc(1, sizeof *m);
    if (!m) { sa_fail(err, "out of memory"); return NULL; }
    m->path = strdup(path);
    int hf = is_dir(path);
    snprintf(m->source, sizeof m->source, "%s", hf ? "hf" : "gguf");
    if (hf) {
        if (load_hf_config(m, err) || check_config(m, err) || open_shards(m, err) || load_tensors(m, 1, err))
            goto fail;
        m->tok = tok_load(path, err);
    } else {
        if (load_gguf(m, err) || check_config(m, err) || load_tensors(m, 0, err)) goto fail;
        m->tok = tok_load_gguf(m->gguf, err);
    }
    if (!m->tok) { sa_err_prefix(err, "tokenizer"); goto fail; }
    if (opts->dtype && convert_all(m, want_type, err)) goto fail;
    m->tp = tp_create(opts->n_threads > 0 ? opts->n_threads : tp_default_threads());
    if (!m->tp) { sa_fail(err, "cannot start threads"); goto fail; }
    m->gemm_scratch = calloc((size_t)tp_size(m->tp), sizeof *m->gemm_scratch);
    if (!m->gemm_scratch) { sa_fail(err, "out of memory"); goto fail; }
    for (int i = 0; i < tp_size(m->tp); i++)
        if (!(m->gemm_scratch[i] = own(m, KERN_GEMM_SCRATCH * sizeof(float)))) { sa_fail(err, "out of memory"); goto fail; }
    if (pack_x16(m, err)) goto fail;
    {
        const qwen2_config *c = &m->cfg;
        double kv = (double)c->n_head_kv * c->head_dim, C = c->n_embd;
        double per_layer = C * C * 2 + 2 * C * kv + 3 * C * c->n_ff;
        m->hold_pool = per_layer * c->n_layer + C * c->n_vocab >= HOLD_POOL_MACS;
        const char *hold = getenv("SQLASSIST_HOLD");      /* "1" / "0": always / never (A/B runs, tests) */
        if (hold && *hold) m->hold_pool = strcmp(hold, "0") != 0;
    }
    m->load_seconds = clock_now_s() - t0;
    return m;
fail:
    model_free(m);
    return NULL;
}

void model_free(model *m) {
    if (!m) return;
    tp_destroy(m->tp);
    free(m->gemm_scratch);
    if (m->tok) tok_free(m->tok);
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->layers);
    for (int i = 0; i < m->n_shards; i++) st_close(m->shards[i]);
    free(m->shards);
    gguf_close(m->gguf);
    free(m->path);
    free(m);
}

char *model_prompt_format(const model *m) {
    char *v = NULL;
    sa_err e = {{0}};
    if (!m->gguf || gguf_get_str(m->gguf, "sqlassist.prompt_format", 0, &v, &e)) return NULL;
    return v;
}

int model_schema_tokens(const model *m) {
    uint32_t v = 0;
    sa_err e = {{0}};
    if (!m->gguf || gguf_get_u32(m->gguf, "sqlassist.schema_tokens", 0, &v, &e) || v > (1u << 20)) return 0;
    return (int)v;
}

int model_schema_values(const model *m) {
    uint32_t v = 0;
    sa_err e = {{0}};
    if (!m->gguf || gguf_get_u32(m->gguf, "sqlassist.schema_values", 0, &v, &e)) return 0;
    return v != 0;
}

size_t model_weight_bytes(const model *m) {
    size_t b = m->tok_embd.row_bytes * (size_t)m->tok_embd.rows;
    if (m->output.data != m->tok_embd.data) b += m->output.row_bytes * (size_t)m->output.rows;
    for (int l = 0; l < m->cfg.n_layer; l++) {
        const qwen2_layer *L = &m->layers[l];
        const wmat *mats[] = { &L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down };
        for (size_t i = 0; i < 7; i++) b += mats[i]->row_bytes * (size_t)mats[i]->rows;
    }
    return b;
}

/* ---- inference state ----------------------------------------------------- */

#define MAX_BATCH 256

struct infer_state {
    const model *m;
    int n_ctx, n_past;
    float *k_cache, *v_cache;   /* [L][N][KV] */
    float *x;                   /* [T][C] residual stream */
    float *xn;                  /* [T][C] normed input */
    float *q;                   /* [T][C] */
    float *k, *v;               /* [T][KV] */
    float *att;                 /* [T][C] attention output (before Wo) */
    float *proj;                /* [T][C] */
    float *gate, *up;           /* [T][F] */
    float *scores;              /* [threads][n_head / n_head_kv][N] */
    float *rope_cs;             /* [T][D/2][2] rotary cos/sin of the chunk's positions */
    int n_threads;
    const lora_adapter *lora;   /* this sequence's adapter, or NULL */
    float lora_scale;
    int per_token;              /* model_forward_exact: every product on the one-token path */
};

void infer_set_lora(infer_state *s, const lora_adapter *a, float scale) {
    s->lora = a;
    s->lora_scale = scale;
}

infer_state *infer_new(const model *m, int n_ctx, sa_err *err) {
    const qwen2_config *c = &m->cfg;
    if (n_ctx <= 0) n_ctx = c->n_ctx_train < 4096 ? c->n_ctx_train : 4096;
    if (n_ctx > (1 << 20)) { sa_fail(err, "--ctx %d is too large", n_ctx); return NULL; }
    infer_state *s = calloc(1, sizeof *s);
    if (!s) { sa_fail(err, "out of memory"); return NULL; }
    s->m = m;
    s->n_ctx = n_ctx;
    s->n_threads = tp_size(m->tp);
    size_t KV = (size_t)c->n_head_kv * c->head_dim, C = (size_t)c->n_embd, F = (size_t)c->n_ff, T = MAX_BATCH;
    size_t cache = (size_t)c->n_layer * (size_t)n_ctx * KV;
    s->k_cache = malloc(cache * sizeof(float));
    s->v_cache = malloc(cache * sizeof(float));
    s->x = malloc(T * C * 4); s->xn = malloc(T * C * 4); s->q = malloc(T * C * 4);
    s->k = malloc(T * KV * 4); s->v = malloc(T * KV * 4);
    s->att = malloc(T * C * 4); s->proj = malloc(T * C * 4);
    s->gate = malloc(T * F * 4); s->up = malloc(T * F * 4);
    s->scores = malloc((size_t)s->n_threads * (size_t)(c->n_head / c->n_head_kv) * (size_t)n_ctx * 4);
    s->rope_cs = malloc(T * (size_t)c->head_dim * 4);
    if (!s->k_cache || !s->v_cache || !s->x || !s->xn || !s->q || !s->k || !s->v || !s->att || !s->proj ||
        !s->gate || !s->up || !s->scores || !s->rope_cs) {
        infer_free(s);
        sa_fail(err, "out of memory for a KV cache of %d positions", n_ctx);
        return NULL;
    }
    return s;
}

void infer_free(infer_state *s) {
    if (!s) return;
    free(s->k_cache); free(s->v_cache); free(s->x); free(s->xn); free(s->q); free(s->k); free(s->v);
    free(s->att); free(s->proj); free(s->gate); free(s->up); free(s->scores); free(s->rope_cs);
    free(s);
}

int infer_n_past(const infer_state *s) { return s->n_past; }
int infer_n_ctx(const infer_state *s) { return s->n_ctx; }

void infer_truncate(infer_state *s, int n) {
    assert(n >= 0 && n <= s->n_past);
    s->n_past = n;
}

void infer_copy_prefix(infer_state *dst, const infer_state *src, int n) {
    const qwen2_config *c = &src->m->cfg;
    assert(dst->m == src->m && n >= 0 && n <= src->n_ctx && n <= dst->n_ctx);   /* src->n_past may be moving */
    size_t KV = (size_t)c->n_head_kv * c->head_dim;
    for (int l = 0; l < c->n_layer; l++) {
        memcpy(dst->k_cache + (size_t)l * dst->n_ctx * KV, src->k_cache + (size_t)l * src->n_ctx * KV, (size_t)n * KV * sizeof(float));
        memcpy(dst->v_cache + (size_t)l * dst->n_ctx * KV, src->v_cache + (size_t)l * src->n_ctx * KV, (size_t)n * KV * sizeof(float));
    }
    dst->n_past = n;
}

/* ---- forward pieces ------------------------------------------------------ */

/* out[t] = x[t] / rms(x[t]) * w, for each of T rows of n. */
static void rmsnorm(float *out, const float *x, const float *w, int T, int n, float eps) {
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * n;
        float *o = out + (size_t)t * n;
        float ss = 0;
        for (int i = 0; i < n; i++) ss += xr[i] * xr[i];
        float inv = 1.0f / sqrtf(ss / (float)n + eps);
        for (int i = 0; i < n; i++) o[i] = w[i] * (xr[i] * inv);
    }
}

/* Whether w's products read its 16-row panels: made at load, and still
** served by the kernels selected now. */
static int has_x16(const wmat *w) { return w->x16 && kern_x16_ok(w->type, w->rows, w->cols); }

int model_rows_exact(const model *m) {
    if (!kern_has_gemm()) return 0;
    for (int l = 0; l < m->cfg.n_layer; l++) {
        const qwen2_layer *L = &m->layers[l];
        const wmat *ws[] = { &L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down };
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
            if (!has_x16(ws[i])) return 0;
    }
    return 1;
}

typedef struct matmul_job {
    const wmat *w;
    const float *x;      /* [T][cols] */
    float *out;          /* [T][rows] */
    const float *bias;   /* [rows] or NULL */
    int T;
    float **scratch;     /* per thread, KERN_GEMM_SCRATCH floats */
    const kern_gemm_act *xq;   /* x quantized once for the int8 GEMM, or NULL */
    const uint8_t *xa;   /* decode: x quantized once for kern_dot_act, T × xa_bytes, or NULL */
    size_t xa_bytes;
    int gemm;            /* set by matmul_n: this product takes the batched GEMM */
} matmul_job;

static void matmul_rows(void *ctx, int begin, int end, int ith) {
    const matmul_job *j = ctx;
    const wmat *w = j->w;
    if (j->gemm) {
        /* rows are handed out in blocks of KERN_GEMM_ROWS (see matmul) */
        int r0 = begin * KERN_GEMM_ROWS, r1 = end * KERN_GEMM_ROWS < w->rows ? end * KERN_GEMM_ROWS : w->rows;
        for (int t = 0; t < j->T; t++)
            for (int r = r0; r < r1; r++) j->out[(size_t)t * w->rows + r] = 0.0f;
        if (j->xq && has_x16(w)) kern_gemm_prepared_x16(w->type, w->x16, w->row_bytes, r0, r1, j->xq, j->out, w->rows, j->scratch[ith]);
        else if (j->xq) kern_gemm_prepared(w->type, w->data, w->row_bytes, r0, r1, j->xq, j->out, w->rows, j->scratch[ith]);
        else kern_gemm(w->type, w->data, w->row_bytes, r0, r1, w->cols, j->x, j->T, j->out, w->rows, j->scratch[ith]);
        /* the bias after the product, as the one-token paths add it: from
        ** panels each row is then bit for bit its one-token value
        ** (model_rows_exact) */
        if (j->bias)
            for (int t = 0; t < j->T; t++)
                for (int r = r0; r < r1; r++) j->out[(size_t)t * w->rows + r] += j->bias[r];
        return;
    }
    if (j->xa && has_x16(w)) {     /* items are 16-row groups (see matmul_n) */
        for (int g = begin; g < end; g++) {
            float *o = j->out + 16 * (size_t)g;
            kern_dot_act_x16(w->type, (const uint8_t *)w->x16 + (size_t)g * 16 * w->row_bytes, j->xa, j->xa_bytes, j->T, w->cols,
                             o, (size_t)w->rows);
            if (j->bias)
                for (int t = 0; t < j->T; t++)
                    for (int i = 0; i < 16; i++) o[(size_t)t * w->rows + i] += j->bias[16 * g + i];
        }
        return;
    }
    for (int r = begin; r < end; r++) {
        const void *row = (const uint8_t *)w->data + (size_t)r * w->row_bytes;
        float b = j->bias ? j->bias[r] : 0.0f;
        if (j->xa) {       /* all T tokens at once: the row is unpacked once per few tokens */
            kern_dot_act_n(w->type, row, j->xa, j->xa_bytes, j->T, w->cols, j->out + r, (size_t)w->rows);
            for (int t = 0; t < j->T; t++) j->out[(size_t)t * w->rows + r] += b;
            continue;
        }
        for (int t = 0; t < j->T; t++) j->out[(size_t)t * w->rows + r] = kern_dot(w->type, row, j->x + (size_t)t * w->cols, w->cols) + b;
    }
}

/* Several products dispatched as one pool job: item ranges are laid end to
** end (rows, or blocks of KERN_GEMM_ROWS rows on the GEMM path) so the
** threads split their sum. Products that read the same input (q/k/v,
** gate/up) go together: each dispatch wakes the pool, which costs more than
** the small K/V products themselves during decode. */
#define MAX_GROUP 4
typedef struct mm_group {
    const matmul_job *jobs;
    int n;
    int start[MAX_GROUP + 1];   /* item offsets of each product */
} mm_group;

static void group_rows(void *ctx, int begin, int end, int ith) {
    const mm_group *g = ctx;
    for (int k = 0; k < g->n; k++) {
        int b = begin > g->start[k] ? begin : g->start[k], e = end < g->start[k + 1] ? end : g->start[k + 1];
        if (b < e) matmul_rows((void *)&g->jobs[k], b - g->start[k], e - g->start[k], ith);
    }
}

/* Below this many tokens, products whose matrices are all 16-row panels
** take the panels' own multi-token dots rather than the VNNI GEMM, which
** first repacks every panel it reads: on the Qwen2.5-1.5B shape (q8_0, 2
** threads, Zen 5) a 4-token pass took 72-96 ms through the dots against
** 130-142 ms through the GEMM, 16 tokens 178-200 against 206-217, and 24
** were level. The two give the same bits (kern_dot_act_x16), so the choice
** is speed only. With AMX tiles the GEMM takes every T >= MODEL_GEMM_MIN_ROWS. */
#define X16_GEMM_MIN_ROWS 24

/* per_token: no GEMM whatever T is, so that each token's outputs are bit for
** bit those of a one-token product (see model_forward_exact). */
static void matmul_n(const model *m, matmul_job *jobs, int n, int per_token) {
    assert(n >= 1 && n <= MAX_GROUP);
    int all_x16 = 1;
    for (int k = 0; k < n; k++) all_x16 &= has_x16(jobs[k].w);
    int min_rows = all_x16 && jobs[0].T < X16_GEMM_MIN_ROWS && strcmp(kern_gemm_name(), "vnni") == 0 ? X16_GEMM_MIN_ROWS
                                                                                                      : MODEL_GEMM_MIN_ROWS;
    int gemm = !per_token && jobs[0].T >= min_rows && kern_has_gemm();
    void *xq[MAX_GROUP] = {0}, *xa[MAX_GROUP] = {0};
    mm_group g = { jobs, n, {0} };
    for (int k = 0; k < n; k++) {
        const wmat *w = jobs[k].w;
        jobs[k].scratch = m->gemm_scratch;
        jobs[k].xq = NULL;
        jobs[k].xa = NULL;
        jobs[k].gemm = gemm;
        if ((jobs[k].T < 4 || !gemm) && kern_dot_act_enabled() && (jobs[k].xa_bytes = kern_act_bytes(w->type, w->cols))) {
            /* decode (or any T without a GEMM: CPUs without AVX-512), quantized
            ** weights: x quantized once here for integer dot products, shared
            ** by the threads and by products of the same x */
            for (int p = 0; p < k && !jobs[k].xa; p++)
                if (jobs[p].xa && jobs[p].x == jobs[k].x && jobs[p].T == jobs[k].T && jobs[p].w->cols == w->cols &&
                    kern_act_format(jobs[p].w->type) == kern_act_format(w->type))
                    jobs[k].xa = jobs[p].xa;
            if (!jobs[k].xa && (xa[k] = aligned_alloc(64, jobs[k].xa_bytes * (size_t)jobs[k].T))) {
                for (int t = 0; t < jobs[k].T; t++)
                    kern_act_quantize(w->type, jobs[k].x + (size_t)t * w->cols, w->cols, (uint8_t *)xa[k] + (size_t)t * jobs[k].xa_bytes);
                jobs[k].xa = xa[k];
            }
        }
        if (gemm) {
            /* int8 GEMM: quantize x once here rather than in every thread */
            size_t bytes = kern_gemm_prepare_bytes(w->type, jobs[k].T, w->cols);
            xq[k] = bytes ? aligned_alloc(64, bytes) : NULL;
            if (xq[k]) jobs[k].xq = kern_gemm_prepare(w->type, jobs[k].x, jobs[k].T, w->cols, xq[k]);
        }
        g.start[k + 1] = g.start[k] + (gemm ? (w->rows + KERN_GEMM_ROWS - 1) / KERN_GEMM_ROWS
                                       : jobs[k].xa && has_x16(w) ? w->rows / 16 : w->rows);
    }
    double macs = 0;
    for (int k = 0; k < n; k++) macs += (double)jobs[k].w->rows * jobs[k].w->cols * jobs[k].T;
    tp_run_sized(m->tp, g.start[n], group_rows, &g, macs, PAR_MIN_MACS);
    for (int k = 0; k < n; k++) { free(xq[k]); free(xa[k]); }
}

/* out[T][rows] = x[T][cols] · Wᵀ (+ bias) */
static void matmul(const model *m, float *out, const float *x, const wmat *w, const float *bias, int T, int per_token) {
    matmul_job j = { w, x, out, bias, T, NULL, NULL, NULL, 0, 0 };
    matmul_n(m, &j, 1, per_token);
}

/* cs[T][D/2][2]: cos and sin of pos[t]·θ^(-2i/D) for the chunk's positions,
** computed once per chunk and shared by q and k of every layer. */
static void rope_table(float *cs, int T, const int *pos, int D, float theta) {
    int half = D / 2;
    for (int i = 0; i < half; i++) {
        float inv_freq = 1.0f / powf(theta, (float)(2 * i) / (float)D);
        for (int t = 0; t < T; t++) {
            float ang = (float)pos[t] * inv_freq;
            cs[((size_t)t * half + i) * 2] = cosf(ang);
            cs[((size_t)t * half + i) * 2 + 1] = sinf(ang);
        }
    }
}

/* Rotates pairs (i, i + D/2) of each head of vec[n_heads][D] by the angles
** of one position (cs[D/2][2] from rope_table): the rotate-half layout of
** Hugging Face's Qwen2 and llama.cpp's NEOX mode. */
static void rope(float *vec, int n_heads, int D, const float *cs) {
    int half = D / 2;
    for (int i = 0; i < half; i++) {
        float c = cs[2 * i], sn = cs[2 * i + 1];
        for (int h = 0; h < n_heads; h++) {
            float *p = vec + (size_t)h * D;
            float a = p[i], b = p[i + half];
            p[i] = a * c - b * sn;
            p[i + half] = b * c + a * sn;
        }
    }
}

/* Where each row of a chunk belongs: one sequence at consecutive positions
** (a prompt, a draft), or one row per sequence (a batched decode step). */
typedef struct chunk_rows {
    infer_state *const *seq;   /* [T] the sequence whose cache row t reads and extends */
    const int *pos;            /* [T] row t's position in that sequence */
} chunk_rows;

typedef struct attn_job {
    const model *m;
    infer_state *buf;          /* holds q and att of every row */
    chunk_rows rows;
    int layer, T;
} attn_job;

/* One (row, KV head) pair per item: causal softmax attention of the query
** heads that share that KV head over the row's own sequence's cache up to
** its position (kern_attn_group). */
static void attn_items(void *ctx, int begin, int end, int ith) {
    const attn_job *j = ctx;
    const qwen2_config *c = &j->m->cfg;
    int HKV = c->n_head_kv, D = c->head_dim, KV = c->n_head_kv * D, group = c->n_head / c->n_head_kv;
    float scale = 1.0f / sqrtf((float)D);
    for (int it = begin; it < end; it++) {
        int t = it / HKV, kvh = it % HKV, pos = j->rows.pos[t];
        const infer_state *s = j->rows.seq[t];
        const float *kc = s->k_cache + (size_t)j->layer * s->n_ctx * KV + (size_t)kvh * D;
        const float *vc = s->v_cache + (size_t)j->layer * s->n_ctx * KV + (size_t)kvh * D;
        float *sc = s->scores + (size_t)ith * group * s->n_ctx;
        size_t h0 = (size_t)t * c->n_embd + (size_t)kvh * group * D;
        kern_attn_group(j->buf->q + h0, group, kc, vc, (size_t)KV, pos + 1, D, scale, j->buf->att + h0, sc);
    }
}

/* out[t] += each row's own adapter delta for x[t] (rows without an adapter
** are left alone). Consecutive rows with the same adapter and scale go
** through lora_apply together. */
static void lora_rows(const model *m, chunk_rows rows, int T, int layer, int target, const float *x, int nx,
                      float *out, int nout) {
    for (int t0 = 0; t0 < T;) {
        const infer_state *s = rows.seq[t0];
        int t1 = t0 + 1;
        while (t1 < T && rows.seq[t1]->lora == s->lora && rows.seq[t1]->lora_scale == s->lora_scale) t1++;
        if (s->lora)
            lora_apply(s->lora, s->lora_scale, layer, target, x + (size_t)t0 * nx, out + (size_t)t0 * nout, t1 - t0, m->tp);
        t0 = t1;
    }
}

/* Runs one chunk of at most MAX_BATCH rows through every layer, with
** activations in buf's scratch; row t reads and extends the cache of
** rows.seq[t] at position rows.pos[t]. per_token: see matmul_n. */
static void forward_chunk(const model *m, infer_state *buf, const int32_t *tokens, int T, chunk_rows rows, int per_token) {
    const qwen2_config *c = &m->cfg;
    int C = c->n_embd, F = c->n_ff, D = c->head_dim, KV = c->n_head_kv * D;
    infer_state *s = buf;
    int any_lora = 0;
    for (int t = 0; t < T; t++) any_lora |= rows.seq[t]->lora != NULL;
    const wmat *E = &m->tok_embd;
    uint8_t *erow = E->x16 ? malloc(E->row_bytes) : NULL;   /* a tied head's panels: a row back in its own form */
    for (int t = 0; t < T; t++) {
        const uint8_t *row = (const uint8_t *)E->data + (size_t)tokens[t] * E->row_bytes;
        if (erow) {
            kern_x16_row(E->type, E->x16, E->row_bytes, tokens[t], C, erow);
            row = erow;
        }
        kern_dequant_row(E->type, row, s->x + (size_t)t * C, C);
    }
    free(erow);
    rope_table(s->rope_cs, T, rows.pos, D, c->rope_theta);
    for (int l = 0; l < c->n_layer; l++) {
        const qwen2_layer *L = &m->layers[l];
        rmsnorm(s->xn, s->x, L->attn_norm, T, C, c->rms_eps);
        matmul_job qkv[3] = { { &L->wq, s->xn, s->q, L->bq, T, NULL, NULL },
                              { &L->wk, s->xn, s->k, L->bk, T, NULL, NULL },
                              { &L->wv, s->xn, s->v, L->bv, T, NULL, NULL } };
        matmul_n(m, qkv, 3, per_token);
        if (any_lora) {
            lora_rows(m, rows, T, l, LORA_Q, s->xn, C, s->q, C);
            lora_rows(m, rows, T, l, LORA_K, s->xn, C, s->k, KV);
            lora_rows(m, rows, T, l, LORA_V, s->xn, C, s->v, KV);
        }
        for (int t = 0; t < T; t++) {
            infer_state *st = rows.seq[t];
            float *kc = st->k_cache + (size_t)l * st->n_ctx * KV, *vc = st->v_cache + (size_t)l * st->n_ctx * KV;
            rope(s->q + (size_t)t * C, c->n_head, D, s->rope_cs + (size_t)t * D);
            rope(s->k + (size_t)t * KV, c->n_head_kv, D, s->rope_cs + (size_t)t * D);
            memcpy(kc + (size_t)rows.pos[t] * KV, s->k + (size_t)t * KV, (size_t)KV * 4);
            memcpy(vc + (size_t)rows.pos[t] * KV, s->v + (size_t)t * KV, (size_t)KV * 4);
        }
        attn_job aj = { m, s, rows, l, T };
        double attn_macs = 0;   /* QKᵀ and the weighted sum of V: 2·(positions)·D per query head */
        for (int t = 0; t < T; t++) attn_macs += 2.0 * (rows.pos[t] + 1) * c->n_head * D;
        tp_run_sized(m->tp, T * c->n_head_kv, attn_items, &aj, attn_macs, PAR_MIN_MACS);
        matmul(m, s->proj, s->att, &L->wo, NULL, T, per_token);
        if (any_lora) lora_rows(m, rows, T, l, LORA_O, s->att, C, s->proj, C);
        for (size_t i = 0; i < (size_t)T * C; i++) s->x[i] += s->proj[i];

        rmsnorm(s->xn, s->x, L->ffn_norm, T, C, c->rms_eps);
        matmul_job gu[2] = { { &L->w_gate, s->xn, s->gate, NULL, T, NULL, NULL },
                             { &L->w_up, s->xn, s->up, NULL, T, NULL, NULL } };
        matmul_n(m, gu, 2, per_token);
        if (any_lora) {
            lora_rows(m, rows, T, l, LORA_GATE, s->xn, C, s->gate, F);
            lora_rows(m, rows, T, l, LORA_UP, s->xn, C, s->up, F);
        }
        for (size_t i = 0; i < (size_t)T * F; i++) {
            float g = s->gate[i];
            s->gate[i] = g / (1.0f + expf(-g)) * s->up[i];
        }
        matmul(m, s->proj, s->gate, &L->w_down, NULL, T, per_token);
        if (any_lora) lora_rows(m, rows, T, l, LORA_DOWN, s->gate, F, s->proj, C);
        for (size_t i = 0; i < (size_t)T * C; i++) s->x[i] += s->proj[i];
    }
}

/* Holds m's pool for one forward pass where that pays (hold_pool). */
static void pass_begin(const model *m) { if (m->hold_pool) tp_hold(m->tp, 1); }
static void pass_end(const model *m) { if (m->hold_pool) tp_hold(m->tp, 0); }

int model_forward(const model *m, infer_state *s, const int32_t *tokens, int T, int want, float *logits, sa_err *err) {
    const qwen2_config *c = &m->cfg;
    if (T <= 0) return sa_fail(err, "no tokens to process");
    if (s->n_past + T > s->n_ctx)
        return sa_fail(err, "context full: %d cached + %d new tokens exceed --ctx %d", s->n_past, T, s->n_ctx);
    for (int i = 0; i < T; i++)
        if (tokens[i] < 0 || tokens[i] >= c->n_vocab)
            return sa_fail(err, "token id %d at position %d is out of range [0, %d)", tokens[i], i, c->n_vocab);
    int C = c->n_embd;
    infer_state *seq[MAX_BATCH];
    int pos[MAX_BATCH];
    for (int t = 0; t < MAX_BATCH; t++) seq[t] = s;
    pass_begin(m);
    for (int done = 0; done < T;) {
        int n = T - done < MAX_BATCH ? T - done : MAX_BATCH;
        for (int t = 0; t < n; t++) pos[t] = s->n_past + t;
        forward_chunk(m, s, tokens + done, n, (chunk_rows){ seq, pos }, s->per_token);
        s->n_past += n;
        if (want == LOGITS_ALL) {
            rmsnorm(s->xn, s->x, m->out_norm, n, C, c->rms_eps);
            matmul(m, logits + (size_t)done * c->n_vocab, s->xn, &m->output, NULL, n, s->per_token);
        } else if (want == LOGITS_LAST && done + n == T) {
            rmsnorm(s->xn, s->x + (size_t)(n - 1) * C, m->out_norm, 1, C, c->rms_eps);
            matmul(m, logits, s->xn, &m->output, NULL, 1, s->per_token);
        }
        done += n;
    }
    pass_end(m);
    return 0;
}

int model_forward_exact(const model *m, infer_state *s, const int32_t *tokens, int T, float *logits, sa_err *err) {
    if (T > MAX_BATCH) return sa_fail(err, "%d tokens to verify at once (at most %d)", T, MAX_BATCH);
    s->per_token = 1;
    int rc = model_forward(m, s, tokens, T, LOGITS_ALL, logits, err);
    s->per_token = 0;
    return rc;
}

int model_forward_batch(const model *m, infer_state *const *states, const int32_t *tokens, int B, float *logits,
                        sa_err *err) {
    const qwen2_config *c = &m->cfg;
    if (B <= 0) return sa_fail(err, "no sequences to step");
    if (B > MAX_BATCH) return sa_fail(err, "%d sequences in one step (at most %d)", B, MAX_BATCH);
    int pos[MAX_BATCH];
    for (int b = 0; b < B; b++) {
        if (states[b]->m != m) return sa_fail(err, "sequence %d belongs to another model", b);
        for (int k = 0; k < b; k++)
            if (states[k] == states[b]) return sa_fail(err, "sequences %d and %d are the same state", k, b);
        if (states[b]->n_past + 1 > states[b]->n_ctx)
            return sa_fail(err, "sequence %d: context full (%d cached, --ctx %d)", b, states[b]->n_past, states[b]->n_ctx);
        if (tokens[b] < 0 || tokens[b] >= c->n_vocab)
            return sa_fail(err, "sequence %d: token id %d is out of range [0, %d)", b, tokens[b], c->n_vocab);
        pos[b] = states[b]->n_past;
    }
    infer_state *buf = states[0];
    pass_begin(m);
    forward_chunk(m, buf, tokens, B, (chunk_rows){ states, pos }, 1);
    for (int b = 0; b < B; b++) states[b]->n_past++;
    rmsnorm(buf->xn, buf->x, m->out_norm, B, c->n_embd, c->rms_eps);
    matmul(m, logits, buf->xn, &m->output, NULL, B, 1);
    pass_end(m);
    return 0;
}

int model_forward_prompts(const model *m, infer_state *const *states, const int32_t *const *tokens, const int *T,
                          const int *want, int n, float *const *logits, sa_err *err) {
    const qwen2_config *c = &m->cfg;
    if (n <= 0) return sa_fail(err, "no sequences to run");
    int total = 0, n_want = 0, exact = model_rows_exact(m);
    for (int i = 0; i < n; i++) {
        if (states[i]->m != m) return sa_fail(err, "sequence %d belongs to another model", i);
        for (int k = 0; k < i; k++)
            if (states[k] == states[i]) return sa_fail(err, "sequences %d and %d are the same state", k, i);
        if (T[i] < (exact ? 1 : MODEL_GEMM_MIN_ROWS))
            return sa_fail(err, "sequence %d: %d tokens (at least %d)", i, T[i], exact ? 1 : MODEL_GEMM_MIN_ROWS);
        if (want[i] != LOGITS_NONE && want[i] != LOGITS_LAST) return sa_fail(err, "sequence %d: logits of every token", i);
        if (states[i]->per_token) return sa_fail(err, "sequence %d: verifying drafts", i);
        if (states[i]->n_past + T[i] > states[i]->n_ctx)
            return sa_fail(err, "sequence %d: context full: %d cached + %d new tokens exceed --ctx %d", i, states[i]->n_past, T[i],
                           states[i]->n_ctx);
        for (int t = 0; t < T[i]; t++)
            if (tokens[i][t] < 0 || tokens[i][t] >= c->n_vocab)
                return sa_fail(err, "sequence %d: token id %d at position %d is out of range [0, %d)", i, tokens[i][t], t, c->n_vocab);
        total += T[i];
        n_want += want[i] == LOGITS_LAST;
    }
    if (total > MAX_BATCH) return sa_fail(err, "%d prompt tokens in one pass (at most %d)", total, MAX_BATCH);
    infer_state *seq[MAX_BATCH];   /* row r: its sequence and position */
    int pos[MAX_BATCH];
    int32_t ids[MAX_BATCH];
    for (int i = 0, r = 0; i < n; i++)
        for (int t = 0; t < T[i]; t++, r++) {
            seq[r] = states[i];
            pos[r] = states[i]->n_past + t;
            ids[r] = tokens[i][t];
        }
    float *lg = n_want ? malloc((size_t)n_want * c->n_vocab * sizeof *lg) : NULL;   /* [n_want][V] */
    if (n_want && !lg) return sa_fail(err, "out of memory for %d rows of logits", n_want);
    infer_state *buf = states[0];
    int C = c->n_embd;
    pass_begin(m);
    forward_chunk(m, buf, ids, total, (chunk_rows){ seq, pos }, 0);
    /* The last rows of those wanting logits, normed into consecutive rows of
    ** xn: the head takes the one-token products (per_token), as a one-row
    ** model_forward does. */
    for (int i = 0, r = 0, k = 0; i < n; r += T[i], i++) {
        states[i]->n_past += T[i];
        if (want[i] == LOGITS_LAST)
            rmsnorm(buf->xn + (size_t)k++ * C, buf->x + (size_t)(r + T[i] - 1) * C, m->out_norm, 1, C, c->rms_eps);
    }
    if (n_want) {
        matmul(m, lg, buf->xn, &m->output, NULL, n_want, 1);
        for (int i = 0, k = 0; i < n; i++)
            if (want[i] == LOGITS_LAST) memcpy(logits[i], lg + (size_t)k++ * c->n_vocab, (size_t)c->n_vocab * sizeof *lg);
    }
    pass_end(m);
    free(lg);
    return 0;
}

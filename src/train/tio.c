/*
** tio.c — safetensors writing, the vocabulary of a from-scratch model,
** and the PEFT / GGUF exports (see tio.h).
*/
#include "tio.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../engine/gguf.h"
#include "../engine/kernels.h"
#include "../util/hash.h"

char *tio_join(const char *dir, const char *file) {
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, file);
    return p;
}

int tio_mkdirs(const char *path, sa_err *err) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return sa_fail(err, "%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return sa_fail(err, "%s: cannot create directory: %s", buf, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return sa_fail(err, "%s: not a directory", path);
    return 0;
}

/* Writes to path.tmp, then renames (a reader never sees half a file). */
static FILE *open_tmp(const char *path, char **tmp, sa_err *err) {
    size_t n = strlen(path) + 5;
    *tmp = malloc(n);
    if (!*tmp) { sa_fail(err, "out of memory"); return NULL; }
    snprintf(*tmp, n, "%s.tmp", path);
    FILE *f = fopen(*tmp, "wb");
    if (!f) { sa_fail(err, "%s: cannot write: %s", *tmp, strerror(errno)); free(*tmp); *tmp = NULL; }
    return f;
}

static int close_tmp(FILE *f, char *tmp, const char *path, int ok, sa_err *err) {
    int rc = 0;
    if (fflush(f) != 0 || ferror(f)) ok = 0;
    if (fclose(f) != 0) ok = 0;
    if (!ok) { rc = sa_fail(err, "%s: write failed: %s", tmp, strerror(errno)); remove(tmp); }
    else if (rename(tmp, path) != 0) { rc = sa_fail(err, "%s: cannot rename into place: %s", path, strerror(errno)); remove(tmp); }
    free(tmp);
    return rc;
}

/* ---- safetensors ------------------------------------------------------------------ */

static size_t dtype_size(const char *dt) { return !strcmp(dt, "U8") ? 1 : 4; }

int st_save(const char *path, const st_entry *e, int n, sa_err *err) {
    json_t *h = json_object();
    json_t *meta = json_object();
    json_object_set_new(meta, "format", json_string("pt"));
    json_object_set_new(h, "__metadata__", meta);
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        uint64_t nb = dtype_size(e[i].dtype);
        json_t *shape = json_array();
        for (int d = 0; d < e[i].n_dims; d++) {
            nb *= (uint64_t)e[i].shape[d];
            json_array_append_new(shape, json_integer(e[i].shape[d]));
        }
        json_t *t = json_object();
        json_object_set_new(t, "dtype", json_string(e[i].dtype));
        json_object_set_new(t, "shape", shape);
        json_t *offs = json_array();
        json_array_append_new(offs, json_integer((json_int_t)off));
        json_array_append_new(offs, json_integer((json_int_t)(off + nb)));
        json_object_set_new(t, "data_offsets", offs);
        json_object_set_new(h, e[i].name, t);
        off += nb;
    }
    char *hs = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(h);
    if (!hs) return sa_fail(err, "out of memory");
    size_t hl = strlen(hs), padded = (hl + 7) / 8 * 8;
    char *tmp;
    FILE *f = open_tmp(path, &tmp, err);
    if (!f) { free(hs); return -1; }
    uint64_t hlen = padded;
    int ok = fwrite(&hlen, 8, 1, f) == 1 && fwrite(hs, 1, hl, f) == hl;
    for (size_t i = hl; i < padded && ok; i++) ok = fputc(' ', f) != EOF;
    free(hs);
    for (int i = 0; i < n && ok; i++) {
        size_t nb = dtype_size(e[i].dtype);
        for (int d = 0; d < e[i].n_dims; d++) nb *= (size_t)e[i].shape[d];
        ok = nb == 0 || fwrite(e[i].data, 1, nb, f) == nb;
    }
    return close_tmp(f, tmp, path, ok, err);
}

/* ---- vocabulary ----------------------------------------------------------------------- */

enum { TT_NORMAL = 1, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5 };

/* A string → int map (open addressing), for token lookups while pruning. */
typedef struct smap {
    const char **keys;
    int *vals;
    size_t cap;
} smap;

static int smap_init(smap *m, size_t n) {
    m->cap = 16;
    while (m->cap < 2 * n + 16) m->cap *= 2;
    m->keys = calloc(m->cap, sizeof *m->keys);
    m->vals = calloc(m->cap, sizeof *m->vals);
    return m->keys && m->vals ? 0 : -1;
}

static void smap_put(smap *m, const char *k, int v) {
    size_t i = hash_bytes(0, k, strlen(k)) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], k)) i = (i + 1) & (m->cap - 1);
    m->keys[i] = k;
    m->vals[i] = v;
}

static int smap_get(const smap *m, const char *k) {
    size_t i = hash_bytes(0, k, strlen(k)) & (m->cap - 1);
    while (m->keys[i]) {
        if (!strcmp(m->keys[i], k)) return m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

static void smap_free(smap *m) {
    free(m->keys);
    free(m->vals);
}

void tvocab_free(tvocab *v) {
    if (v->tokens)
        for (int i = 0; i < v->n; i++) free(v->tokens[i]);
    if (v->merges)
        for (int i = 0; i < v->n_merges; i++) free(v->merges[i]);
    free(v->tokens);
    free(v->types);
    free(v->merges);
    memset(v, 0, sizeof *v);
}

static char *dup_n(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) { memcpy(p, s, n); p[n] = 0; }
    return p;
}

static int from_gguf(tvocab *v, const char *path, sa_err *err) {
    gguf_file *g = gguf_open(path, err);
    if (!g) return -1;
    int rc = -1;
    const gguf_kv *tk = gguf_get(g, "tokenizer.ggml.tokens"), *ty = gguf_get(g, "tokenizer.ggml.token_type"),
                  *mg = gguf_get(g, "tokenizer.ggml.merges"), *md = gguf_get(g, "tokenizer.ggml.model");
    if (!md || md->type != GGUF_STRING || md->str.len != 4 || memcmp(md->str.ptr, "gpt2", 4)) {
        sa_fail(err, "%s: key 'tokenizer.ggml.model' must be \"gpt2\" (byte-level BPE)", path);
        goto out;
    }
    if (!tk || tk->type != GGUF_ARRAY || tk->arr_type != GGUF_STRING || !ty || ty->type != GGUF_ARRAY ||
        ty->arr_n != tk->arr_n || !mg || mg->type != GGUF_ARRAY || mg->arr_type != GGUF_STRING) {
        sa_fail(err, "%s: needs the arrays tokenizer.ggml.tokens, token_type (as many entries) and merges", path);
        goto out;
    }
    if (tk->arr_n == 0 || tk->arr_n > (1u << 22)) { sa_fail(err, "%s: tokenizer.ggml.tokens has %llu entries", path, (unsigned long long)tk->arr_n); goto out; }
    v->n = (int)tk->arr_n;
    v->n_merges = (int)mg->arr_n;
    v->tokens = calloc((size_t)v->n, sizeof *v->tokens);
    v->types = calloc((size_t)v->n, sizeof *v->types);
    v->merges = calloc((size_t)(v->n_merges ? v->n_merges : 1), sizeof *v->merges);
    if (!v->tokens || !v->types || !v->merges) { sa_fail(err, "out of memory"); goto out; }
    for (int i = 0; i < v->n; i++) {
        if (!(v->tokens[i] = dup_n(tk->arr_str[i].ptr, (size_t)tk->arr_str[i].len))) { sa_fail(err, "out of memory"); goto out; }
        v->types[i] = (int32_t)gguf_arr_int(ty, (uint64_t)i);
    }
    for (int i = 0; i < v->n_merges; i++)
        if (!(v->merges[i] = dup_n(mg->arr_str[i].ptr, (size_t)mg->arr_str[i].len))) { sa_fail(err, "out of memory"); goto out; }
    rc = 0;
out:
    gguf_close(g);
    return rc;
}

static int from_json(tvocab *v, const char *path, sa_err *err) {
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    int rc = -1;
    if (!root) return sa_fail(err, "%s: %s (line %d, column %d)", path, je.text, je.line, je.column);
    json_t *jm = json_object_get(root, "model"), *vocab = json_object_get(jm, "vocab"),
           *merges = json_object_get(jm, "merges"), *added = json_object_get(root, "added_tokens");
    const char *key;
    json_t *val;
    size_t i;
    if (!json_is_object(vocab) || !json_is_array(merges)) {
        sa_fail(err, "%s: needs model.vocab (an object) and model.merges (an array)", path);
        goto out;
    }
    json_int_t max_id = -1;
    json_object_foreach(vocab, key, val) {
        if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) >= (1 << 22)) {
            sa_fail(err, "%s: model.vocab['%s'] is not a valid id", path, key);
            goto out;
        }
        if (json_integer_value(val) > max_id) max_id = json_integer_value(val);
    }
    json_array_foreach(added, i, val) {
        json_t *id = json_object_get(val, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= (1 << 22) ||
            !json_is_string(json_object_get(val, "content"))) {
            sa_fail(err, "%s: added_tokens[%zu] needs an id and a content", path, i);
            goto out;
        }
        if (json_integer_value(id) > max_id) max_id = json_integer_value(id);
    }
    if (max_id < 0) { sa_fail(err, "%s: empty vocabulary", path); goto out; }
    v->n = (int)max_id + 1;
    v->tokens = calloc((size_t)v->n, sizeof *v->tokens);
    v->types = calloc((size_t)v->n, sizeof *v->types);
    v->n_merges = (int)json_array_size(merges);
    v->merges = calloc((size_t)(v->n_merges ? v->n_merges : 1), sizeof *v->merges);
    if (!v->tokens || !v->types || !v->merges) { sa_fail(err, "out of memory"); goto out; }
    json_object_foreach(vocab, key, val) {
        int id = (int)json_integer_value(val);
        free(v->tokens[id]);
        v->tokens[id] = strdup(key);
        v->types[id] = TT_NORMAL;
    }
    json_array_foreach(added, i, val) {
        int id = (int)json_integer_value(json_object_get(val, "id"));
        const char *s = json_string_value(json_object_get(val, "content"));
        size_t n = strlen(s);
        int looks_special = n >= 4 && !strncmp(s, "<|", 2) && !strcmp(s + n - 2, "|>");
        free(v->tokens[id]);
        v->tokens[id] = strdup(s);
        v->types[id] = json_is_true(json_object_get(val, "special")) || looks_special ? TT_CONTROL : TT_USER;
    }
    for (int id = 0; id < v->n; id++) {
        if (v->tokens[id]) continue;
        char pad[32];
        snprintf(pad, sizeof pad, "[PAD%d]", id);
        v->tokens[id] = strdup(pad);
        v->types[id] = TT_UNUSED;
    }
    json_array_foreach(merges, i, val) {
        if (json_is_string(val)) v->merges[i] = strdup(json_string_value(val));
        else if (json_is_array(val) && json_array_size(val) == 2 && json_is_string(json_array_get(val, 0)) &&
                 json_is_string(json_array_get(val, 1))) {
            const char *a = json_string_value(json_array_get(val, 0)), *b = json_string_value(json_array_get(val, 1));
            size_t n = strlen(a) + strlen(b) + 2;
            if ((v->merges[i] = malloc(n))) snprintf(v->merges[i], n, "%s %s", a, b);
        } else {
            sa_fail(err, "%s: model.merges[%zu] is neither \"a b\" nor [a, b]", path, i);
            goto out;
        }
    }
    for (int id = 0; id < v->n; id++)
        if (!v->tokens[id]) { sa_fail(err, "out of memory"); goto out; }
    for (int k = 0; k < v->n_merges; k++)
        if (!v->merges[k]) { sa_fail(err, "out of memory"); goto out; }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* Keeps the first `limit` regular tokens, the added tokens after them and
** the merges that stay inside the kept set. */
static int prune(tvocab *v, const char *path, int limit, sa_err *err) {
    for (int i = 0; i < limit; i++)
        if (v->types[i] != TT_NORMAL)
            return sa_fail(err, "%s: --vocab %d: id %d ('%s') is not a regular token; the first %d ids must all be", path,
                           limit, i, v->tokens[i], limit);
    int n_new = limit;
    for (int i = limit; i < v->n; i++) n_new += v->types[i] == TT_CONTROL || v->types[i] == TT_USER;
    char **tok = calloc((size_t)n_new, sizeof *tok);
    int32_t *ty = calloc((size_t)n_new, sizeof *ty);
    if (!tok || !ty) { free(tok); free(ty); return sa_fail(err, "out of memory"); }
    int k = 0;
    for (int i = 0; i < v->n; i++) {
        int keep = i < limit || v->types[i] == TT_CONTROL || v->types[i] == TT_USER;
        if (keep) { tok[k] = v->tokens[i]; ty[k] = v->types[i]; k++; }
        else free(v->tokens[i]);
    }
    free(v->tokens);
    free(v->types);
    v->tokens = tok;
    v->types = ty;
    v->n = n_new;
    smap sm;
    if (smap_init(&sm, (size_t)limit)) { smap_free(&sm); return sa_fail(err, "out of memory"); }
    for (int i = 0; i < limit; i++) smap_put(&sm, v->tokens[i], i);
    int kept = 0;
    char buf[1024];
    for (int i = 0; i < v->n_merges; i++) {
        const char *sp = strchr(v->merges[i], ' ');
        int ok = 0;
        if (sp && strlen(v->merges[i]) < sizeof buf) {
            size_t la = (size_t)(sp - v->merges[i]);
            memcpy(buf, v->merges[i], la);
            buf[la] = 0;
            int ia = smap_get(&sm, buf), ib = smap_get(&sm, sp + 1);
            snprintf(buf + la, sizeof buf - la, "%s", sp + 1);
            ok = ia >= 0 && ib >= 0 && smap_get(&sm, buf) >= 0;
        }
        if (ok) v->merges[kept++] = v->merges[i];
        else free(v->merges[i]);
    }
    v->n_merges = kept;
    /* byte-level BPE must be able to spell every byte */
    int missing = -1;
    for (int c = 0; c < 256 && missing < 0; c++) {
        /* GPT-2's byte → printable code point map */
        int cp = c;
        if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255))) {
            int n = 0;
            for (int b = 0; b < c; b++) n += !((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255));
            cp = 256 + n;
        }
        char u[4];
        if (cp < 0x80) { u[0] = (char)cp; u[1] = 0; }
        else { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); u[2] = 0; }
        if (smap_get(&sm, u) < 0) missing = c;
    }
    smap_free(&sm);
    if (missing >= 0)
        return sa_fail(err, "%s: --vocab %d leaves out the token for byte 0x%02x; byte-level BPE needs all 256", path,
                       limit, missing);
    return 0;
}

int tvocab_load(tvocab *v, const char *path, int limit, sa_err *err) {
    memset(v, 0, sizeof *v);
    struct stat st;
    if (stat(path, &st) != 0) return sa_fail(err, "%s: no such file or directory", path);
    int rc;
    if (S_ISDIR(st.st_mode)) {
        char *tj = tio_join(path, "tokenizer.json");
        rc = tj ? from_json(v, tj, err) : sa_fail(err, "out of memory");
        free(tj);
    } else {
        FILE *f = fopen(path, "rb");
        char mg[4] = {0};
        int is_gguf = f && fread(mg, 1, 4, f) == 4 && !memcmp(mg, "GGUF", 4);
        if (f) fclose(f);
        rc = is_gguf ? from_gguf(v, path, err) : from_json(v, path, err);
    }
    if (rc == 0 && limit > 0) {
        int regular = 0;
        for (int i = 0; i < v->n; i++) regular += v->types[i] == TT_NORMAL;
        if (limit < 256) rc = sa_fail(err, "--vocab %d: byte-level BPE needs at least 256 regular tokens", limit);
        else if (limit < regular) rc = prune(v, path, limit, err);
    }
    if (rc == 0) {
        v->end_id = -1;
        for (int i = 0; i < v->n; i++)
            if (!strcmp(v->tokens[i], "<|endoftext|>")) v->end_id = i;
        if (v->end_id < 0) rc = sa_fail(err, "%s: the vocabulary has no <|endoftext|> token (training appends it to every answer)", path);
    }
    if (rc) tvocab_free(v);
    return rc;
}

void tvocab_set_kvs(const tvocab *v, gguf_writer *w) {
    gw_set_str(w, "tokenizer.ggml.model", "gpt2");
    gw_set_str(w, "tokenizer.ggml.pre", "qwen2");
    gw_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->tokens, (size_t)v->n);
    gw_set_arr_i32(w, "tokenizer.ggml.token_type", v->types, (size_t)v->n);
    gw_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)v->merges, (size_t)v->n_merges);
    gw_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)v->end_id);
    gw_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)v->end_id);
    gw_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)v->end_id);
    gw_set_bool(w, "tokenizer.ggml.add_bos_token", 0);
}

int tvocab_write_gguf(const tvocab *v, const char *path, sa_err *err) {
    gguf_writer *w = gw_new();
    if (!w) return sa_fail(err, "out of memory");
    gw_set_str(w, "general.type", "tokenizer");
    tvocab_set_kvs(v, w);
    int rc = gw_write(w, path, err);
    gw_free(w);
    return rc;
}

/* ---- PEFT adapter ------------------------------------------------------------------------ */

static const char *const PEFT_MODULE[LORA_N_TARGETS] = {
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
};

int tio_write_peft(const char *dir, const tmodel *m, const char *base_name, sa_err *err) {
    if (m->mode != TM_LORA) return sa_fail(err, "internal: PEFT export of a full model");
    if (tio_mkdirs(dir, err)) return -1;
    json_t *c = json_object();
    json_object_set_new(c, "base_model_name_or_path", base_name ? json_string(base_name) : json_null());
    json_object_set_new(c, "peft_type", json_string("LORA"));
    json_object_set_new(c, "task_type", json_string("CAUSAL_LM"));
    json_object_set_new(c, "r", json_integer(m->lora.rank));
    json_object_set_new(c, "lora_alpha", json_real(m->lora.alpha));
    json_object_set_new(c, "lora_dropout", json_real(0.0));
    json_t *tm = json_array();
    for (int t = 0; t < LORA_N_TARGETS; t++)
        if (m->lora.targets >> t & 1) json_array_append_new(tm, json_string(PEFT_MODULE[t]));
    json_object_set_new(c, "target_modules", tm);
    json_object_set_new(c, "use_rslora", json_boolean(m->lora.rslora));
    json_object_set_new(c, "fan_in_fan_out", json_false());
    json_object_set_new(c, "bias", json_string("none"));
    json_object_set_new(c, "inference_mode", json_true());
    json_object_set_new(c, "init_lora_weights", json_true());
    json_object_set_new(c, "use_dora", json_false());
    json_object_set_new(c, "modules_to_save", json_null());
    json_object_set_new(c, "rank_pattern", json_object());
    json_object_set_new(c, "alpha_pattern", json_object());
    json_object_set_new(c, "layers_to_transform", json_null());
    json_object_set_new(c, "layers_pattern", json_null());
    json_object_set_new(c, "revision", json_null());
    char *s = json_dumps(c, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(c);
    char *cfg = tio_join(dir, "adapter_config.json"), *st = tio_join(dir, "adapter_model.safetensors");
    st_entry *e = calloc((size_t)m->n_params, sizeof *e);
    int rc = -1;
    if (!s || !cfg || !st || !e) { sa_fail(err, "out of memory"); goto out; }
    char *tmp;
    FILE *f = open_tmp(cfg, &tmp, err);
    if (!f) goto out;
    int ok = fputs(s, f) >= 0 && fputc('\n', f) != EOF;
    if (close_tmp(f, tmp, cfg, ok, err)) goto out;
    for (int i = 0; i < m->n_params; i++) {
        const tparam *p = &m->params[i];
        e[i] = (st_entry){ p->name, "F32", 2, { p->shape[0], p->shape[1] }, p->data };
    }
    rc = st_save(st, e, m->n_params, err);
out:
    free(s);
    free(cfg);
    free(st);
    free(e);
    return rc;
}

/* ---- GGUF model ------------------------------------------------------------------------------ */

static const char *const GGUF_PROJ[LORA_N_TARGETS] = {
    "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down",
};

/* Calls fn for every weight of a full model under its GGUF name, with its
** shape (ne[0] innermost; n_dims 1 or 2), in file order; stops at the first
** non-zero return. The one place that maps training weights to GGUF names.
** The weights live in the model's writable parameter buffer (m->pbuf); the
** layer structs only see them through const pointers. */
typedef int (*tensor_fn)(void *ctx, const char *name, int n_dims, const uint64_t ne[2], float *data);

static int each_tensor(tmodel *m, tensor_fn fn, void *ctx) {
    const qwen2_config *c = &m->cfg;
    uint64_t vec[2] = { (uint64_t)c->n_embd, 1 };
    char nm[96];
#define MAT(name, w) do { uint64_t ne_[2] = { (uint64_t)(w)->cols, (uint64_t)(w)->rows }; \
                          int rc_ = fn(ctx, name, 2, ne_, (float *)(w)->data); if (rc_) return rc_; } while (0)
#define VEC(name, v, n) do { uint64_t ne_[2] = { (uint64_t)(n), 1 }; \
                             int rc_ = fn(ctx, name, 1, ne_, (float *)(v)); if (rc_) return rc_; } while (0)
    MAT("token_embd.weight", &m->embd);
    for (int l = 0; l < c->n_layer; l++) {
        tlayer *L = &m->layers[l];
        snprintf(nm, sizeof nm, "blk.%d.attn_norm.weight", l);
        VEC(nm, L->attn_norm, vec[0]);
        for (int t = 0; t < LORA_N_TARGETS; t++) {
            snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, GGUF_PROJ[t]);
            MAT(nm, &L->lin[t].w);
            if (L->lin[t].b) {
                snprintf(nm, sizeof nm, "blk.%d.%s.bias", l, GGUF_PROJ[t]);
                VEC(nm, L->lin[t].b, L->lin[t].w.rows);
            }
        }
        snprintf(nm, sizeof nm, "blk.%d.ffn_norm.weight", l);
        VEC(nm, L->ffn_norm, vec[0]);
    }
    VEC("output_norm.weight", m->out_norm, vec[0]);
    if (!c->tied) MAT("output.weight", &m->head);
#undef MAT
#undef VEC
    return 0;
}

static int put_tensor(void *w, const char *name, int n_dims, const uint64_t ne[2], float *data) {
    gw_tensor(w, name, (uint32_t)n_dims, ne, GGML_TYPE_F32, data);
    return 0;
}

typedef struct reader {
    const gguf_file *g;
    sa_err *err;
    int stack;            /* the model has `stack` layers for each of the file's (1: same depth) */
} reader;

/* With stacking, the model's layer l is the file's layer l / stack; a
** layer that repeats one (l % stack != 0) gets zero output projections
** (attn_output, ffn_down), so it adds nothing to the residual stream and
** the deeper model starts as exactly the shallower one's function. */
static int get_tensor(void *ctx, const char *name, int n_dims, const uint64_t ne[2], float *data) {
    reader *r = ctx;
    char mapped[96];
    int layer = -1, off = 0;
    if (r->stack > 1 && sscanf(name, "blk.%d.%n", &layer, &off) == 1 && off > 0) {
        if (layer % r->stack && (!strcmp(name + off, "attn_output.weight") || !strcmp(name + off, "ffn_down.weight"))) {
            memset(data, 0, (size_t)(ne[0] * ne[1]) * sizeof *data);
            return 0;
        }
        snprintf(mapped, sizeof mapped, "blk.%d.%s", layer / r->stack, name + off);
        name = mapped;
    }
    const gguf_tensor *t = gguf_find_tensor(r->g, name);
    if (!t) return sa_fail(r->err, "%s: no tensor '%s'", r->g->path, name);
    if (t->ne[0] != ne[0] || (n_dims == 2 && (t->n_dims != 2 || t->ne[1] != ne[1])) || (n_dims == 1 && t->n_dims != 1))
        return sa_fail(r->err, "%s: tensor '%s' has another shape than the model being trained", r->g->path, name);
    uint64_t n = ne[0] * ne[1];
    if (t->type == GGML_TYPE_F32 && t->nbytes == n * 4) memcpy(data, t->data, n * 4);
    else if (t->type == GGML_TYPE_F16 && t->nbytes == n * 2) {
        const uint8_t *p = t->data;
        for (uint64_t i = 0; i < n; i++) data[i] = f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
    } else return sa_fail(r->err, "%s: tensor '%s': only F32 and F16 weights can start a training", r->g->path, name);
    return 0;
}

int tio_read_gguf_weights(const char *path, tmodel *m, int *stack, sa_err *err) {
    if (m->mode != TM_FULL) return sa_fail(err, "internal: GGUF weights into a LoRA model");
    gguf_file *g = gguf_open(path, err);
    if (!g) return -1;
    reader r = { g, err, 1 };
    uint32_t file_layers = 0;
    int rc = -1;
    if (gguf_get_u32(g, "qwen2.block_count", 1, &file_layers, err)) goto out;
    if (file_layers == 0 || (uint32_t)m->cfg.n_layer % file_layers) {
        sa_fail(err, "%s: %u layers; the model being trained has %d (the same, or a multiple to stack them)", path,
                file_layers, m->cfg.n_layer);
        goto out;
    }
    r.stack = m->cfg.n_layer / (int)file_layers;
    rc = each_tensor(m, get_tensor, &r) ? -1 : 0;
    if (stack) *stack = r.stack;
out:
    gguf_close(g);
    return rc;
}

int tio_write_gguf(const char *path, const tmodel *m, const tvocab *v, int ctx_len, const char *name,
                   const char *prompt_format, int schema_tokens, int schema_values, sa_err *err) {
    if (m->mode != TM_FULL) return sa_fail(err, "internal: GGUF export of a LoRA model");
    const qwen2_config *c = &m->cfg;
    if (v->n != c->n_vocab) return sa_fail(err, "internal: vocabulary of %d tokens for a model of %d", v->n, c->n_vocab);
    gguf_writer *w = gw_new();
    if (!w) return sa_fail(err, "out of memory");
    gw_set_str(w, "general.architecture", "qwen2");
    gw_set_str(w, "general.type", "model");
    gw_set_str(w, "general.name", name ? name : "sqlassist");
    gw_set_u32(w, "general.file_type", 0);
    gw_set_u32(w, "general.quantization_version", 2);
    /* the template training used (src/train/data.c): ask, serve and bench
    ** default to it for this model */
    gw_set_str(w, "sqlassist.prompt_format", prompt_format ? prompt_format : "sql-create-context");
    /* the schema budget its rows were rendered with: the agent renders the
    ** same way (agent_schema_prompt) */
    if (schema_tokens > 0) gw_set_u32(w, "sqlassist.schema_tokens", (uint32_t)schema_tokens);
    /* and whether they carried value anchors (SC_RENDER_VALUES) */
    if (schema_values) gw_set_u32(w, "sqlassist.schema_values", 1);
    gw_set_u32(w, "qwen2.block_count", (uint32_t)c->n_layer);
    gw_set_u32(w, "qwen2.context_length", (uint32_t)ctx_len);
    gw_set_u32(w, "qwen2.embedding_length", (uint32_t)c->n_embd);
    gw_set_u32(w, "qwen2.feed_forward_length", (uint32_t)c->n_ff);
    gw_set_u32(w, "qwen2.attention.head_count", (uint32_t)c->n_head);
    gw_set_u32(w, "qwen2.attention.head_count_kv", (uint32_t)c->n_head_kv);
    gw_set_f32(w, "qwen2.rope.freq_base", c->rope_theta);
    gw_set_f32(w, "qwen2.attention.layer_norm_rms_epsilon", c->rms_eps);
    tvocab_set_kvs(v, w);
    each_tensor((tmodel *)m, put_tensor, w);  /* put_tensor only reads */
    int rc = gw_write(w, path, err);
    gw_free(w);
    return rc;
}

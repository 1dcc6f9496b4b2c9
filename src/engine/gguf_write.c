/*
** gguf_write.c — see gguf_write.h. Values are serialized into byte
** buffers as they are set, so writing is a concatenation.
*/
#include "gguf_write.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/strbuf.h"

typedef struct wkv { char *key; strbuf value; /* type + payload */ } wkv;
typedef struct wtensor { char *name; int n_dims; uint64_t ne[GGUF_MAX_DIMS]; uint32_t type; const void *data; int owned; uint64_t nbytes; } wtensor;

struct gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    int oom;
};

gguf_writer *gw_new(void) { return calloc(1, sizeof(gguf_writer)); }

void gw_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) { free(w->kv[i].key); strbuf_free(&w->kv[i].value); }
    for (size_t i = 0; i < w->n_t; i++) { free(w->t[i].name); if (w->t[i].owned) free((void *)w->t[i].data); }
    free(w->kv);
    free(w->t);
    free(w);
}

static strbuf *new_value(gguf_writer *w, const char *key, uint32_t type) {
    size_t i;
    for (i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, key)) { strbuf_free(&w->kv[i].value); break; }
    if (i == w->n_kv) {
        if (w->n_kv == w->cap_kv) {
            size_t cap = w->cap_kv ? 2 * w->cap_kv : 32;
            wkv *p = realloc(w->kv, cap * sizeof *p);
            if (!p) { w->oom = 1; return NULL; }
            w->kv = p;
            w->cap_kv = cap;
        }
        w->kv[i].key = strdup(key);
        if (!w->kv[i].key) { w->oom = 1; return NULL; }
        w->n_kv++;
    }
    strbuf_init(&w->kv[i].value);
    strbuf_append(&w->kv[i].value, (const char *)&type, 4);
    return &w->kv[i].value;
}

static void put_str(strbuf *b, const char *s, uint64_t len) {
    strbuf_append(b, (const char *)&len, 8);
    strbuf_append(b, s, (size_t)len);
}

void gw_copy_kv(gguf_writer *w, const gguf_kv *kv) {
    strbuf *b = new_value(w, kv->key, kv->type);
    if (!b) return;
    if (kv->type == GGUF_STRING) { put_str(b, kv->str.ptr, kv->str.len); return; }
    if (kv->type == GGUF_ARRAY) {
        strbuf_append(b, (const char *)&kv->arr_type, 4);
        strbuf_append(b, (const char *)&kv->arr_n, 8);
        if (kv->arr_type == GGUF_STRING)
            for (uint64_t i = 0; i < kv->arr_n; i++) put_str(b, kv->arr_str[i].ptr, kv->arr_str[i].len);
        else
            strbuf_append(b, (const char *)kv->arr_data, (size_t)(kv->arr_n * gguf_vtype_size(kv->arr_type)));
        return;
    }
    size_t es = gguf_vtype_size(kv->type);
    uint8_t raw[8] = {0};
    switch (kv->type) {
    case GGUF_FLOAT32: { float f = (float)kv->num.f; memcpy(raw, &f, 4); break; }
    case GGUF_FLOAT64: memcpy(raw, &kv->num.f, 8); break;
    case GGUF_INT8: case GGUF_INT16: case GGUF_INT32: case GGUF_INT64: memcpy(raw, &kv->num.i, es); break;
    default: memcpy(raw, &kv->num.u, es); break;            /* little-endian: low bytes first */
    }
    strbuf_append(b, (const char *)raw, es);
}

void gw_set_u32(gguf_writer *w, const char *key, uint32_t v) { strbuf *b = new_value(w, key, GGUF_UINT32); if (b) strbuf_append(b, (const char *)&v, 4); }
void gw_set_f32(gguf_writer *w, const char *key, float v) { strbuf *b = new_value(w, key, GGUF_FLOAT32); if (b) strbuf_append(b, (const char *)&v, 4); }
void gw_set_bool(gguf_writer *w, const char *key, int v) { uint8_t x = v != 0; strbuf *b = new_value(w, key, GGUF_BOOL); if (b) strbuf_append(b, (const char *)&x, 1); }
void gw_set_str(gguf_writer *w, const char *key, const char *v) { strbuf *b = new_value(w, key, GGUF_STRING); if (b) put_str(b, v, strlen(v)); }

void gw_set_arr_str(gguf_writer *w, const char *key, const char *const *items, size_t n) {
    strbuf *b = new_value(w, key, GGUF_ARRAY);
    if (!b) return;
    uint32_t t = GGUF_STRING;
    uint64_t nn = n;
    strbuf_append(b, (const char *)&t, 4);
    strbuf_append(b, (const char *)&nn, 8);
    for (size_t i = 0; i < n; i++) put_str(b, items[i], strlen(items[i]));
}

static void set_arr_fixed(gguf_writer *w, const char *key, uint32_t t, const void *items, size_t n, size_t es) {
    strbuf *b = new_value(w, key, GGUF_ARRAY);
    if (!b) return;
    uint64_t nn = n;
    strbuf_append(b, (const char *)&t, 4);
    strbuf_append(b, (const char *)&nn, 8);
    strbuf_append(b, (const char *)items, n * es);
}
void gw_set_arr_i32(gguf_writer *w, const char *key, const int32_t *items, size_t n) { set_arr_fixed(w, key, GGUF_INT32, items, n, 4); }
void gw_set_arr_f32(gguf_writer *w, const char *key, const float *items, size_t n) { set_arr_fixed(w, key, GGUF_FLOAT32, items, n, 4); }

static void add_tensor(gguf_writer *w, const char *name, int n_dims, const uint64_t *ne, uint32_t type, const void *data, int owned) {
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *p = realloc(w->t, cap * sizeof *p);
        if (!p) { w->oom = 1; if (owned) free((void *)data); return; }
        w->t = p;
        w->cap_t = cap;
    }
    wtensor *t = &w->t[w->n_t++];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->n_dims = n_dims;
    uint64_t n = 1;
    for (int d = 0; d < n_dims; d++) { t->ne[d] = ne[d]; n *= ne[d]; }
    t->type = type;
    t->data = data;
    t->owned = owned;
    uint32_t be = 1, bb = 4;
    ggml_type_block(type, &be, &bb);
    t->nbytes = n / be * bb;
    if (!t->name) w->oom = 1;
}

void gw_tensor(gguf_writer *w, const char *name, int n_dims, const uint64_t *ne, uint32_t type, const void *data) {
    add_tensor(w, name, n_dims, ne, type, data, 0);
}
void gw_tensor_owned(gguf_writer *w, const char *name, int n_dims, const uint64_t *ne, uint32_t type, void *data) {
    add_tensor(w, name, n_dims, ne, type, data, 1);
}

static int pad(FILE *f, uint64_t pos, uint64_t align) {
    static const char zeros[64] = {0};
    uint64_t n = (align - pos % align) % align;
    return n ? (fwrite(zeros, 1, (size_t)n, f) == n ? 0 : -1) : 0;
}

int gw_write(gguf_writer *w, const char *path, sa_err *err) {
    if (w->oom) return sa_fail(err, "%s: out of memory while building the file", path);
    const uint64_t align = 32;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return sa_fail(err, "%s: cannot create: %s", tmp, strerror(errno));
    strbuf h;
    strbuf_init(&h);
    uint32_t version = 3;
    uint64_t nt = w->n_t, nkv = w->n_kv;
    strbuf_append(&h, "GGUF", 4);
    strbuf_append(&h, (const char *)&version, 4);
    strbuf_append(&h, (const char *)&nt, 8);
    strbuf_append(&h, (const char *)&nkv, 8);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(&h, w->kv[i].key, strlen(w->kv[i].key));
        strbuf_append(&h, w->kv[i].value.p, w->kv[i].value.len);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        wtensor *t = &w->t[i];
        uint32_t nd = (uint32_t)t->n_dims;
        put_str(&h, t->name, strlen(t->name));
        strbuf_append(&h, (const char *)&nd, 4);
        strbuf_append(&h, (const char *)t->ne, 8 * (size_t)t->n_dims);
        strbuf_append(&h, (const char *)&t->type, 4);
        strbuf_append(&h, (const char *)&off, 8);
        off += (t->nbytes + align - 1) / align * align;
    }
    int bad = h.oom || fwrite(h.p, 1, h.len, f) != h.len || pad(f, h.len, align);
    uint64_t pos = 0;
    for (size_t i = 0; i < w->n_t && !bad; i++) {
        wtensor *t = &w->t[i];
        bad = fwrite(t->data, 1, (size_t)t->nbytes, f) != t->nbytes || pad(f, pos + t->nbytes, align);
        pos += (t->nbytes + align - 1) / align * align;
    }
    strbuf_free(&h);
    if (fclose(f) != 0) bad = 1;
    if (bad) { remove(tmp); return sa_fail(err, "%s: write failed: %s", tmp, strerror(errno)); }
    if (rename(tmp, path) != 0) { remove(tmp); return sa_fail(err, "%s: cannot rename into place: %s", path, strerror(errno)); }
    return 0;
}

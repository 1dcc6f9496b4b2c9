/*
** gguf.c — GGUF v2/v3 parser over a read-only mmap (see gguf.h).
**
** The parser walks the header with a bounds-checked cursor: every read first
** checks that the bytes exist, every count is checked against what the rest
** of the file could possibly hold, so a truncated or hostile file ends in a
** message such as "model.gguf: tensor 'blk.3.attn_q.weight': data [..] past
** end of file (size N)" rather than a crash or a huge allocation.
*/
#include "gguf.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct cursor {
    const uint8_t *p;
    size_t size, off;
    const char *name;      /* file name for messages */
    sa_err *err;
} cursor;

static int need(cursor *c, uint64_t n, const char *what) {
    if (n > c->size - c->off)
        return sa_fail(c->err, "%s: truncated file: %s needs %llu bytes at offset %zu, file size %zu",
                       c->name, what, (unsigned long long)n, c->off, c->size);
    return 0;
}

static int rd(cursor *c, void *dst, size_t n, const char *what) {
    if (need(c, n, what)) return -1;
    memcpy(dst, c->p + c->off, n);
    c->off += n;
    return 0;
}

static int rd_u32(cursor *c, uint32_t *v, const char *what) { return rd(c, v, 4, what); }
static int rd_u64(cursor *c, uint64_t *v, const char *what) { return rd(c, v, 8, what); }

/* Reads a length-prefixed string; version 1 used u32 lengths but we accept v2/v3 only. */
static int rd_str(cursor *c, gguf_str *s, const char *what) {
    uint64_t len;
    if (rd_u64(c, &len, what)) return -1;
    if (need(c, len, what)) return -1;
    s->ptr = (const char *)(c->p + c->off);
    s->len = len;
    c->off += len;
    return 0;
}

static char *str_dup(gguf_str s) {
    char *r = malloc(s.len + 1);
    if (!r) return NULL;
    memcpy(r, s.ptr, s.len);
    r[s.len] = 0;
    return r;
}

size_t gguf_vtype_size(uint32_t t) {
    switch (t) {
    case GGUF_UINT8: case GGUF_INT8: case GGUF_BOOL: return 1;
    case GGUF_UINT16: case GGUF_INT16: return 2;
    case GGUF_UINT32: case GGUF_INT32: case GGUF_FLOAT32: return 4;
    case GGUF_UINT64: case GGUF_INT64: case GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static void widen(gguf_kv *kv, const uint8_t *p) {
    switch (kv->type) {
    case GGUF_UINT8: kv->num.u = p[0]; break;
    case GGUF_BOOL: kv->num.u = p[0] != 0; break;
    case GGUF_INT8: kv->num.i = (int8_t)p[0]; break;
    case GGUF_UINT16: { uint16_t v; memcpy(&v, p, 2); kv->num.u = v; break; }
    case GGUF_INT16: { int16_t v; memcpy(&v, p, 2); kv->num.i = v; break; }
    case GGUF_UINT32: { uint32_t v; memcpy(&v, p, 4); kv->num.u = v; break; }
    case GGUF_INT32: { int32_t v; memcpy(&v, p, 4); kv->num.i = v; break; }
    case GGUF_FLOAT32: { float v; memcpy(&v, p, 4); kv->num.f = v; break; }
    case GGUF_UINT64: { uint64_t v; memcpy(&v, p, 8); kv->num.u = v; break; }
    case GGUF_INT64: { int64_t v; memcpy(&v, p, 8); kv->num.i = v; break; }
    case GGUF_FLOAT64: { double v; memcpy(&v, p, 8); kv->num.f = v; break; }
    }
}

int64_t gguf_arr_int(const gguf_kv *kv, uint64_t i) {
    assert(kv->type == GGUF_ARRAY && i < kv->arr_n);
    size_t es = gguf_vtype_size(kv->arr_type);
    const uint8_t *p = kv->arr_data + i * es;
    gguf_kv tmp = { .type = kv->arr_type };
    widen(&tmp, p);
    switch (kv->arr_type) {
    case GGUF_INT8: case GGUF_INT16: case GGUF_INT32: case GGUF_INT64: return tmp.num.i;
    case GGUF_FLOAT32: case GGUF_FLOAT64: return (int64_t)tmp.num.f;
    default: return (int64_t)tmp.num.u;
    }
}

static int read_kv(cursor *c, gguf_kv *kv) {
    gguf_str key;
    if (rd_str(c, &key, "metadata key")) return -1;
    if (!(kv->key = str_dup(key))) return sa_fail(c->err, "%s: out of memory", c->name);
    if (rd_u32(c, &kv->type, kv->key)) return -1;
    if (kv->type == GGUF_STRING) return rd_str(c, &kv->str, kv->key);
    if (kv->type == GGUF_ARRAY) {
        if (rd_u32(c, &kv->arr_type, kv->key) || rd_u64(c, &kv->arr_n, kv->key)) return -1;
        if (kv->arr_type == GGUF_STRING) {
            /* each string takes at least 8 bytes: bound the count before allocating */
            if (kv->arr_n > (c->size - c->off) / 8)
                return sa_fail(c->err, "%s: key '%s': string array of %llu entries cannot fit in the file",
                               c->name, kv->key, (unsigned long long)kv->arr_n);
            kv->arr_str = malloc((kv->arr_n ? kv->arr_n : 1) * sizeof *kv->arr_str);
            if (!kv->arr_str) return sa_fail(c->err, "%s: out of memory", c->name);
            for (uint64_t i = 0; i < kv->arr_n; i++)
                if (rd_str(c, &kv->arr_str[i], kv->key)) return -1;
            return 0;
        }
        size_t es = gguf_vtype_size(kv->arr_type);
        if (es == 0)
            return sa_fail(c->err, "%s: key '%s': unsupported array element type %u",
                           c->name, kv->key, kv->arr_type);
        if (kv->arr_n > (c->size - c->off) / es)
            return sa_fail(c->err, "%s: key '%s': array of %llu elements runs past end of file",
                           c->name, kv->key, (unsigned long long)kv->arr_n);
        kv->arr_data = c->p + c->off;
        c->off += kv->arr_n * es;
        return 0;
    }
    size_t es = gguf_vtype_size(kv->type);
    if (es == 0) return sa_fail(c->err, "%s: key '%s': unknown value type %u", c->name, kv->key, kv->type);
    if (need(c, es, kv->key)) return -1;
    widen(kv, c->p + c->off);
    c->off += es;
    return 0;
}

const char *ggml_type_name(uint32_t type) {
    switch (type) {
    case GGML_TYPE_F32: return "f32";
    case GGML_TYPE_F16: return "f16";
    case GGML_TYPE_BF16: return "bf16";
    case GGML_TYPE_Q4_0: return "q4_0";
    case GGML_TYPE_Q4_1: return "q4_1";
    case GGML_TYPE_Q5_0: return "q5_0";
    case GGML_TYPE_Q5_1: return "q5_1";
    case GGML_TYPE_Q8_0: return "q8_0";
    case GGML_TYPE_Q8_1: return "q8_1";
    case GGML_TYPE_Q2_K: return "q2_K";
    case GGML_TYPE_Q3_K: return "q3_K";
    case GGML_TYPE_Q4_K: return "q4_K";
    case GGML_TYPE_Q5_K: return "q5_K";
    case GGML_TYPE_Q6_K: return "q6_K";
    case GGML_TYPE_Q8_K: return "q8_K";
    default: return "unknown";
    }
}

int ggml_type_block(uint32_t type, uint32_t *elems, uint32_t *bytes) {
    uint32_t e = 0, b = 0;
    switch (type) {
    case GGML_TYPE_F32: e = 1; b = 4; break;
    case GGML_TYPE_F16: case GGML_TYPE_BF16: e = 1; b = 2; break;
    case GGML_TYPE_Q4_0: e = 32; b = 18; break;
    case GGML_TYPE_Q4_1: e = 32; b = 20; break;
    case GGML_TYPE_Q5_0: e = 32; b = 22; break;
    case GGML_TYPE_Q5_1: e = 32; b = 24; break;
    case GGML_TYPE_Q8_0: e = 32; b = 34; break;
    case GGML_TYPE_Q8_1: e = 32; b = 36; break;
    case GGML_TYPE_Q2_K: e = 256; b = 84; break;
    case GGML_TYPE_Q3_K: e = 256; b = 110; break;
    case GGML_TYPE_Q4_K: e = 256; b = 144; break;
    case GGML_TYPE_Q5_K: e = 256; b = 176; break;
    case GGML_TYPE_Q6_K: e = 256; b = 210; break;
    case GGML_TYPE_Q8_K: e = 256; b = 292; break;
    default: break;
    }
    if (elems) *elems = e;
    if (bytes) *bytes = b;
    return e ? 0 : -1;
}

static int read_tensor_info(cursor *c, gguf_tensor *t) {
    gguf_str name;
    if (rd_str(c, &name, "tensor name")) return -1;
    if (!(t->name = str_dup(name))) return sa_fail(c->err, "%s: out of memory", c->name);
    if (rd_u32(c, &t->n_dims, t->name)) return -1;
    if (t->n_dims == 0 || t->n_dims > GGUF_MAX_DIMS)
        return sa_fail(c->err, "%s: tensor '%s': %u dimensions (1..%d supported)",
                       c->name, t->name, t->n_dims, GGUF_MAX_DIMS);
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++)
        if (rd_u64(c, &t->ne[d], t->name)) return -1;
    if (rd_u32(c, &t->type, t->name) || rd_u64(c, &t->offset, t->name)) return -1;
    uint32_t be, bb;
    if (ggml_type_block(t->type, &be, &bb))
        return sa_fail(c->err, "%s: tensor '%s': unsupported tensor type %u", c->name, t->name, t->type);
    /* element count without overflow: each dim and the product must stay < 2^48 */
    uint64_t n = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        if (t->ne[d] == 0 || t->ne[d] > (1ull << 48) || n > (1ull << 48) / t->ne[d])
            return sa_fail(c->err, "%s: tensor '%s': absurd shape [%llu, %llu, %llu, %llu]",
                           c->name, t->name, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
                           (unsigned long long)t->ne[2], (unsigned long long)t->ne[3]);
        n *= t->ne[d];
    }
    if (t->ne[0] % be)
        return sa_fail(c->err, "%s: tensor '%s': row length %llu is not a multiple of the %s block size %u",
                       c->name, t->name, (unsigned long long)t->ne[0], ggml_type_name(t->type), be);
    t->nbytes = n / be * bb;
    return 0;
}

static gguf_file *parse(gguf_file *g, sa_err *err) {
    cursor c = { .p = g->base, .size = g->size, .off = 0, .name = g->path, .err = err };
    char magic[4];
    if (rd(&c, magic, 4, "magic")) return NULL;
    if (memcmp(magic, "GGUF", 4) != 0) {
        sa_fail(err, "%s: not a GGUF file (bad magic)", g->path);
        return NULL;
    }
    if (rd_u32(&c, &g->version, "version")) return NULL;
    if (g->version != 2 && g->version != 3) {
        sa_fail(err, "%s: unsupported GGUF version %u (2 and 3 are supported)", g->path, g->version);
        return NULL;
    }
    if (rd_u64(&c, &g->n_tensors, "tensor count") || rd_u64(&c, &g->n_kv, "metadata count")) return NULL;
    /* a key/value takes at least 12 bytes, a tensor info at least 28 */
    if (g->n_kv > g->size / 12 || g->n_tensors > g->size / 28) {
        sa_fail(err, "%s: absurd header counts (%llu keys, %llu tensors) for a file of %zu bytes",
                g->path, (unsigned long long)g->n_kv, (unsigned long long)g->n_tensors, g->size);
        return NULL;
    }
    g->kv = calloc(g->n_kv ? g->n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors) { sa_fail(err, "%s: out of memory", g->path); return NULL; }
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (read_kv(&c, &g->kv[i])) return NULL;
    g->alignment = 32;
    const gguf_kv *al = gguf_get(g, "general.alignment");
    if (al) {
        if (al->type != GGUF_UINT32 || al->num.u == 0 || (al->num.u & (al->num.u - 1)) || al->num.u > 65536) {
            sa_fail(err, "%s: key 'general.alignment': must be a power of two uint32", g->path);
            return NULL;
        }
        g->alignment = al->num.u;
    }
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (read_tensor_info(&c, &g->tensors[i])) return NULL;
    g->data_offset = (c.off + g->alignment - 1) / g->alignment * g->alignment;
    if (g->n_tensors && g->data_offset > g->size) {
        sa_fail(err, "%s: truncated file: data section starts at %llu, file size %zu",
                g->path, (unsigned long long)g->data_offset, g->size);
        return NULL;
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment) {
            sa_fail(err, "%s: tensor '%s': offset %llu not aligned to %llu", g->path, t->name,
                    (unsigned long long)t->offset, (unsigned long long)g->alignment);
            return NULL;
        }
        uint64_t avail = g->size - g->data_offset;
        if (t->offset > avail || t->nbytes > avail - t->offset) {
            sa_fail(err, "%s: tensor '%s': data [%llu, +%llu) runs past end of file (data section %llu bytes)",
                    g->path, t->name, (unsigned long long)t->offset, (unsigned long long)t->nbytes,
                    (unsigned long long)avail);
            return NULL;
        }
        t->data = g->base + g->data_offset + t->offset;
        for (uint64_t j = 0; j < i; j++)
            if (strcmp(g->tensors[j].name, t->name) == 0) {
                sa_fail(err, "%s: tensor '%s' appears twice", g->path, t->name);
                return NULL;
            }
    }
    return g;
}

gguf_file *gguf_open_memory(const uint8_t *data, size_t size, const char *name, sa_err *err) {
    gguf_file *g = calloc(1, sizeof *g);
    if (!g) { sa_fail(err, "out of memory"); return NULL; }
    g->path = strdup(name ? name : "<memory>");
    g->base = data;
    g->size = size;
    if (!g->path || !parse(g, err)) { gguf_close(g); return NULL; }
    return g;
}

gguf_file *gguf_open(const char *path, sa_err *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { sa_fail(err, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        sa_fail(err, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    if (st.st_size < 24) {
        sa_fail(err, "%s: truncated file: %lld bytes is smaller than a GGUF header", path, (long long)st.st_size);
        close(fd);
        return NULL;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) { sa_fail(err, "%s: mmap failed: %s", path, strerror(errno)); return NULL; }
#ifdef MADV_HUGEPAGE
    /* Huge-page mappings of the weights cut TLB misses during decode, which
    ** streams every weight once per token (measured in bench/). Advisory:
    ** the kernel may ignore it. SQLASSIST_NO_THP=1 turns it off for A/B runs. */
    if (!getenv("SQLASSIST_NO_THP")) madvise(m, (size_t)st.st_size, MADV_HUGEPAGE);
#endif
    gguf_file *g = calloc(1, sizeof *g);
    if (!g) { munmap(m, (size_t)st.st_size); sa_fail(err, "out of memory"); return NULL; }
    g->path = strdup(path);
    g->base = m;
    g->size = (size_t)st.st_size;
    g->mapped = 1;
    if (!g->path || !parse(g, err)) { gguf_close(g); return NULL; }
    return g;
}

void gguf_close(gguf_file *g) {
    if (!g) return;
    if (g->kv)
        for (uint64_t i = 0; i < g->n_kv; i++) { free(g->kv[i].key); free(g->kv[i].arr_str); }
    if (g->tensors)
        for (uint64_t i = 0; i < g->n_tensors; i++) free(g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    if (g->mapped) munmap((void *)g->base, g->size);
    free(g->path);
    free(g);
}

const gguf_kv *gguf_get(const gguf_file *g, const char *key) {
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].key && strcmp(g->kv[i].key, key) == 0) return &g->kv[i];
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *g, const char *name) {
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0) return &g->tensors[i];
    return NULL;
}

static int is_int_type(uint32_t t) {
    return t == GGUF_UINT8 || t == GGUF_INT8 || t == GGUF_UINT16 || t == GGUF_INT16 ||
           t == GGUF_UINT32 || t == GGUF_INT32 || t == GGUF_UINT64 || t == GGUF_INT64;
}
static int is_signed(uint32_t t) {
    return t == GGUF_INT8 || t == GGUF_INT16 || t == GGUF_INT32 || t == GGUF_INT64;
}

static const gguf_kv *lookup(const gguf_file *g, const char *key, int required, sa_err *err, int *missing) {
    const gguf_kv *kv = gguf_get(g, key);
    *missing = kv == NULL;
    if (!kv && required) sa_fail(err, "%s: missing metadata key '%s'", g->path, key);
    return kv;
}

int gguf_get_u64(const gguf_file *g, const char *key, int required, uint64_t *out, sa_err *err) {
    int missing;
    const gguf_kv *kv = lookup(g, key, required, err, &missing);
    if (!kv) return missing && !required ? 0 : -1;
    if (!is_int_type(kv->type))
        return sa_fail(err, "%s: key '%s': expected an integer, found type %u", g->path, key, kv->type);
    if (is_signed(kv->type) && kv->num.i < 0)
        return sa_fail(err, "%s: key '%s': negative value %lld", g->path, key, (long long)kv->num.i);
    *out = kv->num.u;
    return 0;
}

int gguf_get_u32(const gguf_file *g, const char *key, int required, uint32_t *out, sa_err *err) {
    uint64_t v = *out;
    if (gguf_get_u64(g, key, required, &v, err)) return -1;
    if (v > UINT32_MAX) return sa_fail(err, "%s: key '%s': value %llu too large", g->path, key, (unsigned long long)v);
    *out = (uint32_t)v;
    return 0;
}

int gguf_get_f32(const gguf_file *g, const char *key, int required, float *out, sa_err *err) {
    int missing;
    const gguf_kv *kv = lookup(g, key, required, err, &missing);
    if (!kv) return missing && !required ? 0 : -1;
    if (kv->type == GGUF_FLOAT32 || kv->type == GGUF_FLOAT64) *out = (float)kv->num.f;
    else if (is_int_type(kv->type)) *out = is_signed(kv->type) ? (float)kv->num.i : (float)kv->num.u;
    else return sa_fail(err, "%s: key '%s': expected a number, found type %u", g->path, key, kv->type);
    return 0;
}

int gguf_get_bool(const gguf_file *g, const char *key, int required, int *out, sa_err *err) {
    int missing;
    const gguf_kv *kv = lookup(g, key, required, err, &missing);
    if (!kv) return missing && !required ? 0 : -1;
    if (kv->type != GGUF_BOOL && !is_int_type(kv->type))
        return sa_fail(err, "%s: key '%s': expected a bool, found type %u", g->path, key, kv->type);
    *out = kv->num.u != 0;
    return 0;
}

int gguf_get_str(const gguf_file *g, const char *key, int required, char **out, sa_err *err) {
    int missing;
    const gguf_kv *kv = lookup(g, key, required, err, &missing);
    if (!kv) return missing && !required ? 0 : -1;
    if (kv->type != GGUF_STRING)
        return sa_fail(err, "%s: key '%s': expected a string, found type %u", g->path, key, kv->type);
    if (!(*out = str_dup(kv->str))) return sa_fail(err, "out of memory");
    return 0;
}

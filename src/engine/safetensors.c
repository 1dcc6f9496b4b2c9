/*
** safetensors.c — see safetensors.h. The JSON header is parsed with
** jansson; everything it says is checked against the file before a tensor
** is handed out.
*/
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels.h"

static const struct { const char *name; int dtype; size_t size; } DTYPES[] = {
    {"F32", ST_F32, 4}, {"F16", ST_F16, 2}, {"BF16", ST_BF16, 2}, {"F64", ST_F64, 8},
    {"I64", ST_I64, 8}, {"I32", ST_I32, 4}, {"I16", ST_I16, 2}, {"I8", ST_I8, 1},
    {"U8", ST_U8, 1}, {"BOOL", ST_BOOL, 1},
};

size_t st_dtype_size(int dtype) {
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (DTYPES[i].dtype == dtype) return DTYPES[i].size;
    return 0;
}

static int cmp_span(const void *a, const void *b) {
    const st_tensor *x = *(st_tensor *const *)a, *y = *(st_tensor *const *)b;
    return (const uint8_t *)x->data < (const uint8_t *)y->data ? -1 : (const uint8_t *)x->data > (const uint8_t *)y->data;
}

static int parse_tensor(st_file *f, const char *name, json_t *v, const uint8_t *data, uint64_t data_len,
                        st_tensor *t, sa_err *err) {
    if (!(t->name = strdup(name))) return sa_fail(err, "out of memory");
    if (!json_is_object(v)) return sa_fail(err, "%s: tensor '%s': header entry is not an object", f->path, name);
    json_t *dt = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
           *offs = json_object_get(v, "data_offsets");
    if (!json_is_string(dt)) return sa_fail(err, "%s: tensor '%s': missing or non-string 'dtype'", f->path, name);
    if (!json_is_array(shape)) return sa_fail(err, "%s: tensor '%s': missing or non-array 'shape'", f->path, name);
    if (!json_is_array(offs) || json_array_size(offs) != 2)
        return sa_fail(err, "%s: tensor '%s': 'data_offsets' must be an array of two integers", f->path, name);
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", json_string_value(dt));
    t->dtype = ST_OTHER;
    size_t es = 0;
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (strcmp(DTYPES[i].name, json_string_value(dt)) == 0) { t->dtype = DTYPES[i].dtype; es = DTYPES[i].size; }
    if (!es) return sa_fail(err, "%s: tensor '%s': unsupported dtype '%s'", f->path, name, t->dtype_name);
    size_t nd = json_array_size(shape);
    if (nd > ST_MAX_DIMS) return sa_fail(err, "%s: tensor '%s': %zu dimensions is too many", f->path, name, nd);
    t->n_dims = (int)nd;
    uint64_t numel = 1;
    for (size_t d = 0; d < nd; d++) {
        json_t *s = json_array_get(shape, d);
        if (!json_is_integer(s) || json_integer_value(s) < 0 || json_integer_value(s) > (1ll << 40))
            return sa_fail(err, "%s: tensor '%s': shape[%zu] is not a sane non-negative integer", f->path, name, d);
        t->shape[d] = json_integer_value(s);
        if (t->shape[d] && numel > (1ull << 48) / (uint64_t)t->shape[d])
            return sa_fail(err, "%s: tensor '%s': absurd shape", f->path, name);
        numel *= (uint64_t)t->shape[d];
    }
    json_t *o0 = json_array_get(offs, 0), *o1 = json_array_get(offs, 1);
    if (!json_is_integer(o0) || !json_is_integer(o1) || json_integer_value(o0) < 0 ||
        json_integer_value(o1) < json_integer_value(o0))
        return sa_fail(err, "%s: tensor '%s': bad data_offsets", f->path, name);
    uint64_t b = (uint64_t)json_integer_value(o0), e = (uint64_t)json_integer_value(o1);
    if (e > data_len)
        return sa_fail(err, "%s: tensor '%s': data_offsets [%llu, %llu) past end of data (%llu bytes)", f->path,
                       name, (unsigned long long)b, (unsigned long long)e, (unsigned long long)data_len);
    if (e - b != numel * es)
        return sa_fail(err, "%s: tensor '%s': data size %llu does not match shape × %s size (%llu)", f->path, name,
                       (unsigned long long)(e - b), t->dtype_name, (unsigned long long)(numel * es));
    t->data = data + b;
    t->nbytes = e - b;
    return 0;
}

static st_file *parse(st_file *f, sa_err *err) {
    if (f->size < 8) { sa_fail(err, "%s: truncated file (%zu bytes): no safetensors header", f->path, f->size); return NULL; }
    uint64_t hlen;
    memcpy(&hlen, f->base, 8);
    if (hlen > f->size - 8 || hlen > (100u << 20)) {
        sa_fail(err, "%s: header length %llu is past the end of the file (%zu bytes) or absurd", f->path,
                (unsigned long long)hlen, f->size);
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loadb((const char *)f->base + 8, hlen, JSON_REJECT_DUPLICATES, &je);
    if (!root) { sa_fail(err, "%s: header JSON: %s (line %d, column %d)", f->path, je.text, je.line, je.column); return NULL; }
    if (!json_is_object(root)) { json_decref(root); sa_fail(err, "%s: header is not a JSON object", f->path); return NULL; }
    size_t n = json_object_size(root);
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    if (!f->tensors) { json_decref(root); sa_fail(err, "out of memory"); return NULL; }
    const uint8_t *data = f->base + 8 + hlen;
    uint64_t data_len = f->size - 8 - hlen;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "__metadata__") == 0) continue;
        if (parse_tensor(f, key, v, data, data_len, &f->tensors[f->n_tensors++], err)) { json_decref(root); return NULL; }
    }
    json_decref(root);
    /* overlapping spans mean a corrupt (or malicious) file */
    st_tensor **order = malloc((f->n_tensors ? f->n_tensors : 1) * sizeof *order);
    if (!order) { sa_fail(err, "out of memory"); return NULL; }
    for (int i = 0; i < f->n_tensors; i++) order[i] = &f->tensors[i];
    qsort(order, (size_t)f->n_tensors, sizeof *order, cmp_span);
    for (int i = 1; i < f->n_tensors; i++) {
        const uint8_t *prev_end = (const uint8_t *)order[i - 1]->data + order[i - 1]->nbytes;
        if (order[i]->nbytes && order[i - 1]->nbytes && (const uint8_t *)order[i]->data < prev_end) {
            sa_fail(err, "%s: tensors '%s' and '%s' overlap", f->path, order[i - 1]->name, order[i]->name);
            free(order);
            return NULL;
        }
    }
    free(order);
    return f;
}

st_file *st_open_memory(const uint8_t *data, size_t size, const char *name, sa_err *err) {
    st_file *f = calloc(1, sizeof *f);
    if (!f) { sa_fail(err, "out of memory"); return NULL; }
    f->path = strdup(name ? name : "<memory>");
    f->base = data;
    f->size = size;
    if (!f->path || !parse(f, err)) { st_close(f); return NULL; }
    return f;
}

st_file *st_open(const char *path, sa_err *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { sa_fail(err, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) { close(fd); sa_fail(err, "%s: not a regular file", path); return NULL; }
    if (st.st_size < 8) { close(fd); sa_fail(err, "%s: truncated file (%lld bytes)", path, (long long)st.st_size); return NULL; }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) { sa_fail(err, "%s: mmap failed: %s", path, strerror(errno)); return NULL; }
    st_file *f = calloc(1, sizeof *f);
    if (!f) { munmap(m, (size_t)st.st_size); sa_fail(err, "out of memory"); return NULL; }
    f->path = strdup(path);
    f->base = m;
    f->size = (size_t)st.st_size;
    f->mapped = 1;
    if (!f->path || !parse(f, err)) { st_close(f); return NULL; }
    return f;
}

void st_close(st_file *f) {
    if (!f) return;
    for (int i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    if (f->mapped) munmap((void *)f->base, f->size);
    free(f->path);
    free(f);
}

const st_tensor *st_find(const st_file *f, const char *name) {
    for (int i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

uint64_t st_numel(const st_tensor *t) {
    uint64_t n = 1;
    for (int d = 0; d < t->n_dims; d++) n *= (uint64_t)t->shape[d];
    return n;
}

float st_get_f32(const st_tensor *t, uint64_t i) {
    const uint8_t *p = (const uint8_t *)t->data;
    switch (t->dtype) {
    case ST_F32: { float v; memcpy(&v, p + 4 * i, 4); return v; }
    case ST_F16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return f16_to_f32(v); }
    case ST_BF16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return bf16_to_f32(v); }
    case ST_F64: { double v; memcpy(&v, p + 8 * i, 8); return (float)v; }
    }
    return 0;
}

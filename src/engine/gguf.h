/*
** gguf.h — reading GGUF (v2/v3) files: metadata key/values and tensor
** descriptors, with tensor data used in place from a read-only mmap.
**
** Owns: the mapping of the file and the parsed header. Does not know about
** any model architecture; model.c asks for keys and tensors by name.
**
** Every offset and size in the header is validated against the file size
** before use, so a hostile file yields an error naming the key or tensor,
** never an out-of-bounds read.
*/
#ifndef SA_GGUF_H
#define SA_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "../util/err.h"

/* Metadata value types, numbered as in the GGUF specification. */
enum gguf_vtype {
    GGUF_UINT8 = 0, GGUF_INT8 = 1, GGUF_UINT16 = 2, GGUF_INT16 = 3,
    GGUF_UINT32 = 4, GGUF_INT32 = 5, GGUF_FLOAT32 = 6, GGUF_BOOL = 7,
    GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_UINT64 = 10, GGUF_INT64 = 11,
    GGUF_FLOAT64 = 12,
};

/* Tensor types, numbered as in ggml. */
enum ggml_type {
    GGML_TYPE_F32 = 0, GGML_TYPE_F16 = 1, GGML_TYPE_Q4_0 = 2, GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6, GGML_TYPE_Q5_1 = 7, GGML_TYPE_Q8_0 = 8, GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q2_K = 10, GGML_TYPE_Q3_K = 11, GGML_TYPE_Q4_K = 12,
    GGML_TYPE_Q5_K = 13, GGML_TYPE_Q6_K = 14, GGML_TYPE_Q8_K = 15,
    GGML_TYPE_BF16 = 30,
};

#define GGUF_MAX_DIMS 4

typedef struct gguf_str {
    const char *ptr;   /* points into the mapping; NOT NUL-terminated */
    uint64_t len;
} gguf_str;

typedef struct gguf_kv {
    char *key;                 /* NUL-terminated copy */
    uint32_t type;             /* enum gguf_vtype */
    /* scalars (type != ARRAY, != STRING) are widened into one of these */
    union { uint64_t u; int64_t i; double f; } num;
    gguf_str str;              /* type == STRING */
    uint32_t arr_type;         /* type == ARRAY: element type */
    uint64_t arr_n;            /* type == ARRAY: element count */
    const uint8_t *arr_data;   /* type == ARRAY of fixed-size elements: raw LE data */
    gguf_str *arr_str;         /* type == ARRAY of STRING: arr_n entries (allocated) */
} gguf_kv;

typedef struct gguf_tensor {
    char *name;                     /* NUL-terminated copy */
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS];     /* ne[0] is the innermost (contiguous) dimension */
    uint32_t type;                  /* enum ggml_type */
    uint64_t offset;                /* relative to the data section */
    const void *data;               /* into the mapping */
    uint64_t nbytes;
} gguf_tensor;

typedef struct gguf_file {
    char *path;
    const uint8_t *base;            /* mapping (or caller's buffer) */
    size_t size;
    int mapped;                     /* 1: base is an mmap we own */
    uint32_t version;
    uint64_t n_kv, n_tensors;
    gguf_kv *kv;
    gguf_tensor *tensors;
    uint64_t alignment;
    uint64_t data_offset;           /* file offset of the data section */
} gguf_file;

/* Opens and parses a GGUF file (mmap, read-only). NULL + message on error. */
gguf_file *gguf_open(const char *path, sa_err *err);

/* Parses a GGUF image already in memory (used by the fuzzer and tests). The
** buffer must outlive the returned object. `name` is used in messages. */
gguf_file *gguf_open_memory(const uint8_t *data, size_t size, const char *name, sa_err *err);

void gguf_close(gguf_file *g);

/* Lookup. Returns NULL when absent. */
const gguf_kv *gguf_get(const gguf_file *g, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *g, const char *name);

/* Typed getters: 0 on success; -1 with a message naming file and key when the
** key is missing (and `required`) or has an incompatible type. When the key
** is absent and not required, *out is left unchanged and 0 is returned. */
int gguf_get_u64(const gguf_file *g, const char *key, int required, uint64_t *out, sa_err *err);
int gguf_get_u32(const gguf_file *g, const char *key, int required, uint32_t *out, sa_err *err);
int gguf_get_f32(const gguf_file *g, const char *key, int required, float *out, sa_err *err);
int gguf_get_bool(const gguf_file *g, const char *key, int required, int *out, sa_err *err);
/* Returns a malloc'd NUL-terminated copy in *out. */
int gguf_get_str(const gguf_file *g, const char *key, int required, char **out, sa_err *err);

/* Element i of an integer array (any integer element type), widened. */
int64_t gguf_arr_int(const gguf_kv *kv, uint64_t i);

/* Size in bytes of one element of a fixed-size metadata type; 0 otherwise. */
size_t gguf_vtype_size(uint32_t t);

/* ggml type facts: name ("f32", "q8_0", ...), block size in elements and
** bytes per block; block size 0 for unknown types. */
const char *ggml_type_name(uint32_t type);
int ggml_type_block(uint32_t type, uint32_t *elems, uint32_t *bytes);

#endif

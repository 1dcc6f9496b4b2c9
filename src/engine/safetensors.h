/*
** safetensors.h — reading Hugging Face .safetensors files over a read-only
** mmap: an 8-byte little-endian header length, a JSON header mapping tensor
** names to {dtype, shape, data_offsets}, then the raw data.
**
** Owns: the mapping and the parsed tensor table. Knows nothing of models;
** model.c (and lora.c) look tensors up by name and convert them.
*/
#ifndef SA_SAFETENSORS_H
#define SA_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "../util/err.h"

enum st_dtype { ST_F32, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL, ST_OTHER };

#define ST_MAX_DIMS 8

typedef struct st_tensor {
    char *name;
    int dtype;                    /* enum st_dtype */
    char dtype_name[16];          /* as written in the header, for messages */
    int n_dims;
    int64_t shape[ST_MAX_DIMS];   /* outermost first, as in PyTorch */
    const void *data;             /* into the mapping; may be unaligned */
    uint64_t nbytes;
} st_tensor;

typedef struct st_file {
    char *path;
    const uint8_t *base;
    size_t size;
    int mapped;
    int n_tensors;
    st_tensor *tensors;
} st_file;

/* Opens and validates a safetensors file: header JSON well-formed, every
** dtype known, shape × dtype size == data_offsets span, spans inside the file
** and not overlapping. NULL + message naming the file and tensor on error. */
st_file *st_open(const char *path, sa_err *err);
st_file *st_open_memory(const uint8_t *data, size_t size, const char *name, sa_err *err);
void st_close(st_file *f);

const st_tensor *st_find(const st_file *f, const char *name);
size_t st_dtype_size(int dtype);

/* Element i of a float tensor (f32/f16/bf16/f64) as f32. */
float st_get_f32(const st_tensor *t, uint64_t i);
uint64_t st_numel(const st_tensor *t);

#endif

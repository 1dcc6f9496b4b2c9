/*
** gguf_write.h — writing GGUF v3 files (metadata and tensors) laid out as
** llama.cpp expects: the header, key/values, tensor infos, then tensor data
** each aligned to general.alignment (32).
**
** Owns: copies of keys and values; tensor data is referenced (the caller
** keeps it alive until gw_write) or handed over with gw_tensor_owned.
*/
#ifndef SA_GGUF_WRITE_H
#define SA_GGUF_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "../util/err.h"
#include "gguf.h"

typedef struct gguf_writer gguf_writer;

gguf_writer *gw_new(void);
void gw_free(gguf_writer *w);

/* Metadata. A key set twice keeps the last value. */
void gw_copy_kv(gguf_writer *w, const gguf_kv *kv);            /* from a parsed file */
void gw_set_u32(gguf_writer *w, const char *key, uint32_t v);
void gw_set_f32(gguf_writer *w, const char *key, float v);
void gw_set_bool(gguf_writer *w, const char *key, int v);
void gw_set_str(gguf_writer *w, const char *key, const char *v);
void gw_set_arr_str(gguf_writer *w, const char *key, const char *const *items, size_t n);
void gw_set_arr_i32(gguf_writer *w, const char *key, const int32_t *items, size_t n);
void gw_set_arr_f32(gguf_writer *w, const char *key, const float *items, size_t n);

/* A tensor; ne[0] is the innermost dimension. data must hold the exact
** byte size for (ne, type). gw_tensor_owned frees data in gw_free. */
void gw_tensor(gguf_writer *w, const char *name, int n_dims, const uint64_t *ne, uint32_t type, const void *data);
void gw_tensor_owned(gguf_writer *w, const char *name, int n_dims, const uint64_t *ne, uint32_t type, void *data);

/* Writes the file (to path.tmp, then renamed). */
int gw_write(gguf_writer *w, const char *path, sa_err *err);

#endif

/*
** tio.h — what training writes and reads besides the data: safetensors
** files, the tokenizer vocabulary of a model trained from scratch, the
** PEFT adapter directory (LoRA mode) and the GGUF model (full mode).
**
** Owns: the vocabulary tables (tvocab). Everything written goes to
** PATH.tmp first and is renamed into place, so a crash never leaves a
** half-written file under the real name.
*/
#ifndef SA_TIO_H
#define SA_TIO_H

#include <stddef.h>
#include <stdint.h>

#include "../engine/gguf_write.h"
#include "../util/err.h"
#include "tmodel.h"

/* ---- safetensors ------------------------------------------------------------- */

typedef struct st_entry {
    const char *name;
    const char *dtype;      /* "F32", "I32" or "U8" */
    int n_dims;             /* 1 or 2 */
    int64_t shape[2];       /* outermost first */
    const void *data;       /* nbytes = product(shape) · dtype size */
} st_entry;

/* Writes the tensors in the given order with "__metadata__": {"format": "pt"}. */
int st_save(const char *path, const st_entry *e, int n, sa_err *err);

/* ---- vocabulary for a model trained from scratch -------------------------------- */

typedef struct tvocab {
    char **tokens;          /* [n] token strings as GGUF stores them (byte-level) */
    int32_t *types;         /* [n] llama.cpp token types: 1 normal, 3 control, 4 user-defined, 5 unused */
    int n;
    char **merges;          /* [n_merges] "a b" */
    int n_merges;
    int end_id;             /* <|endoftext|>: the end token training appends, eos/bos/padding */
} tvocab;

/* Reads the vocabulary of PATH: a GGUF file with tokenizer.ggml.* keys, a
** Hugging Face tokenizer.json, or a directory holding one. With limit > 0
** only the first `limit` regular tokens are kept (byte-level BPE ids grow
** with merge rank, so this is the tokenizer BPE would have learnt with
** fewer merges): merges whose parts or result fall outside are dropped,
** the added tokens (<|endoftext|>, <|im_start|>, ...) are kept and
** renumbered after them, unused padding entries are dropped. Errors name
** the file and the key. */
int tvocab_load(tvocab *v, const char *path, int limit, sa_err *err);
void tvocab_free(tvocab *v);
/* Sets the tokenizer.ggml.* keys (model gpt2, pre qwen2, tokens, token_type,
** merges, eos/bos/padding = end_id, add_bos_token false). */
void tvocab_set_kvs(const tvocab *v, gguf_writer *w);
/* A tokenizer-only GGUF (what training tokenizes with, so that training
** and the written model cannot disagree). */
int tvocab_write_gguf(const tvocab *v, const char *path, sa_err *err);

/* ---- exports ---------------------------------------------------------------------- */

/* DIR/adapter_config.json + DIR/adapter_model.safetensors (PEFT LoRA). */
int tio_write_peft(const char *dir, const tmodel *m, const char *base_name, sa_err *err);

/* A GGUF model (f32, architecture qwen2) of a full-mode model that both
** this engine and llama.cpp load. ctx_len: qwen2.context_length. */
/* Fills a full model's weights from a GGUF of the same shape (F32 or F16
** tensors, as tio_write_gguf and `quantize --type f16` write them), to
** start a training from an earlier model. The model may instead be k
** times as deep as the file (same widths): each of the file's layers is
** then followed by k − 1 copies whose output projections are zero, so the
** deeper model computes exactly what the file's does (depth stacking);
** *stack (may be NULL) receives k (1: same depth). */
int tio_read_gguf_weights(const char *path, tmodel *m, int *stack, sa_err *err);

int tio_write_gguf(const char *path, const tmodel *m, const tvocab *v, int ctx_len, const char *name,
                   const char *prompt_format, int schema_tokens, int schema_values, sa_err *err);

/* mkdir -p. */
int tio_mkdirs(const char *path, sa_err *err);

/* malloc'd "dir/file". */
char *tio_join(const char *dir, const char *file);

#endif

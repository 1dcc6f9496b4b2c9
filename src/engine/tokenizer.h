/*
** tokenizer.h — the Qwen2 byte-level BPE tokenizer, exactly as Hugging
** Face's Qwen2 tokenizer: NFC normalization, the Qwen2 pre-tokenizer regex,
** the GPT-2 byte-to-unicode map, merges by rank, and added/special tokens
** matched atomically before pre-tokenization.
**
** Owns: the vocabulary, merge ranks and added tokens. Loads from a GGUF's
** tokenizer.ggml.* metadata, from a Hugging Face tokenizer.json, or from
** vocab.json + merges.txt (+ tokenizer_config.json for added tokens).
*/
#ifndef SA_TOKENIZER_H
#define SA_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "../util/err.h"
#include "gguf.h"

typedef struct tokenizer tokenizer;

/* Loads from PATH: a .gguf file, a tokenizer.json file, or a directory that
** holds tokenizer.json or vocab.json + merges.txt (+ tokenizer_config.json). */
tokenizer *tok_load(const char *path, sa_err *err);
tokenizer *tok_load_gguf(const gguf_file *g, sa_err *err);
tokenizer *tok_load_hf_json(const char *tokenizer_json_path, sa_err *err);
tokenizer *tok_load_vocab_merges(const char *vocab_json, const char *merges_txt,
                                 const char *tokenizer_config_json /* may be NULL */,
                                 sa_err *err);
void tok_free(tokenizer *t);

/* Encodes UTF-8 text (len bytes; need not be NUL-terminated). Added tokens
** written in the text are matched as single tokens. On success *ids is a
** malloc'd array of *n_ids ids (the caller frees it). Invalid UTF-8 is an
** error naming the byte offset. */
int tok_encode(const tokenizer *t, const char *text, size_t len,
               int32_t **ids, size_t *n_ids, sa_err *err);

/* Number of ids (largest id + 1, including added tokens). */
int tok_n_vocab(const tokenizer *t);

/* The id of a token string (regular or added), or -1. */
int tok_lookup(const tokenizer *t, const char *piece);

/* Bytes of one token's text (byte-level decoded; added tokens verbatim).
** Returns the number of bytes written (at most cap), or -1 for a bad id. */
int tok_token_bytes(const tokenizer *t, int id, char *out, size_t cap);

/* 1 if id is a special/control added token (e.g. <|im_end|>). */
int tok_is_special(const tokenizer *t, int id);

/* Decodes ids to a malloc'd NUL-terminated string (special tokens included
** verbatim when `with_special`, skipped otherwise). */
char *tok_decode(const tokenizer *t, const int32_t *ids, size_t n, int with_special);

/* Streaming decode: feed ids one at a time; emits only complete UTF-8
** characters, holding back the bytes of a character split across tokens. */
typedef struct tok_stream {
    unsigned char pending[8];
    int n_pending;
} tok_stream;
void tok_stream_init(tok_stream *s);
/* Appends the printable bytes for `id` to out (NUL-terminated, at most cap-1
** bytes); returns the byte count. */
int tok_stream_push(const tokenizer *t, tok_stream *s, int id, char *out, size_t cap);
/* Flushes held-back bytes (an incomplete character at the end) as U+FFFD. */
int tok_stream_flush(tok_stream *s, char *out, size_t cap);

/* Special ids looked up at load (-1 when absent). */
int tok_eos_id(const tokenizer *t);       /* <|endoftext|> or the file's eos */
int tok_im_start_id(const tokenizer *t);
int tok_im_end_id(const tokenizer *t);

#endif

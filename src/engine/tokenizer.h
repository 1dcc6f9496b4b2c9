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
** holds tokenizer.json or vocab.json + merges.txt (+ tokenizer_config.json).
** A file named *.gguf or starting with the GGUF magic is read as GGUF; any
** other file as tokenizer.json. NULL + a message naming the file and the
** problem on error (JSON errors with line:column). The result does not
** refer to the file or the gguf_file afterwards. A tokenizer is read-only
** once loaded: any number of threads may encode and decode with it. */
tokenizer *tok_load(const char *path, sa_err *err);
/* GGUF: tokenizer.ggml.model must be "gpt2" and tokenizer.ggml.pre, when
** present, "qwen2"; token_type 3 (control) marks special added tokens and 4
** (user-defined) other added tokens. */
tokenizer *tok_load_gguf(const gguf_file *g, sa_err *err);
/* Also reads eos_token from a tokenizer_config.json in the same directory,
** when there is one (it is ignored if it does not parse). */
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

/* The pre-tokenizer alone, for code that learns a vocabulary (src/train/
** bpe.c): text is split exactly as tok_encode splits the text between added
** tokens (NFC normalization, then the Qwen2 regex), without BPE. A
** tok_pretok holds matching state: one per thread. */
typedef struct tok_pretok tok_pretok;
tok_pretok *tok_pretok_new(sa_err *err);
void tok_pretok_free(tok_pretok *p);
/* Called with each piece's bytes (after NFC; not NUL-terminated), in text
** order; a non-zero return stops the split, which then returns non-zero. */
typedef int (*tok_piece_fn)(void *ctx, const unsigned char *piece, size_t n);
/* Splits text (len bytes of UTF-8; added tokens are NOT recognized: the
** caller passes the segments between them). The pieces concatenate to the
** NFC form of the text. Invalid UTF-8 is an error naming the byte offset. */
int tok_pretok_split(tok_pretok *p, const char *text, size_t len, tok_piece_fn fn, void *ctx, sa_err *err);

/* Number of ids (largest id + 1, including added tokens). */
int tok_n_vocab(const tokenizer *t);

/* The id of a token string (regular or added), or -1. */
int tok_lookup(const tokenizer *t, const char *piece);

/* Bytes of one token's text (byte-level decoded; added tokens verbatim).
** Returns the number of bytes written (at most cap), or -1 for a bad id. */
int tok_token_bytes(const tokenizer *t, int id, char *out, size_t cap);

/* The bytes of one token without copying: a pointer into the tokenizer
** (valid until tok_free, NOT NUL-terminated) and its length in *len; NULL
** for a bad id. */
const char *tok_token_data(const tokenizer *t, int id, size_t *len);

/* 1 if id is a special/control added token (e.g. <|im_end|>). */
int tok_is_special(const tokenizer *t, int id);

/* Decodes ids to a malloc'd NUL-terminated string (special tokens included
** verbatim when `with_special`, skipped otherwise). */
char *tok_decode(const tokenizer *t, const int32_t *ids, size_t n, int with_special);
/* As tok_decode, also giving the length in *out_len (if non-NULL): the text
** may contain NUL bytes. Bad ids are skipped; bytes that are not valid UTF-8
** become U+FFFD (one per maximal invalid subpart, as HF does); NULL only when
** out of memory. */
char *tok_decode_n(const tokenizer *t, const int32_t *ids, size_t n, int with_special,
                   size_t *out_len);

/* Streaming decode: feed ids one at a time; emits only complete UTF-8
** characters, holding back the bytes of a character split across tokens. */
typedef struct tok_stream {
    unsigned char pending[8];
    int n_pending;
} tok_stream;
void tok_stream_init(tok_stream *s);
/* Appends the printable bytes for `id` to out (NUL-terminated, at most cap-1
** bytes); returns the byte count. Writes from out[0]; what it writes is
** always whole, valid UTF-8 characters (an invalid byte sequence becomes
** U+FFFD), and the concatenation of all pushes and the flush equals
** tok_decode(..., with_special = 0) of the same ids. Special (control)
** tokens print nothing. A bad id writes nothing and returns -1. With cap at
** least tok_stream_out_cap(t) nothing is ever cut; with less, the output is
** cut at a character boundary and the rest is lost. */
int tok_stream_push(const tokenizer *t, tok_stream *s, int id, char *out, size_t cap);
/* An output size that tok_stream_push and tok_stream_flush always fit in. */
size_t tok_stream_out_cap(const tokenizer *t);
/* Flushes held-back bytes (an incomplete character at the end) as U+FFFD. */
int tok_stream_flush(tok_stream *s, char *out, size_t cap);

/* Special ids looked up at load (-1 when absent). */
/* The file's eos (GGUF tokenizer.ggml.eos_token_id, tokenizer_config.json
** eos_token: <|im_end|> for Qwen2.5) when it names a token, else <|endoftext|>. */
int tok_eos_id(const tokenizer *t);
int tok_im_start_id(const tokenizer *t);
int tok_im_end_id(const tokenizer *t);

#endif

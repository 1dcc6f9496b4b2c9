/*
** tokenizer.c — the Qwen2 byte-level BPE tokenizer (see tokenizer.h).
**
** Encoding follows Hugging Face `tokenizers` step by step, so that ids match
** it exactly:
**   1. added tokens are found in the raw text (leftmost, then longest match)
**      and emitted as single ids; the text between them is a "segment";
**   2. each segment is NFC-normalized (utf8proc);
**   3. the Qwen2 regex splits the segment into pieces (PCRE2, Isolated);
**   4. each piece's bytes are merged by BPE rank into vocabulary ids.
**
** The GPT-2 byte-to-unicode map is a bijection, so BPE runs directly on raw
** bytes: every vocabulary string is translated once at load, and merges are
** stored as (left id, right id) -> (rank, merged id). No per-piece string
** building or hashing is needed when encoding.
*/
#include "tokenizer.h"
#include "../util/hash.h"
#include "../util/utf8.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>
#include <jansson.h>

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>

/* The Qwen2 pre-tokenizer split pattern, as in Qwen2's tokenizer.json. */
static const char QWEN2_PATTERN[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* Ids beyond this are refused at load: they would only come from a corrupt
** file and would make us allocate absurd tables. */
#define MAX_VOCAB (1 << 24)

enum tok_kind {
    KIND_NONE = 0,      /* hole in the id space */
    KIND_NORMAL,        /* regular BPE vocabulary entry */
    KIND_ADDED,         /* added token, not special (e.g. <tool_call>) */
    KIND_SPECIAL,       /* added control token (e.g. <|im_end|>) */
};

typedef struct tok_entry {
    uint32_t text_off, text_len;    /* token string as stored (byte-level unicode) */
    uint32_t bytes_off, bytes_len;  /* the bytes it stands for */
    uint8_t kind;                   /* enum tok_kind */
} tok_entry;

/* An added token, for matching in raw text. */
typedef struct added_tok {
    const char *text;
    uint32_t len;
    int32_t id;
} added_tok;

/* Open-addressing map from token string to id; slots hold id+1 (0 = empty). */
typedef struct str_table {
    uint32_t *slots;
    uint32_t *hashes;
    uint32_t mask;
} str_table;

/* Open-addressing map from (left id, right id) to (rank, merged id). */
typedef struct pair_slot {
    uint64_t key;       /* PAIR_EMPTY when free */
    uint32_t rank;
    int32_t merged;
} pair_slot;
#define PAIR_EMPTY UINT64_MAX

typedef struct pair_table {
    pair_slot *slots;
    uint64_t mask;
    size_t count;
} pair_table;

struct tokenizer {
    int32_t n_vocab;
    tok_entry *entries;
    size_t entries_cap;
    char *text;                 /* arena of token strings */
    size_t text_used, text_cap;
    unsigned char *bytes;       /* arena of decoded token bytes */
    size_t bytes_used;
    size_t max_token_bytes;

    str_table index;
    pair_table merges;
    int32_t byte_id[256];       /* id of each single byte, -1 if absent */

    added_tok *added;           /* sorted by first byte, then longest first */
    int n_added;
    uint16_t added_start[257];  /* bucket of added[] for each first byte */

    pcre2_code *pretok;
    int32_t eos_id, im_start_id, im_end_id, endoftext_id;
};

/* ----------------------------------------------------------- string index */

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

static const char *entry_text(const tokenizer *t, int32_t id) {
    return t->text + t->entries[id].text_off;
}

/* Id of the token whose stored string is s[0..len), or -1. */
static int32_t str_find(const tokenizer *t, const char *s, size_t len) {
    const str_table *st = &t->index;
    if (!st->slots) return -1;
    uint64_t h = hash_bytes(0, s, len);
    uint32_t h32 = (uint32_t)h;
    for (uint32_t i = (uint32_t)(h >> 32) & st->mask;; i = (i + 1) & st->mask) {
        uint32_t v = st->slots[i];
        if (v == 0) return -1;
        int32_t id = (int32_t)(v - 1);
        if (st->hashes[i] == h32 && t->entries[id].text_len == len &&
            memcmp(entry_text(t, id), s, len) == 0)
            return id;
    }
}

/* Inserts id under its own string; an existing entry with the same string is
** replaced only when `replace` (added tokens take precedence, as in HF). */
static void str_insert(tokenizer *t, int32_t id, bool replace) {
    str_table *st = &t->index;
    const char *s = entry_text(t, id);
    size_t len = t->entries[id].text_len;
    uint64_t h = hash_bytes(0, s, len);
    uint32_t h32 = (uint32_t)h;
    for (uint32_t i = (uint32_t)(h >> 32) & st->mask;; i = (i + 1) & st->mask) {
        uint32_t v = st->slots[i];
        if (v == 0) {
            st->slots[i] = (uint32_t)id + 1;
            st->hashes[i] = h32;
            return;
        }
        int32_t other = (int32_t)(v - 1);
        if (st->hashes[i] == h32 && t->entries[other].text_len == len &&
            memcmp(entry_text(t, other), s, len) == 0) {
            if (replace) st->slots[i] = (uint32_t)id + 1;
            return;
        }
    }
}

static const pair_slot *pair_find(const pair_table *pt, int32_t left, int32_t right) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (uint64_t i = hash_mix64(key) & pt->mask;; i = (i + 1) & pt->mask) {
        const pair_slot *s = &pt->slots[i];
        if (s->key == key) return s;
        if (s->key == PAIR_EMPTY) return NULL;
    }
}

/* A later duplicate merge overwrites the earlier one, as HF's HashMap does. */
static void pair_insert(pair_table *pt, int32_t left, int32_t right, uint32_t rank, int32_t merged) {
    assert(pt->count < pt->mask);  /* table sized for all merges up front */
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (uint64_t i = hash_mix64(key) & pt->mask;; i = (i + 1) & pt->mask) {
        pair_slot *s = &pt->slots[i];
        if (s->key == PAIR_EMPTY || s->key == key) {
            if (s->key == PAIR_EMPTY) pt->count++;
            s->key = key;
            s->rank = rank;
            s->merged = merged;
            return;
        }
    }
}

/* -------------------------------------------------------------- UTF-8 */

/* Decoding is util/utf8.h's utf8_next: each maximal invalid subpart of
** decoded bytes becomes one U+FFFD, as Hugging Face's decoding does. */
static const unsigned char REPLACEMENT_CHAR[3] = {0xEF, 0xBF, 0xBD};

/* ------------------------------------------------- GPT-2 byte <-> unicode */

/* GPT-2 maps each byte to a printable code point: bytes that are printable
** Latin-1 map to themselves, the other 68 to U+0100 onwards, in order. */
static bool byte_is_self_mapped(int b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

static void byte_to_codepoint_table(uint32_t cp_of_byte[256]) {
    uint32_t next = 256;
    for (int b = 0; b < 256; b++) cp_of_byte[b] = byte_is_self_mapped(b) ? (uint32_t)b : next++;
    assert(next == 256 + 68);
}

/* Inverse map: code point (< 324) -> byte, or -1. */
static void codepoint_to_byte_table(int16_t byte_of_cp[324]) {
    uint32_t cp_of_byte[256];
    byte_to_codepoint_table(cp_of_byte);
    for (int i = 0; i < 324; i++) byte_of_cp[i] = -1;
    for (int b = 0; b < 256; b++) byte_of_cp[cp_of_byte[b]] = (int16_t)b;
}

/* Decodes a byte-level token string into raw bytes in out (room for len
** bytes: each character yields one byte). Returns the byte count, or -1 if a
** character is outside the byte alphabet; HF's ByteLevel decoder then keeps
** the token's text as it is, and so do we. */
static long byte_level_decode(const int16_t byte_of_cp[324], const unsigned char *s, size_t len,
                              unsigned char *out) {
    size_t i = 0, n = 0;
    while (i < len) {
        uint32_t cp;
        int k = utf8_next((const char *)s + i, len - i, &cp);
        if (k <= 0) return -1;
        if (cp >= 324 || byte_of_cp[cp] < 0) return -1;   /* the alphabet stops at U+0143 */
        out[n++] = (unsigned char)byte_of_cp[cp];
        i += (size_t)k;
    }
    return (long)n;
}

/* ------------------------------------------------------------ building */

/* Loading happens in phases shared by the three sources:
**   tb_set_token (every id) -> tb_index -> tb_add_merge (every merge) -> tb_finish. */

static tokenizer *tb_new(sa_err *err) {
    tokenizer *t = calloc(1, sizeof *t);
    if (!t) { sa_fail(err, "out of memory"); return NULL; }
    t->eos_id = t->im_start_id = t->im_end_id = t->endoftext_id = -1;
    return t;
}

/* Makes ids 0..n-1 exist (new ones are holes until set). */
static int tb_reserve_ids(tokenizer *t, int32_t n, sa_err *err) {
    assert(n <= MAX_VOCAB);
    if (n <= t->n_vocab) return 0;
    if ((size_t)n > t->entries_cap) {
        /* geometric growth: ids may arrive one past the end at a time */
        size_t cap = t->entries_cap ? t->entries_cap : 1024;
        while (cap < (size_t)n) cap *= 2;
        tok_entry *e = realloc(t->entries, cap * sizeof *e);
        if (!e) return sa_fail(err, "out of memory");
        t->entries = e;
        t->entries_cap = cap;
    }
    memset(t->entries + t->n_vocab, 0, (size_t)(n - t->n_vocab) * sizeof *t->entries);
    t->n_vocab = n;
    return 0;
}

/* Sets the string of token `id`. An id given twice is an error unless it is
** an added token restating the same string (tokenizer.json lists the added
** tokens that are also in the vocabulary again). `what` names the source. */
static int tb_set_token(tokenizer *t, int64_t id, const char *s, size_t len, enum tok_kind kind,
                        const char *what, sa_err *err) {
    assert(kind != KIND_NONE);
    if (id < 0 || id >= MAX_VOCAB)
        return sa_fail(err, "%s: token id %lld out of range", what, (long long)id);
    if (tb_reserve_ids(t, (int32_t)id + 1, err)) return -1;
    tok_entry *e = &t->entries[id];
    if (e->kind != KIND_NONE) {
        if (kind != KIND_NORMAL && e->text_len == len && memcmp(t->text + e->text_off, s, len) == 0) {
            e->kind = (uint8_t)kind;
            return 0;
        }
        return sa_fail(err, "%s: token id %lld given twice ('%.*s' and '%.*s')", what, (long long)id,
                       (int)(e->text_len > 80 ? 80 : e->text_len), t->text + e->text_off,
                       (int)(len > 80 ? 80 : len), s);
    }
    if (len > UINT32_MAX / 2 || t->text_used + len + 1 > UINT32_MAX)
        return sa_fail(err, "%s: token strings too large", what);
    if (t->text_used + len + 1 > t->text_cap) {
        size_t cap = t->text_cap ? t->text_cap : 1 << 20;
        while (cap < t->text_used + len + 1) cap *= 2;
        char *p = realloc(t->text, cap);
        if (!p) return sa_fail(err, "out of memory");
        t->text = p;
        t->text_cap = cap;
    }
    memcpy(t->text + t->text_used, s, len);
    t->text[t->text_used + len] = '\0';
    e->text_off = (uint32_t)t->text_used;
    e->text_len = (uint32_t)len;
    e->kind = (uint8_t)kind;
    t->text_used += len + 1;
    return 0;
}

/* Builds the string index, each token's bytes and the single-byte ids. */
static int tb_index(tokenizer *t, const char *what, sa_err *err) {
    if (t->n_vocab == 0) return sa_fail(err, "%s: empty vocabulary", what);
    size_t cap = pow2_at_least((size_t)t->n_vocab * 2);
    t->index.slots = calloc(cap, sizeof *t->index.slots);
    t->index.hashes = malloc(cap * sizeof *t->index.hashes);
    t->bytes = malloc(t->text_used ? t->text_used : 1);   /* decoding never grows text */
    if (!t->index.slots || !t->index.hashes || !t->bytes) return sa_fail(err, "out of memory");
    t->index.mask = (uint32_t)(cap - 1);

    /* Added tokens go in after the vocabulary so that they win a clash. */
    for (int pass = 0; pass < 2; pass++)
        for (int32_t id = 0; id < t->n_vocab; id++) {
            uint8_t k = t->entries[id].kind;
            if (k != KIND_NONE && (k == KIND_NORMAL) == (pass == 0)) str_insert(t, id, pass == 1);
        }

    int16_t byte_of_cp[324];
    codepoint_to_byte_table(byte_of_cp);
    for (int32_t id = 0; id < t->n_vocab; id++) {
        tok_entry *e = &t->entries[id];
        if (e->kind == KIND_NONE) continue;
        const unsigned char *s = (const unsigned char *)t->text + e->text_off;
        unsigned char *dst = t->bytes + t->bytes_used;
        long n = e->kind == KIND_NORMAL ? byte_level_decode(byte_of_cp, s, e->text_len, dst) : -1;
        if (n < 0) {        /* added tokens, and strings outside the byte alphabet: verbatim */
            memcpy(dst, s, e->text_len);
            n = e->text_len;
        }
        e->bytes_off = (uint32_t)t->bytes_used;
        e->bytes_len = (uint32_t)n;
        t->bytes_used += (size_t)n;
        if ((size_t)n > t->max_token_bytes) t->max_token_bytes = (size_t)n;
        assert(t->bytes_used <= t->text_used);
    }

    uint32_t cp_of_byte[256];
    byte_to_codepoint_table(cp_of_byte);
    for (int b = 0; b < 256; b++) {
        char u[4];
        utf8proc_ssize_t n = utf8proc_encode_char((utf8proc_int32_t)cp_of_byte[b], (utf8proc_uint8_t *)u);
        int32_t id = str_find(t, u, (size_t)n);
        t->byte_id[b] = (id >= 0 && t->entries[id].kind == KIND_NORMAL) ? id : -1;
    }
    return 0;
}

static int tb_reserve_merges(tokenizer *t, size_t n, sa_err *err) {
    assert(!t->merges.slots);
    size_t cap = pow2_at_least(n * 2 + 1);
    t->merges.slots = malloc(cap * sizeof *t->merges.slots);
    if (!t->merges.slots) return sa_fail(err, "out of memory");
    for (size_t i = 0; i < cap; i++) t->merges.slots[i].key = PAIR_EMPTY;
    t->merges.mask = cap - 1;
    return 0;
}

/* Model-vocabulary id of a merge part, or -1 (merges never name added tokens). */
static int32_t vocab_find(const tokenizer *t, const char *s, size_t len) {
    int32_t id = str_find(t, s, len);
    return (id >= 0 && t->entries[id].kind == KIND_NORMAL) ? id : -1;
}

/* Registers merge number `rank`: left + right. Like HF, a merge naming a
** string that is not in the vocabulary is an error. */
static int tb_add_merge(tokenizer *t, uint32_t rank, const char *left, size_t left_len,
                        const char *right, size_t right_len, const char *what, sa_err *err) {
    int32_t a = vocab_find(t, left, left_len), b = vocab_find(t, right, right_len);
    int32_t merged = -1;
    if (a >= 0 && b >= 0) {
        char stack_buf[256];
        size_t n = left_len + right_len;
        char *joined = n <= sizeof stack_buf ? stack_buf : malloc(n);
        if (!joined) return sa_fail(err, "out of memory");
        memcpy(joined, left, left_len);
        memcpy(joined + left_len, right, right_len);
        merged = vocab_find(t, joined, n);
        if (joined != stack_buf) free(joined);
    }
    if (merged < 0)
        return sa_fail(err, "%s: merge %u ('%.*s %.*s') names a token that is not in the vocabulary",
                       what, rank + 1, (int)(left_len > 60 ? 60 : left_len), left,
                       (int)(right_len > 60 ? 60 : right_len), right);
    pair_insert(&t->merges, a, b, rank, merged);
    return 0;
}

/* Splits a "left right" merge line at its first space (from the second
** byte, so that a merge of a token starting with a space still parses). */
static int tb_add_merge_line(tokenizer *t, uint32_t rank, const char *line, size_t len,
                             const char *what, sa_err *err) {
    const char *sp = len > 1 ? memchr(line + 1, ' ', len - 1) : NULL;
    if (!sp)
        return sa_fail(err, "%s: merge %u ('%.*s') is not of the form 'left right'", what, rank + 1,
                       (int)(len > 60 ? 60 : len), line);
    return tb_add_merge(t, rank, line, (size_t)(sp - line), sp + 1, len - (size_t)(sp - line) - 1,
                        what, err);
}

static int cmp_added(const void *pa, const void *pb) {
    const added_tok *a = pa, *b = pb;
    unsigned char fa = (unsigned char)a->text[0], fb = (unsigned char)b->text[0];
    if (fa != fb) return fa < fb ? -1 : 1;
    if (a->len != b->len) return a->len > b->len ? -1 : 1;   /* longest first */
    return a->id < b->id ? -1 : a->id > b->id;
}

static int32_t special_by_name(const tokenizer *t, const char *name) {
    int32_t id = str_find(t, name, strlen(name));
    return id >= 0 && t->entries[id].kind != KIND_NORMAL ? id : -1;
}

/* The compiled Qwen2 split pattern (JIT when available), or NULL + message. */
static pcre2_code *compile_pretok(sa_err *err) {
    int code;
    PCRE2_SIZE at;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)QWEN2_PATTERN, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP, &code, &at, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        sa_fail(err, "pre-tokenizer regex: %s at offset %zu", (const char *)msg, (size_t)at);
        return NULL;
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);   /* interpreter if JIT is unavailable */
    return re;
}

/* Collects the added tokens, compiles the pre-tokenizer and looks up the
** special ids. `eos_hint` is the file's eos id, or -1. */
static int tb_finish(tokenizer *t, int64_t eos_hint, const char *what, sa_err *err) {
    if (!t->merges.slots && tb_reserve_merges(t, 0, err)) return -1;
    int n = 0;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (t->entries[id].kind >= KIND_ADDED && t->entries[id].text_len > 0) n++;
    t->added = malloc((size_t)(n ? n : 1) * sizeof *t->added);
    if (!t->added) return sa_fail(err, "out of memory");
    if (n > UINT16_MAX) return sa_fail(err, "%s: too many added tokens (%d)", what, n);
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const tok_entry *e = &t->entries[id];
        if (e->kind >= KIND_ADDED && e->text_len > 0)
            t->added[t->n_added++] = (added_tok){entry_text(t, id), e->text_len, id};
    }
    qsort(t->added, (size_t)t->n_added, sizeof *t->added, cmp_added);
    for (int b = 0, i = 0; b <= 256; b++) {
        while (i < t->n_added && (unsigned char)t->added[i].text[0] < b) i++;
        t->added_start[b] = (uint16_t)i;
    }

    if (!(t->pretok = compile_pretok(err))) return -1;

    t->endoftext_id = special_by_name(t, "<|endoftext|>");
    t->im_start_id = special_by_name(t, "<|im_start|>");
    t->im_end_id = special_by_name(t, "<|im_end|>");
    t->eos_id = (eos_hint >= 0 && eos_hint < t->n_vocab && t->entries[eos_hint].kind != KIND_NONE)
                    ? (int32_t)eos_hint : t->endoftext_id;
    return 0;
}

void tok_free(tokenizer *t) {
    if (!t) return;
    free(t->entries);
    free(t->text);
    free(t->bytes);
    free(t->index.slots);
    free(t->index.hashes);
    free(t->merges.slots);
    free(t->added);
    pcre2_code_free(t->pretok);
    free(t);
}

/* ---------------------------------------------------------------- GGUF */

static bool is_int_vtype(uint32_t vt) {
    return vt == GGUF_UINT8 || vt == GGUF_INT8 || vt == GGUF_UINT16 || vt == GGUF_INT16 ||
           vt == GGUF_UINT32 || vt == GGUF_INT32 || vt == GGUF_UINT64 || vt == GGUF_INT64;
}

/* llama.cpp token types */
enum { GGUF_TOKEN_CONTROL = 3, GGUF_TOKEN_USER_DEFINED = 4 };

tokenizer *tok_load_gguf(const gguf_file *g, sa_err *err) {
    assert(g);
    const char *name = g->path ? g->path : "gguf";
    const gguf_kv *model = gguf_get(g, "tokenizer.ggml.model");
    const gguf_kv *pre = gguf_get(g, "tokenizer.ggml.pre");
    const gguf_kv *tokens = gguf_get(g, "tokenizer.ggml.tokens");
    const gguf_kv *types = gguf_get(g, "tokenizer.ggml.token_type");
    const gguf_kv *merges = gguf_get(g, "tokenizer.ggml.merges");
    if (!model || model->type != GGUF_STRING)
        return sa_fail(err, "%s: missing string key 'tokenizer.ggml.model'", name), NULL;
    if (model->str.len != 4 || memcmp(model->str.ptr, "gpt2", 4) != 0)
        return sa_fail(err, "%s: tokenizer.ggml.model is '%.*s'; only 'gpt2' (byte-level BPE) is supported",
                       name, (int)(model->str.len > 40 ? 40 : model->str.len), model->str.ptr), NULL;
    /* Another pre-tokenizer would split text differently and give wrong ids silently. */
    if (pre && (pre->type != GGUF_STRING || pre->str.len != 5 || memcmp(pre->str.ptr, "qwen2", 5) != 0))
        return sa_fail(err, "%s: tokenizer.ggml.pre is not 'qwen2'; only the Qwen2 pre-tokenizer is supported",
                       name), NULL;
    if (!tokens || tokens->type != GGUF_ARRAY || tokens->arr_type != GGUF_STRING)
        return sa_fail(err, "%s: missing string array 'tokenizer.ggml.tokens'", name), NULL;
    if (!types || types->type != GGUF_ARRAY || !is_int_vtype(types->arr_type))
        return sa_fail(err, "%s: missing integer array 'tokenizer.ggml.token_type'", name), NULL;
    if (!merges || merges->type != GGUF_ARRAY || merges->arr_type != GGUF_STRING)
        return sa_fail(err, "%s: missing string array 'tokenizer.ggml.merges'", name), NULL;
    if (types->arr_n != tokens->arr_n)
        return sa_fail(err, "%s: tokenizer.ggml.token_type has %llu entries but tokenizer.ggml.tokens has %llu",
                       name, (unsigned long long)types->arr_n, (unsigned long long)tokens->arr_n), NULL;
    if (tokens->arr_n == 0 || tokens->arr_n > MAX_VOCAB)
        return sa_fail(err, "%s: tokenizer.ggml.tokens has %llu entries", name,
                       (unsigned long long)tokens->arr_n), NULL;
    if (merges->arr_n > UINT32_MAX / 4)
        return sa_fail(err, "%s: too many merges", name), NULL;
    uint32_t eos = UINT32_MAX;
    if (gguf_get_u32(g, "tokenizer.ggml.eos_token_id", 0, &eos, err)) return NULL;

    tokenizer *t = tb_new(err);
    if (!t) return NULL;
    char what[600];
    snprintf(what, sizeof what, "%s: tokenizer.ggml.tokens", name);
    if (tb_reserve_ids(t, (int32_t)tokens->arr_n, err)) goto fail;
    for (uint64_t i = 0; i < tokens->arr_n; i++) {
        int64_t ty = gguf_arr_int(types, i);
        enum tok_kind kind = ty == GGUF_TOKEN_CONTROL ? KIND_SPECIAL
                           : ty == GGUF_TOKEN_USER_DEFINED ? KIND_ADDED : KIND_NORMAL;
        if (tb_set_token(t, (int64_t)i, tokens->arr_str[i].ptr, tokens->arr_str[i].len, kind, what, err))
            goto fail;
    }
    if (tb_index(t, what, err)) goto fail;
    snprintf(what, sizeof what, "%s: tokenizer.ggml.merges", name);
    if (tb_reserve_merges(t, merges->arr_n, err)) goto fail;
    for (uint64_t i = 0; i < merges->arr_n; i++)
        if (tb_add_merge_line(t, (uint32_t)i, merges->arr_str[i].ptr, merges->arr_str[i].len, what, err))
            goto fail;
    if (tb_finish(t, eos == UINT32_MAX ? -1 : (int64_t)eos, name, err)) goto fail;
    return t;
fail:
    tok_free(t);
    return NULL;
}

/* ---------------------------------------------------------------- JSON */

static json_t *load_json(const char *path, sa_err *err) {
    json_error_t je;
    json_t *root = json_load_file(path, JSON_DECODE_ANY, &je);
    if (!root) {
        if (je.line > 0)
            sa_fail(err, "%s:%d:%d: invalid JSON: %s", path, je.line, je.column, je.text);
        else
            sa_fail(err, "%s: %s", path, je.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        sa_fail(err, "%s: expected a JSON object at the top level", path);
        return NULL;
    }
    return root;
}

/* Puts every entry of a {"token": id} object in as a regular token. */
static int add_vocab_object(tokenizer *t, json_t *vocab, const char *what, sa_err *err) {
    const char *key;
    json_t *val;
    /* size the id table once: ids are normally 0..n-1 */
    if (tb_reserve_ids(t, (int32_t)(json_object_size(vocab) < MAX_VOCAB ? json_object_size(vocab) : 0), err))
        return -1;
    json_object_foreach(vocab, key, val) {
        if (!json_is_integer(val))
            return sa_fail(err, "%s: vocabulary entry '%.60s' is not an integer id", what, key);
        if (tb_set_token(t, json_integer_value(val), key, strlen(key), KIND_NORMAL, what, err)) return -1;
    }
    return 0;
}

/* One added token {"content": ..., "special": ...} with the given id. */
static int add_added_token(tokenizer *t, int64_t id, json_t *obj, const char *what, sa_err *err) {
    json_t *content = json_object_get(obj, "content");
    if (!json_is_string(content))
        return sa_fail(err, "%s: added token %lld has no string 'content'", what, (long long)id);
    enum tok_kind kind = json_is_true(json_object_get(obj, "special")) ? KIND_SPECIAL : KIND_ADDED;
    return tb_set_token(t, id, json_string_value(content), json_string_length(content), kind, what, err);
}

/* merges: an array of "left right" strings or of [left, right] pairs. */
static int add_merges_array(tokenizer *t, json_t *merges, const char *what, sa_err *err) {
    size_t n = json_array_size(merges);
    if (n > UINT32_MAX / 4) return sa_fail(err, "%s: too many merges", what);
    if (tb_reserve_merges(t, n, err)) return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(merges, i);
        int rc;
        if (json_is_string(m)) {
            rc = tb_add_merge_line(t, (uint32_t)i, json_string_value(m), json_string_length(m), what, err);
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            json_t *a = json_array_get(m, 0), *b = json_array_get(m, 1);
            rc = tb_add_merge(t, (uint32_t)i, json_string_value(a), json_string_length(a),
                              json_string_value(b), json_string_length(b), what, err);
        } else {
            rc = sa_fail(err, "%s: merge %zu is neither a string nor a pair of strings", what, i + 1);
        }
        if (rc) return -1;
    }
    return 0;
}

/* eos_token of a tokenizer_config.json ("..." or {"content": "..."}) as an
** id, or -1 when absent or unknown. */
static int64_t config_eos(const tokenizer *t, json_t *config) {
    json_t *eos = json_object_get(config, "eos_token");
    if (json_is_object(eos)) eos = json_object_get(eos, "content");
    if (!json_is_string(eos)) return -1;
    return str_find(t, json_string_value(eos), json_string_length(eos));
}

/* The tokenizer_config.json beside `path`, or NULL (silently) if there is
** none or it does not parse: it only supplies the eos token. */
static json_t *sibling_config(const char *path) {
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    char *cfg = malloc(dir_len + sizeof "tokenizer_config.json");
    if (!cfg) return NULL;
    memcpy(cfg, path, dir_len);
    strcpy(cfg + dir_len, "tokenizer_config.json");
    json_error_t je;
    json_t *root = json_load_file(cfg, 0, &je);
    free(cfg);
    return root;
}

tokenizer *tok_load_hf_json(const char *path, sa_err *err) {
    json_t *root = load_json(path, err);
    if (!root) return NULL;
    tokenizer *t = tb_new(err);
    json_t *config = NULL;
    if (!t) goto fail;
    json_t *model = json_object_get(root, "model");
    json_t *type = json_object_get(model, "type");
    json_t *vocab = json_object_get(model, "vocab");
    json_t *merges = json_object_get(model, "merges");
    json_t *added = json_object_get(root, "added_tokens");
    if (!json_is_object(model)) { sa_fail(err, "%s: no 'model' object", path); goto fail; }
    if (type && !(json_is_string(type) && strcmp(json_string_value(type), "BPE") == 0)) {
        sa_fail(err, "%s: model.type is not \"BPE\"", path);
        goto fail;
    }
    if (!json_is_object(vocab)) { sa_fail(err, "%s: no 'model.vocab' object", path); goto fail; }
    if (!json_is_array(merges)) { sa_fail(err, "%s: no 'model.merges' array", path); goto fail; }
    if (added && !json_is_array(added)) { sa_fail(err, "%s: 'added_tokens' is not an array", path); goto fail; }

    char what[600];
    snprintf(what, sizeof what, "%s: model.vocab", path);
    if (add_vocab_object(t, vocab, what, err)) goto fail;
    snprintf(what, sizeof what, "%s: added_tokens", path);
    for (size_t i = 0; i < json_array_size(added); i++) {
        json_t *a = json_array_get(added, i);
        json_t *id = json_object_get(a, "id");
        if (!json_is_integer(id)) { sa_fail(err, "%s: entry %zu has no integer 'id'", what, i); goto fail; }
        if (add_added_token(t, json_integer_value(id), a, what, err)) goto fail;
    }
    if (tb_index(t, path, err)) goto fail;
    snprintf(what, sizeof what, "%s: model.merges", path);
    if (add_merges_array(t, merges, what, err)) goto fail;
    config = sibling_config(path);
    if (tb_finish(t, json_is_object(config) ? config_eos(t, config) : -1, path, err)) goto fail;
    json_decref(config);
    json_decref(root);
    return t;
fail:
    json_decref(config);
    json_decref(root);
    tok_free(t);
    return NULL;
}

/* Reads a whole file into a malloc'd NUL-terminated buffer. */
static char *read_file(const char *path, size_t *len, sa_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) { sa_fail(err, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        char *p = realloc(buf, cap * 2);
        if (!p) { free(buf); buf = NULL; break; }
        buf = p;
        cap *= 2;
    }
    bool failed = ferror(f);
    fclose(f);
    if (!buf) { sa_fail(err, "%s: out of memory", path); return NULL; }
    if (failed) { free(buf); sa_fail(err, "%s: read error", path); return NULL; }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* merges.txt: one "left right" per line after an optional "#version" line;
** blank lines are skipped, as the Python Qwen2Tokenizer does. */
static int add_merges_txt(tokenizer *t, const char *path, sa_err *err) {
    size_t len;
    char *buf = read_file(path, &len, err);
    if (!buf) return -1;
    size_t n_lines = 1;
    for (size_t i = 0; i < len; i++) n_lines += buf[i] == '\n';
    int rc = tb_reserve_merges(t, n_lines, err);
    uint32_t rank = 0;
    size_t line_no = 0;
    for (size_t pos = 0; rc == 0 && pos < len;) {
        char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len, line_len = end - pos;
        line_no++;
        if (line_len > 0 && buf[pos + line_len - 1] == '\r') line_len--;
        bool version = line_no == 1 && line_len >= 8 && memcmp(buf + pos, "#version", 8) == 0;
        if (line_len > 0 && !version) {
            char what[600];
            snprintf(what, sizeof what, "%s:%zu", path, line_no);
            rc = tb_add_merge_line(t, rank++, buf + pos, line_len, what, err);
        }
        pos = end + 1;
    }
    free(buf);
    return rc;
}

tokenizer *tok_load_vocab_merges(const char *vocab_json, const char *merges_txt,
                                 const char *tokenizer_config_json, sa_err *err) {
    json_t *vocab = NULL, *config = NULL;
    tokenizer *t = tb_new(err);
    if (!t) return NULL;
    if (!(vocab = load_json(vocab_json, err))) goto fail;
    if (tokenizer_config_json && !(config = load_json(tokenizer_config_json, err))) goto fail;
    if (add_vocab_object(t, vocab, vocab_json, err)) goto fail;
    json_t *decoder = config ? json_object_get(config, "added_tokens_decoder") : NULL;
    if (decoder) {
        char what[600];
        snprintf(what, sizeof what, "%s: added_tokens_decoder", tokenizer_config_json);
        if (!json_is_object(decoder)) { sa_fail(err, "%s is not an object", what); goto fail; }
        const char *key;
        json_t *val;
        json_object_foreach(decoder, key, val) {
            char *end;
            long long id = strtoll(key, &end, 10);
            if (end == key || *end != '\0') { sa_fail(err, "%s: key '%.40s' is not an id", what, key); goto fail; }
            if (!json_is_object(val)) { sa_fail(err, "%s: entry %lld is not an object", what, id); goto fail; }
            if (add_added_token(t, id, val, what, err)) goto fail;
        }
    }
    if (tb_index(t, vocab_json, err)) goto fail;
    if (add_merges_txt(t, merges_txt, err)) goto fail;
    if (tb_finish(t, config ? config_eos(t, config) : -1, vocab_json, err)) goto fail;
    json_decref(vocab);
    json_decref(config);
    return t;
fail:
    json_decref(vocab);
    json_decref(config);
    tok_free(t);
    return NULL;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static char *join_path(const char *dir, const char *name) {
    size_t n = strlen(dir);
    char *p = malloc(n + strlen(name) + 2);
    if (p) sprintf(p, "%s%s%s", dir, (n && dir[n - 1] == '/') ? "" : "/", name);
    return p;
}

/* A GGUF file is known by its magic as well as by its name. */
static bool has_gguf_magic(const char *path) {
    char magic[4];
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    bool yes = fread(magic, 1, 4, f) == 4 && memcmp(magic, "GGUF", 4) == 0;
    fclose(f);
    return yes;
}

static bool is_regular_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

tokenizer *tok_load(const char *path, sa_err *err) {
    assert(path);
    struct stat st;
    if (stat(path, &st) != 0) return sa_fail(err, "%s: no such file or directory", path), NULL;
    if (ends_with(path, ".gguf") || (S_ISREG(st.st_mode) && has_gguf_magic(path))) {
        gguf_file *g = gguf_open(path, err);
        if (!g) return NULL;
        tokenizer *t = tok_load_gguf(g, err);
        gguf_close(g);   /* nothing of the mapping is kept */
        return t;
    }
    if (!S_ISDIR(st.st_mode)) return tok_load_hf_json(path, err);

    char *tj = join_path(path, "tokenizer.json");
    char *vj = join_path(path, "vocab.json");
    char *mt = join_path(path, "merges.txt");
    char *cfg = join_path(path, "tokenizer_config.json");
    tokenizer *t = NULL;
    if (!tj || !vj || !mt || !cfg) sa_fail(err, "out of memory");
    else if (is_regular_file(tj)) t = tok_load_hf_json(tj, err);
    else if (is_regular_file(vj) && is_regular_file(mt))
        t = tok_load_vocab_merges(vj, mt, is_regular_file(cfg) ? cfg : NULL, err);
    else sa_fail(err, "%s: directory has neither tokenizer.json nor vocab.json + merges.txt", path);
    free(tj);
    free(vj);
    free(mt);
    free(cfg);
    return t;
}

/* -------------------------------------------------------------- encoding */

typedef struct bpe_sym {
    int32_t id;
    int32_t prev, next;     /* neighbours in the current word, -1 at the ends */
    bool alive;
} bpe_sym;

/* A candidate merge of the symbol at `pos` with its right neighbour. */
typedef struct bpe_cand {
    uint32_t rank;
    uint32_t pos;
    int32_t merged;
} bpe_cand;

typedef struct enc_ctx {
    const tokenizer *t;
    int32_t *ids;
    size_t n_ids, cap_ids;
    bpe_sym *syms;
    bpe_cand *heap;
    size_t cap_work;        /* bytes of piece that syms/heap can take */
    pcre2_match_data *md;
    sa_err *err;
} enc_ctx;

static int emit(enc_ctx *c, int32_t id) {
    if (c->n_ids == c->cap_ids) {
        size_t cap = c->cap_ids ? c->cap_ids * 2 : 256;
        int32_t *p = realloc(c->ids, cap * sizeof *p);
        if (!p) return sa_fail(c->err, "out of memory");
        c->ids = p;
        c->cap_ids = cap;
    }
    c->ids[c->n_ids++] = id;
    return 0;
}

/* Min-heap order: lowest rank first, then leftmost, as HF's BPE does. */
static bool cand_before(const bpe_cand *a, const bpe_cand *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(bpe_cand *h, size_t *n, bpe_cand c) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!cand_before(&c, &h[parent])) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = c;
}

static bpe_cand heap_pop(bpe_cand *h, size_t *n) {
    assert(*n > 0);
    bpe_cand top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= *n) break;
        if (child + 1 < *n && cand_before(&h[child + 1], &h[child])) child++;
        if (!cand_before(&h[child], &last)) break;
        h[i] = h[child];
        i = child;
    }
    if (*n > 0) h[i] = last;
    return top;
}

static void push_pair(enc_ctx *c, size_t *n_heap, int32_t pos) {
    const bpe_sym *s = c->syms;
    if (pos < 0 || s[pos].next < 0) return;
    const pair_slot *m = pair_find(&c->t->merges, s[pos].id, s[s[pos].next].id);
    if (m) heap_push(c->heap, n_heap, (bpe_cand){m->rank, (uint32_t)pos, m->merged});
}

/* BPE on one pre-tokenized piece (its raw bytes). */
static int bpe_piece(enc_ctx *c, const unsigned char *p, size_t n) {
    const tokenizer *t = c->t;
    if (n == 1) return t->byte_id[p[0]] >= 0 ? emit(c, t->byte_id[p[0]]) : 0;
    if (n > c->cap_work) {
        size_t cap = n < 64 ? 64 : n;
        free(c->syms);
        free(c->heap);
        c->syms = malloc(cap * sizeof *c->syms);
        c->heap = malloc(3 * cap * sizeof *c->heap);   /* n-1 initial pairs + 2 per merge */
        c->cap_work = c->syms && c->heap ? cap : 0;
        if (!c->cap_work) return sa_fail(c->err, "out of memory");
    }
    bpe_sym *s = c->syms;
    int32_t n_sym = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_id[p[i]];
        if (id < 0) continue;     /* HF drops characters missing from the vocabulary */
        s[n_sym] = (bpe_sym){id, n_sym - 1, n_sym + 1, true};
        n_sym++;
    }
    if (n_sym == 0) return 0;
    s[n_sym - 1].next = -1;

    size_t n_heap = 0;
    for (int32_t i = 0; i + 1 < n_sym; i++) push_pair(c, &n_heap, i);
    while (n_heap > 0) {
        bpe_cand top = heap_pop(c->heap, &n_heap);
        bpe_sym *left = &s[top.pos];
        if (!left->alive || left->next < 0) continue;
        /* Skip stale candidates: the pair at pos has changed since the push. */
        const pair_slot *m = pair_find(&t->merges, left->id, s[left->next].id);
        if (!m || m->merged != top.merged) continue;
        bpe_sym *right = &s[left->next];
        left->id = top.merged;
        right->alive = false;
        left->next = right->next;
        if (left->next >= 0) s[left->next].prev = (int32_t)top.pos;
        push_pair(c, &n_heap, left->prev);
        push_pair(c, &n_heap, (int32_t)top.pos);
        assert(n_heap <= 3 * c->cap_work);
    }
    for (int32_t i = 0; i >= 0; i = s[i].next)
        if (emit(c, s[i].id)) return -1;
    return 0;
}

/* Splits one NFC segment with the Qwen2 regex, handing each piece to fn. */
static int split_pieces(const pcre2_code *re, pcre2_match_data *md, const unsigned char *seg, size_t n,
                        tok_piece_fn fn, void *ctx, sa_err *err) {
    size_t pos = 0;
    while (pos < n) {
        int rc = pcre2_match(re, seg, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) return fn(ctx, seg + pos, n - pos);
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return sa_fail(err, "pre-tokenizer: %s", (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t start = ov[0], end = ov[1];
        assert(start >= pos && end >= start && end <= n);
        if (start > pos && fn(ctx, seg + pos, start - pos)) return -1;   /* uncovered text */
        if (end == start) {
            /* An empty match cannot happen with this pattern; step one
            ** character so that a changed pattern cannot loop forever. */
            int k = utf8_next((const char *)seg + start, n - start, NULL);
            end = start + (size_t)(k > 0 ? k : 1);
        }
        if (fn(ctx, seg + start, end - start)) return -1;
        pos = end;
    }
    return 0;
}

/* NFC-normalizes one segment (valid UTF-8, no added tokens) and splits it. */
static int normalize_and_split(const pcre2_code *re, pcre2_match_data *md, const char *seg, size_t n,
                               tok_piece_fn fn, void *ctx, sa_err *err) {
    bool ascii = true;
    for (size_t i = 0; i < n && ascii; i++) ascii = (unsigned char)seg[i] < 0x80;
    if (ascii) return split_pieces(re, md, (const unsigned char *)seg, n, fn, ctx, err);   /* ASCII is already NFC */
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)seg, (utf8proc_ssize_t)n, &nfc,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (m < 0) return sa_fail(err, "NFC normalization: %s", utf8proc_errmsg(m));
    int rc = split_pieces(re, md, nfc, (size_t)m, fn, ctx, err);
    free(nfc);
    return rc;
}

static int bpe_piece_cb(void *ctx, const unsigned char *p, size_t n) {
    return bpe_piece(ctx, p, n);
}

static int encode_segment(enc_ctx *c, const char *seg, size_t n) {
    return normalize_and_split(c->t->pretok, c->md, seg, n, bpe_piece_cb, c, c->err);
}

/* Finds the first added token in text[from..len): its start and id, longest
** first at the leftmost position. Returns false when there is none. */
static bool find_added(const tokenizer *t, const char *text, size_t len, size_t from,
                       size_t *at, const added_tok **which) {
    if (t->n_added == 0) return false;
    for (size_t i = from; i < len; i++) {
        unsigned char b = (unsigned char)text[i];
        for (int k = t->added_start[b]; k < t->added_start[b + 1]; k++) {
            const added_tok *a = &t->added[k];
            if (a->len <= len - i && memcmp(text + i, a->text, a->len) == 0) {
                *at = i;
                *which = a;
                return true;
            }
        }
    }
    return false;
}

int tok_encode(const tokenizer *t, const char *text, size_t len,
               int32_t **ids, size_t *n_ids, sa_err *err) {
    assert(t && ids && n_ids);
    *ids = NULL;
    *n_ids = 0;
    if (!text && len > 0) return sa_fail(err, "tok_encode: NULL text");
    size_t bad;
    if (!utf8_valid(text, len, &bad))
        return sa_fail(err, "invalid UTF-8 at byte offset %zu (byte 0x%02X)", bad, (unsigned char)text[bad]);

    enc_ctx c = {.t = t, .err = err};
    c.md = pcre2_match_data_create_from_pattern(t->pretok, NULL);
    int rc = c.md ? 0 : sa_fail(err, "out of memory");
    size_t pos = 0;
    while (rc == 0 && pos < len) {
        size_t at;
        const added_tok *a;
        if (!find_added(t, text, len, pos, &at, &a)) {
            rc = encode_segment(&c, text + pos, len - pos);
            break;
        }
        if (at > pos) rc = encode_segment(&c, text + pos, at - pos);
        if (rc == 0) rc = emit(&c, a->id);
        pos = at + a->len;
    }
    pcre2_match_data_free(c.md);
    free(c.syms);
    free(c.heap);
    if (rc == 0 && !c.ids) {
        c.ids = malloc(sizeof *c.ids);     /* a real (empty) array, as promised */
        if (!c.ids) rc = sa_fail(err, "out of memory");
    }
    if (rc) {
        free(c.ids);
        return -1;
    }
    *ids = c.ids;
    *n_ids = c.n_ids;
    return 0;
}

/* ------------------------------------------------- the pre-tokenizer alone */

struct tok_pretok {
    pcre2_code *re;
    pcre2_match_data *md;
};

tok_pretok *tok_pretok_new(sa_err *err) {
    tok_pretok *p = calloc(1, sizeof *p);
    if (!p) return sa_fail(err, "out of memory"), NULL;
    if (!(p->re = compile_pretok(err))) { free(p); return NULL; }
    if (!(p->md = pcre2_match_data_create_from_pattern(p->re, NULL))) {
        tok_pretok_free(p);
        return sa_fail(err, "out of memory"), NULL;
    }
    return p;
}

void tok_pretok_free(tok_pretok *p) {
    if (!p) return;
    pcre2_match_data_free(p->md);
    pcre2_code_free(p->re);
    free(p);
}

int tok_pretok_split(tok_pretok *p, const char *text, size_t len, tok_piece_fn fn, void *ctx, sa_err *err) {
    assert(p && fn);
    if (!text && len > 0) return sa_fail(err, "tok_pretok_split: NULL text");
    size_t bad;
    if (!utf8_valid(text, len, &bad))
        return sa_fail(err, "invalid UTF-8 at byte offset %zu (byte 0x%02X)", bad, (unsigned char)text[bad]);
    if (len == 0) return 0;
    return normalize_and_split(p->re, p->md, text, len, fn, ctx, err);
}

/* ------------------------------------------------------------- lookups */

int tok_n_vocab(const tokenizer *t) { return t->n_vocab; }

int tok_lookup(const tokenizer *t, const char *piece) {
    return piece ? str_find(t, piece, strlen(piece)) : -1;
}

static bool valid_id(const tokenizer *t, int id) {
    return id >= 0 && id < t->n_vocab && t->entries[id].kind != KIND_NONE;
}

const char *tok_token_data(const tokenizer *t, int id, size_t *len) {
    if (!valid_id(t, id)) return NULL;
    *len = t->entries[id].bytes_len;
    return (const char *)t->bytes + t->entries[id].bytes_off;
}

int tok_token_bytes(const tokenizer *t, int id, char *out, size_t cap) {
    size_t len;
    const char *p = tok_token_data(t, id, &len);
    if (!p) return -1;
    if (len > cap) len = cap;
    if (len > INT32_MAX) len = INT32_MAX;
    if (len) memcpy(out, p, len);
    return (int)len;
}

int tok_is_special(const tokenizer *t, int id) {
    return valid_id(t, id) && t->entries[id].kind == KIND_SPECIAL;
}

int tok_eos_id(const tokenizer *t) { return t->eos_id; }
int tok_im_start_id(const tokenizer *t) { return t->im_start_id; }
int tok_im_end_id(const tokenizer *t) { return t->im_end_id; }

/* ------------------------------------------------------------- decoding */

/* Output buffer that grows as needed; oom records a failed allocation. */
typedef struct growbuf {
    char *p;
    size_t n, cap;
    bool oom;
} growbuf;

static void gb_put(growbuf *b, const void *data, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = true; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

char *tok_decode_n(const tokenizer *t, const int32_t *ids, size_t n, int with_special, size_t *out_len) {
    growbuf raw = {0}, text = {0};
    for (size_t i = 0; i < n; i++) {
        if (!valid_id(t, ids[i]) || (!with_special && t->entries[ids[i]].kind == KIND_SPECIAL)) continue;
        const tok_entry *e = &t->entries[ids[i]];
        gb_put(&raw, t->bytes + e->bytes_off, e->bytes_len);
    }
    /* Invalid sequences become U+FFFD, as HF's from_utf8_lossy does. */
    const unsigned char *r = (const unsigned char *)raw.p;
    for (size_t i = 0; i < raw.n;) {
        int k = utf8_next((const char *)r + i, raw.n - i, NULL);
        if (k > 0) {
            gb_put(&text, r + i, (size_t)k);
            i += (size_t)k;
        } else {
            gb_put(&text, REPLACEMENT_CHAR, 3);
            i += k < 0 ? (size_t)-k : raw.n - i;   /* incomplete: it is the rest */
        }
    }
    free(raw.p);
    gb_put(&text, "", 0);   /* make sure there is a buffer for the NUL */
    if (raw.oom || text.oom) {
        free(text.p);
        return NULL;
    }
    text.p[text.n] = '\0';
    if (out_len) *out_len = text.n;
    return text.p;
}

char *tok_decode(const tokenizer *t, const int32_t *ids, size_t n, int with_special) {
    return tok_decode_n(t, ids, n, with_special, NULL);
}

void tok_stream_init(tok_stream *s) {
    memset(s, 0, sizeof *s);
}

size_t tok_stream_out_cap(const tokenizer *t) {
    /* worst case: held bytes + the token, every byte becoming U+FFFD */
    return 3 * (t->max_token_bytes + sizeof ((tok_stream *)0)->pending) + 1;
}

/* Appends whole characters to a bounded output; after the first one that
** does not fit nothing more is taken, so the output is a clean prefix. */
typedef struct boundbuf {
    char *p;
    size_t n, cap;      /* cap counts the NUL */
    bool full;
} boundbuf;

static void bb_put(boundbuf *b, const void *data, size_t n) {
    if (b->full || b->n + n + 1 > b->cap) {
        b->full = true;
        return;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

int tok_stream_push(const tokenizer *t, tok_stream *s, int id, char *out, size_t cap) {
    assert(s && out && cap > 0);
    assert(s->n_pending >= 0 && s->n_pending < 4);
    out[0] = '\0';
    if (!valid_id(t, id)) return -1;
    if (t->entries[id].kind == KIND_SPECIAL) return 0;   /* control tokens are not text */
    const tok_entry *e = &t->entries[id];
    const unsigned char *tb = t->bytes + e->bytes_off;
    boundbuf o = {out, 0, cap, false};

    /* The held-back bytes start a character; rescan them with the first
    ** token bytes exactly as a scan of the whole byte stream would. */
    size_t used = 0;
    if (s->n_pending > 0) {
        unsigned char head[8];
        size_t n_head = (size_t)s->n_pending, take = e->bytes_len < 3 ? e->bytes_len : 3;
        memcpy(head, s->pending, n_head);
        memcpy(head + n_head, tb, take);
        int k = utf8_next((const char *)head, n_head + take, NULL);
        if (k == 0) {                   /* still incomplete: hold everything */
            assert(n_head + take < 4);
            memcpy(s->pending, head, n_head + take);
            s->n_pending = (int)(n_head + take);
            return 0;
        }
        /* A held prefix is valid, so the character or the invalid subpart
        ** covers all of it and ends inside the token's bytes. */
        size_t span = (size_t)(k > 0 ? k : -k);
        assert(span >= n_head && span <= n_head + take);
        bb_put(&o, k > 0 ? (const void *)head : REPLACEMENT_CHAR, k > 0 ? span : 3);
        used = span - n_head;
        s->n_pending = 0;
    }
    size_t i = used;
    while (i < e->bytes_len) {
        int k = utf8_next((const char *)tb + i, e->bytes_len - i, NULL);
        if (k > 0) {
            bb_put(&o, tb + i, (size_t)k);
            i += (size_t)k;
        } else if (k < 0) {
            bb_put(&o, REPLACEMENT_CHAR, 3);
            i += (size_t)-k;
        } else {
            size_t rest = e->bytes_len - i;
            assert(rest < 4);
            memcpy(s->pending, tb + i, rest);
            s->n_pending = (int)rest;
            break;
        }
    }
    out[o.n] = '\0';
    return (int)o.n;
}

int tok_stream_flush(tok_stream *s, char *out, size_t cap) {
    assert(s && out && cap > 0);
    boundbuf o = {out, 0, cap, false};
    if (s->n_pending > 0) bb_put(&o, REPLACEMENT_CHAR, 3);
    s->n_pending = 0;
    out[o.n] = '\0';
    return (int)o.n;
}

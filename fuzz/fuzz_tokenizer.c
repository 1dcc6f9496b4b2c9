/*
** fuzz_tokenizer.c — libFuzzer target for the tokenizer: encodes arbitrary
** bytes and decodes the result, checking the properties that must hold for
** any input:
**   - encoding succeeds exactly when the input is valid UTF-8;
**   - every id is in range, and decoding gives valid UTF-8;
**   - streaming decode gives the same text as tok_decode;
**   - without '<' in the input (so no added token and no NFC across an
**     added-token boundary) decode(encode(x)) == NFC(x).
** The tokenizer is loaded once from the GGUF named by $TOK_GGUF, else
** tests/out/qwen-tokenizer.gguf (made by tests/fixtures.sh).
**
**   make fuzz && build-fuzz/fuzz_tokenizer -max_total_time=30
*/
#include "engine/tokenizer.h"

#include <utf8proc.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tokenizer *g_tok;

static const tokenizer *get_tokenizer(void) {
    if (g_tok) return g_tok;
    const char *path = getenv("TOK_GGUF");
    if (!path || !*path) path = "tests/out/qwen-tokenizer.gguf";
    sa_err err = {{0}};
    g_tok = tok_load(path, &err);
    if (!g_tok) {
        fprintf(stderr, "fuzz_tokenizer: %s\n(run tests/fixtures.sh or set TOK_GGUF)\n", err.msg);
        exit(2);
    }
    return g_tok;
}

static bool valid_utf8(const uint8_t *s, size_t n) {
    utf8proc_int32_t cp;
    for (size_t i = 0; i < n;) {
        utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) return false;
        i += (size_t)k;
    }
    return true;
}

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "fuzz_tokenizer: check failed: %s\n", #cond); \
            abort();                                                       \
        }                                                                  \
    } while (0)

static void check_stream(const tokenizer *t, const int32_t *ids, size_t n) {
    size_t cap = tok_stream_out_cap(t);
    char *chunk = malloc(cap);
    char *all = malloc(n * cap + cap);
    CHECK(chunk && all);
    size_t total = 0;
    tok_stream s;
    tok_stream_init(&s);
    for (size_t i = 0; i <= n; i++) {
        int k = i < n ? tok_stream_push(t, &s, ids[i], chunk, cap) : tok_stream_flush(&s, chunk, cap);
        bool bad_id = i < n && (ids[i] < 0 || ids[i] >= tok_n_vocab(t));
        if (bad_id) {       /* refused, and skipped by tok_decode too */
            CHECK(k == -1 && chunk[0] == '\0');
            continue;
        }
        CHECK(k >= 0 && (size_t)k < cap && valid_utf8((const uint8_t *)chunk, (size_t)k));
        memcpy(all + total, chunk, (size_t)k);
        total += (size_t)k;
    }
    size_t dn;
    char *dec = tok_decode_n(t, ids, n, 0, &dn);
    CHECK(dec && dn == total && memcmp(dec, all, dn) == 0);
    free(dec);
    free(all);
    free(chunk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const tokenizer *t = get_tokenizer();
    int32_t *ids = NULL;
    size_t n = 0;
    sa_err err = {{0}};
    int rc = tok_encode(t, (const char *)data, size, &ids, &n, &err);
    bool valid = valid_utf8(data, size);
    CHECK((rc == 0) == valid);
    if (rc != 0) {
        CHECK(strstr(err.msg, "offset") != NULL);
        return 0;
    }
    for (size_t i = 0; i < n; i++) CHECK(ids[i] >= 0 && ids[i] < tok_n_vocab(t));

    size_t dn;
    char *dec = tok_decode_n(t, ids, n, 1, &dn);
    CHECK(dec && valid_utf8((const uint8_t *)dec, dn));
    if (!memchr(data, '<', size)) {
        utf8proc_uint8_t *nfc = NULL;
        utf8proc_ssize_t m = utf8proc_map(data, (utf8proc_ssize_t)size, &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        CHECK(m >= 0 && (size_t)m == dn && memcmp(nfc, dec, dn) == 0);
        free(nfc);
    }
    free(dec);
    check_stream(t, ids, n);

    /* Arbitrary ids (a sequence of the input's bytes) through the decoders. */
    size_t n_raw = size / 4;
    int32_t *raw = malloc((n_raw ? n_raw : 1) * sizeof *raw);
    CHECK(raw);
    for (size_t i = 0; i < n_raw; i++) {
        uint32_t v;
        memcpy(&v, data + 4 * i, 4);
        raw[i] = (int32_t)(v % (uint32_t)(tok_n_vocab(t) + 8)) - 4;   /* some out of range */
    }
    check_stream(t, raw, n_raw);
    free(raw);
    free(ids);
    return 0;
}

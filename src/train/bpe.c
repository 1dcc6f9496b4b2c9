/*
** bpe.c — byte-level BPE vocabulary learning (see bpe.h).
**
** Data structures:
**   - words: each distinct piece once (bytes in an arena, found through an
**     open-addressing table while counting), its frequency, and later its
**     current tokens in `sym` (a word's tokens only ever shrink in place);
**   - tokens: their byte-level unicode strings, and a table from string to
**     id (a merge can produce a string that another merge made already);
**   - pairs: (left, right) -> count, in an open-addressing table, each with
**     the list of words it was seen in (entries may be stale or repeated;
**     a step re-checks every word it visits);
**   - a max-heap of (count, pair) with lazy deletion: an entry is current
**     when its count equals the pair's count. After each step every pair
**     whose count changed gets a new entry, so each pair with a count > 0
**     always has a current entry.
*/
#include "bpe.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../engine/tokenizer.h"
#include "../util/clock.h"
#include "../util/hash.h"
#include "../util/progress.h"
#include "data.h"

#define N_BYTES 256

typedef struct word {
    uint32_t off, len;      /* bytes in b->text; later tokens in b->sym[off .. off + n_sym) */
    uint32_t n_sym;
    uint32_t hash;
    int64_t freq;
} word;

struct bpe {
    tok_pretok *pre;
    char *text;             /* arena of distinct pieces */
    size_t text_used, text_cap;
    word *words;
    size_t n_words, cap_words;
    uint32_t *slots;        /* word table: index + 1, 0 = empty */
    size_t mask;
    long pieces;
    long long bytes;
    int learnt;
    sa_err *err;            /* of the bpe_add_text in progress */
};

/* ---------------------------------------------------------------- helpers */

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* GPT-2's byte-to-unicode map: printable Latin-1 bytes stand for
** themselves, the other 68 bytes for U+0100 onwards, in byte order. */
static int self_mapped(int b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

/* Each byte's token string (NUL-terminated UTF-8 of its code point). */
static void byte_strings(char s[N_BYTES][3]) {
    uint32_t next = 256;
    for (int b = 0; b < N_BYTES; b++) {
        uint32_t cp = self_mapped(b) ? (uint32_t)b : next++;
        if (cp < 0x80) { s[b][0] = (char)cp; s[b][1] = 0; }
        else { s[b][0] = (char)(0xC0 | cp >> 6); s[b][1] = (char)(0x80 | (cp & 0x3F)); s[b][2] = 0; }
    }
}

/* Qwen2's ids of the bytes: ordered by the code point that stands for each
** byte, i.e. the self-mapped bytes in order, then the others in order (so
** '!' is 0 and 'Ġ', the space, is 220). */
static void byte_ids(int32_t id_of_byte[N_BYTES], int byte_of_id[N_BYTES]) {
    int n = 0;
    for (int pass = 1; pass >= 0; pass--)
        for (int b = 0; b < N_BYTES; b++)
            if (self_mapped(b) == pass) { id_of_byte[b] = n; byte_of_id[n] = b; n++; }
    assert(n == N_BYTES);
}

/* ---------------------------------------------------------------- counting */

bpe *bpe_new(sa_err *err) {
    bpe *b = calloc(1, sizeof *b);
    if (!b) return sa_fail(err, "out of memory"), NULL;
    b->mask = 1023;
    b->slots = calloc(b->mask + 1, sizeof *b->slots);
    if (!b->slots || !(b->pre = tok_pretok_new(err))) {
        if (!b->slots) sa_fail(err, "out of memory");
        bpe_free(b);
        return NULL;
    }
    return b;
}

void bpe_free(bpe *b) {
    if (!b) return;
    tok_pretok_free(b->pre);
    free(b->text);
    free(b->words);
    free(b->slots);
    free(b);
}

static int rehash(bpe *b) {
    size_t cap = (b->mask + 1) * 2;
    uint32_t *s = calloc(cap, sizeof *s);
    if (!s) return -1;
    for (size_t w = 0; w < b->n_words; w++) {
        size_t i = b->words[w].hash & (cap - 1);
        while (s[i]) i = (i + 1) & (cap - 1);
        s[i] = (uint32_t)w + 1;
    }
    free(b->slots);
    b->slots = s;
    b->mask = cap - 1;
    return 0;
}

static int count_piece(void *ctx, const unsigned char *p, size_t n) {
    bpe *b = ctx;
    if (n == 0) return 0;
    if (n > UINT32_MAX / 4) return sa_fail(b->err, "a pre-tokenized piece of %zu bytes", n);
    b->pieces++;
    b->bytes += (long long)n;
    uint32_t h = (uint32_t)hash_bytes(0, p, n);
    size_t i = h & b->mask;
    for (; b->slots[i]; i = (i + 1) & b->mask) {
        word *w = &b->words[b->slots[i] - 1];
        if (w->hash == h && w->len == n && !memcmp(b->text + w->off, p, n)) { w->freq++; return 0; }
    }
    if (b->n_words >= UINT32_MAX - 1 || b->text_used + n > UINT32_MAX ||
        grow((void **)&b->words, &b->cap_words, b->n_words + 1, sizeof *b->words) ||
        grow((void **)&b->text, &b->text_cap, b->text_used + n, 1))
        return sa_fail(b->err, "out of memory (%zu distinct pieces)", b->n_words);
    memcpy(b->text + b->text_used, p, n);
    b->words[b->n_words] = (word){ (uint32_t)b->text_used, (uint32_t)n, 0, h, 1 };
    b->text_used += n;
    b->slots[i] = (uint32_t)++b->n_words;
    if (2 * b->n_words > b->mask && rehash(b)) return sa_fail(b->err, "out of memory");
    return 0;
}

int bpe_add_text(bpe *b, const char *text, size_t len, sa_err *err) {
    if (b->learnt) return sa_fail(err, "internal: bpe_add_text after bpe_learn");
    b->err = err;
    int rc = tok_pretok_split(b->pre, text, len, count_piece, b, err);
    b->err = NULL;
    return rc;
}

/* A tokenizer whose ids are the 256 bytes (id = byte value, no merges),
** written to a temporary GGUF and loaded back: tdata_load tokenizes with
** it, so that each example's ids are its text's bytes. */
static tokenizer *byte_tokenizer(sa_err *err) {
    char *tokens[N_BYTES];
    int32_t types[N_BYTES];
    char strs[N_BYTES][3];
    byte_strings(strs);
    for (int i = 0; i < N_BYTES; i++) {
        tokens[i] = strs[i];
        types[i] = 1;
    }
    tvocab v = { .tokens = tokens, .types = types, .n = N_BYTES, .merges = NULL, .n_merges = 0, .end_id = 0 };
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/sqlassist-bytes-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) return sa_fail(err, "%s: cannot create a temporary file: %s", path, strerror(errno)), NULL;
    close(fd);
    tokenizer *t = tvocab_write_gguf(&v, path, err) ? NULL : tok_load(path, err);
    unlink(path);
    return t;
}

int bpe_add_jsonl(bpe *b, const char *path, long limit, int max_report, FILE *report, bpe_data_info *info,
                  sa_err *err) {
    memset(info, 0, sizeof *info);
    tokenizer *t = byte_tokenizer(err);
    if (!t) return -1;
    tdata d;
    tdata_opts o = { .path = path, .tok = t, .end_id = 0, .max_len = INT32_MAX, .val_mod = 0, .limit = limit,
                     .max_report = max_report, .tp = NULL };
    int rc = tdata_load(&d, &o, report, err);
    tok_free(t);
    if (rc) return -1;
    char *buf = NULL;
    size_t cap = 0;
    for (int i = 0; i < d.n_train && rc == 0; i++) {
        const texample *ex = &d.train[i];
        int n_text = ex->n - 1;     /* the last id is the end token */
        if (grow((void **)&buf, &cap, (size_t)n_text + 1, 1)) { rc = sa_fail(err, "out of memory"); break; }
        for (int k = 0; k < n_text; k++) buf[k] = (char)ex->ids[k];
        rc = (bpe_add_text(b, buf, (size_t)ex->n_prompt, err) ||
              bpe_add_text(b, buf + ex->n_prompt, (size_t)(n_text - ex->n_prompt), err)) ? -1 : 0;
        if (rc) sa_err_prefix(err, "%s:%ld", path, ex->line);
    }
    free(buf);
    info->rows = d.n_train;
    info->lines = d.n_lines;
    info->blank = d.n_blank;
    info->skipped = d.n_bad_total;
    tdata_bad_summary(&d, info->summary, sizeof info->summary);
    tdata_free(&d);
    return rc;
}

/* ---------------------------------------------------------------- learning */

typedef struct pair {
    int32_t left, right;
    int64_t count;
    int64_t pushed;         /* count of the pair's newest heap entry (0: none needed) */
    int32_t *words;         /* words it was seen in (may repeat or be stale) */
    uint32_t n_words, cap_words;
    int32_t last_word;      /* last one appended (cheap de-duplication) */
    int32_t touched;        /* step that last changed the count */
} pair;

typedef struct heap_ent {
    int64_t count;
    int32_t pair;
} heap_ent;

typedef struct learner {
    bpe *b;
    int32_t *sym;           /* tokens of every word */
    /* tokens */
    char **str;
    uint32_t *str_len;
    int n_tok, cap_tok;
    uint32_t *tok_slots;    /* string -> id + 1 */
    size_t tok_mask;
    /* pairs */
    pair *pairs;
    size_t n_pairs, cap_pairs;
    uint32_t *pair_slots;   /* (left, right) -> index + 1 */
    size_t pair_mask;
    heap_ent *heap;
    size_t n_heap, cap_heap;
    int32_t *touched;
    size_t n_touched, cap_touched;
    int32_t *word_step;     /* last step that visited each word */
    uint32_t *pos;          /* merge positions in one word */
    size_t cap_pos;
    int step;
    int oom;
} learner;

static size_t pair_slot(const learner *L, int32_t x, int32_t y) {
    uint64_t key = (uint64_t)(uint32_t)x << 32 | (uint32_t)y;
    size_t i = (size_t)hash_mix64(key) & L->pair_mask;
    for (; L->pair_slots[i]; i = (i + 1) & L->pair_mask) {
        const pair *p = &L->pairs[L->pair_slots[i] - 1];
        if (p->left == x && p->right == y) break;
    }
    return i;
}

static int pair_rehash(learner *L) {
    size_t cap = (L->pair_mask + 1) * 2;
    uint32_t *s = calloc(cap, sizeof *s);
    if (!s) return -1;
    free(L->pair_slots);
    L->pair_slots = s;
    L->pair_mask = cap - 1;
    for (size_t k = 0; k < L->n_pairs; k++) L->pair_slots[pair_slot(L, L->pairs[k].left, L->pairs[k].right)] = (uint32_t)k + 1;
    return 0;
}

/* Index of pair (x, y), created with count 0 if new; -1 when out of memory. */
static int32_t pair_get(learner *L, int32_t x, int32_t y) {
    size_t i = pair_slot(L, x, y);
    if (L->pair_slots[i]) return (int32_t)L->pair_slots[i] - 1;
    if (L->n_pairs >= INT32_MAX - 1 || grow((void **)&L->pairs, &L->cap_pairs, L->n_pairs + 1, sizeof *L->pairs)) return -1;
    L->pairs[L->n_pairs] = (pair){ .left = x, .right = y, .last_word = -1, .touched = -1 };
    L->pair_slots[i] = (uint32_t)++L->n_pairs;
    if (2 * L->n_pairs > L->pair_mask && pair_rehash(L)) return -1;
    return (int32_t)L->n_pairs - 1;
}

/* count(x, y) += delta, for word w (delta > 0 records w in the pair's list). */
static void pair_add(learner *L, int32_t x, int32_t y, int64_t delta, int32_t w) {
    int32_t k = pair_get(L, x, y);
    if (k < 0) { L->oom = 1; return; }
    pair *p = &L->pairs[k];
    p->count += delta;
    assert(p->count >= 0);
    if (p->touched != L->step) {
        p->touched = L->step;
        if (grow((void **)&L->touched, &L->cap_touched, L->n_touched + 1, sizeof *L->touched)) { L->oom = 1; return; }
        L->touched[L->n_touched++] = k;
    }
    if (delta > 0 && p->last_word != w) {
        size_t cap = p->cap_words;
        if (grow((void **)&p->words, &cap, (size_t)p->n_words + 1, sizeof *p->words) || cap > UINT32_MAX) { L->oom = 1; return; }
        p->cap_words = (uint32_t)cap;
        p->words[p->n_words++] = w;
        p->last_word = w;
    }
}

/* Heap order: higher count first; then smaller left string, then smaller right string. */
static int ent_before(const learner *L, const heap_ent *a, const heap_ent *b) {
    if (a->count != b->count) return a->count > b->count;
    const pair *p = &L->pairs[a->pair], *q = &L->pairs[b->pair];
    int c = strcmp(L->str[p->left], L->str[q->left]);
    if (c == 0) c = strcmp(L->str[p->right], L->str[q->right]);
    return c < 0;
}

static void heap_push(learner *L, int32_t k) {
    if (grow((void **)&L->heap, &L->cap_heap, L->n_heap + 1, sizeof *L->heap)) { L->oom = 1; return; }
    heap_ent e = { L->pairs[k].count, k };
    size_t i = L->n_heap++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!ent_before(L, &e, &L->heap[up])) break;
        L->heap[i] = L->heap[up];
        i = up;
    }
    L->heap[i] = e;
}

static heap_ent heap_pop(learner *L) {
    heap_ent top = L->heap[0], last = L->heap[--L->n_heap];
    size_t i = 0, n = L->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && ent_before(L, &L->heap[c + 1], &L->heap[c])) c++;
        if (!ent_before(L, &L->heap[c], &last)) break;
        L->heap[i] = L->heap[c];
        i = c;
    }
    if (n) L->heap[i] = last;
    return top;
}

static size_t tok_slot(const learner *L, const char *s, size_t n) {
    size_t i = (size_t)hash_bytes(0, s, n) & L->tok_mask;
    for (; L->tok_slots[i]; i = (i + 1) & L->tok_mask) {
        uint32_t id = L->tok_slots[i] - 1;
        if (L->str_len[id] == n && !memcmp(L->str[id], s, n)) break;
    }
    return i;
}

/* The id of string s (n bytes, malloc'd; taken over), a new one if unknown. */
static int32_t tok_intern(learner *L, char *s, size_t n) {
    size_t i = tok_slot(L, s, n);
    if (L->tok_slots[i]) { free(s); return (int32_t)L->tok_slots[i] - 1; }
    size_t cap = (size_t)L->cap_tok, cap2 = cap;
    if (grow((void **)&L->str, &cap, (size_t)L->n_tok + 1, sizeof *L->str) ||
        grow((void **)&L->str_len, &cap2, (size_t)L->n_tok + 1, sizeof *L->str_len)) { free(s); return -1; }
    L->cap_tok = (int)(cap < cap2 ? cap : cap2);
    L->str[L->n_tok] = s;
    L->str_len[L->n_tok] = (uint32_t)n;
    L->tok_slots[i] = (uint32_t)++L->n_tok;
    if (2 * (size_t)L->n_tok > L->tok_mask) {
        size_t c = (L->tok_mask + 1) * 2;
        uint32_t *t = calloc(c, sizeof *t);
        if (!t) return -1;
        free(L->tok_slots);
        L->tok_slots = t;
        L->tok_mask = c - 1;
        for (int id = 0; id < L->n_tok; id++) L->tok_slots[tok_slot(L, L->str[id], L->str_len[id])] = (uint32_t)id + 1;
    }
    return L->n_tok - 1;
}

/* Replaces every non-overlapping (a, b) of word w, left to right, by m, and
** updates the counts of exactly the pairs destroyed and created. */
static void merge_word(learner *L, int32_t w, int32_t a, int32_t b, int32_t m) {
    word *wd = &L->b->words[w];
    int32_t *s = L->sym + wd->off;
    uint32_t n = wd->n_sym, nm = 0;
    int64_t f = wd->freq;
    if (grow((void **)&L->pos, &L->cap_pos, n, sizeof *L->pos)) { L->oom = 1; return; }
    for (uint32_t j = 0; j + 1 < n;) {
        if (s[j] == a && s[j + 1] == b) { L->pos[nm++] = j; j += 2; }
        else j++;
    }
    for (uint32_t q = 0; q < nm; q++) {
        uint32_t j = L->pos[q];
        int prev_adjacent = q > 0 && L->pos[q - 1] + 2 == j, next_adjacent = q + 1 < nm && L->pos[q + 1] == j + 2;
        pair_add(L, a, b, -f, w);
        if (j > 0) {                            /* left neighbour: (s[j-1], a) -> (left, m) */
            pair_add(L, s[j - 1], a, -f, w);
            pair_add(L, prev_adjacent ? m : s[j - 1], m, f, w);
        }
        if (j + 2 < n && !next_adjacent) {      /* right neighbour (an adjacent merge does it as its left) */
            pair_add(L, b, s[j + 2], -f, w);
            pair_add(L, m, s[j + 2], f, w);
        }
    }
    uint32_t k = 0;
    for (uint32_t j = 0, q = 0; j < n;) {
        if (q < nm && L->pos[q] == j) { s[k++] = m; j += 2; q++; }
        else s[k++] = s[j++];
    }
    wd->n_sym = k;
}

static void learner_free(learner *L) {
    for (size_t k = 0; k < L->n_pairs; k++) free(L->pairs[k].words);
    for (int i = 0; i < L->n_tok; i++) free(L->str[i]);
    free(L->str);
    free(L->str_len);
    free(L->tok_slots);
    free(L->pairs);
    free(L->pair_slots);
    free(L->heap);
    free(L->touched);
    free(L->word_step);
    free(L->pos);
    free(L->sym);
}

/* After a step: a new heap entry for each pair whose count changed. */
static void push_touched(learner *L) {
    for (size_t i = 0; i < L->n_touched && !L->oom; i++) {
        pair *p = &L->pairs[L->touched[i]];
        if (p->count == p->pushed) continue;
        p->pushed = p->count;
        if (p->count > 0) heap_push(L, L->touched[i]);
    }
    L->n_touched = 0;
}

static const char *const CONTROL[] = { "<|endoftext|>", "<|im_start|>", "<|im_end|>" };
enum { N_CONTROL = 3 };

int bpe_learn(bpe *b, int n_regular, int show_progress, tvocab *v, bpe_result *r, sa_err *err) {
    memset(v, 0, sizeof *v);
    memset(r, 0, sizeof *r);
    if (n_regular < N_BYTES) return sa_fail(err, "a vocabulary needs at least %d regular tokens (the bytes)", N_BYTES);
    if (b->learnt) return sa_fail(err, "internal: bpe_learn called twice");
    b->learnt = 1;
    r->pieces = b->pieces;
    r->words = (long)b->n_words;
    r->bytes = b->bytes;
    double t0 = clock_now_s();

    learner L = { .b = b, .step = 0 };
    char **merges = NULL;
    size_t cap_merges = 0;
    int n_merges = 0, rc = -1;
    int32_t id_of_byte[N_BYTES];
    int byte_of_id[N_BYTES];
    char bstr[N_BYTES][3];
    byte_ids(id_of_byte, byte_of_id);
    byte_strings(bstr);

    L.tok_mask = 1023;
    L.pair_mask = 1023;
    L.tok_slots = calloc(L.tok_mask + 1, sizeof *L.tok_slots);
    L.pair_slots = calloc(L.pair_mask + 1, sizeof *L.pair_slots);
    L.sym = malloc((b->text_used ? b->text_used : 1) * sizeof *L.sym);
    L.word_step = malloc((b->n_words ? b->n_words : 1) * sizeof *L.word_step);
    if (!L.tok_slots || !L.pair_slots || !L.sym || !L.word_step) goto oom;
    for (int id = 0; id < N_BYTES; id++) {
        char *s = strdup(bstr[byte_of_id[id]]);
        if (!s || tok_intern(&L, s, strlen(s)) != id) goto oom;
    }

    /* every word as its byte tokens, and the initial pair counts */
    for (size_t w = 0; w < b->n_words; w++) {
        word *wd = &b->words[w];
        const unsigned char *p = (const unsigned char *)b->text + wd->off;
        int32_t *s = L.sym + wd->off;
        for (uint32_t i = 0; i < wd->len; i++) s[i] = id_of_byte[p[i]];
        wd->n_sym = wd->len;
        L.word_step[w] = -1;
        for (uint32_t i = 0; i + 1 < wd->len; i++) pair_add(&L, s[i], s[i + 1], wd->freq, (int32_t)w);
        if (L.oom) goto oom;
    }
    push_touched(&L);
    if (L.oom) goto oom;

    progress pg;
    if (show_progress) progress_start(&pg, "merges", n_regular - N_BYTES);
    while (L.n_tok < n_regular) {
        int32_t k = -1;
        while (L.n_heap > 0) {
            heap_ent e = heap_pop(&L);
            if (e.count > 0 && e.count == L.pairs[e.pair].count) { k = e.pair; break; }
        }
        if (k < 0) { r->exhausted = 1; break; }
        L.step++;
        int32_t a = L.pairs[k].left, bb = L.pairs[k].right;
        size_t la = L.str_len[a], lb = L.str_len[bb];
        char *ms = malloc(la + lb + 1), *line = malloc(la + lb + 2);
        if (!ms || !line) { free(ms); free(line); goto oom; }
        memcpy(ms, L.str[a], la);
        memcpy(ms + la, L.str[bb], lb + 1);
        memcpy(line, L.str[a], la);
        line[la] = ' ';
        memcpy(line + la + 1, L.str[bb], lb + 1);
        if (grow((void **)&merges, &cap_merges, (size_t)n_merges + 1, sizeof *merges)) { free(ms); free(line); goto oom; }
        merges[n_merges++] = line;
        int32_t m = tok_intern(&L, ms, la + lb);
        if (m < 0) goto oom;

        /* the words that hold (a, b); the list is taken, since the pair's count becomes 0 */
        int32_t *ws = L.pairs[k].words;
        uint32_t nw = L.pairs[k].n_words;
        L.pairs[k].words = NULL;
        L.pairs[k].n_words = L.pairs[k].cap_words = 0;
        L.pairs[k].last_word = -1;
        for (uint32_t i = 0; i < nw && !L.oom; i++) {
            int32_t w = ws[i];
            if (L.word_step[w] == L.step) continue;
            L.word_step[w] = L.step;
            merge_word(&L, w, a, bb, m);
        }
        free(ws);
        assert(L.oom || L.pairs[k].count == 0);
        push_touched(&L);
        if (L.oom) goto oom;
        if (show_progress && (L.n_tok % 16 == 0 || L.n_tok == n_regular)) progress_update(&pg, L.n_tok - N_BYTES);
    }
    if (show_progress) {
        if (r->exhausted) progress_update(&pg, L.n_tok - N_BYTES);
        progress_end(&pg);
    }

    /* the vocabulary: regular tokens in id order, then the control tokens */
    v->n = L.n_tok + N_CONTROL;
    v->tokens = calloc((size_t)v->n, sizeof *v->tokens);
    v->types = malloc((size_t)v->n * sizeof *v->types);
    if (!v->tokens || !v->types) goto oom;
    for (int i = 0; i < L.n_tok; i++) {
        v->tokens[i] = L.str[i];
        L.str[i] = NULL;
        v->types[i] = 1;
    }
    for (int i = 0; i < N_CONTROL; i++) {
        if (!(v->tokens[L.n_tok + i] = strdup(CONTROL[i]))) goto oom;
        v->types[L.n_tok + i] = 3;
    }
    v->end_id = L.n_tok;
    v->merges = merges;
    v->n_merges = n_merges;
    merges = NULL;
    r->n_merges = n_merges;
    r->n_regular = L.n_tok;
    r->seconds = clock_now_s() - t0;
    rc = 0;
    goto out;
oom:
    sa_fail(err, "out of memory learning merges (%d merges, %zu pairs)", n_merges, L.n_pairs);
    if (v->tokens) {
        for (int i = 0; i < v->n; i++) free(v->tokens[i]);
        free(v->tokens);
    }
    free(v->types);
    memset(v, 0, sizeof *v);
out:
    for (int i = 0; i < n_merges && merges; i++) free(merges[i]);
    free(merges);
    learner_free(&L);
    return rc;
}

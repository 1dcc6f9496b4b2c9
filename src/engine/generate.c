/*
** generate.c — see generate.h.
*/
#include "generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../util/clock.h"
#include "batcher.h"

typedef struct textbuf { char *p; size_t len, cap; } textbuf;

static int tb_append(textbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

/* Length of the longest suffix of text[0..len) that is a proper prefix of a stop string. */
static size_t stop_prefix_len(const char *text, size_t len, const gen_opts *o) {
    size_t best = 0;
    for (int i = 0; i < o->n_stop; i++) {
        size_t sl = strlen(o->stop_strings[i]);
        for (size_t k = sl > 1 ? sl - 1 : 0; k > best; k--)
            if (k <= len && memcmp(text + len - k, o->stop_strings[i], k) == 0) { best = k; break; }
    }
    return best;
}

/* Finds the earliest stop string in text at or after `from`; returns its offset or -1. */
static long find_stop(const char *text, size_t from, const gen_opts *o) {
    long best = -1;
    for (int i = 0; i < o->n_stop; i++) {
        if (!o->stop_strings[i][0]) continue;
        const char *hit = strstr(text + from, o->stop_strings[i]);
        if (hit && (best < 0 || hit - text < best)) best = hit - text;
    }
    return best;
}

/* The next token under o's constraint: the best allowed one when greedy,
** else a sample of the allowed ones; -1 when none is allowed. Modifies logits. */
static int pick_constrained(const gen_opts *o, sampler *smp, float *logits, int V, int n_left) {
    if (o->sp.temperature <= 0) {
        /* the 16 best in turn, from one pass over the logits (top_ids gives
        ** the ids argmax would find one after another) */
        enum { TRIES = 16 };
        int best[TRIES], scan = isnan(logits[0]), n = scan ? 0 : top_ids(logits, V, TRIES, best);
        for (int tries = 0; tries < TRIES; tries++) {
            int id = scan ? argmax(logits, V) : tries < n ? best[tries] : -1;
            if (id < 0 || (isinf(logits[id]) && logits[id] < 0)) return -1;
            if (o->allows(o->ud, id, n_left)) return id;
            logits[id] = -INFINITY;
        }
    }
    if (o->mask(o->ud, logits, V, n_left) <= 0) return -1;
    int id = argmax(logits, V);
    if (isinf(logits[id]) && logits[id] < 0) return -1;   /* only tokens on_logits removed are allowed */
    return o->sp.temperature <= 0 ? id : sampler_sample(smp, logits);   /* greedy: that argmax */
}

int gen_draft(const int32_t *hist, int n, int min_ngram, int k, int32_t *out) {
    if (n < 2 || k <= 0) return 0;
    int best_len = 0, best_end = -1;   /* the match hist[best_end-best_len+1 .. best_end] */
    for (int j = n - 2; j >= 0 && best_len < GEN_DRAFT_NGRAM; j--) {
        if (hist[j] != hist[n - 1]) continue;
        int len = 1;
        while (len < GEN_DRAFT_NGRAM && len <= j && hist[j - len] == hist[n - 1 - len]) len++;
        if (len > best_len) { best_len = len; best_end = j; }
    }
    if (best_end < 0 || best_len < min_ngram) return 0;
    int got = n - 1 - best_end < k ? n - 1 - best_end : k;
    memcpy(out, hist + best_end + 1, (size_t)got * sizeof *out);
    return got;
}

/* The decoding loop. Each forward pass leaves `rows` rows of logits: row 0
** for the token just picked, row r for the r-th draft behind it (batch[r]),
** computed at cache positions base..base+rows-1. The loop picks from row r;
** when the pick equals batch[r+1], that draft is already in the cache and
** row r+1 holds the logits that follow it, so the next pick needs no
** forward pass. Otherwise the cache is cut back to base+r+1 (everything up
** to the pick's own input) and the pick is fed with new drafts. Plain
** decoding is the case rows = 1. How many tokens are drafted adapts to how
** well drafts have held (as Hugging Face's assisted generation does), so that
** a prompt that predicts little costs little: which drafts are made never
** changes what is picked, only how many forward passes it takes. */
/* A prompt (LOGITS_LAST), one step, or with exact a draft verification
** (LOGITS_ALL), through o->batch when there is one. */
static int forward(const model *m, infer_state *s, const gen_opts *o, const int32_t *tokens, int T, int exact,
                   float *logits, sa_err *err) {
    if (o->batch) return batcher_forward(o->batch, s, tokens, T, exact ? LOGITS_ALL : LOGITS_LAST, exact, logits, err);
    return exact ? model_forward_exact(m, s, tokens, T, logits, err) : model_forward(m, s, tokens, T, LOGITS_LAST, logits, err);
}

int generate(const model *m, infer_state *s, const int32_t *prompt, int n_prompt, const gen_opts *o,
             gen_result *res, sa_err *err) {
    memset(res, 0, sizeof *res);
    int V = m->cfg.n_vocab;
    int K = o->draft > 0 && o->sp.temperature <= 0 && o->n_predict > 1 ? (o->draft < GEN_DRAFT_MAX ? o->draft : GEN_DRAFT_MAX) : 0;
    float *logits = malloc((size_t)V * (size_t)(K + 1) * sizeof *logits);
    float *raw = o->allows && o->on_logits ? malloc((size_t)V * sizeof *raw) : NULL;
    sampler *smp = sampler_new(V, &o->sp);
    res->ids = malloc(((size_t)(o->n_predict > 0 ? o->n_predict : 1)) * sizeof *res->ids);
    const int32_t *src = o->lookup ? o->lookup : prompt;
    int n_src = o->lookup ? (o->n_lookup > 0 ? o->n_lookup : 0) : (n_prompt > 0 ? n_prompt : 0);
    int32_t *hist = K ? malloc(((size_t)n_src + (size_t)o->n_predict + 1) * sizeof *hist) : NULL;
    int n_hist = 0;
    textbuf tb = {0};
    int rc = -1;
    if (!logits || !smp || !res->ids || (o->allows && o->on_logits && !raw) || (K && !hist) || tb_append(&tb, "", 0)) { sa_fail(err, "out of memory"); goto out; }
    if (K) {
        memcpy(hist, src, (size_t)n_src * sizeof *hist);
        n_hist = n_src;
    }
    double t0 = clock_now_s();
    if (n_prompt > 0 && forward(m, s, o, prompt, n_prompt, 0, logits, err)) goto out;
    res->n_prompt = n_prompt;
    res->prefill_s = clock_now_s() - t0;
    t0 = clock_now_s();
    int eos = tok_eos_id(m->tok), im_end = tok_im_end_id(m->tok);
    int endoftext = tok_lookup(m->tok, "<|endoftext|>");
    size_t emitted = 0, searched = 0;
    tok_stream ts;
    tok_stream_init(&ts);
    int32_t batch[GEN_DRAFT_MAX + 1];
    int rows = 1, r = 0, base = 0;
    int cur = K;   /* drafts per pass now: +2 after a pass whose drafts all held, -1 after one that failed */
    res->stop = GEN_STOP_LENGTH;
    for (int i = 0; i < o->n_predict; i++) {
        float *lg = logits + (size_t)r * V;
        int id;
        if (o->allows && o->mask) {
            /* the constraint comes first: when on_logits leaves none of its
            ** tokens, it is dropped for this step */
            if (o->on_logits) memcpy(raw, lg, (size_t)V * sizeof *raw);
            if (o->on_logits) o->on_logits(o->ud, lg, V);
            id = pick_constrained(o, smp, lg, V, o->n_predict - i);
            if (id < 0 && o->on_logits) id = pick_constrained(o, smp, raw, V, o->n_predict - i);
        } else {
            if (o->on_logits) o->on_logits(o->ud, lg, V);
            id = sampler_sample(smp, lg);
        }
        if (id < 0) { res->stop = GEN_STOP_EOS; break; }
        if (id == eos || id == im_end || id == endoftext) { res->stop = GEN_STOP_EOS; break; }
        res->ids[res->n_ids++] = id;
        if (o->on_token && o->on_token(o->ud, id)) { res->stop = GEN_STOP_CALLBACK; break; }
        char piece[256];
        int n = tok_stream_push(m->tok, &ts, id, piece, sizeof piece);
        if (n > 0 && tb_append(&tb, piece, (size_t)n)) { sa_fail(err, "out of memory"); goto out; }
        long hit = o->n_stop ? find_stop(tb.p, searched, o) : -1;
        if (hit >= 0) {
            tb.len = (size_t)hit;
            tb.p[tb.len] = 0;
            res->stop = GEN_STOP_STRING;
            break;
        }
        size_t hold = o->n_stop ? stop_prefix_len(tb.p, tb.len, o) : 0;
        searched = tb.len > 256 ? tb.len - 256 : 0;   /* stop strings are short */
        if (o->on_text && tb.len - hold > emitted) {
            if (o->on_text(o->ud, tb.p + emitted, (int)(tb.len - hold - emitted))) {
                emitted = tb.len - hold;
                res->stop = GEN_STOP_CALLBACK;
                break;
            }
            emitted = tb.len - hold;
        }
        if (K) hist[n_hist++] = id;
        if (i + 1 == o->n_predict) break;
        if (r + 1 < rows) {
            if (id == batch[r + 1]) { r++; res->n_accepted++; continue; }   /* the draft holds */
            infer_truncate(s, base + r + 1);   /* the drafts from here on do not */
            if (cur > 1) cur--;
        } else if (rows > 1) {
            cur = cur + 2 < K ? cur + 2 : K;
        }
        if (infer_n_past(s) >= infer_n_ctx(s)) { res->stop = GEN_STOP_CONTEXT; break; }
        batch[0] = id;
        int k = 0;
        if (K) {
            int room = cur;
            if (room > o->n_predict - i - 2) room = o->n_predict - i - 2;         /* picks left after this step's */
            if (room > infer_n_ctx(s) - infer_n_past(s) - 1) room = infer_n_ctx(s) - infer_n_past(s) - 1;
            k = room > 0 ? gen_draft(hist, n_hist, GEN_DRAFT_MIN_NGRAM, room, batch + 1) : 0;
            for (int d = 1; d <= k; d++)
                if (batch[d] < 0 || batch[d] >= V) { k = d - 1; break; }   /* a caller's lookup ids out of range */
        }
        base = infer_n_past(s);
        r = 0;
        rows = k + 1;
        if (k) {
            res->n_drafted += k;
            res->n_verify++;
            if (forward(m, s, o, batch, k + 1, 1, logits, err)) goto out;
        } else if (forward(m, s, o, &id, 1, 0, logits, err)) goto out;
    }
    if (r + 1 < rows) infer_truncate(s, base + r + 1);   /* as plain decoding leaves it */
    if (res->stop != GEN_STOP_STRING && res->stop != GEN_STOP_CALLBACK) {
        char tail[16];
        int n = tok_stream_flush(&ts, tail, sizeof tail);
        if (n > 0) tb_append(&tb, tail, (size_t)n);
    }
    if (o->on_text && tb.len > emitted && res->stop != GEN_STOP_CALLBACK)
        o->on_text(o->ud, tb.p + emitted, (int)(tb.len - emitted));
    res->decode_s = clock_now_s() - t0;
    res->text = tb.p;
    tb.p = NULL;
    rc = 0;
out:
    if (o->batch) batcher_idle(o->batch, s);
    free(tb.p);
    free(hist);
    free(raw);
    free(logits);
    sampler_free(smp);
    if (rc) { free(res->ids); res->ids = NULL; }
    return rc;
}

void gen_result_free(gen_result *r) {
    free(r->ids);
    free(r->text);
    r->ids = NULL;
    r->text = NULL;
}

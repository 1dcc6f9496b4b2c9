/*
** generate.c — see generate.h.
*/
#include "generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../util/clock.h"

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
        for (int tries = 0; tries < 16; tries++) {
            int id = argmax(logits, V);
            if (isinf(logits[id]) && logits[id] < 0) return -1;
            if (o->allows(o->ud, id, n_left)) return id;
            logits[id] = -INFINITY;
        }
    }
    if (o->mask(o->ud, logits, V, n_left) <= 0) return -1;
    int id = argmax(logits, V);
    if (isinf(logits[id]) && logits[id] < 0) return -1;   /* only tokens on_logits removed are allowed */
    return sampler_sample(smp, logits);
}

int generate(const model *m, infer_state *s, const int32_t *prompt, int n_prompt, const gen_opts *o,
             gen_result *res, sa_err *err) {
    memset(res, 0, sizeof *res);
    int V = m->cfg.n_vocab;
    float *logits = malloc((size_t)V * sizeof *logits);
    float *raw = o->allows && o->on_logits ? malloc((size_t)V * sizeof *raw) : NULL;
    sampler *smp = sampler_new(V, &o->sp);
    res->ids = malloc(((size_t)(o->n_predict > 0 ? o->n_predict : 1)) * sizeof *res->ids);
    textbuf tb = {0};
    int rc = -1;
    if (!logits || !smp || !res->ids || (o->allows && o->on_logits && !raw) || tb_append(&tb, "", 0)) { sa_fail(err, "out of memory"); goto out; }
    double t0 = clock_now_s();
    if (n_prompt > 0 && model_forward(m, s, prompt, n_prompt, LOGITS_LAST, logits, err)) goto out;
    res->n_prompt = n_prompt;
    res->prefill_s = clock_now_s() - t0;
    t0 = clock_now_s();
    int eos = tok_eos_id(m->tok), im_end = tok_im_end_id(m->tok);
    int endoftext = tok_lookup(m->tok, "<|endoftext|>");
    size_t emitted = 0, searched = 0;
    tok_stream ts;
    tok_stream_init(&ts);
    res->stop = GEN_STOP_LENGTH;
    for (int i = 0; i < o->n_predict; i++) {
        int id;
        if (o->allows && o->mask) {
            /* the constraint comes first: when on_logits leaves none of its
            ** tokens, it is dropped for this step */
            if (o->on_logits) memcpy(raw, logits, (size_t)V * sizeof *raw);
            if (o->on_logits) o->on_logits(o->ud, logits, V);
            id = pick_constrained(o, smp, logits, V, o->n_predict - i);
            if (id < 0 && o->on_logits) id = pick_constrained(o, smp, raw, V, o->n_predict - i);
        } else {
            if (o->on_logits) o->on_logits(o->ud, logits, V);
            id = sampler_sample(smp, logits);
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
        if (i + 1 == o->n_predict) break;
        if (infer_n_past(s) >= infer_n_ctx(s)) { res->stop = GEN_STOP_CONTEXT; break; }
        if (model_forward(m, s, &id, 1, LOGITS_LAST, logits, err)) goto out;
    }
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
    free(tb.p);
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

/*
** batcher.c — continuous batching of forward calls from many threads; see
** batcher.h.
*/
#include "batcher.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../util/clock.h"

/* One forward call waiting in the queue (it lives on its caller's stack). */
typedef struct call {
    infer_state *s;
    const int32_t *tokens;
    int T, want, exact;
    float *logits;
    sa_err *err;
    int fed;                /* prompt tokens already run (chunked prompts) */
    int rc, finished;
    struct call *next;
} call;

#define MAX_MEMBERS 256

struct batcher {
    const model *m;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work;                /* a call arrived, a member left, or stopping */
    pthread_cond_t done;                /* a call finished */
    call *head;                         /* waiting calls, oldest first */
    infer_state *members[MAX_MEMBERS];  /* sequences in a generation */
    int n_members;
    int stopping, started;
    long linger_us;
    double pass_s;                      /* moving average of a decode pass's seconds */
    int fuse;                           /* model_rows_exact: decode rows ride in prompt passes */
    float *logits;                      /* [BATCHER_MAX_ROWS][V] */
    batcher_stats st;
};

static int is_decode(const call *c) { return c->T == 1 && !c->exact; }

static int has_call(const batcher *b, const infer_state *s) {
    for (const call *c = b->head; c; c = c->next)
        if (c->s == s) return 1;
    return 0;
}

/* Members with no call queued: those a decode step may wait for (mu held). */
static int members_missing(const batcher *b) {
    int n = 0;
    for (int i = 0; i < b->n_members; i++) n += !has_call(b, b->members[i]);
    return n;
}

static void unlink_call(batcher *b, call *c) {
    for (call **p = &b->head; *p; p = &(*p)->next)
        if (*p == c) { *p = c->next; return; }
    assert(0);
}

/* Fails c (rc, err) when its next n tokens from c->fed do not fit its
** context or hold an id out of range, so that a pass shared with others
** never fails for one call's sake; returns 1 then. */
static int call_fails(batcher *b, call *c, int n) {
    int V = b->m->cfg.n_vocab;
    if (infer_n_past(c->s) + n > infer_n_ctx(c->s)) {
        c->rc = sa_fail(c->err, "context full: %d cached + %d new tokens exceed --ctx %d", infer_n_past(c->s), n, infer_n_ctx(c->s));
        return 1;
    }
    for (int t = 0; t < n; t++)
        if (c->tokens[c->fed + t] < 0 || c->tokens[c->fed + t] >= V) {
            c->rc = sa_fail(c->err, "token id %d at position %d is out of range [0, %d)", c->tokens[c->fed + t], c->fed + t, V);
            return 1;
        }
    return 0;
}

/* Runs the decode rows: each row is checked alone (a full context or a bad
** id fails that call only), the rest go through one model_forward_batch.
** Returns the rows that ran. */
static int run_decode(batcher *b, call **rows, int n) {
    const model *m = b->m;
    int V = m->cfg.n_vocab, B = 0;
    infer_state *states[BATCHER_MAX_ROWS];
    int32_t toks[BATCHER_MAX_ROWS];
    call *ok[BATCHER_MAX_ROWS];
    for (int i = 0; i < n; i++) {
        call *c = rows[i];
        if (call_fails(b, c, 1)) continue;
        states[B] = c->s;
        toks[B] = c->tokens[0];
        ok[B++] = c;
    }
    if (!B) return 0;
    sa_err e = {{0}};
    if (model_forward_batch(m, states, toks, B, b->logits, &e)) {
        for (int i = 0; i < B; i++) ok[i]->rc = sa_fail(ok[i]->err, "%s", e.msg);
        return 0;
    }
    for (int i = 0; i < B; i++)
        if (ok[i]->want != LOGITS_NONE) memcpy(ok[i]->logits, b->logits + (size_t)i * V, (size_t)V * sizeof *b->logits);
    return B;
}

/* The tokens c's next chunk takes. */
static int chunk_len(const call *c) { return c->T - c->fed < BATCHER_CHUNK ? c->T - c->fed : BATCHER_CHUNK; }

/* The logits c's next chunk of n tokens asks for: the caller's at its last
** chunk (every chunk's with LOGITS_ALL), none before. */
static int chunk_want(const call *c, int n) {
    return c->want == LOGITS_ALL ? LOGITS_ALL : c->fed + n == c->T ? c->want : LOGITS_NONE;
}

/* Advances a prompt by one chunk (a draft verification runs whole);
** returns 1 when the call is complete. */
static int run_chunk(batcher *b, call *c) {
    const model *m = b->m;
    if (c->exact) {
        c->rc = model_forward_exact(m, c->s, c->tokens, c->T, c->logits, c->err);
        return 1;
    }
    int n = chunk_len(c), last = c->fed + n == c->T, want = chunk_want(c, n);
    float *lg = c->want == LOGITS_ALL ? c->logits + (size_t)c->fed * m->cfg.n_vocab : c->logits;
    if (model_forward(m, c->s, c->tokens + c->fed, n, want, lg, c->err)) {
        c->rc = -1;
        return 1;
    }
    c->fed += n;
    return last;
}

/* Can c's next chunk share a pass with other prompts' (model_forward_prompts)?
** Not a verification, not logits of every token, and long enough to take the
** GEMM alone too (any length where the model's rows are exact). */
static int joinable(const batcher *b, const call *c) {
    return !is_decode(c) && !c->exact && c->want != LOGITS_ALL && (b->fuse || chunk_len(c) >= MODEL_GEMM_MIN_ROWS);
}

/* Advances prompts[0..n_prompts) (joinable) by one chunk each in one
** model_forward_prompts pass, with the decode rows[0..n) as one-token
** chunks where the model fuses them (b->fuse; n = 0 otherwise): the rows
** then read the weights once with the prompts instead of in a pass of their
** own. Calls that cannot run fail alone first (call_fails). Sets done[i]
** when prompts[i] is complete; returns the decode rows that ran. */
static int run_fused(batcher *b, call **rows, int n, call **prompts, int n_prompts, int *done) {
    enum { MAX = BATCHER_MAX_ROWS + BATCHER_JOIN_PROMPTS };
    infer_state *states[MAX];
    const int32_t *toks[MAX];
    int T[MAX], want[MAX];
    float *lg[MAX];
    call *ran[MAX];
    int k = 0, n_rows = 0;
    for (int i = 0; i < n; i++) {
        call *c = rows[i];
        if (call_fails(b, c, 1)) continue;
        states[k] = c->s;
        toks[k] = c->tokens;
        T[k] = 1;
        want[k] = c->want == LOGITS_NONE ? LOGITS_NONE : LOGITS_LAST;   /* one token: ALL is its last */
        lg[k] = c->logits;
        ran[k++] = c;
        n_rows++;
    }
    for (int i = 0; i < n_prompts; i++) {
        call *c = prompts[i];
        int len = chunk_len(c);
        if (call_fails(b, c, len)) { done[i] = 1; continue; }
        states[k] = c->s;
        toks[k] = c->tokens + c->fed;
        T[k] = len;
        want[k] = chunk_want(c, len);
        lg[k] = c->logits;
        ran[k++] = c;
    }
    if (!k) return 0;
    sa_err e = {{0}};
    if (model_forward_prompts(b->m, states, toks, T, want, k, lg, &e)) {
        for (int i = 0; i < k; i++) ran[i]->rc = sa_fail(ran[i]->err, "%s", e.msg);
        for (int i = 0; i < n_prompts; i++) done[i] = 1;
        return 0;
    }
    for (int i = 0; i < n_prompts; i++)
        if (!done[i]) {
            prompts[i]->fed += chunk_len(prompts[i]);
            done[i] = prompts[i]->fed == prompts[i]->T;
        }
    return n_rows;
}

static void *batcher_main(void *arg) {
    batcher *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->head && !b->stopping) pthread_cond_wait(&b->work, &b->mu);
        if (!b->head) break;
        int any_decode = 0, any_prompt = 0;
        for (call *c = b->head; c; c = c->next) {
            any_decode |= is_decode(c);
            any_prompt |= !is_decode(c);
        }
        /* a prompt waits too where decode rows ride in its pass: the rows
        ** of the sequences sampling now would otherwise wait for it */
        if ((any_decode || (b->fuse && any_prompt)) && b->linger_us > 0 && members_missing(b) > 0) {
            /* the other sequences are sampling their next token: a moment's
            ** wait lets this pass serve them too. The wait grows with the
            ** pass (BATCHER_LINGER_PART of it): a large model's sequences
            ** sample over a larger vocabulary, with grammar masks on the
            ** cores the pass has just left, and a row that misses a pass
            ** costs its sequence a whole pass more. */
            long us = (long)(b->pass_s * BATCHER_LINGER_PART * 1e6);
            struct timespec ts = clock_deadline_us(us > b->linger_us ? us : b->linger_us);
            double w0 = clock_now_s();
            while (!b->stopping && members_missing(b) > 0)
                if (pthread_cond_timedwait(&b->work, &b->mu, &ts) == ETIMEDOUT) break;
            b->st.linger_s += clock_now_s() - w0;
        }
        call *rows[BATCHER_MAX_ROWS], *prompt = NULL, *join[BATCHER_JOIN_PROMPTS];
        int n = 0, n_join = 0, join_tokens = 0;
        for (call *c = b->head; c; c = c->next) {
            if (is_decode(c)) { if (n < BATCHER_MAX_ROWS) rows[n++] = c; }
            else if (!prompt) prompt = c;
        }
        /* the first prompt's chunk and the others' that can go with it, oldest
        ** first (with the decode rows too where the model fuses them) */
        int fused = b->fuse && n > 0 && prompt && joinable(b, prompt);
        int budget = BATCHER_JOIN_TOKENS - (fused ? n : 0);
        if (prompt && joinable(b, prompt))
            for (call *c = prompt; c; c = c->next)
                if (joinable(b, c) && n_join < BATCHER_JOIN_PROMPTS && join_tokens + chunk_len(c) <= budget) {
                    join[n_join++] = c;
                    join_tokens += chunk_len(c);
                }
        pthread_mutex_unlock(&b->mu);
        if (fused) {
            int done[BATCHER_JOIN_PROMPTS] = {0};
            double t0 = clock_now_s();
            int ran = run_fused(b, rows, n, join, n_join, done);
            double pass = clock_now_s() - t0;
            pthread_mutex_lock(&b->mu);
            b->st.fused_s += pass;
            b->st.fused++;
            if (ran) {
                b->st.steps++;
                b->st.rows += ran;
                if (ran > b->st.max_rows) b->st.max_rows = ran;
            }
            b->st.chunks += n_join;
            if (n_join >= 2) b->st.joined += n_join;
            for (int i = 0; i < n; i++) { unlink_call(b, rows[i]); rows[i]->finished = 1; }
            for (int i = 0; i < n_join; i++)
                if (done[i]) { unlink_call(b, join[i]); join[i]->finished = 1; }
            pthread_cond_broadcast(&b->done);
            continue;
        }
        if (n) {
            double t0 = clock_now_s();
            int ran = run_decode(b, rows, n);
            double pass = clock_now_s() - t0;
            /* The decode rows' callers go on at once: they sample their next
            ** token while the prompt chunk below runs, so the next pass finds
            ** them all waiting instead of running without those late. */
            pthread_mutex_lock(&b->mu);
            b->st.decode_s += pass;
            if (ran) {
                b->pass_s = b->st.steps ? 0.8 * b->pass_s + 0.2 * pass : pass;
                b->st.steps++;
                b->st.rows += ran;
                if (ran > b->st.max_rows) b->st.max_rows = ran;
            }
            for (int i = 0; i < n; i++) { unlink_call(b, rows[i]); rows[i]->finished = 1; }
            pthread_cond_broadcast(&b->done);
            pthread_mutex_unlock(&b->mu);
        }
        int done[BATCHER_JOIN_PROMPTS] = {0};
        int joined = n_join >= 2;
        double p0 = clock_now_s();
        if (joined) run_fused(b, NULL, 0, join, n_join, done);
        else if (prompt) {
            join[0] = prompt;
            n_join = 1;
            done[0] = run_chunk(b, prompt);
        }
        double prompt_pass = clock_now_s() - p0;
        pthread_mutex_lock(&b->mu);
        if (n_join) b->st.prompt_s += prompt_pass;
        b->st.chunks += n_join;
        if (joined) b->st.joined += n_join;
        int any = 0;
        for (int i = 0; i < n_join; i++)
            if (done[i]) { unlink_call(b, join[i]); join[i]->finished = 1; any = 1; }
        if (any) pthread_cond_broadcast(&b->done);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

batcher *batcher_new(const model *m, int linger_us, sa_err *err) {
    batcher *b = calloc(1, sizeof *b);
    if (b) b->logits = malloc((size_t)BATCHER_MAX_ROWS * m->cfg.n_vocab * sizeof *b->logits);
    if (!b || !b->logits) {
        if (b) free(b);
        sa_fail(err, "out of memory for the batcher");
        return NULL;
    }
    b->m = m;
    b->linger_us = linger_us > 0 ? linger_us : 0;
    const char *fuse = getenv("SQLASSIST_FUSE");
    b->fuse = model_rows_exact(m) && !(fuse && strcmp(fuse, "0") == 0);
    pthread_mutex_init(&b->mu, NULL);
    clock_cond_init(&b->work);
    pthread_cond_init(&b->done, NULL);
    int rc = pthread_create(&b->thread, NULL, batcher_main, b);
    if (rc) {
        sa_fail(err, "cannot start the batcher thread: %s", strerror(rc));
        b->started = 0;
        batcher_free(b);
        return NULL;
    }
    b->started = 1;
    return b;
}

void batcher_free(batcher *b) {
    if (!b) return;
    if (b->started) {
        pthread_mutex_lock(&b->mu);
        assert(!b->head);
        b->stopping = 1;
        pthread_cond_broadcast(&b->work);
        pthread_mutex_unlock(&b->mu);
        pthread_join(b->thread, NULL);
    }
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->work);
    pthread_cond_destroy(&b->done);
    free(b->logits);
    free(b);
}

/* Queues c after the waiting calls; its state becomes a member (mu held). */
static void enqueue(batcher *b, call *c) {
    assert(!has_call(b, c->s));
    call **tail = &b->head;
    while (*tail) tail = &(*tail)->next;
    *tail = c;
    int member = 0;
    for (int i = 0; i < b->n_members && !member; i++) member = b->members[i] == c->s;
    if (!member && b->n_members < MAX_MEMBERS) b->members[b->n_members++] = c->s;
}

int batcher_forward(batcher *b, infer_state *s, const int32_t *tokens, int T, int want, int exact, float *logits,
                    sa_err *err) {
    if (T <= 0) return sa_fail(err, "no tokens to process");
    call c = { s, tokens, T, want, exact, logits, err, 0, 0, 0, NULL };
    pthread_mutex_lock(&b->mu);
    if (b->stopping) {
        pthread_mutex_unlock(&b->mu);
        return sa_fail(err, "the batcher is stopping");
    }
    enqueue(b, &c);
    pthread_cond_signal(&b->work);
    while (!c.finished) pthread_cond_wait(&b->done, &b->mu);
    pthread_mutex_unlock(&b->mu);
    return c.rc;
}

int batcher_forward_rows(batcher *b, infer_state *const *states, const int32_t *tokens, int B, float *logits,
                         sa_err *err) {
    if (B <= 0 || B > BATCHER_MAX_ROWS) return sa_fail(err, "%d rows for one decode step (1 to %d)", B, BATCHER_MAX_ROWS);
    call c[BATCHER_MAX_ROWS];
    sa_err errs[BATCHER_MAX_ROWS];
    int V = b->m->cfg.n_vocab;
    pthread_mutex_lock(&b->mu);
    if (b->stopping) {
        pthread_mutex_unlock(&b->mu);
        return sa_fail(err, "the batcher is stopping");
    }
    for (int i = 0; i < B; i++) {
        errs[i] = (sa_err){{0}};
        c[i] = (call){ states[i], &tokens[i], 1, LOGITS_LAST, 0, logits + (size_t)i * V, &errs[i], 0, 0, 0, NULL };
        enqueue(b, &c[i]);
    }
    pthread_cond_signal(&b->work);
    for (int i = 0; i < B; i++)
        while (!c[i].finished) pthread_cond_wait(&b->done, &b->mu);
    pthread_mutex_unlock(&b->mu);
    for (int i = 0; i < B; i++)
        if (c[i].rc) { *err = errs[i]; return -1; }
    return 0;
}

void batcher_idle(batcher *b, infer_state *s) {
    pthread_mutex_lock(&b->mu);
    for (int i = 0; i < b->n_members; i++)
        if (b->members[i] == s) {
            b->members[i] = b->members[--b->n_members];
            pthread_cond_signal(&b->work);
            break;
        }
    pthread_mutex_unlock(&b->mu);
}

batcher_stats batcher_get_stats(batcher *b) {
    pthread_mutex_lock(&b->mu);
    batcher_stats st = b->st;
    pthread_mutex_unlock(&b->mu);
    return st;
}

/*
** batcher.h — continuous batching: many threads generate at once on one
** model, and their decode steps share passes over the weights.
**
** Each caller thread runs its own generation loop (generate, the agent) on
** its own infer_state, exactly as it would alone, but hands every forward
** call to the batcher instead of calling model_forward. The batcher's one
** thread (the only one that runs the model, so the model's thread pool is
** never shared) repeatedly:
**   - gathers the one-token decode steps waiting, from every sequence in a
**     generation (it waits a short linger, at most BATCHER_LINGER_PART of a
**     pass, for sequences still sampling their previous token), and runs
**     them as one model_forward_batch: B rows, one read of the weights; their
**     callers go on at once;
**   - then advances one waiting prompt by one chunk of at most
**     BATCHER_CHUNK tokens, so a long prompt never stalls the others for
**     long — together with the other waiting prompts' chunks, in one
**     model_forward_prompts pass, where each would take the GEMM alone too;
**     a draft verification (model_forward_exact) runs whole.
** Where the model's rows are exact (model_rows_exact: q8_0 / q4_0 panels on
** VNNI) the decode rows and the prompt chunks go through one
** model_forward_prompts pass instead of two: the decode rows then cost the
** prompt pass a few GEMM rows, not a read of all the weights of their own.
** $SQLASSIST_FUSE=0 keeps the two passes (for comparisons).
** A prompt waiting there also waits the linger for the sequences still
** sampling, whose rows would otherwise wait for its pass.
** Sequences join whenever their first call arrives and leave with
** batcher_idle. Each result is bit for bit what the caller's own
** model_forward / model_forward_exact call would have given (see
** model_forward_batch; prompt chunks run through model_forward itself).
**
** Owns: its thread, the queue of waiting calls, and a [max rows][V] logits
** buffer. Borrows the model (which must outlive it) and, for the duration
** of a call, the caller's infer_state, tokens and logits.
*/
#ifndef SA_BATCHER_H
#define SA_BATCHER_H

#include <stdint.h>

#include "model.h"

typedef struct batcher batcher;

/* Prompt tokens one chunk of a prompt advances by between decode steps. */
#define BATCHER_CHUNK 64
/* How much of a recent decode pass a step may wait for the sequences of the
** batch still sampling. On the Qwen2.5-1.5B shape (q8_0, 2 threads) a
** tenth made every other pass run without the sequences still masking
** (1.9 rows a pass at 4 requests); a third gives 3.5 (README, continuous
** batching). */
#define BATCHER_LINGER_PART 0.3
/* Most prompts whose chunks share one pass, and their tokens together: one
** weight read for several requests' prompts, whose GEMM is bound by
** arithmetic, not by reading the weights, at these sizes. */
#define BATCHER_JOIN_PROMPTS 8
#define BATCHER_JOIN_TOKENS 256
/* Most sequences one decode step takes (more wait for the next step). */
#define BATCHER_MAX_ROWS 64

/* Starts the batcher's thread. linger_us: how long a decode step waits at
** least for sequences of the batch that have not sent their next token yet
** (it waits up to BATCHER_LINGER_PART of a recent decode pass when that is longer; 0:
** never wait, run with whatever is waiting). */
batcher *batcher_new(const model *m, int linger_us, sa_err *err);
/* Stops the thread; no call may be in flight. NULL is a no-op. */
void batcher_free(batcher *b);

/* model_forward(m, s, tokens, T, want, logits, err) — or, with exact set,
** model_forward_exact(m, s, tokens, T, logits, err) — run on the batcher's
** thread; blocks until done. Thread-safe; one call at a time per state. */
int batcher_forward(batcher *b, infer_state *s, const int32_t *tokens, int T, int want, int exact, float *logits,
                    sa_err *err);

/* One decode step for B sequences of one caller at once (beam search):
** tokens[i] appended to states[i], logits [B][V], as B batcher_forward calls
** of one token each made together. Blocks until all are done; -1 + err (the
** first failing row's) when any failed. */
int batcher_forward_rows(batcher *b, infer_state *const *states, const int32_t *tokens, int B, float *logits,
                         sa_err *err);

/* s takes no more steps for now (its generation ended): decode steps stop
** waiting for it. Its next batcher_forward makes it a member again. */
void batcher_idle(batcher *b, infer_state *s);

typedef struct batcher_stats {
    long steps;            /* decode passes */
    long rows;             /* decode rows in them (rows / steps: the mean batch) */
    long chunks;           /* prompt chunks and draft verifications */
    long joined;           /* prompt chunks run in a pass with other prompts' */
    int max_rows;          /* largest decode pass */
    double decode_s;       /* seconds in decode passes */
    double prompt_s;       /* seconds in prompt chunks and draft verifications */
    double linger_s;       /* seconds a decode step waited for sequences still sampling */
    long fused;            /* passes that ran decode rows and prompt chunks together */
    double fused_s;        /* seconds in those passes */
} batcher_stats;
batcher_stats batcher_get_stats(batcher *b);

#endif

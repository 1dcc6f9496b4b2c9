/*
** beam.h — beam search: the W most likely replies to a prompt, under a
** caller's constraints.
**
** Greedy decoding under constraints (a grammar, a copy mask) can be led
** into a reply the model itself finds unlikely: once a token is taken, the
** constraints may force every later one, however little the model wants
** it. Beam search keeps the W best partial replies at every step, scored
** by the sum of their tokens' log-probabilities under the model's own
** distribution, so a path the model only follows because it was forced
** falls behind one it writes willingly.
**
** Each reply is scored against the logits as the model gave them (before
** the caller's on_logits and mask), plus whatever on_logits added to the
** chosen token (a linking bonus counts): a token the constraints force
** costs what the model thought of it. Ties go to the lower token id, then
** the earlier beam, so the result is deterministic.
**
** The caller's per-reply constraint state is opaque here: beam_opts says how
** to copy it when a reply forks, how to free it, and how to feed it a token.
**
** Owns: W-1 extra KV caches (sized for the prompt and the budget) and the
** hypotheses it returns. Borrows the model and the caller's state s, which
** must hold the prompt and which it leaves holding the prompt only.
*/
#ifndef SA_BEAM_H
#define SA_BEAM_H

#include <stdint.h>

#include "model.h"

/* Widest beam. */
#define BEAM_MAX 16

typedef struct beam_opts {
    int width;          /* replies kept per step, 1..BEAM_MAX */
    int n_predict;      /* most new tokens per reply */
    /* Constraint state of one reply (all callbacks optional; ud may be NULL). */
    void *(*fork)(void *ud);                                     /* an independent copy; NULL: out of memory */
    void (*drop)(void *ud);
    void (*on_logits)(void *ud, float *logits, int n_vocab);     /* may mask (-INFINITY) and add bonuses */
    int (*mask)(void *ud, float *logits, int n_vocab, int n_left);   /* -INFINITY where not allowed */
    /* Records token id; returns 1 when the reply is finished with it (kept as
    ** a hypothesis), 0 to go on. */
    int (*on_token)(void *ud, int id);
    void *ud;           /* the first reply's state (owned by beam_search from the call on) */
    struct batcher *batch;             /* forward calls through this batcher (batcher.h); NULL: the model directly */
    const struct lora_adapter *lora;   /* s's adapter and scale, for the extra caches */
    float lora_scale;
} beam_opts;

typedef struct beam_hyp {
    int32_t *ids;       /* the reply's tokens, end token excluded (malloc'd) */
    int n_ids;
    double logprob;     /* sum of its tokens' scores (see above) */
    int finished;       /* 1: ended by the model (end token) or on_token; 0: the budget ran out */
    void *ud;           /* its constraint state (owned by the caller now) */
} beam_hyp;

typedef struct beam_result {
    beam_hyp *hyps;     /* best first: finished before unfinished, then by logprob */
    int n;
    int steps;          /* forward passes after the prompt */
    double decode_s;
} beam_result;

/* Beam search from state s, which must hold the whole prompt, with
** last_logits the logits of its last position ([V], not changed). The first
** reply's constraint state is o->ud; every hypothesis ends with one of its
** own (forks of it). Stops when W replies are finished and no unfinished one
** can still beat them, or at the budget (n_predict, or what s's context
** leaves). No hypothesis at all (every reply refused by the constraints) is
** not an error: res->n is 0 then. Leaves s holding its first
** n_keep positions (the prompt). Returns 0, or -1 + err (engine error, out
** of memory): then nothing is left to free. Free with beam_result_free. */
int beam_search(const model *m, infer_state *s, int n_keep, const float *last_logits, const beam_opts *o,
                beam_result *res, sa_err *err);
void beam_result_free(beam_result *r, void (*drop)(void *ud));

#endif

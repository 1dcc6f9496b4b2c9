/*
** generate.h — the generation loop: prefill a prompt into an infer_state,
** then sample token by token until an end token, a stop string, or the
** token budget; text is streamed out in whole UTF-8 characters, holding
** back anything that might be the start of a stop string.
**
** The ChatML prompt format of Qwen2.5-Instruct lives in chatml.h (included
** here, where chatml_format's callers have always found it).
*/
#ifndef SA_GENERATE_H
#define SA_GENERATE_H

#include <stdint.h>

#include "chatml.h"
#include "model.h"
#include "sampler.h"

enum gen_stop { GEN_STOP_EOS = 1, GEN_STOP_STRING, GEN_STOP_LENGTH, GEN_STOP_CALLBACK, GEN_STOP_CONTEXT };

typedef struct gen_opts {
    int n_predict;                      /* maximum new tokens */
    sampler_params sp;
    const char *const *stop_strings;    /* may be NULL */
    int n_stop;
    /* Called with each piece of finished text; return nonzero to stop. */
    int (*on_text)(void *ud, const char *text, int len);
    /* Called after each sampled token (before its text is released). */
    int (*on_token)(void *ud, int id);
    /* Called with the logits of each step before sampling; may change them
    ** (e.g. set some to -INFINITY). Optional. */
    void (*on_logits)(void *ud, float *logits, int n_vocab);
    /* Constrained decoding (optional, both or neither): allows says whether
    ** token id may come next with n_left tokens of budget left (this one
    ** included); mask sets every token that may not to -INFINITY and returns
    ** how many stay. Greedy decoding asks allows for the best tokens in turn
    ** and masks only after 16 refusals (the choice is the same as masking
    ** first, at a fraction of the cost); sampling masks first. When nothing
    ** is allowed, generation stops (GEN_STOP_EOS). */
    int (*allows)(void *ud, int id, int n_left);
    int (*mask)(void *ud, float *logits, int n_vocab, int n_left);
    void *ud;
    /* Speculative decoding from the prompt (prompt lookup), greedy only: with
    ** draft > 0 and sp.temperature <= 0, each step proposes up to `draft`
    ** (at most GEN_DRAFT_MAX; fewer after drafts that failed, back up after
    ** drafts that held) next tokens with gen_draft and checks them in
    ** one model_forward_exact pass over the step's token and the drafts
    ** (only after a match of GEN_DRAFT_MIN_NGRAM tokens or more);
    ** picks are made row by row exactly as plain decoding makes them
    ** (on_logits, allows/mask, on_token, on_text, stop strings, budgets),
    ** and a draft is kept while it equals the pick. Ids, text, stop reason,
    ** every callback and the KV cache left behind are the same as with
    ** draft 0; only the number of forward passes changes. 0: off. */
    int draft;
    /* What drafts are looked up in, before the generated tokens: typically
    ** the whole prompt including a cached prefix (and earlier answers).
    ** NULL: the prompt passed to generate. */
    const int32_t *lookup;
    int n_lookup;
    /* Continuous batching: every forward call goes through this batcher
    ** (batcher.h), whose thread batches it with other threads' generations;
    ** the result is the same as without. NULL: the model is called here. */
    struct batcher *batch;
} gen_opts;

/* Upper bound on gen_opts.draft. */
#define GEN_DRAFT_MAX 16
/* Longest n-gram gen_draft matches (it prefers longer, then more recent). */
#define GEN_DRAFT_NGRAM 4
/* The shortest match generate drafts from. On the bundled model's everyday
** tasks (bench/speculative.sh) the first draft after a match of 1, 2, 3, 4
** tokens held 33%, 47%, 62%, 76% of the time, while each drafted token costs
** about half a decode step to verify: shorter matches lose time. */
#define GEN_DRAFT_MIN_NGRAM 3

/* Prompt lookup: finds the longest n-gram (GEN_DRAFT_NGRAM tokens down to
** min_ngram) ending at hist[n-1] that also occurs earlier in hist[0..n), the
** most recent such occurrence among the longest, and copies up to k of the
** tokens that followed it into out[]. Returns how many (0: no such match). */
int gen_draft(const int32_t *hist, int n, int min_ngram, int k, int32_t *out);

typedef struct gen_result {
    int32_t *ids;          /* generated ids (malloc'd), end token excluded */
    int n_ids;
    char *text;            /* generated text up to (not including) a stop string */
    int n_prompt;          /* prompt tokens processed (after any cached prefix) */
    double prefill_s, decode_s;
    int stop;              /* enum gen_stop */
    /* speculative decoding: tokens drafted, drafts kept (accepted / drafted
    ** is the acceptance rate), and the forward passes that verified drafts */
    int n_drafted, n_accepted, n_verify;
} gen_result;

/* Appends prompt[0..n) to s's cache (which may already hold a prefix), then
** generates. The result must be released with gen_result_free. */
int generate(const model *m, infer_state *s, const int32_t *prompt, int n_prompt,
             const gen_opts *o, gen_result *res, sa_err *err);
void gen_result_free(gen_result *r);

#endif

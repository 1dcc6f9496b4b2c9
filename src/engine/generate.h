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
} gen_opts;

typedef struct gen_result {
    int32_t *ids;          /* generated ids (malloc'd), end token excluded */
    int n_ids;
    char *text;            /* generated text up to (not including) a stop string */
    int n_prompt;          /* prompt tokens processed (after any cached prefix) */
    double prefill_s, decode_s;
    int stop;              /* enum gen_stop */
} gen_result;

/* Appends prompt[0..n) to s's cache (which may already hold a prefix), then
** generates. The result must be released with gen_result_free. */
int generate(const model *m, infer_state *s, const int32_t *prompt, int n_prompt,
             const gen_opts *o, gen_result *res, sa_err *err);
void gen_result_free(gen_result *r);

#endif

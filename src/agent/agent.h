/*
** agent.h — the SQL agent: question → prompt → generate → extract SQL →
** run it in the sandbox → on an error, feed the error back and try again.
**
** Owns: the answer it builds (SQL, rows, every attempt, token counts and
** timings) and the conversation history used for follow-up questions. It
** borrows the model, the prefix cache, the adapter and the sandbox; one
** agent_ask runs on one thread, and several may run at once on different
** prefix-cache slots and sandboxes when their forward calls go through one
** batcher (agent_config.batch; engine/batcher.h).
*/
#ifndef SA_AGENT_H
#define SA_AGENT_H

#include <jansson.h>
#include <stdbool.h>

#include "../engine/beam.h"
#include "../engine/model.h"
#include "../engine/prefix_cache.h"
#include "../engine/sampler.h"
#include "../sql/sandbox.h"
#include "../sql/schema.h"
#include "prompt.h"

typedef struct agent_config {
    const model *m;
    prefix_cache *pc;                 /* KV reuse across questions */
    const prompt_template *tpl;
    int max_attempts;                 /* default 3 */
    int max_new_tokens;               /* per attempt; default 256 */
    sampler_params sp;                /* default greedy */
    const struct lora_adapter *lora;  /* NULL: base model */
    float lora_scale;
    const char *adapter_name;         /* for the prefix-cache key and the answer */
    int history_budget_tokens;        /* tokens of earlier turns kept; default 512 */
    int copy_values;                  /* values of comparisons copied from the question (copyvals.h) */
    const sc_schema *schema;          /* sb's schema when the caller has it (NULL: read from sb when needed) */
    int grammar;                      /* constrain decoding to SQL valid on the schema (sqlgrammar.h) */
    int candidates;                   /* queries written per round before repairing (0: agent_candidates); the
                                      ** first greedy, the others sampled at candidate_temperature */
    float candidate_temperature;      /* 0: 0.7 */
    int draft;                        /* speculative decoding of the greedy attempts (gen_opts.draft): tokens
                                      ** drafted per step from the prompt and earlier attempts; the output is
                                      ** the same either way. 0: $SQLASSIST_DRAFT when set, else
                                      ** AGENT_DEFAULT_DRAFT; < 0: off */
    float link_bonus;                 /* with copy_values: the logit bonus of the columns the question names
                                      ** (cv_link_columns). 0: $SQLASSIST_LINK_BONUS when set, else
                                      ** AGENT_DEFAULT_LINK_BONUS; < 0: off */
    /* Streaming (all optional): the SQL text as it is generated, and each
    ** finished attempt. Returning nonzero cancels the request. */
    int (*on_token)(void *ud, int attempt, const char *text, int len);
    int (*on_attempt)(void *ud, int attempt, const char *sql, const char *error);
    /* Polled between tokens: nonzero cancels (client gone, timeout). */
    int (*cancelled)(void *ud);
    void *ud;
    struct batcher *batch;            /* continuous batching with other threads (gen_opts.batch); NULL: none */
    int beam;                         /* > 1: each round's candidates also include the replies of a beam
                                      ** search this wide (engine/beam.h), written after the greedy and
                                      ** sampled ones and ranked with them; 0: agent_beam's default; < 0: off */
    int parallel_candidates;          /* when every candidate is written and ranked (copy_values, candidates > 1):
                                      ** write a round's candidates at once, one thread each, their decode steps
                                      ** sharing passes over the weights (through batch, else a batcher of the
                                      ** question's own). The answer is the same; it is faster when the prefix
                                      ** cache has a free slot per candidate. on_token then streams the first
                                      ** candidate as it is written and each other one when it is done, and
                                      ** cancelled is polled from those threads too. */
} agent_config;

typedef struct agent_attempt {
    int round, candidate;   /* 1-based: the repair round and the candidate within it */
    char *raw;              /* the model's reply */
    char *sql;              /* what was extracted and run (names mended: see fixnames.h) */
    char *error;            /* NULL when it ran */
    int names_mended;       /* misspelt table/column names replaced before it ran */
    int values_mended;      /* comparisons whose column or literal was mended by the values held (fixnames.h) */
    long long rows;         /* rows it returned when it ran (-1: it did not run) */
    int duplicate;          /* the same SQL as an earlier candidate of the round: not run again */
    int cut_off;            /* with the grammar: the reply ended before the statement did (not run) */
    int steered;            /* with the grammar: the statement was finished along a completion, not by the model */
    int prompt_tokens, cached_tokens, generated_tokens;
    int drafted_tokens, accepted_tokens, verify_passes;   /* speculative decoding (gen_result) */
    int looped;             /* the reply repeated itself (agent_repeating_tail) and was closed there */
    int coverage;           /* with --copy: cv_coverage of the reply (linked columns and held values it uses) */
    int empty_aggregate;    /* it returned one row of nothing but NULLs and zeros (count or max of no rows) */
    double prefill_ms, decode_ms, execute_ms;
} agent_attempt;

typedef struct agent_answer {
    char *question;
    char *sql;              /* the chosen SQL: the first attempt that ran and returned rows, else the
                            ** first that ran, else the last one written */
    int chosen;             /* index of that attempt in attempts[], -1 when none has SQL */
    bool ok;                /* the chosen SQL ran */
    bool cancelled;
    sb_result result;       /* rows of the final SQL when ok */
    agent_attempt *attempts;
    int n_attempts;
    int prompt_tokens, cached_tokens, generated_tokens;
    int drafted_tokens, accepted_tokens, verify_passes;   /* summed over the attempts */
    double tokenize_ms, prefill_ms, decode_ms, execute_ms, total_ms;
    char *adapter;          /* adapter name or NULL */
    char *schema_note;      /* e.g. tables left out of the prompt; NULL if none */
} agent_answer;

/* A conversation: earlier questions and their final SQL, for follow-ups.
** Owned by the agent: callers read the fields but change them only through
** the functions below (agent_ask records each answered question). */
typedef struct agent_conversation {
    char **questions, **sqls;
    int n, cap;
} agent_conversation;

void agent_conversation_init(agent_conversation *c);
void agent_conversation_free(agent_conversation *c);
/* Records a successful exchange (copies the strings). */
void agent_conversation_add(agent_conversation *c, const char *question, const char *sql);
/* Drops the oldest exchanges so that at most max are kept. */
void agent_conversation_keep_last(agent_conversation *c, int max);

/* Answers `question` on the database behind sb, whose schema the prompt
** shows as `schema_text`. conv may be NULL. Each round writes up to
** cfg->candidates queries and runs them; it stops at the first that returns
** rows (with copy_values: writes them all and keeps the one that uses the
** most of the question, cv_coverage, among the best outcomes), keeps the
** first that ran otherwise, and when none ran the next
** round shows the model its failed query and the error (agent_error_hint). Fills *ans (free it with
** agent_answer_free) and returns 0 — also when no attempt produced working
** SQL (ans->ok is false then); -1 only for engine failures. */
int agent_ask(const agent_config *cfg, sandbox *sb, const char *schema_text, const char *schema_note,
              agent_conversation *conv, const char *question, agent_answer *ans, sa_err *err);
void agent_answer_free(agent_answer *a);

/* Does ids[0..n) end in a loop: one group of 1 to AGENT_LOOP_PERIOD tokens
** written AGENT_LOOP_REPEATS times in a row, AGENT_LOOP_MIN tokens or more
** in all (a small model under the grammar can nest `date(date(date(...` or
** repeat `, x , x , x` until its budget ends, 10 s and more on a 1.5B model).
** The agent then closes the statement along the grammar's shortest
** completion (sg_finish), or stops the reply without a grammar. */
#define AGENT_LOOP_PERIOD 16
#define AGENT_LOOP_REPEATS 4
#define AGENT_LOOP_MIN 12
int agent_repeating_tail(const int32_t *ids, int n);

/* An sc_measure_fn counting tokens with the tokenizer passed as ctx. */
size_t agent_count_tokens(const char *text, size_t len, void *tok);

/* An sc_values_fn over a sandbox (ctx): which of texts column col of table
** holds as text, ignoring ASCII case, among its first AGENT_ANCHOR_ROWS
** rows (one query per column, so a large table costs at most that many
** rows). The value anchors of the schema prompt (SC_RENDER_VALUES), shown
** to a model whose file says it was trained with them. */
#define AGENT_ANCHOR_ROWS 20000
int agent_values_held(void *sb, const char *table, const char *col, const char *const *texts, int n,
                      unsigned char *held);

/* The schema text for a question's prompt: s rendered within what the
** context leaves after max_attempts answers of n_predict tokens and about
** 768 tokens of instructions and history (at least 256), keeping the tables
** most related to the question. *note receives a malloc'd "left out N
** tables: ..." when some did not fit, else NULL. NULL + err on failure.
** With the sql-create-context template (tpl), only the tables related to
** the question, in the data set's plain style (sc_render_relevant_scc;
** sb, when not NULL, is asked which columns hold the question's words).
** A model trained with value anchors (model_schema_values) gets them, read
** from sb. */
char *agent_schema_prompt(const model *m, const prompt_template *tpl, sandbox *sb, const sc_schema *s,
                          const char *question, bool with_samples, int n_ctx, int n_predict, int max_attempts,
                          char **note, sa_err *err);

/* SQLite's error message as a repair prompt shows it: without the "SQL
** error:" prefix, offsets and statement numbers a small model copies into
** its next query, plus what to do about it. malloc'd. */
char *agent_error_hint(const char *error);

/* Tokens drafted per step when agent_config.draft is 0 and $SQLASSIST_DRAFT
** is unset (see agent_draft). The output is the same either way; what
** decides is speed. The verifying pass (model_forward_exact) now unpacks each
** weight block once for up to 8 tokens, so k = 4 drafts cost about 2 decode
** steps on the Qwen2.5-1.5B shape, and the bundled model keeps ~73% of its
** drafts on everyday questions: decode x1.13 measured on the bundled model,
** x1.35 expected on the 1.5B shape (docs/agent.md, bench/speculative.sh). */
#define AGENT_DEFAULT_DRAFT 4
#define AGENT_DEFAULT_DRAFT_STR "4"
/* The draft length cfg asks for: cfg->draft when > 0, 0 (off) when < 0, else
** $SQLASSIST_DRAFT (a number, 0 = off) when set, else AGENT_DEFAULT_DRAFT. */
int agent_draft(const agent_config *cfg);

/* Schema linking under --copy (copyvals.h): a token that starts a name which
** can only become a column the question names ("unit price" -> unit_price)
** gains this much logit. Chosen on Spider dev questions 200-499 (0: 40.8%,
** 2: 42.4%, 3: 42.0%, 4: 42.0%; docs/agent.md). */
#define AGENT_DEFAULT_LINK_BONUS 2.0f
#define AGENT_DEFAULT_LINK_BONUS_STR "2"
/* The bonus cfg asks for: cfg->link_bonus when > 0, 0 (off) when < 0, else
** $SQLASSIST_LINK_BONUS (a number, 0 = off) when set, else
** AGENT_DEFAULT_LINK_BONUS. */
float agent_link_bonus(const agent_config *cfg);

/* Candidates per round when no --candidates is given: AGENT_COPY_CANDIDATES
** where values are copied (--copy, the bundled model), ranked by how much of
** the question each uses (docs/agent.md, "Candidates ranked by coverage":
** Spider dev questions 200-499 42.0% -> 45.0%, three times the latency),
** else AGENT_DEFAULT_CANDIDATES (the first that returns rows: with the
** bundled model 4 such candidates answered one question more in 300-1000
** and took 2.5-4 times as long). */
#define AGENT_DEFAULT_CANDIDATES 1
#define AGENT_COPY_CANDIDATES 4
#define AGENT_CANDIDATES_HELP "default 4 where values are copied (--copy), ranked by how much of the question each uses; else 1"
#define AGENT_MAX_CANDIDATES 16
/* How long a decode pass of parallel candidates waits at least for those
** still sampling their previous token (batcher_new): a step with the copy
** mask and the grammar takes well under a millisecond on the bundled model. */
#define AGENT_BATCH_LINGER_US 1000

/* Beam search is off unless asked for (--beam N, $SQLASSIST_BEAM). With the
** bundled model, 4 beam replies beside the greedy and 3 sampled candidates
** answer more everyday questions (shop 60.7% -> 64.3%, library 23.3% ->
** 26.7%) but fewer on Spider dev questions 200-499, where agent settings are
** chosen (45.0% -> 43.7%), and on WikiSQL (60.3% -> 58.7%): docs/agent.md,
** "Beam search". */
#define AGENT_BEAM_HELP "0"
/* Beam width for cfg: cfg->beam when > 0, 0 (off) when < 0, else $SQLASSIST_BEAM
** (a number, 0 = off) when set, else 0. A width of 1 is off (it would repeat
** the greedy candidate). */
int agent_beam(const agent_config *cfg);

/* Candidates per round for cfg: cfg->candidates when > 0, else as above. */
int agent_candidates(const agent_config *cfg);

/* --grammar on|off (NULL: on) into *grammar; prints a usage message and
** returns -1 on a bad value. (--candidates is a number from 1 to
** AGENT_MAX_CANDIDATES, checked by the CLI's cli_int.) */
int agent_grammar_flag(const char *flag, int *grammar);
/* Any on|off option: flag (NULL: dflt) into *on; -1 and a usage message
** naming option on a bad value. */
int agent_on_off(const char *option, const char *flag, int dflt, int *on);

/* Prefix-cache slots for a process that answers one question at a time with
** cfg: at least min, and one per candidate when they are written at once. */
int agent_cache_slots(const agent_config *cfg, int min);

/* The whole answer as one JSON object, the rows included as
** sb_result_json gives them; the caller owns it, adds to it and writes it
** once. NULL when out of memory. */
json_t *agent_answer_json(const agent_answer *a);

/* The prompt template for model M: --template FILE or --format KIND when
** given (non-NULL), else the format the model file names
** (model_prompt_format: models trained by `sqlassist train` say
** sql-create-context), else chatml. */
int agent_template_init(prompt_template *t, const char *format, const char *file, const model *m, sa_err *err);

/* --copy: "on", "off" or "auto"/NULL (on for models trained from
** scratch by `sqlassist train`, which carry sqlassist.prompt_format: they
** learnt from data whose values are spans of the question). Returns 0/1, or
** -1 for another word. */
int agent_copy_values(const char *flag, const model *m);

#endif

/*
** data.h — training examples from sql-create-context JSONL: one object per
** line with string fields "question", "context" (CREATE TABLE statements)
** and "answer" (the SQL).
**
** Each row becomes the prompt of the sql-create-context template, rendered
** by prompt_render (src/agent/prompt.c, the same code the agent runs at
** inference), followed by the answer and the end token <|endoftext|>:
**
**   ### Context:\n{context}\n### Question:\n{question}\n### SQL:\n{answer}<|endoftext|>
**
** Prompt and answer are tokenized separately, exactly as inference sees
** them (the prompt is fed, the answer generated). The loss covers the
** answer tokens and the end token only.
**
** Validation rows are held out by a fixed rule: FNV-1a-64(question) mod
** val_mod == 0 (val_mod 20: about 5%), so the split never depends on the
** order or number of rows.
**
** Bad rows (not JSON, not an object, a missing/non-string/empty field,
** invalid UTF-8, a line over 1 MiB, more tokens than --seq-len) are
** skipped, counted by kind and reported with their line numbers; they
** never stop training.
**
** Owns: the token ids of every example.
*/
#ifndef SA_TRAIN_DATA_H
#define SA_TRAIN_DATA_H

#include <stdint.h>
#include <stdio.h>

#include "../engine/threadpool.h"
#include "../engine/tokenizer.h"
#include "../util/err.h"

typedef struct texample {
    int32_t *ids;        /* [n] prompt, answer, end token */
    int n;
    int n_prompt;        /* ids [0, n_prompt) carry no loss */
    long line;           /* 1-based line of the file */
    uint64_t group;      /* FNV-1a-64 of the context: rows with one schema share it */
} texample;

enum { BAD_JSON, BAD_NOT_OBJECT, BAD_FIELD, BAD_UTF8, BAD_LONG_LINE, BAD_TOO_MANY_TOKENS, BAD_TOKENIZE, BAD_KINDS };

typedef struct tdata {
    texample *train, *val;
    int n_train, n_val;
    long n_lines, n_blank;
    long n_bad[BAD_KINDS];
    long n_bad_total;
    uint64_t hash;       /* of every kept example's ids, in order: a resumed run checks it */
} tdata;

typedef struct tdata_opts {
    const char *path;
    const tokenizer *tok;
    int end_id;          /* appended after every answer */
    int max_len;         /* longest example in tokens (prompt + answer + end) */
    int val_mod;         /* 0: no validation split */
    long limit;          /* > 0: read only the first `limit` lines */
    int max_report;      /* line-numbered messages printed (the rest only counted) */
    threadpool *tp;      /* tokenizes in parallel; NULL: on this thread */
    const char *prompt_format; /* prompt.h kind the rows are rendered with; NULL: sql-create-context */
} tdata_opts;

/* Reads and tokenizes the file. Bad rows go to `report` (one line each,
** "FILE:LINE: reason", at most max_report) and into the counts. Fails
** only when the file cannot be read or holds no usable row. */
int tdata_load(tdata *d, const tdata_opts *o, FILE *report, sa_err *err);
void tdata_free(tdata *d);

/* "json 2, field 1, ..." — the non-zero bad-row counts. */
void tdata_bad_summary(const tdata *d, char *buf, size_t n);

/* The validation rule (exposed for tests and docs). */
int tdata_is_val(const char *question, int val_mod);

#endif

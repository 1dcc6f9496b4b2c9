/*
** bpe.h — learning a byte-level BPE vocabulary for a model trained from
** scratch, in the format of Qwen2's: the same pre-tokenizer (the engine's
** own, tok_pretok_split), the GPT-2 byte-to-unicode alphabet, ids 0-255 for
** the 256 bytes in Qwen2's order, then one id per merge in merge order, then
** the control tokens <|endoftext|>, <|im_start|>, <|im_end|>. The result is
** a tvocab (src/train/tio.h) that tvocab_write_gguf writes and that
** tok_load, tvocab_load and `train --mode full --tokenizer` read unchanged.
**
** The algorithm. Text is pre-tokenized into pieces ("words"); each distinct
** word is counted once with its frequency and starts as its byte tokens.
** The count of an adjacent token pair (x, y) is the sum over words of
** frequency × the number of positions i with word[i] = x, word[i+1] = y.
** Each step takes the pair with the highest count; among equal counts the
** pair whose left token string is smallest by strcmp, then whose right one
** is (strings are the byte-level unicode forms, as in the vocabulary file).
** That pair (a, b) becomes the merge "a b": in every word, left to right,
** each non-overlapping occurrence of a followed by b is replaced by the
** token a+b (a new id, or the existing id when another merge already made
** that string). Steps stop when there are n regular tokens or no pair is
** left. Pair counts are kept incrementally and each step only visits the
** words that hold the merged pair.
**
** Owns: the word counts (bpe) and the state of one learning run.
*/
#ifndef SA_TRAIN_BPE_H
#define SA_TRAIN_BPE_H

#include <stddef.h>
#include <stdio.h>

#include "../util/err.h"
#include "tio.h"

typedef struct bpe bpe;

/* An empty set of word counts. NULL + message on error. */
bpe *bpe_new(sa_err *err);
void bpe_free(bpe *b);

/* Pre-tokenizes text (len bytes of valid UTF-8, taken as plain text: no
** added tokens are recognized) and counts its pieces. Texts are never
** joined: a piece never spans two calls. Fails on invalid UTF-8 or when out
** of memory. */
int bpe_add_text(bpe *b, const char *text, size_t len, sa_err *err);

typedef struct bpe_data_info {
    int rows;               /* rows used */
    long lines, blank;      /* lines read, blank ones among them */
    long skipped;           /* bad rows, reported */
    char summary[256];      /* bad rows by kind ("not JSON 1, ...", or "none") */
} bpe_data_info;

/* Counts the text that training sees for each row of a sql-create-context
** JSONL file: the prompt rendered by the sql-create-context template and the
** (defanged) answer, as two texts (training tokenizes them separately). The
** rows are read, checked and rendered by tdata_load (src/train/data.c), so
** bad rows are the same as for training and are reported the same way
** ("FILE:LINE: skipped: reason" to `report`, the first max_report of them).
** All rows are used (no validation hold-out). limit > 0: only the first
** `limit` lines. Fails, naming the file, when it cannot be read or has no
** usable row. */
int bpe_add_jsonl(bpe *b, const char *path, long limit, int max_report, FILE *report, bpe_data_info *info,
                  sa_err *err);

typedef struct bpe_result {
    long pieces;            /* pieces counted */
    long words;             /* distinct pieces */
    long long bytes;        /* bytes counted */
    int n_merges;           /* merges learnt (may exceed n_regular - 256: see bpe.h's top comment) */
    int n_regular;          /* regular tokens: 256 + new strings */
    int exhausted;          /* 1: stopped before n_regular because no pair was left */
    double seconds;         /* time spent merging */
} bpe_result;

/* Learns the vocabulary from the counts (consuming their segmentation:
** call once per bpe). n_regular >= 256 is the number of regular tokens
** wanted, the byte tokens included. On success *v holds n_regular tokens
** (fewer when exhausted) followed by the three control tokens (type 3;
** end_id = <|endoftext|>) and the merges in order; free it with
** tvocab_free. progress: show a progress bar (src/util/progress.h). */
int bpe_learn(bpe *b, int n_regular, int progress, tvocab *v, bpe_result *r, sa_err *err);

#endif

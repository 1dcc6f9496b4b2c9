/*
** cmd_train_tokenizer.c — `sqlassist train-tokenizer`: learns a byte-level
** BPE vocabulary (Qwen2's pre-tokenizer and file format) from the text that
** `train` sees in sql-create-context JSONL, and writes it as a tokenizer-only
** GGUF for `train --mode full --tokenizer`. The algorithm is in
** src/train/bpe.c; see docs/training.md.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../train/bpe.h"
#include "cli_args.h"
#include "commands.h"

int cmd_train_tokenizer(int argc, char **argv) {
    const char *data = NULL, *vocab = NULL, *out = NULL, *limit = NULL, *max_report = NULL;
    int quiet = 0;
    cli_opt opts[] = {
        {"--data", NULL, 1, &data, NULL, "sql-create-context JSONL: question, context, answer per line (required)"},
        {"--vocab", NULL, 1, &vocab, NULL, "regular tokens to learn, the 256 byte tokens included (>= 256; required)"},
        {"--out", "-o", 1, &out, NULL, "the tokenizer GGUF to write (required)"},
        {"--limit", NULL, 1, &limit, NULL, "read only the first N lines of --data"},
        {"--max-report", NULL, 1, &max_report, NULL, "bad data lines reported one by one (default 20; the rest counted)"},
        {"--quiet", "-q", 0, NULL, &quiet, "no progress bar"},
        {NULL},
    };
    const char *pos[1];
    int n_pos;
    const char *usage = "sqlassist train-tokenizer --data FILE.jsonl --vocab N --out TOK.gguf [--limit ROWS]";
    int r = cli_parse(argc, argv, opts, usage,
                      "Learns a byte-level BPE vocabulary of N regular tokens (+ <|endoftext|>, <|im_start|>, <|im_end|>)\n"
                      "from the prompts and answers `train` would see, with Qwen2's pre-tokenizer, and writes it as a\n"
                      "tokenizer GGUF (for `train --mode full --tokenizer`). See docs/training.md.",
                      pos, 0, &n_pos);
    if (r == CLI_HELP) return 0;
    if (r == CLI_ERROR) return 2;
    if (!data || !vocab || !out) {
        fprintf(stderr, "sqlassist: --data, --vocab and --out are required\nusage: %s\n", usage);
        return 2;
    }
    long n_vocab, n_limit = 0, n_report = 20;
    if (cli_int("--vocab", vocab, 256, 1 << 22, &n_vocab) || cli_int("--limit", limit, 1, 1L << 40, &n_limit) ||
        cli_int("--max-report", max_report, 0, 1 << 30, &n_report))
        return 2;

    sa_err err = {{0}};
    bpe *b = bpe_new(&err);
    if (!b) { fprintf(stderr, "sqlassist: %s\n", err.msg); return 1; }
    bpe_data_info info;
    tvocab v = {0};
    bpe_result res;
    int rc = 1;
    if (bpe_add_jsonl(b, data, n_limit, (int)n_report, stderr, &info, &err)) goto fail;
    if (!quiet)
        fprintf(stderr, "data: %d rows from %ld lines (%ld skipped: %s)\n", info.rows, info.lines, info.skipped, info.summary);
    if (bpe_learn(b, (int)n_vocab, !quiet, &v, &res, &err)) goto fail;
    if (tvocab_write_gguf(&v, out, &err)) goto fail;
    if (res.exhausted)
        fprintf(stderr, "note: only %d regular tokens: no pair of tokens was left to merge\n", res.n_regular);
    fprintf(stderr, "learnt %d merges from %lld bytes (%ld pieces, %ld distinct) in %.2f s: %d regular + 3 control tokens -> %s\n",
            res.n_merges, res.bytes, res.pieces, res.words, res.seconds, res.n_regular, out);
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "sqlassist: %s\n", err.msg);
out:
    tvocab_free(&v);
    bpe_free(b);
    return rc;
}

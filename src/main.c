/*
** main.c — the sqlassist command line: dispatches argv[1] to a subcommand.
** No logic lives here; each subcommand is in src/cli/cmd_*.c.
*/
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

#define SQLASSIST_VERSION "0.1.0"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} COMMANDS[] = {
    {"generate", cmd_generate, "generate text from a prompt (or one chat turn)"},
    {"tokenize", cmd_tokenize, "print the token ids of a text"},
    {"logits", cmd_logits, "write the logits of a token sequence (float32)"},
    {"ask", cmd_ask, "answer a question about a SQLite database with SQL"},
    {"quantize", cmd_quantize, "rewrite a GGUF model with quantized weights"},
    {"bench", cmd_bench, "text-to-SQL benchmark: accuracy, latency, throughput, cold start"},
    {"bench-model", cmd_bench_model, "measure prompt and generation speed (like llama-bench)"},
    {"sql", cmd_sql, "run one SQL statement through the read-only sandbox"},
    {"schema", cmd_schema, "print a database's schema as the model sees it"},
    {"serve", cmd_serve, "serve the assistant over HTTP (web page, JSON API, OpenAI-compatible API)"},
    {"train", cmd_train, "train LoRA adapters or a small model from scratch on text-to-SQL data"},
    {"train-tokenizer", cmd_train_tokenizer, "learn a byte-level BPE vocabulary (Qwen2 format) from text-to-SQL data"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: sqlassist COMMAND [options]   (sqlassist COMMAND --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(f, "  %-15s %s\n", COMMANDS[i].name, COMMANDS[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) { usage(stdout); return 0; }
    if (!strcmp(argv[1], "--version")) { printf("sqlassist %s\n", SQLASSIST_VERSION); return 0; }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "sqlassist: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}

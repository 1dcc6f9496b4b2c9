/*
** cmd_tokenize.c — `sqlassist tokenize`: text to token ids with the
** tokenizer of a model (GGUF, Hugging Face directory, or tokenizer.json).
*/
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/tokenizer.h"
#include "cli_args.h"
#include "commands.h"

static void print_ids(const int32_t *ids, size_t n, int json) {
    if (json) putchar('[');
    for (size_t i = 0; i < n; i++) printf(json ? "%s%d" : "%s%d", i ? (json ? "," : " ") : "", ids[i]);
    if (json) putchar(']');
    putchar('\n');
}

int cmd_tokenize(int argc, char **argv) {
    const char *path = NULL;
    int jsonl = 0;
    cli_opt opts[] = {
        {"--model", "-m", 1, &path, NULL, "GGUF file, Hugging Face model directory, or tokenizer.json (required)"},
        {"--jsonl", NULL, 0, NULL, &jsonl, "read one JSON string per line from stdin, print one JSON array per line"},
        {NULL},
    };
    const char *pos[1];
    int n_pos;
    const char *usage = "sqlassist tokenize --model PATH [--jsonl] [TEXT]";
    int r = cli_parse(argc, argv, opts, usage, "Prints the token ids of TEXT on one line.", pos, 1, &n_pos);
    if (r == CLI_HELP) return 0;
    if (r == CLI_ERROR) return 2;
    if (!path) { fprintf(stderr, "sqlassist: --model is required\nusage: %s\n", usage); return 2; }
    if (!jsonl && n_pos != 1) { fprintf(stderr, "sqlassist: TEXT is required (or --jsonl)\nusage: %s\n", usage); return 2; }
    sa_err err = {{0}};
    tokenizer *t = tok_load(path, &err);
    if (!t) { fprintf(stderr, "sqlassist: %s\n", err.msg); return 1; }
    int rc = 0;
    if (!jsonl) {
        int32_t *ids;
        size_t n;
        if (tok_encode(t, pos[0], strlen(pos[0]), &ids, &n, &err)) { fprintf(stderr, "sqlassist: %s\n", err.msg); rc = 1; }
        else { print_ids(ids, n, 0); free(ids); }
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        long lineno = 0;
        while ((len = getline(&line, &cap, stdin)) > 0) {
            lineno++;
            json_error_t je;
            json_t *v = json_loadb(line, (size_t)len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
            if (!v || !json_is_string(v)) {
                fprintf(stderr, "sqlassist: stdin line %ld: expected a JSON string literal%s%s\n", lineno,
                        v ? "" : ": ", v ? "" : je.text);
                json_decref(v);
                rc = 1;
                break;
            }
            int32_t *ids;
            size_t n;
            if (tok_encode(t, json_string_value(v), json_string_length(v), &ids, &n, &err)) {
                fprintf(stderr, "sqlassist: stdin line %ld: %s\n", lineno, err.msg);
                json_decref(v);
                rc = 1;
                break;
            }
            print_ids(ids, n, 1);
            free(ids);
            json_decref(v);
        }
        free(line);
    }
    tok_free(t);
    return rc;
}

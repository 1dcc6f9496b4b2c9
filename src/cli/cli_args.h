/*
** cli_args.h — the flag parser every subcommand uses, so that `--help`,
** unknown flags and missing values behave the same everywhere.
**
** Flags are described by a table; values are stored as strings (the
** command converts and validates them with cli_int/cli_float: every flag
** that takes one number, in every subcommand, goes through them, so a bad
** value gets the same error everywhere, naming the flag and the range it
** allows).
** Both `--flag value` and `--flag=value` work.
*/
#ifndef SA_CLI_ARGS_H
#define SA_CLI_ARGS_H

#include <stddef.h>

typedef struct cli_opt {
    const char *name;          /* "--model" */
    const char *alias;         /* "-n" or NULL */
    int takes_value;           /* 0: boolean flag */
    const char **value;        /* set when takes_value (last one wins) */
    int *flag;                 /* set to 1 when a boolean flag is present */
    const char *help;
    /* repeatable value flags: every value is appended here (may be NULL) */
    const char **multi;
    int *n_multi;
    int max_multi;
} cli_opt;

enum { CLI_OK = 0, CLI_HELP = 1, CLI_ERROR = 2 };

/* Parses argv[1..argc) (argv[0] is the subcommand name). Non-flag words go
** to positional[] (at most max_pos; more is an error). On CLI_HELP the help
** text has been printed to stdout; on CLI_ERROR a message and the usage
** line went to stderr. */
int cli_parse(int argc, char **argv, const cli_opt *opts, const char *usage, const char *summary,
              const char **positional, int max_pos, int *n_pos);

/* A bounded numeric flag's value (value NULL: the flag was not given; *out
** keeps its default). A whole decimal number (cli_int) or a number
** (cli_float) from lo to hi is stored in *out; anything else prints
** "sqlassist: --flag 'VALUE': expected an integer from LO to HI" (or "a
** number") and returns -1. */
int cli_int(const char *flag, const char *value, long lo, long hi, long *out);
int cli_float(const char *flag, const char *value, double lo, double hi, double *out);

/* The model used when --model is not given: $SQLASSIST_MODEL when set, else
** the bundled model (BUNDLED_MODEL) in models/ beside the executable or one
** level up (a build directory), else in ../share/sqlassist/ from it (an
** installed layout). Returns a pointer to
** static storage, or NULL (with the places looked at written to `looked`). */
#define BUNDLED_MODEL "sqlassist-sql.gguf"
const char *cli_default_model(char *looked, size_t looked_size);

/* Sets *model_path to the default model when it is NULL; prints an error
** naming where it looked and returns -1 when there is none. */
int cli_model_or_default(const char **model_path);

#endif

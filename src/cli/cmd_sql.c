/*
** cmd_sql.c — the `sqlassist sql` subcommand (run one statement in the
** sandbox and print its rows) and `sqlassist schema` (print a database's
** tables as prompt-ready CREATE TABLE text).
**
** Exit status: 0 success, 1 the sandbox refused or stopped the statement (or
** the database could not be read), 2 bad usage.
*/
#include "cli/commands.h"

#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_args.h"
#include "sql/sandbox.h"
#include "sql/schema.h"
#include "agent/agent.h"
#include "agent/schema_prompt.h"
#include "engine/tokenizer.h"

#include <jansson.h>

/* Past this much input on standard input, stop counting its size. */
#define STDIN_COUNT_MAX (1024L * 1024 * 1024)

/* Reads all of standard input, keeping at most limit bytes (so that a
** runaway pipe cannot exhaust memory) and counting the rest, up to
** STDIN_COUNT_MAX, so that the true size can be reported. Returns a
** malloc'd buffer of the kept bytes (*len_out of them) and the size read
** in *total (*capped when counting stopped), or NULL. */
static char *read_stdin(size_t limit, size_t *len_out, size_t *total, int *capped) {
    size_t cap = 4096, len = 0, count = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    char scratch[65536];
    *capped = 0;
    for (;;) {
        if (len == cap && cap < limit) {
            size_t grown_cap = cap * 2 < limit ? cap * 2 : limit;
            char *grown = realloc(buf, grown_cap);
            if (!grown) {
                free(buf);
                return NULL;
            }
            buf = grown;
            cap = grown_cap;
        }
        size_t got;
        if (len < cap) {
            got = fread(buf + len, 1, cap - len, stdin);
            len += got;
        } else {
            got = fread(scratch, 1, sizeof scratch, stdin);
        }
        count += got;
        if (got == 0) break;
        if (count >= STDIN_COUNT_MAX) {
            *capped = 1;
            break;
        }
    }
    if (ferror(stdin)) {
        free(buf);
        return NULL;
    }
    *len_out = len;
    *total = count;
    return buf;
}

/* "sqlassist: MSG" on stderr, MSG through the terminal escaping (it can
** hold table and column names). */
static void fail_msg(const char *msg) {
    fputs("sqlassist: ", stderr);
    sb_print_text(stderr, msg);
    fputc('\n', stderr);
}

static const char sql_usage[] =
    "sqlassist sql (--db PATH | --context SQL) [--json] [--timeout-ms N] [--max-rows N] [--max-bytes N] STATEMENT";
static const char sql_summary[] =
    "Runs one read-only SQL statement in the sandbox and prints its rows as a table with a\n"
    "\"(N rows)\" footer, or as JSON. STATEMENT - reads it from standard input.\n"
    "Exit status: 0 rows printed, 1 the sandbox refused or stopped the statement, 2 usage error.";

int cmd_sql(int argc, char **argv) {
    const char *db_path = NULL, *context = NULL, *timeout = NULL, *max_rows = NULL, *max_bytes = NULL;
    int json = 0;
    cli_opt opts[] = {
        {"--db", NULL, 1, &db_path, NULL, "SQLite database to read (opened read-only)"},
        {"--context", NULL, 1, &context, NULL, "CREATE TABLE (and INSERT) statements to load into memory instead"},
        {"--json", NULL, 0, NULL, &json, "print {\"columns\",\"rows\",\"row_count\",\"truncated\",\"elapsed_ms\",...}"},
        {"--timeout-ms", NULL, 1, &timeout, NULL, "wall-time limit in milliseconds (default 5000)"},
        {"--max-rows", NULL, 1, &max_rows, NULL, "rows kept and printed (default 1000; more are counted)"},
        {"--max-bytes", NULL, 1, &max_bytes, NULL, "bytes of values kept (default 4194304)"},
        {NULL},
    };
    const char *pos[1];
    int n_pos;
    int r = cli_parse(argc, argv, opts, sql_usage, sql_summary, pos, 1, &n_pos);
    if (r == CLI_HELP) return 0;
    if (r == CLI_ERROR) return 2;
    if (!db_path == !context) {
        fprintf(stderr, "sqlassist: give exactly one of --db and --context\nusage: %s\n", sql_usage);
        return 2;
    }
    if (n_pos != 1) {
        fprintf(stderr, "sqlassist: STATEMENT is required\nusage: %s\n", sql_usage);
        return 2;
    }
    sb_limits lim;
    sb_limits_default(&lim);
    long v;
    if (timeout) {
        if (cli_int("--timeout-ms", timeout, 1, 3600000, &v) < 0) return 2;
        lim.timeout_ms = v;
    }
    if (max_rows) {
        if (cli_int("--max-rows", max_rows, 0, 10000000, &v) < 0) return 2;
        lim.max_rows = v;
        if (lim.count_cap < v) lim.count_cap = v;
    }
    if (max_bytes) {
        if (cli_int("--max-bytes", max_bytes, 1, INT32_MAX, &v) < 0) return 2;
        lim.max_result_bytes = v;
    }

    const char *statement = pos[0];
    char *from_stdin = NULL;
    size_t len = strlen(statement);
    if (strcmp(statement, "-") == 0) {
        size_t total;
        int capped;
        from_stdin = read_stdin((size_t)lim.max_sql_bytes + 1, &len, &total, &capped);
        if (!from_stdin) {
            fprintf(stderr, "sqlassist: cannot read the statement from standard input\n");
            return 1;
        }
        if (total > (size_t)lim.max_sql_bytes) {   /* as the sandbox would say, with the true size */
            fprintf(stderr, "sqlassist: refused: SQL is %s%zu bytes, over the SQL length limit of %d bytes\n",
                    capped ? "more than " : "", total, lim.max_sql_bytes);
            free(from_stdin);
            return 1;
        }
        statement = from_stdin;
    }
    sa_err err = {{0}};
    sandbox *sb = db_path ? sb_open_db(db_path, &lim, &err) : sb_open_context(context, &lim, &err);
    if (!sb) {
        fail_msg(err.msg);
        free(from_stdin);
        return 1;
    }
    sb_result res;
    int rc = sb_run_len(sb, statement, len, &res, &err);
    free(from_stdin);
    int status = 0;
    if (rc < 0) {
        fail_msg(err.msg);
        status = 1;
    } else {
        char *text = json ? sb_result_to_json(&res) : sb_result_to_table(&res, 0);
        if (!text) {
            fprintf(stderr, "sqlassist: out of memory while printing the result\n");
            status = 1;
        } else {
            fputs(text, stdout);
            if (json) fputc('\n', stdout);
            free(text);
        }
    }
    sb_result_free(&res);
    sb_close(sb);
    if (fflush(stdout) != 0 && status == 0) {
        fprintf(stderr, "sqlassist: cannot write the result\n");
        status = 1;
    }
    return status;
}

static const char schema_usage[] =
    "sqlassist schema --db PATH [--samples N] [--compact] [--budget N [--tokens-of MODEL] [--relevant] [--values] [--question TEXT | --questions FILE]]";
static const char schema_summary[] =
    "Prints the tables of a database as CREATE TABLE statements, as the model sees them.\n"
    "With --budget, only what fits in N characters (or N tokens of --tokens-of's tokenizer), keeping\n"
    "the tables most related to --question; the tables left out are named on standard error.\n"
    "--questions renders the schema for each JSON object of a JSONL file (its field 'question') and\n"
    "prints the object back with a field 'schema' added: training rows rendered as the agent renders.";

/* --questions: one rendering per JSONL line, the line's object echoed with "schema" added. */
static int render_questions(const sc_schema *schema, const char *path, unsigned flags, size_t budget,
                            const tokenizer *tok, sandbox *sb) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "sqlassist: --questions %s: cannot open\n", path); return 1; }
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    int status = 0;
    while (status == 0 && getline(&line, &cap, f) > 0) {
        lineno++;
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        const char *q = json_string_value(json_object_get(o, "question"));
        if (!q) {
            fprintf(stderr, "sqlassist: --questions %s:%ld: not a JSON object with a string field 'question'\n", path, lineno);
            json_decref(o);
            status = 1;
            break;
        }
        sa_err err = {{0}};
        char *text = sc_render_budget(schema, q, flags, budget, tok ? agent_count_tokens : NULL, (void *)tok,
                                      agent_values_held, sb, NULL, &err);
        if (!text) { fprintf(stderr, "sqlassist: --questions %s:%ld: %s\n", path, lineno, err.msg); status = 1; }
        else {
            json_object_set_new(o, "schema", json_string(text));
            char *out = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
            if (out) puts(out);
            else status = 1;
            free(out);
        }
        free(text);
        json_decref(o);
    }
    free(line);
    fclose(f);
    return status;
}

int cmd_schema(int argc, char **argv) {
    const char *db_path = NULL, *question = NULL, *samples_arg = NULL, *budget_arg = NULL, *tokens_of = NULL,
               *questions = NULL;
    int compact = 0, relevant = 0, values = 0;
    cli_opt opts[] = {
        {"--db", NULL, 1, &db_path, NULL, "SQLite database to read (opened read-only)"},
        {"--samples", NULL, 1, &samples_arg, NULL, "add up to N sample rows per table, in a comment (default 0)"},
        {"--compact", NULL, 0, NULL, &compact, "no declared types or NOT NULL (the bundled model's style)"},
        {"--budget", NULL, 1, &budget_arg, NULL, "print only what fits in this many characters (tokens with --tokens-of)"},
        {"--tokens-of", NULL, 1, &tokens_of, NULL, "count --budget in tokens of this model's tokenizer (GGUF, directory or tokenizer.json)"},
        {"--question", NULL, 1, &question, NULL, "the question that decides which tables --budget keeps"},
        {"--relevant", NULL, 0, NULL, &relevant, "with --budget: only the tables the question names and those joining them, as the agent shows the bundled model"},
        {"--questions", NULL, 1, &questions, NULL, "JSONL file of objects with a 'question': one rendering per line, as JSONL"},
        {"--values", NULL, 0, NULL, &values, "with --budget: after a text column, the question's words it holds, as the agent shows a model trained with them"},
        {NULL},
    };
    const char *pos[1];
    int n_pos;
    int r = cli_parse(argc, argv, opts, schema_usage, schema_summary, pos, 0, &n_pos);
    if (r == CLI_HELP) return 0;
    if (r == CLI_ERROR) return 2;
    if (!db_path) {
        fprintf(stderr, "sqlassist: --db is required\nusage: %s\n", schema_usage);
        return 2;
    }
    long samples = 0, budget = -1;
    if (samples_arg && cli_int("--samples", samples_arg, 0, 100, &samples) < 0) return 2;
    if (budget_arg && cli_int("--budget", budget_arg, 0, INT32_MAX, &budget) < 0) return 2;
    if ((question || questions || tokens_of || relevant || values) && budget < 0) {
        fprintf(stderr, "sqlassist: %s needs --budget\nusage: %s\n",
                question ? "--question" : questions ? "--questions" : tokens_of ? "--tokens-of" : relevant ? "--relevant" : "--values",
                schema_usage);
        return 2;
    }
    if (question && questions) {
        fprintf(stderr, "sqlassist: --question and --questions exclude each other\nusage: %s\n", schema_usage);
        return 2;
    }
    unsigned flags = (samples > 0 ? SC_RENDER_SAMPLES : 0) | (compact ? SC_RENDER_COMPACT : 0) |
                     (relevant ? SC_RENDER_RELEVANT : 0) | (values ? SC_RENDER_VALUES : 0);
    tokenizer *tok = NULL;
    if (tokens_of) {
        sa_err terr = {{0}};
        if (!(tok = tok_load(tokens_of, &terr))) {
            fail_msg(terr.msg);
            return 1;
        }
    }

    sa_err err = {{0}};
    sandbox *sb = sb_open_db(db_path, NULL, &err);
    if (!sb) {
        fail_msg(err.msg);
        return 1;
    }
    sc_schema schema;
    if (sb_require_tables(sb, &err) < 0 || sc_introspect(sb, (int)samples, &schema, &err) < 0) {
        fail_msg(err.msg);
        sb_close(sb);
        tok_free(tok);
        return 1;
    }
    for (int i = 0; i < schema.ntables; i++)
        if (schema.tables[i].samples_error) {
            fputs("sqlassist: note: sample rows of table ", stderr);
            sb_print_text(stderr, schema.tables[i].name);
            fputs(" left out: ", stderr);
            sb_print_text(stderr, schema.tables[i].samples_error);
            fputc('\n', stderr);
        }
    int status = 0;
    char *text;
    sc_budget_report report = {0};
    if (questions) {
        status = render_questions(&schema, questions, flags, (size_t)budget, tok, sb);
        text = NULL;
    } else if (budget >= 0)
        text = sc_render_budget(&schema, question, flags, (size_t)budget, tok ? agent_count_tokens : NULL, tok,
                                agent_values_held, sb, &report, &err);
    else
        text = sc_render(&schema, flags);
    if (questions) {
    } else if (!text) {
        fail_msg(budget >= 0 ? err.msg : "out of memory");
        status = 1;
    } else {
        fputs(text, stdout);
        free(text);
        if (report.ndropped > 0) {
            fprintf(stderr, "sqlassist: %d of %d tables left out %s %ld %s:", report.ndropped, schema.ntables,
                    relevant ? "(not named by the question, or beyond)" : "to fit", budget, tok ? "tokens" : "characters");
            for (int i = 0; i < report.ndropped; i++) {
                fputs(i ? ", " : " ", stderr);
                sb_print_text(stderr, report.dropped[i]);
            }
            fputc('\n', stderr);
        }
        if (report.nsamples_dropped > 0)
            fprintf(stderr, "sqlassist: sample rows of %d tables left out to fit\n", report.nsamples_dropped);
    }
    sc_budget_report_free(&report);
    sc_free(&schema);
    sb_close(sb);
    tok_free(tok);
    if (fflush(stdout) != 0 && status == 0) {
        fprintf(stderr, "sqlassist: cannot write the schema\n");
        status = 1;
    }
    return status;
}

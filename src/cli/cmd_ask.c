/*
** cmd_ask.c — `sqlassist ask`: one question (or an interactive session) on
** a SQLite database or a CREATE TABLE context, answered by the agent.
*/
#include <editline/readline.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "engine/generate.h"
#include "sql/schema.h"
#include "cli_args.h"
#include "commands.h"
#include "lora_cli.h"

typedef struct ask_ctx {
    int stream;            /* print the SQL as it is generated */
} ask_ctx;

static int stream_token(void *ud, int attempt, const char *text, int len) {
    ask_ctx *c = ud;
    if (c->stream) { fwrite(text, 1, (size_t)len, stderr); fflush(stderr); }
    return 0;
}

static int stream_attempt(void *ud, int attempt, const char *sql, const char *error) {
    ask_ctx *c = ud;
    if (c->stream) fprintf(stderr, "\n");
    if (error) fprintf(stderr, "attempt %d failed: %s\n", attempt, error);
    return 0;
}

static void print_answer(const agent_answer *a, int json) {
    if (json) {
        char *s = agent_answer_to_json(a);
        if (s) puts(s);
        free(s);
        return;
    }
    if (a->schema_note) printf("note: %s\n", a->schema_note);
    printf("SQL: %s\n", a->sql ? a->sql : "(none)");
    if (a->ok) {
        char *t = sb_result_to_table(&a->result, 0);
        if (t) fputs(t, stdout);
        free(t);
    } else {
        printf("no attempt produced a query that runs (%d attempt%s)\n", a->n_attempts, a->n_attempts == 1 ? "" : "s");
    }
    fprintf(stderr, "tokens: %d prompt (%d cached), %d generated; time: tokenize %.1f ms, prefill %.1f ms, decode %.1f ms, execute %.1f ms, total %.1f ms\n",
            a->prompt_tokens, a->cached_tokens, a->generated_tokens, a->tokenize_ms, a->prefill_ms, a->decode_ms,
            a->execute_ms, a->total_ms);
}

int cmd_ask(int argc, char **argv) {
    const char *model_path = NULL, *db = NULL, *context = NULL, *tpl_file = NULL, *format = NULL,
               *attempts = "3", *threads = NULL, *ctx = "4096", *samples = "0", *max_rows = NULL,
               *timeout = NULL, *n_predict = "256", *temp = "0", *seed = "0", *copy_vals = NULL;
    int json = 0, verbose = 0;
    lora_cli lc = {0};
    cli_opt opts[] = {
        {"--model", "-m", 1, &model_path, NULL, "GGUF file or Hugging Face model directory (default: the bundled model, models/" BUNDLED_MODEL ")"},
        {"--db", NULL, 1, &db, NULL, "SQLite database to question (opened read-only)"},
        {"--context", NULL, 1, &context, NULL, "CREATE TABLE (and INSERT) statements instead of --db"},
        {"--json", NULL, 0, NULL, &json, "print the whole answer as JSON"},
        {"--max-attempts", NULL, 1, &attempts, NULL, "generate/execute/repair rounds (default 3)"},
        {"--template", NULL, 1, &tpl_file, NULL, "prompt template file with {{schema}} and {{question}}"},
        {"--format", NULL, 1, &format, NULL, "built-in template: chatml (default) or sql-create-context"},
        {"--samples", NULL, 1, &samples, NULL, "sample rows per table shown to the model (default 0)"},
        {"--max-rows", NULL, 1, &max_rows, NULL, "rows kept in the result (default 1000)"},
        {"--timeout-ms", NULL, 1, &timeout, NULL, "wall-time limit of each query (default 5000)"},
        {"--n-predict", "-n", 1, &n_predict, NULL, "maximum tokens per attempt (default 256)"},
        {"--temp", NULL, 1, &temp, NULL, "temperature; 0 = greedy (default)"},
        {"--seed", NULL, 1, &seed, NULL, "sampling seed"},
        {"--threads", "-t", 1, &threads, NULL, "threads (default: all cores)"},
        {"--ctx", "-c", 1, &ctx, NULL, "context length (default 4096)"},
        {"--copy", NULL, 1, &copy_vals, NULL, "on, off or auto: while decoding, copy values from the question and names from the schema (auto: on for models trained by sqlassist train)"},
        {"--verbose", "-v", 0, NULL, &verbose, "stream the SQL to stderr as it is generated"},
        LORA_CLI_OPTS(&lc),
        {NULL},
    };
    const char *pos[1];
    int n_pos;
    const char *usage = "sqlassist ask [--model PATH] (--db PATH | --context SQL) [--json] [--max-attempts N] [QUESTION]";
    int r = cli_parse(argc, argv, opts, usage,
                      "Answers a question about a SQLite database: writes SQL, runs it read-only, repairs it on errors.\n"
                      "With no QUESTION on a terminal, starts an interactive session (follow-up questions refine the last query).",
                      pos, 1, &n_pos);
    if (r == CLI_HELP) return 0;
    if (r == CLI_ERROR) return 2;
    if (cli_model_or_default(&model_path)) return 2;
    if (!db == !context) { fprintf(stderr, "sqlassist: give exactly one of --db or --context\nusage: %s\n", usage); return 2; }
    long n_att, n_ctx, n_samples, n_pred, sd, rows = 0, tmo = 0;
    double t_temp;
    if (cli_int("--max-attempts", attempts, 1, 20, &n_att) || cli_int("--ctx", ctx, 256, 1 << 20, &n_ctx) ||
        cli_int("--samples", samples, 0, 20, &n_samples) || cli_int("-n", n_predict, 1, 8192, &n_pred) ||
        cli_float("--temp", temp, 0, 100, &t_temp) || cli_int("--seed", seed, 0, 0x7fffffffffffffffL, &sd) ||
        (max_rows && cli_int("--max-rows", max_rows, 1, 1000000, &rows)) ||
        (timeout && cli_int("--timeout-ms", timeout, 1, 3600000, &tmo)) || lora_cli_check(&lc))
        return 2;
    if (n_pos == 0 && !isatty(0)) {
        fprintf(stderr, "sqlassist: no QUESTION given and standard input is not a terminal\nusage: %s\n", usage);
        return 2;
    }

    sa_err err = {{0}};
    int rc = 1;
    model *m = NULL;
    sandbox *sb = NULL;
    prefix_cache *pc = NULL;
    sc_schema schema = {0};
    char *schema_text = NULL, *schema_note = NULL;
    prompt_template tpl = {0};
    sb_limits lim;
    sb_limits_default(&lim);
    if (rows) lim.max_rows = rows;
    if (tmo) lim.timeout_ms = tmo;
    if (prompt_template_init(&tpl, format, tpl_file, &err)) { fprintf(stderr, "sqlassist: %s\n", err.msg); return 2; }
    sb = db ? sb_open_db(db, &lim, &err) : sb_open_context(context, &lim, &err);
    if (!sb) { fprintf(stderr, "sqlassist: %s%s\n", context ? "--context: " : "", err.msg); goto out; }
    model_opts mo = {0};
    if (threads) {
        long t;
        if (cli_int("--threads", threads, 1, 1024, &t)) { rc = 2; goto out; }
        mo.n_threads = (int)t;
    }
    if (!(m = model_load(model_path, &mo, &err))) { fprintf(stderr, "sqlassist: %s\n", err.msg); goto out; }
    if ((rc = lora_cli_setup(&lc, m)) != 0) goto out;
    rc = 1;
    prompt_template_free(&tpl);
    if (agent_template_init(&tpl, format, tpl_file, m, &err)) { fprintf(stderr, "sqlassist: %s\n", err.msg); goto out; }
    int copy_values = agent_copy_values(copy_vals, m);
    if (copy_values < 0) { fprintf(stderr, "sqlassist: --copy '%s': expected on, off or auto\n", copy_vals); rc = 2; goto out; }
    if (!(pc = pc_new(m, 1, (int)n_ctx, &err))) { fprintf(stderr, "sqlassist: %s\n", err.msg); goto out; }
    if (sc_introspect(sb, (int)n_samples, &schema, &err)) { fprintf(stderr, "sqlassist: schema: %s\n", err.msg); goto out; }

    agent_conversation conv;
    agent_conversation_init(&conv);
    ask_ctx actx = { .stream = verbose };
    agent_config cfg = {
        .m = m, .pc = pc, .tpl = &tpl, .max_attempts = (int)n_att, .max_new_tokens = (int)n_pred, .copy_values = copy_values, .schema = &schema,
        .sp = { .temperature = (float)t_temp, .seed = (uint64_t)sd },
        .on_token = stream_token, .on_attempt = stream_attempt, .ud = &actx,
        .lora = lc.use, .lora_scale = lc.use_scale, .adapter_name = lc.use ? lora_name(lc.use) : NULL,
    };
    rc = 0;
    for (int turn = 0;; turn++) {
        char *line = NULL;
        const char *question;
        if (n_pos) {
            if (turn > 0) break;
            question = pos[0];
        } else {
            line = readline("sql> ");
            if (!line) { printf("\n"); break; }
            if (!line[strspn(line, " \t")]) { free(line); continue; }
            add_history(line);
            question = line;
        }
        free(schema_text);
        free(schema_note);
        schema_text = agent_schema_prompt(m, &tpl, sb, &schema, question, n_samples > 0, (int)n_ctx, (int)n_pred, (int)n_att,
                                          &schema_note, &err);
        if (!schema_text) { fprintf(stderr, "sqlassist: schema: %s\n", err.msg); free(line); rc = 1; break; }
        agent_answer ans;
        int ar = agent_ask(&cfg, sb, schema_text, schema_note, &conv, question, &ans, &err);
        if (ar) { fprintf(stderr, "sqlassist: %s\n", err.msg); rc = 1; }
        else {
            print_answer(&ans, json);
            if (!ans.ok && n_pos) rc = 1;
        }
        agent_answer_free(&ans);
        free(line);
        if (ar) break;
    }
    agent_conversation_free(&conv);
out:
    free(schema_text);
    free(schema_note);
    sc_free(&schema);
    pc_free(pc);
    lora_cli_free(&lc);
    model_free(m);
    sb_close(sb);
    prompt_template_free(&tpl);
    return rc;
}

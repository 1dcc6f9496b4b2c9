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
#include "agent/schema_prompt.h"
#include "ask_out.h"
#include "engine/generate.h"
#include "sql/schema.h"
#include "cli_args.h"
#include "commands.h"
#include "lora_cli.h"

typedef struct ask_ctx {
    int stream;            /* print the SQL as it is generated */
    char tail[8];          /* bytes of a UTF-8 character the next token completes */
    int ntail;
} ask_ctx;

static int stream_token(void *ud, int attempt, const char *text, int len) {
    ask_ctx *c = ud;
    if (!c->stream || len <= 0) return 0;
    /* through the terminal escaping, whole UTF-8 characters at a time */
    char *buf = malloc((size_t)c->ntail + (size_t)len + 1);
    if (!buf) return 0;
    memcpy(buf, c->tail, (size_t)c->ntail);
    memcpy(buf + c->ntail, text, (size_t)len);
    int n = c->ntail + len, k = n;
    for (int back = 1; back <= 3 && back <= n; back++) {   /* an unfinished character waits */
        unsigned char b = (unsigned char)buf[n - back];
        if ((b & 0xC0) == 0x80) continue;
        if ((b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1) > back) k = n - back;
        break;
    }
    c->ntail = n - k;
    memcpy(c->tail, buf + k, (size_t)c->ntail);
    buf[k] = 0;
    sb_print_text(stderr, buf);
    free(buf);
    fflush(stderr);
    return 0;
}

static int stream_attempt(void *ud, int attempt, const char *sql, const char *error) {
    ask_ctx *c = ud;
    if (!c->stream) return 0;
    c->tail[c->ntail] = 0;
    sb_print_text(stderr, c->tail);
    c->ntail = 0;
    fprintf(stderr, "\n");
    if (error) {
        fprintf(stderr, "attempt %d failed: ", attempt);
        sb_print_text(stderr, error);
        fprintf(stderr, "\n");
    }
    return 0;
}

/* The question of `ask -`: standard input, without its last line break. */
static char *read_question(void) {
    size_t cap = 4096, n = 0;
    char *q = malloc(cap);
    while (q) {
        size_t got = fread(q + n, 1, cap - n - 1, stdin);
        n += got;
        if (got == 0 || n > (1u << 20)) break;
        if (n + 1 == cap) {
            char *w = realloc(q, cap *= 2);
            if (!w) { free(q); return NULL; }
            q = w;
        }
    }
    if (!q) return NULL;
    while (n && (q[n - 1] == '\n' || q[n - 1] == '\r')) n--;
    q[n] = 0;
    return q;
}

static const char SESSION_HELP[] =
    "Type a question about the database and press Enter; the answer is the SQL the model wrote and its rows.\n"
    "A question that names no table follows up on the last one (\"only those from 2023\"): it is asked as the last\n"
    "question with it appended. A question that names a table starts a new conversation.\n"
    "  .sql SELECT ...   run SQL directly (read-only, same limits)\n"
    "  .tables           the tables and their columns\n"
    "  new               forget the conversation\n"
    "  help              this text\n"
    "  exit, quit, Ctrl+D  end the session\n";

int cmd_ask(int argc, char **argv) {
    const char *model_path = NULL, *db = NULL, *context = NULL, *tpl_file = NULL, *format = NULL,
               *attempts = "3", *threads = NULL, *ctx = "4096", *samples = "0", *max_rows = NULL,
               *timeout = NULL, *n_predict = "256", *temp = "0", *seed = "0", *copy_vals = NULL,
               *grammar_flag = NULL, *candidates = NULL, *draft_flag = NULL, *link_flag = NULL, *at_once_flag = NULL, *beam_flag = NULL;
    int json = 0, csv = 0, verbose = 0;
    lora_cli lc = {0};
    cli_opt opts[] = {
        {"--model", "-m", 1, &model_path, NULL, "GGUF file or Hugging Face model directory (default: the bundled model, models/" BUNDLED_MODEL ")"},
        {"--db", NULL, 1, &db, NULL, "SQLite database to question (opened read-only)"},
        {"--context", NULL, 1, &context, NULL, "CREATE TABLE (and INSERT) statements instead of --db"},
        {"--json", NULL, 0, NULL, &json, "print the whole answer as JSON (\"error\" says why when no query ran)"},
        {"--csv", NULL, 0, NULL, &csv, "print the rows as CSV"},
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
        {"--link-bonus", NULL, 1, &link_flag, NULL, "logit bonus, with --copy, of a name that can only become a column the question names (0 = off; default $SQLASSIST_LINK_BONUS, else " AGENT_DEFAULT_LINK_BONUS_STR ")"},
        {"--grammar", NULL, 1, &grammar_flag, NULL, "on or off: decode only SQL that is valid on the database's schema (default on)"},
        {"--candidates-at-once", NULL, 1, &at_once_flag, NULL, "on or off: write a round's candidates at once, their decode steps sharing passes over the weights (same answers; default on)"},
        {"--candidates", NULL, 1, &candidates, NULL, "queries written per round, the first greedy, the rest sampled; the answer is the first that returns rows, the model's own queries before those the grammar finished (" AGENT_CANDIDATES_HELP ")"},
        {"--beam", NULL, 1, &beam_flag, NULL, "beam width: each round's candidates also include the replies of a beam search this wide, ranked with them (0 = off; default $SQLASSIST_BEAM, else " AGENT_BEAM_HELP ")"},
        {"--draft", NULL, 1, &draft_flag, NULL, "tokens drafted per step from the prompt for greedy decoding (speculative decoding, same output; 0 = off; default $SQLASSIST_DRAFT, else " AGENT_DEFAULT_DRAFT_STR ")"},
        {"--verbose", "-v", 0, NULL, &verbose, "on stderr: the SQL as it is generated, each attempt's error, tables left out of the prompt, timings"},
        LORA_CLI_OPTS(&lc),
        {NULL},
    };
    const char *pos[1];
    int n_pos;
    const char *usage = "sqlassist ask [--model PATH] (--db PATH | --context SQL) [--json | --csv] [-v] [--max-attempts N] [QUESTION | -]";
    int r = cli_parse(argc, argv, opts, usage,
                      "Answers a question about a SQLite database: writes SQL, runs it read-only, repairs it on errors.\n"
                      "Standard output carries only the answer (SQL and rows, JSON or CSV); a table taller than the terminal goes through $PAGER.\n"
                      "QUESTION '-' reads the question from standard input. With no QUESTION on a terminal, starts an interactive\n"
                      "session (follow-up questions refine the last query; 'help' lists its commands).",
                      pos, 1, &n_pos);
    if (r == CLI_HELP) return 0;
    if (r == CLI_ERROR) return 2;
    if (cli_model_or_default(&model_path)) return 2;
    if (!db == !context) { fprintf(stderr, "sqlassist: give exactly one of --db or --context\nusage: %s\n", usage); return 2; }
    long n_att, n_ctx, n_samples, n_pred, sd, rows = 0, tmo = 0, n_thr = 0, n_cand = 0, n_draft = 0, n_beam = 0;
    double t_temp, link_bonus = 0;
    if (cli_int("--max-attempts", attempts, 1, 20, &n_att) || cli_int("--ctx", ctx, 256, 1 << 20, &n_ctx) ||
        cli_int("--samples", samples, 0, 20, &n_samples) || cli_int("-n", n_predict, 1, 8192, &n_pred) ||
        cli_float("--temp", temp, 0, 100, &t_temp) || cli_int("--seed", seed, 0, 0x7fffffffffffffffL, &sd) ||
        cli_int("--max-rows", max_rows, 1, 1000000, &rows) || cli_int("--timeout-ms", timeout, 1, 3600000, &tmo) ||
        cli_int("--threads", threads, 1, 1024, &n_thr) ||
        cli_int("--candidates", candidates, 1, AGENT_MAX_CANDIDATES, &n_cand) ||
        cli_int("--draft", draft_flag, 0, GEN_DRAFT_MAX, &n_draft) || cli_int("--beam", beam_flag, 0, BEAM_MAX, &n_beam) || cli_float("--link-bonus", link_flag, 0, 100, &link_bonus) ||
        lora_cli_check(&lc))
        return 2;
    if (n_pos == 0 && !isatty(0)) {
        fprintf(stderr, "sqlassist: no QUESTION given and standard input is not a terminal (QUESTION '-' reads it from there)\nusage: %s\n", usage);
        return 2;
    }
    if (json && csv) { fprintf(stderr, "sqlassist: give at most one of --json and --csv\nusage: %s\n", usage); return 2; }
    ask_format fmt = json ? ASK_JSON : csv ? ASK_CSV : ASK_TEXT;
    char *stdin_question = NULL;
    if (n_pos && !strcmp(pos[0], "-")) {
        if (!(stdin_question = read_question())) { fprintf(stderr, "sqlassist: out of memory\n"); return 1; }
        pos[0] = stdin_question;
    }
    if (n_pos && !pos[0][strspn(pos[0], " \t\r\n")]) {
        fprintf(stderr, "sqlassist: the question is empty\nusage: %s\n", usage);
        free(stdin_question);
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
    if (prompt_template_init(&tpl, format, tpl_file, &err)) { fprintf(stderr, "sqlassist: %s\n", err.msg); free(stdin_question); return 2; }
    sb = db ? sb_open_db(db, &lim, &err) : sb_open_context(context, &lim, &err);
    if (!sb) { fprintf(stderr, "sqlassist: %s%s\n", context ? "--context: " : "", err.msg); goto out; }
    /* never run the model on an empty schema */
    if (db && sb_require_tables(sb, &err)) { fprintf(stderr, "sqlassist: %s\n", err.msg); goto out; }
    model_opts mo = { .n_threads = (int)n_thr };
    if (!(m = model_load(model_path, &mo, &err))) { fprintf(stderr, "sqlassist: %s\n", err.msg); goto out; }
    if ((rc = lora_cli_setup(&lc, m)) != 0) goto out;
    rc = 1;
    prompt_template_free(&tpl);
    if (agent_template_init(&tpl, format, tpl_file, m, &err)) { fprintf(stderr, "sqlassist: %s\n", err.msg); goto out; }
    int copy_values = agent_copy_values(copy_vals, m);
    if (copy_values < 0) { fprintf(stderr, "sqlassist: --copy '%s': expected on, off or auto\n", copy_vals); rc = 2; goto out; }
    int grammar = 1;
    if (agent_grammar_flag(grammar_flag, &grammar)) { rc = 2; goto out; }
    int at_once = 1;
    if (agent_on_off("--candidates-at-once", at_once_flag, 1, &at_once)) { rc = 2; goto out; }
    agent_config want = { .m = m, .copy_values = copy_values, .candidates = (int)n_cand, .parallel_candidates = at_once,
                          .beam = !beam_flag ? 0 : n_beam ? (int)n_beam : -1 };
    if (!(pc = pc_new(m, agent_cache_slots(&want, 1), (int)n_ctx, &err))) { fprintf(stderr, "sqlassist: %s\n", err.msg); goto out; }
    if (sc_introspect(sb, (int)n_samples, &schema, &err)) { fprintf(stderr, "sqlassist: %s\n", err.msg); goto out; }
    for (int i = 0; i < schema.ntables; i++)
        if (schema.tables[i].samples_error) {
            fprintf(stderr, "sqlassist: note: sample rows of table ");
            sb_print_text(stderr, schema.tables[i].name);
            fprintf(stderr, " left out: ");
            sb_print_text(stderr, schema.tables[i].samples_error);
            fprintf(stderr, "\n");
        }

    agent_conversation conv;
    agent_conversation_init(&conv);
    char *last_question = NULL;   /* the session's last question as asked: what a follow-up refines */
    ask_ctx actx = { .stream = verbose };
    agent_config cfg = {
        .m = m, .pc = pc, .tpl = &tpl, .max_attempts = (int)n_att, .max_new_tokens = (int)n_pred, .copy_values = copy_values, .schema = &schema,
        .grammar = grammar, .candidates = (int)n_cand, .parallel_candidates = at_once,
        .draft = !draft_flag ? 0 : n_draft ? (int)n_draft : -1,   /* --draft 0: off; none: the default */
        .beam = !beam_flag ? 0 : n_beam ? (int)n_beam : -1,
        .link_bonus = !link_flag ? 0 : link_bonus > 0 ? (float)link_bonus : -1,
        .sp = { .temperature = (float)t_temp, .seed = (uint64_t)sd },
        .on_token = stream_token, .on_attempt = stream_attempt, .ud = &actx,
        .lora = lc.use, .lora_scale = lc.use_scale, .adapter_name = lc.use ? lora_name(lc.use) : NULL,
    };
    rc = 0;
    if (!n_pos) {
        const char *base = db ? strrchr(db, '/') : NULL;
        ask_banner(stdout, db ? (base ? base + 1 : db) : "the --context tables", &schema);
    }
    for (int turn = 0;; turn++) {
        char *line = NULL;
        const char *question;
        if (n_pos) {
            if (turn > 0) break;
            question = pos[0];
        } else {
            line = readline("ask> ");
            if (!line) { printf("\n"); break; }
            question = line + strspn(line, " \t");
            size_t len = strlen(question);
            while (len && (question[len - 1] == ' ' || question[len - 1] == '\t')) len--;
            if (!len) { free(line); continue; }
            add_history(line);
            if ((len == 4 && !strncmp(question, "exit", 4)) || (len == 4 && !strncmp(question, "quit", 4)) ||
                (len == 5 && !strncmp(question, ".exit", 5)) || (len == 5 && !strncmp(question, ".quit", 5))) {
                free(line);
                break;
            }
            if ((len == 4 && !strncmp(question, "help", 4)) || (len == 5 && !strncmp(question, ".help", 5)) ||
                (len == 1 && question[0] == '?')) {
                fputs(SESSION_HELP, stdout);
                free(line);
                continue;
            }
            if (len == 3 && !strncmp(question, "new", 3)) {
                agent_conversation_free(&conv);
                agent_conversation_init(&conv);
                free(last_question);
                last_question = NULL;
                printf("A new conversation: the next question starts afresh.\n");
                free(line);
                continue;
            }
            if (len == 7 && !strncmp(question, ".tables", 7)) {
                char *t = sc_render(&schema, false);
                if (t) ask_page(t);
                free(t);
                free(line);
                continue;
            }
            if (!strncmp(question, ".sql", 4) && (question[4] == ' ' || question[4] == '\t' || !question[4])) {
                const char *sql = question + 4 + strspn(question + 4, " \t");
                if (!*sql) fprintf(stderr, "usage: .sql SELECT ...\n");
                else {
                    sb_result res;
                    sa_err serr = {{0}};
                    if (sb_run(sb, sql, &res, &serr) == 0) ask_print_result(&res, fmt);
                    else {   /* SQLite's message can name the database's tables and columns */
                        fputs("sqlassist: ", stderr);
                        sb_print_text(stderr, serr.msg);
                        fputc('\n', stderr);
                    }
                    sb_result_free(&res);
                }
                free(line);
                continue;
            }
        }
        /* a follow-up keeps the meaning of the question it refines, and is
        ** shown the tables of the questions before it too */
        char *folded = n_pos ? NULL : ask_followup(last_question, &schema, question);
        if (folded) {
            fprintf(stderr, "(a follow-up, asked as: %s)\n", folded);
            question = folded;
        }
        if (!folded) {   /* a question of its own (it names a table) starts a new conversation */
            agent_conversation_free(&conv);
            agent_conversation_init(&conv);
        }
        char *tables_for = folded ? ask_tables_for(&conv, question) : strdup(question);
        free(last_question);
        last_question = strdup(question);
        free(schema_text);
        free(schema_note);
        schema_text = tables_for ? agent_schema_prompt(m, &tpl, sb, &schema, tables_for, n_samples > 0, (int)n_ctx, (int)n_pred,
                                                       (int)n_att, &schema_note, &err)
                                 : NULL;
        free(tables_for);
        if (!schema_text) { fprintf(stderr, "sqlassist: %s\n", err.msg); free(folded); free(line); rc = 1; break; }
        if (schema_note) {   /* it names tables: escaped for the terminal it is printed on */
            char *shown = sb_display_text(schema_note);
            if (shown) { free(schema_note); schema_note = shown; }
        }
        agent_answer ans;
        int ar = agent_ask(&cfg, sb, schema_text, schema_note, &conv, question, &ans, &err);
        if (ar) { fprintf(stderr, "sqlassist: %s\n", err.msg); rc = 1; }
        else if (ask_print_answer(&ans, fmt, verbose) && n_pos) rc = 1;
        agent_answer_free(&ans);
        free(folded);
        free(line);
        if (ar) break;
    }
    agent_conversation_free(&conv);
    free(last_question);
out:
    free(stdin_question);
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

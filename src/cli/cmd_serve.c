/*
** cmd_serve.c — `sqlassist serve`: checks the flags and hands them to the
** HTTP server (src/server/server.h). docs/server.md describes the routes,
** docs/deploy.md how to run it in production.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_args.h"
#include "commands.h"
#include "agent/agent.h"
#include "engine/generate.h"
#include "server/server.h"

/* A header value we will echo: printable ASCII, no spaces. */
static int plain_token(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (*s <= ' ' || *s >= 0x7f) return 0;
    return 1;
}

int cmd_serve(int argc, char **argv) {
    const char *model_path = NULL, *db = NULL, *lora_dir = NULL, *host = "127.0.0.1", *port = "8080", *api_key = NULL,
               *threads = NULL, *ctx = "4096", *queue = "16", *slots = "2", *parallel = "4", *req_timeout = "120000",
               *max_body = "1048576", *cors = NULL, *max_conn = "256", *max_conn_client = "64", *tpl = NULL, *format = NULL, *copy_vals = NULL, *samples = "0",
               *grammar_flag = NULL, *candidates = NULL, *draft_flag = NULL, *link_flag = NULL, *beam_flag = NULL,
               *attempts = "3", *n_predict = "256", *max_rows = NULL, *q_timeout = NULL;
    server_config cfg = {0};
    cli_opt opts[] = {
        {"--model", "-m", 1, &model_path, NULL, "GGUF file or Hugging Face model directory (default: the bundled model, models/" BUNDLED_MODEL ")"},
        {"--db", NULL, 1, &db, NULL, "SQLite database to answer questions on, opened read-only (required)"},
        {"--lora", NULL, 1, NULL, NULL, "LoRA adapter NAME=PATH or PATH, loaded at start (repeatable)", cfg.lora, &cfg.n_lora,
         SERVE_MAX_LORA},
        {"--lora-dir", NULL, 1, &lora_dir, NULL, "directory from which POST /api/adapters may load adapters (default: none)"},
        {"--host", NULL, 1, &host, NULL, "address to listen on (default 127.0.0.1)"},
        {"--port", "-p", 1, &port, NULL, "port (default 8080; 0: any free port, logged)"},
        {"--api-key", NULL, 1, &api_key, NULL, "require 'Authorization: Bearer KEY' on /api and /v1 (or env SQLASSIST_API_KEY)"},
        {"--threads", "-t", 1, &threads, NULL, "model threads (default: all cores)"},
        {"--ctx", "-c", 1, &ctx, NULL, "context length of each KV cache (default 4096)"},
        {"--queue", NULL, 1, &queue, NULL, "model requests allowed to wait; beyond: 503 (default 16)"},
        {"--slots", NULL, 1, &slots, NULL, "prefix-cache slots (KV caches kept between requests, default 2; at least --parallel)"},
        {"--parallel", NULL, 1, &parallel, NULL, "model requests answered at once, their decode steps batched into one pass over the weights (default 4; 1: one at a time)"},
        {"--request-timeout-ms", NULL, 1, &req_timeout, NULL, "cancel a model request after this long, queue wait included (default 120000)"},
        {"--max-body", NULL, 1, &max_body, NULL, "largest request body in bytes; beyond: 413 (default 1048576)"},
        {"--cors", NULL, 1, &cors, NULL, "allow this Origin (or *) to call the API from a browser (default: no CORS)"},
        {"--max-connections", NULL, 1, &max_conn, NULL, "open connections at most (default 256)"},
        {"--max-connections-per-client", NULL, 1, &max_conn_client, NULL, "sockets one client address may hold (default 64; 0: no bound, e.g. behind a proxy)"},
        {"--template", NULL, 1, &tpl, NULL, "prompt template file with {{schema}} and {{question}}"},
        {"--copy", NULL, 1, &copy_vals, NULL, "on, off or auto: while decoding, copy values from the question and names from the schema (auto: on for models trained by sqlassist train)"},
        {"--grammar", NULL, 1, &grammar_flag, NULL, "on or off: decode only SQL valid on the schema (default on; /api/ask's \"grammar\" overrides)"},
        {"--candidates", NULL, 1, &candidates, NULL, "queries per round, the answer is the first that returns rows, the model's own queries before those the grammar finished (" AGENT_CANDIDATES_HELP "; /api/ask's \"candidates\" overrides)"},
        {"--link-bonus", NULL, 1, &link_flag, NULL, "logit bonus, with --copy, of a name that can only become a column the question names (0 = off; sets $SQLASSIST_LINK_BONUS; default " AGENT_DEFAULT_LINK_BONUS_STR ")"},
        {"--beam", NULL, 1, &beam_flag, NULL, "beam width: each round's candidates also include the replies of a beam search this wide, ranked with them (0 = off; sets $SQLASSIST_BEAM; default " AGENT_BEAM_HELP ")"},
        {"--draft", NULL, 1, &draft_flag, NULL, "tokens drafted per step from the prompt for greedy decoding (speculative decoding, same output; 0 = off; sets $SQLASSIST_DRAFT; default " AGENT_DEFAULT_DRAFT_STR ")"},
        {"--format", NULL, 1, &format, NULL, "built-in template: chatml (default) or sql-create-context"},
        {"--samples", NULL, 1, &samples, NULL, "sample rows per table shown to the model (default 0)"},
        {"--max-attempts", NULL, 1, &attempts, NULL, "default generate/execute/repair rounds per question (default 3)"},
        {"--n-predict", "-n", 1, &n_predict, NULL, "maximum tokens per attempt (default 256)"},
        {"--max-rows", NULL, 1, &max_rows, NULL, "rows kept in a result (default 1000)"},
        {"--timeout-ms", NULL, 1, &q_timeout, NULL, "wall-time limit of each SQL query (default 5000)"},
        {NULL},
    };
    const char *usage =
        "sqlassist serve [--model PATH] --db PATH [--lora NAME=PATH ...] [--lora-dir DIR] [--host 127.0.0.1] [--port 8080] "
        "[--api-key KEY] [--threads N] [--ctx N] [--queue N] [--slots N] [--parallel N] [--request-timeout-ms N] [--max-body BYTES] "
        "[--cors ORIGIN]";
    int n_pos = 0;
    int r = cli_parse(argc, argv, opts, usage,
                      "Serves the SQL assistant over HTTP: a web page at /, a JSON API under /api, OpenAI-compatible\n"
                      "/v1/chat/completions and /v1/models, /health and /metrics. Stops cleanly on SIGINT/SIGTERM.",
                      NULL, 0, &n_pos);
    if (r == CLI_HELP) return 0;
    if (r == CLI_ERROR) return 2;
    if (!db) { fprintf(stderr, "sqlassist: --db is required\nusage: %s\n", usage); return 2; }
    if (cli_model_or_default(&model_path)) return 2;
    long v_conn_client;
    long v_par;
    long v_port, v_ctx, v_queue, v_slots, v_tmo, v_body, v_conn, v_samples, v_att, v_pred, v_rows = 0, v_qt = 0, v_thr = 0;
    long v_cand = 0, v_draft = 0, v_beam = 0;
    double v_link = 0;
    if (cli_int("--port", port, 0, 65535, &v_port) || cli_int("--ctx", ctx, 256, 1 << 20, &v_ctx) ||
        cli_int("--queue", queue, 1, 100000, &v_queue) || cli_int("--slots", slots, 1, 64, &v_slots) ||
        cli_int("--parallel", parallel, 1, 64, &v_par) ||
        cli_int("--request-timeout-ms", req_timeout, 1, 86400000L, &v_tmo) ||
        cli_int("--max-body", max_body, 64, 1L << 30, &v_body) || cli_int("--max-connections", max_conn, 4, 100000, &v_conn) ||
        cli_int("--max-connections-per-client", max_conn_client, 0, 100000, &v_conn_client) ||
        cli_int("--samples", samples, 0, 20, &v_samples) || cli_int("--max-attempts", attempts, 1, 10, &v_att) ||
        cli_int("--n-predict", n_predict, 1, 8192, &v_pred) || cli_int("--threads", threads, 1, 1024, &v_thr) ||
        cli_int("--max-rows", max_rows, 1, 1000000, &v_rows) || cli_int("--timeout-ms", q_timeout, 1, 3600000, &v_qt) ||
        cli_int("--candidates", candidates, 1, AGENT_MAX_CANDIDATES, &v_cand) ||
        cli_int("--draft", draft_flag, 0, GEN_DRAFT_MAX, &v_draft) || cli_int("--beam", beam_flag, 0, BEAM_MAX, &v_beam) || cli_float("--link-bonus", link_flag, 0, 100, &v_link))
        return 2;
    if (draft_flag) setenv("SQLASSIST_DRAFT", draft_flag, 1);
    if (beam_flag) setenv("SQLASSIST_BEAM", beam_flag, 1);     /* and agent_beam reads this one */   /* the workers' agent_draft reads it */
    if (link_flag) setenv("SQLASSIST_LINK_BONUS", link_flag, 1);   /* and agent_link_bonus this */
    if (!api_key) api_key = getenv("SQLASSIST_API_KEY");
    if (api_key && !plain_token(api_key)) {
        fprintf(stderr, "sqlassist: the API key must be printable ASCII without spaces (and not empty)\n");
        return 2;
    }
    if (cors && !plain_token(cors)) {
        fprintf(stderr, "sqlassist: --cors: expected an origin such as https://example.com, or *\n");
        return 2;
    }
    if (v_pred * v_att + 512 > v_ctx) {
        fprintf(stderr, "sqlassist: --ctx %ld leaves no room: --n-predict x --max-attempts + 512 must fit in it\n", v_ctx);
        return 2;
    }
    cfg.model_path = model_path;
    cfg.db_path = db;
    cfg.lora_dir = lora_dir;
    cfg.host = host;
    cfg.port = (int)v_port;
    cfg.api_key = api_key;
    cfg.cors_origin = cors;
    cfg.n_threads = (int)v_thr;
    cfg.n_ctx = (int)v_ctx;
    cfg.queue_max = (int)v_queue;
    cfg.slots = (int)v_slots;
    cfg.parallel = (int)v_par;
    cfg.request_timeout_ms = v_tmo;
    cfg.max_body = (size_t)v_body;
    cfg.max_connections = (int)v_conn;
    cfg.max_connections_per_client = (int)v_conn_client;
    cfg.template_file = tpl;
    cfg.format = format;
    cfg.copy_values = copy_vals;
    cfg.grammar = grammar_flag;
    cfg.candidates = (int)v_cand;
    cfg.samples = (int)v_samples;
    cfg.max_attempts = (int)v_att;
    cfg.n_predict = (int)v_pred;
    cfg.max_rows = v_rows;
    cfg.query_timeout_ms = v_qt;
    return server_main(&cfg);
}

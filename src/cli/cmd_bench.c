/*
** cmd_bench.c — `sqlassist bench`: a text-to-SQL benchmark in one command.
**
** Phase 1 answers every task in this process (accuracy, latency split,
** tokens); phase 2 starts the real HTTP server (`sqlassist serve`) and
** measures throughput at concurrency 1, 2, 4, 8 (and --concurrency), and
** cold start to /health ready; phase 3 times a fresh `sqlassist ask` from
** process start to its answer. Writes results.jsonl, summary.json,
** report.md and chart.svg into --out. Comparison rules: docs/bench.md.
*/
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "engine/generate.h"
#include "eval/compare.h"
#include "eval/httpc.h"
#include "eval/report.h"
#include "eval/tasks.h"
#include "eval/testsuite.h"
#include "sql/schema.h"
#include "util/progress.h"
#include "cli_args.h"
#include "commands.h"
#include "lora_cli.h"

#define TS_DBS 5           /* random databases per schema-only task */
#define MAX_DBS 256

typedef struct db_entry { char *id; sandbox *sb; sc_schema schema; } db_entry;

typedef struct bench_opts {
    const char *self, *model, *tasks_path, *db_dir, *out_dir, *threads, *ctx, *format, *tpl, *copy_values, *grammar, *candidates;
    long attempts, n_predict, concurrency, limit, tp_requests;
    int no_server;
    lora_cli *lc;
} bench_opts;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The sandbox and schema of a Spider database, opened once (the prompt's
** schema is rendered per question, as `ask` does). */
static db_entry *get_db(db_entry *dbs, int *n_dbs, const char *dir, const char *id, sa_err *err) {
    for (int i = 0; i < *n_dbs; i++)
        if (!strcmp(dbs[i].id, id)) return dbs[i].sb ? &dbs[i] : NULL;
    if (*n_dbs >= MAX_DBS) { sa_fail(err, "too many databases"); return NULL; }
    db_entry *e = &dbs[(*n_dbs)++];
    e->id = strdup(id);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s.sqlite", dir ? dir : ".", id, id);
    e->sb = sb_open_db(path, NULL, err);
    if (!e->sb) return NULL;
    if (sc_introspect(e->sb, 0, &e->schema, err)) { sb_close(e->sb); e->sb = NULL; return NULL; }
    return e;
}

/* ---- throughput through the HTTP server ---------------------------------- */

typedef struct tp_ctx {
    int port, total, next, ok, rejected, errors;
    char **bodies;
    int n_bodies;
    pthread_mutex_t mu;
} tp_ctx;

static void *tp_worker(void *p) {
    tp_ctx *c = p;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        int i = c->next < c->total ? c->next++ : -1;
        pthread_mutex_unlock(&c->mu);
        if (i < 0) return NULL;
        int st = httpc_request(c->port, "POST", "/api/ask", c->bodies[i % c->n_bodies], NULL, 600000);
        pthread_mutex_lock(&c->mu);
        if (st == 200) c->ok++;
        else if (st == 503) c->rejected++;
        else c->errors++;
        pthread_mutex_unlock(&c->mu);
    }
}

static double run_load(int port, char **bodies, int n_bodies, int conc, int total, int *errors) {
    tp_ctx c = { .port = port, .total = total, .bodies = bodies, .n_bodies = n_bodies };
    pthread_mutex_init(&c.mu, NULL);
    pthread_t th[64];
    if (conc > 64) conc = 64;
    double t0 = gen_now();
    for (int i = 0; i < conc; i++) pthread_create(&th[i], NULL, tp_worker, &c);
    for (int i = 0; i < conc; i++) pthread_join(th[i], NULL);
    double dt = gen_now() - t0;
    pthread_mutex_destroy(&c.mu);
    *errors += c.errors + c.rejected;
    return dt > 0 ? c.ok / dt : 0;
}

static pid_t spawn(char *const argv[], const char *log) {
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = log ? freopen(log, "w", stderr) : NULL;
        (void)f;
        if (!freopen("/dev/null", "w", stdout)) _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* ---- the command --------------------------------------------------------- */

static void json_lat(json_t *o, const char *key, double *v, int n) {
    json_t *l = json_object();
    double sum = 0;
    for (int i = 0; i < n; i++) sum += v[i];
    json_object_set_new(l, "mean", json_real(n ? sum / n : 0));
    json_object_set_new(l, "p50", json_real(ev_percentile(v, n, 50)));
    json_object_set_new(l, "p90", json_real(ev_percentile(v, n, 90)));
    json_object_set_new(l, "p99", json_real(ev_percentile(v, n, 99)));
    json_object_set_new(o, key, l);
}

int cmd_bench(int argc, char **argv) {
    bench_opts o = { .attempts = 3, .n_predict = 256, .concurrency = 4, .limit = 0, .tp_requests = 16 };
    const char *attempts = "3", *n_predict = "256", *conc = "4", *limit = NULL, *tp_req = "16";
    lora_cli lc = {0};
    o.lc = &lc;
    o.out_dir = "bench-out";
    cli_opt opts[] = {
        {"--model", "-m", 1, &o.model, NULL, "GGUF file or Hugging Face model directory (default: the bundled model, models/" BUNDLED_MODEL ")"},
        {"--tasks", NULL, 1, &o.tasks_path, NULL, "task file: sql-create-context JSONL or Spider JSON/JSONL (required)"},
        {"--db-dir", NULL, 1, &o.db_dir, NULL, "Spider databases: DIR/<db_id>/<db_id>.sqlite"},
        {"--out", "-o", 1, &o.out_dir, NULL, "output directory (default bench-out)"},
        {"--concurrency", NULL, 1, &conc, NULL, "clients for the throughput run (default 4; 1, 2, 4, 8 are always measured)"},
        {"--requests", NULL, 1, &tp_req, NULL, "requests per throughput run (default 16)"},
        {"--no-server", NULL, 0, NULL, &o.no_server, "skip the HTTP throughput and cold-start runs"},
        {"--limit", NULL, 1, &limit, NULL, "only the first N tasks"},
        {"--max-attempts", NULL, 1, &attempts, NULL, "generate/execute/repair rounds (default 3)"},
        {"--n-predict", "-n", 1, &n_predict, NULL, "maximum tokens per attempt (default 256)"},
        {"--format", NULL, 1, &o.format, NULL, "prompt template: chatml (default) or sql-create-context"},
        {"--template", NULL, 1, &o.tpl, NULL, "prompt template file"},
        {"--copy", NULL, 1, &o.copy_values, NULL, "on, off or auto: while decoding, copy values from the question and names from the schema (auto: on for models trained by sqlassist train)"},
        {"--grammar", NULL, 1, &o.grammar, NULL, "on or off: decode only SQL valid on the schema (default on)"},
        {"--candidates", NULL, 1, &o.candidates, NULL, "queries per round; the first that returns rows is the answer (default " AGENT_DEFAULT_CANDIDATES_STR ")"},
        {"--threads", "-t", 1, &o.threads, NULL, "threads (default: all cores)"},
        {"--ctx", "-c", 1, &o.ctx, NULL, "context length (default 4096)"},
        LORA_CLI_OPTS(&lc),
        {NULL},
    };
    const char *pos[1];
    int n_pos;
    const char *usage = "sqlassist bench [--model PATH] [--lora ...] --tasks FILE [--db-dir DIR] [--concurrency N] [--out DIR]";
    int r = cli_parse(argc, argv, opts, usage, "Measures accuracy, latency, throughput and cold start on a task file.", pos, 0, &n_pos);
    if (r == CLI_HELP) return 0;
    if (r == CLI_ERROR) return 2;
    if (!o.tasks_path) { fprintf(stderr, "sqlassist: --tasks is required\nusage: %s\n", usage); return 2; }
    if (cli_model_or_default(&o.model)) return 2;
    long n_ctx = 4096, nth = 0;
    if (cli_int("--max-attempts", attempts, 1, 20, &o.attempts) || cli_int("-n", n_predict, 1, 8192, &o.n_predict) ||
        cli_int("--concurrency", conc, 1, 64, &o.concurrency) || cli_int("--requests", tp_req, 1, 100000, &o.tp_requests) ||
        (limit && cli_int("--limit", limit, 1, 1000000, &o.limit)) || (o.ctx && cli_int("--ctx", o.ctx, 256, 1 << 20, &n_ctx)) ||
        (o.threads && cli_int("--threads", o.threads, 1, 1024, &nth)) || lora_cli_check(&lc))
        return 2;
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0) { fprintf(stderr, "sqlassist: cannot find own executable\n"); return 1; }
    self[sl] = 0;
    o.self = self;
    if (mkdir(o.out_dir, 0755) != 0 && errno != EEXIST) { fprintf(stderr, "sqlassist: --out %s: %s\n", o.out_dir, strerror(errno)); return 1; }

    sa_err err = {{0}};
    ev_tasks tasks;
    if (ev_tasks_load(o.tasks_path, &tasks, stderr, &err)) { fprintf(stderr, "sqlassist: %s\n", err.msg); return 1; }
    int n_tasks = o.limit && o.limit < tasks.n ? (int)o.limit : tasks.n;
    model_opts mo = { .n_threads = (int)nth };
    model *m = model_load(o.model, &mo, &err);
    if (!m) { fprintf(stderr, "sqlassist: %s\n", err.msg); ev_tasks_free(&tasks); return 1; }
    int rc = lora_cli_setup(&lc, m);
    prefix_cache *pc = rc ? NULL : pc_new(m, 2, (int)n_ctx, &err);
    prompt_template tpl = {0};
    if (!rc && !pc) { fprintf(stderr, "sqlassist: %s\n", err.msg); rc = 1; }
    if (!rc && agent_template_init(&tpl, o.format, o.tpl, m, &err)) { fprintf(stderr, "sqlassist: %s\n", err.msg); rc = 2; }
    int copy_values = rc ? 0 : agent_copy_values(o.copy_values, m);
    if (copy_values < 0) { fprintf(stderr, "sqlassist: --copy '%s': expected on, off or auto\n", o.copy_values); rc = 2; }
    int grammar = 1;
    long n_cand = AGENT_DEFAULT_CANDIDATES;
    if (!rc && agent_flags(o.grammar, o.candidates, &grammar, &n_cand)) rc = 2;
    if (rc) { pc_free(pc); lora_cli_free(&lc); model_free(m); ev_tasks_free(&tasks); return rc; }

    agent_config cfg = {
        .m = m, .pc = pc, .tpl = &tpl, .max_attempts = (int)o.attempts, .max_new_tokens = (int)o.n_predict,
        .copy_values = copy_values, .grammar = grammar, .candidates = (int)n_cand,
        .lora = lc.use, .lora_scale = lc.use_scale, .adapter_name = lc.use ? lora_name(lc.use) : NULL,
    };
    char path[4096];
    snprintf(path, sizeof path, "%s/results.jsonl", o.out_dir);
    FILE *rf = fopen(path, "w");
    if (!rf) { fprintf(stderr, "sqlassist: %s: cannot write\n", path); rc = 1; goto done; }
    db_entry dbs[MAX_DBS];
    int n_dbs = 0;
    double *lat = calloc((size_t)n_tasks, sizeof *lat);
    int n_gold = 0, n_exec = 0, n_exact = 0, n_valid = 0, n_ts = 0, n_ts_match = 0, n_db_tasks = 0, n_db_match = 0;
    long tok_in = 0, tok_out = 0;
    progress pr;
    progress_start(&pr, "bench", n_tasks);
    for (int i = 0; i < n_tasks; i++) {
        const ev_task *t = &tasks.t[i];
        json_t *row = json_object();
        json_object_set_new(row, "line", json_integer(t->line));
        json_object_set_new(row, "question", json_string(t->question));
        if (t->db_id) json_object_set_new(row, "db_id", json_string(t->db_id));
        sandbox *sb = NULL, *own_sb = NULL;
        const char *schema = NULL;
        char *own_schema = NULL, *note = NULL;
        sa_err te = {{0}};
        cfg.schema = NULL;   /* a context's own sandbox: the agent reads it when needed */
        if (t->context) { own_sb = sb = sb_open_context(t->context, NULL, &te); schema = t->context; }
        else {
            db_entry *e = get_db(dbs, &n_dbs, o.db_dir, t->db_id, &te);
            if (e && (own_schema = agent_schema_prompt(m, &tpl, e->sb, &e->schema, t->question, false, (int)n_ctx,
                                                       (int)o.n_predict, (int)o.attempts, &note, &te))) {
                sb = e->sb;
                schema = own_schema;
                cfg.schema = &e->schema;
            }
            free(note);
        }
        if (!sb) {
            fprintf(stderr, "%s:%d: task skipped: %s\n", o.tasks_path, t->line, te.msg);
            json_object_set_new(row, "error", json_string(te.msg));
            lat[i] = 0;
        } else {
            agent_answer ans;
            if (agent_ask(&cfg, sb, schema, NULL, NULL, t->question, &ans, &err)) {
                /* one task's failure (e.g. a prompt over the context) is that task's result */
                fprintf(stderr, "%s:%d: %s\n", o.tasks_path, t->line, err.msg);
                json_object_set_new(row, "error", json_string(err.msg));
                agent_answer_free(&ans);
                memset(&ans, 0, sizeof ans);
                ans.sql = strdup("");
            }
            lat[i] = ans.total_ms;
            tok_in += ans.prompt_tokens;
            tok_out += ans.generated_tokens;
            if (ans.ok) n_valid++;
            json_object_set_new(row, "sql", json_string(ans.sql ? ans.sql : ""));
            json_object_set_new(row, "ran", json_boolean(ans.ok));
            json_object_set_new(row, "attempts", json_integer(ans.n_attempts));
            json_t *l = json_object();
            json_object_set_new(l, "queue", json_real(0));
            json_object_set_new(l, "prefill", json_real(ans.prefill_ms));
            json_object_set_new(l, "decode", json_real(ans.decode_ms));
            json_object_set_new(l, "execution", json_real(ans.execute_ms));
            json_object_set_new(l, "total", json_real(ans.total_ms));
            json_object_set_new(row, "latency_ms", l);
            json_object_set_new(row, "tokens_in", json_integer(ans.prompt_tokens));
            json_object_set_new(row, "tokens_out", json_integer(ans.generated_tokens));
            if (t->gold) {
                n_gold++;
                json_object_set_new(row, "gold", json_string(t->gold));
                char *a = ev_normalize_sql(ans.sql ? ans.sql : ""), *b = ev_normalize_sql(t->gold);
                bool exact = a && b && !strcmp(a, b);
                free(a);
                free(b);
                if (exact) n_exact++;
                json_object_set_new(row, "exact_match", json_boolean(exact));
                char why[512] = "";
                bool match = false;
                if (ev_task_schema_only(t)) {
                    n_ts++;
                    json_object_set_new(row, "metric", json_string("test-suite"));
                    if (ans.ok) {
                        sa_err ge = {{0}};
                        int ts = ev_test_suite_match(t->context, t->gold, ans.sql, TS_DBS, hash_str(t->question), why, sizeof why, &ge);
                        match = ts == 1;
                        if (ts < 0) snprintf(why, sizeof why, "%.400s", ge.msg);
                    } else snprintf(why, sizeof why, "no attempt ran");
                    if (match) n_ts_match++;
                } else {
                    n_db_tasks++;
                    json_object_set_new(row, "metric", json_string("execution"));
                    if (ans.ok) {
                        sb_result g;
                        sa_err ge = {{0}};
                        if (sb_run(sb, t->gold, &g, &ge) == 0)
                            match = ev_results_match(&g, &ans.result, ev_has_top_level_order_by(t->gold), why, sizeof why);
                        else snprintf(why, sizeof why, "gold query fails: %.400s", ge.msg);
                        sb_result_free(&g);
                    } else snprintf(why, sizeof why, "no attempt ran");
                    if (match) n_db_match++;
                }
                if (match) n_exec++;
                json_object_set_new(row, "execution_match", json_boolean(match));
                if (!match) json_object_set_new(row, "mismatch", json_string(why));
            }
            agent_answer_free(&ans);
        }
        sb_close(own_sb);
        free(own_schema);
        char *line = json_dumps(row, JSON_COMPACT);
        if (line) { fprintf(rf, "%s\n", line); free(line); }
        json_decref(row);
        progress_update(&pr, i + 1);
    }
    progress_end(&pr);
    fclose(rf);

    /* ---- throughput and cold start through real processes ---- */
    int concs[5] = { 1, 2, 4, 8, 0 }, n_conc = 4;
    double rps[5] = {0}, health_ms = -1, first_answer_ms = -1;
    int http_errors = 0;
    if (o.concurrency != 1 && o.concurrency != 2 && o.concurrency != 4 && o.concurrency != 8) concs[n_conc++] = (int)o.concurrency;
    if (!o.no_server && rc == 0) {
        /* the server needs a database: the first task's, or an empty one for context tasks */
        char dbpath[4096] = "";
        for (int i = 0; i < n_tasks && !dbpath[0]; i++)
            if (tasks.t[i].db_id) snprintf(dbpath, sizeof dbpath, "%s/%s/%s.sqlite", o.db_dir ? o.db_dir : ".", tasks.t[i].db_id, tasks.t[i].db_id);
        if (!dbpath[0]) {
            snprintf(dbpath, sizeof dbpath, "%s/empty.sqlite", o.out_dir);
            FILE *f = fopen(dbpath, "wb");
            if (f) fclose(f);
        }
        int port = httpc_free_port();
        char port_s[16], att_s[16], np_s[16], thr_s[16];
        snprintf(port_s, sizeof port_s, "%d", port);
        snprintf(att_s, sizeof att_s, "%ld", o.attempts);
        snprintf(np_s, sizeof np_s, "%ld", o.n_predict);
        snprintf(thr_s, sizeof thr_s, "%d", tp_size(m->tp));
        char *sv[64] = { (char *)self, "serve", "--model", (char *)o.model, "--db", dbpath, "--port", port_s,
                         "--max-attempts", att_s, "-n", np_s, "--threads", thr_s, "--queue", "64" };
        int k = 16;
        for (int i = 0; i < lc.n_lora && k < 60; i++) { sv[k++] = "--lora"; sv[k++] = (char *)lc.lora[i]; }
        if (o.format && k < 62) { sv[k++] = "--format"; sv[k++] = (char *)o.format; }
        if (o.tpl && k < 62) { sv[k++] = "--template"; sv[k++] = (char *)o.tpl; }
        if (o.copy_values && k < 62) { sv[k++] = "--copy"; sv[k++] = (char *)o.copy_values; }
        if (o.grammar && k < 62) { sv[k++] = "--grammar"; sv[k++] = (char *)o.grammar; }
        if (o.candidates && k < 62) { sv[k++] = "--candidates"; sv[k++] = (char *)o.candidates; }
        sv[k] = NULL;
        char slog[4200];
        snprintf(slog, sizeof slog, "%s/server.log", o.out_dir);
        double t0 = gen_now();
        pid_t srv = spawn(sv, slog);
        for (int tries = 0; srv > 0 && tries < 1200; tries++) {
            char *body = NULL;
            int st = httpc_request(port, "GET", "/health", NULL, &body, 2000);
            int ready = st == 200 && body && strstr(body, "ready");
            free(body);
            if (ready) { health_ms = (gen_now() - t0) * 1000; break; }
            int status;
            if (waitpid(srv, &status, WNOHANG) == srv) { srv = -1; break; }
            usleep(50000);
        }
        if (health_ms >= 0) {
            char **bodies = calloc((size_t)n_tasks, sizeof *bodies);
            int nb = 0;
            for (int i = 0; i < n_tasks; i++) {
                if (tasks.t[i].db_id && strstr(dbpath, tasks.t[i].db_id) == NULL) continue;
                json_t *b = json_object();
                json_object_set_new(b, "question", json_string(tasks.t[i].question));
                if (tasks.t[i].context) json_object_set_new(b, "context", json_string(tasks.t[i].context));
                bodies[nb++] = json_dumps(b, JSON_COMPACT);
                json_decref(b);
            }
            if (nb) {
                progress tpp;
                progress_start(&tpp, "throughput", n_conc);
                for (int c = 0; c < n_conc; c++) {
                    rps[c] = run_load(port, bodies, nb, concs[c], (int)o.tp_requests, &http_errors);
                    progress_update(&tpp, c + 1);
                }
                progress_end(&tpp);
            } else n_conc = 0;
            for (int i = 0; i < nb; i++) free(bodies[i]);
            free(bodies);
        } else {
            fprintf(stderr, "sqlassist: the server did not become ready (see %s); throughput not measured\n", slog);
            n_conc = 0;
        }
        if (srv > 0) { kill(srv, SIGTERM); waitpid(srv, NULL, 0); }

        /* cold start: a fresh process from exec to its printed answer */
        const ev_task *t0t = &tasks.t[0];
        char *av[40] = { (char *)self, "ask", "--model", (char *)o.model, "--json", "--max-attempts", att_s, "-n", np_s, "--threads", thr_s };
        k = 11;
        char dbp[4096];
        if (t0t->context) { av[k++] = "--context"; av[k++] = t0t->context; }
        else { snprintf(dbp, sizeof dbp, "%s/%s/%s.sqlite", o.db_dir ? o.db_dir : ".", t0t->db_id, t0t->db_id); av[k++] = "--db"; av[k++] = dbp; }
        for (int i = 0; i < lc.n_lora && k < 34; i++) { av[k++] = "--lora"; av[k++] = (char *)lc.lora[i]; }
        if (o.format && k < 36) { av[k++] = "--format"; av[k++] = (char *)o.format; }
        if (o.tpl && k < 36) { av[k++] = "--template"; av[k++] = (char *)o.tpl; }
        if (o.copy_values && k < 36) { av[k++] = "--copy"; av[k++] = (char *)o.copy_values; }
        if (o.grammar && k < 36) { av[k++] = "--grammar"; av[k++] = (char *)o.grammar; }
        if (o.candidates && k < 36) { av[k++] = "--candidates"; av[k++] = (char *)o.candidates; }
        av[k++] = t0t->question;
        av[k] = NULL;
        double t1 = gen_now();
        pid_t ap = spawn(av, "/dev/null");
        int st;
        if (ap > 0 && waitpid(ap, &st, 0) == ap && WIFEXITED(st) && WEXITSTATUS(st) <= 1) first_answer_ms = (gen_now() - t1) * 1000;
    } else n_conc = 0;

    /* ---- summary ---- */
    struct rusage ru_self, ru_child;
    getrusage(RUSAGE_SELF, &ru_self);
    getrusage(RUSAGE_CHILDREN, &ru_child);
    double peak_mb = (double)(ru_self.ru_maxrss > ru_child.ru_maxrss ? ru_self.ru_maxrss : ru_child.ru_maxrss) / 1024.0;
    double *lat_sorted = malloc((size_t)(n_tasks ? n_tasks : 1) * sizeof *lat_sorted);
    for (int i = 0; i < n_tasks; i++) lat_sorted[i] = lat[i];
    json_t *s = json_object();
    json_object_set_new(s, "tasks", json_integer(n_tasks));
    json_object_set_new(s, "tasks_with_gold", json_integer(n_gold));
    json_object_set_new(s, "malformed_lines", json_integer(tasks.n_bad));
    json_object_set_new(s, "execution_accuracy", json_real(n_gold ? (double)n_exec / n_gold : 0));
    json_object_set_new(s, "exact_match", json_real(n_gold ? (double)n_exact / n_gold : 0));
    json_object_set_new(s, "valid_sql_rate", json_real(n_tasks ? (double)n_valid / n_tasks : 0));
    json_object_set_new(s, "schema_only_metric", json_string("test-suite execution accuracy (Zhong, Yu and Klein, 2020): 5 random databases per task, seeded with the queries' literals"));
    json_object_set_new(s, "schema_only_tasks", json_integer(n_ts));
    json_object_set_new(s, "test_suite_accuracy", n_ts ? json_real((double)n_ts_match / n_ts) : json_null());
    json_object_set_new(s, "database_tasks", json_integer(n_db_tasks));
    json_object_set_new(s, "database_execution_accuracy", n_db_tasks ? json_real((double)n_db_match / n_db_tasks) : json_null());
    json_lat(s, "latency_ms", lat_sorted, n_tasks);
    double best = 0;
    json_t *tpj = json_object();
    for (int c = 0; c < n_conc; c++) {
        char key[16];
        snprintf(key, sizeof key, "%d", concs[c]);
        json_object_set_new(tpj, key, json_real(rps[c]));
        if (concs[c] == o.concurrency) best = rps[c];
    }
    json_object_set_new(s, "throughput_rps", n_conc ? json_real(best) : json_null());
    json_object_set_new(s, "throughput_by_concurrency", tpj);
    json_object_set_new(s, "concurrency", json_integer(o.concurrency));
    json_object_set_new(s, "http_errors", json_integer(http_errors));
    json_object_set_new(s, "cold_start_ms", first_answer_ms >= 0 ? json_real(first_answer_ms) : json_null());
    json_object_set_new(s, "cold_start_health_ready_ms", health_ms >= 0 ? json_real(health_ms) : json_null());
    json_object_set_new(s, "model_load_ms", json_real(m->load_seconds * 1000));
    json_object_set_new(s, "peak_rss_mb", json_real(peak_mb));
    json_object_set_new(s, "tokens_in", json_integer(tok_in));
    json_object_set_new(s, "tokens_out", json_integer(tok_out));
    json_object_set_new(s, "model", json_string(o.model));
    json_object_set_new(s, "task_file", json_string(o.tasks_path));
    snprintf(path, sizeof path, "%s/summary.json", o.out_dir);
    if (json_dump_file(s, path, JSON_INDENT(2)) != 0) { fprintf(stderr, "sqlassist: %s: cannot write\n", path); rc = 1; }

    snprintf(path, sizeof path, "%s/report.md", o.out_dir);
    FILE *mf = fopen(path, "w");
    if (mf) {
        json_t *l = json_object_get(s, "latency_ms");
        fprintf(mf, "# sqlassist bench\n\nModel `%s`, tasks `%s` (%d tasks, %d with gold SQL, %d malformed lines skipped).\n\n",
                o.model, o.tasks_path, n_tasks, n_gold, tasks.n_bad);
        fprintf(mf, "| metric | sqlassist | reference system (PyTorch fp32 + Gradio, 2 vCPU) |\n|---|---|---|\n");
        fprintf(mf, "| execution accuracy | %.1f%% | not reported |\n", n_gold ? 100.0 * n_exec / n_gold : 0);
        if (n_ts) fprintf(mf, "| — of which schema-only tasks (test-suite accuracy) | %.1f%% of %d | |\n", 100.0 * n_ts_match / n_ts, n_ts);
        if (n_db_tasks) fprintf(mf, "| — of which database tasks (execution match) | %.1f%% of %d | |\n", 100.0 * n_db_match / n_db_tasks, n_db_tasks);
        fprintf(mf, "| exact match (normalized) | %.1f%% | not reported |\n", n_gold ? 100.0 * n_exact / n_gold : 0);
        fprintf(mf, "| valid SQL | %.1f%% | not reported |\n", n_tasks ? 100.0 * n_valid / n_tasks : 0);
        fprintf(mf, "| latency mean / p50 / p90 / p99 | %.0f / %.0f / %.0f / %.0f ms | 2800–5100 ms |\n",
                json_real_value(json_object_get(l, "mean")), json_real_value(json_object_get(l, "p50")),
                json_real_value(json_object_get(l, "p90")), json_real_value(json_object_get(l, "p99")));
        if (n_conc) fprintf(mf, "| throughput at concurrency %ld | %.2f requests/s | ~0.5 requests/s |\n", o.concurrency, best);
        if (first_answer_ms >= 0) fprintf(mf, "| cold start (process start → first answer) | %.0f ms | 45 s |\n", first_answer_ms);
        if (health_ms >= 0) fprintf(mf, "| cold start (server start → /health ready) | %.0f ms | |\n", health_ms);
        fprintf(mf, "| peak resident memory | %.0f MB | |\n\n", peak_mb);
        if (n_conc) {
            fprintf(mf, "Throughput by concurrency (%ld requests each):", o.tp_requests);
            for (int c = 0; c < n_conc; c++) fprintf(mf, " %d → %.2f/s;", concs[c], rps[c]);
            fprintf(mf, "\n\n");
        }
        fprintf(mf, "![latency and throughput](chart.svg)\n\nComparison rules: docs/bench.md. Per-task results: results.jsonl.\n");
        fclose(mf);
    }
    snprintf(path, sizeof path, "%s/chart.svg", o.out_dir);
    FILE *sf = fopen(path, "w");
    if (sf) { ev_write_svg(sf, lat, n_tasks, concs, rps, n_conc); fclose(sf); }
    char *sj = json_dumps(s, JSON_INDENT(2));
    if (sj) { puts(sj); free(sj); }
    json_decref(s);
    free(lat_sorted);
    free(lat);
    for (int i = 0; i < n_dbs; i++) { free(dbs[i].id); sc_free(&dbs[i].schema); sb_close(dbs[i].sb); }
done:
    prompt_template_free(&tpl);
    pc_free(pc);
    lora_cli_free(&lc);
    model_free(m);
    ev_tasks_free(&tasks);
    return rc;
}

/*
** server.c — the life of one `sqlassist serve` process (see server.h):
** open the database, start listening (so /health can say "loading"), load
** the model and adapters, start the worker, serve until SIGINT/SIGTERM,
** then shut down in order: stop accepting, answer queued jobs with 503,
** let the running job finish (or cancel it after a grace period), close
** the connections, free everything, exit 0.
*/
#include "server.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "adapters.h"
#include "api.h"
#include "../agent/agent.h"
#include "engine/batcher.h"
#include "engine/generate.h"
#include "http.h"
#include "metrics.h"
#include "openai.h"
#include "util.h"
#include "util/clock.h"
#include "worker.h"

/* How long a running job may go on after SIGTERM before it is cancelled. */
#define SHUTDOWN_GRACE_S 10.0
/* How long a decode pass waits at least for workers still sampling their
** previous token (batcher_new; longer passes wait up to BATCHER_LINGER_PART of one):
** a sampling step with the grammar takes well under a millisecond, a decode
** pass of the bundled model about one. */
#define BATCH_LINGER_US 1000
/* How long finished answers may take to be sent before connections close. */
#define DRAIN_S 5.0

/* Every route: the JSON API's, then the OpenAI-compatible ones. */
#define MAX_ROUTES 32
static http_route routes[MAX_ROUTES];

static int route_table(void) {
    int n = 0;
    for (int i = 0; i < api_n_routes && n < MAX_ROUTES; i++) routes[n++] = api_routes[i];
    for (int i = 0; i < oa_n_routes && n < MAX_ROUTES; i++) routes[n++] = oa_routes[i];
    assert(n == api_n_routes + oa_n_routes);
    return n;
}

int server_ready(server *s) { return atomic_load_explicit(&s->ready, memory_order_acquire); }

int server_require_ready(server *s, http_req *r) {
    if (server_ready(s)) return 1;
    http_add_header(r, "Retry-After", "2");
    http_send_error(r, 503, NULL, "the model is still loading; retry shortly (GET /health says when it is ready)");
    return 0;
}

/* The base model's public name: the file or directory name without .gguf. */
static void model_name(const char *path, char *out, size_t cap) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    size_t n = strlen(tmp);
    while (n > 1 && tmp[n - 1] == '/') tmp[--n] = 0;
    const char *b = strrchr(tmp, '/');
    b = b ? b + 1 : tmp;
    n = strlen(b) < cap - 1 ? strlen(b) : cap - 1;
    memcpy(out, b, n);
    out[n] = 0;
    if (n > 5 && !strcmp(out + n - 5, ".gguf")) out[n - 5] = 0;
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '"' || *p == '\\') *p = '_';
}

static void log_listening(server *s) {
    json_t *o = json_object();
    const char *host = s->cfg.host ? s->cfg.host : "127.0.0.1";
    char url[300];
    snprintf(url, sizeof url, strchr(host, ':') ? "http://[%s]:%d/" : "http://%s:%d/", host, http_port(s->http));
    json_object_set_new(o, "event", json_string("listening"));
    json_object_set_new(o, "url", sj_str(url));
    json_object_set_new(o, "port", json_integer(http_port(s->http)));
    json_object_set_new(o, "auth", json_boolean(s->cfg.api_key != NULL));
    json_object_set_new(o, "cors", sj_str(s->cfg.cors_origin));
    json_object_set_new(o, "lora_dir", s->lora_dir_real[0] ? sj_str(s->lora_dir_real) : json_null());
    slog(o);
}

int server_main(const server_config *cfg) {
    /* Signals are taken by sigwait on the main thread only: block them
    ** before any thread exists so that every thread inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    server *s = calloc(1, sizeof *s);
    if (!s) { fprintf(stderr, "sqlassist: out of memory\n"); return 1; }
    s->cfg = *cfg;
    atomic_init(&s->ready, 0);
    atomic_init(&s->stopping, 0);
    int rc = 1;
    sa_err err = {{0}};

    sb_limits_default(&s->limits);
    if (cfg->max_rows > 0) s->limits.max_rows = cfg->max_rows;
    if (cfg->query_timeout_ms > 0) s->limits.timeout_ms = cfg->query_timeout_ms;
    if (cfg->lora_dir) {
        struct stat st;
        if (!realpath(cfg->lora_dir, s->lora_dir_real) || stat(s->lora_dir_real, &st) || !S_ISDIR(st.st_mode)) {
            slog_event("error", "--lora-dir %s: %s", cfg->lora_dir, errno ? strerror(errno) : "not a directory");
            s->lora_dir_real[0] = 0;
            goto out;
        }
    }
    if (!(s->db = sb_open_db(cfg->db_path, &s->limits, &err))) { slog_event("error", "--db: %s", err.msg); goto out; }
    int n_workers = cfg->parallel > 0 ? cfg->parallel : 1;
    if (!(s->dbs = calloc((size_t)n_workers, sizeof *s->dbs))) { slog_event("error", "out of memory"); goto out; }
    s->dbs[0] = s->db;
    for (int i = 1; i < n_workers; i++)
        if (!(s->dbs[i] = sb_open_db(cfg->db_path, &s->limits, &err))) { slog_event("error", "--db: %s", err.msg); goto out; }
    /* no model runs on an empty schema */
    if (sb_require_tables(s->db, &err) || sc_introspect(s->db, cfg->samples, &s->schema, &err)) {
        slog_event("error", "--db: %s", err.msg);
        goto out;
    }
    for (int i = 0; i < s->schema.ntables; i++)
        if (s->schema.tables[i].samples_error)
            slog_event("note", "--samples: sample rows of table %s left out: %s", s->schema.tables[i].name,
                       s->schema.tables[i].samples_error);
    if (!(s->mx = metrics_new())) { slog_event("error", "out of memory"); goto out; }
    if (!(s->wq = wq_new(s, cfg->queue_max, n_workers, &err)) || api_init(s, &err)) { slog_event("error", "%s", err.msg); goto out; }
    http_config hc = {
        .host = cfg->host, .port = cfg->port, .api_key = cfg->api_key, .cors_origin = cfg->cors_origin,
        .max_body = cfg->max_body, .max_connections = cfg->max_connections,
        .max_connections_per_client = cfg->max_connections_per_client, .mx = s->mx, .stopping = &s->stopping, .app = s,
    };
    if (!(s->http = http_start(&hc, routes, route_table(), &err))) { slog_event("error", "%s", err.msg); goto out; }
    log_listening(s);

    slog_event("loading", "%s", cfg->model_path);
    model_opts mo = { .n_threads = cfg->n_threads };
    if (!(s->m = model_load(cfg->model_path, &mo, &err))) { slog_event("error", "--model: %s", err.msg); goto out; }
    if (agent_template_init(&s->tpl, cfg->format, cfg->template_file, s->m, &err)) {
        slog_event("error", "%s", err.msg);
        goto out;
    }
    if ((s->copy_values = agent_copy_values(cfg->copy_values, s->m)) < 0) {
        slog_event("error", "--copy '%s': expected on, off or auto", cfg->copy_values);
        goto out;
    }
    if (agent_grammar_flag(cfg->grammar, &s->grammar)) goto out;
    s->candidates = cfg->candidates > 0 ? cfg->candidates : 0;   /* 0: agent_candidates decides per model */
    /* every worker holds a slot while it answers */
    int n_slots = cfg->slots > n_workers ? cfg->slots : n_workers;
    if (!(s->pc = pc_new(s->m, n_slots, cfg->n_ctx, &err))) { slog_event("error", "%s", err.msg); goto out; }
    if (n_workers > 1 && !(s->batch = batcher_new(s->m, BATCH_LINGER_US, &err))) { slog_event("error", "%s", err.msg); goto out; }
    if (!(s->reg = lora_registry_new(s->m, &err))) { slog_event("error", "%s", err.msg); goto out; }
    for (int i = 0; i < cfg->n_lora; i++)
        if (adapters_load_flag(s, cfg->lora[i], &err)) { slog_event("error", "%s", err.msg); goto out; }
    model_name(cfg->model_path, s->model_id, sizeof s->model_id);
    s->created = (long long)time(NULL);
    if (wq_start(s->wq, &err)) { slog_event("error", "%s", err.msg); goto out; }
    atomic_store_explicit(&s->ready, 1, memory_order_release);
    {
        json_t *o = json_object();
        json_object_set_new(o, "event", json_string("ready"));
        json_object_set_new(o, "model", json_string(s->model_id));
        json_object_set_new(o, "load_seconds", json_real((double)(long)(s->m->load_seconds * 1000) / 1000.0));
        json_object_set_new(o, "adapters", json_integer(lora_registry_count(s->reg)));
        json_object_set_new(o, "slots", json_integer(n_slots));
        json_object_set_new(o, "parallel", json_integer(n_workers));
        json_object_set_new(o, "ctx", json_integer(cfg->n_ctx));
        slog(o);
    }

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0) {}
    slog_event("shutdown", "%s: no new connections; finishing the running request", sig == SIGINT ? "SIGINT" : "SIGTERM");
    rc = 0;
out:
    atomic_store(&s->stopping, 1);
    if (s->http) http_quiesce(s->http);
    if (s->wq) wq_shutdown(s->wq, SHUTDOWN_GRACE_S);
    /* answers of the last jobs may still be on their way out: give them a
    ** moment before closing every connection */
    for (double t0 = clock_now_s(); s->mx && metrics_get_in_flight(s->mx) > 0 && clock_now_s() - t0 < DRAIN_S;)
        nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000000L }, NULL);
    http_stop(s->http);   /* after the worker: waiting handlers see their jobs end */
    wq_free(s->wq);
    batcher_free(s->batch);
    api_free(s);
    lora_registry_free(s->reg);
    pc_free(s->pc);
    model_free(s->m);
    sc_free(&s->schema);
    if (s->dbs)
        for (int i = 1; i < (cfg->parallel > 0 ? cfg->parallel : 1); i++) sb_close(s->dbs[i]);
    free(s->dbs);
    sb_close(s->db);
    prompt_template_free(&s->tpl);
    metrics_free(s->mx);
    free(s);
    if (rc == 0) slog_event("stopped", "clean shutdown");
    return rc;
}

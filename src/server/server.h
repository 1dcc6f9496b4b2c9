/*
** server.h — `sqlassist serve`: the state one server process shares
** between its HTTP threads and its model worker, and its life cycle.
**
** Threads:
**   - libmicrohttpd's listener and one thread per connection (http.c):
**     they parse and check requests, answer everything that needs no model
**     (page, schema, adapters, health, metrics) themselves, and wait for
**     model jobs or stream their events (jobs.c);
**   - --parallel worker threads (worker.c) that run the model jobs from a
**     bounded queue, each job on one worker with that worker's own --db
**     connection (dbs[job->worker]; a sandbox is used by one thread at a
**     time) and its own prefix-cache slot; conversations are locked one
**     request at a time (api.c);
**   - with more than one worker, the batcher's thread (engine/batcher.h),
**     the only one that runs the model (model_forward is not reentrant: the
**     thread pool is shared): the workers' decode steps become one pass;
**   - the main thread: loads the model, then waits for SIGINT/SIGTERM.
**
** Publication: everything set during loading (m, pc, reg, model_id) is
** written before `ready` is stored (release) and read only after `ready`
** was seen set (acquire); it stays unchanged until the worker and the
** HTTP threads have been stopped.
*/
#ifndef SA_SERVER_H
#define SA_SERVER_H

#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>

#include "agent/prompt.h"
#include "engine/lora.h"
#include "engine/model.h"
#include "engine/prefix_cache.h"
#include "sql/sandbox.h"
#include "sql/schema.h"

struct metrics;
struct work_queue;
struct http_server;
struct conv_store;
struct adapter_ids;
struct http_req;

#define SERVE_MAX_LORA 16

typedef struct server_config {
    const char *model_path, *db_path;
    const char *lora[SERVE_MAX_LORA];   /* NAME=PATH or PATH */
    int n_lora;
    const char *lora_dir;               /* NULL: adapters cannot be loaded at run time */
    const char *host;                   /* default 127.0.0.1 */
    int port;                           /* 0: any free port (logged) */
    const char *api_key;                /* NULL: no authentication */
    const char *cors_origin;            /* NULL: no CORS headers */
    int n_threads;                      /* 0: all cores */
    int n_ctx;
    int queue_max;                      /* jobs waiting, beyond the running one */
    int slots;                          /* prefix-cache slots (raised to `parallel` when fewer) */
    int parallel;                       /* jobs run at once (worker threads); 1: no batcher */
    long request_timeout_ms;
    size_t max_body;
    int max_connections;
    int max_connections_per_client;     /* sockets one client address may hold; 0: no bound */
    /* the agent */
    const char *template_file, *format;
    const char *copy_values;          /* --copy: on, off, auto/NULL */
    const char *grammar;              /* --grammar on/off (NULL: on) */
    int candidates;                   /* --candidates N (0: agent_candidates' default for the model) */
    int samples, max_attempts, n_predict;
    long max_rows, query_timeout_ms;
} server_config;

typedef struct server {
    server_config cfg;
    char lora_dir_real[PATH_MAX];       /* realpath of cfg.lora_dir, "" when none */
    /* set before the HTTP daemon starts, then read-only */
    prompt_template tpl;
    int copy_values;                    /* resolved --copy */
    int grammar, candidates;            /* resolved --grammar, --candidates (defaults of /api/ask) */
    sb_limits limits;
    sandbox *db;                        /* the --db connection of startup and worker 0 (== dbs[0]) */
    sandbox **dbs;                      /* [cfg.parallel]: worker i's own --db connection */
    sc_schema schema;
    char *schema_json;                  /* body of GET /api/schema */
    struct metrics *mx;
    struct work_queue *wq;
    struct http_server *http;
    struct conv_store *convs;           /* follow-up conversations (api.c; locked per conversation) */
    struct adapter_ids *aids;           /* instance ids of loaded adapters (adapters.c) */
    /* set while loading, published by `ready` */
    model *m;
    prefix_cache *pc;
    struct batcher *batch;              /* NULL with one worker */
    lora_registry *reg;
    char model_id[128];                 /* the base model's name in /v1/models */
    long long created;                  /* Unix time the model was ready ("created" in /v1/models) */
    atomic_int ready;
    atomic_int stopping;
} server;

/* Runs a server until SIGINT or SIGTERM; returns the process exit status
** (0 after a clean shutdown, 1 when something could not be set up). */
int server_main(const server_config *cfg);

/* Whether the model is loaded (acquire: after 1, m/pc/reg are usable). */
int server_ready(server *s);
/* Answers 503 "model is loading" (with Retry-After) and returns 0 while
** the model is not loaded yet; 1 when it is. */
int server_require_ready(server *s, struct http_req *r);

#endif

/*
** metrics.h — the server's counters and latency histograms, rendered in
** the Prometheus text exposition format for GET /metrics.
**
** Owns: request counts by endpoint and status, histograms (queue wait,
** prefill, decode, SQL execution, and total time by endpoint), token and
** cancellation counters. Gauges that live elsewhere (queue depth, memory,
** prefix-cache statistics) are passed in when rendering. Every function
** is thread-safe.
**
** Endpoint labels must be string literals (or otherwise outlive the
** metrics object): they are stored by pointer and compared by content.
*/
#ifndef SA_SERVER_METRICS_H
#define SA_SERVER_METRICS_H

#include <stdint.h>

#include "engine/batcher.h"
#include "engine/prefix_cache.h"

typedef struct metrics metrics;

enum mx_hist { MX_QUEUE_WAIT, MX_PREFILL, MX_DECODE, MX_SQL_EXEC, MX_N_HIST };

metrics *metrics_new(void);
void metrics_free(metrics *mx);

/* One finished request (status 499: the client left before an answer). */
void metrics_request(metrics *mx, const char *endpoint, int status);
/* Wall time of one request, from its first byte to its last. */
void metrics_total(metrics *mx, const char *endpoint, double seconds);
void metrics_observe(metrics *mx, enum mx_hist h, double seconds);
/* Tokens of one model job; decode_s > 0 updates the last tokens/s gauge. */
void metrics_tokens(metrics *mx, long prompt, long cached, long generated, double decode_s);
/* A model job stopped early; reason: "client_gone", "timeout", "shutdown". */
void metrics_cancelled(metrics *mx, const char *reason);
void metrics_in_flight(metrics *mx, int delta);
/* HTTP requests being handled now. */
int metrics_get_in_flight(metrics *mx);

/* Values owned by other modules, read at scrape time. */
typedef struct mx_gauges {
    int ready;
    int queue_depth, queue_capacity, jobs_running;
    double model_load_seconds;
    int64_t resident_bytes;       /* -1 when unknown */
    int adapters_loaded;
    int have_pc;
    pc_stats pc;
    int workers;                  /* --parallel */
    int have_batch;
    batcher_stats batch;
} mx_gauges;

/* The whole exposition text (malloc'd; NULL when out of memory). */
char *metrics_render(metrics *mx, const mx_gauges *g);

/* Resident set size of this process from /proc/self/statm, or -1. */
int64_t metrics_resident_bytes(void);

#endif

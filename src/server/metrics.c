/*
** metrics.c — see metrics.h. One mutex guards everything: updates are a
** handful per request, far from being contended.
*/
#include "metrics.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/strbuf.h"

/* Bucket bounds in seconds: model work spans milliseconds (a cached
** prefill) to minutes (a long generation on a slow CPU). */
static const double BOUNDS[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120 };
#define N_BOUNDS ((int)(sizeof BOUNDS / sizeof BOUNDS[0]))

typedef struct hist {
    uint64_t counts[N_BOUNDS + 1];   /* last: above every bound (+Inf only) */
    uint64_t n;
    double sum;
} hist;

typedef struct req_count { const char *endpoint; int status; uint64_t n; } req_count;
typedef struct ep_hist { const char *endpoint; hist h; } ep_hist;
typedef struct cancel_count { const char *reason; uint64_t n; } cancel_count;

/* Endpoints and statuses are few (routes x a dozen statuses), so flat
** arrays with linear search stay small and simple. */
#define MAX_REQ_COUNTS 256
#define MAX_EP 32
#define MAX_CANCEL 8

struct metrics {
    pthread_mutex_t mu;
    req_count req[MAX_REQ_COUNTS];
    int n_req;
    ep_hist total[MAX_EP];
    int n_total;
    hist h[MX_N_HIST];
    cancel_count cancel[MAX_CANCEL];
    int n_cancel;
    uint64_t tok_prompt, tok_cached, tok_generated;
    double last_tps;
    int in_flight;
};

metrics *metrics_new(void) {
    metrics *mx = calloc(1, sizeof *mx);
    if (mx) pthread_mutex_init(&mx->mu, NULL);
    return mx;
}

void metrics_free(metrics *mx) {
    if (!mx) return;
    pthread_mutex_destroy(&mx->mu);
    free(mx);
}

static void hist_add(hist *h, double v) {
    if (!(v >= 0)) v = 0;   /* also catches NaN */
    int i = 0;
    while (i < N_BOUNDS && v > BOUNDS[i]) i++;
    h->counts[i]++;
    h->n++;
    h->sum += v;
}

void metrics_request(metrics *mx, const char *endpoint, int status) {
    pthread_mutex_lock(&mx->mu);
    int i = 0;
    while (i < mx->n_req && !(mx->req[i].status == status && !strcmp(mx->req[i].endpoint, endpoint))) i++;
    if (i == mx->n_req && mx->n_req < MAX_REQ_COUNTS) mx->req[mx->n_req++] = (req_count){ endpoint, status, 0 };
    if (i < mx->n_req) mx->req[i].n++;
    pthread_mutex_unlock(&mx->mu);
}

void metrics_total(metrics *mx, const char *endpoint, double seconds) {
    pthread_mutex_lock(&mx->mu);
    int i = 0;
    while (i < mx->n_total && strcmp(mx->total[i].endpoint, endpoint)) i++;
    if (i == mx->n_total && mx->n_total < MAX_EP) {
        memset(&mx->total[i], 0, sizeof mx->total[i]);
        mx->total[mx->n_total++].endpoint = endpoint;
    }
    if (i < mx->n_total) hist_add(&mx->total[i].h, seconds);
    pthread_mutex_unlock(&mx->mu);
}

void metrics_observe(metrics *mx, enum mx_hist h, double seconds) {
    assert(h >= 0 && h < MX_N_HIST);
    pthread_mutex_lock(&mx->mu);
    hist_add(&mx->h[h], seconds);
    pthread_mutex_unlock(&mx->mu);
}

void metrics_tokens(metrics *mx, long prompt, long cached, long generated, double decode_s) {
    pthread_mutex_lock(&mx->mu);
    mx->tok_prompt += (uint64_t)(prompt > 0 ? prompt : 0);
    mx->tok_cached += (uint64_t)(cached > 0 ? cached : 0);
    mx->tok_generated += (uint64_t)(generated > 0 ? generated : 0);
    if (decode_s > 0 && generated > 0) mx->last_tps = (double)generated / decode_s;
    pthread_mutex_unlock(&mx->mu);
}

void metrics_cancelled(metrics *mx, const char *reason) {
    pthread_mutex_lock(&mx->mu);
    int i = 0;
    while (i < mx->n_cancel && strcmp(mx->cancel[i].reason, reason)) i++;
    if (i == mx->n_cancel && mx->n_cancel < MAX_CANCEL) mx->cancel[mx->n_cancel++] = (cancel_count){ reason, 0 };
    if (i < mx->n_cancel) mx->cancel[i].n++;
    pthread_mutex_unlock(&mx->mu);
}

void metrics_in_flight(metrics *mx, int delta) {
    pthread_mutex_lock(&mx->mu);
    mx->in_flight += delta;
    assert(mx->in_flight >= 0);
    pthread_mutex_unlock(&mx->mu);
}

int metrics_get_in_flight(metrics *mx) {
    pthread_mutex_lock(&mx->mu);
    int n = mx->in_flight;
    pthread_mutex_unlock(&mx->mu);
    return n;
}

int64_t metrics_resident_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    long size = 0, resident = 0;
    int ok = fscanf(f, "%ld %ld", &size, &resident) == 2;
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return ok && page > 0 ? (int64_t)resident * page : -1;
}

static void put_hist(strbuf *b, const char *name, const char *label, const hist *h) {
    char lab[160];
    uint64_t cum = 0;
    for (int i = 0; i <= N_BOUNDS; i++) {
        cum += h->counts[i];
        char le[32];
        if (i < N_BOUNDS) snprintf(le, sizeof le, "%g", BOUNDS[i]);
        else snprintf(le, sizeof le, "+Inf");
        snprintf(lab, sizeof lab, "%s%sle=\"%s\"", label ? label : "", label ? "," : "", le);
        strbuf_printf(b, "%s_bucket{%s} %llu\n", name, lab, (unsigned long long)cum);
    }
    const char *open = label ? "{" : "", *close = label ? "}" : "";
    strbuf_printf(b, "%s_sum%s%s%s %.6f\n", name, open, label ? label : "", close, h->sum);
    strbuf_printf(b, "%s_count%s%s%s %llu\n", name, open, label ? label : "", close, (unsigned long long)h->n);
}

static void head(strbuf *b, const char *name, const char *type, const char *help) {
    strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *metrics_render(metrics *mx, const mx_gauges *g) {
    static const char *const HNAME[MX_N_HIST] = {
        "sqlassist_queue_wait_seconds", "sqlassist_prefill_seconds", "sqlassist_decode_seconds",
        "sqlassist_sql_execution_seconds",
    };
    static const char *const HHELP[MX_N_HIST] = {
        "Time model jobs waited in the queue.", "Prompt processing time per generation.",
        "Token generation time per generation.", "SQL execution time per statement run by a job.",
    };
    strbuf b;
    strbuf_init(&b);
    pthread_mutex_lock(&mx->mu);
    head(&b, "sqlassist_http_requests_total", "counter", "HTTP requests answered, by endpoint and status (499: client left first).");
    for (int i = 0; i < mx->n_req; i++)
        strbuf_printf(&b, "sqlassist_http_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n", mx->req[i].endpoint,
                      mx->req[i].status, (unsigned long long)mx->req[i].n);
    head(&b, "sqlassist_request_duration_seconds", "histogram", "Wall time of HTTP requests, first byte in to last byte out.");
    for (int i = 0; i < mx->n_total; i++) {
        char lab[96];
        snprintf(lab, sizeof lab, "endpoint=\"%s\"", mx->total[i].endpoint);
        put_hist(&b, "sqlassist_request_duration_seconds", lab, &mx->total[i].h);
    }
    for (int h = 0; h < MX_N_HIST; h++) {
        head(&b, HNAME[h], "histogram", HHELP[h]);
        put_hist(&b, HNAME[h], NULL, &mx->h[h]);
    }
    head(&b, "sqlassist_prompt_tokens_total", "counter", "Prompt tokens of model jobs (cached ones included).");
    strbuf_printf(&b, "sqlassist_prompt_tokens_total %llu\n", (unsigned long long)mx->tok_prompt);
    head(&b, "sqlassist_cached_prompt_tokens_total", "counter", "Prompt tokens taken from the prefix cache.");
    strbuf_printf(&b, "sqlassist_cached_prompt_tokens_total %llu\n", (unsigned long long)mx->tok_cached);
    head(&b, "sqlassist_generated_tokens_total", "counter", "Tokens generated.");
    strbuf_printf(&b, "sqlassist_generated_tokens_total %llu\n", (unsigned long long)mx->tok_generated);
    head(&b, "sqlassist_tokens_per_second", "gauge", "Decode speed of the last generation.");
    strbuf_printf(&b, "sqlassist_tokens_per_second %.3f\n", mx->last_tps);
    head(&b, "sqlassist_jobs_cancelled_total", "counter", "Model jobs stopped early, by reason.");
    static const char *const REASONS[] = { "client_gone", "timeout", "shutdown" };
    for (int r = 0; r < 3; r++) {
        uint64_t n = 0;
        for (int i = 0; i < mx->n_cancel; i++)
            if (!strcmp(mx->cancel[i].reason, REASONS[r])) n = mx->cancel[i].n;
        strbuf_printf(&b, "sqlassist_jobs_cancelled_total{reason=\"%s\"} %llu\n", REASONS[r], (unsigned long long)n);
    }
    head(&b, "sqlassist_http_requests_in_flight", "gauge", "HTTP requests being handled now.");
    strbuf_printf(&b, "sqlassist_http_requests_in_flight %d\n", mx->in_flight);
    pthread_mutex_unlock(&mx->mu);

    head(&b, "sqlassist_ready", "gauge", "1 once the model is loaded and requests are served.");
    strbuf_printf(&b, "sqlassist_ready %d\n", g->ready);
    head(&b, "sqlassist_queue_depth", "gauge", "Model jobs waiting in the queue.");
    strbuf_printf(&b, "sqlassist_queue_depth %d\n", g->queue_depth);
    head(&b, "sqlassist_queue_capacity", "gauge", "Queue bound (--queue); beyond it requests get 503.");
    strbuf_printf(&b, "sqlassist_queue_capacity %d\n", g->queue_capacity);
    head(&b, "sqlassist_jobs_running", "gauge", "Model jobs running now.");
    strbuf_printf(&b, "sqlassist_jobs_running %d\n", g->jobs_running);
    head(&b, "sqlassist_workers", "gauge", "Jobs that can run at once (--parallel).");
    strbuf_printf(&b, "sqlassist_workers %d\n", g->workers);
    if (g->have_batch) {
        head(&b, "sqlassist_batch_decode_passes_total", "counter", "Decode passes of the batcher (one read of the weights each).");
        strbuf_printf(&b, "sqlassist_batch_decode_passes_total %ld\n", g->batch.steps);
        head(&b, "sqlassist_batch_decode_rows_total", "counter", "Sequences stepped by those passes (rows / passes: the mean batch).");
        strbuf_printf(&b, "sqlassist_batch_decode_rows_total %ld\n", g->batch.rows);
        head(&b, "sqlassist_batch_prompt_chunks_total", "counter", "Prompt chunks and draft verifications run between decode passes.");
        strbuf_printf(&b, "sqlassist_batch_prompt_chunks_total %ld\n", g->batch.chunks);
        head(&b, "sqlassist_batch_prompt_chunks_joined_total", "counter", "Prompt chunks run in one pass with other requests' prompt chunks.");
        strbuf_printf(&b, "sqlassist_batch_prompt_chunks_joined_total %ld\n", g->batch.joined);
        head(&b, "sqlassist_batch_max_rows", "gauge", "The largest decode pass so far.");
        strbuf_printf(&b, "sqlassist_batch_max_rows %d\n", g->batch.max_rows);
        head(&b, "sqlassist_batch_seconds_total", "counter", "Seconds the batcher's thread spent: in decode passes, in prompt chunks (and draft verifications), waiting for sequences still sampling, in passes of decode rows and prompt chunks together.");
        strbuf_printf(&b, "sqlassist_batch_seconds_total{phase=\"decode\"} %.6f\n", g->batch.decode_s);
        strbuf_printf(&b, "sqlassist_batch_seconds_total{phase=\"prompt\"} %.6f\n", g->batch.prompt_s);
        strbuf_printf(&b, "sqlassist_batch_seconds_total{phase=\"linger\"} %.6f\n", g->batch.linger_s);
        strbuf_printf(&b, "sqlassist_batch_seconds_total{phase=\"fused\"} %.6f\n", g->batch.fused_s);
        head(&b, "sqlassist_batch_fused_passes_total", "counter", "Passes that ran decode rows and prompt chunks together (counted among the decode passes too).");
        strbuf_printf(&b, "sqlassist_batch_fused_passes_total %ld\n", g->batch.fused);
    }
    head(&b, "sqlassist_model_load_seconds", "gauge", "Time taken to load the model.");
    strbuf_printf(&b, "sqlassist_model_load_seconds %.3f\n", g->model_load_seconds);
    head(&b, "sqlassist_resident_memory_bytes", "gauge", "Resident set size of the process (/proc/self/statm).");
    strbuf_printf(&b, "sqlassist_resident_memory_bytes %lld\n", (long long)g->resident_bytes);
    head(&b, "sqlassist_adapters_loaded", "gauge", "LoRA adapters loaded.");
    strbuf_printf(&b, "sqlassist_adapters_loaded %d\n", g->adapters_loaded);
    if (g->have_pc) {
        head(&b, "sqlassist_prefix_cache_lookups_total", "counter", "Prefix-cache slot acquisitions.");
        strbuf_printf(&b, "sqlassist_prefix_cache_lookups_total %ld\n", g->pc.lookups);
        head(&b, "sqlassist_prefix_cache_hits_total", "counter", "Acquisitions that reused cached tokens.");
        strbuf_printf(&b, "sqlassist_prefix_cache_hits_total %ld\n", g->pc.hits);
        head(&b, "sqlassist_prefix_cache_reused_tokens_total", "counter", "Prompt tokens not recomputed thanks to the cache.");
        strbuf_printf(&b, "sqlassist_prefix_cache_reused_tokens_total %lld\n", g->pc.tokens_reused);
        head(&b, "sqlassist_prefix_cache_copies_total", "counter", "Acquisitions whose prefix was copied from a slot in use.");
        strbuf_printf(&b, "sqlassist_prefix_cache_copies_total %ld\n", g->pc.copies);
    }
    return strbuf_take(&b);
}

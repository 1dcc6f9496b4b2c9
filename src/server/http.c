/*
** http.c — see http.h.
**
** Why one thread per connection: a request waiting for the model blocks
** its own thread (in the handler, or in the event-stream reader) and
** nothing else, and it can watch its own socket for a client that left
** without any cross-thread bookkeeping. The connection limit bounds the
** threads; the job queue, not the connection count, bounds model work.
*/
#include "http.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine/generate.h"
#include "metrics.h"
#include "util.h"
#include "util/strbuf.h"

/* Idle keep-alive connections are closed after this long. */
#define IDLE_TIMEOUT_S 60
/* A client streaming an oversize chunked body is cut off after this much. */
#define MAX_DISCARD (64u << 20)
/* How often a waiting thread looks at its client's socket. */
#define POLL_MS 100
/* Comment lines keep idle event streams (and proxies) alive. */
#define SSE_PING_S 15.0
#define MAX_EXTRA_HEADERS 8

struct http_server {
    server *s;
    struct MHD_Daemon *d;
    const http_route *routes;
    int n_routes;
    int port;
    int quiesced;
    atomic_ulong seq;
    char id_prefix[24];
};

struct http_req {
    http_server *h;
    struct MHD_Connection *c;
    char method[16];
    char *path;
    const http_route *route;
    const char *endpoint;
    char id[72];
    double t0;
    strbuf body;
    int too_big;
    size_t discarded;
    int responded, status;
    int client_gone;
    int close;
    int checked;
    job *j;
    char *hname[MAX_EXTRA_HEADERS], *hval[MAX_EXTRA_HEADERS];
    int n_hdr;
};

/* ---- accessors ------------------------------------------------------------------ */

const char *http_method(const http_req *r) { return r->method; }
const char *http_path(const http_req *r) { return r->path; }
const char *http_id(const http_req *r) { return r->id; }

const char *http_body(const http_req *r, size_t *len) {
    if (len) *len = r->body.len;
    return r->body.p ? r->body.p : "";
}

const char *http_header(const http_req *r, const char *name) {
    return MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, name);
}

int http_wants_sse(const http_req *r) {
    const char *a = http_header(r, "Accept");
    return a && strcasestr(a, "text/event-stream") != NULL;
}

void http_add_header(http_req *r, const char *name, const char *value) {
    if (r->n_hdr == MAX_EXTRA_HEADERS) return;
    assert(r->n_hdr < MAX_EXTRA_HEADERS);
    r->hname[r->n_hdr] = strdup(name);
    r->hval[r->n_hdr] = strdup(value);
    r->n_hdr++;
}

/* ---- responses ------------------------------------------------------------------ */

static void queue_response(http_req *r, int status, struct MHD_Response *resp, const char *ctype) {
    assert(!r->responded);
    http_server *h = r->h;
    server *s = h->s;
    r->responded = 1;
    r->status = status;
    metrics_request(s->mx, r->endpoint, status);
    if (!resp) {
        slog_event("error", "request %s: out of memory building the response", r->id);
        return;
    }
    if (ctype) MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    int has_cache = 0;
    for (int i = 0; i < r->n_hdr; i++) {
        if (!r->hname[i] || !r->hval[i]) continue;
        MHD_add_response_header(resp, r->hname[i], r->hval[i]);
        if (!strcasecmp(r->hname[i], "Cache-Control")) has_cache = 1;
    }
    if (!has_cache) MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (s->cfg.cors_origin) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", s->cfg.cors_origin);
        MHD_add_response_header(resp, "Access-Control-Expose-Headers", "X-Request-Id, Retry-After");
        MHD_add_response_header(resp, "Vary", "Origin");
    }
    if (r->close || atomic_load(&s->stopping)) MHD_add_response_header(resp, "Connection", "close");
    if (MHD_queue_response(r->c, (unsigned)status, resp) != MHD_YES)
        slog_event("error", "request %s: libmicrohttpd refused the response", r->id);
    MHD_destroy_response(resp);
}

void http_send(http_req *r, int status, const char *content_type, char *body, size_t len) {
    struct MHD_Response *resp;
    if (body) resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    else resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) free(body);
    queue_response(r, status, resp, content_type);
}

void http_send_static(http_req *r, int status, const char *content_type, const char *body, size_t len) {
    queue_response(r, status, MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_PERSISTENT), content_type);
}

void http_send_json(http_req *r, int status, json_t *o) {
    char *s = sj_dump_take(o);
    if (!s) { http_send_error(r, 500, NULL, "out of memory"); return; }
    http_send(r, status, "application/json", s, strlen(s));
}

void http_send_error(http_req *r, int status, const char *param, const char *fmt, ...) {
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *b = sj_error_body(status, param, NULL, msg);
    http_send(r, status, "application/json", b, strlen(b));
}

/* ---- JSON bodies --------------------------------------------------------------------- */

json_t *http_body_json(http_req *r) {
    size_t n;
    const char *b = http_body(r, &n);
    if (n == 0) { http_send_error(r, 400, "body", "the body is empty: expected a JSON object"); return NULL; }
    json_error_t je;
    json_t *o = json_loadb(b, n, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        http_send_error(r, 400, "body", "malformed JSON body: %s (line %d, column %d)", je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        http_send_error(r, 400, "body", "the body must be a JSON object");
        return NULL;
    }
    return o;
}

int http_json_string(http_req *r, json_t *o, const char *key, int required, const char **out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (!required) return 0;
        http_send_error(r, 400, key, "missing field '%s' (a string)", key);
        return -1;
    }
    if (!json_is_string(v)) { http_send_error(r, 400, key, "field '%s' must be a string", key); return -1; }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        http_send_error(r, 400, key, "field '%s' contains a NUL character", key);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

int http_json_int(http_req *r, json_t *o, const char *key, long lo, long hi, long *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) { http_send_error(r, 400, key, "field '%s' must be an integer", key); return -1; }
    double d = json_number_value(v);
    if (!(d >= (double)lo && d <= (double)hi)) {
        http_send_error(r, 400, key, "field '%s' must be an integer between %ld and %ld", key, lo, hi);
        return -1;
    }
    /* 3.0 is accepted as 3: JavaScript clients cannot tell them apart */
    if (d != (double)(long)d) { http_send_error(r, 400, key, "field '%s' must be an integer", key); return -1; }
    *out = (long)d;
    return 0;
}

int http_json_number(http_req *r, json_t *o, const char *key, double lo, double hi, double *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) { http_send_error(r, 400, key, "field '%s' must be a number", key); return -1; }
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi)) {
        http_send_error(r, 400, key, "field '%s' must be between %g and %g", key, lo, hi);
        return -1;
    }
    *out = d;
    return 0;
}

int http_json_bool(http_req *r, json_t *o, const char *key, int *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) { http_send_error(r, 400, key, "field '%s' must be true or false", key); return -1; }
    *out = json_is_true(v);
    return 0;
}

/* ---- waiting for model jobs ---------------------------------------------------------- */

static int conn_fd(http_req *r) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

/* Whether the peer of fd has closed or reset its side. Only called by the
** connection's own thread, so the descriptor cannot be closed meanwhile.
** A half-close counts as leaving: HTTP clients do not half-close to wait
** for an answer. */
static int peer_gone(int fd) {
    if (fd < 0) return 0;
    struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };
    if (poll(&p, 1, 0) <= 0) return 0;
    if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) return 1;
    char ch;
    ssize_t k = recv(fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
    if (k == 0) return 1;
    if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return 1;
    return 0;   /* data: a pipelined request, not a goodbye */
}

void http_attach_job(http_req *r, job *j) {
    assert(!r->j);
    job_retain(j);
    r->j = j;
}

int http_wait_job(http_req *r, job *j) {
    int fd = conn_fd(r);
    pthread_mutex_lock(&j->mu);
    while (j->state != JOB_DONE) {
        job_wait_locked(j, POLL_MS);
        if (j->state == JOB_DONE) break;
        pthread_mutex_unlock(&j->mu);
        int gone = peer_gone(fd);
        pthread_mutex_lock(&j->mu);
        if (gone) {
            job_cancel(j, JOB_CLIENT_GONE);
            r->client_gone = 1;
            break;
        }
    }
    pthread_mutex_unlock(&j->mu);
    return r->client_gone ? -1 : 0;
}

void http_send_job(http_req *r, job *j) {
    pthread_mutex_lock(&j->mu);
    assert(j->state == JOB_DONE);
    int status = j->status;
    char *body = j->body;
    j->body = NULL;
    pthread_mutex_unlock(&j->mu);
    if (status == 503) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", r->h->s->wq ? wq_retry_after(r->h->s->wq) : 1);
        http_add_header(r, "Retry-After", ra);
    }
    if (!body) { http_send_error(r, status >= 400 ? status : 500, NULL, "no answer"); return; }
    http_send(r, status, "application/json", body, strlen(body));
}

typedef struct sse_ctx {
    job *j;
    int fd;
    double last_out;
} sse_ctx;

/* libmicrohttpd pulls the stream through here on the connection's thread:
** it blocks until the worker has produced more, the job ends, or the
** client is found gone. */
static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
    sse_ctx *x = cls;
    job *j = x->j;
    pthread_mutex_lock(&j->mu);
    for (;;) {
        size_t avail = j->ev.len - j->ev_off;
        if (avail) {
            size_t n = avail < max ? avail : max;
            memcpy(buf, j->ev.p + j->ev_off, n);
            j->ev_off += n;
            if (j->ev_off == j->ev.len) {   /* all sent: reuse the buffer from its start */
                j->ev.len = 0;
                j->ev_off = 0;
                j->ev.p[0] = 0;
            }
            pthread_mutex_unlock(&j->mu);
            x->last_out = gen_now();
            return (ssize_t)n;
        }
        if (j->state == JOB_DONE) {
            pthread_mutex_unlock(&j->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        job_wait_locked(j, POLL_MS);
        if (j->ev.len > j->ev_off || j->state == JOB_DONE) continue;
        pthread_mutex_unlock(&j->mu);
        if (peer_gone(x->fd)) {
            job_cancel(j, JOB_CLIENT_GONE);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        static const char ping[] = ": ping\n\n";
        if (gen_now() - x->last_out > SSE_PING_S && max >= sizeof ping - 1) {
            memcpy(buf, ping, sizeof ping - 1);
            x->last_out = gen_now();
            return (ssize_t)(sizeof ping - 1);
        }
        pthread_mutex_lock(&j->mu);
    }
}

static void sse_free(void *cls) {
    sse_ctx *x = cls;
    /* the response is gone before the job ended: nobody will read the rest */
    pthread_mutex_lock(&x->j->mu);
    int done = x->j->state == JOB_DONE;
    pthread_mutex_unlock(&x->j->mu);
    if (!done) job_cancel(x->j, JOB_CLIENT_GONE);
    job_release(x->j);
    free(x);
}

void http_stream_job(http_req *r, job *j) {
    sse_ctx *x = calloc(1, sizeof *x);
    if (!x) { http_send_error(r, 500, NULL, "out of memory"); return; }
    job_retain(j);
    x->j = j;
    x->fd = conn_fd(r);
    x->last_out = gen_now();
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, sse_read, x, sse_free);
    if (!resp) { sse_free(x); http_send_error(r, 500, NULL, "out of memory"); return; }
    http_add_header(r, "Cache-Control", "no-cache");
    http_add_header(r, "X-Accel-Buffering", "no");   /* nginx: pass events through at once */
    queue_response(r, 200, resp, "text/event-stream; charset=utf-8");
}

/* ---- the request cycle ---------------------------------------------------------------- */

static int valid_id(const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              ch == '_' || ch == '.' || ch == ':'))
            return 0;
    }
    return 1;
}

static void req_free(http_req *r) {
    for (int i = 0; i < r->n_hdr; i++) { free(r->hname[i]); free(r->hval[i]); }
    strbuf_free(&r->body);
    job_release(r->j);
    free(r->path);
    free(r);
}

static int path_matches(const http_route *rt, const char *path) {
    size_t n = strlen(rt->path);
    if (n > 1 && rt->path[n - 1] == '/') return strncmp(path, rt->path, n) == 0 && path[n] != 0;
    return strcmp(path, rt->path) == 0;
}

/* Compares in time that depends only on the lengths, not on where the
** strings differ (no timing oracle for the key). */
static int key_equal(const char *given, const char *key) {
    size_t ng = strlen(given), nk = strlen(key);
    unsigned char d = (unsigned char)(ng != nk);
    for (size_t i = 0; i < nk; i++) d |= (unsigned char)((i < ng ? given[i] : 0) ^ key[i]);
    return d == 0;
}

static int authorized(http_req *r) {
    const char *key = r->h->s->cfg.api_key;
    if (!key) return 1;
    const char *a = http_header(r, "Authorization");
    if (!a || strncasecmp(a, "Bearer ", 7) != 0) return 0;
    a += 7;
    while (*a == ' ') a++;
    return key_equal(a, key);
}

static int protected_path(const char *p) {
    return !strncmp(p, "/api/", 5) || !strcmp(p, "/api") || !strncmp(p, "/v1/", 4) || !strcmp(p, "/v1");
}

/* The checks made before any body is read (see http.h). Sends the answer
** when one of them decides it. */
static void precheck(http_req *r) {
    http_server *h = r->h;
    server *s = h->s;
    const char *m = !strcmp(r->method, "HEAD") ? "GET" : r->method;
    const http_route *path_hit = NULL, *hit = NULL;
    char allow[96] = "";
    for (int i = 0; i < h->n_routes; i++) {
        const http_route *rt = &h->routes[i];
        if (!path_matches(rt, r->path)) continue;
        if (!path_hit) path_hit = rt;
        if (!strcmp(rt->method, m) && !hit) hit = rt;
        if (!strstr(allow, rt->method) && strlen(allow) + strlen(rt->method) + 8 < sizeof allow) {
            if (allow[0]) strcat(allow, ", ");
            strcat(allow, rt->method);
            if (!strcmp(rt->method, "GET")) strcat(allow, ", HEAD");
        }
    }
    r->route = hit;
    r->endpoint = hit ? hit->endpoint : path_hit ? path_hit->endpoint : "other";
    if (atomic_load(&s->stopping)) {
        r->close = 1;
        http_add_header(r, "Retry-After", "1");
        http_send_error(r, 503, NULL, "the server is shutting down");
        return;
    }
    if (!strcmp(r->method, "OPTIONS") && path_hit) {
        if (s->cfg.cors_origin) {
            http_add_header(r, "Access-Control-Allow-Methods", allow);
            http_add_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, X-Request-Id");
            http_add_header(r, "Access-Control-Max-Age", "600");
            http_send(r, 204, NULL, NULL, 0);
            return;
        }
    }
    if (protected_path(r->path) && !authorized(r)) {
        http_add_header(r, "WWW-Authenticate", "Bearer");
        http_send_error(r, 401, "Authorization",
                        "missing or wrong API key: send the header 'Authorization: Bearer KEY'");
        return;
    }
    if (!path_hit) {
        http_send_error(r, 404, NULL, "no route for %s %.200s", r->method, r->path);
        return;
    }
    if (!hit) {
        http_add_header(r, "Allow", allow);
        http_send_error(r, 405, NULL, "method %s is not allowed on %.200s (allowed: %s)", r->method, r->path, allow);
        return;
    }
    const char *cl = http_header(r, "Content-Length");
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || end == cl || n > s->cfg.max_body) {
            http_send_error(r, 413, "body", "the request body (%s bytes) is larger than the limit of %zu bytes (--max-body)",
                            cl, s->cfg.max_body);
            return;
        }
    }
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                 const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    http_server *h = cls;
    http_req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->h = h;
        r->c = c;
        r->t0 = gen_now();
        snprintf(r->method, sizeof r->method, "%s", method);
        r->path = strdup(url ? url : "/");
        strbuf_init(&r->body);
        const char *rid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
        if (valid_id(rid)) snprintf(r->id, sizeof r->id, "%s", rid);
        else snprintf(r->id, sizeof r->id, "%s-%lu", h->id_prefix, (unsigned long)atomic_fetch_add(&h->seq, 1) + 1);
        r->endpoint = "other";
        *con_cls = r;
        metrics_in_flight(h->s->mx, 1);
        if (!r->path) { http_send_error(r, 500, NULL, "out of memory"); return MHD_YES; }
        /* With a body, decide before reading it (no point receiving what
        ** will be refused); without one, at the next call, so that the
        ** answer does not cost the client its keep-alive connection. */
        if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length") ||
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding")) {
            r->checked = 1;
            precheck(r);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!r->responded) {
            size_t n = *upload_size;
            if (r->too_big || r->body.len + n > h->s->cfg.max_body) {
                r->too_big = 1;
                r->discarded += n;
                if (r->discarded > MAX_DISCARD) return MHD_NO;
            } else {
                strbuf_append(&r->body, upload, n);
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (!r->checked) {
        r->checked = 1;
        precheck(r);
    }
    if (r->responded) return MHD_YES;
    if (r->too_big) {
        http_send_error(r, 413, "body", "the request body is larger than the limit of %zu bytes (--max-body)",
                        h->s->cfg.max_body);
        return MHD_YES;
    }
    if (r->body.oom) { http_send_error(r, 500, NULL, "out of memory reading the body"); return MHD_YES; }
    assert(r->route);
    r->route->fn(h->s, r);
    /* no response: the client left while its job ran; drop the connection */
    return r->responded ? MHD_YES : MHD_NO;
}

static const char *term_word(enum MHD_RequestTerminationCode t) {
    switch (t) {
    case MHD_REQUEST_TERMINATED_COMPLETED_OK: return "ok";
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED: return "timeout";
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN: return "shutdown";
    case MHD_REQUEST_TERMINATED_CLIENT_ABORT: return "client_abort";
    case MHD_REQUEST_TERMINATED_READ_ERROR: return "read_error";
    default: return "error";
    }
}

static void put_ms(json_t *o, const char *k, double s) { json_object_set_new(o, k, json_real((double)(long)(s * 1e5) / 100.0)); }

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    http_server *h = cls;
    http_req *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    double total = gen_now() - r->t0;
    int status = r->responded ? r->status : 499;
    if (!r->responded) metrics_request(h->s->mx, r->endpoint, 499);
    metrics_total(h->s->mx, r->endpoint, total);
    metrics_in_flight(h->s->mx, -1);

    json_t *o = json_object();
    json_object_set_new(o, "event", json_string("request"));
    json_object_set_new(o, "id", json_string(r->id));
    json_object_set_new(o, "method", sj_str(r->method));
    json_object_set_new(o, "path", sj_strn(r->path ? r->path : "", r->path ? strnlen(r->path, 256) : 0));
    json_object_set_new(o, "endpoint", json_string(r->endpoint));
    json_object_set_new(o, "status", json_integer(status));
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        char host[INET6_ADDRSTRLEN] = "";
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET) inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, host, sizeof host);
        else if (sa->sa_family == AF_INET6) inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, host, sizeof host);
        json_object_set_new(o, "remote", json_string(host));
    }
    const char *fwd = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For");
    if (fwd) json_object_set_new(o, "forwarded_for", sj_strn(fwd, strnlen(fwd, 128)));
    json_object_set_new(o, "bytes_in", json_integer((json_int_t)(r->body.len + r->discarded)));
    put_ms(o, "total_ms", total);
    json_object_set_new(o, "term", json_string(term_word(toe)));
    if (r->client_gone || toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT) json_object_set_new(o, "client_gone", json_true());
    if (r->j && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
        /* the request ended before its job: nobody will read the answer */
        pthread_mutex_lock(&r->j->mu);
        int done = r->j->state == JOB_DONE;
        pthread_mutex_unlock(&r->j->mu);
        if (!done) job_cancel(r->j, JOB_CLIENT_GONE);
    }
    if (r->j) {
        job *j = r->j;
        pthread_mutex_lock(&j->mu);
        if (j->state == JOB_DONE) {
            job_stats st = j->st;
            json_object_set_new(o, "job_status", json_integer(j->status));
            put_ms(o, "queue_ms", st.queue_s);
            put_ms(o, "run_ms", st.run_s);
            put_ms(o, "prefill_ms", st.prefill_s);
            put_ms(o, "decode_ms", st.decode_s);
            put_ms(o, "execute_ms", st.execute_s);
            json_object_set_new(o, "prompt_tokens", json_integer(st.prompt_tokens));
            json_object_set_new(o, "cached_tokens", json_integer(st.cached_tokens));
            json_object_set_new(o, "generated_tokens", json_integer(st.gen_tokens));
            if (st.attempts) json_object_set_new(o, "attempts", json_integer(st.attempts));
            if (st.ok >= 0) json_object_set_new(o, "ok", json_boolean(st.ok));
        } else {
            json_object_set_new(o, "job_status", json_string("unfinished"));
        }
        int stop = atomic_load(&j->stop);
        if (stop != JOB_GO)
            json_object_set_new(o, "cancelled", json_string(stop == JOB_TIMED_OUT ? "timeout" : stop == JOB_SHUTDOWN ? "shutdown" : "client_gone"));
        pthread_mutex_unlock(&j->mu);
    }
    slog(o);
    req_free(r);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = 0;
    slog_event("httpd", "%s", msg);
}

/* ---- life cycle ------------------------------------------------------------------------ */

http_server *http_start(server *s, const http_route *routes, int n_routes, sa_err *err) {
    http_server *h = calloc(1, sizeof *h);
    if (!h) { sa_fail(err, "out of memory"); return NULL; }
    h->s = s;
    h->routes = routes;
    h->n_routes = n_routes;
    atomic_init(&h->seq, 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* ids unique across restarts and replicas without coordination */
    snprintf(h->id_prefix, sizeof h->id_prefix, "%x%05x", (unsigned)getpid() & 0xfffff, (unsigned)(ts.tv_sec & 0xfffff));

    const char *host = s->cfg.host ? s->cfg.host : "127.0.0.1";
    char port[16];
    snprintf(port, sizeof port, "%d", s->cfg.port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *ai = NULL;
    int gr = getaddrinfo(host, port, &hints, &ai);
    if (gr || !ai) {
        sa_fail(err, "--host %s: %s", host, gai_strerror(gr));
        free(h);
        return NULL;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    h->d = MHD_start_daemon(flags, (uint16_t)s->cfg.port, NULL, NULL, on_access, h,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
                            MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->cfg.max_connections,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!h->d) {
        sa_fail(err, "cannot listen on %s port %d (in use, or not an address of this machine?)", host, s->cfg.port);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : s->cfg.port;
    return h;
}

int http_port(const http_server *h) { return h->port; }

void http_quiesce(http_server *h) {
    if (h->quiesced) return;
    h->quiesced = 1;
    MHD_socket fd = MHD_quiesce_daemon(h->d);
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

void http_stop(http_server *h) {
    if (!h) return;
    MHD_stop_daemon(h->d);
    free(h);
}

/*
** http.c — see http.h.
**
** Why one thread per connection: a request waiting for work done
** elsewhere (the model's, in sqlassist) blocks its own thread (in the
** handler, or in the event-stream reader) and nothing else, and it can
** watch its own socket for a client that left without any cross-thread
** bookkeeping. The connection limit bounds the threads; whoever does the
** work bounds it (the model's job queue), not the connection count.
**
** The front door: libmicrohttpd never sees a connection before its first
** request head is complete. Our own thread accepts, peeks (MSG_PEEK, so
** the bytes stay for libmicrohttpd) until the head is there, checks it
** (syntax, version, sizes, Host, Content-Length / Transfer-Encoding) and
** only then hands the socket over (MHD_add_connection). A client that
** connects and sends nothing, or a byte a second, holds a socket for at
** most HEAD_TIMEOUT_S and never a connection thread or a slot; each
** address has a bound on its sockets (its oldest silent one gives way to a
** new one); a reserve of slots is kept for /health and /metrics. The same
** thread watches the connections libmicrohttpd has: the next head on a
** kept-alive connection must be complete within IDLE_TIMEOUT_S and a body
** must arrive at BODY_MIN_RATE, or the socket is shut down.
*/
#include "http.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "util.h"
#include "util/clock.h"
#include "util/strbuf.h"

/* Idle keep-alive connections are closed after this long, and the next
** request head on one must be complete within it. */
#define IDLE_TIMEOUT_S 60
/* A new connection's first request head must be complete within this. */
#define HEAD_TIMEOUT_S 10.0
/* A body must arrive at this rate on average, after a grace period. */
#define BODY_GRACE_S 10.0
#define BODY_MIN_RATE 16384.0
/* Longest request head, and longest request target, the front door takes. */
#define HEAD_MAX 16384
#define TARGET_MAX 8192
#define HEADERS_MAX 100
/* A refused client's socket is read and dropped this long after the
** answer, so that closing it does not reset the answer away. */
#define LINGER_S 2.0
/* An oversize chunked body is read and dropped up to this much past
** --max-body (then answered 413 and closed). */
#define MAX_DISCARD (16u << 20)
/* How often a waiting thread looks at its client's socket. */
#define POLL_MS 100
/* Comment lines keep idle event streams (and proxies) alive. */
#define SSE_PING_S 15.0
#define MAX_EXTRA_HEADERS 8

/* One client socket, from accept to close: in the front door (pending
** its first head, or lingering after an answer) or libmicrohttpd's. */
typedef enum conn_where { C_PENDING, C_LINGER, C_ACTIVE } conn_where;
typedef enum conn_phase { P_HEAD, P_BODY, P_BUSY } conn_phase;

typedef struct conn {
    struct conn *prev, *next;
    int fd;
    conn_where where;
    conn_phase phase;              /* C_ACTIVE: what the connection waits for */
    int started;                   /* libmicrohttpd announced it */
    char ip[INET6_ADDRSTRLEN];
    struct sockaddr_storage addr;
    socklen_t alen;
    double t_open, t_phase;        /* accept; start of the phase */
    double deadline;               /* 0: none */
    double stalled_until;          /* pending: no poll for input before this */
    size_t peeked;                 /* pending: bytes seen at the last peek */
    size_t body_bytes;
    int shut;                      /* shut down by the watchdog */
} conn;

/* What the front door and the watchdog did, logged once a second. */
typedef struct door_counts {
    long head_timeouts, body_timeouts, keepalive_timeouts, evicted, refused, reserve_503, bad_requests;
} door_counts;

struct http_server {
    http_config cfg;               /* its strings, metrics and flag borrowed */
    struct MHD_Daemon *d;
    const http_route *routes;
    int n_routes;
    int port;
    atomic_int quiesced;
    atomic_ulong seq;
    char id_prefix[24];
    /* the front door */
    int lfd;                       /* listening socket (-1 once closed) */
    int wake[2];                   /* self-pipe: quiesce or stop */
    pthread_t door;
    int door_started;
    atomic_int stop;
    pthread_mutex_t mu;            /* guards the list and every conn in it */
    conn *conns;
    int n_pending, n_active;
    int max_active, reserve, per_client, pending_max;
    door_counts counts;
    char last_ip[INET6_ADDRSTRLEN];
    double last_log;
};

static _Thread_local conn *tl_conn;   /* the connection of this libmicrohttpd thread */

/* Whether the server is shutting down (new requests get 503). */
static int stopping(const http_server *h) { return h->cfg.stopping && atomic_load(h->cfg.stopping); }

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
    http_done_fn done_fn;          /* http_on_done */
    void *done_cls;
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
    r->responded = 1;
    r->status = status;
    metrics_request(h->cfg.mx, r->endpoint, status);
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
    if (h->cfg.cors_origin) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", h->cfg.cors_origin);
        MHD_add_response_header(resp, "Access-Control-Expose-Headers", "X-Request-Id, Retry-After");
        MHD_add_response_header(resp, "Vary", "Origin");
    }
    if (r->close || stopping(h)) MHD_add_response_header(resp, "Connection", "close");
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

/* ---- long answers: the client's socket, event streams --------------------------------- */

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

int http_client_left(http_req *r) {
    if (!r->client_gone && peer_gone(conn_fd(r))) r->client_gone = 1;
    return r->client_gone;
}

void http_on_done(http_req *r, http_done_fn fn, void *cls) {
    assert(!r->done_fn);
    r->done_fn = fn;
    r->done_cls = cls;
}

/* Runs the request's end hook, once (log: its log line, or NULL). */
static void req_done(http_req *r, int complete, json_t *log) {
    http_done_fn fn = r->done_fn;
    r->done_fn = NULL;
    if (fn) fn(r->done_cls, complete, log);
}

typedef struct sse_ctx {
    const http_event_source *src;
    void *cls;
    int fd;
    double last_out;
} sse_ctx;

/* libmicrohttpd pulls the stream through here on the connection's thread:
** it blocks until the source has more, the stream ends, or the client is
** found gone; an idle stream gets a comment line now and then. */
static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
    sse_ctx *x = cls;
    for (;;) {
        long n = x->src->pull(x->cls, buf, max, POLL_MS);
        if (n > 0) {
            x->last_out = clock_now_s();
            return (ssize_t)n;
        }
        if (n == HTTP_STREAM_END) return MHD_CONTENT_READER_END_OF_STREAM;
        if (peer_gone(x->fd)) {
            if (x->src->client_left) x->src->client_left(x->cls);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        static const char ping[] = ": ping\n\n";
        if (clock_now_s() - x->last_out > SSE_PING_S && max >= sizeof ping - 1) {
            memcpy(buf, ping, sizeof ping - 1);
            x->last_out = clock_now_s();
            return (ssize_t)(sizeof ping - 1);
        }
    }
}

static void sse_free(void *cls) {
    sse_ctx *x = cls;
    x->src->close(x->cls);
    free(x);
}

void http_send_events(http_req *r, const http_event_source *src, void *cls) {
    sse_ctx *x = calloc(1, sizeof *x);
    if (!x) { src->close(cls); http_send_error(r, 500, NULL, "out of memory"); return; }
    x->src = src;
    x->cls = cls;
    x->fd = conn_fd(r);
    x->last_out = clock_now_s();
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, sse_read, x, sse_free);
    if (!resp) { sse_free(x); http_send_error(r, 500, NULL, "out of memory"); return; }
    http_add_header(r, "Cache-Control", "no-cache");
    http_add_header(r, "X-Accel-Buffering", "no");   /* nginx: pass events through at once */
    queue_response(r, 200, resp, "text/event-stream; charset=utf-8");
}

/* ---- connections: bookkeeping shared with the front door ----------------------------- */

static conn *conn_of(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* The connection now waits for ph (a head, a body, or nothing: a handler
** or a response is running), to be cut off at deadline (0: never). */
static void conn_phase_set(http_server *h, conn *k, conn_phase ph, double deadline) {
    if (!k) return;
    pthread_mutex_lock(&h->mu);
    k->phase = ph;
    k->t_phase = clock_now_s();
    k->deadline = deadline;
    k->body_bytes = 0;
    pthread_mutex_unlock(&h->mu);
}

/* n more body bytes: the deadline moves by what they were worth. */
static void conn_body_progress(http_server *h, conn *k, size_t n) {
    if (!k) return;
    pthread_mutex_lock(&h->mu);
    k->body_bytes += n;
    if (k->phase == P_BODY) k->deadline = k->t_phase + BODY_GRACE_S + (double)k->body_bytes / BODY_MIN_RATE;
    pthread_mutex_unlock(&h->mu);
}

static const char *reason_phrase(int status) {
    switch (status) {
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return status < 500 ? "Bad Request" : "Internal Server Error";
    }
}

/* What libmicrohttpd's own error answers mean, for the JSON body. */
static const char *library_error_message(int status) {
    switch (status) {
    case 413: return "the request body or a chunk of it is too large";
    case 414: return "the request target is too long";
    case 431: return "the request head is too large";
    case 505: return "only HTTP/1.0 and HTTP/1.1 are supported";
    default: return "malformed request";
    }
}

/* Writes a whole JSON error answer (util.h's body) straight to a socket,
** with Connection: close; no body for HEAD. Best effort: the socket is not
** waited on. */
static void send_raw_error(int fd, int status, const char *param, const char *id, int head_only, const char *msg) {
    char *body = sj_error_body(status, param, NULL, msg);
    size_t blen = strlen(body);
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n"
                     "X-Request-Id: %s\r\nX-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n%s\r\n",
                     status, reason_phrase(status), blen, id, status == 503 ? "Retry-After: 1\r\n" : "");
    strbuf out = {0};
    strbuf_append(&out, head, (size_t)n);
    if (!head_only) strbuf_append(&out, body, blen);
    free(body);
    for (size_t off = 0; out.p && off < out.len;) {
        ssize_t k = send(fd, out.p + off, out.len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k <= 0) break;
        off += (size_t)k;
    }
    strbuf_free(&out);
}

/* Reads and drops what the client still sends, for up to LINGER_S, so
** that closing the socket does not reset the answer away. */
static void drain_socket(int fd) {
    double t0 = clock_now_s();
    char buf[65536];
    while (clock_now_s() - t0 < LINGER_S) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, POLL_MS) < 0 && errno != EINTR) break;
        if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t k = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) break;
    }
}

/* Answers r on its socket while libmicrohttpd is still reading the body
** (it takes no response then): the answer, end of writing, what the
** client still sends read and dropped; the caller returns MHD_NO. */
static void raw_answer(http_req *r, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void raw_answer(http_req *r, int status, const char *param, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int fd = conn_fd(r);
    r->responded = 1;
    r->status = status;
    metrics_request(r->h->cfg.mx, r->endpoint, status);
    if (fd < 0) return;
    send_raw_error(fd, status, param, r->id, !strcmp(r->method, "HEAD"), msg);
    shutdown(fd, SHUT_WR);
    drain_socket(fd);
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
    req_done(r, 0, NULL);
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
    const char *key = r->h->cfg.api_key;
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

/* Why a browser request comes from another site, or NULL. With an API
** key a page elsewhere cannot call the API (browsers do not attach the
** key by themselves); without one, a page on any site could otherwise
** make the visitor's browser POST to a server on their own machine or
** network: a form or a "simple" fetch needs no CORS preflight. */
static const char *cross_site(http_req *r) {
    const http_config *cfg = &r->h->cfg;
    if (cfg->api_key) return NULL;
    const char *cors = cfg->cors_origin, *origin = http_header(r, "Origin");
    if (cors && (!strcmp(cors, "*") || (origin && !strcmp(origin, cors)))) return NULL;
    const char *site = http_header(r, "Sec-Fetch-Site");
    if (site) return strcasecmp(site, "same-origin") == 0 || strcasecmp(site, "none") == 0 ? NULL : "Sec-Fetch-Site";
    if (!origin) return NULL;   /* not a browser, or one that sends neither */
    /* older browsers: the Origin must name this server as the client reached it */
    const char *host = http_header(r, "Host"), *p = strstr(origin, "://");
    if (!host || !p || strcmp(origin, "null") == 0) return "Origin";
    p += 3;
    size_t n = strlen(host);
    if (strncasecmp(p, host, n) == 0 && (p[n] == 0 || (p[n] == '/' && p[n + 1] == 0))) return NULL;
    /* a default port may be left out of either */
    const char *port = !strncasecmp(origin, "https://", 8) ? ":443" : ":80";
    size_t np = strlen(p), nport = strlen(port);
    if (np > nport && !strcmp(p + np - nport, port) && np - nport == n && !strncasecmp(p, host, n)) return NULL;
    if (n > nport && !strcmp(host + n - nport, port) && np == n - nport && !strncasecmp(p, host, np)) return NULL;
    return "Origin";
}

/* What is wrong with the head of a request libmicrohttpd has already
** taken (a later one on a kept-alive connection; the front door checked the
** first), or NULL: HTTP/1.1 without Host, Content-Length values that
** disagree or are not numbers, Content-Length with Transfer-Encoding, a
** Transfer-Encoding other than chunked. */
typedef struct head_scan { int n_host, n_cl, n_te, cl_bad, cl_conflict; const char *cl, *te; } head_scan;

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    head_scan *x = cls;
    if (!key) return MHD_YES;
    if (!strcasecmp(key, "Host")) x->n_host++;
    else if (!strcasecmp(key, "Transfer-Encoding")) { x->n_te++; x->te = value; }
    else if (!strcasecmp(key, "Content-Length")) {
        x->n_cl++;
        const char *v = value ? value : "";
        if (!*v || strspn(v, "0123456789") != strlen(v)) x->cl_bad = 1;
        else if (x->cl && strcmp(x->cl, v) != 0) x->cl_conflict = 1;
        if (!x->cl) x->cl = v;
    }
    return MHD_YES;
}

static const char *header_problem(http_req *r, const char *version) {
    head_scan x = {0};
    MHD_get_connection_values(r->c, MHD_HEADER_KIND, scan_header, &x);
    if (version && !strcmp(version, "HTTP/1.1") && x.n_host == 0) return "an HTTP/1.1 request must have a Host header";
    if (x.n_host > 1) return "more than one Host header";
    if (x.cl_bad) return "Content-Length is not a number";
    if (x.cl_conflict) return "Content-Length headers disagree";
    if (x.n_cl && x.n_te) return "Content-Length and Transfer-Encoding together";
    if (x.n_te > 1 || (x.te && strcasecmp(x.te, "chunked") != 0)) return "Transfer-Encoding other than chunked";
    return NULL;
}

/* The checks made before any body is read (see http.h). Sends the answer
** when one of them decides it. */
static void precheck(http_req *r) {
    http_server *h = r->h;
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
    if (stopping(h)) {
        r->close = 1;
        http_add_header(r, "Retry-After", "1");
        http_send_error(r, 503, NULL, "the server is shutting down");
        return;
    }
    if (!strcmp(r->method, "OPTIONS") && path_hit) {
        if (h->cfg.cors_origin) {
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
    const char *why = cross_site(r);
    if (why && protected_path(r->path) && (!strcmp(m, "POST") || !strcmp(m, "DELETE"))) {
        http_send_error(r, 403, NULL, "cross-site request refused (%s): without --api-key only pages of this server "
                        "may call the API from a browser (--cors ORIGIN allows another site)", why);
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
        if (errno || end == cl || n > h->cfg.max_body) {
            http_send_error(r, 413, "body", "the request body (%s bytes) is larger than the limit of %zu bytes (--max-body)",
                            cl, h->cfg.max_body);
            return;
        }
    }
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                 const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    http_server *h = cls;
    http_req *r = *con_cls;
    if (!r) {
        tl_conn = conn_of(c);
        int has_body = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length") ||
                       MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
        conn_phase_set(h, tl_conn, has_body ? P_BODY : P_BUSY, has_body ? clock_now_s() + BODY_GRACE_S : 0);
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->h = h;
        r->c = c;
        r->t0 = clock_now_s();
        snprintf(r->method, sizeof r->method, "%s", method);
        r->path = strdup(url ? url : "/");
        strbuf_init(&r->body);
        const char *rid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
        if (valid_id(rid)) snprintf(r->id, sizeof r->id, "%s", rid);
        else snprintf(r->id, sizeof r->id, "%s-%lu", h->id_prefix, (unsigned long)atomic_fetch_add(&h->seq, 1) + 1);
        r->endpoint = "other";
        *con_cls = r;
        metrics_in_flight(h->cfg.mx, 1);
        if (!r->path) { http_send_error(r, 500, NULL, "out of memory"); return MHD_YES; }
        const char *bad = header_problem(r, version);
        if (bad) {
            r->checked = 1;
            r->close = 1;
            http_send_error(r, 400, NULL, "bad request head: %s", bad);
            return MHD_YES;
        }
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
        size_t n = *upload_size;
        conn_body_progress(h, tl_conn, n);
        if (!r->responded) {
            if (r->too_big || r->body.len + n > h->cfg.max_body) {
                r->too_big = 1;
                r->discarded += n;
                if (r->discarded > MAX_DISCARD) {
                    /* libmicrohttpd takes no answer before the body ends:
                    ** answer on the socket and close */
                    raw_answer(r, 413, "body", "the request body is larger than the limit of %zu bytes (--max-body)",
                               h->cfg.max_body);
                    return MHD_NO;
                }
            } else {
                strbuf_append(&r->body, upload, n);
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    conn_phase_set(h, tl_conn, P_BUSY, 0);
    if (!r->checked) {
        r->checked = 1;
        precheck(r);
    }
    if (r->responded) return MHD_YES;
    if (r->too_big) {
        http_send_error(r, 413, "body", "the request body is larger than the limit of %zu bytes (--max-body)",
                        h->cfg.max_body);
        return MHD_YES;
    }
    if (r->body.oom) { http_send_error(r, 500, NULL, "out of memory reading the body"); return MHD_YES; }
    assert(r->route);
    r->route->fn(h->cfg.app, r);
    /* no response: the client left while the handler waited; drop the connection */
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
    /* the connection now waits for its next request head */
    tl_conn = conn_of(c);
    conn_phase_set(h, tl_conn, P_HEAD, clock_now_s() + IDLE_TIMEOUT_S);
    if (!r) return;
    *con_cls = NULL;
    double total = clock_now_s() - r->t0;
    int status = r->responded ? r->status : 499;
    if (!r->responded) metrics_request(h->cfg.mx, r->endpoint, 499);
    metrics_total(h->cfg.mx, r->endpoint, total);
    metrics_in_flight(h->cfg.mx, -1);

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
    req_done(r, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK, o);
    slog(o);
    req_free(r);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    http_server *h = cls;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = 0;
    /* libmicrohttpd is about to answer a malformed request with its own
    ** HTML page (a later request on a kept-alive connection: the front door
    ** checked the first). Answer first, with the JSON error body, and shut
    ** the socket for writing so that its page never goes out. */
    unsigned code;
    if (tl_conn && sscanf(msg, "Error processing request (HTTP response code is %u", &code) == 1 && code >= 400 &&
        code < 600) {
        char id[32];
        snprintf(id, sizeof id, "%s-%lu", h->id_prefix, (unsigned long)atomic_fetch_add(&h->seq, 1) + 1);
        send_raw_error(tl_conn->fd, (int)code, NULL, id, 0, library_error_message((int)code));
        shutdown(tl_conn->fd, SHUT_WR);
        metrics_request(h->cfg.mx, "other", (int)code);
    }
    slog_event("httpd", "%s", msg);
}

/* ---- the front door ------------------------------------------------------------------- */

static int is_tchar(unsigned char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

typedef struct door_head {
    char method[16];
    char path[256];       /* the target up to '?' (cut): the reserve's decision and the log */
} door_head;

/* Trims optional whitespace around [*a, *b). */
static void ows_trim(const char **a, const char **b) {
    while (*a < *b && (**a == ' ' || **a == '\t')) (*a)++;
    while (*b > *a && ((*b)[-1] == ' ' || (*b)[-1] == '\t')) (*b)--;
}

/* Checks the request head at the start of buf[0..n) (bytes peeked from the
** socket; n == HEAD_MAX when no more would be looked at). Returns 0 when a
** whole, acceptable head is there (dh filled), 1 when more bytes are
** needed, else the status to answer with (*msg says why, *param names the
** header at fault or is NULL). Stricter than libmicrohttpd, so that it
** never has to answer a first request with its own HTML error page. */
static int check_head(const char *buf, size_t n, door_head *dh, char *msg, size_t msgcap, const char **param) {
    const char *p = buf, *end = buf + n;
    *param = NULL;
    for (int k = 0; k < 4 && p < end && (*p == '\r' || *p == '\n'); k++) p++;   /* stray line breaks before it */
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) {
        if ((size_t)(end - p) > TARGET_MAX + 64) { snprintf(msg, msgcap, "the request line is too long (the target may have %d bytes)", TARGET_MAX); return 414; }
        if (n >= HEAD_MAX) { snprintf(msg, msgcap, "the request head is larger than %d bytes", HEAD_MAX); return 431; }
        return 1;
    }
    const char *le = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
    /* METHOD SP TARGET SP HTTP/x.y */
    const char *q = p;
    while (q < le && is_tchar((unsigned char)*q)) q++;
    if (q == p || q - p >= (long)sizeof dh->method || q >= le || *q != ' ') {
        snprintf(msg, msgcap, "malformed request line: expected METHOD TARGET HTTP/1.1");
        return 400;
    }
    memcpy(dh->method, p, (size_t)(q - p));
    dh->method[q - p] = 0;
    const char *t = ++q;
    while (q < le && (unsigned char)*q > ' ' && *q != 0x7f) q++;
    if ((size_t)(q - t) > TARGET_MAX) { snprintf(msg, msgcap, "the request target is longer than %d bytes", TARGET_MAX); return 414; }
    if (q == t || q >= le || *q != ' ') { snprintf(msg, msgcap, "malformed request line: expected METHOD TARGET HTTP/1.1"); return 400; }
    const char *qm = memchr(t, '?', (size_t)(q - t));
    size_t plen = (size_t)((qm ? qm : q) - t);
    if (plen >= sizeof dh->path) plen = sizeof dh->path - 1;
    memcpy(dh->path, t, plen);
    dh->path[plen] = 0;
    const char *v = q + 1;
    size_t vlen = (size_t)(le - v);
    int http11 = vlen == 8 && !memcmp(v, "HTTP/1.1", 8);
    if (!http11 && !(vlen == 8 && !memcmp(v, "HTTP/1.0", 8))) {
        if (vlen >= 6 && !memcmp(v, "HTTP/", 5)) {
            snprintf(msg, msgcap, "HTTP version '%.*s' is not supported (only HTTP/1.0 and HTTP/1.1)", (int)(vlen < 16 ? vlen : 16), v);
            return 505;
        }
        snprintf(msg, msgcap, "malformed request line: expected METHOD TARGET HTTP/1.1");
        return 400;
    }
    /* header lines up to the empty one */
    int n_hdr = 0, n_host = 0, n_cl = 0, n_te = 0, te_chunked = 1;
    const char *cl = NULL, *cl_end = NULL;
    for (const char *line = eol + 1;;) {
        const char *e = memchr(line, '\n', (size_t)(end - line));
        if (!e) {
            if (n >= HEAD_MAX) { snprintf(msg, msgcap, "the request head is larger than %d bytes", HEAD_MAX); return 431; }
            return 1;
        }
        const char *ce = e > line && e[-1] == '\r' ? e - 1 : e;
        if (ce == line) break;   /* the end of the head */
        if (++n_hdr > HEADERS_MAX) { snprintf(msg, msgcap, "more than %d header lines", HEADERS_MAX); return 431; }
        if (*line == ' ' || *line == '\t') { snprintf(msg, msgcap, "header line %d: folded header lines are not accepted", n_hdr); return 400; }
        const char *c = line;
        while (c < ce && is_tchar((unsigned char)*c)) c++;
        if (c == line || c >= ce || *c != ':') { snprintf(msg, msgcap, "header line %d is malformed (expected Name: value)", n_hdr); return 400; }
        const char *name = line, *val = c + 1, *vend = ce;
        size_t nlen = (size_t)(c - line);
        for (const char *x = val; x < vend; x++)
            if (((unsigned char)*x < ' ' && *x != '\t') || *x == 0x7f) {
                snprintf(msg, msgcap, "header line %d holds a control character", n_hdr);
                return 400;
            }
        ows_trim(&val, &vend);
        if (nlen == 4 && !strncasecmp(name, "Host", 4)) n_host++;
        else if (nlen == 14 && !strncasecmp(name, "Content-Length", 14)) {
            *param = "Content-Length";
            if (val == vend || strspn(val, "0123456789") < (size_t)(vend - val)) { snprintf(msg, msgcap, "Content-Length is not a number"); return 400; }
            if (cl && ((size_t)(vend - val) != (size_t)(cl_end - cl) || memcmp(val, cl, (size_t)(vend - val)) != 0)) {
                snprintf(msg, msgcap, "Content-Length headers disagree");
                return 400;
            }
            if (vend - val > 18) { snprintf(msg, msgcap, "the request body (Content-Length) is larger than the limit"); return 413; }
            cl = val;
            cl_end = vend;
            n_cl++;
            *param = NULL;
        } else if (nlen == 17 && !strncasecmp(name, "Transfer-Encoding", 17)) {
            n_te++;
            if ((size_t)(vend - val) != 7 || strncasecmp(val, "chunked", 7) != 0) te_chunked = 0;
        }
        line = e + 1;
    }
    if (http11 && n_host == 0) { *param = "Host"; snprintf(msg, msgcap, "an HTTP/1.1 request must have a Host header"); return 400; }
    if (n_host > 1) { *param = "Host"; snprintf(msg, msgcap, "more than one Host header"); return 400; }
    if (n_cl && n_te) { *param = "Transfer-Encoding"; snprintf(msg, msgcap, "Content-Length and Transfer-Encoding together"); return 400; }
    if (n_te > 1 || !te_chunked) { *param = "Transfer-Encoding"; snprintf(msg, msgcap, "Transfer-Encoding other than chunked"); return 400; }
    return 0;
}

/* The metrics label of a path (any method). */
static const char *door_endpoint(http_server *h, const char *path) {
    for (int i = 0; i < h->n_routes; i++)
        if (path_matches(&h->routes[i], path)) return h->routes[i].endpoint;
    return "other";
}

static void conn_unlink(http_server *h, conn *k) {
    if (k->prev) k->prev->next = k->next;
    else h->conns = k->next;
    if (k->next) k->next->prev = k->prev;
    k->prev = k->next = NULL;
}

static void conn_append(http_server *h, conn *k) {
    conn **tail = &h->conns, *prev = NULL;
    while (*tail) { prev = *tail; tail = &(*tail)->next; }
    k->prev = prev;
    *tail = k;
}

/* Closes and forgets a front-door socket (mu held). */
static void door_drop(http_server *h, conn *k) {
    if (k->where == C_PENDING) h->n_pending--;
    conn_unlink(h, k);
    close(k->fd);
    free(k);
}

/* Answers a front-door socket and lets it linger (mu held). */
static void door_answer(http_server *h, conn *k, int status, const char *param, const door_head *dh, const char *msg) {
    char id[32];
    snprintf(id, sizeof id, "%s-%lu", h->id_prefix, (unsigned long)atomic_fetch_add(&h->seq, 1) + 1);
    int head_only = dh && !strcmp(dh->method, "HEAD");
    send_raw_error(k->fd, status, param, id, head_only, msg);
    shutdown(k->fd, SHUT_WR);
    int ssz = 1;
    setsockopt(k->fd, SOL_SOCKET, SO_RCVLOWAT, &ssz, sizeof ssz);
    if (k->where == C_PENDING) h->n_pending--;
    k->where = C_LINGER;
    k->deadline = clock_now_s() + LINGER_S;
    k->stalled_until = 0;
    if (status == 408) return;   /* no request: counted, not logged as one */
    const char *ep = door_endpoint(h, dh && dh->path[0] ? dh->path : "");
    metrics_request(h->cfg.mx, ep, status);
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string("request"));
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "method", dh ? sj_str(dh->method) : json_null());
    json_object_set_new(o, "path", dh ? sj_str(dh->path) : json_null());
    json_object_set_new(o, "endpoint", json_string(ep));
    json_object_set_new(o, "status", json_integer(status));
    json_object_set_new(o, "remote", json_string(k->ip));
    json_object_set_new(o, "bytes_in", json_integer(0));
    put_ms(o, "total_ms", clock_now_s() - k->t_open);
    json_object_set_new(o, "term", json_string("front_door"));
    json_object_set_new(o, "error", sj_str(msg));
    slog(o);
}

/* Shuts down the longest-idle kept-alive connection, to make room (mu held). */
static void door_evict_idle(http_server *h, double now) {
    conn *victim = NULL;
    for (conn *k = h->conns; k; k = k->next)
        if (k->where == C_ACTIVE && k->started && !k->shut && k->phase == P_HEAD && k->t_phase > k->t_open &&
            now - k->t_phase > 1.0 && (!victim || k->t_phase < victim->t_phase))
            victim = k;
    if (!victim) return;
    shutdown(victim->fd, SHUT_RDWR);
    victim->shut = 1;
    h->counts.evicted++;
}

/* A pending socket whose head is complete and acceptable: to
** libmicrohttpd, or 503 when the slots (but the reserve) are taken (mu held). */
static void door_handoff(http_server *h, conn *k, const door_head *dh) {
    double now = clock_now_s();
    int probe = !strcmp(dh->path, "/health") || !strcmp(dh->path, "/metrics");
    int limit = probe ? h->max_active : h->max_active - h->reserve;
    if (h->n_active >= limit) {
        door_evict_idle(h, now);
        h->counts.reserve_503++;
        char msg[200];
        snprintf(msg, sizeof msg, "the server is at its connection limit (--max-connections %d, of which %d are kept "
                 "for /health and /metrics): try again shortly", h->max_active, h->reserve);
        door_answer(h, k, 503, NULL, dh, msg);
        return;
    }
    int ssz = 1;
    setsockopt(k->fd, SOL_SOCKET, SO_RCVLOWAT, &ssz, sizeof ssz);
    h->n_pending--;
    h->n_active++;
    k->where = C_ACTIVE;
    k->phase = P_HEAD;
    k->t_phase = now;
    k->deadline = now + HEAD_TIMEOUT_S;   /* libmicrohttpd reads the head at once */
    if (MHD_add_connection(h->d, k->fd, (const struct sockaddr *)&k->addr, k->alen) != MHD_YES) {
        /* it has closed the socket */
        h->n_active--;
        conn_unlink(h, k);
        free(k);
    }
}

/* Input on a pending socket: is the head complete? (mu held) */
static void door_read(http_server *h, conn *k) {
    char buf[HEAD_MAX];
    ssize_t n = recv(k->fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        door_drop(h, k);   /* the client left (or its socket failed) before a request */
        return;
    }
    if (n < 0) return;
    door_head dh = {{0}};
    char msg[256];
    const char *param = NULL;
    int st = check_head(buf, (size_t)n, &dh, msg, sizeof msg, &param);
    if (st == 1) {
        /* wait for more: poll wakes only when more than this is there */
        if ((size_t)n == k->peeked) k->stalled_until = clock_now_s() + 0.1;
        k->peeked = (size_t)n;
        int lowat = (int)n + 1;
        setsockopt(k->fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat);
        return;
    }
    if (st) {
        h->counts.bad_requests++;
        door_answer(h, k, st, param, &dh, msg);
        return;
    }
    door_handoff(h, k, &dh);
}

/* Input on a lingering socket: dropped; at its end, closed (mu held). */
static void door_linger_read(http_server *h, conn *k) {
    char buf[16384];
    for (int i = 0; i < 8; i++) {
        ssize_t n = recv(k->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) continue;
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) door_drop(h, k);
        return;
    }
}

/* Takes new sockets: each address keeps at most per_client of them (its
** oldest silent one gives way), pending ones at most pending_max in all
** (the oldest gives way). Returns -1 when out of descriptors. */
static int door_accept(http_server *h) {
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage a;
        socklen_t al = sizeof a;
        int fd = accept4(h->lfd, (struct sockaddr *)&a, &al, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                pthread_mutex_lock(&h->mu);
                conn *old = NULL;
                for (conn *k = h->conns; k && !old; k = k->next)
                    if (k->where != C_ACTIVE) old = k;
                if (old) { door_drop(h, old); h->counts.evicted++; }
                pthread_mutex_unlock(&h->mu);
                return old ? 0 : -1;
            }
            return 0;   /* EAGAIN: none left; else the client is gone already */
        }
        conn *k = calloc(1, sizeof *k);
        if (!k) { close(fd); continue; }
        k->fd = fd;
        k->addr = a;
        k->alen = al;
        k->where = C_PENDING;
        k->t_open = k->t_phase = clock_now_s();
        k->deadline = k->t_open + HEAD_TIMEOUT_S;
        if (a.ss_family == AF_INET) inet_ntop(AF_INET, &((struct sockaddr_in *)&a)->sin_addr, k->ip, sizeof k->ip);
        else if (a.ss_family == AF_INET6) inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&a)->sin6_addr, k->ip, sizeof k->ip);
        pthread_mutex_lock(&h->mu);
        int same = 0;
        conn *oldest_same = NULL, *oldest = NULL;
        for (conn *x = h->conns, *next; x; x = next) {
            next = x->next;
            if (x->fd == fd) {   /* a record whose socket is closed already: forget it */
                if (x->where == C_ACTIVE) h->n_active--;
                if (x->where == C_PENDING) h->n_pending--;
                conn_unlink(h, x);
                free(x);
                continue;
            }
            if (x->where == C_LINGER) continue;
            if (x->where == C_PENDING && !oldest) oldest = x;
            if (strcmp(x->ip, k->ip) != 0) continue;
            same++;
            if (x->where == C_PENDING && !oldest_same) oldest_same = x;
        }
        snprintf(h->last_ip, sizeof h->last_ip, "%s", k->ip);
        if (h->per_client > 0 && same >= h->per_client) {
            if (!oldest_same) {   /* all of that address's sockets are at work: refuse */
                h->counts.refused++;
                pthread_mutex_unlock(&h->mu);
                close(fd);
                free(k);
                continue;
            }
            if (oldest == oldest_same) oldest = NULL;
            door_drop(h, oldest_same);
            h->counts.evicted++;
        }
        if (h->n_pending >= h->pending_max && oldest) {
            door_drop(h, oldest);
            h->counts.evicted++;
        }
        conn_append(h, k);
        h->n_pending++;
        pthread_mutex_unlock(&h->mu);
    }
    return 0;
}

/* Deadlines of every socket (mu held). */
static void door_deadlines(http_server *h, double now) {
    for (conn *k = h->conns, *next; k; k = next) {
        next = k->next;
        if (!k->deadline || now < k->deadline) continue;
        if (k->where == C_LINGER) {
            door_drop(h, k);
        } else if (k->where == C_PENDING) {
            h->counts.head_timeouts++;
            door_answer(h, k, 408, NULL, NULL, "the request head did not arrive in time");
        } else if (!k->shut && (k->phase == P_HEAD || k->phase == P_BODY)) {
            /* libmicrohttpd's thread sees the socket end and closes it */
            shutdown(k->fd, SHUT_RDWR);
            k->shut = 1;
            if (k->phase == P_BODY) h->counts.body_timeouts++;
            else h->counts.keepalive_timeouts++;
        }
    }
}

/* One log line a second at most, when the front door or the watchdog did
** something (mu held). */
static void door_log(http_server *h, double now) {
    door_counts *c = &h->counts;
    if (now - h->last_log < 1.0) return;
    if (!(c->head_timeouts | c->body_timeouts | c->keepalive_timeouts | c->evicted | c->refused | c->reserve_503 |
          c->bad_requests))
        return;
    h->last_log = now;
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string("connections"));
    json_object_set_new(o, "head_timeouts", json_integer(c->head_timeouts));
    json_object_set_new(o, "body_timeouts", json_integer(c->body_timeouts));
    json_object_set_new(o, "keepalive_timeouts", json_integer(c->keepalive_timeouts));
    json_object_set_new(o, "evicted", json_integer(c->evicted));
    json_object_set_new(o, "refused_per_client", json_integer(c->refused));
    json_object_set_new(o, "reserve_503", json_integer(c->reserve_503));
    json_object_set_new(o, "bad_requests", json_integer(c->bad_requests));
    json_object_set_new(o, "pending", json_integer(h->n_pending));
    json_object_set_new(o, "active", json_integer(h->n_active));
    json_object_set_new(o, "last_client", json_string(h->last_ip));
    memset(c, 0, sizeof *c);
    slog(o);
}

static void *door_main(void *arg) {
    http_server *h = arg;
    size_t cap = 0;
    struct pollfd *pf = NULL;
    conn **pk = NULL;
    double accept_pause = 0;
    while (!atomic_load(&h->stop)) {
        double now = clock_now_s();
        pthread_mutex_lock(&h->mu);
        size_t need = 2;
        for (conn *k = h->conns; k; k = k->next) need += k->where != C_ACTIVE;
        if (need > cap) {
            size_t ncap = need * 2;
            struct pollfd *npf = realloc(pf, ncap * sizeof *npf);
            if (npf) pf = npf;
            conn **npk = realloc(pk, ncap * sizeof *npk);
            if (npk) pk = npk;
            if (npf && npk) cap = ncap;
        }
        if (cap < 2) {   /* out of memory: try again in a moment */
            pthread_mutex_unlock(&h->mu);
            nanosleep(&(struct timespec){ .tv_nsec = POLL_MS * 1000000L }, NULL);
            continue;
        }
        size_t nf = 0;
        pf[nf] = (struct pollfd){ .fd = h->wake[0], .events = POLLIN };
        pk[nf++] = NULL;
        int lslot = -1;
        if (h->lfd >= 0 && now >= accept_pause) {
            lslot = (int)nf;
            pf[nf] = (struct pollfd){ .fd = h->lfd, .events = POLLIN };
            pk[nf++] = NULL;
        }
        for (conn *k = h->conns; k && nf < cap; k = k->next) {
            if (k->where == C_ACTIVE || (k->where == C_PENDING && now < k->stalled_until)) continue;
            pf[nf] = (struct pollfd){ .fd = k->fd, .events = POLLIN };
            pk[nf++] = k;
        }
        pthread_mutex_unlock(&h->mu);

        int rc = poll(pf, nf, POLL_MS);
        if (rc < 0 && errno != EINTR) break;
        if (pf[0].revents & POLLIN) {
            char b[64];
            while (read(h->wake[0], b, sizeof b) > 0) {}
        }
        if (atomic_load(&h->stop)) break;
        pthread_mutex_lock(&h->mu);
        if (atomic_load(&h->quiesced) && h->lfd >= 0) {
            /* no new connections; sockets that sent no request yet are dropped */
            close(h->lfd);
            h->lfd = -1;
            lslot = -1;
            for (conn *k = h->conns, *next; k; k = next) {
                next = k->next;
                if (k->where == C_PENDING) door_drop(h, k);
            }
            nf = 0;
        }
        for (size_t i = 0; i < nf; i++) {
            conn *k = pk[i];
            if (!k || !pf[i].revents) continue;
            if (k->where == C_PENDING) door_read(h, k);
            else if (k->where == C_LINGER) door_linger_read(h, k);
        }
        now = clock_now_s();
        door_deadlines(h, now);
        door_log(h, now);
        pthread_mutex_unlock(&h->mu);
        if (lslot >= 0 && (pf[lslot].revents & POLLIN) && door_accept(h) < 0) accept_pause = clock_now_s() + 0.1;
    }
    free(pf);
    free(pk);
    return NULL;
}

/* libmicrohttpd's connection life: STARTED ties our record to it, CLOSED
** (before the socket is closed) forgets it. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    http_server *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        int fd = ci ? ci->connect_fd : -1;
        pthread_mutex_lock(&h->mu);
        for (conn *k = h->conns; k; k = k->next)
            if (k->where == C_ACTIVE && k->fd == fd && !k->started) {
                k->started = 1;
                *socket_context = k;
                break;
            }
        pthread_mutex_unlock(&h->mu);
        return;
    }
    conn *k = *socket_context;
    *socket_context = NULL;
    if (!k) return;
    pthread_mutex_lock(&h->mu);
    h->n_active--;
    conn_unlink(h, k);
    free(k);
    pthread_mutex_unlock(&h->mu);
}

/* ---- life cycle ------------------------------------------------------------------------ */

/* Binds and listens on ai; the socket, or -1 with errno set. */
static int listen_on(const struct addrinfo *ai) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 511) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static void http_free(http_server *h) {
    if (h->lfd >= 0) close(h->lfd);
    if (h->wake[0] >= 0) close(h->wake[0]);
    if (h->wake[1] >= 0) close(h->wake[1]);
    for (conn *k = h->conns, *next; k; k = next) {
        next = k->next;
        if (k->where != C_ACTIVE) close(k->fd);   /* libmicrohttpd closed its own */
        free(k);
    }
    pthread_mutex_destroy(&h->mu);
    free(h);
}

http_server *http_start(const http_config *cfg, const http_route *routes, int n_routes, sa_err *err) {
    http_server *h = calloc(1, sizeof *h);
    if (!h) { sa_fail(err, "out of memory"); return NULL; }
    h->cfg = *cfg;
    h->routes = routes;
    h->n_routes = n_routes;
    h->lfd = h->wake[0] = h->wake[1] = -1;
    pthread_mutex_init(&h->mu, NULL);
    atomic_init(&h->seq, 0);
    atomic_init(&h->stop, 0);
    atomic_init(&h->quiesced, 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* ids unique across restarts and replicas without coordination */
    snprintf(h->id_prefix, sizeof h->id_prefix, "%x%05x", (unsigned)getpid() & 0xfffff, (unsigned)(ts.tv_sec & 0xfffff));
    h->max_active = cfg->max_connections;
    h->reserve = h->max_active / 16 > 2 ? h->max_active / 16 : 2;
    if (h->reserve >= h->max_active) h->reserve = h->max_active - 1;
    h->per_client = cfg->max_connections_per_client;
    h->pending_max = h->max_active > 64 ? h->max_active : 64;

    const char *host = cfg->host ? cfg->host : "127.0.0.1";
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *ai = NULL;
    int gr = getaddrinfo(host, port, &hints, &ai);
    if (gr || !ai) {
        sa_fail(err, "--host %s: %s", host, gai_strerror(gr));
        http_free(h);
        return NULL;
    }
    h->lfd = listen_on(ai);
    int lerr = errno;
    freeaddrinfo(ai);
    if (h->lfd < 0) {
        sa_fail(err, "cannot listen on %s port %d: %s (in use, or not an address of this machine?)", host, cfg->port,
                strerror(lerr));
        http_free(h);
        return NULL;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    h->port = cfg->port;
    if (getsockname(h->lfd, (struct sockaddr *)&bound, &blen) == 0)
        h->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                    : ((struct sockaddr_in *)&bound)->sin_port);
    if (pipe2(h->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        sa_fail(err, "cannot make a pipe: %s", strerror(errno));
        http_free(h);
        return NULL;
    }
    /* Connections come only from the front door, which keeps below
    ** --max-connections: libmicrohttpd's own limit, higher, never refuses
    ** one (a refusal would close the socket without telling us). */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET;
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_access, h,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)(cfg->max_connections + 64),
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(4 * HEAD_MAX),
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
                            MHD_OPTION_END);
    if (!h->d) {
        sa_fail(err, "cannot start the HTTP server on %s port %d", host, h->port);
        http_free(h);
        return NULL;
    }
    if (pthread_create(&h->door, NULL, door_main, h) != 0) {
        sa_fail(err, "cannot start the HTTP server's accepting thread");
        MHD_stop_daemon(h->d);
        http_free(h);
        return NULL;
    }
    h->door_started = 1;
    return h;
}

int http_port(const http_server *h) { return h->port; }

static void door_wake(http_server *h) {
    ssize_t k = write(h->wake[1], "x", 1);
    (void)k;
}

void http_quiesce(http_server *h) {
    if (!h || atomic_exchange(&h->quiesced, 1)) return;
    door_wake(h);
    /* the listening socket is closed by the front door's thread: wait for it */
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&h->mu);
        int open_ = h->lfd >= 0;
        pthread_mutex_unlock(&h->mu);
        if (!open_) break;
        nanosleep(&(struct timespec){ .tv_nsec = 5 * 1000000L }, NULL);
    }
}

void http_stop(http_server *h) {
    if (!h) return;
    atomic_store(&h->stop, 1);
    door_wake(h);
    if (h->door_started) pthread_join(h->door, NULL);
    MHD_stop_daemon(h->d);
    http_free(h);
}

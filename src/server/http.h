/*
** http.h — the HTTP layer of `sqlassist serve`, on libmicrohttpd: one
** thread per connection, request bodies gathered up to --max-body, routes
** matched by method and path, Bearer authentication, CORS, one response per
** request (plain, or server-sent events pulled from a source the handler
** gives), a structured log line and metrics for every request. It knows
** the program it serves only through http_config, the route tables and
** the hooks below: nothing of models, jobs or queues (jobs.h waits on
** those, through http_client_left, http_send_events and http_on_done).
**
** Before libmicrohttpd sees a connection, a front door of its own (one
** thread) waits for the first request head and checks it (http.c):
**   head not complete within 10 s              408, closed
**   malformed request line or header line      400
**   HTTP/1.1 without Host, Host twice          400
**   Content-Length not a number, or two that
**   disagree, or with Transfer-Encoding, or a
**   Transfer-Encoding other than chunked       400
**   Content-Length past 18 digits              413
**   target over 8 KiB / head over 16 KiB       414 / 431
**   a version other than HTTP/1.0 and 1.1      505
**   every slot but the reserve taken           503 (but /health, /metrics)
** each with the JSON error body and Connection: close. One client address
** holds at most --max-connections-per-client sockets (its oldest silent
** one gives way to a new one). On connections libmicrohttpd has, the next
** head must come within 60 s and a body at 16 KiB/s after 10 s, or the
** socket is shut down; its own error answers to later requests on a
** kept-alive connection are replaced by the JSON body too.
**
** What it decides before a route's handler runs (in this order):
**   a later request's head as above            400 (Connection: close)
**   shutting down                              503 (Connection: close)
**   OPTIONS with --cors                        204 preflight
**   /api/... or /v1/... without the key       401 (when a key is set)
**   POST/DELETE from another site, no key     403 (Sec-Fetch-Site, Origin)
**   no route has the path                      404
**   no route has the path and the method       405 with Allow
**   Content-Length over --max-body             413 (chunked: once over;
**                                              past 16 MiB more: 413 and
**                                              the connection closed)
** Handlers run on the connection's thread once the whole body is in, and
** may block (waiting for work done elsewhere, watching http_client_left).
*/
#ifndef SA_SERVER_HTTP_H
#define SA_SERVER_HTTP_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>

#include "util/err.h"

struct metrics;
struct server;

typedef struct http_server http_server;
typedef struct http_req http_req;

/* A route's handler; app is http_config.app, passed through untouched. */
typedef void (*http_handler)(struct server *app, http_req *r);

typedef struct http_route {
    const char *method;       /* "GET", "POST", "DELETE" (GET also answers HEAD) */
    const char *path;         /* exact path, or a prefix when it ends in '/' */
    int auth;                 /* needs the API key when one is set */
    const char *endpoint;     /* label for metrics and logs */
    http_handler fn;
} http_route;

/* All the HTTP layer knows of the program it serves (borrowed: everything
** pointed to must outlive the http_server). */
typedef struct http_config {
    const char *host;                   /* NULL: 127.0.0.1 */
    int port;                           /* 0: any free port (http_port) */
    const char *api_key;                /* NULL: no authentication */
    const char *cors_origin;            /* NULL: no CORS headers */
    size_t max_body;
    int max_connections;
    int max_connections_per_client;     /* 0: no bound */
    struct metrics *mx;                 /* requests are counted and timed here */
    const atomic_int *stopping;         /* nonzero: shutting down (503); NULL: never */
    struct server *app;                 /* handed to every handler */
} http_config;

/* Binds cfg->host:cfg->port and starts serving routes[0..n) (which must
** outlive the server). Fails with a message naming the address. */
http_server *http_start(const http_config *cfg, const http_route *routes, int n_routes, sa_err *err);
/* The port actually bound (useful with port 0). */
int http_port(const http_server *h);
/* Stops accepting connections (the listening socket is closed when this
** returns; sockets that sent no request yet are dropped); those open go on
** (they get 503 from now on if the server is stopping). */
void http_quiesce(http_server *h);
/* Closes every connection and joins the threads; then frees h. */
void http_stop(http_server *h);

/* ---- inside a handler --------------------------------------------------------- */

const char *http_method(const http_req *r);
const char *http_path(const http_req *r);
/* The request body (NUL-terminated; len may be NULL). Never NULL. */
const char *http_body(const http_req *r, size_t *len);
/* A request header (case-insensitive name), or NULL. */
const char *http_header(const http_req *r, const char *name);
/* The request id: the client's X-Request-Id when it is a plain token,
** else a fresh one. Echoed in X-Request-Id and in the log. */
const char *http_id(const http_req *r);
/* True when the client asks for server-sent events (Accept). */
int http_wants_sse(const http_req *r);

/* Adds a header to the response about to be sent. */
void http_add_header(http_req *r, const char *name, const char *value);
/* Sends the response (exactly one per request). body is malloc'd and
** owned from here on (NULL: empty). */
void http_send(http_req *r, int status, const char *content_type, char *body, size_t len);
/* As http_send for a body that outlives the server (not copied). */
void http_send_static(http_req *r, int status, const char *content_type, const char *body, size_t len);
/* JSON body; steals o. */
void http_send_json(http_req *r, int status, json_t *o);
/* The error body of util.h, naming the field `param` (NULL: none). */
void http_send_error(http_req *r, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The body as a JSON object; on failure sends 400 naming "body" and
** returns NULL. The caller owns the result. */
json_t *http_body_json(http_req *r);

/* Typed fields of a JSON body. A missing optional field (or JSON null)
** leaves *out alone and returns 0; a missing required field, a wrong type
** or a value out of range sends 400 naming the field and returns -1.
** Strings must be valid UTF-8 (jansson ensures it) without NUL bytes. */
int http_json_string(http_req *r, json_t *o, const char *key, int required, const char **out);
int http_json_int(http_req *r, json_t *o, const char *key, long lo, long hi, long *out);
int http_json_number(http_req *r, json_t *o, const char *key, double lo, double hi, double *out);
int http_json_bool(http_req *r, json_t *o, const char *key, int *out);

/* ---- long answers -------------------------------------------------------------- */

/* Whether the client has gone (closed or reset its side; a pipelined
** request is not leaving). Looks at the socket without waiting; a handler
** that waits for something polls it now and then. Once it said so, the
** request is logged with "client_gone", and a handler that then sends
** nothing has the connection dropped. */
int http_client_left(http_req *r);

/* Where http_send_events gets its bytes; its functions run on the
** connection's thread, with the cls given to http_send_events. */
#define HTTP_STREAM_END (-1L)
typedef struct http_event_source {
    /* Copies up to max bytes of the stream (whole events, or parts of
    ** them) into buf, waiting up to wait_ms for some: the count (> 0), 0
    ** when none came in that time, HTTP_STREAM_END once it is over. */
    long (*pull)(void *cls, char *buf, size_t max, int wait_ms);
    /* The client left before the end (at most once; may be NULL). */
    void (*client_left)(void *cls);
    /* The response is done with cls, whether the stream ended or not. */
    void (*close)(void *cls);
} http_event_source;

/* Answers 200 with a text/event-stream read from src until its end: a
** comment line keeps an idle stream alive (every 15 s), and a client that
** leaves ends it (src->client_left). src must outlive the response;
** src->close(cls) is called in every case, on failure too. */
void http_send_events(http_req *r, const http_event_source *src, void *cls);

/* fn(cls, complete, log) runs once when the request is over, on its
** connection's thread, after its response went out (complete: all of it)
** or the client left (complete 0): log is the request's log line, for fn
** to add fields to (NULL when there is none). fn frees what cls holds.
** At most one per request. */
typedef void (*http_done_fn)(void *cls, int complete, json_t *log);
void http_on_done(http_req *r, http_done_fn fn, void *cls);

#endif

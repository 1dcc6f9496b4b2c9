/*
** util.c — see util.h.
*/
#include "util.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/jsonstr.h"
#include "util/strbuf.h"

json_t *sj_strn(const char *s, size_t n) { return json_text(s, n); }

json_t *sj_str(const char *s) { return s ? sj_strn(s, strlen(s)) : json_null(); }

const char *sj_error_type(int status) {
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 409: return "conflict_error";
    case 413: return "request_too_large";
    case 499: return "client_closed_request";
    case 503: return "overloaded_error";
    case 504: return "timeout_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

char *sj_dump_take(json_t *o) {
    if (!o) return NULL;
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(10));
    json_decref(o);
    return s;
}

char *sj_error_body(int status, const char *param, const char *code, const char *msg) {
    json_t *e = json_object(), *o = json_object();
    if (e && o) {
        json_object_set_new(e, "message", sj_str(msg ? msg : ""));
        json_object_set_new(e, "type", json_string(sj_error_type(status)));
        json_object_set_new(e, "param", sj_str(param));
        json_object_set_new(e, "code", sj_str(code));
        json_object_set_new(o, "error", e);
        e = NULL;
    }
    json_decref(e);
    char *s = sj_dump_take(o);
    return s ? s : strdup("{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}");
}

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

void slog(json_t *o) {
    if (!o) return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    size_t k = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + k, sizeof when - k, ".%03ldZ", ts.tv_nsec / 1000000);
    /* "ts" first: rebuild the object with it in front (objects keep order) */
    json_t *line = json_object();
    json_object_set_new(line, "ts", json_string(when));
    json_object_update(line, o);
    json_decref(o);
    char *s = sj_dump_take(line);
    if (!s) return;
    pthread_mutex_lock(&log_mu);
    fputs(s, stderr);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_mu);
    free(s);
}

void slog_event(const char *event, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string(event));
    json_object_set_new(o, "msg", sj_str(msg));
    slog(o);
}

/*
** api.c — see api.h. Handlers run on connection threads and only check
** and package requests; everything that touches the model or the --db
** sandbox runs on the worker (run_* functions).
*/
#include "api.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/schema_prompt.h"
#include "engine/generate.h"
#include "metrics.h"
#include "adapters.h"
#include "jobs.h"
#include "util.h"
#include "util/clock.h"
#include "util/strbuf.h"
#include "web_page.h"
#include "worker.h"

/* Longest question accepted: a question is a sentence or two, and the
** prompt must leave the context to the schema and the answer. */
#define MAX_QUESTION_BYTES 4096
#define MAX_ATTEMPTS_LIMIT 10
/* Conversations kept for follow-ups (least recently used dropped first),
** and exchanges kept per conversation (the agent only shows the latest
** that fit its history budget anyway). */
#define MAX_CONVERSATIONS 256
#define MAX_EXCHANGES 32

/* ---- conversations (shared by the workers) ----------------------------------------- */

typedef struct conv_entry {
    char id[72];
    agent_conversation c;
    unsigned long last_used;
    int busy;                   /* a worker is answering in this conversation */
} conv_entry;

typedef struct conv_store {
    pthread_mutex_t mu;
    pthread_cond_t freed;       /* an entry stopped being busy */
    conv_entry e[MAX_CONVERSATIONS];
    int n;
    unsigned long clock;
} conv_store;

/* The conversation `id` (a new one if unknown; the least recently used idle
** one is forgotten when the store is full), for this worker alone until
** conv_release: a second request in the same conversation waits for the
** first, so follow-ups keep their order. NULL when every entry is busy. */
static agent_conversation *conv_acquire(conv_store *cs, const char *id) {
    pthread_mutex_lock(&cs->mu);
    conv_entry *e = NULL;
    for (;;) {
        conv_entry *lru = NULL;
        e = NULL;
        for (int i = 0; i < cs->n && !e; i++) {
            if (!strcmp(cs->e[i].id, id)) e = &cs->e[i];
            else if (!cs->e[i].busy && (!lru || cs->e[i].last_used < lru->last_used)) lru = &cs->e[i];
        }
        if (e && e->busy) { pthread_cond_wait(&cs->freed, &cs->mu); continue; }
        if (e) break;
        if (cs->n < MAX_CONVERSATIONS) e = &cs->e[cs->n++];
        else if (lru) {
            e = lru;
            agent_conversation_free(&e->c);
        } else {
            pthread_mutex_unlock(&cs->mu);
            return NULL;
        }
        snprintf(e->id, sizeof e->id, "%s", id);
        agent_conversation_init(&e->c);
        break;
    }
    e->busy = 1;
    e->last_used = ++cs->clock;
    pthread_mutex_unlock(&cs->mu);
    return &e->c;
}

static void conv_release(conv_store *cs, agent_conversation *c) {
    pthread_mutex_lock(&cs->mu);
    for (int i = 0; i < cs->n; i++)
        if (&cs->e[i].c == c) cs->e[i].busy = 0;
    pthread_cond_broadcast(&cs->freed);
    pthread_mutex_unlock(&cs->mu);
}

static int valid_conv_id(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
            return 0;
    }
    return 1;
}

/* ---- POST /api/ask ------------------------------------------------------------------ */

typedef struct ask_in {
    char *question, *adapter, *conv_id;
    char cache_key[LORA_NAME_MAX + 24];   /* adapters_acquire's key: the agent's adapter_name */
    sandbox *ctx;                 /* context mode: the request's own database */
    const lora_adapter *lora;
    float scale;
    int max_attempts;
    int max_tokens;               /* per attempt, at most the server's -n */
    int grammar, candidates;
} ask_in;

static void ask_in_free(void *p) {
    ask_in *in = p;
    if (!in) return;
    free(in->question);
    free(in->adapter);
    free(in->conv_id);
    sb_close(in->ctx);
    lora_release(in->lora);
    free(in);
}

static int ask_token(void *ud, int attempt, const char *text, int len) {
    job *j = ud;
    if (j->sse == SSE_NONE) return 0;
    json_t *o = json_object();
    json_object_set_new(o, "attempt", json_integer(attempt));
    json_object_set_new(o, "text", sj_strn(text, (size_t)len));
    char *d = sj_dump_take(o);
    if (d) job_emit(j, "token", d);
    free(d);
    return 0;
}

static int ask_attempt(void *ud, int attempt, const char *sql, const char *error) {
    job *j = ud;
    if (j->sse == SSE_NONE) return 0;
    json_t *o = json_object();
    json_object_set_new(o, "attempt", json_integer(attempt));
    json_object_set_new(o, "sql", sj_str(sql));
    json_object_set_new(o, "error", sj_str(error));
    char *d = sj_dump_take(o);
    if (d) job_emit(j, "attempt", d);
    free(d);
    return 0;
}

static int ask_cancelled(void *ud) { return job_should_stop(ud) != JOB_GO; }

static void run_ask(server *s, job *j) {
    ask_in *in = j->in;
    const server_config *c = &s->cfg;
    sa_err err = {{0}};
    sc_schema own = {0};
    const sc_schema *sc = &s->schema;
    if (in->ctx) {
        if (sc_introspect(in->ctx, c->samples, &own, &err)) { job_fail(j, 400, "context", err.msg); return; }
        sc = &own;
    }
    char *note;
    sandbox *db = in->ctx ? in->ctx : s->dbs[j->worker];
    char *schema_text = agent_schema_prompt(s->m, &s->tpl, db, sc, in->question,
                                            c->samples > 0, c->n_ctx, c->n_predict, in->max_attempts, &note, &err);
    if (!schema_text) {
        job_fail(j, 500, NULL, err.msg);
        sc_free(&own);
        return;
    }
    agent_conversation *conv = NULL;
    if (in->conv_id && !(conv = conv_acquire(s->convs, in->conv_id))) {
        job_fail(j, 503, "conversation_id", "every stored conversation is in use; retry later");
        free(schema_text);
        free(note);
        sc_free(&own);
        return;
    }
    agent_config cfg = {
        .m = s->m, .pc = s->pc, .tpl = &s->tpl, .max_attempts = in->max_attempts, .max_new_tokens = in->max_tokens,
        .copy_values = s->copy_values, .schema = sc, .grammar = in->grammar, .candidates = in->candidates,
        .lora = in->lora, .lora_scale = in->scale, .adapter_name = in->lora ? in->cache_key : NULL,
        .on_token = ask_token, .on_attempt = ask_attempt, .cancelled = ask_cancelled, .ud = j, .batch = s->batch,
    };
    agent_answer ans;
    int rc = agent_ask(&cfg, db, schema_text, note, conv, in->question, &ans, &err);
    jobs_observe_answer(s, j, &ans);
    if (conv) {
        agent_conversation_keep_last(conv, MAX_EXCHANGES);
        conv_release(s->convs, conv);
    }
    int stop = atomic_load(&j->stop);
    if (rc) {
        job_fail(j, 500, NULL, err.msg);
    } else if (ans.cancelled && stop != JOB_GO) {
        job_fail_stopped(j, stop);
    } else {
        json_t *o = agent_answer_json(&ans);
        if (!o) {
            job_fail(j, 500, NULL, "out of memory");
        } else {
            json_object_set_new(o, "adapter", in->lora ? json_string(lora_name(in->lora)) : json_null());
            json_object_set_new(o, "id", json_string(j->id));
            json_object_set_new(o, "conversation_id", sj_str(in->conv_id));
            json_object_set_new(o, "queue_ms", json_real(j->st.queue_s * 1000.0));
            char *body = sj_dump_take(o);
            if (!body) job_fail(j, 500, NULL, "out of memory");
            else if (j->sse == SSE_NONE) job_finish(j, 200, body);
            else {
                job_emit(j, "answer", body);
                free(body);
                job_finish(j, 200, NULL);
            }
        }
    }
    agent_answer_free(&ans);
    free(schema_text);
    free(note);
    sc_free(&own);
}

static void h_ask(server *s, http_req *r) {
    if (!server_require_ready(s, r)) return;
    json_t *b = http_body_json(r);
    if (!b) return;
    const char *question = NULL, *context = NULL, *adapter = NULL, *conv_id = NULL;
    long attempts = s->cfg.max_attempts, candidates = s->candidates, max_tokens = s->cfg.n_predict;
    int stream = http_wants_sse(r), grammar = s->grammar;
    ask_in *in = NULL;
    if (http_json_string(r, b, "question", 1, &question) || http_json_string(r, b, "context", 0, &context) ||
        http_json_string(r, b, "adapter", 0, &adapter) || http_json_string(r, b, "conversation_id", 0, &conv_id) ||
        http_json_int(r, b, "max_attempts", 1, MAX_ATTEMPTS_LIMIT, &attempts) || http_json_bool(r, b, "stream", &stream) ||
        http_json_bool(r, b, "grammar", &grammar) ||
        http_json_int(r, b, "candidates", 1, AGENT_MAX_CANDIDATES, &candidates) ||
        http_json_int(r, b, "max_tokens", 1, s->cfg.n_predict, &max_tokens))
        goto out;
    if (!question[strspn(question, " \t\r\n")]) { http_send_error(r, 400, "question", "field 'question' is empty"); goto out; }
    if (strlen(question) > MAX_QUESTION_BYTES) {
        http_send_error(r, 400, "question", "field 'question' is longer than %d bytes", MAX_QUESTION_BYTES);
        goto out;
    }
    if (conv_id && !valid_conv_id(conv_id)) {
        http_send_error(r, 400, "conversation_id", "field 'conversation_id' must be 1-64 characters of A-Z a-z 0-9 _ -");
        goto out;
    }
    in = calloc(1, sizeof *in);
    if (!in) { http_send_error(r, 500, NULL, "out of memory"); goto out; }
    in->max_attempts = (int)attempts;
    in->max_tokens = (int)max_tokens;
    in->grammar = grammar;
    in->candidates = (int)candidates;
    in->question = strdup(question);
    in->adapter = adapter ? strdup(adapter) : NULL;
    in->conv_id = conv_id ? strdup(conv_id) : NULL;
    if (!in->question || (adapter && !in->adapter) || (conv_id && !in->conv_id)) {
        http_send_error(r, 500, NULL, "out of memory");
        goto out;
    }
    if (adapters_acquire(s, adapter, &in->lora, &in->scale, in->cache_key, sizeof in->cache_key)) {
        http_send_error(r, 400, "adapter", "no adapter named '%.80s' is loaded (GET /api/adapters lists them)", adapter);
        goto out;
    }
    if (context) {
        sa_err err = {{0}};
        if (!(in->ctx = sb_open_context(context, &s->limits, &err))) {
            http_send_error(r, 400, "context", "field 'context': %s", err.msg);
            goto out;
        }
    }
    job *j = job_new(http_id(r), stream ? SSE_EVENTS : SSE_NONE, s->cfg.request_timeout_ms);
    if (!j) { http_send_error(r, 500, NULL, "out of memory"); goto out; }
    j->run = run_ask;
    j->in = in;
    j->in_free = ask_in_free;
    in = NULL;
    jobs_submit(s, r, j);
out:
    ask_in_free(in);
    json_decref(b);
}

/* ---- POST /api/sql ------------------------------------------------------------------ */

typedef struct sql_in {
    char *sql;
    sandbox *ctx;
} sql_in;

static void sql_in_free(void *p) {
    sql_in *in = p;
    if (!in) return;
    free(in->sql);
    sb_close(in->ctx);
    free(in);
}

static void run_sql(server *s, job *j) {
    sql_in *in = j->in;
    sb_result res;
    memset(&res, 0, sizeof res);
    sa_err err = {{0}};
    double t0 = clock_now_s();
    int rc = sb_run(in->ctx ? in->ctx : s->dbs[j->worker], in->sql, &res, &err);
    j->st.execute_s = clock_now_s() - t0;
    metrics_observe(s->mx, MX_SQL_EXEC, j->st.execute_s);
    j->st.ok = rc == 0;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(j->id));
    json_object_set_new(o, "sql", sj_str(in->sql));
    json_object_set_new(o, "ok", json_boolean(rc == 0));
    if (rc == 0) {
        json_t *result = sb_result_json(&res);
        json_object_set_new(o, "result", result ? result : json_null());
        json_object_set_new(o, "error", json_null());
    } else {
        json_object_set_new(o, "result", json_null());
        json_object_set_new(o, "error", sj_str(err.msg));
    }
    sb_result_free(&res);
    char *body = sj_dump_take(o);
    if (body) job_finish(j, 200, body);
    else job_fail(j, 500, NULL, "out of memory");
}

static void h_sql(server *s, http_req *r) {
    if (!server_require_ready(s, r)) return;
    json_t *b = http_body_json(r);
    if (!b) return;
    const char *sql = NULL, *context = NULL;
    sql_in *in = NULL;
    if (http_json_string(r, b, "sql", 1, &sql) || http_json_string(r, b, "context", 0, &context)) goto out;
    in = calloc(1, sizeof *in);
    if (!in || !(in->sql = strdup(sql))) { http_send_error(r, 500, NULL, "out of memory"); goto out; }
    if (context) {
        sa_err err = {{0}};
        if (!(in->ctx = sb_open_context(context, &s->limits, &err))) {
            http_send_error(r, 400, "context", "field 'context': %s", err.msg);
            goto out;
        }
    }
    job *j = job_new(http_id(r), SSE_NONE, s->cfg.request_timeout_ms);
    if (!j) { http_send_error(r, 500, NULL, "out of memory"); goto out; }
    j->run = run_sql;
    j->in = in;
    j->in_free = sql_in_free;
    in = NULL;
    jobs_submit(s, r, j);
out:
    sql_in_free(in);
    json_decref(b);
}

/* ---- GET /api/schema ---------------------------------------------------------------- */

static json_t *strings(char **v, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, sj_str(v[i]));
    return a;
}

static char *schema_body(const server *s) {
    json_t *o = json_object(), *tables = json_array();
    const char *db = strrchr(s->cfg.db_path, '/');
    json_object_set_new(o, "database", sj_str(db ? db + 1 : s->cfg.db_path));
    for (int i = 0; i < s->schema.ntables; i++) {
        const sc_table *t = &s->schema.tables[i];
        json_t *tj = json_object(), *cols = json_array(), *fks = json_array();
        json_object_set_new(tj, "name", sj_str(t->name));
        json_object_set_new(tj, "virtual", json_boolean(t->is_virtual));
        json_object_set_new(tj, "view", json_boolean(t->is_view));
        for (int k = 0; k < t->ncols; k++) {
            json_t *cj = json_object();
            json_object_set_new(cj, "name", sj_str(t->cols[k].name));
            json_object_set_new(cj, "type", sj_str(t->cols[k].decl_type));
            json_object_set_new(cj, "not_null", json_boolean(t->cols[k].not_null));
            json_object_set_new(cj, "pk", json_integer(t->cols[k].pk_position));
            json_array_append_new(cols, cj);
        }
        for (int k = 0; k < t->nfkeys; k++) {
            const sc_fkey *f = &t->fkeys[k];
            json_t *fj = json_object(), *to = json_array();
            json_object_set_new(fj, "from", strings(f->from_cols, f->ncols));
            json_object_set_new(fj, "table", sj_str(f->to_table));
            for (int c = 0; c < f->ncols; c++) json_array_append_new(to, sj_str(f->to_cols[c]));
            json_object_set_new(fj, "to", to);
            json_array_append_new(fks, fj);
        }
        json_object_set_new(tj, "columns", cols);
        json_object_set_new(tj, "foreign_keys", fks);
        json_array_append_new(tables, tj);
    }
    json_object_set_new(o, "tables", tables);
    char *create = sc_render(&s->schema, false);
    json_object_set_new(o, "create", sj_str(create ? create : ""));
    free(create);
    return sj_dump_take(o);
}

static void h_schema(server *s, http_req *r) {
    http_send_static(r, 200, "application/json", s->schema_json, strlen(s->schema_json));
}

/* ---- adapters ------------------------------------------------------------------------ */

static json_t *listing_json(const lora_listing *l) {
    json_t *o = json_object();
    json_object_set_new(o, "name", sj_str(l->name));
    json_object_set_new(o, "format", sj_str(l->format));
    json_object_set_new(o, "path", sj_str(l->path));
    json_object_set_new(o, "scale", json_real(l->scale));
    json_object_set_new(o, "matrices", json_integer(l->n_mats));
    json_object_set_new(o, "max_rank", json_integer(l->max_rank));
    json_object_set_new(o, "bytes", json_integer((json_int_t)l->bytes));
    json_object_set_new(o, "users", json_integer(l->users));
    return o;
}

static void h_adapters_list(server *s, http_req *r) {
    json_t *o = json_object(), *arr = json_array();
    int ready = server_ready(s);
    json_object_set_new(o, "base", ready ? json_string(s->model_id) : json_null());
    json_object_set_new(o, "runtime_loading", json_boolean(s->lora_dir_real[0] != 0));
    if (ready) {
        lora_listing *l = NULL;
        int n = 0;
        sa_err err = {{0}};
        if (lora_registry_list(s->reg, &l, &n, &err)) {
            json_decref(o);
            json_decref(arr);
            http_send_error(r, 500, NULL, "%s", err.msg);
            return;
        }
        for (int i = 0; i < n; i++) json_array_append_new(arr, listing_json(&l[i]));
        lora_listing_free(l, n);
    }
    json_object_set_new(o, "adapters", arr);
    http_send_json(r, 200, o);
}

/* Whether real (a resolved path) lies strictly inside the resolved dir. */
static int inside(const char *real, const char *dir) {
    size_t n = strlen(dir);
    if (n == 1 && dir[0] == '/') return real[1] != 0;
    return strncmp(real, dir, n) == 0 && real[n] == '/' && real[n + 1] != 0;
}

/* An absolute path with "." and ".." taken out by its text alone (no file
** system access, no link followed). */
static void lexical_path(const char *in, char *out, size_t cap) {
    size_t n = 0;
    out[n++] = '/';
    out[n] = 0;
    for (const char *p = in; *p;) {
        while (*p == '/') p++;
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0) break;
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            while (n > 1 && out[n - 1] != '/') n--;   /* drop the last component */
            if (n > 1) n--;
            out[n] = 0;
        } else if (!(len == 1 && p[0] == '.') && n + len + 2 < cap) {
            if (n > 1) out[n++] = '/';
            memcpy(out + n, p, len);
            n += len;
            out[n] = 0;
        }
        p += len;
    }
}

static int outside_answer(http_req *r, const char *path) {
    http_send_error(r, 403, "path", "field 'path': '%.200s' is outside --lora-dir", path);
    return -1;
}

/* Resolves the request's path against --lora-dir; every file the loader
** may open must resolve inside it too (a symbolic link in an adapter
** directory must not lead out). Where the path lies is decided before
** whether anything is there, so that a path outside gets the same 403
** whether or not it exists (no probing of the file system). Sends the
** error and returns -1. */
static int resolve_adapter_path(server *s, http_req *r, const char *path, char *out) {
    char joined[PATH_MAX * 2], lex[PATH_MAX * 2], given_dir[PATH_MAX * 2], cwd[PATH_MAX];
    if (path[0] == '/') snprintf(joined, sizeof joined, "%s", path);
    else snprintf(joined, sizeof joined, "%s/%s", s->lora_dir_real, path);
    if (strlen(joined) >= PATH_MAX) { http_send_error(r, 400, "path", "field 'path' is too long"); return -1; }
    /* by its text: inside --lora-dir as resolved, or as given */
    lexical_path(joined, lex, sizeof lex);
    if (s->cfg.lora_dir[0] == '/' || !getcwd(cwd, sizeof cwd)) snprintf(joined, sizeof joined, "%s", s->cfg.lora_dir);
    else snprintf(joined, sizeof joined, "%s/%s", cwd, s->cfg.lora_dir);
    lexical_path(joined, given_dir, sizeof given_dir);
    if (!inside(lex, s->lora_dir_real) && !inside(lex, given_dir)) return outside_answer(r, path);
    if (path[0] == '/') snprintf(joined, sizeof joined, "%s", path);
    else snprintf(joined, sizeof joined, "%s/%s", s->lora_dir_real, path);
    if (!realpath(joined, out)) {
        if (errno != ENOENT && errno != ENOTDIR) {
            http_send_error(r, 400, "path", "field 'path': %.200s: %s", path, strerror(errno));
            return -1;
        }
        /* missing: but where does the part that exists lead? */
        char anc[PATH_MAX * 2], real_anc[PATH_MAX] = "/";
        snprintf(anc, sizeof anc, "%s", lex);
        for (;;) {
            char *slash = strrchr(anc, '/');
            if (!slash || slash == anc) { snprintf(anc, sizeof anc, "/"); }
            else *slash = 0;
            if (realpath(anc, real_anc) || !strcmp(anc, "/")) break;
        }
        if (strcmp(real_anc, s->lora_dir_real) != 0 && !inside(real_anc, s->lora_dir_real)) return outside_answer(r, path);
        http_send_error(r, 404, "path", "no adapter at '%.200s' in --lora-dir", path);
        return -1;
    }
    if (!inside(out, s->lora_dir_real)) return outside_answer(r, path);
    struct stat st;
    if (stat(out, &st) == 0 && S_ISDIR(st.st_mode)) {
        static const char *const FILES[] = { "adapter_config.json", "adapter_model.safetensors", "adapter_model.bin" };
        for (size_t i = 0; i < sizeof FILES / sizeof FILES[0]; i++) {
            char f[PATH_MAX + 64], rf[PATH_MAX];
            snprintf(f, sizeof f, "%s/%s", out, FILES[i]);
            if (!realpath(f, rf)) continue;   /* missing: the loader reports it */
            if (!inside(rf, s->lora_dir_real)) {
                http_send_error(r, 403, "path", "field 'path': '%.200s/%s' leads outside --lora-dir", path, FILES[i]);
                return -1;
            }
        }
    }
    return 0;
}

static void h_adapters_load(server *s, http_req *r) {
    if (!s->lora_dir_real[0]) {
        http_send_error(r, 403, NULL, "adapters cannot be loaded at run time: the server was started without --lora-dir");
        return;
    }
    if (!server_require_ready(s, r)) return;
    json_t *b = http_body_json(r);
    if (!b) return;
    const char *name = NULL, *path = NULL;
    double scale = 1.0;
    char real[PATH_MAX], nm[LORA_NAME_MAX + 1];
    sa_err err = {{0}};
    if (http_json_string(r, b, "path", 1, &path) || http_json_string(r, b, "name", 0, &name) ||
        http_json_number(r, b, "scale", -1e4, 1e4, &scale))
        goto out;
    if (name && lora_check_name(name, &err)) { http_send_error(r, 400, "name", "field 'name': %s", err.msg); goto out; }
    if (!path[0]) { http_send_error(r, 400, "path", "field 'path' is empty"); goto out; }
    if (resolve_adapter_path(s, r, path, real)) goto out;
    if (name) snprintf(nm, sizeof nm, "%s", name);
    else lora_default_name(real, nm);
    float sc;
    const lora_adapter *have = lora_registry_acquire(s->reg, nm, &sc);
    if (have) {
        lora_release(have);
        http_send_error(r, 409, "name", "an adapter named '%s' is already loaded (DELETE /api/adapters/%s first)", nm, nm);
        goto out;
    }
    if (adapters_load(s, nm, real, (float)scale, &err)) {
        if ((have = lora_registry_acquire(s->reg, nm, &sc))) {   /* lost a race with another load */
            lora_release(have);
            http_send_error(r, 409, "name", "an adapter named '%s' is already loaded", nm);
        } else {
            http_send_error(r, 400, "path", "cannot load the adapter: %s", err.msg);
        }
        goto out;
    }
    slog_event("adapter_loaded", "%s from %s", nm, real);
    lora_listing *l = NULL;
    int n = 0;
    json_t *entry = NULL;
    if (lora_registry_list(s->reg, &l, &n, &err) == 0) {
        for (int i = 0; i < n; i++)
            if (!strcmp(l[i].name, nm)) entry = listing_json(&l[i]);
        lora_listing_free(l, n);
    }
    if (!entry) {   /* unloaded again between the two calls */
        entry = json_object();
        json_object_set_new(entry, "name", json_string(nm));
    }
    http_send_json(r, 201, entry);
out:
    json_decref(b);
}

static void h_adapters_unload(server *s, http_req *r) {
    if (!s->lora_dir_real[0]) {
        http_send_error(r, 403, NULL, "adapters cannot be unloaded at run time: the server was started without --lora-dir");
        return;
    }
    if (!server_require_ready(s, r)) return;
    const char *name = http_path(r) + strlen("/api/adapters/");
    sa_err err = {{0}};
    if (lora_check_name(name, &err)) { http_send_error(r, 400, "name", "%s", err.msg); return; }
    if (adapters_unload(s, name, &err)) { http_send_error(r, 404, "name", "%s", err.msg); return; }
    slog_event("adapter_unloaded", "%s", name);
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(name));
    json_object_set_new(o, "unloaded", json_true());
    http_send_json(r, 200, o);
}

/* ---- page, health, metrics ---------------------------------------------------------- */

static void h_page(server *s, http_req *r) {
    /* inline script and style only, no outside sources, no framing */
    http_add_header(r, "Content-Security-Policy",
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
                    "img-src 'self' data: blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    http_add_header(r, "X-Frame-Options", "DENY");
    http_add_header(r, "Referrer-Policy", "no-referrer");
    http_send_static(r, 200, "text/html; charset=utf-8", web_page_html, web_page_html_len);
}

static void h_health(server *s, http_req *r) {
    json_t *o = json_object();
    int ready = server_ready(s);
    int stopping = atomic_load(&s->stopping);
    json_object_set_new(o, "status", json_string(stopping ? "stopping" : ready ? "ready" : "loading"));
    json_object_set_new(o, "model", ready ? json_string(s->model_id) : json_null());
    json_object_set_new(o, "auth_required", json_boolean(s->cfg.api_key != NULL));
    json_object_set_new(o, "queue_depth", json_integer(wq_depth(s->wq)));
    /* 503 until ready, so that a readiness probe or a load balancer waits */
    http_send_json(r, ready && !stopping ? 200 : 503, o);
}

static void h_metrics(server *s, http_req *r) {
    mx_gauges g = { 0 };
    g.ready = server_ready(s);
    g.queue_depth = wq_depth(s->wq);
    g.queue_capacity = wq_capacity(s->wq);
    g.jobs_running = wq_running(s->wq);
    g.workers = wq_workers(s->wq);
    g.resident_bytes = metrics_resident_bytes();
    if (g.ready) {
        g.model_load_seconds = s->m->load_seconds;
        g.adapters_loaded = lora_registry_count(s->reg);
        g.have_pc = 1;
        g.pc = pc_get_stats(s->pc);
        if (s->batch) {
            g.have_batch = 1;
            g.batch = batcher_get_stats(s->batch);
        }
    }
    char *t = metrics_render(s->mx, &g);
    if (!t) { http_send_error(r, 500, NULL, "out of memory"); return; }
    http_send(r, 200, "text/plain; version=0.0.4; charset=utf-8", t, strlen(t));
}

/* ---- the table ------------------------------------------------------------------------ */

const http_route api_routes[] = {
    { "GET", "/", 0, "/", h_page },
    { "GET", "/health", 0, "/health", h_health },
    { "GET", "/metrics", 0, "/metrics", h_metrics },
    { "POST", "/api/ask", 1, "/api/ask", h_ask },
    { "POST", "/api/sql", 1, "/api/sql", h_sql },
    { "GET", "/api/schema", 1, "/api/schema", h_schema },
    { "GET", "/api/adapters", 1, "/api/adapters", h_adapters_list },
    { "POST", "/api/adapters", 1, "/api/adapters", h_adapters_load },
    { "DELETE", "/api/adapters/", 1, "/api/adapters/{name}", h_adapters_unload },
};
const int api_n_routes = (int)(sizeof api_routes / sizeof api_routes[0]);

int api_init(server *s, sa_err *err) {
    s->schema_json = schema_body(s);
    s->convs = calloc(1, sizeof *s->convs);
    if (!s->schema_json || !s->convs) return sa_fail(err, "out of memory");
    pthread_mutex_init(&s->convs->mu, NULL);
    pthread_cond_init(&s->convs->freed, NULL);
    return adapters_init(s, err);
}

void api_free(server *s) {
    if (s->convs) {
        for (int i = 0; i < s->convs->n; i++) agent_conversation_free(&s->convs->e[i].c);
        pthread_mutex_destroy(&s->convs->mu);
        pthread_cond_destroy(&s->convs->freed);
    }
    free(s->convs);
    s->convs = NULL;
    adapters_free(s);
    free(s->schema_json);
    s->schema_json = NULL;
}

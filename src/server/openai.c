/*
** openai.c — see openai.h.
**
** The raw model: messages become the prompt format of the server's
** template (the model file's own, else --format/--template): Qwen2.5's
** ChatML (a default system turn when the first message is not one, as
** Qwen's own chat template does), or for the other formats system messages
** as the schema/context, earlier user/assistant pairs as history and the
** last user message as the question (prompt_render). The text of each
** message has every "<|" broken up (prompt_defang) so that a message cannot
** open or close turns of its own. Generation shares the prefix cache with
** the SQL agent, under the same adapter keys.
**
** The agent (model OA_AGENT_MODEL): the last user message is the question,
** earlier user messages with the SQL of the assistant replies that follow
** them are the conversation; the reply is Markdown (oa_answer_markdown).
*/
#include "openai.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "agent/prompt.h"
#include "adapters.h"
#include "engine/generate.h"
#include "jobs.h"
#include "metrics.h"
#include "util.h"
#include "util/clock.h"
#include "util/strbuf.h"
#include "worker.h"

#define MAX_MESSAGES 512
#define MAX_STOP 4
/* max_tokens when the request names none: a chat reply, not a novel. */
#define DEFAULT_MAX_TOKENS 1024
/* the agent's question, as for POST /api/ask */
#define MAX_QUESTION_BYTES 4096
/* rows of the agent's Markdown table */
#define AGENT_TABLE_ROWS 50
/* a table cell is cut after this many bytes */
#define MAX_CELL_BYTES 200
/* how the agent's reply starts when no attempt ran: such a reply is not
** taken as the SQL of a conversation's earlier turn */
#define AGENT_FAILED_LEAD "No query ran:"

typedef struct chat_in {
    int32_t *ids;
    int n_ids;
    int max_tokens;
    sampler_params sp;
    char *stop[MAX_STOP + 1];           /* + the format's own end ("\n###") */
    int n_stop;
    char model[LORA_NAME_MAX + 130];
    char cache_key[LORA_NAME_MAX + 24];   /* adapters_acquire's key */
    const lora_adapter *lora;
    float scale;
    int include_usage;
    long long created;
    /* the agent */
    char *question;                     /* NULL: a plain chat */
    char *tables_for;                   /* the questions the schema's tables are chosen for */
    agent_conversation conv;
    /* streaming state (worker only) */
    int sent_role;
} chat_in;

static void chat_in_free(void *p) {
    chat_in *in = p;
    if (!in) return;
    free(in->ids);
    for (int i = 0; i < in->n_stop; i++) free(in->stop[i]);
    lora_release(in->lora);
    free(in->question);
    free(in->tables_for);
    agent_conversation_free(&in->conv);
    free(in);
}

/* {"id","object","created","model","system_fingerprint"} common to replies and chunks */
static json_t *envelope(const job *j, const chat_in *in, const char *object) {
    json_t *o = json_object();
    char id[96];
    snprintf(id, sizeof id, "chatcmpl-%s", j->id);
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "object", json_string(object));
    json_object_set_new(o, "created", json_integer(in->created));
    json_object_set_new(o, "model", sj_str(in->model));
    json_object_set_new(o, "system_fingerprint", json_null());
    return o;
}

static void emit_chunk(job *j, chat_in *in, const char *text, size_t len, const char *finish) {
    json_t *o = envelope(j, in, "chat.completion.chunk");
    json_t *choice = json_object(), *delta = json_object();
    if (!in->sent_role) {
        json_object_set_new(delta, "role", json_string("assistant"));
        in->sent_role = 1;
    }
    if (text) json_object_set_new(delta, "content", sj_strn(text, len));
    json_object_set_new(choice, "index", json_integer(0));
    json_object_set_new(choice, "delta", delta);
    json_object_set_new(choice, "logprobs", json_null());
    json_object_set_new(choice, "finish_reason", finish ? json_string(finish) : json_null());
    json_t *choices = json_array();
    json_array_append_new(choices, choice);
    json_object_set_new(o, "choices", choices);
    if (in->include_usage) json_object_set_new(o, "usage", json_null());
    char *d = sj_dump_take(o);
    if (d) job_emit(j, NULL, d);
    free(d);
}

static int chat_text(void *ud, const char *text, int len) {
    job *j = ud;
    if (j->sse != SSE_NONE && len > 0) emit_chunk(j, j->in, text, (size_t)len, NULL);
    return 0;
}

static int chat_token(void *ud, int id) { return job_should_stop(ud) != JOB_GO; }

static json_t *usage_json(int prompt, int completion) {
    json_t *u = json_object();
    json_object_set_new(u, "prompt_tokens", json_integer(prompt));
    json_object_set_new(u, "completion_tokens", json_integer(completion));
    json_object_set_new(u, "total_tokens", json_integer(prompt + completion));
    return u;
}

/* Ends a job whose reply is text: for a stream (whose content chunks went
** out already) the finish chunk, the usage chunk when asked for and
** [DONE]; else the chat.completion object. */
static void finish_reply(job *j, chat_in *in, const char *text, int n_prompt, int n_completion, const char *finish) {
    if (j->sse != SSE_NONE) {
        emit_chunk(j, in, NULL, 0, finish);
        if (in->include_usage) {
            json_t *o = envelope(j, in, "chat.completion.chunk");
            json_object_set_new(o, "choices", json_array());
            json_object_set_new(o, "usage", usage_json(n_prompt, n_completion));
            char *d = sj_dump_take(o);
            if (d) job_emit(j, NULL, d);
            free(d);
        }
        job_emit(j, NULL, "[DONE]");
        job_finish(j, 200, NULL);
        return;
    }
    json_t *o = envelope(j, in, "chat.completion");
    json_t *choice = json_object(), *msg = json_object(), *choices = json_array();
    json_object_set_new(msg, "role", json_string("assistant"));
    json_object_set_new(msg, "content", sj_str(text ? text : ""));
    json_object_set_new(msg, "refusal", json_null());
    json_object_set_new(choice, "index", json_integer(0));
    json_object_set_new(choice, "message", msg);
    json_object_set_new(choice, "logprobs", json_null());
    json_object_set_new(choice, "finish_reason", json_string(finish));
    json_array_append_new(choices, choice);
    json_object_set_new(o, "choices", choices);
    json_object_set_new(o, "usage", usage_json(n_prompt, n_completion));
    char *body = sj_dump_take(o);
    if (body) job_finish(j, 200, body);
    else job_fail(j, 500, NULL, "out of memory");
}

static void run_chat(server *s, job *j) {
    chat_in *in = j->in;
    char key[160];
    /* the agent's key format, so both kinds of request share cached prefixes */
    snprintf(key, sizeof key, "%s@%g", in->lora ? in->cache_key : "", in->lora ? (double)in->scale : 0.0);
    int n_cached = 0;
    infer_state *st = pc_acquire(s->pc, key, in->ids, in->n_ids, &n_cached);
    infer_set_lora(st, in->lora, in->scale);
    const char *stops[MAX_STOP + 1];
    for (int i = 0; i < in->n_stop; i++) stops[i] = in->stop[i];
    gen_opts go = {
        .n_predict = in->max_tokens, .sp = in->sp, .stop_strings = stops, .n_stop = in->n_stop,
        .on_text = chat_text, .on_token = chat_token, .ud = j,
        /* greedy requests: speculative decoding from the prompt (same output) */
        .draft = agent_draft(&(agent_config){ .draft = 0 }), .lookup = in->ids, .n_lookup = in->n_ids,
        .batch = s->batch,
    };
    if (j->sse != SSE_NONE) emit_chunk(j, in, "", 0, NULL);   /* the role first, as OpenAI does */
    gen_result res;
    sa_err err = {{0}};
    if (generate(s->m, st, in->ids + n_cached, in->n_ids - n_cached, &go, &res, &err)) {
        pc_release(s->pc, st, NULL, 0);
        job_fail(j, 500, NULL, err.msg);
        return;
    }
    int n_past = infer_n_past(st);
    int32_t *held = malloc((size_t)(in->n_ids + res.n_ids) * sizeof *held);
    if (held) {
        memcpy(held, in->ids, (size_t)in->n_ids * sizeof *held);
        memcpy(held + in->n_ids, res.ids, (size_t)res.n_ids * sizeof *held);
    }
    pc_release(s->pc, st, held, held && n_past <= in->n_ids + res.n_ids ? n_past : 0);
    free(held);

    j->st.prompt_tokens = in->n_ids;
    j->st.cached_tokens = n_cached;
    j->st.gen_tokens = res.n_ids;
    j->st.prefill_s = res.prefill_s;
    j->st.decode_s = res.decode_s;
    metrics_observe(s->mx, MX_PREFILL, res.prefill_s);
    metrics_observe(s->mx, MX_DECODE, res.decode_s);
    metrics_tokens(s->mx, in->n_ids, n_cached, res.n_ids, res.decode_s);

    int stop = atomic_load(&j->stop);
    if (res.stop == GEN_STOP_CALLBACK && stop != JOB_GO) {
        gen_result_free(&res);
        job_fail_stopped(j, stop);
        return;
    }
    const char *finish = res.stop == GEN_STOP_LENGTH || res.stop == GEN_STOP_CONTEXT ? "length" : "stop";
    finish_reply(j, in, res.text, in->n_ids, res.n_ids, finish);
    gen_result_free(&res);
}

/* ---- the agent ---------------------------------------------------------------------- */

/* One cell as Markdown table text: '|' escaped, line breaks as spaces, cut
** at MAX_CELL_BYTES (never inside a UTF-8 character). */
static void md_cell(strbuf *b, const sb_value *v) {
    char num[64];
    const char *t = num;
    size_t n;
    switch (v->type) {
    case SB_NULL: strbuf_puts(b, "NULL"); return;
    case SB_INTEGER: snprintf(num, sizeof num, "%lld", (long long)v->i); break;
    case SB_REAL:
        snprintf(num, sizeof num, "%.15g", v->r);
        if (strtod(num, NULL) != v->r) snprintf(num, sizeof num, "%.17g", v->r);
        break;
    case SB_BLOB: strbuf_printf(b, "(blob, %zu bytes)", v->len); return;
    case SB_TEXT: t = v->bytes ? v->bytes : ""; break;
    }
    n = strlen(t);
    size_t i = 0;
    for (; i < n && (i < MAX_CELL_BYTES || ((unsigned char)t[i] & 0xC0) == 0x80); i++) {
        char c = t[i];
        if (c == '|') strbuf_puts(b, "\\|");
        else if (c == '\\') strbuf_puts(b, "\\\\");
        else if (c == '\n' || c == '\r' || c == '\t') strbuf_puts(b, " ");
        else strbuf_append(b, &c, 1);
    }
    if (i < n) strbuf_puts(b, "…");
}

/* Whether every value of column c is a number (NULLs aside) and one is. */
static int numeric_column(const sb_result *r, int c) {
    int any = 0;
    for (int64_t i = 0; i < r->nrows; i++) {
        sb_type t = r->cells[i * r->ncols + c].type;
        if (t == SB_INTEGER || t == SB_REAL) any = 1;
        else if (t != SB_NULL) return 0;
    }
    return any;
}

char *oa_answer_markdown(const agent_answer *a) {
    strbuf b;
    strbuf_init(&b);
    if (!a->ok) {
        strbuf_printf(&b, AGENT_FAILED_LEAD " the model did not write a query that runs on this database (%d attempt%s). "
                      "Try rephrasing the question with the names of the tables and columns it is about.\n",
                      a->n_attempts, a->n_attempts == 1 ? "" : "s");
        const char *sql = a->sql && a->sql[0] ? a->sql : NULL;
        const char *err = a->n_attempts ? a->attempts[a->n_attempts - 1].error : NULL;
        if (sql) strbuf_printf(&b, "\nThe last attempt:\n\n```sql\n%s\n```\n", sql);
        if (err) strbuf_printf(&b, "\nSQLite said: %s\n", err);
        return strbuf_take(&b);
    }
    strbuf_printf(&b, "```sql\n%s\n```\n\n", a->sql ? a->sql : "");
    const sb_result *r = &a->result;
    if (r->nrows == 0) {
        strbuf_puts(&b, "The query returned no rows.\n");
    } else {
        strbuf_puts(&b, "|");
        for (int c = 0; c < r->ncols; c++) {
            sb_value v = { .type = SB_TEXT, .bytes = r->col_names[c] };
            strbuf_puts(&b, " ");
            md_cell(&b, &v);
            strbuf_puts(&b, " |");
        }
        strbuf_puts(&b, "\n|");
        for (int c = 0; c < r->ncols; c++) strbuf_puts(&b, numeric_column(r, c) ? " ---: |" : " --- |");
        strbuf_puts(&b, "\n");
        int64_t shown = r->nrows < AGENT_TABLE_ROWS ? r->nrows : AGENT_TABLE_ROWS;
        for (int64_t i = 0; i < shown; i++) {
            strbuf_puts(&b, "|");
            for (int c = 0; c < r->ncols; c++) {
                strbuf_puts(&b, " ");
                md_cell(&b, &r->cells[i * r->ncols + c]);
                strbuf_puts(&b, " |");
            }
            strbuf_puts(&b, "\n");
        }
        int64_t total = r->total_rows > r->nrows ? r->total_rows : r->nrows;
        if (total > shown)
            strbuf_printf(&b, "\n… and %s%lld more row%s (%s%lld in all).\n", r->total_at_least ? "at least " : "",
                          (long long)(total - shown), total - shown == 1 ? "" : "s", r->total_at_least ? "at least " : "",
                          (long long)total);
    }
    return strbuf_take(&b);
}

static int agent_cancelled(void *ud) { return job_should_stop(ud) != JOB_GO; }

static void run_agent(server *s, job *j) {
    chat_in *in = j->in;
    const server_config *c = &s->cfg;
    sa_err err = {{0}};
    if (j->sse != SSE_NONE) emit_chunk(j, in, "", 0, NULL);   /* the role at once */
    char *note = NULL;
    char *schema_text = agent_schema_prompt(s->m, &s->tpl, s->dbs[j->worker], &s->schema, in->tables_for, c->samples > 0, c->n_ctx,
                                            c->n_predict, c->max_attempts, &note, &err);
    if (!schema_text) { job_fail(j, 500, NULL, err.msg); return; }
    agent_config cfg = {
        .m = s->m, .pc = s->pc, .tpl = &s->tpl, .max_attempts = c->max_attempts, .max_new_tokens = c->n_predict,
        .copy_values = s->copy_values, .schema = &s->schema, .cancelled = agent_cancelled, .ud = j,
        .grammar = s->grammar, .candidates = s->candidates, .batch = s->batch,
    };
    agent_answer ans;
    int rc = agent_ask(&cfg, s->dbs[j->worker], schema_text, note, &in->conv, in->question, &ans, &err);
    jobs_observe_answer(s, j, &ans);
    int stop = atomic_load(&j->stop);
    if (rc) {
        job_fail(j, 500, NULL, err.msg);
    } else if (ans.cancelled && stop != JOB_GO) {
        job_fail_stopped(j, stop);
    } else {
        char *text = oa_answer_markdown(&ans);
        if (!text) job_fail(j, 500, NULL, "out of memory");
        else {
            if (j->sse != SSE_NONE) {
                /* the SQL block, then the rows */
                const char *rows = ans.ok ? strstr(text, "\n```\n") : NULL;
                size_t cut = rows ? (size_t)(rows - text) + 5 : strlen(text);
                emit_chunk(j, in, text, cut, NULL);
                if (text[cut]) emit_chunk(j, in, text + cut, strlen(text + cut), NULL);
            }
            finish_reply(j, in, text, ans.prompt_tokens, ans.generated_tokens, "stop");
        }
        free(text);
    }
    agent_answer_free(&ans);
    free(schema_text);
    free(note);
}

/* ---- messages ------------------------------------------------------------------------ */

typedef struct chat_msg {
    const char *role;                   /* "system", "user" or "assistant" */
    char *text;                         /* as sent (not defanged) */
} chat_msg;

static void msgs_free(chat_msg *m, int n) {
    for (int i = 0; i < n; i++) free(m[i].text);
    free(m);
}

/* One message's text: a string, or an array of {"type":"text"} parts.
** Sends 400 and returns NULL when it is neither. */
static char *message_text(http_req *r, json_t *content, size_t i) {
    char param[48];
    snprintf(param, sizeof param, "messages[%zu].content", i);
    if (json_is_string(content)) return strdup(json_string_value(content));
    if (!json_is_array(content)) {
        http_send_error(r, 400, param, "%s must be a string or an array of text parts", param);
        return NULL;
    }
    strbuf out;
    strbuf_init(&out);
    size_t k;
    json_t *part;
    json_array_foreach(content, k, part) {
        json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
        if (!json_is_object(part) || !json_is_string(type) || strcmp(json_string_value(type), "text") ||
            !json_is_string(text)) {
            http_send_error(r, 400, param, "%s[%zu] must be {\"type\": \"text\", \"text\": STRING} (only text is supported)",
                            param, k);
            strbuf_free(&out);
            return NULL;
        }
        strbuf_puts(&out, json_string_value(text));
    }
    char *t = strbuf_take(&out);
    if (!t) http_send_error(r, 500, NULL, "out of memory");
    return t;
}

/* The messages, checked; NULL after sending a 400. */
static chat_msg *parse_messages(http_req *r, json_t *msgs, int *n_out) {
    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        http_send_error(r, 400, "messages", "field 'messages' must be a non-empty array");
        return NULL;
    }
    if (json_array_size(msgs) > MAX_MESSAGES) {
        http_send_error(r, 400, "messages", "field 'messages' has more than %d entries", MAX_MESSAGES);
        return NULL;
    }
    chat_msg *out = calloc(json_array_size(msgs), sizeof *out);
    if (!out) { http_send_error(r, 500, NULL, "out of memory"); return NULL; }
    int n = 0;
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        char param[48];
        snprintf(param, sizeof param, "messages[%zu]", i);
        if (!json_is_object(m)) { http_send_error(r, 400, param, "%s must be an object", param); goto fail; }
        json_t *role = json_object_get(m, "role"), *content = json_object_get(m, "content");
        snprintf(param, sizeof param, "messages[%zu].role", i);
        if (!json_is_string(role)) { http_send_error(r, 400, param, "%s must be a string", param); goto fail; }
        const char *rs = json_string_value(role);
        if (!strcmp(rs, "developer") || !strcmp(rs, "system")) out[n].role = "system";   /* developer: OpenAI's newer name */
        else if (!strcmp(rs, "user")) out[n].role = "user";
        else if (!strcmp(rs, "assistant")) out[n].role = "assistant";
        else {
            http_send_error(r, 400, param, "%s '%.40s' is not supported (system, developer, user, assistant)", param, rs);
            goto fail;
        }
        if (!content || json_is_null(content)) {
            if (strcmp(out[n].role, "assistant")) {
                snprintf(param, sizeof param, "messages[%zu].content", i);
                http_send_error(r, 400, param, "missing field '%s'", param);
                goto fail;
            }
            out[n].text = strdup("");
        } else {
            out[n].text = message_text(r, content, i);
            if (!out[n].text) goto fail;
        }
        if (!out[n++].text) { http_send_error(r, 500, NULL, "out of memory"); goto fail; }
    }
    *n_out = n;
    return out;
fail:
    msgs_free(out, n);
    return NULL;
}

/* Qwen2.5's ChatML prompt of the messages. */
static char *chatml_of(const chat_msg *m, int n) {
    strbuf b;
    strbuf_init(&b);
    for (int i = 0; i < n; i++) {
        if (i == 0 && strcmp(m[i].role, "system")) chatml_turn(&b, "system", QWEN25_DEFAULT_SYSTEM);
        char *d = prompt_defang(m[i].text);
        chatml_turn(&b, m[i].role, d ? d : "");
        if (!d) b.oom = 1;
        free(d);
    }
    chatml_open(&b, "assistant");
    return strbuf_take(&b);
}

/* The index of the last user message, or -1. */
static int last_user(const chat_msg *m, int n) {
    for (int i = n - 1; i >= 0; i--)
        if (!strcmp(m[i].role, "user")) return i;
    return -1;
}

/* The prompt in the server's template when it is not ChatML: system
** messages are the schema (context), earlier user messages each with the
** assistant reply after it are history, the last user message is the
** question (prompt_render defangs them all). NULL after sending a 400. */
static char *own_format_of(server *s, http_req *r, const chat_msg *m, int n) {
    int q = last_user(m, n);
    if (q < 0) {
        http_send_error(r, 400, "messages", "field 'messages' has no user message (the question)");
        return NULL;
    }
    strbuf sys;
    strbuf_init(&sys);
    prompt_turn *turns = calloc((size_t)n, sizeof *turns);
    int nt = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(m[i].role, "system")) {
            if (sys.len) strbuf_puts(&sys, "\n");
            strbuf_puts(&sys, m[i].text);
        } else if (i < q && !strcmp(m[i].role, "user") && i + 1 < q && !strcmp(m[i + 1].role, "assistant") && turns) {
            turns[nt].question = m[i].text;
            turns[nt++].sql = m[i + 1].text;
        }
    }
    char *schema = strbuf_take(&sys);
    char *p = schema && turns ? prompt_render(&s->tpl, schema, turns, nt, m[q].text, NULL, 0) : NULL;
    free(schema);
    free(turns);
    if (!p) http_send_error(r, 500, NULL, "out of memory");
    return p;
}

/* The agent's request from the messages: question, conversation and the
** questions to choose tables for. Sends a 400 and returns -1 when the
** messages do not end with a question. */
static int agent_of(http_req *r, const chat_msg *m, int n, chat_in *in) {
    int q = n - 1;
    while (q >= 0 && !strcmp(m[q].role, "system")) q--;
    if (q < 0 || strcmp(m[q].role, "user")) {
        http_send_error(r, 400, "messages", "the last message of 'messages' must be the user's question");
        return -1;
    }
    char param[48];
    snprintf(param, sizeof param, "messages[%d].content", q);
    const char *question = m[q].text;
    question += strspn(question, " \t\r\n");
    if (!*question) { http_send_error(r, 400, param, "field '%s' (the question) is empty", param); return -1; }
    if (strlen(question) > MAX_QUESTION_BYTES) {
        http_send_error(r, 400, param, "field '%s' (the question) is longer than %d bytes", param, MAX_QUESTION_BYTES);
        return -1;
    }
    strbuf tf;
    strbuf_init(&tf);
    for (int i = 0; i + 1 < q; i++) {
        if (strcmp(m[i].role, "user") || strcmp(m[i + 1].role, "assistant")) continue;
        if (!strncmp(m[i + 1].text, AGENT_FAILED_LEAD, strlen(AGENT_FAILED_LEAD))) continue;
        char *sql = prompt_extract_sql(m[i + 1].text);
        if (sql && sql[0]) {
            agent_conversation_add(&in->conv, m[i].text, sql);
            strbuf_puts(&tf, m[i].text);
            strbuf_puts(&tf, "\n");
        }
        free(sql);
    }
    strbuf_puts(&tf, question);
    in->tables_for = strbuf_take(&tf);
    in->question = strdup(question);
    if (!in->tables_for || !in->question) { http_send_error(r, 500, NULL, "out of memory"); return -1; }
    return 0;
}

static int parse_stop(http_req *r, json_t *v, chat_in *in) {
    if (!v || json_is_null(v)) return 0;
    if (json_is_string(v)) {
        if (json_string_length(v) == 0) return 0;
        in->stop[in->n_stop++] = strdup(json_string_value(v));
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) > MAX_STOP) {
        http_send_error(r, 400, "stop", "field 'stop' must be a string or an array of at most %d strings", MAX_STOP);
        return -1;
    }
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
        if (!json_is_string(x)) { http_send_error(r, 400, "stop", "field 'stop' must hold strings only"); return -1; }
        if (json_string_length(x) && strlen(json_string_value(x)) == json_string_length(x))
            in->stop[in->n_stop++] = strdup(json_string_value(x));
    }
    return 0;
}

static void send_model_not_found(server *s, http_req *r, const char *name) {
    char msg[400];
    snprintf(msg, sizeof msg,
             "the model '%.80s' does not exist: use '" OA_AGENT_MODEL "' (the SQL agent), '%s' (the base model) or a loaded adapter (GET /v1/models)",
             name, s->model_id);
    char *body = sj_error_body(404, "model", "model_not_found", msg);
    http_send(r, 404, "application/json", body, strlen(body));
}

static void oa_chat_completions(server *s, http_req *r) {
    if (!server_require_ready(s, r)) return;
    json_t *b = http_body_json(r);
    if (!b) return;
    chat_in *in = calloc(1, sizeof *in);
    char *prompt = NULL;
    chat_msg *msgs = NULL;
    int n_msgs = 0;
    const char *model_name = NULL;
    double temperature = 1.0, top_p = 1.0;
    long max_tokens = 0, seed = -1, n = 1;
    int stream = 0;
    if (!in) { http_send_error(r, 500, NULL, "out of memory"); goto out; }
    agent_conversation_init(&in->conv);
    if (http_json_string(r, b, "model", 1, &model_name) || http_json_number(r, b, "temperature", 0, 2, &temperature) ||
        http_json_number(r, b, "top_p", 0, 1, &top_p) || http_json_int(r, b, "max_tokens", 1, 1 << 20, &max_tokens) ||
        http_json_int(r, b, "max_completion_tokens", 1, 1 << 20, &max_tokens) ||
        http_json_int(r, b, "seed", -(1L << 53), 1L << 53, &seed) || http_json_int(r, b, "n", 1, 1, &n) ||
        http_json_bool(r, b, "stream", &stream) || parse_stop(r, json_object_get(b, "stop"), in))
        goto out;
    json_t *so = json_object_get(b, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) { http_send_error(r, 400, "stream_options", "field 'stream_options' must be an object"); goto out; }
        if (http_json_bool(r, so, "include_usage", &in->include_usage)) goto out;
    }
    json_t *lp = json_object_get(b, "logprobs");
    if (json_is_true(lp)) { http_send_error(r, 400, "logprobs", "logprobs are not supported"); goto out; }
    json_t *tools = json_object_get(b, "tools");
    if (tools && !json_is_null(tools) && !(json_is_array(tools) && json_array_size(tools) == 0)) {
        http_send_error(r, 400, "tools", "tools are not supported");
        goto out;
    }
    int agent = !strcmp(model_name, OA_AGENT_MODEL);
    if (!agent && strcmp(model_name, s->model_id) != 0) {
        if (adapters_acquire(s, model_name, &in->lora, &in->scale, in->cache_key, sizeof in->cache_key) || !in->lora) {
            send_model_not_found(s, r, model_name);
            goto out;
        }
    }
    snprintf(in->model, sizeof in->model, "%s", model_name);
    if (!(msgs = parse_messages(r, json_object_get(b, "messages"), &n_msgs))) goto out;
    in->created = (long long)time(NULL);
    job_run_fn run = run_chat;
    if (agent) {
        /* sampling and length settings are the agent's own (greedy, -n per attempt) */
        if (agent_of(r, msgs, n_msgs, in)) goto out;
        run = run_agent;
    } else {
        if (s->tpl.kind == PROMPT_CHATML) {
            if (!(prompt = chatml_of(msgs, n_msgs))) { http_send_error(r, 500, NULL, "out of memory"); goto out; }
        } else {
            if (!(prompt = own_format_of(s, r, msgs, n_msgs))) goto out;
            /* the formats of sql-create-context and of most templates mark their next section with "###" */
            if (in->n_stop < MAX_STOP + 1) in->stop[in->n_stop++] = strdup("\n###");
        }
        size_t n_ids = 0;
        sa_err err = {{0}};
        if (tok_encode(s->m->tok, prompt, strlen(prompt), &in->ids, &n_ids, &err)) {
            http_send_error(r, 400, "messages", "%s", err.msg);
            goto out;
        }
        in->n_ids = (int)n_ids;
        int room = s->cfg.n_ctx - in->n_ids;
        if (room < 1) {
            http_send_error(r, 400, "messages", "the messages are %d tokens: more than the context of %d (--ctx) allows",
                            in->n_ids, s->cfg.n_ctx);
            goto out;
        }
        if (!max_tokens) max_tokens = DEFAULT_MAX_TOKENS;
        in->max_tokens = (int)(max_tokens < room ? max_tokens : room);
        in->sp.temperature = (float)temperature;
        in->sp.top_p = (float)top_p;
        in->sp.seed = seed >= 0 ? (uint64_t)seed : (uint64_t)(clock_now_s() * 1e9);
    }
    for (int i = 0; i < in->n_stop; i++)
        if (!in->stop[i]) { http_send_error(r, 500, NULL, "out of memory"); goto out; }
    job *j = job_new(http_id(r), stream ? SSE_OPENAI : SSE_NONE, s->cfg.request_timeout_ms);
    if (!j) { http_send_error(r, 500, NULL, "out of memory"); goto out; }
    j->run = run;
    j->in = in;
    j->in_free = chat_in_free;
    in = NULL;
    jobs_submit(s, r, j);
out:
    chat_in_free(in);
    msgs_free(msgs, n_msgs);
    free(prompt);
    json_decref(b);
}

/* ---- models ---------------------------------------------------------------------------- */

static json_t *model_obj(server *s, const char *id, const char *parent) {
    json_t *m = json_object();
    json_object_set_new(m, "id", sj_str(id));
    json_object_set_new(m, "object", json_string("model"));
    json_object_set_new(m, "created", json_integer(s->created));
    json_object_set_new(m, "owned_by", json_string("sqlassist"));
    if (parent) json_object_set_new(m, "parent", json_string(parent));
    return m;
}

/* The base model, the agent, then every adapter. */
static json_t *model_list(server *s) {
    json_t *data = json_array();
    json_array_append_new(data, model_obj(s, s->model_id, NULL));
    json_array_append_new(data, model_obj(s, OA_AGENT_MODEL, s->model_id));
    lora_listing *l = NULL;
    int n = 0;
    sa_err err = {{0}};
    if (lora_registry_list(s->reg, &l, &n, &err) == 0) {
        for (int i = 0; i < n; i++) json_array_append_new(data, model_obj(s, l[i].name, s->model_id));
        lora_listing_free(l, n);
    }
    return data;
}

static void oa_models(server *s, http_req *r) {
    if (!server_require_ready(s, r)) return;
    json_t *o = json_object();
    json_object_set_new(o, "object", json_string("list"));
    json_object_set_new(o, "data", model_list(s));
    http_send_json(r, 200, o);
}

static void oa_model(server *s, http_req *r) {
    if (!server_require_ready(s, r)) return;
    const char *id = http_path(r) + strlen("/v1/models/");
    json_t *data = model_list(s), *m;
    size_t i;
    json_array_foreach(data, i, m) {
        if (!strcmp(json_string_value(json_object_get(m, "id")), id)) {
            http_send_json(r, 200, json_incref(m));
            json_decref(data);
            return;
        }
    }
    json_decref(data);
    send_model_not_found(s, r, id);
}

/* ---- the table ------------------------------------------------------------------------ */

const http_route oa_routes[] = {
    { "POST", "/v1/chat/completions", 1, "/v1/chat/completions", oa_chat_completions },
    { "GET", "/v1/models", 1, "/v1/models", oa_models },
    { "GET", "/v1/models/", 1, "/v1/models/{id}", oa_model },
};
const int oa_n_routes = (int)(sizeof oa_routes / sizeof oa_routes[0]);

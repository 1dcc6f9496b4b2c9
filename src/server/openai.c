/*
** openai.c — see openai.h.
**
** Messages become Qwen2.5's ChatML (a default system turn when the first
** message is not one, as Qwen's own chat template does); the text of each
** message has every "<|" broken up (prompt_defang) so that a message cannot
** open or close turns of its own. Generation shares the prefix cache with
** the SQL agent, under the same adapter keys.
*/
#include "openai.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/prompt.h"
#include "api.h"
#include "engine/generate.h"
#include "metrics.h"
#include "util.h"
#include "util/strbuf.h"
#include "worker.h"

#define MAX_MESSAGES 512
#define MAX_STOP 4
/* max_tokens when the request names none: a chat reply, not a novel. */
#define DEFAULT_MAX_TOKENS 1024

typedef struct chat_in {
    int32_t *ids;
    int n_ids;
    int max_tokens;
    sampler_params sp;
    char *stop[MAX_STOP];
    int n_stop;
    char model[LORA_NAME_MAX + 130];
    char cache_key[LORA_NAME_MAX + 24];   /* api_adapter's key */
    const lora_adapter *lora;
    float scale;
    int include_usage;
    long long created;
    /* streaming state (worker only) */
    int sent_role;
} chat_in;

static void chat_in_free(void *p) {
    chat_in *in = p;
    if (!in) return;
    free(in->ids);
    for (int i = 0; i < in->n_stop; i++) free(in->stop[i]);
    lora_release(in->lora);
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

static void run_chat(server *s, job *j) {
    chat_in *in = j->in;
    char key[160];
    /* the agent's key format, so both kinds of request share cached prefixes */
    snprintf(key, sizeof key, "%s@%g", in->lora ? in->cache_key : "", in->lora ? (double)in->scale : 0.0);
    int n_cached = 0;
    infer_state *st = pc_acquire(s->pc, key, in->ids, in->n_ids, &n_cached);
    infer_set_lora(st, in->lora, in->scale);
    const char *stops[MAX_STOP];
    for (int i = 0; i < in->n_stop; i++) stops[i] = in->stop[i];
    gen_opts go = {
        .n_predict = in->max_tokens, .sp = in->sp, .stop_strings = stops, .n_stop = in->n_stop,
        .on_text = chat_text, .on_token = chat_token, .ud = j,
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
    if (j->sse != SSE_NONE) {
        emit_chunk(j, in, NULL, 0, finish);
        if (in->include_usage) {
            json_t *o = envelope(j, in, "chat.completion.chunk");
            json_object_set_new(o, "choices", json_array());
            json_object_set_new(o, "usage", usage_json(in->n_ids, res.n_ids));
            char *d = sj_dump_take(o);
            if (d) job_emit(j, NULL, d);
            free(d);
        }
        job_emit(j, NULL, "[DONE]");
        job_finish(j, 200, NULL);
    } else {
        json_t *o = envelope(j, in, "chat.completion");
        json_t *choice = json_object(), *msg = json_object(), *choices = json_array();
        json_object_set_new(msg, "role", json_string("assistant"));
        json_object_set_new(msg, "content", sj_str(res.text ? res.text : ""));
        json_object_set_new(msg, "refusal", json_null());
        json_object_set_new(choice, "index", json_integer(0));
        json_object_set_new(choice, "message", msg);
        json_object_set_new(choice, "logprobs", json_null());
        json_object_set_new(choice, "finish_reason", json_string(finish));
        json_array_append_new(choices, choice);
        json_object_set_new(o, "choices", choices);
        json_object_set_new(o, "usage", usage_json(in->n_ids, res.n_ids));
        char *body = sj_dump_take(o);
        if (body) job_finish(j, 200, body);
        else job_fail(j, 500, NULL, "out of memory");
    }
    gen_result_free(&res);
}

/* Appends one message's text: a string, or an array of {"type":"text"}
** parts. Sends 400 and returns -1 when it is neither. */
static int message_text(http_req *r, json_t *content, int i, strbuf *out) {
    char param[48];
    snprintf(param, sizeof param, "messages[%d].content", i);
    if (json_is_string(content)) {
        char *d = prompt_defang(json_string_value(content));
        strbuf_puts(out, d ? d : "");
        free(d);
        return 0;
    }
    if (!json_is_array(content)) {
        http_send_error(r, 400, param, "%s must be a string or an array of text parts", param);
        return -1;
    }
    size_t k;
    json_t *part;
    json_array_foreach(content, k, part) {
        json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
        if (!json_is_object(part) || !json_is_string(type) || strcmp(json_string_value(type), "text") ||
            !json_is_string(text)) {
            http_send_error(r, 400, param, "%s[%zu] must be {\"type\": \"text\", \"text\": STRING} (only text is supported)",
                            param, k);
            return -1;
        }
        char *d = prompt_defang(json_string_value(text));
        strbuf_puts(out, d ? d : "");
        free(d);
    }
    return 0;
}

/* The ChatML prompt of the messages, or NULL after sending a 400. */
static char *chatml_of(http_req *r, json_t *msgs) {
    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        http_send_error(r, 400, "messages", "field 'messages' must be a non-empty array");
        return NULL;
    }
    if (json_array_size(msgs) > MAX_MESSAGES) {
        http_send_error(r, 400, "messages", "field 'messages' has more than %d entries", MAX_MESSAGES);
        return NULL;
    }
    strbuf b;
    strbuf_init(&b);
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
        if (!strcmp(rs, "developer")) rs = "system";   /* OpenAI's newer name for it */
        if (strcmp(rs, "system") && strcmp(rs, "user") && strcmp(rs, "assistant")) {
            http_send_error(r, 400, param, "%s '%.40s' is not supported (system, developer, user, assistant)", param, rs);
            goto fail;
        }
        if (i == 0 && strcmp(rs, "system"))
            strbuf_printf(&b, "<|im_start|>system\n%s<|im_end|>\n", QWEN25_DEFAULT_SYSTEM);
        strbuf_printf(&b, "<|im_start|>%s\n", rs);
        if (!content || json_is_null(content)) {
            if (strcmp(rs, "assistant")) {
                snprintf(param, sizeof param, "messages[%zu].content", i);
                http_send_error(r, 400, param, "missing field '%s'", param);
                goto fail;
            }
        } else if (message_text(r, content, (int)i, &b)) {
            goto fail;
        }
        strbuf_puts(&b, "<|im_end|>\n");
    }
    strbuf_puts(&b, "<|im_start|>assistant\n");
    if (b.oom) { http_send_error(r, 500, NULL, "out of memory"); goto fail; }
    return strbuf_take(&b);
fail:
    strbuf_free(&b);
    return NULL;
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

void oa_chat_completions(server *s, http_req *r) {
    if (!api_require_ready(s, r)) return;
    json_t *b = http_body_json(r);
    if (!b) return;
    chat_in *in = calloc(1, sizeof *in);
    char *prompt = NULL;
    const char *model_name = NULL;
    double temperature = 1.0, top_p = 1.0;
    long max_tokens = 0, seed = -1, n = 1;
    int stream = 0;
    if (!in) { http_send_error(r, 500, NULL, "out of memory"); goto out; }
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
    if (strcmp(model_name, s->model_id) != 0) {
        if (api_adapter(s, model_name, &in->lora, &in->scale, in->cache_key, sizeof in->cache_key) || !in->lora) {
            char msg[400];
            snprintf(msg, sizeof msg, "the model '%.80s' does not exist: use '%s' (the base model) or a loaded adapter (GET /v1/models)",
                     model_name, s->model_id);
            char *body = sj_error_body(404, "model", "model_not_found", msg);
            http_send(r, 404, "application/json", body, strlen(body));
            goto out;
        }
    }
    snprintf(in->model, sizeof in->model, "%s", model_name);
    if (!(prompt = chatml_of(r, json_object_get(b, "messages")))) goto out;
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
    in->sp.seed = seed >= 0 ? (uint64_t)seed : (uint64_t)(gen_now() * 1e9);
    in->created = (long long)time(NULL);
    job *j = job_new(http_id(r), stream ? SSE_OPENAI : SSE_NONE, s->cfg.request_timeout_ms);
    if (!j) { http_send_error(r, 500, NULL, "out of memory"); goto out; }
    j->run = run_chat;
    j->in = in;
    j->in_free = chat_in_free;
    in = NULL;
    api_submit(s, r, j);
out:
    chat_in_free(in);
    free(prompt);
    json_decref(b);
}

void oa_models(server *s, http_req *r) {
    if (!api_require_ready(s, r)) return;
    json_t *o = json_object(), *data = json_array(), *m = json_object();
    json_object_set_new(o, "object", json_string("list"));
    json_object_set_new(m, "id", json_string(s->model_id));
    json_object_set_new(m, "object", json_string("model"));
    json_object_set_new(m, "created", json_integer(s->created));
    json_object_set_new(m, "owned_by", json_string("sqlassist"));
    json_array_append_new(data, m);
    lora_listing *l = NULL;
    int n = 0;
    sa_err err = {{0}};
    if (lora_registry_list(s->reg, &l, &n, &err) == 0) {
        for (int i = 0; i < n; i++) {
            json_t *a = json_object();
            json_object_set_new(a, "id", json_string(l[i].name));
            json_object_set_new(a, "object", json_string("model"));
            json_object_set_new(a, "created", json_integer(s->created));
            json_object_set_new(a, "owned_by", json_string("sqlassist"));
            json_object_set_new(a, "parent", json_string(s->model_id));
            json_array_append_new(data, a);
        }
        lora_listing_free(l, n);
    }
    json_object_set_new(o, "data", data);
    http_send_json(r, 200, o);
}

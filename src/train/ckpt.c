/*
** ckpt.c — checkpoint save and load (see ckpt.h).
*/
#include "ckpt.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/safetensors.h"
#include "tio.h"

#define CKPT_FORMAT "sqlassist-train-checkpoint"
#define CKPT_VERSION 1

int ckpt_save(const char *path, const tmodel *m, const adamw *o, const tstate *s, const char *run_json, sa_err *err) {
    json_error_t je;
    json_t *run = json_loads(run_json, 0, &je);
    if (!run) return sa_fail(err, "internal: run settings are not JSON: %s", je.text);
    json_t *st = json_object();
    json_object_set_new(st, "format", json_string(CKPT_FORMAT));
    json_object_set_new(st, "version", json_integer(CKPT_VERSION));
    json_object_set_new(st, "step", json_integer(s->step));
    json_object_set_new(st, "epoch", json_integer(s->epoch));
    json_object_set_new(st, "cursor", json_integer(s->cursor));
    json_object_set_new(st, "tokens", json_integer(s->tokens));
    json_t *rng = json_array();
    for (int i = 0; i < 4; i++) {
        char h[24];
        snprintf(h, sizeof h, "%016" PRIx64, s->rng.s[i]);
        json_array_append_new(rng, json_string(h));
    }
    json_object_set_new(st, "rng", rng);
    json_object_set_new(st, "run", run);
    char *state = json_dumps(st, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_SORT_KEYS);
    json_decref(st);
    int n = 3 * m->n_params + 2, k = 0, rc = -1;
    st_entry *e = calloc((size_t)n, sizeof *e);
    char (*names)[160] = calloc((size_t)(2 * m->n_params + 1), sizeof *names);
    if (!state || !e || !names) { sa_fail(err, "out of memory"); goto out; }
    for (int i = 0; i < m->n_params; i++) {
        const tparam *p = &m->params[i];
        size_t off = (size_t)(p->data - m->pbuf);
        st_entry base = { p->name, "F32", p->n_dims, { p->shape[0], p->n_dims == 2 ? p->shape[1] : 0 }, p->data };
        e[k++] = base;
        snprintf(names[2 * i], sizeof names[0], "optim.exp_avg.%s", p->name);
        snprintf(names[2 * i + 1], sizeof names[0], "optim.exp_avg_sq.%s", p->name);
        base.name = names[2 * i];
        base.data = o->m + off;
        e[k++] = base;
        base.name = names[2 * i + 1];
        base.data = o->v + off;
        e[k++] = base;
    }
    e[k++] = (st_entry){ "train.order", "I32", 1, { s->n_train, 0 }, s->order };
    e[k++] = (st_entry){ "train.state", "U8", 1, { (int64_t)strlen(state), 0 }, state };
    rc = st_save(path, e, k, err);
out:
    free(state);
    free(e);
    free(names);
    return rc;
}

/* The first setting whose value differs between two run objects, named by
** its path ("optimizer.lr"), for the message. */
static int first_difference(json_t *a, json_t *b, const char *prefix, char *out, size_t n) {
    const char *key;
    json_t *v;
    char path[256];
    json_object_foreach(a, key, v) {
        json_t *w = json_object_get(b, key);
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", key);
        if (w && json_is_object(v) && json_is_object(w)) {
            if (first_difference(v, w, path, out, n)) return 1;
        } else if (!w || !json_equal(v, w)) {
            char *sa = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT), *sb = w ? json_dumps(w, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
            snprintf(out, n, "'%s' is %s in the checkpoint but %s now", path, sa ? sa : "?", sb ? sb : "absent");
            free(sa);
            free(sb);
            return 1;
        }
    }
    json_object_foreach(b, key, v)
        if (!json_object_get(a, key)) {
            snprintf(out, n, "'%s%s%s' is absent from the checkpoint", prefix, *prefix ? "." : "", key);
            return 1;
        }
    return 0;
}

static int load_f32(const st_file *f, const char *name, float *dst, size_t n, sa_err *err) {
    const st_tensor *t = st_find(f, name);
    if (!t) return sa_fail(err, "%s: missing tensor '%s'", f->path, name);
    if (t->dtype != ST_F32 || st_numel(t) != n)
        return sa_fail(err, "%s: tensor '%s': %s with %llu elements, expected F32 with %zu", f->path, name, t->dtype_name,
                       (unsigned long long)st_numel(t), n);
    memcpy(dst, t->data, n * sizeof(float));
    return 0;
}

int ckpt_load_weights(const char *path, tmodel *m, sa_err *err) {
    st_file *f = st_open(path, err);
    if (!f) return -1;
    int rc = 0;
    for (int i = 0; i < m->n_params && !rc; i++) rc = load_f32(f, m->params[i].name, m->params[i].data, m->params[i].n, err);
    st_close(f);
    return rc;
}

int ckpt_load(const char *path, tmodel *m, adamw *o, tstate *s, const char *run_json, int reschedule, sa_err *err) {
    st_file *f = st_open(path, err);
    if (!f) return -1;
    int rc = -1;
    json_t *st = NULL, *cur = NULL;
    const st_tensor *ts = st_find(f, "train.state");
    if (!ts || ts->dtype != ST_U8) { sa_fail(err, "%s: not a training checkpoint (no U8 tensor 'train.state')", path); goto out; }
    json_error_t je;
    st = json_loadb(ts->data, (size_t)ts->nbytes, 0, &je);
    cur = json_loads(run_json, 0, &je);
    json_t *fmt = json_object_get(st, "format"), *ver = json_object_get(st, "version"), *run = json_object_get(st, "run");
    if (!st || !json_is_string(fmt) || strcmp(json_string_value(fmt), CKPT_FORMAT) || !json_is_integer(ver)) {
        sa_fail(err, "%s: 'train.state' is not a %s", path, CKPT_FORMAT);
        goto out;
    }
    if (json_integer_value(ver) != CKPT_VERSION) {
        sa_fail(err, "%s: checkpoint version %lld (this build reads %d)", path, (long long)json_integer_value(ver), CKPT_VERSION);
        goto out;
    }
    if (reschedule && json_is_object(run) && cur) {
        /* the total is compared no further; the checkpoint keeps its own until it is saved again */
        json_t *ro = json_object_get(run, "optimizer"), *co = json_object_get(cur, "optimizer");
        json_t *rt = json_object_get(ro, "total_steps"), *ct = json_object_get(co, "total_steps");
        if (json_is_integer(rt) && json_is_integer(ct)) json_object_set(ro, "total_steps", ct);
    }
    if (!cur || !json_is_object(run) || !json_equal(run, cur)) {
        char why[512] = "settings differ";
        if (json_is_object(run) && json_is_object(cur)) first_difference(run, cur, "", why, sizeof why);
        sa_fail(err, "%s: cannot resume with other settings: %s", path, why);
        goto out;
    }
    json_t *rng = json_object_get(st, "rng");
    if (!json_is_array(rng) || json_array_size(rng) != 4) { sa_fail(err, "%s: bad 'rng' in train.state", path); goto out; }
    for (int i = 0; i < 4; i++) {
        const char *h = json_string_value(json_array_get(rng, (size_t)i));
        if (!h || sscanf(h, "%" SCNx64, &s->rng.s[i]) != 1) { sa_fail(err, "%s: bad 'rng' in train.state", path); goto out; }
    }
    s->step = (int)json_integer_value(json_object_get(st, "step"));
    s->epoch = (int)json_integer_value(json_object_get(st, "epoch"));
    s->cursor = (int)json_integer_value(json_object_get(st, "cursor"));
    s->tokens = (long)json_integer_value(json_object_get(st, "tokens"));
    if (s->step < 0 || s->cursor < 0 || s->cursor > s->n_train) { sa_fail(err, "%s: bad counters in train.state", path); goto out; }
    const st_tensor *to = st_find(f, "train.order");
    if (!to || to->dtype != ST_I32 || st_numel(to) != (uint64_t)s->n_train) {
        sa_fail(err, "%s: tensor 'train.order' must be I32 [%d]", path, s->n_train);
        goto out;
    }
    memcpy(s->order, to->data, (size_t)s->n_train * sizeof(int32_t));
    for (int i = 0; i < s->n_train; i++)
        if (s->order[i] < 0 || s->order[i] >= s->n_train) { sa_fail(err, "%s: 'train.order' holds a bad index", path); goto out; }
    char nm[160];
    for (int i = 0; i < m->n_params; i++) {
        tparam *p = &m->params[i];
        size_t off = (size_t)(p->data - m->pbuf);
        if (load_f32(f, p->name, p->data, p->n, err)) goto out;
        snprintf(nm, sizeof nm, "optim.exp_avg.%s", p->name);
        if (load_f32(f, nm, o->m + off, p->n, err)) goto out;
        snprintf(nm, sizeof nm, "optim.exp_avg_sq.%s", p->name);
        if (load_f32(f, nm, o->v + off, p->n, err)) goto out;
    }
    rc = 0;
out:
    json_decref(st);
    json_decref(cur);
    st_close(f);
    return rc;
}

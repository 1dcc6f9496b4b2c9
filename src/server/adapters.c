/*
** adapters.c — see adapters.h.
*/
#include "adapters.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* name -> id of the instance loaded under it. Changed together with the
** registry under mu (unload) or right after it (load), and read together
** with it under mu (adapters_acquire), so a request never pairs one instance
** with another's id. */
typedef struct adapter_id { char name[LORA_NAME_MAX + 1]; unsigned long id; } adapter_id;
typedef struct adapter_ids {
    pthread_mutex_t mu;
    adapter_id *v;
    int n, cap;
    unsigned long next;
} adapter_ids;

static int aid_find(const adapter_ids *t, const char *name) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->v[i].name, name)) return i;
    return -1;
}

/* Records a freshly loaded instance of name (caller holds mu). */
static int aid_add_locked(adapter_ids *t, const char *name) {
    int i = aid_find(t, name);
    if (i < 0) {
        if (t->n == t->cap) {
            int cap = t->cap ? 2 * t->cap : 8;
            adapter_id *v = realloc(t->v, (size_t)cap * sizeof *v);
            if (!v) return -1;
            t->v = v;
            t->cap = cap;
        }
        i = t->n++;
        snprintf(t->v[i].name, sizeof t->v[i].name, "%s", name);
    }
    t->v[i].id = ++t->next;
    return 0;
}

int adapters_load(server *s, const char *name, const char *path, float scale, sa_err *err) {
    if (lora_registry_load(s->reg, name, path, scale, err)) return -1;
    pthread_mutex_lock(&s->aids->mu);
    int rc = aid_add_locked(s->aids, name);
    pthread_mutex_unlock(&s->aids->mu);
    if (rc) {
        lora_registry_unload(s->reg, name, NULL);
        return sa_fail(err, "out of memory");
    }
    return 0;
}

int adapters_unload(server *s, const char *name, sa_err *err) {
    pthread_mutex_lock(&s->aids->mu);
    int rc = lora_registry_unload(s->reg, name, err);
    int i = aid_find(s->aids, name);
    if (i >= 0) s->aids->v[i] = s->aids->v[--s->aids->n];
    pthread_mutex_unlock(&s->aids->mu);
    return rc;
}

int adapters_acquire(server *s, const char *name, const lora_adapter **a, float *scale, char *key, size_t cap) {
    *a = NULL;
    *scale = 0;
    if (cap) key[0] = 0;
    if (!name || !name[0] || !strcmp(name, "none")) return 0;
    pthread_mutex_lock(&s->aids->mu);
    int i = aid_find(s->aids, name);
    /* an instance still being recorded by its loader counts as not loaded yet */
    if (i >= 0 && (*a = lora_registry_acquire(s->reg, name, scale))) snprintf(key, cap, "%s#%lu", name, s->aids->v[i].id);
    pthread_mutex_unlock(&s->aids->mu);
    return *a ? 0 : -1;
}

int adapters_load_flag(server *s, const char *spec, sa_err *err) {
    const char *eq = strchr(spec, '=');
    char name[LORA_NAME_MAX + 1];
    const char *path = spec;
    if (eq && !memchr(spec, '/', (size_t)(eq - spec))) {
        size_t n = (size_t)(eq - spec);
        if (n > LORA_NAME_MAX) return sa_fail(err, "--lora %s: the name is longer than %d characters", spec, LORA_NAME_MAX);
        memcpy(name, spec, n);
        name[n] = 0;
        path = eq + 1;
        if (lora_check_name(name, err)) { sa_err_prefix(err, "--lora %s", spec); return -1; }
    } else {
        lora_default_name(path, name);
    }
    if (adapters_load(s, name, path, 1.0f, err)) { sa_err_prefix(err, "--lora %s", spec); return -1; }
    return 0;
}

int adapters_init(server *s, sa_err *err) {
    if (!(s->aids = calloc(1, sizeof *s->aids))) return sa_fail(err, "out of memory");
    pthread_mutex_init(&s->aids->mu, NULL);
    return 0;
}

void adapters_free(server *s) {
    if (!s->aids) return;
    pthread_mutex_destroy(&s->aids->mu);
    free(s->aids->v);
    free(s->aids);
    s->aids = NULL;
}

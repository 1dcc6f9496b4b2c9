/*
** lora_cli.c — see lora_cli.h. Turns the LoRA flags into a registry and the
** one adapter (and scale) a CLI run uses.
*/
#include "lora_cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_args.h"

/* Splits "NAME=VALUE" at the first '='; without one, *name is "" and *value
** the whole string. name receives at most LORA_NAME_MAX characters + NUL;
** returns -1 when the name part is longer. */
static int split_spec(const char *s, char *name, const char **value) {
    const char *eq = strchr(s, '=');
    if (!eq) { name[0] = 0; *value = s; return 0; }
    size_t n = (size_t)(eq - s);
    if (n > LORA_NAME_MAX) return -1;
    memcpy(name, s, n);
    name[n] = 0;
    *value = eq + 1;
    return 0;
}

static int parse_scale(const char *flag, const char *v, float *out) {
    double d;
    if (cli_float(flag, v, -1e4, 1e4, &d)) return -1;
    *out = (float)d;
    return 0;
}

int lora_cli_check(const lora_cli *lc) {
    char name[LORA_NAME_MAX + 1];
    const char *v = "";
    sa_err err = {{0}};
    for (int i = 0; i < lc->n_lora; i++) {
        const char *eq = strchr(lc->lora[i], '=');
        /* NAME=PATH, unless what precedes '=' cannot be a name (then it is
        ** part of a path such as dir/a=b) */
        if (eq && !memchr(lc->lora[i], '/', (size_t)(eq - lc->lora[i]))) {
            if (split_spec(lc->lora[i], name, &v) || lora_check_name(name, &err)) {
                fprintf(stderr, "sqlassist: --lora %s: %s\n", lc->lora[i], err.msg[0] ? err.msg : "name too long");
                return 2;
            }
            if (!*v) { fprintf(stderr, "sqlassist: --lora %s: no path after '='\n", lc->lora[i]); return 2; }
        } else if (!*lc->lora[i]) {
            fprintf(stderr, "sqlassist: --lora: empty path\n");
            return 2;
        }
    }
    for (int i = 0; i < lc->n_scale; i++) {
        float s = 1.0f;
        if (split_spec(lc->scale[i], name, &v)) {
            fprintf(stderr, "sqlassist: --lora-scale %s: name too long\n", lc->scale[i]);
            return 2;
        }
        if (parse_scale("--lora-scale", v, &s)) return 2;
    }
    if ((lc->n_scale || lc->adapter || lc->merge) && lc->n_lora == 0) {
        fprintf(stderr, "sqlassist: %s needs at least one --lora adapter\n",
                lc->merge ? "--lora-merge" : lc->adapter ? "--adapter" : "--lora-scale");
        return 2;
    }
    if (lc->merge && lc->adapter && !strcmp(lc->adapter, "none")) {
        fprintf(stderr, "sqlassist: --lora-merge with --adapter none: nothing to merge\n");
        return 2;
    }
    return 0;
}

int lora_cli_setup(lora_cli *lc, model *m) {
    if (lc->n_lora == 0) return 0;
    sa_err err = {{0}};
    if (!(lc->reg = lora_registry_new(m, &err))) { fprintf(stderr, "sqlassist: %s\n", err.msg); return 1; }
    char name[LORA_NAME_MAX + 1];
    const char *v = "";
    for (int i = 0; i < lc->n_lora; i++) {
        const char *eq = strchr(lc->lora[i], '='), *path = lc->lora[i];
        const char *nm = NULL;
        if (eq && !memchr(lc->lora[i], '/', (size_t)(eq - lc->lora[i]))) {
            if (split_spec(lc->lora[i], name, &v)) return 2;   /* lora_cli_check said it is fine */
            nm = name;
            path = v;
        }
        if (lora_registry_load(lc->reg, nm, path, 1.0f, &err)) {
            fprintf(stderr, "sqlassist: --lora %s: %s\n", lc->lora[i], err.msg);
            return 1;
        }
    }
    for (int i = 0; i < lc->n_scale; i++) {
        float s = 1.0f;
        if (split_spec(lc->scale[i], name, &v) || parse_scale("--lora-scale", v, &s)) return 2;   /* lora_cli_check said it is fine */
        if (!name[0]) {
            lora_listing *l;
            int n;
            if (lora_registry_list(lc->reg, &l, &n, &err)) { fprintf(stderr, "sqlassist: %s\n", err.msg); return 1; }
            for (int k = 0; k < n; k++) lora_registry_set_scale(lc->reg, l[k].name, s, NULL);
            lora_listing_free(l, n);
        } else if (lora_registry_set_scale(lc->reg, name, s, &err)) {
            fprintf(stderr, "sqlassist: --lora-scale %s: %s\n", lc->scale[i], err.msg);
            return 2;
        }
    }
    const char *pick = lc->adapter;
    lora_listing *l = NULL;
    int n = 0;
    if (lora_registry_list(lc->reg, &l, &n, &err)) { fprintf(stderr, "sqlassist: %s\n", err.msg); return 1; }
    if (!pick) {
        if (n != 1) {
            fprintf(stderr, "sqlassist: %d adapters are loaded: choose one with --adapter NAME (or --adapter none);"
                    " loaded:", n);
            for (int k = 0; k < n; k++) fprintf(stderr, " %s", l[k].name);
            fprintf(stderr, "\n");
            lora_listing_free(l, n);
            return 2;
        }
        pick = l[0].name;
    }
    int rc = 0;
    if (strcmp(pick, "none") != 0) {
        lc->use = lora_registry_acquire(lc->reg, pick, &lc->use_scale);
        if (!lc->use) {
            fprintf(stderr, "sqlassist: --adapter %s: no adapter of that name is loaded; loaded:", pick);
            for (int k = 0; k < n; k++) fprintf(stderr, " %s", l[k].name);
            fprintf(stderr, "\n");
            rc = 2;
        }
    }
    lora_listing_free(l, n);
    if (rc) return rc;
    if (lc->use && lc->merge) {
        if (lora_merge(m, lc->use, lc->use_scale, &err)) { fprintf(stderr, "sqlassist: --lora-merge: %s\n", err.msg); return 1; }
        lc->merged = 1;
        snprintf(lc->merged_name, sizeof lc->merged_name, "%s", lora_name(lc->use));
    }
    if (lc->verbose) {
        char d[512];
        if (lc->use) {
            lora_describe(lc->use, d, sizeof d);
            fprintf(stderr, "lora: %s, scale %g, %s\n", d, (double)lc->use_scale, lc->merged ? "merged" : "unmerged");
        } else {
            fprintf(stderr, "lora: none (base model)\n");
        }
    }
    if (lc->merged) {
        /* the weights carry it now: applying it per sequence too would
        ** count it twice, and its A and B are no longer needed */
        lora_release(lc->use);
        lc->use = NULL;
        lc->use_scale = 0.0f;
        lora_registry_unload(lc->reg, lc->merged_name, NULL);
    }
    return 0;
}

void lora_cli_use(const lora_cli *lc, infer_state *s) {
    infer_set_lora(s, lc->use, lc->use ? lc->use_scale : 0.0f);
}

void lora_cli_free(lora_cli *lc) {
    lora_release(lc->use);
    lc->use = NULL;
    lora_registry_free(lc->reg);
    lc->reg = NULL;
}

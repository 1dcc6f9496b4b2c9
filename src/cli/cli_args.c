/*
** cli_args.c — see cli_args.h.
*/
#include "cli_args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void print_help(const cli_opt *opts, const char *usage, const char *summary) {
    printf("usage: %s\n", usage);
    if (summary) printf("\n%s\n", summary);
    printf("\noptions:\n");
    for (const cli_opt *o = opts; o->name; o++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s%s", o->name, o->alias ? ", " : "", o->alias ? o->alias : "",
                 o->takes_value ? " VALUE" : "");
        printf("  %-28s %s\n", left, o->help ? o->help : "");
    }
    printf("  %-28s %s\n", "--help, -h", "show this help");
}

int cli_parse(int argc, char **argv, const cli_opt *opts, const char *usage, const char *summary,
              const char **positional, int max_pos, int *n_pos) {
    *n_pos = 0;
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) { only_pos = 1; continue; }
        if (!only_pos && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            print_help(opts, usage, summary);
            return CLI_HELP;
        }
        if (!only_pos && a[0] == '-' && a[1] != 0 && !(a[1] >= '0' && a[1] <= '9')) {
            const char *eq = strchr(a, '=');
            size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
            const cli_opt *o = NULL;
            for (const cli_opt *p = opts; p->name; p++)
                if ((strlen(p->name) == nlen && strncmp(p->name, a, nlen) == 0) ||
                    (p->alias && strlen(p->alias) == nlen && strncmp(p->alias, a, nlen) == 0)) { o = p; break; }
            if (!o) {
                fprintf(stderr, "sqlassist: unknown flag '%.*s'\nusage: %s\n", (int)nlen, a, usage);
                return CLI_ERROR;
            }
            if (!o->takes_value) {
                if (eq) { fprintf(stderr, "sqlassist: %s takes no value\nusage: %s\n", o->name, usage); return CLI_ERROR; }
                if (o->flag) *o->flag = 1;
                continue;
            }
            const char *v;
            if (eq) v = eq + 1;
            else if (i + 1 < argc) v = argv[++i];
            else { fprintf(stderr, "sqlassist: %s needs a value\nusage: %s\n", o->name, usage); return CLI_ERROR; }
            if (o->value) *o->value = v;
            if (o->multi) {
                if (*o->n_multi >= o->max_multi) {
                    fprintf(stderr, "sqlassist: %s given more than %d times\n", o->name, o->max_multi);
                    return CLI_ERROR;
                }
                o->multi[(*o->n_multi)++] = v;
            }
            continue;
        }
        if (*n_pos >= max_pos) {
            fprintf(stderr, "sqlassist: unexpected argument '%s'\nusage: %s\n", a, usage);
            return CLI_ERROR;
        }
        positional[(*n_pos)++] = a;
    }
    return CLI_OK;
}

int cli_int(const char *flag, const char *value, long lo, long hi, long *out) {
    if (!value) return 0;
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end || v < lo || v > hi) {
        fprintf(stderr, "sqlassist: %s '%s': expected an integer from %ld to %ld\n", flag, value, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_float(const char *flag, const char *value, double lo, double hi, double *out) {
    if (!value) return 0;
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (errno || end == value || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "sqlassist: %s '%s': expected a number from %g to %g\n", flag, value, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

const char *cli_default_model(char *looked, size_t looked_size) {
    static char path[4096];
    const char *env = getenv("SQLASSIST_MODEL");
    if (env && *env) return env;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) { snprintf(looked, looked_size, "(the executable's path is unknown)"); return NULL; }
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    /* beside the binary; one level up (a build directory in the repository); installed */
    const char *places[] = { "%s/models/" BUNDLED_MODEL, "%s/../models/" BUNDLED_MODEL,
                             "%s/../share/sqlassist/" BUNDLED_MODEL };
    looked[0] = 0;
    for (size_t i = 0; i < sizeof places / sizeof *places; i++) {
        snprintf(path, sizeof path, places[i], exe);
        if (access(path, R_OK) == 0) return path;
        size_t l = strlen(looked);
        snprintf(looked + l, looked_size - l, "%s%s", l ? ", " : "", path);
    }
    return NULL;
}

int cli_model_or_default(const char **model_path) {
    if (*model_path) return 0;
    char looked[8192];
    if ((*model_path = cli_default_model(looked, sizeof looked))) return 0;
    fprintf(stderr, "sqlassist: no --model given and no bundled model found (looked for %s; "
                    "SQLASSIST_MODEL may name one)\n", looked);
    return -1;
}

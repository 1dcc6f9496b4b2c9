/*
** lora.c — LoRA adapters (see lora.h): the PEFT and GGUF loaders, the
** unmerged product used by the forward pass, merging into the weights, and
** the registry of named adapters.
**
** Every adapter is converted to f32 at load, whatever the file stored: the
** matrices are small (r·(in+out) per projection) next to the base weights,
** and f32 keeps lora_apply to plain SIMD dot products.
*/
#include "lora.h"

#include <assert.h>
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gguf.h"
#include "kernels.h"
#include "model.h"
#include "safetensors.h"

/* One projection of one layer: rank 0 means the adapter leaves it alone. */
typedef struct lora_mat {
    int rank, in, out;
    float s;          /* the adapter's own factor: alpha/r or alpha/sqrt(r) */
    float *A;         /* [rank][in] */
    float *Bt;        /* [rank][out]: B transposed, so that B·v is rank contiguous
                      ** row updates (vectorizable) instead of out tiny dot products */
} lora_mat;

struct lora_adapter {
    atomic_int refs;
    char name[LORA_NAME_MAX + 1];
    char *path;
    char format[8];
    char *base_model;
    int n_layer;
    int out_dim[LORA_N_TARGETS], in_dim[LORA_N_TARGETS];   /* the base shapes it was checked against */
    lora_mat *mats;   /* [n_layer][LORA_N_TARGETS] */
    int n_mats, max_rank;
    size_t bytes;
};

static const char *const PEFT_MOD[LORA_N_TARGETS] = {
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
};
static const char *const PEFT_PARENT[LORA_N_TARGETS] = {
    "self_attn", "self_attn", "self_attn", "self_attn", "mlp", "mlp", "mlp",
};
static const char *const GGUF_MOD[LORA_N_TARGETS] = {
    "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down",
};
#define PEFT_MOD_LIST "q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj"
#define GGUF_MOD_LIST "attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down"

/* Below this many multiply-adds a product runs on the calling thread. A
** rank-16 product for one decoded token is at most ~150k multiply-adds (a
** 1.5B model's gate/up/down) and takes tens of microseconds; measured on 2
** cores, waking the pool for it (3 extra barriers per layer) cost more than
** it saved, the more so when other programs keep the cores busy. Prefill
** batches are well above this and run on the pool. */
#define LORA_PAR_MIN_MACS 262144
/* Scratch for A·x on the stack: [T][r] floats, T chunked to fit. */
#define LORA_TMP_FLOATS 4096
_Static_assert(LORA_TMP_FLOATS >= LORA_MAX_RANK, "lora_apply's scratch must hold one token's A·x");

static void target_dims(const qwen2_config *c, int t, int *out, int *in) {
    int C = c->n_embd, F = c->n_ff, KV = c->n_head_kv * c->head_dim;
    static const int outs[LORA_N_TARGETS] = { 0, 1, 1, 0, 2, 2, 0 };   /* 0: C, 1: KV, 2: F */
    static const int ins[LORA_N_TARGETS] = { 0, 0, 0, 0, 0, 0, 2 };
    int dims[3] = { C, KV, F };
    *out = dims[outs[t]];
    *in = dims[ins[t]];
}

/* ---- names and paths ------------------------------------------------------ */

static int valid_name_char(int ch) {
    return isalnum(ch) || ch == '_' || ch == '-' || ch == '.';
}

int lora_check_name(const char *s, sa_err *err) {
    size_t n = strlen(s);
    if (n == 0) return sa_fail(err, "adapter name is empty");
    if (n > LORA_NAME_MAX) return sa_fail(err, "adapter name '%.20s...' is longer than %d characters", s, LORA_NAME_MAX);
    for (size_t i = 0; i < n; i++)
        if (!valid_name_char((unsigned char)s[i]))
            return sa_fail(err, "adapter name '%s': character '%c' not allowed (use A-Z a-z 0-9 _ . -)", s, s[i]);
    if (!strcmp(s, "none")) return sa_fail(err, "adapter name 'none' is reserved (it selects the base model)");
    if (!strcmp(s, ".") || !strcmp(s, "..")) return sa_fail(err, "adapter name '%s' is not allowed", s);
    return 0;
}

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcmp(s + n - k, suf) == 0;
}

/* [b, e) of the last path component of p (ignoring trailing slashes). */
static void last_component(const char *p, size_t end, size_t *b, size_t *e) {
    while (end > 1 && p[end - 1] == '/') end--;
    size_t s = end;
    while (s > 0 && p[s - 1] != '/') s--;
    *b = s;
    *e = end;
}

void lora_default_name(const char *path, char *out) {
    size_t b, e;
    last_component(path, strlen(path), &b, &e);
    char comp[256];
    size_t n = e - b < sizeof comp - 1 ? e - b : sizeof comp - 1;
    memcpy(comp, path + b, n);
    comp[n] = 0;
    if (ends_with(comp, ".gguf")) comp[n - 5] = 0;
    else if (ends_with(comp, ".safetensors")) {
        comp[n - 12] = 0;
        /* adapter_model.safetensors names nothing: use its directory */
        if (!strcmp(comp, "adapter_model") && b > 0) {
            size_t b2, e2;
            last_component(path, b, &b2, &e2);
            n = e2 - b2 < sizeof comp - 1 ? e2 - b2 : sizeof comp - 1;
            memcpy(comp, path + b2, n);
            comp[n] = 0;
        }
    }
    size_t k = 0;
    for (size_t i = 0; comp[i] && k < LORA_NAME_MAX; i++)
        out[k++] = valid_name_char((unsigned char)comp[i]) ? comp[i] : '_';
    out[k] = 0;
    if (k == 0 || !strcmp(out, ".") || !strcmp(out, "..") || !strcmp(out, "none")) snprintf(out, LORA_NAME_MAX + 1, "adapter");
}

static char *path_join(const char *dir, const char *file) {
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, file);
    return p;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int has_gguf_magic(const char *p) {
    FILE *f = fopen(p, "rb");
    if (!f) return 0;
    char mg[4];
    int ok = fread(mg, 1, 4, f) == 4 && memcmp(mg, "GGUF", 4) == 0;
    fclose(f);
    return ok;
}

static int pickle_error(const char *file, sa_err *err) {
    return sa_fail(err,
                   "%s: PyTorch pickle adapters (.bin) are not supported: unpickling can run arbitrary code. "
                   "Convert it to adapter_model.safetensors first, e.g. python3 -c \"import torch, safetensors.torch as s; "
                   "s.save_file(torch.load('adapter_model.bin', weights_only=True), 'adapter_model.safetensors')\"",
                   file);
}

/* ---- the adapter object ----------------------------------------------------- */

static lora_adapter *adapter_new(const model *m, const char *name, const char *path, const char *format, sa_err *err) {
    lora_adapter *a = calloc(1, sizeof *a);
    if (!a) { sa_fail(err, "out of memory"); return NULL; }
    atomic_init(&a->refs, 1);
    if (name) snprintf(a->name, sizeof a->name, "%s", name);
    else lora_default_name(path, a->name);
    snprintf(a->format, sizeof a->format, "%s", format);
    a->path = strdup(path);
    a->n_layer = m->cfg.n_layer;
    for (int t = 0; t < LORA_N_TARGETS; t++) target_dims(&m->cfg, t, &a->out_dim[t], &a->in_dim[t]);
    a->mats = calloc((size_t)a->n_layer * LORA_N_TARGETS, sizeof *a->mats);
    if (!a->path || !a->mats) {
        free(a->path);
        free(a->mats);
        free(a);
        sa_fail(err, "out of memory");
        return NULL;
    }
    return a;
}

static void adapter_free(lora_adapter *a) {
    if (!a) return;
    for (int i = 0; i < a->n_layer * LORA_N_TARGETS; i++) {
        free(a->mats[i].A);
        free(a->mats[i].Bt);
    }
    free(a->mats);
    free(a->path);
    free(a->base_model);
    free(a);
}

void lora_retain(const lora_adapter *a) {
    lora_adapter *w = (lora_adapter *)a;   /* the count is the one mutable part */
    int old = atomic_fetch_add(&w->refs, 1);
    assert(old > 0);
    (void)old;
}

void lora_release(const lora_adapter *a) {
    if (!a) return;
    lora_adapter *w = (lora_adapter *)a;
    int old = atomic_fetch_sub(&w->refs, 1);
    assert(old > 0);
    if (old == 1) adapter_free(w);
}

const char *lora_name(const lora_adapter *a) { return a->name; }
const char *lora_path(const lora_adapter *a) { return a->path; }
const char *lora_format(const lora_adapter *a) { return a->format; }
const char *lora_base_model(const lora_adapter *a) { return a->base_model; }
int lora_n_mats(const lora_adapter *a) { return a->n_mats; }
int lora_max_rank(const lora_adapter *a) { return a->max_rank; }
size_t lora_bytes(const lora_adapter *a) { return a->bytes; }

void lora_describe(const lora_adapter *a, char *buf, size_t n) {
    int min_r = 0, used[LORA_N_TARGETS] = {0}, first = 1;
    float s0 = 0, s1 = 0;
    for (int i = 0; i < a->n_layer * LORA_N_TARGETS; i++) {
        const lora_mat *lm = &a->mats[i];
        if (!lm->rank) continue;
        if (!min_r || lm->rank < min_r) min_r = lm->rank;
        used[i % LORA_N_TARGETS] = 1;
        if (first) s0 = s1 = lm->s;
        first = 0;
        if (lm->s < s0) s0 = lm->s;
        if (lm->s > s1) s1 = lm->s;
    }
    char tg[128] = "";
    for (int t = 0; t < LORA_N_TARGETS; t++)
        if (used[t]) snprintf(tg + strlen(tg), sizeof tg - strlen(tg), "%s%s", tg[0] ? "," : "", PEFT_MOD[t]);
    char rk[32], sc[48];
    if (min_r == a->max_rank) snprintf(rk, sizeof rk, "%d", min_r);
    else snprintf(rk, sizeof rk, "%d-%d", min_r, a->max_rank);
    if (s0 == s1) snprintf(sc, sizeof sc, "%g", (double)s0);
    else snprintf(sc, sizeof sc, "%g-%g", (double)s0, (double)s1);
    snprintf(buf, n, "%s (%s, %d of %d projections, rank %s, factor %s, %s; %.1f MiB)", a->name, a->format,
             a->n_mats, a->n_layer * LORA_N_TARGETS, rk, sc, tg, (double)a->bytes / (1024.0 * 1024.0));
}

/* Shape of a tensor as its file names it, for messages: PEFT (outermost
** first) as [d0, d1], GGUF as ne [ne0, ne1]; sh is outermost-first. */
static void fmt_shape(char *buf, size_t n, int gguf, int n_dims, const int64_t *sh) {
    if (n_dims != 2) { snprintf(buf, n, "%d dims", n_dims); return; }
    if (gguf) snprintf(buf, n, "ne [%lld, %lld]", (long long)sh[1], (long long)sh[0]);
    else snprintf(buf, n, "[%lld, %lld]", (long long)sh[0], (long long)sh[1]);
}

/* Checks one A/B pair against the base projection (out × in): both 2-D,
** A [r][in], B [out][r] (outermost first). Returns the rank or -1. */
static int check_pair(const lora_adapter *a, const char *file, int gguf, int layer, int t,
                      const char *na, int nda, const int64_t *sa, const char *nb, int ndb, const int64_t *sb,
                      sa_err *err) {
    char sha[48], shb[48];
    fmt_shape(sha, sizeof sha, gguf, nda, sa);
    fmt_shape(shb, sizeof shb, gguf, ndb, sb);
    int out = a->out_dim[t], in = a->in_dim[t];
    const char *proj = gguf ? GGUF_MOD[t] : PEFT_MOD[t];
    if (nda != 2 || ndb != 2)
        return sa_fail(err, "%s: tensors '%s' (%s) and '%s' (%s): LoRA A and B must be 2-D", file, na, sha, nb, shb);
    if (sa[0] != sb[1])
        return sa_fail(err, "%s: rank mismatch: tensor '%s' has shape %s (rank %lld) but tensor '%s' has shape %s (rank %lld)",
                       file, na, sha, (long long)sa[0], nb, shb, (long long)sb[1]);
    int64_t r = sa[0];
    if (r <= 0 || r > LORA_MAX_RANK)
        return sa_fail(err, "%s: tensor '%s' (%s): rank %lld is outside [1, %d]", file, na, sha, (long long)r, LORA_MAX_RANK);
    if (sa[1] != in) {
        int64_t want[2] = { r, in };
        char shw[48];
        fmt_shape(shw, sizeof shw, gguf, 2, want);
        return sa_fail(err, "%s: tensor '%s' has shape %s but this model's layer %d %s takes %d inputs (expected %s): "
                       "the adapter was made for another base model", file, na, sha, layer, proj, in, shw);
    }
    if (sb[0] != out) {
        int64_t want[2] = { out, r };
        char shw[48];
        fmt_shape(shw, sizeof shw, gguf, 2, want);
        return sa_fail(err, "%s: tensor '%s' has shape %s but this model's layer %d %s has %d outputs (expected %s): "
                       "the adapter was made for another base model", file, nb, shb, layer, proj, out, shw);
    }
    return (int)r;
}

static float *alloc_f32(size_t n) {
    return aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
}

static int check_finite(const char *file, const char *tname, const float *v, size_t n, sa_err *err) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return sa_fail(err, "%s: tensor '%s': element %zu is %s: the adapter is corrupt", file, tname, i,
                           isnan(v[i]) ? "NaN" : "infinite");
    return 0;
}

/* Takes B [out][rank] (freed here) into lm->Bt and counts the matrix. */
static int mat_done(lora_adapter *a, lora_mat *lm, float *B, sa_err *err) {
    lm->Bt = alloc_f32((size_t)lm->rank * (size_t)lm->out);
    if (!lm->Bt) { free(B); return sa_fail(err, "out of memory"); }
    for (int o = 0; o < lm->out; o++)
        for (int k = 0; k < lm->rank; k++) lm->Bt[(size_t)k * lm->out + o] = B[(size_t)o * lm->rank + k];
    free(B);
    a->n_mats++;
    if (lm->rank > a->max_rank) a->max_rank = lm->rank;
    a->bytes += (size_t)lm->rank * (size_t)(lm->in + lm->out) * sizeof(float);
    return 0;
}

/* ---- PEFT ------------------------------------------------------------------- */

typedef struct peft_cfg {
    int r;
    double alpha;
    int rslora;
    unsigned targets;     /* bit t: target_modules allows projection t */
} peft_cfg;

static int json_bool_key(json_t *root, const char *file, const char *key, int *out, sa_err *err) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return sa_fail(err, "%s: key '%s': expected true or false", file, key);
    *out = json_is_true(v);
    return 0;
}

static int peft_target_of(const char *entry) {
    const char *dot = strrchr(entry, '.');
    const char *last = dot ? dot + 1 : entry;
    for (int t = 0; t < LORA_N_TARGETS; t++)
        if (!strcmp(last, PEFT_MOD[t])) return t;
    return -1;
}

static int peft_config(const char *file, peft_cfg *pc, char **base_model, sa_err *err) {
    json_error_t je;
    json_t *root = json_load_file(file, 0, &je);
    int rc = -1;
    if (!root) { sa_fail(err, "%s: %s (line %d, column %d)", file, je.text, je.line, je.column); goto out; }
    if (!json_is_object(root)) { sa_fail(err, "%s: not a JSON object", file); goto out; }
    json_t *v = json_object_get(root, "peft_type");
    if (v && !json_is_null(v) && (!json_is_string(v) || strcmp(json_string_value(v), "LORA") != 0)) {
        sa_fail(err, "%s: key 'peft_type': %s%s%s is not supported (only \"LORA\")", file, json_is_string(v) ? "\"" : "",
                json_is_string(v) ? json_string_value(v) : "a non-string", json_is_string(v) ? "\"" : "");
        goto out;
    }
    v = json_object_get(root, "r");
    if (!v) { sa_fail(err, "%s: missing key 'r' (the LoRA rank)", file); goto out; }
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > LORA_MAX_RANK) {
        sa_fail(err, "%s: key 'r': expected an integer in [1, %d]", file, LORA_MAX_RANK);
        goto out;
    }
    pc->r = (int)json_integer_value(v);
    v = json_object_get(root, "lora_alpha");
    if (!v) { sa_fail(err, "%s: missing key 'lora_alpha'", file); goto out; }
    if (!json_is_number(v) || !isfinite(json_number_value(v))) { sa_fail(err, "%s: key 'lora_alpha': expected a number", file); goto out; }
    pc->alpha = json_number_value(v);
    v = json_object_get(root, "target_modules");
    if (!v) { sa_fail(err, "%s: missing key 'target_modules'", file); goto out; }
    if (json_is_string(v)) {
        /* "all-linear" or a regular expression over module paths: the
        ** tensors present say which projections are adapted. */
        pc->targets = (1u << LORA_N_TARGETS) - 1;
    } else if (json_is_array(v) && json_array_size(v) > 0) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (!json_is_string(e)) { sa_fail(err, "%s: key 'target_modules': entry %zu is not a string", file, i); goto out; }
            int t = peft_target_of(json_string_value(e));
            if (t < 0) {
                sa_fail(err, "%s: key 'target_modules': module '%s' is not one this Qwen2 model can adapt (it has %s)",
                        file, json_string_value(e), PEFT_MOD_LIST);
                goto out;
            }
            pc->targets |= 1u << t;
        }
    } else {
        sa_fail(err, "%s: key 'target_modules': expected a non-empty list of module names or a string", file);
        goto out;
    }
    if (json_bool_key(root, file, "use_rslora", &pc->rslora, err)) goto out;
    int fifo = 0, dora = 0, lbias = 0;
    if (json_bool_key(root, file, "fan_in_fan_out", &fifo, err) || json_bool_key(root, file, "use_dora", &dora, err) ||
        json_bool_key(root, file, "lora_bias", &lbias, err))
        goto out;
    if (fifo) {
        sa_fail(err, "%s: key 'fan_in_fan_out' is true: that is for GPT-2 style Conv1D weights stored transposed; "
                "Qwen2's projections are nn.Linear (PEFT itself resets it to false for them). Set it to false "
                "if the adapter was trained on Qwen2", file);
        goto out;
    }
    if (dora) { sa_fail(err, "%s: key 'use_dora' is true: DoRA adapters are not supported", file); goto out; }
    if (lbias) { sa_fail(err, "%s: key 'lora_bias' is true: LoRA bias vectors are not supported", file); goto out; }
    v = json_object_get(root, "bias");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v)) { sa_fail(err, "%s: key 'bias': expected a string", file); goto out; }
        if (strcmp(json_string_value(v), "none") != 0) {
            sa_fail(err, "%s: key 'bias': \"%s\" is not supported (only \"none\": adapters that train biases are not)",
                    file, json_string_value(v));
            goto out;
        }
    }
    static const char *const patterns[] = { "rank_pattern", "alpha_pattern" };
    for (int i = 0; i < 2; i++) {
        v = json_object_get(root, patterns[i]);
        if (v && !json_is_null(v) && !(json_is_object(v) && json_object_size(v) == 0)) {
            sa_fail(err, "%s: key '%s': per-module ranks or alphas are not supported (it must be empty)", file, patterns[i]);
            goto out;
        }
    }
    v = json_object_get(root, "modules_to_save");
    if (v && !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0)) {
        sa_fail(err, "%s: key 'modules_to_save': adapters carrying fully trained modules are not supported", file);
        goto out;
    }
    v = json_object_get(root, "base_model_name_or_path");
    if (v && json_is_string(v) && !(*base_model = strdup(json_string_value(v)))) { sa_fail(err, "out of memory"); goto out; }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* Parses a PEFT tensor name. Returns 0 with layer, target and which (0: A,
** 1: B), or -1 with a message saying what is wrong with it. */
static int peft_name(const char *file, const char *name, int n_layer, int *layer, int *target, int *which, sa_err *err) {
    static const char pre[] = "base_model.model.model.layers.";
    const char *p = name;
    if (strstr(name, "lora_magnitude_vector"))
        return sa_fail(err, "%s: tensor '%s': DoRA magnitude vectors are not supported", file, name);
    if (strstr(name, "lora_embedding") || strstr(name, "embed_tokens") || strstr(name, "lm_head"))
        return sa_fail(err, "%s: tensor '%s': target module %s is not supported (only %s)", file, name,
                       strstr(name, "lm_head") ? "lm_head" : "embed_tokens", PEFT_MOD_LIST);
    if (strncmp(p, pre, sizeof pre - 1) != 0) goto bad;
    p += sizeof pre - 1;
    if (!isdigit((unsigned char)*p)) goto bad;
    long l = 0;
    while (isdigit((unsigned char)*p)) {
        l = l * 10 + (*p++ - '0');
        if (l > 1000000) goto bad;
    }
    if (*p++ != '.') goto bad;
    const char *parent = p, *dot = strchr(p, '.');
    if (!dot) goto bad;
    const char *mod = dot + 1, *dot2 = strchr(mod, '.');
    if (!dot2) goto bad;
    const char *rest = dot2 + 1;
    int w;
    if (!strcmp(rest, "lora_A.weight") || !strcmp(rest, "lora_A.default.weight")) w = 0;
    else if (!strcmp(rest, "lora_B.weight") || !strcmp(rest, "lora_B.default.weight")) w = 1;
    else if (!strncmp(rest, "lora_", 5) && ends_with(rest, ".bias"))
        return sa_fail(err, "%s: tensor '%s': LoRA bias vectors are not supported", file, name);
    else if (!strncmp(rest, "base_layer", 10) || !strcmp(rest, "weight") || !strcmp(rest, "bias"))
        return sa_fail(err, "%s: tensor '%s': base-model weights inside an adapter (modules_to_save) are not supported",
                       file, name);
    else goto bad;
    int t = -1;
    for (int i = 0; i < LORA_N_TARGETS; i++)
        if ((size_t)(dot2 - mod) == strlen(PEFT_MOD[i]) && !strncmp(mod, PEFT_MOD[i], strlen(PEFT_MOD[i])) &&
            (size_t)(dot - parent) == strlen(PEFT_PARENT[i]) && !strncmp(parent, PEFT_PARENT[i], strlen(PEFT_PARENT[i])))
            t = i;
    if (t < 0)
        return sa_fail(err, "%s: tensor '%s': target module '%.*s' is not one this Qwen2 model has "
                       "(self_attn.q_proj/k_proj/v_proj/o_proj, mlp.gate_proj/up_proj/down_proj)",
                       file, name, (int)(dot2 - parent), parent);
    if (l >= n_layer)
        return sa_fail(err, "%s: tensor '%s': layer %ld, but this model has %d layers: the adapter was made for another base model",
                       file, name, l, n_layer);
    *layer = (int)l;
    *target = t;
    *which = w;
    return 0;
bad:
    return sa_fail(err, "%s: tensor '%s' is not a LoRA tensor of a Qwen2 projection "
                   "(expected names like base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight)", file, name);
}

static int st_to_f32(const char *file, const st_tensor *t, float **out, sa_err *err) {
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16 && t->dtype != ST_F64)
        return sa_fail(err, "%s: tensor '%s': dtype %s is not supported (F32, F16, BF16 are)", file, t->name, t->dtype_name);
    uint64_t n = st_numel(t);
    float *v = alloc_f32(n);
    if (!v) return sa_fail(err, "out of memory for tensor '%s'", t->name);
    for (uint64_t i = 0; i < n; i++) v[i] = st_get_f32(t, i);
    if (check_finite(file, t->name, v, n, err)) { free(v); return -1; }
    *out = v;
    return 0;
}

static int load_peft(lora_adapter *a, const char *dir, const char *st_path, sa_err *err) {
    char *cfg_path = path_join(dir, "adapter_config.json");
    st_file *f = NULL;
    const st_tensor **pairs = NULL;
    int rc = -1;
    if (!cfg_path) { sa_fail(err, "out of memory"); goto out; }
    if (!is_file(cfg_path)) {
        sa_fail(err, "%s: missing: a PEFT adapter needs adapter_config.json next to %s", cfg_path, st_path);
        goto out;
    }
    peft_cfg pc = {0};
    if (peft_config(cfg_path, &pc, &a->base_model, err)) goto out;
    if (!(f = st_open(st_path, err))) goto out;
    int L = a->n_layer;
    pairs = calloc((size_t)L * LORA_N_TARGETS * 2, sizeof *pairs);
    if (!pairs) { sa_fail(err, "out of memory"); goto out; }
    for (int i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        int l = 0, tg = 0, w = 0;
        if (peft_name(st_path, t->name, L, &l, &tg, &w, err)) goto out;
        if (!(pc.targets >> tg & 1)) {
            sa_fail(err, "%s: tensor '%s' adapts %s, which %s's target_modules does not list", st_path, t->name,
                    PEFT_MOD[tg], cfg_path);
            goto out;
        }
        const st_tensor **slot = &pairs[((size_t)l * LORA_N_TARGETS + tg) * 2 + w];
        if (*slot) { sa_fail(err, "%s: tensors '%s' and '%s' are the same LoRA matrix", st_path, (*slot)->name, t->name); goto out; }
        *slot = t;
    }
    for (int l = 0; l < L; l++)
        for (int tg = 0; tg < LORA_N_TARGETS; tg++) {
            const st_tensor *ta = pairs[((size_t)l * LORA_N_TARGETS + tg) * 2], *tb = pairs[((size_t)l * LORA_N_TARGETS + tg) * 2 + 1];
            if (!ta && !tb) continue;
            if (!ta || !tb) {
                sa_fail(err, "%s: tensor '%s' has no matching lora_%c tensor for layer %d %s", st_path,
                        (ta ? ta : tb)->name, ta ? 'B' : 'A', l, PEFT_MOD[tg]);
                goto out;
            }
            int r = check_pair(a, st_path, 0, l, tg, ta->name, ta->n_dims, ta->shape, tb->name, tb->n_dims, tb->shape, err);
            if (r < 0) goto out;
            if (r != pc.r) {
                sa_fail(err, "%s: tensor '%s' has rank %d but %s says r = %d", st_path, ta->name, r, cfg_path, pc.r);
                goto out;
            }
            lora_mat *lm = &a->mats[l * LORA_N_TARGETS + tg];
            lm->rank = r;
            lm->in = a->in_dim[tg];
            lm->out = a->out_dim[tg];
            lm->s = (float)(pc.rslora ? pc.alpha / sqrt((double)r) : pc.alpha / r);
            float *B = NULL;
            if (st_to_f32(st_path, ta, &lm->A, err) || st_to_f32(st_path, tb, &B, err) || mat_done(a, lm, B, err)) goto out;
        }
    if (a->n_mats == 0) { sa_fail(err, "%s: no LoRA tensors", st_path); goto out; }
    rc = 0;
out:
    free(pairs);
    st_close(f);
    free(cfg_path);
    return rc;
}

/* ---- GGUF ------------------------------------------------------------------- */

/* Parses "blk.N.<proj>.weight.lora_a|b". */
static int gguf_name(const char *file, const char *name, int n_layer, int *layer, int *target, int *which, sa_err *err) {
    const char *p = name;
    int w;
    if (ends_with(name, ".weight.lora_a")) w = 0;
    else if (ends_with(name, ".weight.lora_b")) w = 1;
    else goto bad;
    if (strncmp(p, "blk.", 4) != 0) {
        size_t n = strlen(name) - strlen(".weight.lora_a");
        return sa_fail(err, "%s: tensor '%s': target '%.*s' is not supported (only blk.N. %s)", file, name, (int)n, name,
                       GGUF_MOD_LIST);
    }
    p += 4;
    if (!isdigit((unsigned char)*p)) goto bad;
    long l = 0;
    while (isdigit((unsigned char)*p)) {
        l = l * 10 + (*p++ - '0');
        if (l > 1000000) goto bad;
    }
    if (*p++ != '.' || strlen(p) <= strlen(".weight.lora_a")) goto bad;
    size_t mlen = strlen(p) - strlen(".weight.lora_a");
    int t = -1;
    for (int i = 0; i < LORA_N_TARGETS; i++)
        if (mlen == strlen(GGUF_MOD[i]) && !strncmp(p, GGUF_MOD[i], mlen)) t = i;
    if (t < 0)
        return sa_fail(err, "%s: tensor '%s': target module '%.*s' is not one this Qwen2 model has (%s)", file, name,
                       (int)mlen, p, GGUF_MOD_LIST);
    if (l >= n_layer)
        return sa_fail(err, "%s: tensor '%s': layer %ld, but this model has %d layers: the adapter was made for another base model",
                       file, name, l, n_layer);
    *layer = (int)l;
    *target = t;
    *which = w;
    return 0;
bad:
    return sa_fail(err, "%s: tensor '%s' is not a LoRA tensor (expected blk.N.<%s>.weight.lora_a / .lora_b)", file, name,
                   GGUF_MOD_LIST);
}

static int gguf_to_f32(const char *file, const gguf_tensor *t, float **out, sa_err *err) {
    uint32_t be = 0, bb = 0;
    if (t->type != GGML_TYPE_F32 && t->type != GGML_TYPE_F16 && t->type != GGML_TYPE_BF16 && t->type != GGML_TYPE_Q8_0 &&
        t->type != GGML_TYPE_Q4_0)
        return sa_fail(err, "%s: tensor '%s': type %s is not supported (f32, f16, bf16, q8_0, q4_0 are)", file, t->name,
                       ggml_type_name(t->type));
    ggml_type_block(t->type, &be, &bb);
    uint64_t cols = t->ne[0], rows = t->ne[1];
    if (be == 0 || cols % be) return sa_fail(err, "%s: tensor '%s': %llu columns do not fill %s blocks", file, t->name,
                                             (unsigned long long)cols, ggml_type_name(t->type));
    size_t rb = (size_t)(cols / be) * bb;
    if ((uint64_t)rb * rows > t->nbytes) return sa_fail(err, "%s: tensor '%s': data is shorter than its shape", file, t->name);
    float *v = alloc_f32(rows * cols);
    if (!v) return sa_fail(err, "out of memory for tensor '%s'", t->name);
    for (uint64_t r = 0; r < rows; r++)
        kern_dequant_row(t->type, (const uint8_t *)t->data + r * rb, v + r * cols, (int)cols);
    if (check_finite(file, t->name, v, rows * cols, err)) { free(v); return -1; }
    *out = v;
    return 0;
}

static int gguf_require_str(gguf_file *g, const char *key, const char *want, const char *hint, sa_err *err) {
    char *s = NULL;
    if (gguf_get_str(g, key, 0, &s, err)) return -1;
    if (!s) return sa_fail(err, "%s: missing metadata key '%s' (expected '%s'): %s", g->path, key, want, hint);
    int bad = strcmp(s, want) != 0;
    if (bad) {
        int is_model = !strcmp(key, "general.type") && !strcmp(s, "model");
        sa_fail(err, "%s: key '%s' is '%s', expected '%s': %s%s", g->path, key, s, want, hint,
                is_model ? " (this file is a model; give it to --model)" : "");
    }
    free(s);
    return bad ? -1 : 0;
}

static int load_gguf_adapter(lora_adapter *a, sa_err *err) {
    gguf_file *g = gguf_open(a->path, err);
    if (!g) return -1;
    const gguf_tensor **pairs = NULL;
    int rc = -1;
    if (gguf_require_str(g, "general.type", "adapter", "not a LoRA adapter", err) ||
        gguf_require_str(g, "adapter.type", "lora", "only LoRA adapters are supported", err) ||
        gguf_require_str(g, "general.architecture", "qwen2", "the adapter is for another architecture", err))
        goto out;
    float alpha = 0;
    if (gguf_get_f32(g, "adapter.lora.alpha", 0, &alpha, err)) goto out;
    if (!isfinite(alpha)) { sa_fail(err, "%s: key 'adapter.lora.alpha' is not finite", a->path); goto out; }
    int L = a->n_layer;
    pairs = calloc((size_t)L * LORA_N_TARGETS * 2, sizeof *pairs);
    if (!pairs) { sa_fail(err, "out of memory"); goto out; }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        int l = 0, tg = 0, w = 0;
        if (gguf_name(a->path, t->name, L, &l, &tg, &w, err)) goto out;
        const gguf_tensor **slot = &pairs[((size_t)l * LORA_N_TARGETS + tg) * 2 + w];
        if (*slot) { sa_fail(err, "%s: tensor '%s' appears twice", a->path, t->name); goto out; }
        *slot = t;
    }
    for (int l = 0; l < L; l++)
        for (int tg = 0; tg < LORA_N_TARGETS; tg++) {
            const gguf_tensor *ta = pairs[((size_t)l * LORA_N_TARGETS + tg) * 2], *tb = pairs[((size_t)l * LORA_N_TARGETS + tg) * 2 + 1];
            if (!ta && !tb) continue;
            if (!ta || !tb) {
                sa_fail(err, "%s: tensor '%s' has no matching .lora_%c tensor", a->path, (ta ? ta : tb)->name, ta ? 'b' : 'a');
                goto out;
            }
            /* outermost first, like PEFT: ne [in, r] is A [r][in] */
            int64_t sa_[2] = { (int64_t)ta->ne[1], (int64_t)ta->ne[0] }, sb_[2] = { (int64_t)tb->ne[1], (int64_t)tb->ne[0] };
            int r = check_pair(a, a->path, 1, l, tg, ta->name, (int)ta->n_dims, sa_, tb->name, (int)tb->n_dims, sb_, err);
            if (r < 0) goto out;
            lora_mat *lm = &a->mats[l * LORA_N_TARGETS + tg];
            lm->rank = r;
            lm->in = a->in_dim[tg];
            lm->out = a->out_dim[tg];
            /* llama.cpp: no alpha (or 0) means a factor of 1 */
            lm->s = alpha != 0 ? alpha / (float)r : 1.0f;
            float *B = NULL;
            if (gguf_to_f32(a->path, ta, &lm->A, err) || gguf_to_f32(a->path, tb, &B, err) || mat_done(a, lm, B, err)) goto out;
        }
    if (a->n_mats == 0) { sa_fail(err, "%s: no LoRA tensors", a->path); goto out; }
    rc = 0;
out:
    free(pairs);
    gguf_close(g);
    return rc;
}

/* ---- loading ---------------------------------------------------------------- */

lora_adapter *lora_load(const model *m, const char *name, const char *path, sa_err *err) {
    if (name && lora_check_name(name, err)) return NULL;
    if (!is_dir(path) && !is_file(path)) { sa_fail(err, "%s: no such adapter file or directory", path); return NULL; }
    if (is_file(path) && has_gguf_magic(path)) {
        lora_adapter *a = adapter_new(m, name, path, "gguf", err);
        if (a && load_gguf_adapter(a, err)) { adapter_free(a); return NULL; }
        return a;
    }
    char *dir = NULL, *st = NULL;
    if (is_dir(path)) {
        dir = strdup(path);
        st = path_join(path, "adapter_model.safetensors");
        if (dir && st && !is_file(st)) {
            char *bin = path_join(path, "adapter_model.bin");
            if (bin && is_file(bin)) pickle_error(bin, err);
            else sa_fail(err, "%s: no adapter_model.safetensors in this directory (a PEFT adapter holds adapter_config.json "
                         "and adapter_model.safetensors; a GGUF adapter is given as the .gguf file)", path);
            free(bin);
            free(dir);
            free(st);
            return NULL;
        }
    } else if (ends_with(path, ".bin") || ends_with(path, ".pt") || ends_with(path, ".pth")) {
        pickle_error(path, err);
        return NULL;
    } else if (ends_with(path, ".safetensors")) {
        size_t b, e;
        last_component(path, strlen(path), &b, &e);
        dir = b ? strndup(path, b) : strdup(".");
        st = strdup(path);
    } else {
        sa_fail(err, "%s: neither a GGUF adapter (no GGUF magic) nor a PEFT adapter directory", path);
        return NULL;
    }
    lora_adapter *a = dir && st ? adapter_new(m, name, path, "peft", err) : NULL;
    if (!dir || !st) sa_fail(err, "out of memory");
    if (a && load_peft(a, dir, st, err)) { adapter_free(a); a = NULL; }
    free(dir);
    free(st);
    return a;
}

/* ---- the unmerged product --------------------------------------------------- */

typedef struct apply_job {
    const lora_mat *lm;
    const float *x;   /* [T][in] */
    float *tmp;       /* [T][r] */
    float *out;       /* [T][out] */
    int T;
    float s;
} apply_job;

/* tmp[t][k] = A[k]·x[t] for k in [b, e) */
static void apply_a(void *ctx, int b, int e, int ith) {
    const apply_job *j = ctx;
    const lora_mat *lm = j->lm;
    for (int k = b; k < e; k++) {
        const float *Ak = lm->A + (size_t)k * lm->in;
        for (int t = 0; t < j->T; t++)
            j->tmp[(size_t)t * lm->rank + k] = kern_dot(GGML_TYPE_F32, Ak, j->x + (size_t)t * lm->in, lm->in);
    }
}

/* Outputs are handled in blocks: the unit of work per thread, and one
** kern_matvec_t (kernels.h), which keeps B·tmp apart from out until it is
** whole and then adds s times it. */
#define LORA_OUT_BLOCK 256
_Static_assert(LORA_OUT_BLOCK <= KERN_MATVEC_T_MAX, "one block of outputs is one kern_matvec_t");

/* B product for the outputs of blocks [b, e), every token of the job:
** out[t][o0 + i] += s · Σ_k Bt[k][o0 + i]·tmp[t][k] */
static void apply_b(void *ctx, int b, int e, int ith) {
    const apply_job *j = ctx;
    const lora_mat *lm = j->lm;
    for (int blk = b; blk < e; blk++) {
        int o0 = blk * LORA_OUT_BLOCK, n = lm->out - o0 < LORA_OUT_BLOCK ? lm->out - o0 : LORA_OUT_BLOCK;
        for (int t = 0; t < j->T; t++)
            kern_matvec_t(j->out + (size_t)t * lm->out + o0, j->s, lm->Bt + o0, (size_t)lm->out,
                          j->tmp + (size_t)t * lm->rank, lm->rank, n);
    }
}

void lora_apply(const lora_adapter *a, float scale, int layer, int target,
                const float *x, float *out, int T, threadpool *tp) {
    if (!a || scale == 0.0f || T <= 0) return;
    assert(layer >= 0 && layer < a->n_layer && target >= 0 && target < LORA_N_TARGETS);
    const lora_mat *lm = &a->mats[layer * LORA_N_TARGETS + target];
    if (!lm->rank) return;
    assert(lm->rank <= LORA_MAX_RANK);
    float tmp[LORA_TMP_FLOATS];
    int chunk = LORA_TMP_FLOATS / lm->rank;
    int n_blk = (lm->out + LORA_OUT_BLOCK - 1) / LORA_OUT_BLOCK;
    for (int t0 = 0; t0 < T; t0 += chunk) {
        int n = T - t0 < chunk ? T - t0 : chunk;
        apply_job j = { lm, x + (size_t)t0 * lm->in, tmp, out + (size_t)t0 * lm->out, n, scale * lm->s };
        long macs_a = (long)n * lm->rank * lm->in, macs_b = (long)n * lm->rank * lm->out;
        tp_run_sized(tp, lm->rank, apply_a, &j, (double)macs_a, LORA_PAR_MIN_MACS);
        tp_run_sized(tp, n_blk, apply_b, &j, (double)macs_b, LORA_PAR_MIN_MACS);
    }
}

/* ---- merging ---------------------------------------------------------------- */

typedef struct merge_job {
    const lora_mat *lm;
    const wmat *src;
    float *dst;       /* [out][in]; may be src->data itself (f32, owned) */
    float *scratch;   /* [threads][in]: one delta row per thread */
    float s;
} merge_job;

static void merge_rows(void *ctx, int b, int e, int ith) {
    const merge_job *j = ctx;
    const lora_mat *lm = j->lm;
    int in = lm->in, r = lm->rank;
    float *delta = j->scratch + (size_t)ith * in;
    for (int o = b; o < e; o++) {
        float *row = j->dst + (size_t)o * in;
        if ((const void *)j->dst != j->src->data)
            kern_dequant_row(j->src->type, (const uint8_t *)j->src->data + (size_t)o * j->src->row_bytes, row, in);
        memset(delta, 0, (size_t)in * sizeof *delta);
        for (int k = 0; k < r; k++) {
            float c = lm->Bt[(size_t)k * lm->out + o];
            const float *Ak = lm->A + (size_t)k * in;
            for (int i = 0; i < in; i++) delta[i] += c * Ak[i];
        }
        for (int i = 0; i < in; i++) row[i] += j->s * delta[i];
    }
}

static int owned_by(const model *m, const void *p) {
    for (int i = 0; i < m->n_owned; i++)
        if (m->owned[i] == p) return 1;
    return 0;
}

/* Hands buf to the model, which frees its owned buffers in model_free. */
static int model_adopt(model *m, void *buf) {
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? 2 * m->cap_owned : 64;
        void **p = realloc(m->owned, (size_t)cap * sizeof *p);
        if (!p) return -1;
        m->owned = p;
        m->cap_owned = cap;
    }
    m->owned[m->n_owned++] = buf;
    return 0;
}

int lora_merge(model *m, const lora_adapter *a, float scale, sa_err *err) {
    if (a->n_layer != m->cfg.n_layer) return sa_fail(err, "%s: adapter was loaded for a model with %d layers, not %d", a->path, a->n_layer, m->cfg.n_layer);
    for (int t = 0; t < LORA_N_TARGETS; t++) {
        int o, i;
        target_dims(&m->cfg, t, &o, &i);
        if (o != a->out_dim[t] || i != a->in_dim[t])
            return sa_fail(err, "%s: adapter was loaded for a model of another shape", a->path);
    }
    if (scale == 0.0f) return 0;
    float *scratch = alloc_f32((size_t)tp_size(m->tp) * (size_t)(m->cfg.n_ff > m->cfg.n_embd ? m->cfg.n_ff : m->cfg.n_embd));
    if (!scratch) return sa_fail(err, "out of memory merging adapter '%s'", a->name);
    for (int l = 0; l < m->cfg.n_layer; l++) {
        qwen2_layer *L = &m->layers[l];
        wmat *mats[LORA_N_TARGETS] = { &L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down };
        for (int t = 0; t < LORA_N_TARGETS; t++) {
            const lora_mat *lm = &a->mats[l * LORA_N_TARGETS + t];
            if (!lm->rank) continue;
            wmat *w = mats[t];
            assert(w->rows == lm->out && w->cols == lm->in);
            float *dst;
            if (w->type == GGML_TYPE_F32 && owned_by(m, w->data)) dst = (float *)(uintptr_t)w->data;
            else {
                dst = alloc_f32((size_t)w->rows * (size_t)w->cols);
                if (!dst || model_adopt(m, dst)) {
                    free(dst);
                    free(scratch);
                    return sa_fail(err, "out of memory merging adapter '%s' into layer %d %s", a->name, l, PEFT_MOD[t]);
                }
            }
            merge_job j = { lm, w, dst, scratch, scale * lm->s };
            tp_run(m->tp, w->rows, merge_rows, &j);
            w->type = GGML_TYPE_F32;
            w->row_bytes = (size_t)w->cols * sizeof(float);
            w->data = dst;
            w->x16 = NULL;
        }
    }
    free(scratch);
    return 0;
}

/* ---- registry --------------------------------------------------------------- */

typedef struct reg_entry {
    lora_adapter *a;   /* one reference held by the registry */
    float scale;
} reg_entry;

struct lora_registry {
    const model *m;
    pthread_mutex_t mu;   /* guards e, n, cap and the scales */
    reg_entry *e;
    int n, cap;
};

lora_registry *lora_registry_new(const model *m, sa_err *err) {
    lora_registry *r = calloc(1, sizeof *r);
    if (!r) { sa_fail(err, "out of memory"); return NULL; }
    r->m = m;
    pthread_mutex_init(&r->mu, NULL);
    return r;
}

void lora_registry_free(lora_registry *r) {
    if (!r) return;
    for (int i = 0; i < r->n; i++) lora_release(r->e[i].a);
    free(r->e);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static int find_locked(const lora_registry *r, const char *name) {
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->e[i].a->name, name)) return i;
    return -1;
}

int lora_registry_load(lora_registry *r, const char *name, const char *path, float scale, sa_err *err) {
    char nm[LORA_NAME_MAX + 1];
    if (name) {
        if (lora_check_name(name, err)) return -1;
        snprintf(nm, sizeof nm, "%s", name);
    } else lora_default_name(path, nm);
    if (!isfinite(scale)) return sa_fail(err, "adapter '%s': scale is not finite", nm);
    pthread_mutex_lock(&r->mu);
    int taken = find_locked(r, nm) >= 0;
    pthread_mutex_unlock(&r->mu);
    if (taken) return sa_fail(err, "adapter name '%s' is already loaded (%s): unload it first or pick another name", nm, path);
    /* the slow part (reading the file) runs without the lock */
    lora_adapter *a = lora_load(r->m, nm, path, err);
    if (!a) return -1;
    pthread_mutex_lock(&r->mu);
    int rc = 0;
    if (find_locked(r, nm) >= 0) rc = sa_fail(err, "adapter name '%s' was loaded meanwhile by another caller", nm);
    else if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 8;
        reg_entry *p = realloc(r->e, (size_t)cap * sizeof *p);
        if (!p) rc = sa_fail(err, "out of memory");
        else { r->e = p; r->cap = cap; }
    }
    if (rc == 0) r->e[r->n++] = (reg_entry){ a, scale };
    pthread_mutex_unlock(&r->mu);
    if (rc) lora_release(a);
    return rc;
}

int lora_registry_unload(lora_registry *r, const char *name, sa_err *err) {
    pthread_mutex_lock(&r->mu);
    int i = find_locked(r, name);
    lora_adapter *a = NULL;
    if (i >= 0) {
        a = r->e[i].a;
        memmove(&r->e[i], &r->e[i + 1], (size_t)(r->n - i - 1) * sizeof *r->e);
        r->n--;
    }
    pthread_mutex_unlock(&r->mu);
    if (!a) return sa_fail(err, "no adapter named '%s' is loaded", name);
    lora_release(a);   /* freed now, or when the last request releases it */
    return 0;
}

int lora_registry_set_scale(lora_registry *r, const char *name, float scale, sa_err *err) {
    if (!isfinite(scale)) return sa_fail(err, "adapter '%s': scale is not finite", name);
    pthread_mutex_lock(&r->mu);
    int i = find_locked(r, name);
    if (i >= 0) r->e[i].scale = scale;
    pthread_mutex_unlock(&r->mu);
    return i >= 0 ? 0 : sa_fail(err, "no adapter named '%s' is loaded", name);
}

const lora_adapter *lora_registry_acquire(lora_registry *r, const char *name, float *scale) {
    pthread_mutex_lock(&r->mu);
    int i = find_locked(r, name);
    lora_adapter *a = NULL;
    if (i >= 0) {
        a = r->e[i].a;
        /* taken under the lock while the registry's own reference keeps
        ** the count above zero, so an unload cannot free it in between */
        lora_retain(a);
        if (scale) *scale = r->e[i].scale;
    }
    pthread_mutex_unlock(&r->mu);
    return a;
}

int lora_registry_count(lora_registry *r) {
    pthread_mutex_lock(&r->mu);
    int n = r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

int lora_registry_list(lora_registry *r, lora_listing **out, int *n, sa_err *err) {
    pthread_mutex_lock(&r->mu);
    int k = r->n;
    lora_listing *l = calloc((size_t)(k ? k : 1), sizeof *l);
    int ok = l != NULL;
    for (int i = 0; ok && i < k; i++) {
        const lora_adapter *a = r->e[i].a;
        snprintf(l[i].name, sizeof l[i].name, "%s", a->name);
        snprintf(l[i].format, sizeof l[i].format, "%s", a->format);
        l[i].path = strdup(a->path);
        ok = l[i].path != NULL;
        l[i].scale = r->e[i].scale;
        l[i].n_mats = a->n_mats;
        l[i].max_rank = a->max_rank;
        l[i].bytes = a->bytes;
        l[i].users = atomic_load(&((lora_adapter *)a)->refs) - 1;
    }
    pthread_mutex_unlock(&r->mu);
    if (!ok) {
        lora_listing_free(l, k);
        return sa_fail(err, "out of memory");
    }
    *out = l;
    *n = k;
    return 0;
}

void lora_listing_free(lora_listing *l, int n) {
    if (!l) return;
    for (int i = 0; i < n; i++) free(l[i].path);
    free(l);
}

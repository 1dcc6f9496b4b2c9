/*
** lora.h — LoRA adapters applied at run time over a shared base model:
** y = W·x + scale·s·B·(A·x), with W untouched (possibly quantized and
** mmapped) and s the adapter's own factor (alpha/r, or alpha/sqrt(r) for
** rsLoRA).
**
** Owns: adapter weights (A [r][in], B [out][r] as f32, whatever the file
** stored), their factor s, and a registry of named adapters that can be
** loaded and unloaded while the process runs. A request picks an adapter
** (and a scale) through its own infer_state, so concurrent requests never
** disturb each other. Loading an adapter only reads the model's shapes: the
** base weights are neither copied nor re-read.
**
** Sources: Hugging Face PEFT directories (adapter_config.json +
** adapter_model.safetensors) and llama.cpp GGUF adapters
** (general.type = adapter, blk.N.<proj>.weight.lora_a / .lora_b).
**
** Lifetime: an adapter is reference counted. lora_load returns it with one
** reference; the registry holds one per loaded name and hands one more to
** each request (lora_registry_acquire). The memory is freed when the last
** reference is dropped, so unloading a name while a request still runs on
** it is safe: the request keeps its copy until it calls lora_release.
*/
#ifndef SA_LORA_H
#define SA_LORA_H

#include <stddef.h>

#include "../util/err.h"
#include "threadpool.h"

struct model;

enum lora_target { LORA_Q, LORA_K, LORA_V, LORA_O, LORA_GATE, LORA_UP, LORA_DOWN, LORA_N_TARGETS };

/* Longest adapter name; names use [A-Za-z0-9_.-] and "none" is reserved
** (it means "the base model" wherever a name is asked for). */
#define LORA_NAME_MAX 63
/* Largest rank accepted (lora_apply keeps its [T][r] scratch on the stack). */
#define LORA_MAX_RANK 1024

typedef struct lora_adapter lora_adapter;

/* ---- one adapter ---------------------------------------------------------- */

/* Loads the adapter at PATH for model m: a PEFT directory (or the
** adapter_model.safetensors inside one) or a GGUF adapter file. Every
** tensor is checked against m's shapes; nothing of m is copied or written.
** NAME may be NULL (then lora_default_name(PATH)). Returns the adapter with
** one reference, or NULL with a message naming the file and the key or
** tensor (with both shapes when they disagree). */
lora_adapter *lora_load(const struct model *m, const char *name, const char *path, sa_err *err);

/* Adds a reference (for another user of a). */
void lora_retain(const lora_adapter *a);
/* Drops a reference; the last one frees the adapter. NULL is a no-op.
** Thread-safe. */
void lora_release(const lora_adapter *a);

/* The name a bare PATH gets: the base name of the directory or file without
** a trailing slash and without a .gguf / .safetensors extension, with
** characters outside [A-Za-z0-9_.-] replaced by '_'. Writes at most
** LORA_NAME_MAX characters and a NUL into out[LORA_NAME_MAX + 1]. */
void lora_default_name(const char *path, char *out);
/* 0 when s is a valid adapter name (see LORA_NAME_MAX), else -1 + message. */
int lora_check_name(const char *s, sa_err *err);

const char *lora_name(const lora_adapter *a);
const char *lora_path(const lora_adapter *a);
const char *lora_format(const lora_adapter *a);       /* "peft" or "gguf" */
const char *lora_base_model(const lora_adapter *a);   /* PEFT base_model_name_or_path, or NULL */
int lora_n_mats(const lora_adapter *a);               /* (layer, projection) pairs touched */
int lora_max_rank(const lora_adapter *a);
size_t lora_bytes(const lora_adapter *a);             /* memory held by A and B */
/* One line for logs: name, format, pairs, ranks, factor, targets. */
void lora_describe(const lora_adapter *a, char *buf, size_t n);

/* out[T][rows] += scale · s · B·(A·x[t]) for one projection of one layer,
** where x is [T][in] and s the adapter's own factor. A no-op when a is
** NULL, scale is 0 (so scale 0 gives exactly the base model's numbers) or
** the adapter does not touch that projection. A·x ([T][r]) is computed
** first, then B·that; both products use tp when they are large enough to
** pay for waking the workers. Called by the forward pass right after the
** base matmul, one call at a time per thread pool. */
void lora_apply(const lora_adapter *a, float scale, int layer, int target,
                const float *x, float *out, int T, threadpool *tp);

/* Folds scale · s · B·A into m's weights for every projection a touches
** (the --lora-merge mode). A touched matrix becomes an owned f32 copy
** (dequantized from f32/f16/bf16/q8_0/q4_0) plus the delta, whatever its
** stored type; f32 matrices the model already owns are updated in place.
** The mmapped file is never written. a must have been loaded for a model of
** m's shape. Not to be called while a forward pass runs on m. */
int lora_merge(struct model *m, const lora_adapter *a, float scale, sa_err *err);

/* ---- registry of named adapters (thread-safe) ------------------------------ */

typedef struct lora_registry lora_registry;

/* A registry of adapters for model m (which must outlive it). */
lora_registry *lora_registry_new(const struct model *m, sa_err *err);
/* Drops the registry's references. Adapters still held by requests stay
** valid until those requests release them. */
void lora_registry_free(lora_registry *r);

/* Loads PATH under NAME (NULL: lora_default_name(PATH)) with a default
** request scale. Fails if the name is taken or invalid, or the adapter does
** not fit the model. The file is read without holding the registry lock. */
int lora_registry_load(lora_registry *r, const char *name, const char *path, float scale, sa_err *err);
/* Removes NAME. Requests holding it keep it until they release it. */
int lora_registry_unload(lora_registry *r, const char *name, sa_err *err);
/* Changes NAME's default request scale (for later acquires). */
int lora_registry_set_scale(lora_registry *r, const char *name, float scale, sa_err *err);

/* Takes a reference to NAME for one request and returns it (the caller must
** lora_release it when the request ends), with NAME's scale in *scale when
** scale is non-NULL. NULL when NAME is not loaded. */
const lora_adapter *lora_registry_acquire(lora_registry *r, const char *name, float *scale);

int lora_registry_count(lora_registry *r);

/* A snapshot of one registry entry (lora_registry_list). */
typedef struct lora_listing {
    char name[LORA_NAME_MAX + 1];
    char format[8];
    char *path;            /* malloc'd */
    float scale;           /* default request scale */
    int n_mats, max_rank;
    size_t bytes;
    int users;             /* references held by requests right now */
} lora_listing;

/* Copies the entries, in load order, into a malloc'd array (*out, *n);
** free it with lora_listing_free. */
int lora_registry_list(lora_registry *r, lora_listing **out, int *n, sa_err *err);
void lora_listing_free(lora_listing *l, int n);

#endif

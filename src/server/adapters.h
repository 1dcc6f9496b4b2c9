/*
** adapters.h — the LoRA adapters of `sqlassist serve` by name: loading
** them (--lora at start, POST /api/adapters at run time), unloading them,
** and lending one to a request together with a prefix-cache key unique to
** the instance loaded under that name.
**
** Owns: the table of instance ids (s->aids), guarded by its own mutex and
** kept in step with the registry (s->reg, borrowed). Used by the HTTP
** threads of api.c and openai.c.
*/
#ifndef SA_SERVER_ADAPTERS_H
#define SA_SERVER_ADAPTERS_H

#include <stddef.h>

#include "server.h"
#include "util/err.h"

/* Makes and frees s->aids (before the HTTP daemon starts, after it stopped). */
int adapters_init(server *s, sa_err *err);
void adapters_free(server *s);

/* Looks up an adapter by name for one request. NULL name, "" and "none"
** are the base model (returns 0 with *a = NULL). Returns -1 when no such
** adapter is loaded. The reference in *a must be released (lora_release).
** key (cap bytes) receives the name to key the prefix cache with: unique to
** this loaded instance, so that a KV cache computed under an adapter that
** was unloaded is never reused for another one loaded under its name. */
int adapters_acquire(server *s, const char *name, const lora_adapter **a, float *scale, char *key, size_t cap);

/* Loads path into the registry under name, then records the instance. */
int adapters_load(server *s, const char *name, const char *path, float scale, sa_err *err);
/* Unloads name (the registry's error when none is loaded). */
int adapters_unload(server *s, const char *name, sa_err *err);

/* Loads a --lora flag (NAME=PATH, or a bare PATH named after it) at start. */
int adapters_load_flag(server *s, const char *spec, sa_err *err);

#endif

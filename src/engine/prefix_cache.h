/*
** prefix_cache.h — reuse of KV caches across requests that share a prompt
** prefix (the system prompt plus the schema of one database), so a second
** question on the same database processes only its own tokens.
**
** Owns: a bounded set of infer_states ("slots"), each remembering the token
** ids its cache holds and the adapter key they were computed under (a KV
** cache is only valid for the adapter and scale that produced it). A
** request acquires the slot with the longest common prefix, truncates it
** to that prefix, feeds the rest, and releases it with the ids it now
** holds. When every slot is busy, acquire waits; the least recently used
** free slot is the one reused when nothing matches. When a busy slot holds
** a longer part of the prompt than any free one (parallel requests on one
** schema), its K/V rows are copied into the free slot instead of computed. Memory is bounded by
** n_slots KV caches of n_ctx positions.
*/
#ifndef SA_PREFIX_CACHE_H
#define SA_PREFIX_CACHE_H

#include <stdint.h>

#include "model.h"

typedef struct prefix_cache prefix_cache;

prefix_cache *pc_new(const model *m, int n_slots, int n_ctx, sa_err *err);
void pc_free(prefix_cache *pc);

/* Returns a slot whose cache holds tokens[0..*n_cached) computed under
** adapter_key (NULL or "" for the base model), with *n_cached < n so that at
** least one token remains to be fed. The slot belongs to the caller until
** pc_release. Blocks while all slots are busy. */
infer_state *pc_acquire(prefix_cache *pc, const char *adapter_key, const int32_t *tokens, int n, int *n_cached);

/* Returns a slot; tokens[0..n) are the ids its cache now holds (n must equal
** the state's n_past; pass n = 0 to forget the contents). */
void pc_release(prefix_cache *pc, infer_state *s, const int32_t *tokens, int n);

/* Statistics for reports and metrics. */
typedef struct pc_stats {
    long lookups, hits;
    long long tokens_reused;
    long copies;           /* acquisitions whose prefix was copied from a busy slot */
} pc_stats;
pc_stats pc_get_stats(prefix_cache *pc);

#endif

/*
** lora_cli.h — the LoRA flags every model-running subcommand shares:
**
**   --lora NAME=PATH     load an adapter (repeatable; a bare PATH is named
**                        after its directory or file, see lora_default_name)
**   --lora-scale NAME=S  scale of adapter NAME (a bare S: every adapter)
**   --adapter NAME       the adapter this run uses; "none" = the base model;
**                        default: the only one loaded, if exactly one is
**   --lora-merge         fold the chosen adapter into the weights at load
**
** A command puts LORA_CLI_OPTS(&lc) into its cli_opt table, calls
** lora_cli_check before loading the model, lora_cli_setup after, and
** lora_cli_use on each infer_state it runs; lora_cli_free at the end.
*/
#ifndef SA_LORA_CLI_H
#define SA_LORA_CLI_H

#include "../engine/lora.h"
#include "../engine/model.h"

#define LORA_CLI_MAX 16

typedef struct lora_cli {
    /* flag values, filled by cli_parse */
    const char *lora[LORA_CLI_MAX];
    int n_lora;
    const char *scale[LORA_CLI_MAX];
    int n_scale;
    const char *adapter;
    int merge;
    int verbose;                  /* print a line about the chosen adapter on stderr */
    /* filled by lora_cli_setup */
    lora_registry *reg;
    const lora_adapter *use;      /* held reference to apply per sequence (with use_scale);
                                  ** NULL for the base model, and after --lora-merge (the
                                  ** weights then carry the adapter: see merged_name) */
    float use_scale;
    int merged;                   /* 1: merged_name was folded into the weights */
    char merged_name[LORA_NAME_MAX + 1];
} lora_cli;

/* The four flags, for a cli_opt table initializer. */
#define LORA_CLI_OPTS(lc)                                                                                        \
    {"--lora", NULL, 1, NULL, NULL, "LoRA adapter NAME=PATH or PATH: PEFT directory or .gguf (repeatable)",      \
     (lc)->lora, &(lc)->n_lora, LORA_CLI_MAX},                                                                   \
    {"--lora-scale", NULL, 1, NULL, NULL, "NAME=S: scale of adapter NAME (default 1; bare S: all adapters)",    \
     (lc)->scale, &(lc)->n_scale, LORA_CLI_MAX},                                                                 \
    {"--adapter", NULL, 1, &(lc)->adapter, NULL, "adapter for this run: NAME or none (default: the only one)"}, \
    {"--lora-merge", NULL, 0, NULL, &(lc)->merge, "fold the chosen adapter into the weights (as f32) at load"}

/* Checks the flags' syntax before anything is loaded. Returns 0, or 2 after
** printing a usage error. */
int lora_cli_check(const lora_cli *lc);

/* Loads every --lora adapter into a registry for m, applies --lora-scale,
** picks the run's adapter and, with --lora-merge, folds it into m. Returns
** 0; 1 after printing an error about an adapter (file, tensor, shapes); 2
** after printing a usage error (unknown name in --lora-scale/--adapter). */
int lora_cli_setup(lora_cli *lc, model *m);

/* Points s at lc->use (or at no adapter). */
void lora_cli_use(const lora_cli *lc, infer_state *s);

/* Releases the adapter and the registry. Safe on a zeroed lora_cli. */
void lora_cli_free(lora_cli *lc);

#endif

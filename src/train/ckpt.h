/*
** ckpt.h — training checkpoints: one safetensors file holding everything a
** run needs to continue exactly where it stopped, so that a resumed run is
** bit-for-bit the uninterrupted one:
**
**   NAME                      every parameter (F32, its own name)
**   optim.exp_avg.NAME        AdamW first moment
**   optim.exp_avg_sq.NAME     AdamW second moment
**   train.order               I32 [n_train]: this epoch's example order
**   train.state               U8: JSON {format, version, step, epoch, cursor,
**                             tokens, rng: [4 hex words], run: {...}}
**
** `run` records the settings that shape the computation (model shape,
** LoRA settings, optimizer and schedule, batch, seed, data fingerprint);
** resuming with different ones is refused, naming the first that differs.
** Nothing time-dependent is stored, so two runs that computed the same
** thing write byte-identical checkpoints.
*/
#ifndef SA_CKPT_H
#define SA_CKPT_H

#include <stdint.h>

#include "../util/err.h"
#include "optim.h"
#include "rng.h"
#include "tmodel.h"

typedef struct tstate {
    int step;              /* optimizer updates done */
    int epoch;             /* 0-based epoch of `cursor` */
    int cursor;            /* next position in order */
    long tokens;           /* input tokens trained on so far */
    int32_t *order;        /* [n_train] */
    int n_train;
    trng rng;
} tstate;

int ckpt_save(const char *path, const tmodel *m, const adamw *o, const tstate *s, const char *run_json, sa_err *err);

/* Restores m's parameters, o's moments and s (whose order must already be
** allocated for n_train examples) from PATH after checking that its run
** settings equal run_json. With reschedule, the settings may differ in
** optimizer.total_steps (the learning-rate schedule is laid anew over the
** new total), which must then exceed the checkpoint's step. */
int ckpt_load(const char *path, tmodel *m, adamw *o, tstate *s, const char *run_json, int reschedule, sa_err *err);

/* Restores only m's parameters from PATH (any run's checkpoint of a model
** of the same shape: every parameter by name, F32, same size), to start a
** new run from trained weights. */
int ckpt_load_weights(const char *path, tmodel *m, sa_err *err);

#endif

/*
** optim.h — AdamW with decoupled weight decay (Loshchilov & Hutter; the
** update of torch.optim.AdamW), the learning-rate schedule (linear warm-up
** then cosine decay to a floor) and gradient clipping by global norm (as
** torch.nn.utils.clip_grad_norm_).
**
** Owns: the two moment buffers, laid out like the model's gradient buffer.
*/
#ifndef SA_OPTIM_H
#define SA_OPTIM_H

#include "tmodel.h"

typedef struct adamw_cfg {
    double lr;            /* peak learning rate */
    double min_lr_ratio;  /* floor of the cosine, as a fraction of lr */
    int warmup;           /* steps of linear warm-up */
    int total_steps;      /* the cosine ends here */
    double beta1, beta2, eps;
    double weight_decay;  /* applied to matrices only (tparam.decay) */
    double clip;          /* max global gradient norm; <= 0: no clipping */
} adamw_cfg;

typedef struct adamw {
    adamw_cfg cfg;
    float *m, *v;         /* [n_values], like tmodel.gbuf */
    size_t n;
} adamw;

int adamw_init(adamw *o, const adamw_cfg *cfg, const tmodel *m);
void adamw_free(adamw *o);

/* The learning rate of step `step` (1-based):
**   step <= warmup:  lr · step / warmup
**   after:           floor + (lr − floor) · (1 + cos(π · p)) / 2,  p = (step − warmup) / (total − warmup)
** with floor = lr · min_lr_ratio. */
double lr_at(const adamw_cfg *c, int step);

/* √(Σ g²) over every gradient, summed in double in parameter order. */
double grad_norm(const tmodel *m);

/* Scales every gradient by clip / (norm + 1e-6) when that is below 1
** (clip_grad_norm_'s rule). Returns the factor applied (1 when none). */
double clip_grads(tmodel *m, double norm, double clip);

/* One AdamW update of every parameter with its gradient; `step` is the
** 1-based count of updates so far including this one (bias correction). */
void adamw_step(adamw *o, tmodel *m, int step, double lr);

#endif

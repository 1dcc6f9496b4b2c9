/*
** optim.c — AdamW, schedule and clipping (see optim.h). The update follows
** torch.optim.AdamW's single-tensor path operation by operation (decay,
** moments, bias corrections in double, then addcdiv), so a step matches
** PyTorch's to float rounding.
*/
#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int adamw_init(adamw *o, const adamw_cfg *cfg, const tmodel *m) {
    o->cfg = *cfg;
    o->n = m->n_values;
    o->m = calloc(o->n ? o->n : 1, sizeof(float));
    o->v = calloc(o->n ? o->n : 1, sizeof(float));
    if (!o->m || !o->v) { adamw_free(o); return -1; }
    return 0;
}

void adamw_free(adamw *o) {
    free(o->m);
    free(o->v);
    o->m = o->v = NULL;
}

double lr_at(const adamw_cfg *c, int step) {
    if (c->warmup > 0 && step <= c->warmup) return c->lr * (double)step / (double)c->warmup;
    double floor_lr = c->lr * c->min_lr_ratio;
    int span = c->total_steps - c->warmup;
    if (span <= 0) return c->lr;
    double p = (double)(step - c->warmup) / (double)span;
    if (p > 1) p = 1;
    return floor_lr + (c->lr - floor_lr) * 0.5 * (1.0 + cos(M_PI * p));
}

double grad_norm(const tmodel *m) {
    double ss = 0;
    for (int i = 0; i < m->n_params; i++) {
        const tparam *p = &m->params[i];
        for (size_t j = 0; j < p->n; j++) ss += (double)p->grad[j] * (double)p->grad[j];
    }
    return sqrt(ss);
}

double clip_grads(tmodel *m, double norm, double clip) {
    if (clip <= 0) return 1.0;
    double coef = clip / (norm + 1e-6);
    if (coef >= 1.0) return 1.0;
    float c = (float)coef;
    for (size_t j = 0; j < m->n_values; j++) m->gbuf[j] *= c;
    return coef;
}

typedef struct step_job {
    float *p, *g, *m, *v;
    size_t n;
    float decay, b1, one_b1, b2, one_b2, bc2_sqrt, eps, step_size;
} step_job;

#define STEP_BLOCK 4096

static void step_blocks(void *ctx, int b, int e, int ith) {
    const step_job *j = ctx;
    size_t i0 = (size_t)b * STEP_BLOCK, i1 = (size_t)e * STEP_BLOCK < j->n ? (size_t)e * STEP_BLOCK : j->n;
    for (size_t i = i0; i < i1; i++) {
        float g = j->g[i];
        float p = j->p[i] * j->decay;
        float m = j->m[i] * j->b1 + g * j->one_b1;
        float v = j->v[i] * j->b2 + g * g * j->one_b2;
        float denom = sqrtf(v) / j->bc2_sqrt + j->eps;
        j->m[i] = m;
        j->v[i] = v;
        j->p[i] = p + j->step_size * (m / denom);
    }
}

void adamw_step(adamw *o, tmodel *m, int step, double lr) {
    const adamw_cfg *c = &o->cfg;
    double bc1 = 1.0 - pow(c->beta1, step), bc2 = 1.0 - pow(c->beta2, step);
    for (int i = 0; i < m->n_params; i++) {
        tparam *p = &m->params[i];
        size_t off = (size_t)(p->data - m->pbuf);
        step_job j = {
            p->data, p->grad, o->m + off, o->v + off, p->n,
            (float)(1.0 - lr * (p->decay ? c->weight_decay : 0.0)),
            (float)c->beta1, (float)(1.0 - c->beta1), (float)c->beta2, (float)(1.0 - c->beta2),
            (float)sqrt(bc2), (float)c->eps, (float)(-lr / bc1),
        };
        tp_run(m->tp, (int)((p->n + STEP_BLOCK - 1) / STEP_BLOCK), step_blocks, &j);
    }
}

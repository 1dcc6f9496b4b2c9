/*
** lora.c — LoRA adapters (see lora.h). Placeholder until the loaders land:
** no adapter can be created yet, so lora_apply is never reached.
*/
#include "lora.h"

#include <assert.h>

void lora_apply(const lora_adapter *a, float scale, int layer, int target,
                const float *x, float *out, int T, threadpool *tp) {
    assert(!"no LoRA adapter can exist yet");
}

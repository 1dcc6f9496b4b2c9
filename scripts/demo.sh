#!/usr/bin/env bash
# demo.sh — the main job on a fresh Debian 12 machine: installs what is
# missing, builds sqlassist, and asks a question of the bundled sample
# database (examples/shop.sqlite).
#
#   bash scripts/demo.sh ["question"]
#   MODEL=/path/to/qwen2.5-1.5b-instruct-q8_0.gguf bash scripts/demo.sh "Which city has the most customers?"
#
# Without MODEL, a small random-weight Qwen2 model is generated (weights
# cannot be downloaded here and no trained model is bundled yet): the whole
# pipeline runs — tokenizer, forward pass, SQL extraction, sandbox, repair
# loop — but its SQL is nonsense. With MODEL set to a real Qwen2.5-Instruct
# GGUF or Hugging Face directory the answers are real.
set -eu
cd "$(dirname "$0")/.."
QUESTION="${1:-How many customers are there in each country?}"
bash scripts/install-deps.sh $( [ -z "${MODEL:-}" ] && echo --test )
make -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
echo "== the sample database, through the read-only sandbox"
./sqlassist sql --db examples/shop.sqlite "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name"
if [ -z "${MODEL:-}" ]; then
    echo "== no MODEL given: generating a small random-weight model (its SQL will be nonsense)"
    OUT=tests/out bash tests/fixtures.sh
    MODEL=tests/out/models/m64/m64-q8_0.gguf
fi
echo "== sqlassist ask --model $MODEL --db examples/shop.sqlite \"$QUESTION\""
./sqlassist ask --model "$MODEL" --db examples/shop.sqlite --max-attempts 3 "$QUESTION" || true

#!/usr/bin/env bash
# demo.sh — the main job on a fresh Debian 12 machine: installs what is
# missing, builds sqlassist, and asks questions of the bundled sample
# database (examples/shop.sqlite) with the bundled model
# (models/sqlassist-sql.gguf, trained from scratch by this project; see
# models/README.md).
#
#   bash scripts/demo.sh ["question" ...]
#   MODEL=/path/to/qwen2.5-1.5b-instruct-q8_0.gguf bash scripts/demo.sh "Which city has the most customers?"
#
# The bundled model is small (10.5M parameters) and answers mostly single-table
# questions (WikiSQL style: a column, a filter, COUNT/MIN/MAX/SUM/AVG); it
# seldom writes a join or a nested query right. With MODEL set to a
# Qwen2.5-Instruct GGUF or Hugging Face directory, that model answers.
set -eu
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
make -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
echo "== the sample database, through the read-only sandbox"
./sqlassist sql --db examples/shop.sqlite "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name"
[ $# -gt 0 ] || set -- "What is the highest unit price of the products?" \
    "How many customers are there in each country?" \
    "Which country has the most customers?" \
    "What is the salary of the employee whose first name is Mateo?"
for q in "$@"; do
    echo "== sqlassist ask ${MODEL:+--model $MODEL }--db examples/shop.sqlite \"$q\""
    ./sqlassist ask ${MODEL:+--model "$MODEL"} --db examples/shop.sqlite --max-attempts 3 "$q" || true
done

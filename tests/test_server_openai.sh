#!/usr/bin/env bash
# test_server_openai.sh — the OpenAI-compatible routes of `sqlassist serve`
# checked with the official `openai` npm client (tests/web/openai_client.mjs):
# plain and streamed chat completions, usage, stop, errors as the client's
# error classes, an API key, an adapter as the model. Loopback only.
. "$(dirname "$0")/lib_test.sh" server-openai
MODEL="$OUT/models/m64/m64-q8_0.gguf"
[ -f "$MODEL" ] || die "missing $MODEL (tests/fixtures.sh makes it)"
bash tests/web/setup.sh; rc=$?
[ $rc -eq 77 ] && skip_all "node/npm not installed (tests/web/setup.sh)"
[ $rc -eq 0 ] || die "tests/web/setup.sh failed (exit $rc)"

/usr/bin/python3 -c "
import sqlite3, sys; db = sqlite3.connect(sys.argv[1])
db.execute('CREATE TABLE t (a INTEGER)'); db.commit()" "$W/db.sqlite"
. tests/lib_adapters.sh
ADAPTER=""
LORA=()
AD=$(find_adapters)
[ -n "$AD" ] && { ADAPTER=r8; LORA=(--lora "r8=$AD/m64/all-r8.gguf"); }
[ -n "$ADAPTER" ] || skip "an adapter as the model: no generated adapters (tests/fixtures.sh)"

"$SQLASSIST" serve --model "$MODEL" --db "$W/db.sqlite" --port 0 --threads 2 --api-key k3y "${LORA[@]}" 2> "$W/server.log" &
pid=$!
trap 'kill -9 $pid 2>/dev/null' EXIT
for _ in $(seq 600); do grep -q '"event":"ready"' "$W/server.log" && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
grep -q '"event":"ready"' "$W/server.log" || { cat "$W/server.log"; die "server did not start"; }
port=$(grep -o '"port":[0-9]*' "$W/server.log" | head -1 | cut -d: -f2)

sub "openai npm client" timeout 300 node tests/web/openai_client.mjs "http://127.0.0.1:$port/v1" k3y $ADAPTER
kill -TERM $pid
timeout 30 tail --pid=$pid -f /dev/null
wait $pid; rc=$?
[ $rc -eq 0 ] && ok "server exits 0 on SIGTERM" || bad "server exit status $rc"
trap - EXIT
finish

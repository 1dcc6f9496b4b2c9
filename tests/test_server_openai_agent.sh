#!/usr/bin/env bash
# test_server_openai_agent.sh — the SQL agent of the OpenAI-compatible API
# (model `sql-agent`) and GET /v1/models/{id}, with the official `openai` npm
# client (tests/web/openai_agent.mjs), on examples/shop.sqlite with the
# bundled model (it answers single-table questions). Loopback only.
. "$(dirname "$0")/lib_test.sh" server-openai-agent
BUNDLED=models/sqlassist-sql-6m.gguf
[ -f "$BUNDLED" ] || { echo "missing $BUNDLED"; exit 1; }
bash tests/web/setup.sh; rc=$?
[ $rc -eq 0 ] || exit $rc

# without the grammar and with one candidate, as the failure check needs a question the bundled model fails
"$SQLASSIST" serve --model "$BUNDLED" --db examples/shop.sqlite --port 0 --threads 2 --grammar off --candidates 1 2> "$W/server.log" &
pid=$!
trap 'kill -9 $pid 2>/dev/null' EXIT
for _ in $(seq 600); do grep -q '"event":"ready"' "$W/server.log" && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
grep -q '"event":"ready"' "$W/server.log" || { echo "server did not start"; cat "$W/server.log"; exit 1; }
port=$(grep -o '"port":[0-9]*' "$W/server.log" | head -1 | cut -d: -f2)

timeout 300 node tests/web/openai_agent.mjs "http://127.0.0.1:$port/v1" || fail=1
# the agent's requests are logged like /api/ask's, with their attempts and tokens
grep '"path":"/v1/chat/completions"' "$W/server.log" | grep -q '"attempts":3,"ok":false' \
    && ok "agent requests logged with attempts and ok" || bad "agent requests logged with attempts and ok"
kill -TERM $pid
timeout 30 tail --pid=$pid -f /dev/null
wait $pid; rc=$?
[ $rc -eq 0 ] && ok "server exits 0 on SIGTERM" || bad "server exit status $rc"
trap - EXIT
exit $fail

#!/usr/bin/env bash
# test_server_openai_agent.sh — the SQL agent of the OpenAI-compatible API
# (model `sql-agent`) and GET /v1/models/{id}, with the official `openai` npm
# client (tests/web/openai_agent.mjs), on examples/shop.sqlite with the
# bundled model. The checks hold for any model: the replies' tables are
# compared with what sqlite3 gives for the SQL they show, and the failure
# comes from a second server that lets each attempt write two tokens.
# Loopback only.
. "$(dirname "$0")/lib_test.sh" server-openai-agent
BUNDLED=${BUNDLED:-models/sqlassist-sql.gguf}
[ -f "$BUNDLED" ] || die "missing $BUNDLED"
bash tests/web/setup.sh; rc=$?
[ $rc -eq 77 ] && skip_all "node/npm not installed (tests/web/setup.sh)"
[ $rc -eq 0 ] || die "tests/web/setup.sh failed (exit $rc)"

"$SQLASSIST" serve --model "$BUNDLED" --db examples/shop.sqlite --port 0 --threads 2 --grammar off --candidates 1 2> "$W/server.log" &
pid=$!
# the failing server: two tokens per attempt and no grammar give a cut-off query, whatever the model
"$SQLASSIST" serve --model "$BUNDLED" --db examples/shop.sqlite --port 0 --threads 1 --grammar off --candidates 1 -n 2 2> "$W/server-f.log" &
pidf=$!
# the many-rows server: every reply starts "SELECT email FROM customers" and may add one token,
# which the grammar lets only end the statement: 650 rows, whatever the model
printf '%s\n' '{{schema}}' 'Question: {{question}}' 'SELECT email FROM customers' > "$W/tpl-many.txt"
"$SQLASSIST" serve --model "$BUNDLED" --db examples/shop.sqlite --port 0 --threads 1 --template "$W/tpl-many.txt" \
    --grammar on --candidates 1 -n 1 --max-attempts 1 2> "$W/server-m.log" &
pidm=$!
trap 'kill -9 $pid $pidf $pidm 2>/dev/null' EXIT
for log in "$W/server.log" "$W/server-f.log" "$W/server-m.log"; do
    for _ in $(seq 600); do grep -q '"event":"ready"' "$log" && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
    grep -q '"event":"ready"' "$log" || { cat "$log"; die "server did not start ($log)"; }
done
port=$(grep -o '"port":[0-9]*' "$W/server.log" | head -1 | cut -d: -f2)
portf=$(grep -o '"port":[0-9]*' "$W/server-f.log" | head -1 | cut -d: -f2)
portm=$(grep -o '"port":[0-9]*' "$W/server-m.log" | head -1 | cut -d: -f2)

sub "openai npm client, sql-agent" timeout 300 node tests/web/openai_agent.mjs "http://127.0.0.1:$port/v1" "http://127.0.0.1:$portf/v1" "http://127.0.0.1:$portm/v1" "$W"
# the tables of the replies are those of their SQL (tests/web/openai_agent.mjs wrote the replies)
for f in one many; do
    $PY - "$W/reply-$f.md" <<'PYEOF' && ok "agent reply '$f': its Markdown table holds the rows of its SQL" || bad "agent reply '$f': table against sqlite3"
import re, sqlite3, sys
text = open(sys.argv[1], encoding="utf-8").read()
sql = re.match(r"```sql\n(.+?)\n```\n", text, re.S).group(1)
cur = sqlite3.connect("examples/shop.sqlite").execute(sql)
rows = cur.fetchall()
lines = [l for l in text.split("\n") if l.startswith("| ")]
cells = lambda l: [c.strip() for c in l.strip()[1:-1].split(" | ")]
assert cells(lines[0]) == [d[0] for d in cur.description], (lines[0], cur.description)
def shown(v):
    if v is None: return ""
    if isinstance(v, float): return repr(v)
    return str(v).replace("|", "\\|")
body = [cells(l) for l in lines[2:]]
assert len(body) == min(50, len(rows)), (len(body), len(rows))
assert body == [[shown(v) for v in r] for r in rows[:50]], (body[:3], rows[:3])
m = re.search(r"and (\d+) more rows \((\d+) in all\)", text)
assert (m is not None) == (len(rows) > 50) and (not m or int(m.group(2)) == len(rows)), (m and m.group(0), len(rows))
PYEOF
done
# the agent's requests are logged like /api/ask's, with their attempts and tokens
grep '"path":"/v1/chat/completions"' "$W/server-f.log" | grep -q '"attempts":3,"ok":false' \
    && ok "agent requests logged with attempts and ok" || bad "agent requests logged with attempts and ok"
kill -TERM $pidf $pidm
kill -TERM $pid
timeout 30 tail --pid=$pid -f /dev/null
wait $pid; rc=$?
[ $rc -eq 0 ] && ok "server exits 0 on SIGTERM" || bad "server exit status $rc"
trap - EXIT
finish

#!/usr/bin/env bash
# test_server_web.sh — the web page of `sqlassist serve` in a real browser:
# Debian's chromium, headless, driven by playwright-core
# (tests/web/browser.mjs says what is checked), against two servers: the
# small random test model behind an API key (streaming, errors, the failure
# card, adapters; its SQL never runs, so tables and charts come from SQL
# edited in the card), and the bundled model on examples/shop.sqlite (real
# answers: big numbers, follow-ups, a value the SQL leaves out, links, the
# phone layout, contrast in both themes). The screenshots go to
# tests/out/server-web/*.png, for review. Loopback only.
. "$(dirname "$0")/lib_test.sh" server-web
mkdir -p "$W/downloads"
W=$(cd "$W" && pwd)
MODEL="$OUT/models/m64/m64-q8_0.gguf"
[ -f "$MODEL" ] || die "missing $MODEL (tests/fixtures.sh makes it)"
[ -x /usr/bin/chromium ] || skip_all "chromium not installed (scripts/install-deps.sh --test installs it)"
bash tests/web/setup.sh; rc=$?
[ $rc -eq 77 ] && skip_all "node/npm not installed (tests/web/setup.sh)"
[ $rc -eq 0 ] || die "tests/web/setup.sh failed (exit $rc)"

/usr/bin/python3 - "$W/shop.sqlite" <<'PYEOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript("""
CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT, price REAL);
CREATE TABLE sales (id INTEGER PRIMARY KEY, product_id INTEGER REFERENCES products(id), day TEXT, units INTEGER);
""")
for i in range(1, 21):
    db.execute("INSERT INTO products VALUES (?,?,?,?)", (i, f"product {i}", ["tools", "toys", "food"][i % 3], 1.25 * i))
for i in range(1, 201):
    db.execute("INSERT INTO sales VALUES (?,?,?,?)", (i, 1 + i % 20, f"2024-01-{1 + i % 28:02d}", i % 7))
db.commit()
PYEOF
printf '### Schema\n{{schema}}\n### Question\n{{question}}\n### SQL\nSELECT\n' > "$W/tpl.txt"
. tests/lib_adapters.sh
ADAPTER=""
LORA=()
AD=$(find_adapters)
[ -n "$AD" ] && { ADAPTER=r8; LORA=(--lora "r8=$AD/m64/all-r8.gguf"); }
[ -n "$ADAPTER" ] || skip "the browser's adapter checks: no generated adapters (tests/fixtures.sh)"

# -n 160: an attempt takes long enough (about half a second) for the browser to
# receive its tokens in several pieces, as it does from a real model
# (no grammar, one candidate: this model's SQL must never run)
"$SQLASSIST" serve --model "$MODEL" --db "$W/shop.sqlite" --port 0 --threads 2 --api-key br0wser --template "$W/tpl.txt" \
    -n 160 --grammar off --candidates 1 "${LORA[@]}" 2> "$W/server.log" &
pid=$!
# (failures are forced per question by the browser test: two tokens, no grammar)
"$SQLASSIST" serve --model "${BUNDLED:-models/sqlassist-sql.gguf}" --db examples/shop.sqlite --port 0 --threads 2 2> "$W/server-b.log" &
pid_b=$!
trap 'kill -9 $pid $pid_b 2>/dev/null' EXIT
for log in "$W/server.log" "$W/server-b.log"; do
    for _ in $(seq 600); do grep -q '"event":"ready"' "$log" && break; sleep 0.1; done
    grep -q '"event":"ready"' "$log" || { cat "$log"; die "server did not start ($log)"; }
done
port=$(grep -o '"port":[0-9]*' "$W/server.log" | head -1 | cut -d: -f2)
port_b=$(grep -o '"port":[0-9]*' "$W/server-b.log" | head -1 | cut -d: -f2)

sub "browser run" timeout 300 node tests/web/browser.mjs "http://127.0.0.1:$port/" br0wser "http://127.0.0.1:$port_b/" "$W/page.png" "$W/profile" "$W/downloads" $ADAPTER
kill -TERM $pid $pid_b
for p in $pid $pid_b; do
    timeout 30 tail --pid=$p -f /dev/null
    wait $p; rc=$?
    [ $rc -eq 0 ] && ok "server exits 0 on SIGTERM" || bad "server exit status $rc"
done
trap - EXIT
rm -rf "$W/profile"
finish

#!/usr/bin/env bash
# test_server_web.sh — the web page of `sqlassist serve` in a real browser:
# Debian's chromium, headless, driven by playwright-core
# (tests/web/browser.mjs says what is checked). The page's screenshots go to
# tests/out/server-web/*.png (CI artifacts). Loopback only.
#
# What it cannot check: a table or chart made from the model's own SQL (the
# small random model never writes SQL that runs). The table, charts and
# downloads are checked through the page's "Run SQL" editor instead, which
# renders results with the same code.
set -u
cd "$(dirname "$0")/.."
SQLASSIST="${SQLASSIST:-./sqlassist}"
OUT="${OUT:-tests/out}"
MODEL="$OUT/models/m64/m64-q8_0.gguf"
W="$OUT/server-web"
rm -rf "$W"; mkdir -p "$W/downloads"
W=$(cd "$W" && pwd)
[ -f "$MODEL" ] || { echo "missing $MODEL (tests/fixtures.sh makes it)"; exit 1; }
[ -x /usr/bin/chromium ] || { echo "chromium not installed (scripts/install-deps.sh --test installs it)"; exit 77; }
bash tests/web/setup.sh; rc=$?
[ $rc -eq 0 ] || exit $rc

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

# -n 160: an attempt takes long enough (about half a second) for the browser to
# receive its tokens in several pieces, as it does from a real model
"$SQLASSIST" serve --model "$MODEL" --db "$W/shop.sqlite" --port 0 --threads 2 --api-key br0wser --template "$W/tpl.txt" \
    -n 160 "${LORA[@]}" 2> "$W/server.log" &
pid=$!
trap 'kill -9 $pid 2>/dev/null' EXIT
for _ in $(seq 600); do grep -q '"event":"ready"' "$W/server.log" && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
grep -q '"event":"ready"' "$W/server.log" || { echo "server did not start"; cat "$W/server.log"; exit 1; }
port=$(grep -o '"port":[0-9]*' "$W/server.log" | head -1 | cut -d: -f2)

fail=0
timeout 300 node tests/web/browser.mjs "http://127.0.0.1:$port/" br0wser "$W/page.png" "$W/profile" "$W/downloads" $ADAPTER || fail=1
kill -TERM $pid
timeout 30 tail --pid=$pid -f /dev/null
wait $pid; rc=$?
[ $rc -eq 0 ] && echo "PASS server exits 0 on SIGTERM" || { echo "FAIL server exit status $rc"; fail=1; }
trap - EXIT
rm -rf "$W/profile"
exit $fail

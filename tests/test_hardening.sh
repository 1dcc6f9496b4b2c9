#!/usr/bin/env bash
# test_hardening.sh — issue #16, the server and the CLI probed as an
# attacker and a careless user would, on loopback only:
#   1. 300 idle connections from one address: /health and a question from
#      another connection (another address, and the same one) still answer
#      within a second; a client sending a byte a second is cut off (408),
#      so is a body that trickles; the reserve for /health; a log line;
#   2. heavy /api/sql contexts fail alone: ordinary --db queries running at
#      the same time all succeed;
#   3. table names with ESC/OSC/BEL/CSI never reach the terminal raw (ask
#      -v's "left out" note, schema and schema --budget, SQLite's errors in
#      an ask session's .sql);
#   4. an empty file, /dev/null or a directory as --db: one line, exit 1,
#      no model run;
#   5. a table whose generated column fails: its samples are left out with
#      a note, the rest works (ask, schema, serve --samples);
#   6. POST /api/adapters answers 403 for every path outside --lora-dir,
#      existing or not;
#   7. duplicate or conflicting Content-Length, Content-Length with
#      Transfer-Encoding, HTTP/1.1 without Host: 400; an oversize chunked
#      body: 413 (logged 413, not 499); errors of the HTTP layer (400, 413,
#      414, 431, 505) carry the JSON error body; cross-site POSTs refused
#      without an API key;
#   8. messages: hot journal, pragma_journal_mode('wal'), SQL over 128 KiB
#      on stdin, SAVEPOINT.
# Every wait is bounded; the test takes about 20 s, mostly sleeping.
. "$(dirname "$0")/lib_test.sh" hardening
MODEL="$OUT/models/m64/m64-q8_0.gguf"
[ -f "$MODEL" ] || die "missing $MODEL (tests/fixtures.sh makes it)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done; }
trap cleanup EXIT
SLOW=1; [ "${SAN:-0}" = 1 ] && SLOW=4   # time allowance under the sanitizers

# ---- fixtures -----------------------------------------------------------------------------
$PY - "$W" <<'PYEOF'
import os, shutil, sqlite3, sys
W = sys.argv[1]
db = sqlite3.connect(f"{W}/shop.sqlite")
db.executescript("""
CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT, price REAL);
CREATE TABLE sales (id INTEGER PRIMARY KEY, product_id INTEGER REFERENCES products(id), day TEXT, units INTEGER);
""")
db.executemany("INSERT INTO products VALUES (?,?,?,?)", [(i, f"product {i}", ["tools", "toys"][i % 2], 1.5 * i) for i in range(1, 41)])
db.executemany("INSERT INTO sales VALUES (?,?,?,?)", [(i, 1 + i % 40, f"2024-01-{1 + i % 28:02d}", i % 7) for i in range(1, 401)])
db.commit(); db.close()
# hostile names, and a table whose generated column fails to compute
db = sqlite3.connect(f"{W}/evil.sqlite")
db.executescript("""
CREATE TABLE good (name TEXT, qty INTEGER);
INSERT INTO good VALUES ('apple', 3), ('pear', 5);
CREATE TABLE bad (a INTEGER, b AS (abs(a)));
INSERT INTO bad(a) VALUES (-9223372036854775807);
CREATE TABLE "evil\x1b]0;owned\x07\x1b[2J\x9b" (x INTEGER, "y\x1b[31m" TEXT);
CREATE VIEW v AS SELECT `z\x1b]0;owned\x07` FROM good;
PRAGMA writable_schema = ON;
""")
db.execute("UPDATE sqlite_schema SET sql = 'CREATE TABLE bad (a INTEGER, b AS (abs(a - 1)))' WHERE name = 'bad'")
db.commit(); db.close()
open(f"{W}/empty.sqlite", "wb").close()
os.mkdir(f"{W}/dir.sqlite")
# a hot journal: copies taken while a write transaction had written pages
src = f"{W}/hot-src.sqlite"
db = sqlite3.connect(src, isolation_level=None)
db.execute("PRAGMA cache_size = 2"); db.execute("CREATE TABLE t (a)")
db.execute("INSERT INTO t SELECT randomblob(3000) FROM (WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c LIMIT 50) SELECT i FROM c)")
db.execute("BEGIN IMMEDIATE"); db.execute("UPDATE t SET a = randomblob(3000)")
shutil.copy(src, f"{W}/hot.sqlite"); shutil.copy(src + "-journal", f"{W}/hot.sqlite-journal")
db.execute("ROLLBACK"); db.close()
# adapters: a --lora-dir, a directory outside it, a link inside leading out
os.makedirs(f"{W}/loras"); os.makedirs(f"{W}/outside")
open(f"{W}/outside/exists.gguf", "wb").close()
os.symlink(os.path.abspath(f"{W}/outside"), f"{W}/loras/link")
PYEOF
DB="$W/shop.sqlite"
before=$(sha256sum "$DB" | cut -d' ' -f1)

# no_raw_controls FILE — no ESC, BEL, C1 CSI/OSC or other C0 control but \t \n
no_raw_controls() { ! LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]\|\xc2[\x80-\x9f]' "$1"; }

# ---- 3. terminal escapes ---------------------------------------------------------------------
# (--format sql-create-context shows only the tables the question names, so the note lists the others)
timeout 120 "$SQLASSIST" ask --db "$W/evil.sqlite" -v --format sql-create-context --max-attempts 1 -n 8 "How many good items are there?" > "$W/ask-evil.out" 2> "$W/ask-evil.err"
cat "$W/ask-evil.out" "$W/ask-evil.err" > "$W/ask-evil.all"
if no_raw_controls "$W/ask-evil.all" && grep -q 'left out' "$W/ask-evil.err" && grep -qF 'evil\x1B]0;owned\x07\x1B[2J' "$W/ask-evil.err"; then
    ok "ask -v: the left-out note shows hostile table names escaped"
else bad "ask -v prints raw control characters or lost the note"; cat -v "$W/ask-evil.all" | head -20; fi
timeout 60 "$SQLASSIST" schema --db "$W/evil.sqlite" --budget 40 --question good > "$W/schema-evil.out" 2> "$W/schema-evil.err"
cat "$W/schema-evil.out" "$W/schema-evil.err" > "$W/schema-evil.all"
no_raw_controls "$W/schema-evil.all" && grep -qF 'evil\x1B]0;owned' "$W/schema-evil.err" \
    && ok "schema --budget: left-out names escaped" || { bad "schema --budget prints raw names"; cat -v "$W/schema-evil.all"; }

# the session's .sql on a pseudo-terminal: SQLite's message names a column of the database (a view's), escaped
timeout 60 $PY - "$SQLASSIST" "$MODEL" "$W/evil.sqlite" > "$W/session-evil.out" <<'PYEOF'
import os, pty, select, sys, time
exe, model, db = sys.argv[1:4]
pid, fd = pty.fork()
if pid == 0:
    os.execv(exe, [exe, "ask", "--model", model, "--db", db])
out = b""
def until(done, t=30):
    global out
    end = time.time() + t
    while not done() and time.time() < end:
        if select.select([fd], [], [], 0.5)[0]:
            try: d = os.read(fd, 4096)
            except OSError: break
            if not d: break
            out += d
until(lambda: b"ask> " in out)
os.write(fd, b".sql SELECT * FROM v\r")
until(lambda: b"no such column" in out and out.rstrip().endswith(b"ask>"))
os.write(fd, b"exit\r")
until(lambda: False, 5)
os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
PYEOF
grep -qF 'no such column: z\x1B]0;owned\x07' "$W/session-evil.out" && ! LC_ALL=C grep -q $'\x1b]0;owned' "$W/session-evil.out" \
    && ok "ask session: .sql's error names escaped" || { bad "ask session: .sql's error prints raw names"; cat -v "$W/session-evil.out" | tail -5; }

# ---- 4. empty and non-database files -----------------------------------------------------------
expect_one_line() {   # NAME RC WANT CMD... — exit status RC, stderr exactly one line holding WANT, quickly
    local name="$1" want_rc="$2" want="$3"; shift 3
    local t0=$SECONDS
    timeout 120 "$@" > "$W/out.txt" 2> "$W/err.txt"; local rc=$?
    if [ $rc -eq "$want_rc" ] && [ "$(wc -l < "$W/err.txt")" -eq 1 ] && grep -qF -- "$want" "$W/err.txt" && [ $((SECONDS - t0)) -le $((5 * SLOW)) ]; then
        ok "$name"
    else bad "$name (rc=$rc)"; cat "$W/err.txt" | head -5; fi
}
expect_one_line "ask on an empty file: has no tables, exit 1" 1 "database '$W/empty.sqlite' has no tables (the file is empty)" \
    "$SQLASSIST" ask --db "$W/empty.sqlite" "How many rows?"
expect_one_line "ask on /dev/null: has no tables, exit 1" 1 "database '/dev/null' has no tables" \
    "$SQLASSIST" ask --db /dev/null "How many rows?"
expect_one_line "ask on a directory: is a directory, exit 1" 1 "is a directory" \
    "$SQLASSIST" ask --db "$W/dir.sqlite" "How many rows?"
expect_one_line "schema on an empty file: exit 1" 1 "has no tables" "$SQLASSIST" schema --db "$W/empty.sqlite"
expect_one_line "sql on a directory: is a directory" 1 "is a directory" "$SQLASSIST" sql --db "$W/dir.sqlite" "SELECT 1"
timeout 30 "$SQLASSIST" serve --model "$MODEL" --db "$W/empty.sqlite" --port 0 > /dev/null 2> "$W/serve-empty.err"; rc=$?
[ $rc -eq 1 ] && grep -q "has no tables" "$W/serve-empty.err" && ! grep -q '"event":"loading"' "$W/serve-empty.err" \
    && ok "serve on an empty file: exit 1 before loading the model" || { bad "serve on an empty file (rc=$rc)"; cat "$W/serve-empty.err"; }

# ---- 5. one bad table and --samples ---------------------------------------------------------------
timeout 60 "$SQLASSIST" schema --db "$W/evil.sqlite" --samples 2 > "$W/schema-samples.out" 2> "$W/schema-samples.err"; rc=$?
[ $rc -eq 0 ] && grep -q "('apple', 3)" "$W/schema-samples.out" && grep -q "sample rows of table bad left out: SQL error: integer overflow" "$W/schema-samples.err" \
    && ok "schema --samples: the bad table's samples left out with a note, the rest shown" || { bad "schema --samples (rc=$rc)"; cat "$W/schema-samples.err"; }
# the whole schema, hostile table included: no raw controls (C1 CSI too)
no_raw_controls "$W/schema-samples.out" && no_raw_controls "$W/schema-samples.err" && grep -qF 'CREATE TABLE "evil_]0;owned__[2J_"' "$W/schema-samples.out" \
    && ok "schema: hostile names printed without controls" || { bad "schema prints raw controls"; cat -v "$W/schema-samples.out"; }
timeout 120 "$SQLASSIST" ask --db "$W/evil.sqlite" --samples 2 --max-attempts 1 -n 8 "How many good items are there?" > /dev/null 2> "$W/ask-samples.err"
grep -q "sample rows of table bad left out" "$W/ask-samples.err" && ! grep -q "sqlassist: schema" "$W/ask-samples.err" \
    && ok "ask --samples: goes on with a note" || { bad "ask --samples"; cat "$W/ask-samples.err"; }

# ---- 8. messages -----------------------------------------------------------------------------------
expect_one_line "hot journal: needs recovery by its owner" 1 "needs recovery by its owner" "$SQLASSIST" sql --db "$W/hot.sqlite" "SELECT count(*) FROM t"
expect_one_line "pragma_journal_mode('wal') names the pragma_* functions allowed" 1 "pragma_journal_mode() is not allowed; the pragma_* functions allowed are pragma_table_info" \
    "$SQLASSIST" sql --db "$DB" "SELECT * FROM pragma_journal_mode('wal')"
expect_one_line "SAVEPOINT named as SAVEPOINT" 1 "transaction control (SAVEPOINT s1) is not allowed" "$SQLASSIST" sql --db "$DB" "SAVEPOINT s1"
head -c 200000 /dev/zero | tr '\0' ' ' > "$W/big.sql"
expect_one_line "200000 bytes of SQL on stdin: its true size" 1 "SQL is 200000 bytes, over the SQL length limit of 100000 bytes" \
    "$SQLASSIST" sql --db "$DB" - < "$W/big.sql"

# ---- the server -------------------------------------------------------------------------------------
# start_server NAME ARGS... — sets PORT
start_server() {
    local name="$1"; shift
    "$SQLASSIST" serve --model "$MODEL" --port 0 --threads 1 -n 8 --max-attempts 1 "$@" 2> "$W/$name.log" > /dev/null &
    local pid=$!; PIDS+=("$pid"); eval "PID_$name=$pid"
    for _ in $(seq 300); do grep -q '"event":"ready"' "$W/$name.log" 2>/dev/null && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    grep -q '"event":"ready"' "$W/$name.log" || { echo "server $name did not start:"; cat "$W/$name.log"; return 1; }
    PORT=$(grep -o '"port":[0-9]*' "$W/$name.log" | head -1 | cut -d: -f2)
}
start_server main --db "$DB" --max-body 65536 --lora-dir "$W/loras" || die "a server did not start"
P_MAIN=$PORT
start_server small --db "$DB" --max-connections 8 --max-connections-per-client 0 || die "a server did not start"
P_SMALL=$PORT
start_server samples --db "$W/evil.sqlite" --samples 2 || die "a server did not start"
grep -q '"event":"note".*sample rows of table bad left out' "$W/samples.log" \
    && ok "serve --samples: starts, the bad table's samples left out with a note" || bad "serve --samples"

sub "server hardening checks" timeout 120 $PY - "$W" "$P_MAIN" "$P_SMALL" "$SLOW" <<'PYEOF'
import http.client, json, re, socket, sys, threading, time
W, P, P_SMALL, SLOW = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
fails = 0
def check(name, cond, detail=""):
    global fails
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else f"  {detail}"), flush=True)
    if not cond: fails += 1

def req(method, path, body=None, headers=None, src="127.0.0.1", port=P, timeout=30):
    """(status, headers, json, seconds); status None when the connection failed."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(src, 0))
    h = dict(headers or {})
    if isinstance(body, dict): body = json.dumps(body); h.setdefault("Content-Type", "application/json")
    t = time.time()
    try:
        c.request(method, path, body=body, headers=h)
        r = c.getresponse(); data = r.read(); dt = time.time() - t
    except (OSError, http.client.HTTPException) as e:
        c.close()
        return None, {}, {"exception": repr(e)}, time.time() - t
    hd = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    try: j = json.loads(data)
    except Exception: j = None
    return r.status, hd, j, dt

def raw(data, port=P, timeout=10):
    """Sends bytes on a fresh connection; the first answer: (status, headers, body json or None)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    try:
        s.sendall(data)
        while True:
            b = s.recv(65536)
            if not b: break
            out += b
            head, sep, rest = out.partition(b"\r\n\r\n")
            m = re.search(rb"(?i)content-length: *(\d+)", head)
            if sep and m and len(rest) >= int(m.group(1)): break
    except OSError: pass
    s.close()
    head, _, rest = out.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.1 (\d+)", head)
    try: j = json.loads(rest)
    except Exception: j = None
    return (int(m.group(1)) if m else None), head.decode("latin-1"), j

def is_error_body(j, status=None):
    return isinstance(j, dict) and isinstance(j.get("error"), dict) and j["error"].get("message") and "type" in j["error"] \
        and "param" in j["error"] and "code" in j["error"]

# ---- 1. idle and slow connections -------------------------------------------------------------
results = {}
def drip_head():   # from an address of its own: 127.0.0.1's silent sockets give way to newer ones
    s = socket.create_connection(("127.0.0.1", P), source_address=("127.0.0.3", 0)); s.settimeout(1.5)
    t = time.time(); got = b""
    for ch in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"y" * 60:
        try:
            s.send(bytes([ch]))
            got = s.recv(200)
            break
        except socket.timeout: continue
        except OSError: break
    results["drip"] = (time.time() - t, got[:40]); s.close()
def drip_body():
    s = socket.create_connection(("127.0.0.1", P), source_address=("127.0.0.4", 0)); s.settimeout(1.5)
    s.sendall(b"POST /api/sql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{")
    t = time.time(); closed = None
    while time.time() - t < 40:
        try:
            s.send(b" ")
            d = s.recv(200)
            if d == b"": closed = time.time() - t; break
        except socket.timeout: continue
        except OSError: closed = time.time() - t; break
    results["body"] = closed; s.close()
threads = [threading.Thread(target=drip_head), threading.Thread(target=drip_body)]
for th in threads: th.start()

idle = [socket.create_connection(("127.0.0.1", P)) for _ in range(300)]
t_idle = time.time()
time.sleep(0.5)
for src in ["127.0.0.2", "127.0.0.1"]:
    st, hd, j, dt = req("GET", "/health", src=src)
    check(f"300 idle connections: /health from {src} answers within a second", st == 200 and dt < 1.0, (st, dt))
    st, hd, j, dt = req("POST", "/api/ask", {"question": "How many products are there?", "max_attempts": 1}, src=src)
    check(f"300 idle connections: a question from {src} answers within a second", st == 200 and "attempts" in j and dt < 1.0 * SLOW, (st, dt))
    st, hd, j, dt = req("POST", "/api/sql", {"sql": "SELECT count(*) FROM products"}, src=src)
    check(f"300 idle connections: /api/sql from {src}", st == 200 and j["ok"] and j["result"]["rows"] == [[40]], (st, j))

for th in threads: th.join(60)
dt, got = results.get("drip", (None, b""))
check("a head sent a byte a second is cut off after ~10 s with 408 and the JSON body", dt is not None and 9 <= dt <= 14 and got.startswith(b"HTTP/1.1 408"), results.get("drip"))
check("a body sent a byte a second is cut off after its grace period", results.get("body") is not None and 9 <= results["body"] <= 16, results.get("body"))
time.sleep(max(0, t_idle + 12 - time.time()))
open_idle = 0
for s in idle:   # closed: the end of the stream, a reset, or a 408 answer
    s.setblocking(False)
    try:
        d = s.recv(100)
        if d != b"" and not d.startswith(b"HTTP/1.1 408"): open_idle += 1
    except BlockingIOError: open_idle += 1
    except OSError: pass
    s.close()
check("the idle connections were all closed (evicted or timed out)", open_idle == 0, open_idle)
log = [json.loads(l) for l in open(f"{W}/main.log")]
conn = [l for l in log if l.get("event") == "connections"]
check("connections log: evictions and head timeouts logged", sum(l["evicted"] for l in conn) >= 200 and sum(l["head_timeouts"] for l in conn) >= 1
      and sum(l["body_timeouts"] for l in conn) >= 1, conn[-3:])

# the reserve: 7 of 8 slots taken by kept-alive connections; ordinary requests get 503, /health still answers
keep = []
for _ in range(7):
    c = http.client.HTTPConnection("127.0.0.1", P_SMALL, timeout=10); c.request("GET", "/health"); c.getresponse().read(); keep.append(c)
time.sleep(1.3)
st, hd, j, dt = req("GET", "/api/schema", port=P_SMALL)
check("reserve: an ordinary request gets 503 with Retry-After and the JSON body", st == 503 and "retry-after" in hd and is_error_body(j), (st, hd, j))
st, hd, j, dt = req("GET", "/health", port=P_SMALL)
check("reserve: /health still answers", st == 200, (st, j))
for c in keep: c.close()
time.sleep(0.3)
st, hd, j, dt = req("GET", "/api/schema", port=P_SMALL)
check("reserve: served again once connections close", st == 200, st)

# ---- 2. per-request memory ------------------------------------------------------------------------------
# zeroblob and printf rather than randomblob: SQLite's PRNG has one process-wide mutex, held for a whole
# randomblob, so megabyte randomblobs on four threads would stall the ordinary query's for seconds
heavy = "CREATE TABLE t (b); INSERT INTO t VALUES " + ", ".join(["(zeroblob(1000000))"] * 200) + ";"
stop = threading.Event(); heavy_results = []
def heavy_client():
    while not stop.is_set():
        st, hd, j, dt = req("POST", "/api/sql", {"sql": "SELECT count(*) FROM t", "context": heavy})
        heavy_results.append((st, (j or {}).get("error", {}).get("message") if st != 200 else j.get("error")))
hs = [threading.Thread(target=heavy_client) for _ in range(4)]
for th in hs: th.start()
ordinary = []
query = ("SELECT count(*) FROM (SELECT printf('%01000d', (i * 7919) % 20011) AS r FROM (WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL "
         "SELECT i + 1 FROM c LIMIT 20000) SELECT i FROM c) ORDER BY r)")
t0 = time.time()
while time.time() - t0 < 4 * SLOW or len(ordinary) < 20:
    st, hd, j, dt = req("POST", "/api/sql", {"sql": query})
    ordinary.append((st, j.get("ok") if j else None, j.get("error") if j else None))
    if len(ordinary) >= 60: break
stop.set()
for th in hs: th.join(60)
bad_ord = [o for o in ordinary if not (o[0] == 200 and o[1] is True)]
check(f"heavy contexts: {len(ordinary)} ordinary queries meanwhile all succeed", not bad_ord and len(ordinary) >= 20, bad_ord[:3])
check(f"heavy contexts ({len(heavy_results)}) fail alone, naming the budget",
      heavy_results and all(st == 400 and m and "memory limit reached" in m for st, m in heavy_results), heavy_results[:3])

# ---- 6. adapter paths: the same 403 for every path outside, existing or not ------------------------------
outside = [f"{W}/outside/exists.gguf", f"{W}/outside/missing.gguf", "/etc/passwd", "/nonexistent/x.gguf",
           "../outside/exists.gguf", "../outside/missing.gguf", "link/exists.gguf", "link/missing.gguf"]
answers = [req("POST", "/api/adapters", {"path": p})[:3:2] for p in outside]
check("adapters: every path outside --lora-dir is 403, whether it exists or not",
      all(st == 403 and j["error"]["param"] == "path" and "outside --lora-dir" in j["error"]["message"] for st, j in answers), answers)
st, hd, j, dt = req("POST", "/api/adapters", {"path": "missing.gguf"})
check("adapters: a missing path inside --lora-dir is 404", st == 404, (st, j))

# ---- 7. HTTP strictness --------------------------------------------------------------------------------------
body = b'{"sql":"SELECT 1"}'
cases = [
    ("conflicting duplicate Content-Length", b"POST /api/sql HTTP/1.1\r\nHost: x\r\nContent-Length: 18\r\nContent-Length: 5\r\n\r\n" + body, 400),
    ("Content-Length with Transfer-Encoding", b"POST /api/sql HTTP/1.1\r\nHost: x\r\nContent-Length: 18\r\nTransfer-Encoding: chunked\r\n\r\n12\r\n" + body + b"\r\n0\r\n\r\n", 400),
    ("HTTP/1.1 without Host", b"GET /health HTTP/1.1\r\n\r\n", 400),
    ("Transfer-Encoding other than chunked", b"POST /api/sql HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    ("malformed request line", b"\x16\x03\x01\x02 hello\r\n\r\n", 400),
    ("malformed header line", b"GET /health HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 400),
    ("Content-Length past 64 bits", b"POST /api/sql HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413),
    ("URI too long", b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ("header fields too large", b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
    ("HTTP version not supported", b"GET /health HTTP/2.0\r\nHost: x\r\n\r\n", 505),
]
for name, data, want in cases:
    st, head, j = raw(data)
    check(f"{name}: {want} with the JSON error body", st == want and is_error_body(j) and "connection: close" in head.lower(), (st, head[:200], j))
# the same on a kept-alive connection, after a good request (libmicrohttpd parses those)
def second_answer(data):
    s = socket.create_connection(("127.0.0.1", P), timeout=10)
    s.sendall(data)
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d: break
            out += d
    except OSError: pass
    s.close()
    parts = out.split(b"HTTP/1.1 ")
    return (parts[2] if len(parts) >= 3 else b""), out
second, out = second_answer(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/7.1\r\nHost: x\r\n\r\n")
check("a malformed second request on a kept-alive connection: 505 with the JSON body",
      second.startswith(b"505") and b'"error":{' in second and b"<html>" not in out, out[-300:])
second, out = second_answer(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\n\r\n")
check("a second request without Host on a kept-alive connection: 400 with the JSON body",
      second.startswith(b"400") and b'"error":{' in second, out[-300:])
# chunked body over --max-body (64 KiB): 413, also past the discard limit
chunk = b"x" * 100000
for total, name in [(2, "2 MB"), (700, "70 MB")]:   # the second one past what is read and dropped
    data = b"POST /api/sql HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n" + \
           b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(total)) + b"0\r\n\r\n"
    st, head, j = raw(data, timeout=30)
    check(f"chunked body of {name} over --max-body: 413 with the JSON body", st == 413 and is_error_body(j) and j["error"]["param"] == "body", (st, head[:200], j))
# cross-site POSTs without a key
st, hd, j, dt = req("POST", "/api/sql", '{"sql":"SELECT 1"}', {"Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site"})
check("cross-site POST (Sec-Fetch-Site) refused: 403", st == 403 and is_error_body(j), (st, j))
st, hd, j, dt = req("POST", "/api/sql", '{"sql":"SELECT 1"}', {"Content-Type": "text/plain", "Origin": "http://evil.example"})
check("cross-site POST (Origin of another site) refused: 403", st == 403, (st, j))
st, hd, j, dt = req("POST", "/api/sql", {"sql": "SELECT 1"}, {"Origin": f"http://127.0.0.1:{P}", "Sec-Fetch-Site": "same-origin"})
check("same-origin POST from the page: allowed", st == 200 and j["ok"], (st, j))
st, hd, j, dt = req("POST", "/api/sql", {"sql": "SELECT 1"})
check("POST without Origin (curl, SDKs): allowed", st == 200, st)

time.sleep(1.2)
log = [json.loads(l) for l in open(f"{W}/main.log")]
r413 = [l for l in log if l.get("event") == "request" and l.get("path") == "/api/sql" and l.get("status") == 413]
check("oversize chunked bodies logged as 413, not 499", len(r413) >= 2 and not any(l.get("status") == 499 and l.get("path") == "/api/sql" and l.get("bytes_in", 0) > 65536 for l in log), r413[-2:])
check("every log line is JSON with a ts", all("ts" in l for l in log))
sys.exit(1 if fails else 0)
PYEOF

for name in main small samples; do
    eval "pid=\$PID_$name"
    kill -TERM "$pid"; for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    wait "$pid"; rc=$?
    [ $rc -eq 0 ] && ok "server $name exits 0 on SIGTERM" || { bad "server $name exit status $rc"; tail -5 "$W/$name.log"; }
done
[ "$(sha256sum "$DB" | cut -d' ' -f1)" = "$before" ] && ok "database unchanged" || bad "database changed"
finish

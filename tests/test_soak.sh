#!/usr/bin/env bash
# test_soak.sh — `sqlassist serve` for 60 s (SOAK_S) under 32 clients on
# loopback, all at once: questions (plain and streamed), ordinary /api/sql
# queries on --db (some sorting ~20 MB), /api/sql with heavy contexts (each
# asks for far more memory than a request may have), connections that send
# nothing, heads and bodies sent a byte at a time, and /health, /metrics,
# /api/schema. Checks: no 5xx but the documented 503 (with Retry-After);
# every error has the JSON body; every ordinary query succeeds; heavy
# contexts fail alone with the memory message; /health answers quickly
# throughout; idle and slow sockets are cut off and logged; resident memory
# flat between the warm-up and the end; SIGTERM exits 0 (LeakSanitizer
# checks the frees under the sanitizers); the database is unchanged.
. "$(dirname "$0")/lib_test.sh" soak
MODEL="$OUT/models/m64/m64-q8_0.gguf"
[ -f "$MODEL" ] || die "missing $MODEL (tests/fixtures.sh makes it)"
SOAK_S="${SOAK_S:-60}"
SLOW=1; [ "${SAN:-0}" = 1 ] && SLOW=4

$PY - "$W/shop.sqlite" <<'PYEOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript("""
CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT, price REAL);
CREATE TABLE sales (id INTEGER PRIMARY KEY, product_id INTEGER REFERENCES products(id), day TEXT, units INTEGER);
""")
db.executemany("INSERT INTO products VALUES (?,?,?,?)", [(i, f"product {i}", ["tools", "toys", "food"][i % 3], 1.25 * i) for i in range(1, 61)])
db.executemany("INSERT INTO sales VALUES (?,?,?,?)", [(i, 1 + i % 60, f"2024-02-{1 + i % 28:02d}", i % 9) for i in range(1, 2001)])
db.commit()
PYEOF
DB="$W/shop.sqlite"
before=$(sha256sum "$DB" | cut -d' ' -f1)

# a small ASan quarantine keeps resident memory meaningful (as test_server_load.sh)
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8"
"$SQLASSIST" serve --model "$MODEL" --db "$DB" --port 0 --threads 1 -n 8 --max-attempts 1 --queue 64 --max-body 65536 \
    2> "$W/server.log" > /dev/null &
pid=$!
trap 'kill -9 $pid 2>/dev/null' EXIT
for _ in $(seq 300); do grep -q '"event":"ready"' "$W/server.log" && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
grep -q '"event":"ready"' "$W/server.log" || { cat "$W/server.log"; die "server did not start"; }
PORT=$(grep -o '"port":[0-9]*' "$W/server.log" | head -1 | cut -d: -f2)

sub "soak checks" timeout $((SOAK_S * 2 + 120)) $PY - "$PORT" "$pid" "$SOAK_S" "$SLOW" "$W" <<'PYEOF'
import http.client, json, random, socket, sys, threading, time
PORT, PID, SOAK, SLOW, W = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
fails = 0
def check(name, cond, detail=""):
    global fails
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else f"  {detail}"), flush=True)
    if not cond: fails += 1

lock = threading.Lock()
log = {"bad": [], "ordinary": [], "ordinary_bad": [], "questions": {}, "heavy": {}, "heavy_bad": [], "health_ms": [],
       "idle_closed": 0, "idle_open": 0, "slow_cut": 0, "slow_open": 0, "other": {}}
def note(kind, key):
    with lock: log[kind][key] = log[kind].get(key, 0) + 1

t_start = time.time()
def running(): return time.time() - t_start < SOAK

def req(method, path, body=None, headers=None, src="127.0.0.1", timeout=120):
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=timeout, source_address=(src, 0))
    h = dict(headers or {})
    if isinstance(body, dict): body = json.dumps(body); h["Content-Type"] = "application/json"
    t = time.time()
    c.request(method, path, body=body, headers=h)
    r = c.getresponse(); data = r.read(); dt = time.time() - t
    hd = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    j = None
    if hd.get("content-type", "").startswith("application/json"):
        try: j = json.loads(data)
        except Exception: pass
    # no 5xx but a 503 with Retry-After; every error with the JSON body
    if r.status >= 500 and not (r.status == 503 and "retry-after" in hd):
        with lock: log["bad"].append((method, path, r.status, data[:200]))
    if r.status >= 400 and not (isinstance(j, dict) and isinstance(j.get("error"), dict) and j["error"].get("message")):
        with lock: log["bad"].append((method, path, r.status, "no JSON error body", data[:200]))
    return r.status, j, dt

QUESTIONS = ["How many products are there?", "Which category has the most products?", "Total units sold per day?",
             "What is the most expensive product?", "How many sales of product 7?"]
def questions(i):
    rnd = random.Random(i)
    while running():
        body = {"question": rnd.choice(QUESTIONS), "max_attempts": 1}
        if rnd.random() < 0.3:   # streamed
            c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
            c.request("POST", "/api/ask", body=json.dumps(body), headers={"Content-Type": "application/json", "Accept": "text/event-stream"})
            r = c.getresponse(); data = r.read(); c.close()
            note("questions", f"sse {r.status}")
            if r.status == 200 and b"event: answer" not in data:
                with lock: log["bad"].append(("sse", r.status, data[-200:]))
        else:
            st, j, dt = req("POST", "/api/ask", body)
            note("questions", st)
        time.sleep(0.2)

ORDINARY = ["SELECT count(*) FROM products", "SELECT category, count(*) FROM products GROUP BY category ORDER BY 1",
            "SELECT p.name, sum(s.units) FROM sales s JOIN products p ON p.id = s.product_id GROUP BY p.id ORDER BY 2 DESC LIMIT 5",
            "SELECT count(*) FROM (SELECT printf('%01000d', (i * 7919) % 20011) AS r FROM (WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c LIMIT 20000) SELECT i FROM c) ORDER BY r)"]
def ordinary(i):
    k = i
    while running():
        sql = ORDINARY[k % len(ORDINARY)]; k += 1
        st, j, dt = req("POST", "/api/sql", {"sql": sql})
        with lock:
            log["ordinary"].append(st)
            if not (st == 200 and j and j.get("ok")): log["ordinary_bad"].append((sql[:40], st, (j or {}).get("error")))
        time.sleep(0.1)

# zeroblob and printf rather than randomblob: SQLite's PRNG has one process-wide mutex, held for a
# whole randomblob(1000000), which would stall the ordinary queries (see test_hardening.sh)
HEAVY = "CREATE TABLE t (b); INSERT INTO t VALUES " + ", ".join(["(zeroblob(1000000))"] * 200) + ";"
MEDIUM = "CREATE TABLE t (b); INSERT INTO t VALUES " + ", ".join(["(zeroblob(1000000))"] * 12) + ";"
def heavy(i):
    k = i
    while running():
        medium = k % 3 == 2; k += 1
        st, j, dt = req("POST", "/api/sql", {"sql": "SELECT count(*), sum(length(b)) FROM t", "context": MEDIUM if medium else HEAVY})
        msg = (j or {}).get("error", {}).get("message", "") if st != 200 else (j or {}).get("error") or ""
        if st == 200 and j and j.get("ok"): note("heavy", "loaded")
        elif st == 400 and "memory limit reached" in msg: note("heavy", "memory limit")
        else:
            with lock: log["heavy_bad"].append((st, msg[:160]))
        time.sleep(0.5)

def idle(i):
    src = f"127.0.0.{5 + i}"
    while running():
        socks = [socket.create_connection(("127.0.0.1", PORT), source_address=(src, 0)) for _ in range(8)]
        t = time.time()
        while time.time() - t < 14 and running(): time.sleep(0.5)
        if not running(): break
        for s in socks:   # cut off by now: the end, a reset, or the 408 answer
            s.setblocking(False)
            try:
                d = s.recv(100)
                closed = d == b"" or d.startswith(b"HTTP/1.1 408")
            except BlockingIOError: closed = False
            except OSError: closed = True
            with lock: log["idle_closed" if closed else "idle_open"] += 1
            s.close()

def slow(i):
    src = f"127.0.0.{9 + i}"
    while running():
        s = socket.create_connection(("127.0.0.1", PORT), source_address=(src, 0)); s.settimeout(0.5)
        if i % 2: s.sendall(b"POST /api/sql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50000\r\n\r\n{")
        payload = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"z" * 200 if i % 2 == 0 else b" " * 1000
        t = time.time(); cut = False; ended = False
        for ch in payload:
            if not running() and time.time() - t < 8: ended = True; break   # the soak is over: not counted
            try:
                s.send(bytes([ch]))
                d = s.recv(100)
                cut = True; break       # an answer (408) or the end
            except socket.timeout: pass
            except OSError: cut = True; break
            if time.time() - t > 30: break
        if not ended:
            with lock: log["slow_cut" if cut and time.time() - t < 30 else "slow_open"] += 1
        s.close()

def misc(i):
    while running():
        if i == 0:
            st, j, dt = req("GET", "/health")
            with lock: log["health_ms"].append(dt * 1000)
            if st != 200:
                with lock: log["bad"].append(("health", st))
        else:
            for path in ["/api/schema", "/metrics", "/v1/models", "/"]:
                st, j, dt = req("GET", path)
                note("other", f"{path} {st}")
        time.sleep(0.25)

def rss():
    for l in open(f"/proc/{PID}/status"):
        if l.startswith("VmRSS:"): return int(l.split()[1]) * 1024
    return 0
samples = []
def sampler():
    while running():
        samples.append((time.time() - t_start, rss()))
        time.sleep(1)

kinds = [(questions, 10), (ordinary, 8), (heavy, 4), (idle, 4), (slow, 4), (misc, 2)]
threads = [threading.Thread(target=f, args=(i,)) for f, n in kinds for i in range(n)]
check("32 clients", len(threads) == 32)
threads.append(threading.Thread(target=sampler))
for t in threads: t.start()
for t in threads: t.join(SOAK + 90)
check("every client finished", not any(t.is_alive() for t in threads))

print("questions:", log["questions"], " heavy:", log["heavy"], " ordinary:", len(log["ordinary"]), " other:", log["other"])
print("idle closed/open:", log["idle_closed"], log["idle_open"], " slow cut/open:", log["slow_cut"], log["slow_open"])
check("no 5xx but 503 with Retry-After; every error with the JSON body", not log["bad"], log["bad"][:5])
check(f"every ordinary query succeeded ({len(log['ordinary'])})", not log["ordinary_bad"] and len(log["ordinary"]) >= 50, log["ordinary_bad"][:5])
check("questions answered", sum(v for k, v in log["questions"].items() if str(k).endswith("200")) >= 20, log["questions"])
check("heavy contexts failed alone with the memory message (medium ones loaded)", log["heavy"].get("memory limit", 0) >= 10
      and not log["heavy_bad"], (log["heavy"], log["heavy_bad"][:5]))
hm = sorted(log["health_ms"])
check(f"/health answered throughout ({len(hm)}, slowest {hm[-1] if hm else 0:.0f} ms)", len(hm) >= SOAK and hm[-1] < 1000 * SLOW, hm[-5:])
check("idle connections cut off", log["idle_closed"] >= 8 and log["idle_open"] == 0, (log["idle_closed"], log["idle_open"]))
check("slow heads and bodies cut off", log["slow_cut"] >= 4 and log["slow_open"] == 0, (log["slow_cut"], log["slow_open"]))
# memory: the highest resident size after the warm-up third against the highest before the end
warm = [r for t, r in samples if SOAK / 3 <= t <= SOAK / 3 + 10]
late = [r for t, r in samples if t >= SOAK - 15]
if warm and late:
    w, l = max(warm), max(late)
    print(f"resident memory: {w / 2**20:.0f} MiB after the warm-up, {l / 2**20:.0f} MiB at the end, peak {max(r for _, r in samples) / 2**20:.0f} MiB")
    check("resident memory flat after the warm-up (growth < 30% + 64 MiB)", l <= w * 1.3 + (64 << 20), (w, l))
else:
    check("resident memory sampled", False, samples[:3])
log_lines = [json.loads(x) for x in open(f"{W}/server.log")]
conn = [x for x in log_lines if x.get("event") == "connections"]
check("idle and slow sockets logged", sum(x["head_timeouts"] for x in conn) >= 8 and sum(x["body_timeouts"] for x in conn) >= 1, conn[-2:])
sys.exit(1 if fails else 0)
PYEOF

kill -TERM $pid
for _ in $(seq 200); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
wait $pid; rc=$?
[ $rc -eq 0 ] && ok "server exits 0 on SIGTERM after the soak" || { bad "server exit status $rc"; tail -20 "$W/server.log"; }
$PY -c "import json,sys; [json.loads(l) for l in open(sys.argv[1])]" "$W/server.log" && ok "every log line is JSON" || bad "log lines"
[ "$(sha256sum "$DB" | cut -d' ' -f1)" = "$before" ] && ok "database unchanged" || bad "database changed"
finish

#!/usr/bin/env bash
# test_synthetic.sh — scripts/make_synthetic.py, the synthetic training pairs
# of the bundled model, on two real databases of ../shared/data:
#   1. --shapes list_all: every pair is a plain list (SELECT cols FROM t, no
#      WHERE, no join) whose columns are the table's and whose query returns
#      rows when run again here with Python's sqlite3; questions are unique;
#   2. the default shapes: every query runs and returns a row, count pairs
#      count something, and the same seed gives the same bytes (the data of
#      models/make-bundled.sh is reproducible);
#   2b. --natural (stage 9): the everyday wordings and shapes appear on a
#      database with verb-named dates, NULLs and an event table, every query
#      answers, and none of them appears without --natural;
#   3. a shape that does not exist, or a weight that is not a number, is
#      refused with a message that names it;
#   4. scripts/make_variants.py (stage 8's renamed databases): each copy keeps
#      every table's rows, its foreign keys still name tables and columns that
#      exist, names are renamed, the same seed gives the same names, and
#      Spider train's gold queries on college_1 (100 of them with joins),
#      rewritten by rename_sql, return on the copy what the originals return
#      on the original; a file that is not a database is skipped with a message
#      naming it, and with nothing left the script exits non-zero.
# Env: OUT (tests/out), SHARED (shared data).
. "$(dirname "$0")/lib_test.sh" synthetic
DB1="$SHARED/data/sample-db/Chinook_Sqlite.sqlite"
DB2="$SHARED/data/spider/database/concert_singer/concert_singer.sqlite"
[ -f "$DB1" ] && [ -f "$DB2" ] && [ -f "$SHARED/data/spider/database/college_1/college_1.sqlite" ] || skip_all "no sample databases in $SHARED/data"
GEN="$PY scripts/make_synthetic.py"

# ---- 1. plain lists --------------------------------------------------------------
if $GEN --out "$W/lists.jsonl" --per-db 20 --seed 5 --shapes list_all "$DB1" "$DB2" 2> "$W/lists.log"; then
    if r=$($PY - "$W/lists.jsonl" 2>&1 <<'EOF'
import json, re, sqlite3, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) >= 20, f"only {len(rows)} pairs"
assert len({r["question"] for r in rows}) == len(rows), "a question twice"
for r in rows:
    assert r["shape"] == "list_all", r
    m = re.fullmatch(r'SELECT (.+) FROM ("[^"]+"|\w+)', r["query"])
    assert m, f"not a plain list: {r['query']}"
    db = sqlite3.connect("file:" + r["db_path"] + "?mode=ro", uri=True)
    table = m.group(2).strip('"')
    cols = {c[1].lower() for c in db.execute(f'PRAGMA table_info("{table}")')}
    for c in m.group(1).split(", "):
        assert c.strip('"').lower() in cols, f"{c} is not a column of {table}"
    assert db.execute(r["query"]).fetchone() is not None, f"no rows: {r['query']}"
print(f"{len(rows)} plain lists, each a table's columns, each returning rows")
EOF
    ); then ok "--shapes list_all: $r"; else bad "--shapes list_all: $r"; fi
else
    bad "make_synthetic.py --shapes list_all: $(tail -2 "$W/lists.log")"
fi

# ---- 2. default shapes: every query answers, and the output is reproducible -------
if $GEN --out "$W/a.jsonl" --per-db 40 --seed 1 "$DB2" 2> "$W/a.log" &&
   $GEN --out "$W/b.jsonl" --per-db 40 --seed 1 "$DB2" 2> "$W/b.log"; then
    cmp -s "$W/a.jsonl" "$W/b.jsonl" && ok "same seed, same bytes" || bad "same seed gave different pairs"
    if r=$($PY - "$W/a.jsonl" 2>&1 <<'EOF'
import json, sqlite3, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
shapes = {r["shape"] for r in rows}
assert len(rows) >= 30 and len(shapes) >= 10, (len(rows), sorted(shapes))
assert "list_all" not in shapes, "list_all made without --shapes"
for r in rows:
    db = sqlite3.connect("file:" + r["db_path"] + "?mode=ro", uri=True)
    got = db.execute(r["query"]).fetchone()
    assert got is not None, f"no rows: {r['query']}"
    if r["query"].startswith("SELECT count(*)") and " GROUP BY " not in r["query"]:
        assert got[0] > 0, f"counts nothing: {r['query']}"
print(f"{len(rows)} pairs of {len(shapes)} shapes, every query answers")
EOF
    ); then ok "default shapes: $r"; else bad "default shapes: $r"; fi
else
    bad "make_synthetic.py: $(tail -2 "$W/a.log")"
fi

# ---- 2b. --natural (stage 9): everyday wording, the same answers ------------------
# On the library database of bench/everyday (dates and years named by verbs,
# loans still out, an event table): the new shapes and wordings are there,
# every query answers, and without --natural nothing of them appears.
LIB=bench/everyday/databases/library/library.sqlite
if $GEN --natural --out "$W/n.jsonl" --per-db 300 --seed 9 "$LIB" 2> "$W/n.log" &&
   $GEN --out "$W/p.jsonl" --per-db 300 --seed 9 "$LIB" 2> "$W/p.log"; then
    if r=$($PY - "$W/n.jsonl" "$W/p.jsonl" 2>&1 <<'EOF2'
import json, re, sqlite3, sys
nat = [json.loads(l) for l in open(sys.argv[1])]
plain = [json.loads(l) for l in open(sys.argv[2])]
for r in nat:
    db = sqlite3.connect("file:" + r["db_path"] + "?mode=ro", uri=True)
    assert db.execute(r["query"]).fetchone() is not None, f"no rows: {r['query']}"
def has(rows, q_re, sql_re):
    return [r for r in rows if re.search(q_re, r["question"]) and re.search(sql_re, r["query"])]
checks = {
    "IS NULL": (r"not (been )?\w+ yet|no |without|missing|not known", r" IS NULL"),
    "two dates compared": (r"(after|before|later|earlier).* their ", r"\b\w+_date [<>] \w+_date\b"),
    "a year named by its verb": (r"\b(published|born|opened|joined) (before|after|in)\b", r"_year [<>]=? \d{4}"),
    "a count noun": (r"\b(more than|over|fewer than|less than|under|at least|at most|the most|the fewest) (\d+ )?pages\b", r"\bpages\b"),
    "an event verb": (r"never been borrowed|never borrowed|borrowed the most", r"\bloans\b"),
}
for name, (q, s) in checks.items():
    assert has(nat, q, s), f"--natural: no {name}"
    assert not has(plain, q, s) or name in ("a count noun",), f"without --natural: {name} appeared"
assert not [r for r in plain if r["shape"] in ("null", "col_compare")], "natural shapes without --natural"
print(f"{len(nat)} pairs, every query answers; " + ", ".join(f"{n} {len(has(nat, *c))}" for n, c in checks.items()))
EOF2
    ); then ok "--natural: $r"; else bad "--natural: $r"; fi
else
    bad "make_synthetic.py --natural: $(tail -2 "$W/n.log")"
fi

# ---- 3. bad --shapes ----------------------------------------------------------------
for arg in "list_everything:2" "list_all:x"; do
    if msg=$($GEN --out "$W/x.jsonl" --shapes "$arg" "$DB2" 2>&1); then
        bad "--shapes $arg accepted"
    elif echo "$msg" | grep -q -- "--shapes: .*${arg%%:*}"; then
        ok "--shapes $arg refused: $(echo "$msg" | tail -1)"
    else
        bad "--shapes $arg: message: $(echo "$msg" | tail -1)"
    fi
done
# ---- 4. renamed copies ------------------------------------------------------------------
DB3="$SHARED/data/spider/database/college_1/college_1.sqlite"
if $PY scripts/make_variants.py --out "$W/v1" --seed 8 "$DB1" "$DB3" 2> "$W/v1.log" &&
   $PY scripts/make_variants.py --out "$W/v2" --seed 8 "$DB1" "$DB3" 2> "$W/v2.log"; then
    cmp -s "$W/v1/renames.json" "$W/v2/renames.json" && ok "variants: same seed, same names" ||
        bad "variants: same seed gave different names"
    if r=$($PY - "$W/v1" "$DB1" "$DB3" "$SHARED/data/spider/train_spider.question_query_dbid.json" 2>&1 <<'EOF'
import json, os, sqlite3, sys
sys.path.insert(0, "scripts")
import make_variants as mv
vdir, dbs, train = sys.argv[1], sys.argv[2:4], sys.argv[4]
renames = json.load(open(os.path.join(vdir, "renames.json")))
renamed = 0
for src in dbs:
    db_id = os.path.basename(src).split(".")[0]
    a = sqlite3.connect("file:" + src + "?mode=ro", uri=True)
    b = sqlite3.connect(os.path.join(vdir, db_id + ".v8.sqlite"))
    ta = sorted(r[0] for r in a.execute("SELECT name FROM sqlite_master WHERE type='table'"))
    tb = {r[0].lower(): r[0] for r in b.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    m = renames[db_id]
    renamed += len(m)
    for t in ta:
        nt = m.get(t.lower(), t)
        assert nt.lower() in tb, f"{db_id}: table {t} -> {nt} missing"
        na = a.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
        nb = b.execute(f'SELECT count(*) FROM "{nt}"').fetchone()[0]
        assert na == nb, f"{db_id}.{t}: {na} rows, copy {nb}"
    for t in tb.values():
        for fk in b.execute(f'PRAGMA foreign_key_list("{t}")'):
            assert fk[2].lower() in tb, f"{db_id}.{t}: reference to missing table {fk[2]}"
            if fk[4]:
                cols = {c[1].lower() for c in b.execute(f'PRAGMA table_info("{fk[2]}")')}
                assert fk[4].lower() in cols, f"{db_id}.{t}: reference to missing column {fk[2]}.{fk[4]}"
assert renamed >= 10, f"only {renamed} names renamed"
src = dbs[1]
qs = [e["query"] for e in json.load(open(train)) if e["db_id"] == "college_1"]
a = sqlite3.connect("file:" + src + "?mode=ro", uri=True)
b = sqlite3.connect(os.path.join(vdir, "college_1.v8.sqlite"))
changed = 0
for q in qs:
    nq = mv.rename_sql(q, renames["college_1"])
    changed += nq != q
    want = sorted(map(repr, a.execute(q).fetchall()))
    got = sorted(map(repr, b.execute(nq).fetchall()))
    assert want == got, f"{q} -> {nq}: results differ"
assert changed >= len(qs) // 2, f"only {changed} of {len(qs)} queries renamed"
print(f"{renamed} names renamed; {len(qs)} gold queries ({changed} rewritten) give the same rows")
EOF
    ); then ok "variants: $r"; else bad "variants: $r"; fi
else
    bad "make_variants.py: $(tail -2 "$W/v1.log")"
fi
echo "not a database" > "$W/junk.sqlite"
if msg=$($PY scripts/make_variants.py --out "$W/v3" "$W/junk.sqlite" 2>&1); then
    bad "make_variants.py on a file that is not a database: exit 0 ($(echo "$msg" | tail -1))"
elif echo "$msg" | grep -q "junk.sqlite: skipped" && echo "$msg" | grep -q "no database"; then
    ok "make_variants.py refuses a file that is not a database: $(echo "$msg" | head -1)"
else
    bad "make_variants.py on a file that is not a database: $msg"
fi
finish

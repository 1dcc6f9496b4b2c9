#!/usr/bin/env bash
# test_cli_ask.sh — `sqlassist ask` as a quiet, scriptable command, with the
# bundled model on examples/shop.sqlite: standard output carries only the
# answer (SQL and rows; JSON with --json; CSV with --csv), the schema note
# and timings go to stderr and only with -v; a failure is a message on
# stderr and exit 1 (with --json: a top-level "error"); the rows appear once
# in the JSON; an empty question is a usage error (exit 2); `-` reads the
# question from standard input; piped output never goes through $PAGER.
. "$(dirname "$0")/lib_test.sh" cli-ask
DB=examples/shop.sqlite
Q="What is the highest unit price of the products?"

# The checks do not depend on which SQL the model writes: the answer's rows are
# compared with what `sqlassist sql` (and Python's sqlite3) give for that SQL.
# stdout: the answer only; stderr: nothing without -v
PAGER=false "$SQLASSIST" ask --db $DB "$Q" > "$W/o1" 2> "$W/e1"; rc=$?
SQL1=$(sed -n '1s/^SQL: //p' "$W/o1")
"$SQLASSIST" sql --db $DB "$SQL1" > "$W/o1.sql" 2>&1
[ $rc -eq 0 ] && [ -n "$SQL1" ] && [ "$(tail -n +2 "$W/o1")" = "$(cat "$W/o1.sql")" ] \
    && ok "stdout holds only the SQL and rows (those of 'sqlassist sql' for it)" || { bad "stdout holds only the SQL and rows (rc $rc)"; cat "$W/o1" "$W/o1.sql"; }
[ ! -s "$W/e1" ] && ok "stderr is quiet without -v" || { bad "stderr is quiet without -v"; cat "$W/e1"; }

# -v: the note and the timings, on stderr
"$SQLASSIST" ask -v --db $DB "$Q" > "$W/o2" 2> "$W/e2"
cmp -s "$W/o1" "$W/o2" && grep -Eq "^note: .*left out [0-9]+ tables?" "$W/e2" && grep -q "^tokens: .* total " "$W/e2" \
    && ok "-v: note and timings on stderr, same stdout" || { bad "-v: note and timings on stderr"; cat "$W/e2"; }

# a question from standard input
echo "$Q" | "$SQLASSIST" ask --db $DB - > "$W/o3" 2>&1
cmp -s "$W/o1" "$W/o3" && ok "'-' reads the question from standard input" || { bad "'-' reads the question from standard input"; cat "$W/o3"; }

# usage errors: exit 2
for args in '""' '"   "' '--json --csv "x"'; do
    eval "\"$SQLASSIST\" ask --db $DB $args" > "$W/o4" 2> "$W/e4"; rc=$?
    [ $rc -eq 2 ] && [ ! -s "$W/o4" ] && grep -q "usage:" "$W/e4" && ok "ask $args: usage error, exit 2" || { bad "ask $args: exit $rc"; cat "$W/e4"; }
done
printf '\n' | "$SQLASSIST" ask --db $DB - > "$W/o5" 2> "$W/e5"; rc=$?
[ $rc -eq 2 ] && grep -q "the question is empty" "$W/e5" && ok "an empty question on standard input: exit 2" || bad "empty stdin question: exit $rc"

# --csv: the header and every row of the SQL the answer ran (taken from --json).
# Many rows whatever the model: the template starts the reply with
# "SELECT email FROM customers" and one token may follow, which the grammar
# lets only end the statement.
L="List the emails of all customers."
printf '%s\n' '{{schema}}' 'Question: {{question}}' 'SELECT email FROM customers' > "$W/tpl-many.txt"
MANY=(--template "$W/tpl-many.txt" -n 1 --max-attempts 1)
"$SQLASSIST" ask --db $DB "${MANY[@]}" --csv "$L" > "$W/p.csv" 2> "$W/e6"; rc=$?
"$SQLASSIST" ask --db $DB "${MANY[@]}" --json "$L" > "$W/p.json" 2>/dev/null
$PY - "$W/p.csv" "$W/p.json" <<'PYEOF' && [ $rc -eq 0 ] && ok "--csv: a header and every row" || { bad "--csv (rc $rc)"; head -3 "$W/p.csv"; }
import csv, json, sqlite3, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
cur = sqlite3.connect("examples/shop.sqlite").execute(json.load(open(sys.argv[2]))["sql"])
want = [["" if v is None else str(v) for v in r] for r in cur]
assert rows[0] == [d[0] for d in cur.description], rows[0]
assert len(want) > 40 and rows[1:] == want, (len(rows), len(want))
PYEOF

# value mending: whatever the model, the template has the reply compare city with 'france'; only
# customers.country holds France (as 'France'), so the query run is on that column, as stored
printf '%s\n' '{{schema}}' 'Question: {{question}}' "SELECT count(*) FROM customers WHERE city = 'france'" > "$W/tpl-val.txt"
"$SQLASSIST" ask --db $DB --template "$W/tpl-val.txt" -n 1 --max-attempts 1 --json "How many customers live in France?" \
    > "$W/val.json" 2>/dev/null
$PY - "$W/val.json" <<'PYEOF' && ok "value mending: city = 'france' ran as country = 'France'" || { bad "value mending"; head -c 600 "$W/val.json"; }
import json, sqlite3, sys
a = json.load(open(sys.argv[1]))
at = a["attempts"][0]
assert "\"country\" = 'France'" in a["sql"] and at.get("values_mended") == 1, (a["sql"], at)
want = sqlite3.connect("examples/shop.sqlite").execute("SELECT count(*) FROM customers WHERE country = 'France'").fetchone()[0]
assert want > 0 and a["rows"] == [[want]], (a["rows"], want)
PYEOF

# a result taller than any terminal, piped: printed, never through $PAGER (false would print nothing)
PAGER=false "$SQLASSIST" ask --db $DB "${MANY[@]}" "$L" > "$W/o8" 2> "$W/e8"; rc=$?
n8=$(sed -n 's/^(\([0-9]*\) rows)$/\1/p' "$W/o8")
[ $rc -eq 0 ] && [ "${n8:-0}" -gt 40 ] && [ "$(wc -l < "$W/o8")" -eq $((n8 + 4)) ] \
    && ok "piped output never goes through \$PAGER" || { bad "piped output never goes through \$PAGER (rc $rc)"; tail -3 "$W/o8"; }

# --json: the answer, "error" null, the rows once
"$SQLASSIST" ask --db $DB --json "$Q" > "$W/a.json"; rc=$?
$PY - "$W/a.json" <<'PYEOF' && [ $rc -eq 0 ] && ok "--json: error null, columns and rows once" || bad "--json answer (rc $rc)"
import json, sqlite3, sys
a = json.load(open(sys.argv[1]))
assert a["ok"] is True and a["error"] is None, a
cur = sqlite3.connect("examples/shop.sqlite").execute(a["sql"])
rows = [list(r) for r in cur]
assert a["columns"] == [d[0] for d in cur.description] and a["rows"] == rows and len(rows) == 1, a
assert "columns" not in a["result"] and "rows" not in a["result"], a["result"]
assert a["result"]["total_rows"] == 1 and a["row_count"] == 1
PYEOF

# a failure: exit 1, stderr says so and shows the last attempt; --json has "error"
# (two tokens per attempt and no grammar: a cut-off query, which SQLite refuses)
F="How many customers are from Germany?"
"$SQLASSIST" ask --db $DB --grammar off --candidates 1 -n 2 "$F" > "$W/o7" 2> "$W/e7"; rc=$?
[ $rc -eq 1 ] && [ ! -s "$W/o7" ] && grep -q "no attempt produced a query that runs (3 attempts)" "$W/e7" && grep -q "failed with: " "$W/e7" \
    && ok "failure: nothing on stdout, the reason on stderr, exit 1" || { bad "failure (rc $rc)"; cat "$W/o7" "$W/e7"; }
"$SQLASSIST" ask --db $DB --grammar off --candidates 1 -n 2 --json "$F" > "$W/f.json"; rc=$?
$PY - "$W/f.json" <<'PYEOF' && [ $rc -eq 1 ] && ok "--json failure: top-level error, exit 1" || bad "--json failure (rc $rc)"
import json, sys
a = json.load(open(sys.argv[1]))
assert a["ok"] is False and a["error"].startswith("no attempt produced a query that runs"), a.get("error")
assert a["columns"] == [] and a["rows"] == [] and len(a["attempts"]) == 3
PYEOF
finish

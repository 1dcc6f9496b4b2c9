#!/usr/bin/env bash
# test_ask_interactive.sh — `sqlassist ask` with no question on a terminal: a
# real pseudo-terminal (tmux) runs a session with the bundled model on
# examples/shop.sqlite: the banner (tables, example questions made from the
# schema), the `ask>` prompt, `help`, an answer with no note or timings (only
# -v shows them), a follow-up that keeps the question's meaning, `.sql`, a
# result taller than the terminal through $PAGER, line-editing history (Up
# recalls the last line), `exit`; and end of input (Ctrl+D) ends it too.
# The checks hold for any model: an answer's rows are compared with what
# `sqlassist sql` prints for the SQL it shows.
. "$(dirname "$0")/lib_test.sh" interactive
command -v tmux >/dev/null || skip_all "tmux is not installed"
S="sqlassist-test-$$"
cleanup() { tmux kill-session -t "$S" 2>/dev/null; }
trap cleanup EXIT
pane() { tmux capture-pane -p -t "$S" -S -300 > "$W/pane.txt"; }
wait_for() {   # wait_for PATTERN [COUNT]: until the pane shows it COUNT times (20 s)
    for _ in $(seq 200); do
        pane
        [ "$(grep -c -- "$1" "$W/pane.txt")" -ge "${2:-1}" ] && return 0
        sleep 0.1
    done
    echo "timed out waiting for '$1'; screen:"; cat "$W/pane.txt"; return 1
}
# the pager records what it was given (and shows nothing)
tmux new-session -d -s "$S" -x 200 -y 40 "PAGER='cat > $W/paged.txt' $SQLASSIST ask --db examples/shop.sqlite; echo EXITED-\$?; sleep 30"
wait_for "ask>" || die "timed out waiting for ask>"
grep -q "questions about shop.sqlite, 7 tables: categories, suppliers, products, customers, employees, orders, order_items" "$W/pane.txt" \
    && ok "banner names the tables" || bad "banner names the tables"
grep -q "^  What is the highest unit price of the products?" "$W/pane.txt" && ok "banner shows example questions" || bad "banner shows example questions"

tmux send-keys -t "$S" "help" Enter
wait_for "\.sql SELECT" && ok "help lists the commands" || bad "help lists the commands"

tmux send-keys -t "$S" "What is the highest unit price of the products?" Enter
wait_for "^SQL: SELECT" || die "timed out waiting for the answer's SQL"
wait_for "ask>" 3 || die "timed out waiting for ask>"
sql=$(grep -m1 "^SQL: SELECT" "$W/pane.txt" | sed 's/^SQL: //')
"$SQLASSIST" sql --db examples/shop.sqlite "$sql" > "$W/answer.txt" 2>&1
grep -Fxq -f "$W/answer.txt" "$W/pane.txt" && [ "$(grep -Fx -f "$W/answer.txt" "$W/pane.txt" | wc -l)" -ge "$(wc -l < "$W/answer.txt")" ] \
    && ok "answered: the rows of the SQL it shows" || { bad "answered"; cat "$W/answer.txt"; }
grep -q "^note:\|^tokens:" "$W/pane.txt" && bad "no note or timings without -v" || ok "no note or timings without -v"

# a follow-up that names no table refines the last question
tmux send-keys -t "$S" "only those with more than 10 units in stock" Enter
wait_for "ask>" 4 || die "timed out waiting for ask>"
grep -A1 "asked as: What is the highest unit price of the products, only those with more than 10 units in stock" "$W/pane.txt" | grep -q "^SQL: SELECT" \
    && ok "a follow-up keeps the question's meaning" || bad "a follow-up keeps the question's meaning"

tmux send-keys -t "$S" ".sql SELECT COUNT(*) AS n FROM customers" Enter
wait_for "^ *650$" && ok ".sql runs SQL directly" || bad ".sql runs SQL directly"

# 137 rows: taller than the 40-line terminal, so through $PAGER
tmux send-keys -t "$S" ".sql SELECT name FROM products" Enter
for _ in $(seq 100); do [ -s "$W/paged.txt" ] && break; sleep 0.1; done
wait_for "ask>" 6 || die "timed out waiting for ask>"
grep -q "^Organic Espresso Beans" "$W/paged.txt" && grep -q "(137 rows)" "$W/paged.txt" \
    && ! grep -q "137 rows" "$W/pane.txt" && ok "a tall result goes through \$PAGER" || { bad "a tall result goes through \$PAGER"; cat "$W/paged.txt" | head; }

# history: Up recalls the previous line into the line editor
tmux send-keys -t "$S" Up
sleep 0.5
pane
grep -v "^\s*$" "$W/pane.txt" | tail -1 | grep -q "ask> .sql SELECT name FROM products" && ok "Up recalls the last line" || { bad "Up recalls the last line"; tail -3 "$W/pane.txt"; }
tmux send-keys -t "$S" C-u "exit" Enter
wait_for "EXITED-0" && ok "exit ends the session (status 0)" || bad "exit ends the session"
tmux kill-session -t "$S"

# end of input ends it too
tmux new-session -d -s "$S" -x 200 -y 40 "$SQLASSIST ask --db examples/shop.sqlite; echo EXITED-\$?; sleep 30"
wait_for "ask>" || die "timed out waiting for ask>"
tmux send-keys -t "$S" C-d
wait_for "EXITED-0" && ok "Ctrl+D ends the session (status 0)" || bad "Ctrl+D ends the session"
finish

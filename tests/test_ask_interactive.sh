#!/usr/bin/env bash
# test_ask_interactive.sh — `sqlassist ask` with no question on a terminal: a
# real pseudo-terminal (tmux) types two questions; the session shows a prompt,
# answers each, keeps line-editing history (Up recalls the last question), and
# exits cleanly on end of input.
set -u
cd "$(dirname "$0")/.."
SQLASSIST="${SQLASSIST:-./sqlassist}"
OUT="${OUT:-tests/out}"
MODEL="$OUT/models/m64/m64-q8_0.gguf"
command -v tmux >/dev/null || { echo "tmux is not installed"; exit 77; }
S="sqlassist-test-$$"
W="$OUT/interactive"; rm -rf "$W"; mkdir -p "$W"
cleanup() { tmux kill-session -t "$S" 2>/dev/null; }
trap cleanup EXIT
tmux new-session -d -s "$S" -x 200 -y 50 "$SQLASSIST ask --model $MODEL --db examples/shop.sqlite -n 8 --max-attempts 1; echo EXITED-\$?; sleep 30"
wait_for() {   # wait_for PATTERN: until the pane shows it (20 s)
    for _ in $(seq 200); do
        tmux capture-pane -p -t "$S" -S -100 > "$W/pane.txt"
        grep -q -- "$1" "$W/pane.txt" && return 0
        sleep 0.1
    done
    echo "timed out waiting for '$1'; screen:"; cat "$W/pane.txt"; return 1
}
wait_for "sql>" || exit 1
tmux send-keys -t "$S" "how many customers are there" Enter
wait_for "no attempt produced\|^SQL:" || exit 1
wait_for "tokens: " || exit 1
# history: Up recalls the previous question into the line editor
tmux send-keys -t "$S" Up
sleep 0.5
tmux capture-pane -p -t "$S" > "$W/pane.txt"
grep -v "^\s*$" "$W/pane.txt" | tail -1 | grep -q "sql> how many customers are there" || { echo "Up did not recall the last question"; cat "$W/pane.txt"; exit 1; }
tmux send-keys -t "$S" " in 2023" Enter
for _ in $(seq 200); do
    tmux capture-pane -p -t "$S" -S -100 > "$W/pane.txt"
    [ "$(grep -c 'tokens: ' "$W/pane.txt")" -ge 2 ] && break
    sleep 0.1
done
[ "$(grep -c 'tokens: ' "$W/pane.txt")" -ge 2 ] || { echo "second question not answered"; cat "$W/pane.txt"; exit 1; }
tmux send-keys -t "$S" C-d
wait_for "EXITED-0" || exit 1
echo "interactive session: two questions answered, history recall works, clean exit"

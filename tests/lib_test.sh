# lib_test.sh — the common start of the shell tests, sourced as
#     . "$(dirname "$0")/lib_test.sh" NAME
# Goes to the repository root; sets SQLASSIST (the binary), OUT (fixtures,
# tests/out), SHARED (shared data), PY (Debian's python3) and the work
# directory W="$OUT/NAME", emptied; defines ok/bad, which print PASS/FAIL
# lines and count them in npass/fail.
set -u
cd "$(dirname "$0")/.."
SQLASSIST="${SQLASSIST:-./sqlassist}"
OUT="${OUT:-tests/out}"
SHARED="${SHARED:-../shared}"
PY=/usr/bin/python3
W="$OUT/$1"
rm -rf "$W"; mkdir -p "$W"
fail=0; npass=0
ok() { echo "PASS $1"; npass=$((npass + 1)); }
bad() { echo "FAIL $1"; fail=1; }

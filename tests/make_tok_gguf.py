#!/usr/bin/env python3
"""make_tok_gguf.py — writes a tokenizer-only GGUF v3 file (no tensors) from a
Hugging Face tokenizer.json, with the tokenizer.ggml.* keys laid out as
llama.cpp writes them for Qwen2.5. The tests load it to check that the GGUF
path of the tokenizer gives the same ids as the tokenizer.json path.

    python3 tests/make_tok_gguf.py --tokenizer tokenizer.json --out tok.gguf

Only the Qwen2.5 added tokens (ids <= 151664) are kept, and the vocabulary is
padded to Qwen2.5's 151936 entries with "[PAD{i}]" tokens of type UNUSED.
Standard library only.
"""
import argparse
import json
import os
import struct
import sys

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
ALIGNMENT = 32

# metadata value types (GGUF specification)
T_UINT32, T_INT32, T_BOOL, T_STRING, T_ARRAY = 4, 5, 7, 8, 9

# token types (llama.cpp)
TOK_NORMAL, TOK_CONTROL, TOK_USER_DEFINED, TOK_UNUSED = 1, 3, 4, 5

N_VOCAB = 151936              # Qwen2.5 embedding rows
LAST_ADDED_ID = 151664        # Qwen2.5's added tokens end here; Qwen3 has 4 more
EOS_ID = 151645               # <|im_end|>
ENDOFTEXT_ID = 151643         # <|endoftext|>: bos and padding


def enc_str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def kv_str(key, value):
    return enc_str(key) + struct.pack("<I", T_STRING) + enc_str(value)


def kv_u32(key, value):
    return enc_str(key) + struct.pack("<II", T_UINT32, value)


def kv_bool(key, value):
    return enc_str(key) + struct.pack("<IB", T_BOOL, 1 if value else 0)


def kv_str_array(key, items):
    return (enc_str(key) + struct.pack("<IIQ", T_ARRAY, T_STRING, len(items)) +
            b"".join(enc_str(s) for s in items))


def kv_i32_array(key, items):
    return (enc_str(key) + struct.pack("<IIQ", T_ARRAY, T_INT32, len(items)) +
            struct.pack(f"<{len(items)}i", *items))


def read_tokenizer(path):
    """Returns (tokens, token_types, merges) for ids 0..N_VOCAB-1."""
    with open(path, encoding="utf-8") as f:
        tj = json.load(f)
    model = tj["model"]
    if model.get("type", "BPE") != "BPE":
        sys.exit(f"{path}: not a BPE tokenizer")
    by_id = {}
    for text, i in model["vocab"].items():
        by_id[i] = (text, TOK_NORMAL)
    for a in tj.get("added_tokens", []):
        if a["id"] > LAST_ADDED_ID:
            continue
        by_id[a["id"]] = (a["content"], TOK_CONTROL if a.get("special") else TOK_USER_DEFINED)
    if max(by_id) >= N_VOCAB:
        sys.exit(f"{path}: token id {max(by_id)} does not fit in {N_VOCAB}")
    tokens, types = [], []
    for i in range(N_VOCAB):
        text, ty = by_id.get(i, (f"[PAD{i}]", TOK_UNUSED))
        tokens.append(text)
        types.append(ty)
    # merges are "a b" strings in older files and [a, b] pairs in newer ones
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    return tokens, types, merges


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokenizer", required=True, help="Hugging Face tokenizer.json")
    ap.add_argument("--out", required=True, help="GGUF file to write")
    a = ap.parse_args()

    tokens, types, merges = read_tokenizer(a.tokenizer)
    kvs = [
        kv_str("general.architecture", "qwen2"),
        kv_str("general.name", "Qwen2.5 tokenizer"),
        kv_str("tokenizer.ggml.model", "gpt2"),
        kv_str("tokenizer.ggml.pre", "qwen2"),
        kv_str_array("tokenizer.ggml.tokens", tokens),
        kv_i32_array("tokenizer.ggml.token_type", types),
        kv_str_array("tokenizer.ggml.merges", merges),
        kv_u32("tokenizer.ggml.eos_token_id", EOS_ID),
        kv_u32("tokenizer.ggml.padding_token_id", ENDOFTEXT_ID),
        kv_u32("tokenizer.ggml.bos_token_id", ENDOFTEXT_ID),
        kv_bool("tokenizer.ggml.add_bos_token", False),
    ]
    head = GGUF_MAGIC + struct.pack("<IQQ", GGUF_VERSION, 0, len(kvs)) + b"".join(kvs)
    head += b"\0" * (-len(head) % ALIGNMENT)   # the (empty) data section starts aligned

    tmp = a.out + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(tmp, "wb") as f:
        f.write(head)
    os.replace(tmp, a.out)     # never leave a half-written file under the real name
    print(f"wrote {a.out}: {len(tokens)} tokens, {len(merges)} merges, {len(head)} bytes")


if __name__ == "__main__":
    main()

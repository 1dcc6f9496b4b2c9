#!/usr/bin/python3
"""gguf_to_hf.py — writes a Hugging Face Qwen2 model directory (config.json,
model.safetensors, tokenizer.json) holding the same weights as a Qwen2 GGUF
made by ../shared/anchors/make_random_qwen2_gguf.py (or tests/gen_models.py).

  /usr/bin/python3 bench/gguf_to_hf.py --gguf M.gguf --tokenizer tokenizer.json --out DIR [--dtype bf16]

Used by bench/load_memory.sh to measure loading the same model from both
layouts. Supports GGUF tensors in f32, f16 and bf16; every tensor (matrices,
norms, biases) is written in --dtype (bf16 by default, as Hugging Face
publishes Qwen2.5), converted with round-to-nearest-even where needed.
Tensor data streams through in chunks, so memory stays small for a
multi-GB model. Tied models get no lm_head.weight (tie_word_embeddings).

Needs numpy.
"""
import argparse
import json
import mmap
import os
import shutil
import struct
import sys

import numpy as np

T_STRING, T_ARRAY = 8, 9
FIXED = {0: 1, 1: 1, 7: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 10: 8, 11: 8, 12: 8}
SCALAR_FMT = {0: "<B", 1: "<b", 7: "<B", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 10: "<Q", 11: "<q", 12: "<d"}
GGML_F32, GGML_F16, GGML_BF16 = 0, 1, 30
ST_DTYPE = {"f32": "F32", "f16": "F16", "bf16": "BF16"}


def read_gguf(path):
    """Returns (metadata {key: scalar or str}, tensors [(name, ne, type, offset)], data_offset, mmap)."""
    f = open(path, "rb")
    mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    p = 0

    def take(n):
        nonlocal p
        b = mm[p:p + n]
        p += n
        return b

    u32 = lambda: struct.unpack("<I", take(4))[0]     # noqa: E731
    u64 = lambda: struct.unpack("<Q", take(8))[0]     # noqa: E731
    if take(4) != b"GGUF":
        sys.exit(f"{path}: not a GGUF file")
    version = u32()
    if version not in (2, 3):
        sys.exit(f"{path}: GGUF version {version}")
    n_tensors, n_kv = u64(), u64()
    meta = {}
    for _ in range(n_kv):
        key = take(u64()).decode()
        t = u32()
        if t == T_STRING:
            meta[key] = take(u64()).decode("utf-8", "replace")
        elif t == T_ARRAY:
            at, n = u32(), u64()
            if at == T_STRING:
                for _ in range(n):
                    take(u64())
            else:
                take(FIXED[at] * n)
            meta[key] = None                  # arrays (tokenizer) are not needed here
        else:
            meta[key] = struct.unpack(SCALAR_FMT[t], take(FIXED[t]))[0]
    tensors = []
    for _ in range(n_tensors):
        name = take(u64()).decode()
        nd = u32()
        ne = [u64() for _ in range(nd)]
        t = u32()
        off = u64()
        tensors.append((name, ne, t, off))
    align = meta.get("general.alignment", 32)
    data_offset = -(-p // align) * align
    return meta, tensors, data_offset, mm


def hf_name(g):
    fixed = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
             "output.weight": "lm_head.weight"}
    if g in fixed:
        return fixed[g]
    parts = g.split(".")
    if parts[0] != "blk":
        sys.exit(f"unexpected tensor {g}")
    sub = {"attn_norm.weight": "input_layernorm.weight", "attn_q.weight": "self_attn.q_proj.weight",
           "attn_q.bias": "self_attn.q_proj.bias", "attn_k.weight": "self_attn.k_proj.weight",
           "attn_k.bias": "self_attn.k_proj.bias", "attn_v.weight": "self_attn.v_proj.weight",
           "attn_v.bias": "self_attn.v_proj.bias", "attn_output.weight": "self_attn.o_proj.weight",
           "ffn_norm.weight": "post_attention_layernorm.weight", "ffn_gate.weight": "mlp.gate_proj.weight",
           "ffn_up.weight": "mlp.up_proj.weight", "ffn_down.weight": "mlp.down_proj.weight"}
    rest = ".".join(parts[2:])
    if rest not in sub:
        sys.exit(f"unexpected tensor {g}")
    return f"model.layers.{parts[1]}.{sub[rest]}"


def to_f32(raw, t):
    if t == GGML_F32:
        return np.frombuffer(raw, dtype="<f4")
    if t == GGML_F16:
        return np.frombuffer(raw, dtype="<f2").astype(np.float32)
    if t == GGML_BF16:
        return (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << np.uint32(16)).view(np.float32)
    sys.exit(f"unsupported GGUF tensor type {t} (f32, f16, bf16 are)")


def encode(x32, dt):
    if dt == "f32":
        return x32.astype("<f4").tobytes()
    if dt == "f16":
        return x32.astype("<f2").tobytes()
    u = np.ascontiguousarray(x32, dtype=np.float32).view(np.uint32)
    return ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)).astype("<u2").tobytes()


SRC_TYPE_NAME = {GGML_F32: "f32", GGML_F16: "f16", GGML_BF16: "bf16"}
ELEM = {GGML_F32: 4, GGML_F16: 2, GGML_BF16: 2}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--tokenizer", required=True, help="tokenizer.json to copy into the directory")
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="bf16")
    a = ap.parse_args()

    meta, tensors, data_offset, mm = read_gguf(a.gguf)
    if meta.get("general.architecture") != "qwen2":
        sys.exit(f"{a.gguf}: not a qwen2 GGUF")
    names = {t[0] for t in tensors}
    emb = next(t for t in tensors if t[0] == "token_embd.weight")
    tied = "output.weight" not in names
    cfg = {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "hidden_size": meta["qwen2.embedding_length"],
        "intermediate_size": meta["qwen2.feed_forward_length"],
        "num_hidden_layers": meta["qwen2.block_count"],
        "num_attention_heads": meta["qwen2.attention.head_count"],
        "num_key_value_heads": meta.get("qwen2.attention.head_count_kv", meta["qwen2.attention.head_count"]),
        "max_position_embeddings": meta.get("qwen2.context_length", 32768),
        "rope_theta": float(meta.get("qwen2.rope.freq_base", 10000.0)),
        "rms_norm_eps": float(meta.get("qwen2.attention.layer_norm_rms_epsilon", 1e-6)),
        "tie_word_embeddings": tied,
        "vocab_size": emb[1][1],
        "hidden_act": "silu",
        "bos_token_id": 151643,
        "eos_token_id": 151645,
        "torch_dtype": {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[a.dtype],
    }
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    shutil.copyfile(a.tokenizer, os.path.join(a.out, "tokenizer.json"))

    out_elem = {"f32": 4, "f16": 2, "bf16": 2}[a.dtype]
    header, off, plan = {"__metadata__": {"format": "pt"}}, 0, []
    for name, ne, t, toff in tensors:
        if t not in ELEM:
            sys.exit(f"{a.gguf}: tensor {name}: unsupported type {t}")
        shape = list(reversed(ne))
        n = int(np.prod(shape))
        header[hf_name(name)] = {"dtype": ST_DTYPE[a.dtype], "shape": shape, "data_offsets": [off, off + n * out_elem]}
        plan.append((name, shape, t, data_offset + toff, n))
        off += n * out_elem
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    path = os.path.join(a.out, "model.safetensors")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for name, shape, t, src, n in plan:
            es = ELEM[t]
            step = 1 << 24                        # elements per chunk
            for i in range(0, n, step):
                k = min(step, n - i)
                raw = mm[src + i * es: src + (i + k) * es]
                if SRC_TYPE_NAME[t] == a.dtype:
                    f.write(raw)                  # same type: bytes as they are
                else:
                    f.write(encode(to_f32(raw, t), a.dtype))
        total = f.tell()
    print(f"wrote {a.out}: {len(plan)} tensors ({a.dtype}), {total / 2**30:.3f} GiB, tied={tied}")


if __name__ == "__main__":
    main()

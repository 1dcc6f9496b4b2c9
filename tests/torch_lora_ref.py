#!/usr/bin/python3
"""torch_lora_ref.py — the PyTorch oracle for LoRA adapters.

  torch_lora_ref.py ref --model M --adapter PATH [--scale S] --tokens "ID ..." --out FILE
  torch_lora_ref.py cmp A.bin B.bin --tol X       (max|A-B| / max|B| <= X, else exit 1)

`ref` reads the base model with tests/torch_ref.py, reads the adapter on its
own (PEFT directory or GGUF file; this script's reader, not sqlassist's),
MERGES it explicitly — W' = W + scale·s·B·A in float64, rounded to float32,
with s = alpha/r (alpha/sqrt(r) with use_rslora; GGUF: alpha/r, or 1 when
alpha is 0 or absent, as llama.cpp does) — and writes the logits of every
position of the tokens (float32 LE [n][vocab]) from torch_ref's Qwen2.

So the test compares sqlassist's unmerged y = W·x + s·B·(A·x) with an
independent merged model.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_ref  # noqa: E402  (the other engineer's Qwen2 oracle; reused, not changed)

PEFT_PREFIX = "base_model.model."
GGUF_PROJ = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
             "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
             "ffn_down": "mlp.down_proj"}


def read_peft(d):
    """{hf weight name: (A, B, s)} from a PEFT directory."""
    cfg = json.load(open(os.path.join(d, "adapter_config.json")))
    t = {}
    torch_ref.read_safetensors(os.path.join(d, "adapter_model.safetensors"), t)
    alpha, rslora = float(cfg["lora_alpha"]), bool(cfg.get("use_rslora") or False)
    out = {}
    for name, x in t.items():
        for tag in (".lora_A.weight", ".lora_A.default.weight"):
            if name.endswith(tag):
                base = name[len(PEFT_PREFIX):-len(tag)] + ".weight"
                B = t[name.replace("lora_A", "lora_B")]
                r = x.shape[0]
                s = alpha / np.sqrt(r) if rslora else alpha / r
                out[base] = (x, B, s)
    return out


def read_gguf_adapter(path):
    """{hf weight name: (A, B, s)} from a llama.cpp LoRA GGUF (f32/f16/bf16 tensors)."""
    buf = np.memmap(path, dtype=np.uint8, mode="r")
    mv = memoryview(buf)
    pos = 0

    def rd(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, mv, pos)
        pos += struct.calcsize(fmt)
        return v[0]

    def rstr():
        nonlocal pos
        n = rd("<Q")
        s = bytes(mv[pos:pos + n]).decode()
        pos += n
        return s

    assert bytes(mv[:4]) == b"GGUF", path
    pos = 4
    version, n_t, n_kv = rd("<I"), rd("<Q"), rd("<Q")
    assert version in (2, 3)
    kv = {}
    for _ in range(n_kv):
        k = rstr()
        typ = rd("<I")
        if typ == 8:
            kv[k] = rstr()
        elif typ in torch_ref._SCALAR:
            kv[k] = rd(torch_ref._SCALAR[typ])
        else:
            raise SystemExit(f"{path}: key {k}: value type {typ} not expected in an adapter")
    assert kv.get("general.type") == "adapter" and kv.get("adapter.type") == "lora", path
    infos = []
    for _ in range(n_t):
        name = rstr()
        nd = rd("<I")
        ne = [rd("<Q") for _ in range(nd)]
        infos.append((name, ne, rd("<I"), rd("<Q")))
    align = int(kv.get("general.alignment", 32))
    data0 = (pos + align - 1) // align * align
    t = {}
    for name, ne, typ, off in infos:
        n = int(np.prod(ne))
        o = data0 + off
        if typ == 0:
            x = np.frombuffer(mv[o:o + 4 * n], dtype="<f4").astype(np.float32)
        elif typ == 1:
            x = np.frombuffer(mv[o:o + 2 * n], dtype="<f2").astype(np.float32)
        elif typ == 30:
            x = torch_ref.bf16_bits_to_f32(np.frombuffer(mv[o:o + 2 * n], dtype="<u2"))
        else:
            raise SystemExit(f"{path}: {name}: ggml type {typ} not handled by the oracle")
        t[name] = x.reshape(tuple(reversed(ne)))
    alpha = float(kv.get("adapter.lora.alpha", 0.0))
    out = {}
    for name, A in t.items():
        if not name.endswith(".weight.lora_a"):
            continue
        stem = name[:-len(".lora_a")]
        _, layer, proj, _ = stem.split(".")
        B = t[stem + ".lora_b"]
        r = A.shape[0]
        out[f"model.layers.{int(layer)}.{GGUF_PROJ[proj]}.weight"] = (A, B, alpha / r if alpha else 1.0)
    return out


def read_adapter(path):
    return read_peft(path) if os.path.isdir(path) else read_gguf_adapter(path)


def merged_logits(model, adapter, scale, tokens):
    cfg, w = torch_ref.load_model(model)
    for name, (A, B, s) in read_adapter(adapter).items():
        W = w[name].numpy().astype(np.float64)
        assert W.shape == (B.shape[0], A.shape[1]), (name, W.shape, A.shape, B.shape)
        W += scale * s * (B.astype(np.float64) @ A.astype(np.float64))
        w[name] = torch.from_numpy(W.astype(np.float32))
    with torch.no_grad():
        return torch_ref.Qwen2(cfg, w).forward(tokens).numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("ref")
    r.add_argument("--model", required=True)
    r.add_argument("--adapter", required=True)
    r.add_argument("--scale", type=float, default=1.0)
    r.add_argument("--tokens", required=True)
    r.add_argument("--out", required=True)
    c = sub.add_parser("cmp")
    c.add_argument("got")
    c.add_argument("want")
    c.add_argument("--tol", type=float, required=True)
    c.add_argument("--min-diff", type=float, default=None,
                   help="also require max|A-B|/max|B| >= this (the two must differ)")
    a = ap.parse_args()
    if a.cmd == "ref":
        tokens = [int(t) for t in a.tokens.replace(",", " ").split()]
        merged_logits(a.model, a.adapter, a.scale, tokens).astype("<f4").tofile(a.out)
        return 0
    got, want = np.fromfile(a.got, dtype="<f4"), np.fromfile(a.want, dtype="<f4")
    if got.shape != want.shape:
        print(f"size mismatch: {got.size} vs {want.size} floats")
        return 1
    if not np.all(np.isfinite(got)):
        print(f"{a.got}: non-finite values")
        return 1
    rel = float(np.abs(got - want).max() / np.abs(want).max())
    ok = rel <= a.tol and (a.min_diff is None or rel >= a.min_diff)
    bound = f"<= {a.tol:g}" + (f" and >= {a.min_diff:g}" if a.min_diff is not None else "")
    print(f"{os.path.basename(a.got)} vs {os.path.basename(a.want)}: max|diff|/max|ref| = {rel:.3e} "
          f"(want {bound}) {'ok' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

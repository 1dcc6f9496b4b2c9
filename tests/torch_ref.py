#!/usr/bin/python3
"""torch_ref.py — an independent Qwen2 forward pass in PyTorch (float32), the
oracle for the C engine.

  /usr/bin/python3 tests/torch_ref.py --model PATH --tokens "ID ID ..." \
      [--logits-out FILE] [--greedy N] [--round bf16] [--self-check]

PATH is a Hugging Face directory (config.json + model.safetensors, or sharded
model-*.safetensors + model.safetensors.index.json; F32/F16/BF16) or a GGUF
file (F32/F16/BF16/Q8_0 tensors). Both are parsed here with numpy only; every
stored tensor is converted exactly to float32 (Q8_0: q * f16 scale, as ggml's
dequantize_row_q8_0), and the whole forward pass runs in float32. No code is
shared with the C engine nor with transformers / llama.cpp.

--logits-out FILE   little-endian float32 logits of every position,
                    [n_tokens][vocab] row-major (= `sqlassist logits --out`).
--greedy N          prints N greedily generated ids (argmax, KV cache),
                    continuing from the tokens, on one line.
--round bf16        rounds the loaded 2-D matrices to bf16 (nearest even):
                    the weights of a GGUF bf16 file of the same model, and
                    what the engine's --dtype bf16 computes with.
--round bf16-all    rounds every tensor (norms, biases too): what an HF bf16
                    checkpoint of the same model holds.
--sim-act T         (tolerance studies) rounds the input of every linear layer
                    to T = bf16 | f16 | q8_0 (per-32-block absmax scale, as
                    ggml's vec_dot_q8_0_q8_0 does to activations).
--self-check        checks the forward pass against itself: the full-sequence
                    logits vs token-by-token with the KV cache vs in chunks.
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch

torch.set_num_threads(int(os.environ.get("TORCH_REF_THREADS", "2")))

# ---------------------------------------------------------------------------
# number formats
# ---------------------------------------------------------------------------
def bf16_bits_to_f32(u16):
    return (np.asarray(u16, dtype=np.uint16).astype(np.uint32) << np.uint32(16)).view(np.float32)


def round_to_bf16(x):
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    r = ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)) << np.uint32(16)
    return r.view(np.float32)


def dequant_q8_0(raw, n):
    b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 34)
    assert b.shape[0] * 32 == n
    d = b[:, 0:2].copy().view("<f2").astype(np.float32)           # (nb, 1)
    q = b[:, 2:].copy().view(np.int8).astype(np.float32)           # (nb, 32)
    return (q * d).reshape(-1)


# ---------------------------------------------------------------------------
# safetensors
# ---------------------------------------------------------------------------
def read_safetensors(path, out):
    with open(path, "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(hlen))
        base = 8 + hlen
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b0, b1 = info["data_offsets"]
        raw = mm[base + b0: base + b1]
        shape = tuple(info["shape"])
        dt = info["dtype"]
        if dt == "F32":
            x = np.frombuffer(raw, dtype="<f4").copy()
        elif dt == "F16":
            x = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dt == "BF16":
            x = bf16_bits_to_f32(np.frombuffer(raw, dtype="<u2"))
        else:
            raise SystemExit(f"{path}: {name}: unsupported dtype {dt}")
        out[name] = x.reshape(shape)


def load_hf(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    w = {}
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        wmap = json.load(open(idx))["weight_map"]
        for fn in sorted(set(wmap.values())):
            read_safetensors(os.path.join(d, fn), w)
        missing = set(wmap) - set(w)
        if missing:
            raise SystemExit(f"{d}: tensors in the index but not in the shards: {sorted(missing)[:5]}")
    else:
        read_safetensors(os.path.join(d, "model.safetensors"), w)
    c = dict(hidden=cfg["hidden_size"], ffn=cfg["intermediate_size"],
             layers=cfg["num_hidden_layers"], heads=cfg["num_attention_heads"],
             kv_heads=cfg.get("num_key_value_heads", cfg["num_attention_heads"]),
             theta=float(cfg.get("rope_theta", 10000.0)), eps=float(cfg.get("rms_norm_eps", 1e-6)),
             vocab=cfg["vocab_size"],
             tied=bool(cfg.get("tie_word_embeddings", "lm_head.weight" not in w)))
    return c, w


# ---------------------------------------------------------------------------
# GGUF
# ---------------------------------------------------------------------------
_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B",
           10: "<Q", 11: "<q", 12: "<d"}
GGUF_TO_HF = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
GGUF_BLK_TO_HF = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight", "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.weight": "self_attn.k_proj.weight", "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.weight": "self_attn.v_proj.weight", "attn_v.bias": "self_attn.v_proj.bias",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight", "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}


def gguf_hf_name(n):
    if n in GGUF_TO_HF:
        return GGUF_TO_HF[n]
    if n.startswith("blk."):
        _, i, rest = n.split(".", 2)
        if rest in GGUF_BLK_TO_HF:
            return f"model.layers.{int(i)}.{GGUF_BLK_TO_HF[rest]}"
    raise SystemExit(f"unexpected GGUF tensor {n}")


def load_gguf(path):
    buf = np.memmap(path, dtype=np.uint8, mode="r")
    mv = memoryview(buf)
    pos = 0

    def rd(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, mv, pos)
        pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def rstr():
        nonlocal pos
        n = rd("<Q")
        s = bytes(mv[pos:pos + n]).decode("utf-8")
        pos += n
        return s

    def rval(t):
        nonlocal pos
        if t == 8:
            return rstr()
        if t == 9:
            at, n = rd("<I"), rd("<Q")
            if at == 8:                 # strings: skipped (the vocabulary)
                for _ in range(n):
                    pos += 8 + struct.unpack_from("<Q", mv, pos)[0]
                return None
            sz = struct.calcsize(_SCALAR[at])
            arr = np.frombuffer(mv[pos:pos + n * sz], dtype=_SCALAR[at])
            pos += n * sz
            return arr
        return rd(_SCALAR[t])

    if bytes(mv[0:4]) != b"GGUF":
        raise SystemExit(f"{path}: not a GGUF file")
    pos = 4
    version, n_t, n_kv = rd("<I"), rd("<Q"), rd("<Q")
    if version not in (2, 3):
        raise SystemExit(f"{path}: GGUF version {version}")
    kv = {}
    for _ in range(n_kv):
        k = rstr()
        kv[k] = rval(rd("<I"))
    infos = []
    for _ in range(n_t):
        name = rstr()
        nd = rd("<I")
        ne = [rd("<Q") for _ in range(nd)]
        typ, off = rd("<I"), rd("<Q")
        infos.append((name, ne, typ, off))
    align = int(kv.get("general.alignment", 32))
    data0 = (pos + align - 1) // align * align
    w = {}
    for name, ne, typ, off in infos:
        n = int(np.prod(ne))
        shape = tuple(reversed(ne))
        o = data0 + off
        if typ == 0:
            x = np.frombuffer(mv[o:o + 4 * n], dtype="<f4").copy()
        elif typ == 1:
            x = np.frombuffer(mv[o:o + 2 * n], dtype="<f2").astype(np.float32)
        elif typ == 30:
            x = bf16_bits_to_f32(np.frombuffer(mv[o:o + 2 * n], dtype="<u2"))
        elif typ == 8:
            x = dequant_q8_0(mv[o:o + n // 32 * 34], n)
        else:
            raise SystemExit(f"{path}: {name}: unsupported ggml type {typ}")
        w[gguf_hf_name(name)] = x.reshape(shape)
    arch = kv["general.architecture"]
    if arch != "qwen2":
        raise SystemExit(f"{path}: architecture {arch}, expected qwen2")
    c = dict(hidden=int(kv["qwen2.embedding_length"]), ffn=int(kv["qwen2.feed_forward_length"]),
             layers=int(kv["qwen2.block_count"]), heads=int(kv["qwen2.attention.head_count"]),
             kv_heads=int(kv.get("qwen2.attention.head_count_kv", kv["qwen2.attention.head_count"])),
             theta=float(kv.get("qwen2.rope.freq_base", 10000.0)),
             eps=float(kv["qwen2.attention.layer_norm_rms_epsilon"]),
             vocab=w["model.embed_tokens.weight"].shape[0],
             tied="lm_head.weight" not in w)
    return c, w


def load_model(path, rnd=None):
    """rnd: None; "bf16" rounds the 2-D matrices to bf16 (what a GGUF bf16
    file holds, and what the engine's --dtype bf16 does); "bf16-all" rounds
    every tensor (what an HF bf16 checkpoint holds)."""
    c, w = load_hf(path) if os.path.isdir(path) else load_gguf(path)
    if rnd == "bf16":
        w = {k: round_to_bf16(v) if v.ndim == 2 else v for k, v in w.items()}
    elif rnd == "bf16-all":
        w = {k: round_to_bf16(v) for k, v in w.items()}
    elif rnd is not None:
        raise ValueError(rnd)
    return c, {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in w.items()}


# ---------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------
def _sim_round(x, mode):
    if mode is None:
        return x
    if mode == "bf16":
        return x.to(torch.bfloat16).to(torch.float32)
    if mode == "f16":
        return x.to(torch.float16).to(torch.float32)
    if mode == "q8_0":
        s = x.shape
        b = x.reshape(-1, 32)
        d = b.abs().amax(dim=1, keepdim=True) / 127.0
        inv = torch.where(d == 0, torch.zeros_like(d), 1.0 / d)
        v = b * inv
        q = torch.sign(v) * torch.floor(v.abs() + 0.5)              # roundf
        d16 = d.to(torch.float16).to(torch.float32)
        return (q * d16).reshape(s)
    raise ValueError(mode)


class Qwen2:
    def __init__(self, cfg, w, sim_act=None):
        self.c, self.w, self.sim = cfg, w, sim_act
        c = cfg
        self.hd = c["hidden"] // c["heads"]
        assert self.hd * c["heads"] == c["hidden"]
        assert c["heads"] % c["kv_heads"] == 0
        # RoPE frequencies in float64 (the exact values), cast at the end
        self.inv_freq = 1.0 / (c["theta"] ** (torch.arange(0, self.hd, 2, dtype=torch.float64) / self.hd))
        self.emb = w["model.embed_tokens.weight"]
        self.head = self.emb if c["tied"] else w["lm_head.weight"]
        self._head_mkldnn = None

    def lin(self, x, wname, bname=None):
        x = _sim_round(x, self.sim)
        y = torch.nn.functional.linear(x, self.w[wname])
        if bname is not None:
            y = y + self.w[bname]
        return y

    def rms(self, x, wname):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.c["eps"]) * self.w[wname]

    def rope(self, x, pos):
        # x: (heads, n, hd); rotate-half (NEOX / HF) layout
        ang = pos.to(torch.float64)[:, None] * self.inv_freq[None, :]        # (n, hd/2)
        cos = torch.cos(ang).to(torch.float32)
        sin = torch.sin(ang).to(torch.float32)
        cos = torch.cat([cos, cos], dim=-1)
        sin = torch.cat([sin, sin], dim=-1)
        h = self.hd // 2
        rot = torch.cat([-x[..., h:], x[..., :h]], dim=-1)
        return x * cos + rot * sin

    def forward(self, tokens, cache=None, all_logits=True):
        """tokens: list of ids appended after what `cache` holds. Returns
        logits (n, vocab) (or (1, vocab) for the last position only)."""
        c = self.c
        if cache is None:
            cache = self.new_cache()
        p0 = cache["n"]
        n = len(tokens)
        pos = torch.arange(p0, p0 + n)
        x = self.emb[torch.tensor(tokens, dtype=torch.long)]                   # (n, hidden)
        nh, nkv, hd = c["heads"], c["kv_heads"], self.hd
        rep = nh // nkv
        # causal mask over [cache + new]
        kpos = torch.arange(0, p0 + n)
        mask = kpos[None, :] > pos[:, None]                                     # (n, p0+n)
        for L in range(c["layers"]):
            p = f"model.layers.{L}."
            h = self.rms(x, p + "input_layernorm.weight")
            q = self.lin(h, p + "self_attn.q_proj.weight", p + "self_attn.q_proj.bias")
            k = self.lin(h, p + "self_attn.k_proj.weight", p + "self_attn.k_proj.bias")
            v = self.lin(h, p + "self_attn.v_proj.weight", p + "self_attn.v_proj.bias")
            q = q.view(n, nh, hd).transpose(0, 1)                               # (nh, n, hd)
            k = k.view(n, nkv, hd).transpose(0, 1)
            v = v.view(n, nkv, hd).transpose(0, 1)
            q = self.rope(q, pos)
            k = self.rope(k, pos)
            K = torch.cat([cache["k"][L], k], dim=1)                            # (nkv, p0+n, hd)
            V = torch.cat([cache["v"][L], v], dim=1)
            cache["k"][L], cache["v"][L] = K, V
            Kr = K.repeat_interleave(rep, dim=0)                                # q head i -> kv head i // rep
            Vr = V.repeat_interleave(rep, dim=0)
            s = torch.matmul(q, Kr.transpose(1, 2)) / math.sqrt(hd)             # (nh, n, p0+n)
            s = s.masked_fill(mask[None], float("-inf"))
            a = torch.softmax(s, dim=-1)
            o = torch.matmul(a, Vr).transpose(0, 1).reshape(n, nh * hd)
            x = x + self.lin(o, p + "self_attn.o_proj.weight")
            h = self.rms(x, p + "post_attention_layernorm.weight")
            g = self.lin(h, p + "mlp.gate_proj.weight")
            u = self.lin(h, p + "mlp.up_proj.weight")
            x = x + self.lin(torch.nn.functional.silu(g) * u, p + "mlp.down_proj.weight")
        cache["n"] = p0 + n
        x = self.rms(x, "model.norm.weight")
        if not all_logits:
            x = x[-1:]
        return self.lm_head(_sim_round(x, self.sim))

    def lm_head(self, x):
        # Debian's torch uses the reference BLAS (1 s for 64 x 256 x 151936);
        # oneDNN's f32 GEMM is 10x faster. Both accumulate in float32.
        if x.shape[0] >= 8:
            try:
                if self._head_mkldnn is None:
                    self._head_mkldnn = self.head.to_mkldnn()
                return torch._C._nn.mkldnn_linear(x.contiguous().to_mkldnn(), self._head_mkldnn, None).to_dense()
            except (RuntimeError, AttributeError):
                pass
        return torch.nn.functional.linear(x, self.head)

    def new_cache(self):
        c = self.c
        e = torch.zeros(c["kv_heads"], 0, self.hd)
        return {"n": 0, "k": [e] * c["layers"], "v": [e] * c["layers"]}

    def greedy(self, tokens, n):
        cache = self.new_cache()
        out = []
        logits = self.forward(tokens, cache, all_logits=False)
        # one-token steps are all small ops: a second OpenMP thread only adds
        # spin-waiting (3x slower on a busy 2-core machine)
        nt = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for _ in range(n):
                t = int(torch.argmax(logits[-1]))
                out.append(t)
                logits = self.forward([t], cache, all_logits=False)
        finally:
            torch.set_num_threads(nt)
        return out


def logits_of(model_path, tokens, rnd=None, sim_act=None):
    cfg, w = load_model(model_path, rnd)
    with torch.no_grad():
        return Qwen2(cfg, w, sim_act).forward(tokens).numpy()


def self_check(m, tokens):
    """Full pass vs token-by-token (KV cache) vs two chunks; returns max rel diff."""
    with torch.no_grad():
        full = m.forward(tokens)
        cache = m.new_cache()
        inc = torch.cat([m.forward([t], cache) for t in tokens])
        cache = m.new_cache()
        h = len(tokens) // 3
        chk = torch.cat([m.forward(tokens[:h], cache), m.forward(tokens[h:], cache)])
    scale = float(full.abs().max())
    r1 = float((full - inc).abs().max()) / scale
    r2 = float((full - chk).abs().max()) / scale
    # a causal model: the logits of a prefix do not depend on later tokens
    with torch.no_grad():
        pre = m.forward(tokens[: len(tokens) // 2])
    r3 = float((full[: len(tokens) // 2] - pre).abs().max()) / scale
    print(f"self-check: scale {scale:.3f}  full-vs-incremental {r1:.2e}  "
          f"full-vs-chunked {r2:.2e}  prefix-causality {r3:.2e}")
    return max(r1, r2, r3)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", required=True, help='"ID ID ..."')
    ap.add_argument("--logits-out")
    ap.add_argument("--greedy", type=int, default=0)
    ap.add_argument("--round", choices=["bf16", "bf16-all"], default=None)
    ap.add_argument("--sim-act", choices=["bf16", "f16", "q8_0"], default=None)
    ap.add_argument("--self-check", action="store_true")
    a = ap.parse_args()

    tokens = [int(t) for t in a.tokens.replace(",", " ").split()]
    cfg, w = load_model(a.model, a.round)
    if not tokens or min(tokens) < 0 or max(tokens) >= cfg["vocab"]:
        sys.exit(f"token ids must be in [0, {cfg['vocab']})")
    m = Qwen2(cfg, w, a.sim_act)
    rc = 0
    if a.self_check:
        if self_check(m, tokens) > 1e-5:
            print("self-check FAILED")
            rc = 1
    if a.logits_out:
        with torch.no_grad():
            lg = m.forward(tokens).numpy()
        lg.astype("<f4").tofile(a.logits_out)
    if a.greedy:
        with torch.no_grad():
            print(" ".join(str(t) for t in m.greedy(tokens, a.greedy)))
    return rc


if __name__ == "__main__":
    sys.exit(main())

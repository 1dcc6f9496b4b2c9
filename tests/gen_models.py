#!/usr/bin/python3
"""gen_models.py — writes the small random-weight Qwen2 test models.

  /usr/bin/python3 tests/gen_models.py --tokenizer TOKENIZER_JSON --out DIR

Every model is written once as float32 master weights (fixed seed) and then
stored in several layouts that all hold the SAME weights up to their own
rounding:

  DIR/<name>/hf-f32/          config.json, model.safetensors (F32), tokenizer files
  DIR/<name>/hf-bf16/         same, BF16 (round to nearest even)
  DIR/<name>/hf-f16/          same, F16 (round to nearest even)
  DIR/<name>/hf-sharded/      F32 in two shards + model.safetensors.index.json
  DIR/<name>/<name>-f32.gguf  GGUF v3, laid out as llama.cpp's converter writes Qwen2
  DIR/<name>/<name>-f16.gguf  (2-D matrices f16, 1-D norms/biases f32)
  DIR/<name>/<name>-bf16.gguf (2-D matrices bf16, 1-D f32)
  DIR/<name>/<name>-q8_0.gguf (2-D matrices q8_0 incl. token_embd/output, 1-D f32)
  DIR/tokenizer/              the Qwen2.5 tokenizer files (hard-linked into each HF dir)
  DIR/manifest.json           models, their configs and their variants

Not every model gets every variant (disk budget < 1.5 GB: the 151936 x hidden
embedding dominates, 156 MB per f32 copy at hidden 256); see MODELS.

The vocabulary is the real Qwen2.5 one (151643 BPE tokens + added tokens
151643..151664, padded to 151936 with "[PAD<i>]" entries), so text prompts
tokenize as they would for a real Qwen2.5 model.

Weights: the embedding (and untied lm_head) ~ N(0, 0.5) with the rows of the
unused padding ids 151665..151935 zero (so they are never the argmax, and the
q8_0 files contain all-zero blocks: d = 0); the linear layers
~ N(0, gain/sqrt(fan_in)) with gain 1.5 for q/k (so attention is peaky and
therefore sensitive to RoPE / masking / GQA mistakes), gain 4 for o_proj and
down_proj (so each layer's output outweighs the token's own embedding in the
residual: with tied embeddings a weaker residual makes the model just repeat
its input token), 1 for v/gate/up; biases ~ N(0, 0.1), norm weights
~ 1 + N(0, 0.1). The logits then have a standard deviation of ~6-8 and greedy
decoding runs ~60 distinct tokens in 64 steps, so a wrong kernel shows up in
the tests. (Plain N(0, 0.02) matrices would make every layer a tiny
perturbation of the embedding and hide most bugs.)

Uses only numpy. Deterministic: the same tokenizer.json gives the same bytes.
"""
import argparse
import json
import os
import shutil
import struct
import sys
import time

import numpy as np

# ---------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------
VOCAB = 151936
QWEN25_LAST_ADDED_ID = 151664
BOS_ID = 151643      # <|endoftext|> (also padding)
EOS_ID = 151645      # <|im_end|>

ALL_VARIANTS = ["hf-f32", "hf-bf16", "hf-f16", "hf-sharded",
                "gguf-f32", "gguf-f16", "gguf-bf16", "gguf-q8_0"]

MODELS = [
    # head_dim 64, GQA 2 query heads per KV head with 2 KV heads (so a wrong
    # q-head -> kv-head mapping is visible), tied embeddings, every dtype.
    dict(name="m64", hidden=256, heads=4, kv_heads=2, ffn=512, layers=2,
         tied=True, rope_theta=1000000.0, seed=6401,
         variants=["hf-f32", "hf-bf16", "hf-f16",
                   "gguf-f32", "gguf-f16", "gguf-bf16", "gguf-q8_0"]),
    # head_dim 128, 2 query heads per KV head, rope_theta 1e4; its HF copy is
    # the sharded one (f32, two shards + index).
    dict(name="m128", hidden=256, heads=2, kv_heads=1, ffn=384, layers=2,
         tied=True, rope_theta=10000.0, seed=12801,
         variants=["hf-sharded", "gguf-f32", "gguf-q8_0"]),
    # head_dim 64, 3 layers, UNTIED output head (lm_head.weight / output.weight).
    dict(name="m64u", hidden=128, heads=2, kv_heads=1, ffn=320, layers=3,
         tied=False, rope_theta=1000000.0, seed=6402,
         variants=["hf-f32", "gguf-f32"]),
]
COMMON = dict(vocab=VOCAB, ctx=4096, eps=1e-6)

EMBD_STD = 0.5
HEAD_STD = 0.5
QK_GAIN = 1.5
OUT_GAIN = 4.0
BIAS_STD = 0.1
NORM_STD = 0.1

# ---------------------------------------------------------------------------
# GGUF constants
# ---------------------------------------------------------------------------
GGUF_ALIGN = 32
(T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32, T_FLOAT32, T_BOOL,
 T_STRING, T_ARRAY, T_UINT64, T_INT64, T_FLOAT64) = range(13)
GGML = {"f32": 0, "f16": 1, "q8_0": 8, "bf16": 30}
LLAMA_FTYPE = {"f32": 0, "f16": 1, "q8_0": 7, "bf16": 32}
TOK_NORMAL, TOK_CONTROL, TOK_USER_DEFINED, TOK_UNUSED = 1, 3, 4, 5

QWEN25_CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] != 'system' %}"
    "{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


# ---------------------------------------------------------------------------
# number formats
# ---------------------------------------------------------------------------
def f32_to_bf16_bits(x):
    """float32 array -> uint16 bf16 bits, round to nearest even (NaN not expected)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    r = (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
    return r.astype("<u2")


def roundf(v):
    """C roundf (half away from zero), exact for float32 input."""
    a = np.abs(v)
    fl = np.floor(a)
    return np.sign(v) * (fl + np.floor(2 * (a - fl)))


def quantize_q8_0(x):
    """Rows of x (float32, last dim % 32 == 0) -> q8_0 bytes, as llama.cpp's
    quantize_row_q8_0_ref: d = amax/127 (f32), id = 1/d or 0, q = roundf(x*id),
    stored d as f16; 34 bytes per block of 32."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    assert x.shape[-1] % 32 == 0, x.shape
    b = x.reshape(-1, 32)
    amax = np.abs(b).max(axis=1, keepdims=True)
    d = (amax / np.float32(127.0)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(d == 0, np.float32(0), np.float32(1.0) / d).astype(np.float32)
    q = roundf((b * inv).astype(np.float32)).astype(np.int8)
    out = np.empty((b.shape[0], 34), dtype=np.uint8)
    out[:, 0:2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


def encode(x, dt):
    if dt == "f32":
        return np.ascontiguousarray(x, dtype="<f4").tobytes()
    if dt == "f16":
        return np.ascontiguousarray(x).astype("<f2").tobytes()
    if dt == "bf16":
        return f32_to_bf16_bits(x).tobytes()
    if dt == "q8_0":
        return quantize_q8_0(x)
    raise ValueError(dt)


def write_encoded(f, x, dt):
    """Writes encode(x, dt) in row chunks (keeps peak memory low)."""
    if x.ndim < 2 or x.size <= (1 << 22):
        f.write(encode(x, dt))
        return
    step = max(1, (1 << 22) // x.shape[1])
    for r in range(0, x.shape[0], step):
        f.write(encode(x[r:r + step], dt))


def nbytes_of(shape, dt):
    n = int(np.prod(shape))
    return {"f32": 4 * n, "f16": 2 * n, "bf16": 2 * n, "q8_0": n // 32 * 34}[dt]


# ---------------------------------------------------------------------------
# weights
# ---------------------------------------------------------------------------
def hf_tensor_list(m):
    """[(hf_name, gguf_name, numpy shape, kind)] in a fixed order."""
    h, f, hd = m["hidden"], m["ffn"], m["hidden"] // m["heads"]
    kv = m["kv_heads"] * hd
    out = [("model.embed_tokens.weight", "token_embd.weight", (VOCAB, h), "embd")]
    for i in range(m["layers"]):
        p, g = f"model.layers.{i}.", f"blk.{i}."
        out += [
            (p + "input_layernorm.weight", g + "attn_norm.weight", (h,), "norm"),
            (p + "self_attn.q_proj.weight", g + "attn_q.weight", (h, h), "qk"),
            (p + "self_attn.q_proj.bias", g + "attn_q.bias", (h,), "bias"),
            (p + "self_attn.k_proj.weight", g + "attn_k.weight", (kv, h), "qk"),
            (p + "self_attn.k_proj.bias", g + "attn_k.bias", (kv,), "bias"),
            (p + "self_attn.v_proj.weight", g + "attn_v.weight", (kv, h), "lin"),
            (p + "self_attn.v_proj.bias", g + "attn_v.bias", (kv,), "bias"),
            (p + "self_attn.o_proj.weight", g + "attn_output.weight", (h, h), "out"),
            (p + "post_attention_layernorm.weight", g + "ffn_norm.weight", (h,), "norm"),
            (p + "mlp.gate_proj.weight", g + "ffn_gate.weight", (f, h), "lin"),
            (p + "mlp.up_proj.weight", g + "ffn_up.weight", (f, h), "lin"),
            (p + "mlp.down_proj.weight", g + "ffn_down.weight", (h, f), "out"),
        ]
    out.append(("model.norm.weight", "output_norm.weight", (h,), "norm"))
    if not m["tied"]:
        out.append(("lm_head.weight", "output.weight", (VOCAB, h), "head"))
    return out


def make_weights(m):
    rng = np.random.default_rng(m["seed"])
    w = {}
    for hf, _, shape, kind in hf_tensor_list(m):
        x = rng.standard_normal(shape, dtype=np.float32)
        if kind in ("embd", "head"):
            x *= np.float32(EMBD_STD if kind == "embd" else HEAD_STD)
            x[QWEN25_LAST_ADDED_ID + 1:] = 0    # ids no Qwen2.5 token uses: zero rows

        elif kind == "qk":
            x *= np.float32(QK_GAIN / np.sqrt(shape[1]))
        elif kind == "out":
            x *= np.float32(OUT_GAIN / np.sqrt(shape[1]))
        elif kind == "lin":
            x *= np.float32(1.0 / np.sqrt(shape[1]))
        elif kind == "bias":
            x *= np.float32(BIAS_STD)
        elif kind == "norm":
            x = np.float32(1.0) + x * np.float32(NORM_STD)
        w[hf] = np.ascontiguousarray(x, dtype=np.float32)
    return w


# ---------------------------------------------------------------------------
# tokenizer
# ---------------------------------------------------------------------------
def load_tokenizer(path):
    t = json.load(open(path, encoding="utf-8"))
    model = t["model"]
    if model.get("type") != "BPE":
        sys.exit("tokenizer.json is not a BPE tokenizer")
    # Qwen2.5 set of added tokens (the Qwen3 file adds 151665..151668)
    t["added_tokens"] = [a for a in t.get("added_tokens", []) if a["id"] <= QWEN25_LAST_ADDED_ID]
    id2tok = {i: s for s, i in model["vocab"].items()}
    added = {a["id"]: a for a in t["added_tokens"]}
    tokens, types = [], []
    for i in range(VOCAB):
        if i in added:
            s = added[i]["content"]
            tokens.append(s)
            look_special = s.startswith("<|") and s.endswith("|>")
            types.append(TOK_CONTROL if (added[i].get("special") or look_special) else TOK_USER_DEFINED)
        elif i in id2tok:
            tokens.append(id2tok[i])
            types.append(TOK_NORMAL)
        else:
            tokens.append(f"[PAD{i}]")
            types.append(TOK_UNUSED)
    merges = [" ".join(mg) if isinstance(mg, list) else mg for mg in model["merges"]]
    return t, tokens, types, merges


def write_tokenizer_dir(d, t, merges):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(t, f, ensure_ascii=False, indent=2)
    vocab = t["model"]["vocab"]
    with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(dict(sorted(vocab.items(), key=lambda kv: kv[1])), f, ensure_ascii=False,
                  separators=(",", ":"))   # byte-identical to Qwen2.5's vocab.json
    with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        f.write("\n".join(merges))
        f.write("\n")
    dec = {}
    for a in t["added_tokens"]:
        dec[str(a["id"])] = {k: a.get(k, False) for k in
                             ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
    cfg = {
        "add_bos_token": False, "add_prefix_space": False,
        "added_tokens_decoder": dec,
        "additional_special_tokens": [a["content"] for a in t["added_tokens"]
                                      if a.get("special") and a["id"] not in (BOS_ID,)],
        "bos_token": None, "chat_template": QWEN25_CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False, "eos_token": "<|im_end|>",
        "errors": "replace", "model_max_length": COMMON["ctx"],
        "pad_token": "<|endoftext|>", "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer", "unk_token": None,
    }
    with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=2)


def link_tokenizer(src_dir, dst_dir):
    for fn in ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"):
        s, d = os.path.join(src_dir, fn), os.path.join(dst_dir, fn)
        if os.path.exists(d):
            os.unlink(d)
        try:
            os.link(s, d)
        except OSError:
            shutil.copyfile(s, d)


# ---------------------------------------------------------------------------
# HF writers
# ---------------------------------------------------------------------------
ST_DTYPE = {"f32": "F32", "f16": "F16", "bf16": "BF16"}
TORCH_DTYPE = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}


def hf_config(m, dt):
    return {
        "architectures": ["Qwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": BOS_ID,
        "eos_token_id": EOS_ID,
        "hidden_act": "silu",
        "hidden_size": m["hidden"],
        "initializer_range": 0.02,
        "intermediate_size": m["ffn"],
        "max_position_embeddings": COMMON["ctx"],
        "max_window_layers": m["layers"],
        "model_type": "qwen2",
        "num_attention_heads": m["heads"],
        "num_hidden_layers": m["layers"],
        "num_key_value_heads": m["kv_heads"],
        "rms_norm_eps": COMMON["eps"],
        "rope_theta": m["rope_theta"],
        "sliding_window": COMMON["ctx"],
        "tie_word_embeddings": m["tied"],
        "torch_dtype": TORCH_DTYPE[dt],
        "transformers_version": "4.43.1",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": VOCAB,
    }


def write_safetensors(path, names, w, dt):
    """names in write order; returns total data bytes."""
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for n in names:
        nb = nbytes_of(w[n].shape, dt)
        header[n] = {"dtype": ST_DTYPE[dt], "shape": list(w[n].shape), "data_offsets": [off, off + nb]}
        off += nb
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for n in names:
            write_encoded(f, w[n], dt)
    return off


def write_hf(d, m, w, dt, tokdir, shards=1):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(hf_config(m, dt), f, indent=2)
    with open(os.path.join(d, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": BOS_ID, "eos_token_id": [EOS_ID, BOS_ID],
                   "pad_token_id": BOS_ID, "do_sample": False}, f, indent=2)
    names = [t[0] for t in hf_tensor_list(m)]
    files = []
    if shards == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), names, w, dt)
        files.append("model.safetensors")
    else:
        # shard 1: embedding + first layer; shard 2: the rest (as HF splits by size)
        cut = next(i for i, n in enumerate(names) if n.startswith("model.layers.1."))
        groups = [names[:cut], names[cut:]]
        wmap, total = {}, 0
        for k, g in enumerate(groups):
            fn = f"model-{k + 1:05d}-of-{len(groups):05d}.safetensors"
            total += write_safetensors(os.path.join(d, fn), g, w, dt)
            files.append(fn)
            for n in g:
                wmap[n] = fn
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total},
                       "weight_map": dict(sorted(wmap.items()))}, f, indent=2)
        files.append("model.safetensors.index.json")
    link_tokenizer(tokdir, d)
    return files


# ---------------------------------------------------------------------------
# GGUF writer
# ---------------------------------------------------------------------------
def gstr(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def kv_u32(k, v):
    return gstr(k) + struct.pack("<II", T_UINT32, v)


def kv_f32(k, v):
    return gstr(k) + struct.pack("<If", T_FLOAT32, v)


def kv_bool(k, v):
    return gstr(k) + struct.pack("<IB", T_BOOL, 1 if v else 0)


def kv_str(k, v):
    return gstr(k) + struct.pack("<I", T_STRING) + gstr(v)


def kv_arr_str(k, items):
    return (gstr(k) + struct.pack("<IIQ", T_ARRAY, T_STRING, len(items)) +
            b"".join(gstr(s) for s in items))


def kv_arr_i32(k, items):
    a = np.asarray(items, dtype="<i4")
    return gstr(k) + struct.pack("<IIQ", T_ARRAY, T_INT32, len(a)) + a.tobytes()


def pad(n, a=GGUF_ALIGN):
    return (a - n % a) % a


def tokenizer_kvs(tokens, types, merges):
    return [
        kv_str("tokenizer.ggml.model", "gpt2"),
        kv_str("tokenizer.ggml.pre", "qwen2"),
        kv_arr_str("tokenizer.ggml.tokens", tokens),
        kv_arr_i32("tokenizer.ggml.token_type", types),
        kv_arr_str("tokenizer.ggml.merges", merges),
        kv_u32("tokenizer.ggml.eos_token_id", EOS_ID),
        kv_u32("tokenizer.ggml.padding_token_id", BOS_ID),
        kv_u32("tokenizer.ggml.bos_token_id", BOS_ID),
        kv_bool("tokenizer.ggml.add_bos_token", False),
        kv_str("tokenizer.chat_template", QWEN25_CHAT_TEMPLATE),
    ]


def write_gguf(path, m, w, ftype, tok_kvs):
    kvs = [
        kv_str("general.architecture", "qwen2"),
        kv_str("general.type", "model"),
        kv_str("general.name", f"sqlassist test {m['name']} random weights"),
        kv_u32("general.file_type", LLAMA_FTYPE[ftype]),
        kv_u32("general.quantization_version", 2),
        kv_u32("qwen2.block_count", m["layers"]),
        kv_u32("qwen2.context_length", COMMON["ctx"]),
        kv_u32("qwen2.embedding_length", m["hidden"]),
        kv_u32("qwen2.feed_forward_length", m["ffn"]),
        kv_u32("qwen2.attention.head_count", m["heads"]),
        kv_u32("qwen2.attention.head_count_kv", m["kv_heads"]),
        kv_f32("qwen2.rope.freq_base", m["rope_theta"]),
        kv_f32("qwen2.attention.layer_norm_rms_epsilon", COMMON["eps"]),
    ] + tok_kvs
    plan, infos, off = [], [], 0
    for hf, gname, shape, kind in hf_tensor_list(m):
        dt = ftype if len(shape) == 2 else "f32"
        nb = nbytes_of(shape, dt)
        ne = list(reversed(shape))
        infos.append(gstr(gname) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne) +
                     struct.pack("<IQ", GGML[dt], off))
        plan.append((hf, dt, off, nb))
        off += nb + pad(nb)
    head = b"GGUF" + struct.pack("<IQQ", 3, len(plan), len(kvs)) + b"".join(kvs) + b"".join(infos)
    head += b"\0" * pad(len(head))
    with open(path, "wb") as f:
        f.write(head)
        base = f.tell()
        for hf, dt, o, nb in plan:
            assert f.tell() - base == o, hf
            write_encoded(f, w[hf], dt)
            assert f.tell() - base == o + nb, hf
            f.write(b"\0" * pad(nb))


# ---------------------------------------------------------------------------
def du(path):
    tot, seen = 0, set()
    for root, _, files in os.walk(path):
        for fn in files:
            st = os.stat(os.path.join(root, fn))
            if st.st_ino in seen:
                continue
            seen.add(st.st_ino)
            tot += st.st_blocks * 512
    return tot


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", required=True, help="HF tokenizer.json with the Qwen BPE vocab")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--only", default=None, help="comma-separated model names (default: all)")
    a = ap.parse_args()

    t0 = time.time()
    os.makedirs(a.out, exist_ok=True)
    t, tokens, types, merges = load_tokenizer(a.tokenizer)
    tokdir = os.path.join(a.out, "tokenizer")
    write_tokenizer_dir(tokdir, t, merges)
    tok_kvs = tokenizer_kvs(tokens, types, merges)
    print(f"tokenizer: {len(tokens)} tokens, {len(merges)} merges ({time.time() - t0:.1f} s)", flush=True)

    manifest = {"vocab_size": VOCAB, "bos_token_id": BOS_ID, "eos_token_id": EOS_ID,
                "tokenizer_dir": "tokenizer", "models": []}
    only = set(a.only.split(",")) if a.only else None
    for m in MODELS:
        if only and m["name"] not in only:
            continue
        t1 = time.time()
        w = make_weights(m)
        md = os.path.join(a.out, m["name"])
        os.makedirs(md, exist_ok=True)
        variants = []
        for v in m["variants"]:
            fmt, dt = v.split("-", 1)
            if fmt == "hf":
                if dt == "sharded":
                    files = write_hf(os.path.join(md, v), m, w, "f32", tokdir, shards=2)
                    dt = "f32"
                else:
                    files = write_hf(os.path.join(md, v), m, w, dt, tokdir)
                rel = f"{m['name']}/{v}"
            else:
                fn = f"{m['name']}-{dt}.gguf"
                write_gguf(os.path.join(md, fn), m, w, dt, tok_kvs)
                files = [fn]
                rel = f"{m['name']}/{fn}"
            variants.append({"name": v, "format": fmt, "dtype": dt, "path": rel, "files": files})
        cfg = {k: m[k] for k in ("hidden", "heads", "kv_heads", "ffn", "layers", "tied", "rope_theta", "seed")}
        cfg.update(head_dim=m["hidden"] // m["heads"], vocab=VOCAB, ctx=COMMON["ctx"], eps=COMMON["eps"])
        manifest["models"].append({"name": m["name"], "config": cfg, "variants": variants})
        print(f"{m['name']}: {', '.join(m['variants'])}  ({time.time() - t1:.1f} s, "
              f"{du(md) / 2**20:.0f} MiB)", flush=True)
        del w

    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    print(f"total {du(a.out) / 2**20:.0f} MiB in {a.out}, {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()

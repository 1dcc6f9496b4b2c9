#!/usr/bin/python3
"""gen_adapters.py — writes random LoRA adapters for the small test models.

  /usr/bin/python3 tests/gen_adapters.py --models tests/out/models --out tests/out/adapters
  /usr/bin/python3 tests/gen_adapters.py --bench-shape HIDDEN,KV,FFN,LAYERS --rank 16 --out FILE.gguf

The first form reads DIR/manifest.json (tests/gen_models.py) and writes, for
the models there, adapters in both formats sqlassist reads:

  <model>/<name>/          PEFT: adapter_config.json + adapter_model.safetensors
  <model>/<name>.gguf      llama.cpp: general.type = adapter, blk.N.<proj>.weight.lora_a/_b
  bad/<case>[.gguf]        broken adapters (one defect each) for the error tests
  manifest.json            what was written, with the factor and expected error of each

Adapters that exist in both formats hold the same numbers (a GGUF copy is
what llama.cpp's convert_lora_to_gguf.py makes of the PEFT one: lora_a
ne = [in, r], lora_b ne = [r, out], adapter.lora.alpha = lora_alpha).

Weights: A ~ N(0, 1/sqrt(in)) so A·x has the size of x; B ~ N(0, GAIN /
(factor·sqrt(r))) so that factor·B·A·x is about GAIN times x: big enough to
move every logit clearly (B is never zero, unlike a freshly initialised
PEFT adapter). Rounded to f16/bf16 where the adapter is stored that way.

The second form writes one rank-r GGUF adapter on all seven projections
for a model of the given shape (for bench/lora_decode.sh).

Uses only numpy. Deterministic.
"""
import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np

GAIN = 0.5
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
PARENT = {"q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn", "o_proj": "self_attn",
          "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp"}
GGUF_NAME = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
             "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}
ATTN = ["q_proj", "k_proj", "v_proj", "o_proj"]
MLP = ["gate_proj", "up_proj", "down_proj"]


def dims(shape, t):
    """(out, in) of projection t for shape = dict(hidden, kv, ffn)."""
    h, kv, f = shape["hidden"], shape["kv"], shape["ffn"]
    return {"q_proj": (h, h), "k_proj": (kv, h), "v_proj": (kv, h), "o_proj": (h, h),
            "gate_proj": (f, h), "up_proj": (f, h), "down_proj": (h, f)}[t]


# ---------------------------------------------------------------------------
# number formats
# ---------------------------------------------------------------------------
def bf16_bits(x):
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    return ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)).astype("<u2")


def round_to(x, dt):
    """The f32 values x becomes when stored as dt."""
    if dt == "f32":
        return x.astype(np.float32)
    if dt == "f16":
        return x.astype(np.float16).astype(np.float32)
    if dt == "bf16":
        return (bf16_bits(x).astype(np.uint32) << np.uint32(16)).view(np.float32)
    raise ValueError(dt)


def encode(x, dt):
    if dt == "f32":
        return np.ascontiguousarray(x, dtype="<f4").tobytes()
    if dt == "f16":
        return np.ascontiguousarray(x).astype("<f2").tobytes()
    if dt == "bf16":
        return bf16_bits(x).tobytes()
    raise ValueError(dt)


# ---------------------------------------------------------------------------
# writers
# ---------------------------------------------------------------------------
ST_DTYPE = {"f32": "F32", "f16": "F16", "bf16": "BF16"}
ESIZE = {"f32": 4, "f16": 2, "bf16": 2}


def write_safetensors(path, tensors, dt):
    """tensors: list of (name, float32 array); every tensor stored as dt."""
    header, off, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name, x in tensors:
        b = encode(x, dt)
        header[name] = {"dtype": ST_DTYPE[dt], "shape": list(x.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def kv_str(k, v):
    return gstr(k) + struct.pack("<I", 8) + gstr(v)


def kv_f32(k, v):
    return gstr(k) + struct.pack("<If", 6, v)


GGML = {"f32": 0, "f16": 1, "bf16": 30}


def write_gguf(path, tensors, dt, alpha, kvs=None):
    """tensors: list of (gguf name, float32 array, numpy shape = outermost first)."""
    if kvs is None:
        kvs = [kv_str("general.architecture", "qwen2"), kv_str("general.type", "adapter"),
               kv_str("adapter.type", "lora"), kv_f32("adapter.lora.alpha", alpha)]
    kvs = kvs + [kv_str("general.name", os.path.basename(path))]
    infos, blobs, off = [], [], 0
    for name, x in tensors:
        b = encode(x, dt)
        ne = list(reversed(x.shape))
        infos.append(gstr(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne) +
                     struct.pack("<IQ", GGML[dt], off))
        blobs.append(b)
        off += len(b) + (32 - len(b) % 32) % 32
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs) + b"".join(infos)
    head += b"\0" * ((32 - len(head) % 32) % 32)
    with open(path, "wb") as f:
        f.write(head)
        for b in blobs:
            f.write(b)
            f.write(b"\0" * ((32 - len(b) % 32) % 32))


def peft_config(r, alpha, targets, rslora=False, base="sqlassist-test", **extra):
    c = {
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": base, "bias": "none",
        "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True,
        "layers_pattern": None, "layers_to_transform": None, "lora_alpha": alpha, "lora_dropout": 0.05,
        "modules_to_save": None, "peft_type": "LORA", "r": r, "rank_pattern": {}, "revision": None,
        "target_modules": targets, "task_type": "CAUSAL_LM", "use_dora": False, "use_rslora": rslora,
    }
    c.update(extra)
    return c


# ---------------------------------------------------------------------------
# adapters
# ---------------------------------------------------------------------------
def make_lora(rng, shape, layers, targets, r, factor, dt):
    """{(layer, target): (A [r][in], B [out][r])} as float32 already rounded to dt."""
    out = {}
    for layer in layers:
        for t in targets:
            o, i = dims(shape, t)
            A = rng.standard_normal((r, i), dtype=np.float32) * np.float32(1 / np.sqrt(i))
            B = rng.standard_normal((o, r), dtype=np.float32) * np.float32(GAIN / (factor * np.sqrt(r)))
            out[(layer, t)] = (round_to(A, dt), round_to(B, dt))
    return out


def peft_tensors(lora):
    ts = []
    for (layer, t), (A, B) in sorted(lora.items()):
        p = f"base_model.model.model.layers.{layer}.{PARENT[t]}.{t}"
        ts += [(p + ".lora_A.weight", A), (p + ".lora_B.weight", B)]
    return ts


def gguf_tensors(lora):
    ts = []
    for (layer, t), (A, B) in sorted(lora.items()):
        p = f"blk.{layer}.{GGUF_NAME[t]}.weight"
        ts += [(p + ".lora_a", A), (p + ".lora_b", B)]
    return ts


def write_peft(d, cfg, tensors, dt):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "adapter_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(d, "adapter_model.safetensors"), tensors, dt)


# name, model, targets, r, alpha, rslora, dtype, layers (None: all), formats
GOOD = [
    ("all-r8", "m64", TARGETS, 8, 16, False, "f32", None, ["peft", "gguf"]),
    ("attn-r4-rs", "m64", ATTN, 4, 8, True, "f32", None, ["peft"]),
    ("mlp-r32-f16", "m64", MLP, 32, 32, False, "f16", None, ["peft", "gguf"]),
    ("qv-r16-bf16", "m64", ["q_proj", "v_proj"], 16, 32, True, "bf16", None, ["peft"]),
    ("all-r16-l02", "m64u", TARGETS, 16, 8, False, "f32", [0, 2], ["peft", "gguf"]),
    ("kvo-r8", "m128", ["k_proj", "v_proj", "o_proj"], 8, 4, False, "f32", None, ["gguf"]),
]


def factor(r, alpha, rslora):
    return alpha / np.sqrt(r) if rslora else alpha / r


def model_shapes(models_dir):
    man = json.load(open(os.path.join(models_dir, "manifest.json")))
    shapes = {}
    for m in man["models"]:
        c = m["config"]
        shapes[m["name"]] = dict(hidden=c["hidden"], kv=c["kv_heads"] * c["head_dim"], ffn=c["ffn"],
                                 layers=c["layers"])
    return shapes


def write_all(models_dir, out):
    shapes = model_shapes(models_dir)
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    manifest = {"adapters": [], "bad": []}
    for k, (name, model, targets, r, alpha, rslora, dt, layers, formats) in enumerate(GOOD):
        shape = shapes[model]
        rng = np.random.default_rng(4000 + k)
        layers = layers if layers is not None else list(range(shape["layers"]))
        lora = make_lora(rng, shape, layers, targets, r, factor(r, alpha, rslora), dt)
        d = os.path.join(out, model)
        os.makedirs(d, exist_ok=True)
        entry = dict(name=name, model=model, r=r, alpha=alpha, rslora=rslora, dtype=dt, targets=targets,
                     layers=layers, factor=float(factor(r, alpha, rslora)), paths={})
        if "peft" in formats:
            extra = {"layers_to_transform": layers} if len(layers) < shape["layers"] else {}
            write_peft(os.path.join(d, name), peft_config(r, alpha, targets, rslora, **extra), peft_tensors(lora), dt)
            entry["paths"]["peft"] = f"{model}/{name}"
        if "gguf" in formats:
            assert not rslora, "llama.cpp's converter keeps alpha as is: an rsLoRA GGUF copy would differ"
            write_gguf(os.path.join(d, name + ".gguf"), gguf_tensors(lora), dt, float(alpha))
            entry["paths"]["gguf"] = f"{model}/{name}.gguf"
        manifest["adapters"].append(entry)
    manifest["bad"] = write_bad(shapes["m64"], os.path.join(out, "bad"))
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    print(f"wrote {len(manifest['adapters'])} adapters and {len(manifest['bad'])} broken ones to {out}")


def write_bad(shape, d):
    """Broken adapters for m64. Returns [(case, path, words the error must contain)]."""
    os.makedirs(d)
    rng = np.random.default_rng(4999)
    cases = []

    def base():
        return make_lora(rng, shape, [0, 1], ["q_proj", "up_proj"], 8, 2.0, "f32")

    def peft(case, lora=None, cfg=None, tensors=None, expect=()):
        lora = lora if lora is not None else base()
        write_peft(os.path.join(d, case), cfg or peft_config(8, 16, ["q_proj", "up_proj"]),
                   tensors if tensors is not None else peft_tensors(lora), "f32")
        cases.append(dict(case=case, path=f"bad/{case}", expect=list(expect)))

    def gguf(case, lora=None, tensors=None, kvs=None, expect=()):
        lora = lora if lora is not None else base()
        write_gguf(os.path.join(d, case + ".gguf"), tensors if tensors is not None else gguf_tensors(lora),
                   "f32", 16.0, kvs)
        cases.append(dict(case=case + ".gguf", path=f"bad/{case}.gguf", expect=list(expect)))

    # rank mismatch: B of layer 0 q_proj has rank 4, A rank 8
    lora = base()
    A, B = lora[(0, "q_proj")]
    lora[(0, "q_proj")] = (A, B[:, :4].copy())
    peft("rank-mismatch", lora, expect=["adapter_model.safetensors",
                                        "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight",
                                        "[256, 4]", "[8, 256]", "rank"])
    gguf("rank-mismatch", lora, expect=["rank-mismatch.gguf", "blk.0.attn_q.weight.lora_b", "ne [4, 256]",
                                        "ne [256, 8]", "rank"])
    # made for another base: up_proj A takes 128 inputs (hidden 128), this model has 256
    lora = base()
    A, B = lora[(1, "up_proj")]
    lora[(1, "up_proj")] = (rng.standard_normal((8, 128), dtype=np.float32), B)
    peft("other-base", lora, expect=["adapter_model.safetensors",
                                     "base_model.model.model.layers.1.mlp.up_proj.lora_A.weight",
                                     "[8, 128]", "[8, 256]", "another base"])
    gguf("other-base", lora, expect=["other-base.gguf", "blk.1.ffn_up.weight.lora_a", "ne [128, 8]",
                                     "ne [256, 8]", "another base"])
    # a layer the model has not got
    lora = make_lora(rng, shape, [0, 5], ["q_proj"], 8, 2.0, "f32")
    peft("layer-oob", lora, cfg=peft_config(8, 16, ["q_proj"]),
         expect=["adapter_model.safetensors", "base_model.model.model.layers.5.self_attn.q_proj", "layer 5"])
    # target modules the model has not got
    peft("unknown-target-config", cfg=peft_config(8, 16, ["q_proj", "up_proj", "qkv_proj"]),
         expect=["adapter_config.json", "target_modules", "qkv_proj"])
    ts = peft_tensors(base())
    ts += [("base_model.model.model.layers.0.self_attn.qkv_proj.lora_A.weight", np.ones((8, 256), np.float32)),
           ("base_model.model.model.layers.0.self_attn.qkv_proj.lora_B.weight", np.ones((768, 8), np.float32))]
    peft("unknown-target", tensors=ts, expect=["adapter_model.safetensors",
                                               "base_model.model.model.layers.0.self_attn.qkv_proj.lora_A.weight",
                                               "qkv_proj"])
    ts = peft_tensors(base()) + [
        ("base_model.model.lm_head.lora_A.weight", np.ones((8, 256), np.float32)),
        ("base_model.model.lm_head.lora_B.weight", np.ones((16, 8), np.float32))]
    peft("lm-head", tensors=ts,
         expect=["adapter_model.safetensors", "base_model.model.lm_head.lora_A.weight", "lm_head"])
    ts = gguf_tensors(base()) + [("blk.0.attn_qkv.weight.lora_a", np.ones((8, 256), np.float32)),
                                 ("blk.0.attn_qkv.weight.lora_b", np.ones((768, 8), np.float32))]
    gguf("unknown-target", tensors=ts, expect=["unknown-target.gguf", "blk.0.attn_qkv.weight.lora_a", "attn_qkv"])
    # a pickle instead of safetensors
    os.makedirs(os.path.join(d, "pickle"))
    with open(os.path.join(d, "pickle", "adapter_config.json"), "w") as f:
        json.dump(peft_config(8, 16, ["q_proj"]), f)
    with open(os.path.join(d, "pickle", "adapter_model.bin"), "wb") as f:
        f.write(b"PK\x03\x04" + b"\0" * 60)      # what torch.save's zip starts with
    cases.append(dict(case="pickle", path="bad/pickle", expect=["adapter_model.bin", "safetensors", "onvert"]))
    # config keys
    for key in ("lora_alpha", "r", "target_modules"):
        c = peft_config(8, 16, ["q_proj", "up_proj"])
        del c[key]
        peft(f"missing-{key}", cfg=c, expect=["adapter_config.json", f"'{key}'"])
    peft("bias-all", cfg=peft_config(8, 16, ["q_proj", "up_proj"], bias="all"),
         expect=["adapter_config.json", "'bias'", "all"])
    peft("fan-in-fan-out", cfg=peft_config(8, 16, ["q_proj", "up_proj"], fan_in_fan_out=True),
         expect=["adapter_config.json", "fan_in_fan_out"])
    peft("dora", cfg=peft_config(8, 16, ["q_proj", "up_proj"], use_dora=True),
         expect=["adapter_config.json", "use_dora"])
    peft("rank-vs-config", cfg=peft_config(4, 16, ["q_proj", "up_proj"]),
         expect=["adapter_model.safetensors", "lora_A.weight", "r = 4"])
    # non-finite numbers
    lora = base()
    A, B = lora[(1, "up_proj")]
    B = B.copy()
    B[3, 2] = np.nan
    lora[(1, "up_proj")] = (A, B)
    peft("nan", lora, expect=["adapter_model.safetensors", "base_model.model.model.layers.1.mlp.up_proj.lora_B.weight",
                              "NaN"])
    A = A.copy()
    A[0, 0] = np.inf
    lora[(1, "up_proj")] = (A, lora[(1, "up_proj")][1])
    gguf("inf", lora, expect=["inf.gguf", "blk.1.ffn_up.weight.lora_a", "infinite"])
    # half a pair
    ts = peft_tensors(base())
    ts = [t for t in ts if t[0] != "base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight"]
    peft("missing-b", tensors=ts, expect=["adapter_model.safetensors",
                                          "base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight", "lora_B"])
    # GGUF metadata
    gguf("not-lora", kvs=[kv_str("general.architecture", "qwen2"), kv_str("general.type", "adapter"),
                          kv_str("adapter.type", "control_vector")],
         expect=["not-lora.gguf", "adapter.type", "control_vector"])
    gguf("llama-arch", kvs=[kv_str("general.architecture", "llama"), kv_str("general.type", "adapter"),
                            kv_str("adapter.type", "lora"), kv_f32("adapter.lora.alpha", 16.0)],
         expect=["llama-arch.gguf", "general.architecture", "llama"])
    return cases


def write_bench(shape_s, r, out):
    h, kv, f, layers = (int(v) for v in shape_s.split(","))
    shape = dict(hidden=h, kv=kv, ffn=f, layers=layers)
    rng = np.random.default_rng(16)
    alpha = 2 * r
    lora = make_lora(rng, shape, list(range(layers)), TARGETS, r, alpha / r, "f32")
    write_gguf(out, gguf_tensors(lora), "f32", float(alpha))
    n = sum(A.size + B.size for A, B in lora.values())
    print(f"wrote {out}: rank {r}, {len(lora)} matrices, {n * 4 / 2**20:.1f} MiB")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", help="directory with manifest.json from tests/gen_models.py")
    ap.add_argument("--out", required=True)
    ap.add_argument("--bench-shape", help="HIDDEN,KV,FFN,LAYERS: write one all-projection GGUF adapter to --out")
    ap.add_argument("--rank", type=int, default=16)
    a = ap.parse_args()
    if a.bench_shape:
        write_bench(a.bench_shape, a.rank, a.out)
    elif a.models:
        write_all(a.models, a.out)
    else:
        sys.exit("give --models DIR or --bench-shape")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""make_bad_models.py — writes deliberately broken model files for
tests/test_bad_models.sh.

  /usr/bin/python3 tests/make_bad_models.py --models tests/out/models --out tests/out/bad

Starts from the small valid m64 test models that tests/gen_models.py writes
(GGUF q8_0 and the Hugging Face f32 directory) and writes one mutated copy per
case into OUT, plus OUT/cases.tsv, one case a line:

  name <TAB> model path (relative to OUT) <TAB> expected exit code(s) <TAB> patterns...

Each pattern is a fixed string that stderr must contain; "a|b" means either.
Expected exit codes are "1" (a clean load error), "0" (the controls, which
must still load) or "0|1" (random corruptions: either is fine, a signal is
not).

The copies keep the original header (metadata, tokenizer, tensor table,
safetensors JSON) byte for byte apart from the mutation, but the tensor data
is NOT copied: the data section is left as a hole (a sparse file of zeros of
the right size), so ~200 cases cost ~600 MB of header writes (removed by
the test after a passing run) and no data. Zero weights are valid (q8_0
blocks with d = 0), so the controls still load and run. The script checks that rewriting an unmutated
header reproduces the original bytes exactly, so every difference between a
bad file and its model is the intended one.

Standard library only (no numpy).
"""
import argparse
import json
import os
import random
import shutil
import struct
import sys

# GGUF metadata value types and ggml tensor types (as in src/engine/gguf.h)
(T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32, T_FLOAT32, T_BOOL,
 T_STRING, T_ARRAY, T_UINT64, T_INT64, T_FLOAT64) = range(13)
FIXED = {T_UINT8: 1, T_INT8: 1, T_BOOL: 1, T_UINT16: 2, T_INT16: 2, T_UINT32: 4,
         T_INT32: 4, T_FLOAT32: 4, T_UINT64: 8, T_INT64: 8, T_FLOAT64: 8}
GGML_Q8_0, GGML_Q2_K, GGML_Q4_K = 8, 10, 12

HF_TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json")


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


# ---------------------------------------------------------------------------
# GGUF: parse into an editable form, write back
# ---------------------------------------------------------------------------
class Gguf:
    """kvs: list of dicts {key, type, raw} where raw is the value's bytes as
    stored after the u32 type (or {entry: bytes} for a hand-made entry);
    tensors: list of dicts {name, ne, type, offset} (or {entry: bytes})."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            head = f.read(64 << 20)      # header of the m64 model is ~5 MB
        self.file_size = os.path.getsize(path)
        p = 0

        def take(n):
            nonlocal p
            if p + n > len(head):
                sys.exit(f"{path}: header larger than expected")
            b = head[p:p + n]
            p += n
            return b

        def u32():
            return struct.unpack("<I", take(4))[0]

        def u64():
            return struct.unpack("<Q", take(8))[0]

        def skip_value(t):
            if t == T_STRING:
                take(u64())
            elif t == T_ARRAY:
                at, n = u32(), u64()
                if at == T_STRING:
                    for _ in range(n):
                        take(u64())
                else:
                    take(FIXED[at] * n)
            else:
                take(FIXED[t])

        if take(4) != b"GGUF":
            sys.exit(f"{path}: not GGUF")
        self.version = u32()
        n_tensors, n_kv = u64(), u64()
        self.kvs = []
        for _ in range(n_kv):
            key = take(u64()).decode()
            t = u32()
            s = p
            skip_value(t)
            self.kvs.append(dict(key=key, type=t, raw=head[s:p]))
        self.kv_end = p
        self.tensors = []
        for _ in range(n_tensors):
            name = take(u64()).decode()
            nd = u32()
            ne = [u64() for _ in range(nd)]
            t = u32()
            off = u64()
            self.tensors.append(dict(name=name, ne=ne, type=t, offset=off))
        self.info_end = p
        self.alignment = 32
        for kv in self.kvs:
            if kv["key"] == "general.alignment":
                self.alignment = struct.unpack("<I", kv["raw"])[0]
        self.data_offset = -(-p // self.alignment) * self.alignment
        self.data_size = self.file_size - self.data_offset
        self.orig_head = head[:self.data_offset]

    # -- lookups / edits on a copy -------------------------------------------
    def copy(self):
        c = object.__new__(Gguf)
        c.__dict__.update(self.__dict__)
        c.kvs = [dict(kv) for kv in self.kvs]
        c.tensors = [dict(t, ne=list(t["ne"])) for t in self.tensors]
        return c

    def kv(self, key):
        for kv in self.kvs:
            if kv.get("key") == key:
                return kv
        raise KeyError(key)

    def kv_index(self, key):
        return next(i for i, kv in enumerate(self.kvs) if kv.get("key") == key)

    def tensor(self, name):
        for t in self.tensors:
            if t.get("name") == name:
                return t
        raise KeyError(name)

    def drop_kv(self, key):
        self.kvs.pop(self.kv_index(key))

    # -- serialization ---------------------------------------------------------
    def kv_bytes(self, kv):
        if "entry" in kv:
            return kv["entry"]
        return gstr(kv["key"]) + struct.pack("<I", kv["type"]) + kv["raw"]

    def info_bytes(self, t):
        if "entry" in t:
            return t["entry"]
        nd = t.get("n_dims", len(t["ne"]))
        return (gstr(t["name"]) + struct.pack("<I", nd) + b"".join(struct.pack("<Q", x) for x in t["ne"]) +
                struct.pack("<IQ", t["type"], t["offset"]))

    def header(self, magic=b"GGUF", version=None, n_tensors=None, n_kv=None):
        h = (magic + struct.pack("<I", self.version if version is None else version) +
             struct.pack("<QQ", len(self.tensors) if n_tensors is None else n_tensors,
                         len(self.kvs) if n_kv is None else n_kv))
        h += b"".join(self.kv_bytes(kv) for kv in self.kvs)
        h += b"".join(self.info_bytes(t) for t in self.tensors)
        h += b"\0" * ((-len(h)) % self.alignment)
        return h

    def write(self, path, truncate=None, patch=None, **hdr):
        """Writes the header, then a hole of data_size bytes; `truncate` cuts
        the file at that size, `patch` is [(offset, bytes)] applied to the header."""
        h = bytearray(self.header(**hdr))
        for off, b in patch or []:
            h[off:off + len(b)] = b
        size = len(h) + self.data_size
        if truncate is not None:
            size = truncate
        with open(path, "wb") as f:
            f.write(h[:size])
            f.truncate(size)


def kv_raw_str(s):
    return gstr(s)


def kv_raw_u32(v):
    return struct.pack("<I", v)


# ---------------------------------------------------------------------------
# safetensors: header dict in, file with a data hole out
# ---------------------------------------------------------------------------
def read_st_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        raw = f.read(n)
    return json.loads(raw), raw, n


def st_header_bytes(hdr):
    hj = json.dumps(hdr, separators=(",", ":")).encode()
    return hj + b" " * ((8 - len(hj) % 8) % 8)


def write_st(path, hdr=None, raw_header=None, hlen=None, data_size=None, truncate=None):
    """hdr: dict (serialized as gen_models.py does) or raw_header bytes; the
    data section is a hole of data_size bytes (default: the largest end offset)."""
    hj = raw_header if raw_header is not None else st_header_bytes(hdr)
    if data_size is None:
        data_size = 0
        for k, v in (hdr or {}).items():
            if k != "__metadata__" and isinstance(v, dict) and isinstance(v.get("data_offsets"), list):
                try:
                    data_size = max(data_size, int(v["data_offsets"][1]))
                except (TypeError, ValueError, IndexError):
                    pass
    size = 8 + len(hj) + data_size
    if truncate is not None:
        size = truncate
    with open(path, "wb") as f:
        blob = struct.pack("<Q", len(hj) if hlen is None else hlen) + hj
        f.write(blob[:size])
        f.truncate(size)


DT_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
           "F8_E4M3": 1}


def relayout(hdr):
    """Recomputes sequential data_offsets from dtype x shape (in header order)."""
    off = 0
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        n = DT_SIZE[v["dtype"]]
        for d in v["shape"]:
            n *= d
        v["data_offsets"] = [off, off + n]
        off += n
    return hdr


# ---------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True, help="tests/out/models (from tests/gen_models.py)")
    ap.add_argument("--out", required=True, help="output directory (emptied first)")
    a = ap.parse_args()

    src_gguf = os.path.join(a.models, "m64", "m64-q8_0.gguf")
    src_hf = os.path.join(a.models, "m64", "hf-f32")
    for p in (src_gguf, os.path.join(src_hf, "model.safetensors"), os.path.join(src_hf, "config.json")):
        if not os.path.exists(p):
            sys.exit(f"missing {p}: run tests/fixtures.sh first")
    if os.path.isdir(a.out):
        shutil.rmtree(a.out)
    os.makedirs(a.out)
    cases = []

    def case(name, path, rc, *patterns):
        assert "\t" not in name and all("\t" not in p for p in patterns)
        cases.append("\t".join([name, path, rc] + list(patterns)))

    # ------------------------------------------------------------- GGUF
    G = Gguf(src_gguf)
    if G.header() != G.orig_head:
        sys.exit("internal error: rewriting the GGUF header does not reproduce it")

    def gg(name, rc, patterns, mutate=None, **write_args):
        """One GGUF case; the file is named after the case and the message
        must name it."""
        fn = f"{name}.gguf"
        g = G.copy()
        if mutate:
            mutate(g)
        g.write(os.path.join(a.out, fn), **write_args)
        case(name, fn, rc, fn, *patterns)

    gg("gguf-control", "0", [])

    # truncated at many points
    kv_start = {}
    p = 24
    for kv in G.kvs:
        kv_start[kv["key"]] = p
        p += len(G.kv_bytes(kv))
    val = lambda k: kv_start[k] + 8 + len(k) + 4          # noqa: E731 (start of the value)
    info0 = G.kv_end
    t0 = G.tensors[0]
    trunc_points = {
        "empty": 0,
        "magic": 3,
        "version": 6,
        "counts": 20,
        "after-counts": 24,
        "first-key": 24 + 8 + 5,
        "name-value": val("general.name") + 12,
        "tokens-count": val("tokenizer.ggml.tokens") + 7,
        "tokens": val("tokenizer.ggml.tokens") + len(G.kv("tokenizer.ggml.tokens")["raw"]) // 2,
        "token-type": val("tokenizer.ggml.token_type") + len(G.kv("tokenizer.ggml.token_type")["raw"]) // 2,
        "merges": val("tokenizer.ggml.merges") + len(G.kv("tokenizer.ggml.merges")["raw"]) // 2,
        "last-kv": G.kv_end - 3,
        "tensor-name": info0 + 8 + 4,
        "tensor-ne": info0 + 8 + len(t0["name"]) + 4 + 5,
        "tensor-type": info0 + 8 + len(t0["name"]) + 4 + 8 * len(t0["ne"]) + 2,
        "last-info": G.info_end - 1,
        "info-end": G.info_end,
        "data-start": G.data_offset,
        "embd-data": G.data_offset + 1000,
        "mid-data": G.data_offset + G.data_size // 2,
        "last-byte": G.data_offset + G.data_size - 1,
    }
    for k, off in trunc_points.items():
        gg(f"gguf-trunc-{k}", "1", ["truncat|past end|cannot fit|smaller than|absurd header counts"], truncate=off)

    # magic and version
    gg("gguf-magic", "1", ["magic"], magic=b"GGUX")
    gg("gguf-magic-ggml", "1", ["magic"], magic=b"ggml")
    for v in (0, 1, 99):
        gg(f"gguf-version-{v}", "1", [f"version {v}"], version=v)

    # metadata
    def set_str(key, s):
        return lambda g: g.kv(key).update(type=T_STRING, raw=kv_raw_str(s))

    def set_typed(key, t, raw):
        return lambda g: g.kv(key).update(type=t, raw=raw)

    gg("gguf-arch-llama", "1", ["general.architecture", "llama"], set_str("general.architecture", "llama"))
    gg("gguf-arch-missing", "1", ["general.architecture"], lambda g: g.drop_kv("general.architecture"))
    gg("gguf-arch-u32", "1", ["general.architecture", "string"],
       set_typed("general.architecture", T_UINT32, kv_raw_u32(2)))
    for key in ("qwen2.block_count", "qwen2.embedding_length", "qwen2.feed_forward_length",
                "qwen2.attention.head_count"):
        gg(f"gguf-missing-{key}", "1", [key, "missing"], lambda g, k=key: g.drop_kv(k))
    gg("gguf-block_count-string", "1", ["qwen2.block_count", "integer"],
       set_typed("qwen2.block_count", T_STRING, kv_raw_str("2")))
    gg("gguf-block_count-f32", "1", ["qwen2.block_count", "integer"],
       set_typed("qwen2.block_count", T_FLOAT32, struct.pack("<f", 2.0)))
    gg("gguf-block_count-array", "1", ["qwen2.block_count", "integer"],
       set_typed("qwen2.block_count", T_ARRAY, struct.pack("<IQI", T_UINT32, 1, 2)))
    gg("gguf-head_count-negative", "1", ["qwen2.attention.head_count", "negative"],
       set_typed("qwen2.attention.head_count", T_INT32, struct.pack("<i", -4)))
    gg("gguf-head_count-huge", "1", ["qwen2.attention.head_count", "too large|out of range"],
       set_typed("qwen2.attention.head_count", T_UINT64, struct.pack("<Q", 1 << 40)))
    gg("gguf-block_count-zero", "1", ["block_count|zero or absurd"],
       set_typed("qwen2.block_count", T_UINT32, kv_raw_u32(0)))
    gg("gguf-block_count-2e9", "1", ["block_count|zero or absurd"],
       set_typed("qwen2.block_count", T_UINT32, kv_raw_u32(2_000_000_000)))
    gg("gguf-block_count-3", "1", ["blk.2."],    # one layer more than the tensors hold
       set_typed("qwen2.block_count", T_UINT32, kv_raw_u32(3)))
    gg("gguf-head_count-3", "1", ["head count 3|head_count"],
       set_typed("qwen2.attention.head_count", T_UINT32, kv_raw_u32(3)))
    gg("gguf-head_count_kv-3", "1", ["head_count_kv|KV head count 3"],
       set_typed("qwen2.attention.head_count_kv", T_UINT32, kv_raw_u32(3)))
    gg("gguf-freq_base-string", "1", ["qwen2.rope.freq_base", "number"],
       set_typed("qwen2.rope.freq_base", T_STRING, kv_raw_str("1e6")))
    gg("gguf-rms_eps-negative", "1", ["layer_norm_rms_epsilon|rms eps|rms norm epsilon"],
       set_typed("qwen2.attention.layer_norm_rms_epsilon", T_FLOAT32, struct.pack("<f", -1.0)))
    gg("gguf-rms_eps-inf", "1", ["layer_norm_rms_epsilon|rms eps|rms norm epsilon"],
       set_typed("qwen2.attention.layer_norm_rms_epsilon", T_FLOAT32, struct.pack("<f", float("inf"))))
    gg("gguf-freq_base-nan", "1", ["freq_base|rope theta"],
       set_typed("qwen2.rope.freq_base", T_FLOAT32, struct.pack("<f", float("nan"))))
    gg("gguf-freq_base-inf", "1", ["freq_base|rope theta"],
       set_typed("qwen2.rope.freq_base", T_FLOAT32, struct.pack("<f", float("inf"))))
    gg("gguf-embedding_length-2e20", "1", ["embedding_length|absurd"],
       set_typed("qwen2.embedding_length", T_UINT32, kv_raw_u32(1 << 20)))
    gg("gguf-context_length-zero", "1", ["qwen2.context_length"],
       set_typed("qwen2.context_length", T_UINT32, kv_raw_u32(0)))
    gg("gguf-context_length-2e31", "1", ["qwen2.context_length"],
       set_typed("qwen2.context_length", T_UINT32, kv_raw_u32((1 << 31) + 5)))
    gg("gguf-embedding_length-2e31", "1", ["embedding_length|zero or absurd"],
       set_typed("qwen2.embedding_length", T_UINT32, kv_raw_u32((1 << 31) + 256)))

    def add_alignment(t, raw):
        def f(g):
            g.kvs.insert(0, dict(key="general.alignment", type=t, raw=raw))
        return f
    gg("gguf-alignment-3", "1", ["general.alignment"], add_alignment(T_UINT32, kv_raw_u32(3)))
    gg("gguf-alignment-string", "1", ["general.alignment"], add_alignment(T_STRING, kv_raw_str("32")))
    gg("gguf-kv-type-77", "1", ["general.name", "type 77"], set_typed("general.name", 77, b"\0" * 8))
    gg("gguf-array-elem-99", "1", ["general.name", "element type 99"],
       set_typed("general.name", T_ARRAY, struct.pack("<IQ", 99, 1) + b"\0" * 8))
    gg("gguf-array-of-arrays", "1", ["general.name", "element type 9"],
       set_typed("general.name", T_ARRAY, struct.pack("<IQ", T_ARRAY, 1) + b"\0" * 8))

    # absurd counts and lengths
    gg("gguf-n_tensors-2e62", "1", ["absurd"], n_tensors=1 << 62)
    gg("gguf-n_kv-2e62", "1", ["absurd"], n_kv=1 << 62)
    gg("gguf-n_kv-max", "1", ["absurd"], n_kv=(1 << 64) - 1)
    gg("gguf-n_tensors-minus-1", "1", ["output_norm.weight"], n_tensors=len(G.tensors) - 1)
    gg("gguf-n_tensors-plus-1", "1", [], n_tensors=len(G.tensors) + 1)
    gg("gguf-n_kv-plus-1", "1", [], n_kv=len(G.kvs) + 1)
    gg("gguf-n_kv-minus-1", "1", [], n_kv=len(G.kvs) - 1)
    gg("gguf-strlen-2e63", "1", ["general.name"],
       patch=[(val("general.name"), struct.pack("<Q", 1 << 63))])
    gg("gguf-keylen-2e63", "1", ["metadata key"],
       patch=[(kv_start["general.name"], struct.pack("<Q", 1 << 63))])
    gg("gguf-token-strlen-2e63", "1", ["tokenizer.ggml.tokens"],
       patch=[(val("tokenizer.ggml.tokens") + 12, struct.pack("<Q", 1 << 63))])
    gg("gguf-tokens-count-2e62", "1", ["tokenizer.ggml.tokens"],
       patch=[(val("tokenizer.ggml.tokens") + 4, struct.pack("<Q", 1 << 62))])
    gg("gguf-token_type-count-2e62", "1", ["tokenizer.ggml.token_type"],
       patch=[(val("tokenizer.ggml.token_type") + 4, struct.pack("<Q", 1 << 62))])

    # tensors
    def tset(tname, **kw):
        return lambda g: g.tensor(tname).update(**kw)

    gg("gguf-missing-tensor", "1", ["blk.1.ffn_up.weight", "missing"], tset("blk.1.ffn_up.weight", name="blk.1.ffn_upX.weight"))
    gg("gguf-missing-token_embd", "1", ["token_embd.weight"], tset("token_embd.weight", name="token_embd.weighX"))
    gg("gguf-missing-output_norm", "1", ["output_norm.weight"], tset("output_norm.weight", name="output_norm.weighX"))
    gg("gguf-missing-bias", "1", ["blk.0.attn_q.bias"], tset("blk.0.attn_q.bias", name="blk.0.attn_q.biaX"))
    gg("gguf-duplicate-tensor", "1", ["blk.1.ffn_gate.weight", "twice"], tset("blk.1.ffn_up.weight", name="blk.1.ffn_gate.weight"))
    gg("gguf-shape-attn_k", "1", ["blk.0.attn_k.weight", "64", "128"], tset("blk.0.attn_k.weight", ne=[256, 64]))
    gg("gguf-shape-swapped", "1", ["blk.0.ffn_down.weight", "[256, 512]", "[512, 256]"],
       tset("blk.0.ffn_down.weight", ne=[256, 512]))
    gg("gguf-shape-3d", "1", ["blk.0.ffn_gate.weight", "n_dims 3"], tset("blk.0.ffn_gate.weight", ne=[256, 512, 1]))
    gg("gguf-shape-norm-2d", "1", ["blk.0.attn_norm.weight"], tset("blk.0.attn_norm.weight", ne=[256, 1]))
    gg("gguf-shape-norm-len", "1", ["blk.1.ffn_norm.weight", "[128]", "[256]"], tset("blk.1.ffn_norm.weight", ne=[128]))
    gg("gguf-shape-embd-hidden", "1", ["token_embd.weight"], tset("token_embd.weight", ne=[128, 151936]))
    gg("gguf-shape-embd-1d", "1", ["token_embd.weight"], tset("token_embd.weight", ne=[256]))
    gg("gguf-shape-embd-vocab-2e30", "1", ["token_embd.weight"], tset("token_embd.weight", ne=[256, 1 << 30]))
    gg("gguf-row-not-block", "1", ["blk.0.attn_q.weight", "multiple"], tset("blk.0.attn_q.weight", ne=[250, 256]))
    gg("gguf-ne-2e60", "1", ["blk.0.ffn_up.weight", "absurd"], tset("blk.0.ffn_up.weight", ne=[256, 1 << 60]))
    gg("gguf-ne-max", "1", ["blk.0.ffn_up.weight", "absurd"], tset("blk.0.ffn_up.weight", ne=[(1 << 64) - 32, 512]))
    gg("gguf-ne-zero", "1", ["blk.0.ffn_up.weight", "absurd"], tset("blk.0.ffn_up.weight", ne=[256, 0]))
    gg("gguf-ne-product", "1", ["blk.0.ffn_up.weight", "absurd"], tset("blk.0.ffn_up.weight", ne=[1 << 30, 1 << 30]))
    gg("gguf-n_dims-5", "1", ["blk.0.ffn_up.weight", "dimensions"], tset("blk.0.ffn_up.weight", ne=[256, 512, 1, 1, 1]))
    gg("gguf-n_dims-0", "1", ["blk.0.ffn_up.weight", "dimensions"], tset("blk.0.ffn_up.weight", ne=[]))
    gg("gguf-type-99", "1", ["blk.0.ffn_up.weight", "99"], tset("blk.0.ffn_up.weight", type=99))
    gg("gguf-type-q2_K", "1", ["blk.0.ffn_up.weight", "q2_K"], tset("blk.0.ffn_up.weight", type=GGML_Q2_K))
    gg("gguf-type-q4_K-norm", "1", ["blk.0.attn_norm.weight", "q4_K"], tset("blk.0.attn_norm.weight", type=GGML_Q4_K))
    gg("gguf-type-q8_0-bias", "1", ["blk.0.attn_k.bias", "q8_0"], tset("blk.0.attn_k.bias", type=GGML_Q8_0))
    gg("gguf-offset-past-end", "1", ["blk.1.ffn_up.weight", "past end"], tset("blk.1.ffn_up.weight", offset=1 << 40))
    gg("gguf-offset-max", "1", ["blk.1.ffn_up.weight", "past end"], tset("blk.1.ffn_up.weight", offset=(1 << 64) - 32))
    gg("gguf-offset-last-tensor", "1", ["output_norm.weight", "past end"],
       tset("output_norm.weight", offset=G.data_size - 512))
    gg("gguf-offset-misaligned", "1", ["blk.1.ffn_up.weight", "align"],
       lambda g: g.tensor("blk.1.ffn_up.weight").update(offset=g.tensor("blk.1.ffn_up.weight")["offset"] + 1))

    # tokenizer metadata
    gg("gguf-tok-tokens-missing", "1", ["tokenizer.ggml.tokens"], lambda g: g.drop_kv("tokenizer.ggml.tokens"))
    gg("gguf-tok-tokens-ints", "1", ["tokenizer.ggml.tokens"],
       set_typed("tokenizer.ggml.tokens", T_ARRAY, struct.pack("<IQ", T_INT32, 151936) + b"\0" * (4 * 151936)))
    gg("gguf-tok-tokens-string", "1", ["tokenizer.ggml.tokens"], set_str("tokenizer.ggml.tokens", "hello"))
    gg("gguf-tok-tokens-empty", "1", ["tokenizer.ggml.tokens"],
       set_typed("tokenizer.ggml.tokens", T_ARRAY, struct.pack("<IQ", T_STRING, 0)))
    gg("gguf-tok-type-missing", "1", ["tokenizer.ggml.token_type"], lambda g: g.drop_kv("tokenizer.ggml.token_type"))
    gg("gguf-tok-type-floats", "1", ["tokenizer.ggml.token_type"],
       lambda g: g.kv("tokenizer.ggml.token_type").update(raw=struct.pack("<I", T_FLOAT32) + g.kv("tokenizer.ggml.token_type")["raw"][4:]))
    gg("gguf-tok-type-short", "1", ["tokenizer.ggml.token_type"],
       set_typed("tokenizer.ggml.token_type", T_ARRAY, struct.pack("<IQ", T_INT32, 1000) + struct.pack("<i", 1) * 1000))
    gg("gguf-tok-merges-missing", "1", ["tokenizer.ggml.merges"], lambda g: g.drop_kv("tokenizer.ggml.merges"))
    gg("gguf-tok-merges-ints", "1", ["tokenizer.ggml.merges"],
       set_typed("tokenizer.ggml.merges", T_ARRAY, struct.pack("<IQ", T_INT32, 2) + b"\0" * 8))
    gg("gguf-tok-merge-malformed", "1", ["tokenizer.ggml.merges", "merge 1"],
       set_typed("tokenizer.ggml.merges", T_ARRAY, struct.pack("<IQ", T_STRING, 1) + gstr("nospace")))
    gg("gguf-tok-merge-unknown", "1", ["tokenizer.ggml.merges", "not in the vocabulary"],
       set_typed("tokenizer.ggml.merges", T_ARRAY, struct.pack("<IQ", T_STRING, 1) + gstr("\u4e00\u4e01\u4e02 zzqqzz")))
    gg("gguf-tok-model-llama", "1", ["tokenizer.ggml.model", "llama"], set_str("tokenizer.ggml.model", "llama"))
    gg("gguf-tok-model-missing", "1", ["tokenizer.ggml.model"], lambda g: g.drop_kv("tokenizer.ggml.model"))
    gg("gguf-tok-pre-llama", "1", ["tokenizer.ggml.pre"], set_str("tokenizer.ggml.pre", "llama-bpe"))
    gg("gguf-tok-eos-string", "1", ["tokenizer.ggml.eos_token_id"], set_str("tokenizer.ggml.eos_token_id", "x"))

    # random corruptions of the tensor table and the small keys: any outcome
    # but a crash or a hang (exit 0 or 1)
    rng = random.Random(20241129)
    small_kv_end = kv_start["tokenizer.ggml.tokens"]
    for i in range(16):
        lo, hi = (G.kv_end, G.info_end) if i % 2 == 0 else (16, small_kv_end)
        patch = [(rng.randrange(lo, hi), bytes([rng.randrange(256)])) for _ in range(1 + i % 4)]
        gg(f"gguf-fuzz-{i:02d}", "0|1", [], patch=patch)

    # --model is a safetensors file / a directory without config.json / nothing
    shutil.copyfile(os.path.join(src_hf, "config.json"), os.path.join(a.out, "not-gguf.gguf"))
    case("gguf-is-json", "not-gguf.gguf", "1", "not-gguf.gguf", "magic|truncated")
    os.makedirs(os.path.join(a.out, "empty-dir"))
    case("dir-without-config", "empty-dir", "1", "empty-dir", "config.json")
    case("no-such-model", "no-such-model.gguf", "1", "no-such-model.gguf", "No such file|cannot open|no such file")

    # ------------------------------------------------------------- Hugging Face directory
    H, H_raw, H_len = read_st_header(os.path.join(src_hf, "model.safetensors"))
    if st_header_bytes(H) != H_raw:
        sys.exit("internal error: rewriting the safetensors header does not reproduce it")
    H_data = os.path.getsize(os.path.join(src_hf, "model.safetensors")) - 8 - H_len
    CFG = json.load(open(os.path.join(src_hf, "config.json")))

    def hf_dir(name, config=None, config_text=None, tokenizer=True):
        d = os.path.join(a.out, name)
        os.makedirs(d)
        if config_text is not None:
            with open(os.path.join(d, "config.json"), "w") as f:
                f.write(config_text)
        elif config is not False:
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump(CFG if config is None else config, f, indent=2)
        if tokenizer:
            for fn in HF_TOKENIZER_FILES:
                try:
                    os.link(os.path.join(src_hf, fn), os.path.join(d, fn))
                except OSError:
                    shutil.copyfile(os.path.join(src_hf, fn), os.path.join(d, fn))
        return d

    def hf(name, rc, patterns, hdr_mut=None, st=True, st_args=None, **dir_args):
        """One HF case: directory OUT/name; the message must name it."""
        d = hf_dir(name, **dir_args)
        if st:
            h = json.loads(json.dumps(H))
            if hdr_mut:
                hdr_mut(h)
            args = dict(hdr=h, data_size=H_data)
            args.update(st_args or {})
            write_st(os.path.join(d, "model.safetensors"), **args)
        case(name, name, rc, name, *patterns)

    hf("hf-control", "0", [])
    # header length not a multiple of 8: tensors unaligned, loaded through copies
    hf("hf-control-unaligned", "0", [], st_args=dict(raw_header=H_raw.rstrip() + b" "))

    def cfg_with(**kw):
        c = dict(CFG)
        for k, v in kw.items():
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        return c

    # config.json
    hf("hf-config-missing", "1", ["config.json"], config=False)
    hf("hf-config-not-json", "1", ["config.json", "line 3"],
       config_text='{\n  "model_type": "qwen2",\n  "hidden_size": 256,,\n}\n')
    hf("hf-config-empty", "1", ["config.json"], config_text="")
    hf("hf-config-array", "1", ["config.json", "object"], config_text="[1, 2]\n")
    hf("hf-model_type-llama", "1", ["config.json", "model_type", "llama"], config=cfg_with(model_type="llama"))
    hf("hf-model_type-missing", "1", ["config.json", "model_type"], config=cfg_with(model_type=None))
    hf("hf-hidden_size-missing", "1", ["config.json", "hidden_size"], config=cfg_with(hidden_size=None))
    hf("hf-hidden_size-string", "1", ["config.json", "hidden_size"], config=cfg_with(hidden_size="256"))
    hf("hf-hidden_size-negative", "1", ["config.json", "hidden_size"], config=cfg_with(hidden_size=-256))
    hf("hf-hidden_size-2e40", "1", ["config.json", "hidden_size"], config=cfg_with(hidden_size=1 << 40))
    hf("hf-hidden_size-float", "1", ["config.json", "hidden_size"], config=cfg_with(hidden_size=256.5))
    hf("hf-vocab_size-missing", "1", ["config.json", "vocab_size"], config=cfg_with(vocab_size=None))
    hf("hf-heads-3", "1", ["head count 3|num_attention_heads"], config=cfg_with(num_attention_heads=3))
    hf("hf-rope_theta-string", "1", ["config.json", "rope_theta"], config=cfg_with(rope_theta="1e6"))
    hf("hf-vocab_size-1000", "1", ["model.embed_tokens.weight", "[151936, 256]", "[1000, 256]"],
       config=cfg_with(vocab_size=1000))
    hf("hf-layers-3", "1", ["model.layers.2."], config=cfg_with(num_hidden_layers=3))
    hf("hf-untied-no-lm_head", "1", ["lm_head.weight", "missing"], config=cfg_with(tie_word_embeddings=False))

    # model.safetensors
    hf("hf-st-missing", "1", ["model.safetensors"], st=False)
    hf("hf-st-empty", "1", ["model.safetensors", "truncated"], st_args=dict(truncate=0))
    hf("hf-st-4-bytes", "1", ["model.safetensors", "truncated"], st_args=dict(truncate=4))
    hf("hf-st-trunc-header", "1", ["model.safetensors", "header length"], st_args=dict(truncate=8 + H_len // 2))
    hf("hf-st-trunc-data", "1", ["model.safetensors", "model.embed_tokens.weight", "past end"],
       st_args=dict(truncate=8 + H_len + 1000))
    hf("hf-st-trunc-last-byte", "1", ["model.safetensors", "model.norm.weight", "past end"],
       st_args=dict(truncate=8 + H_len + H_data - 1))
    hf("hf-st-hlen-past-eof", "1", ["model.safetensors", "header length"], st_args=dict(hlen=1 << 40))
    hf("hf-st-hlen-max", "1", ["model.safetensors", "header length"], st_args=dict(hlen=(1 << 64) - 1))
    hf("hf-st-hlen-short", "1", ["model.safetensors", "JSON"], st_args=dict(hlen=H_len // 2))
    hf("hf-st-header-not-json", "1", ["model.safetensors", "JSON"],
       st_args=dict(raw_header=b'{"model.norm.weight": {"dtype": "F32",, }}'))
    hf("hf-st-header-array", "1", ["model.safetensors", "object"], st_args=dict(raw_header=b"[1, 2, 3]"))
    hf("hf-st-header-binary", "1", ["model.safetensors", "JSON"], st_args=dict(raw_header=bytes(range(256)) * 4))
    hf("hf-st-duplicate-key", "1", ["model.safetensors", "model.norm.weight"],
       st_args=dict(raw_header=H_raw.rstrip()[:-1] + b',"model.norm.weight":' +
                    json.dumps(H["model.norm.weight"]).encode() + b"}"))

    def stset(tname, **kw):
        return lambda h: h[tname].update(**kw)

    Q0 = "model.layers.0.self_attn.q_proj.weight"
    K0 = "model.layers.0.self_attn.k_proj.weight"
    N0 = "model.layers.0.input_layernorm.weight"
    UP1 = "model.layers.1.mlp.up_proj.weight"
    hf("hf-st-dtype-I64", "1", ["model.safetensors", Q0, "I64"],
       lambda h: relayout(stset(Q0, dtype="I64")(h) or h), st_args=dict(data_size=None))
    hf("hf-st-dtype-I64-norm", "1", ["model.safetensors", N0, "I64"],
       lambda h: relayout(stset(N0, dtype="I64")(h) or h), st_args=dict(data_size=None))
    hf("hf-st-dtype-F8_E4M3", "1", ["model.safetensors", Q0, "F8_E4M3"],
       lambda h: relayout(stset(Q0, dtype="F8_E4M3")(h) or h), st_args=dict(data_size=None))
    hf("hf-st-dtype-missing", "1", ["model.safetensors", Q0, "dtype"], lambda h: h[Q0].pop("dtype"))
    hf("hf-st-dtype-int", "1", ["model.safetensors", Q0, "dtype"], stset(Q0, dtype=4))
    hf("hf-st-entry-not-object", "1", ["model.safetensors", Q0], lambda h: h.__setitem__(Q0, [1, 2]))
    hf("hf-st-offsets-past-end", "1", ["model.safetensors", UP1, "past end"],
       stset(UP1, data_offsets=[H_data, H_data + 512 * 256 * 4]))
    hf("hf-st-offsets-2e62", "1", ["model.safetensors", UP1],
       stset(UP1, data_offsets=[1 << 62, (1 << 62) + 512 * 256 * 4]))
    hf("hf-st-offsets-reversed", "1", ["model.safetensors", UP1, "data_offsets"],
       lambda h: h[UP1].update(data_offsets=h[UP1]["data_offsets"][::-1]))
    hf("hf-st-offsets-negative", "1", ["model.safetensors", UP1, "data_offsets"],
       stset(UP1, data_offsets=[-4, 512 * 256 * 4 - 4]))
    hf("hf-st-offsets-three", "1", ["model.safetensors", UP1, "data_offsets"], stset(UP1, data_offsets=[0, 1, 2]))
    hf("hf-st-size-mismatch", "1", ["model.safetensors", UP1, "does not match"],
       lambda h: h[UP1].update(data_offsets=[h[UP1]["data_offsets"][0], h[UP1]["data_offsets"][1] - 4]))
    hf("hf-st-overlap", "1", ["model.safetensors", "overlap"],
       lambda h: h[K0].update(data_offsets=[h[Q0]["data_offsets"][0], h[Q0]["data_offsets"][0] + 128 * 256 * 4]))
    hf("hf-st-missing-tensor", "1", [UP1, "missing"], lambda h: h.pop(UP1))
    hf("hf-st-missing-embed", "1", ["model.embed_tokens.weight", "missing"], lambda h: h.pop("model.embed_tokens.weight"))
    hf("hf-st-shape-q_proj", "1", ["model.safetensors", Q0, "[256, 128]", "[256, 256]"],
       lambda h: relayout(stset(Q0, shape=[256, 128])(h) or h))
    hf("hf-st-shape-3d", "1", ["model.safetensors", Q0, "3 dims"],
       lambda h: relayout(stset(Q0, shape=[256, 256, 1])(h) or h))
    hf("hf-st-shape-1d", "1", ["model.safetensors", Q0, "1 dims"],
       lambda h: relayout(stset(Q0, shape=[65536])(h) or h))
    hf("hf-st-shape-scalar", "1", ["model.safetensors", N0, "0 dims"],
       lambda h: relayout(stset(N0, shape=[])(h) or h))
    hf("hf-st-shape-norm", "1", ["model.safetensors", N0, "[128]", "[256]"],
       lambda h: relayout(stset(N0, shape=[128])(h) or h))
    hf("hf-st-shape-negative", "1", ["model.safetensors", Q0, "shape"], stset(Q0, shape=[-256, -256]))
    hf("hf-st-shape-huge", "1", ["model.safetensors", Q0, "shape"], stset(Q0, shape=[1 << 41, 256]))
    hf("hf-st-shape-product", "1", ["model.safetensors", Q0, "shape"], stset(Q0, shape=[1 << 30, 1 << 30]))
    hf("hf-st-shape-9d", "1", ["model.safetensors", Q0, "dimensions"], stset(Q0, shape=[1] * 9))

    # tokenizer files
    hf("hf-tokenizer-missing", "1", ["tokenizer"], tokenizer=False)
    d = os.path.join(a.out, "hf-tokenizer-not-json")
    hf("hf-tokenizer-not-json", "1", ["tokenizer.json"], tokenizer=False)
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        f.write('{"model": {"type": "BPE", "vocab": {"a": 0,}}}')

    # sharded: two shards + index (made from the same header), then broken indexes
    names = [k for k in H if k != "__metadata__"]
    cut = next(i for i, n in enumerate(names) if n.startswith("model.layers.1."))
    groups = [names[:cut], names[cut:]]
    shard_fn = [f"model-{k + 1:05d}-of-00002.safetensors" for k in range(2)]

    def sharded(name, rc, patterns, index=None, index_text=None, skip_in_shard=()):
        d = hf_dir(name)
        wmap = {}
        for fn, g in zip(shard_fn, groups):
            h = {"__metadata__": {"format": "pt"}}
            for n in g:
                if n not in skip_in_shard:
                    h[n] = dict(H[n])
                wmap[n] = fn
            write_st(os.path.join(d, fn), hdr=relayout(h))
        idx = {"metadata": {"total_size": H_data}, "weight_map": wmap}
        if index:
            index(idx)
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            f.write(index_text if index_text is not None else json.dumps(idx, indent=2))
        case(name, name, rc, name, *patterns)

    sharded("hf-shard-control", "0", [])
    sharded("hf-shard-missing-file", "1", ["model-00003-of-00003.safetensors"],
            lambda i: i["weight_map"].update({UP1: "model-00003-of-00003.safetensors"}))
    sharded("hf-shard-dotdot", "1", ["../x", "model.safetensors.index.json"],
            lambda i: i["weight_map"].update({UP1: "../x"}))
    sharded("hf-shard-absolute", "1", ["/etc/passwd", "model.safetensors.index.json"],
            lambda i: i["weight_map"].update({UP1: "/etc/passwd"}))
    sharded("hf-shard-dot-dot-only", "1", ["model.safetensors.index.json", UP1],
            lambda i: i["weight_map"].update({UP1: ".."}))
    sharded("hf-shard-empty-name", "1", ["model.safetensors.index.json|not a regular file"],
            lambda i: i["weight_map"].update({UP1: ""}))
    sharded("hf-shard-is-dir", "1", ["model.safetensors.index.json|not a regular file", "."],
            lambda i: i["weight_map"].update({UP1: "."}))
    sharded("hf-shard-index-not-json", "1", ["model.safetensors.index.json", "line"], index_text="{\"weight_map\": }")
    sharded("hf-shard-no-weight_map", "1", ["model.safetensors.index.json", "weight_map"],
            lambda i: i.pop("weight_map"))
    sharded("hf-shard-map-int", "1", ["model.safetensors.index.json", UP1],
            lambda i: i["weight_map"].update({UP1: 7}))
    sharded("hf-shard-tensor-absent", "1", [UP1, "missing"], skip_in_shard=(UP1,))

    with open(os.path.join(a.out, "cases.tsv"), "w") as f:
        f.write("\n".join(cases) + "\n")
    print(f"{len(cases)} cases in {a.out}")


if __name__ == "__main__":
    main()

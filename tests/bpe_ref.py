#!/usr/bin/env python3
"""bpe_ref.py — an independent oracle for `sqlassist train-tokenizer`.

Shares no code with the C side: it reads the JSONL rows itself, renders the
sql-create-context prompt (as src/agent/prompt.c documents it), pre-tokenizes
with the Qwen2 regex (the `regex` module: \\p{L}, \\p{N}) after NFC, maps
bytes to GPT-2's byte-level alphabet, and learns BPE merges by recounting
every pair from scratch at every step (slow and obviously right), with the
documented tie-break: highest count, then the smallest left string, then the
smallest right string (Python compares code points, which is strcmp on
UTF-8). It reads the GGUF sqlassist wrote with its own small parser.

  bpe_ref.py train  --data F.jsonl --vocab N --gguf TOK.gguf
      learns N regular tokens and checks tokens, token types, merges and
      the end token of TOK.gguf against them;
  bpe_ref.py texts  --data F.jsonl --out texts.jsonl
      writes each row's prompt and answer (the texts training tokenizes) as
      JSON strings, one per line, for `sqlassist tokenize --jsonl`;
  bpe_ref.py encode --gguf TOK.gguf --texts texts.jsonl --ids ids.jsonl
      checks that the ids sqlassist gave decode (through the vocabulary) to
      each text, and equal this file's own BPE encoding of it (Hugging
      Face's order: lowest merge rank first, then leftmost).

Exit status 0 when everything matches; 1 with the first differences.
"""
import argparse
import json
import struct
import sys
import unicodedata

import regex

QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
PRE = regex.compile(QWEN2_PATTERN)
CONTROL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


B2U = bytes_to_unicode()
U2B = {u: b for b, u in B2U.items()}
# Qwen2's ids 0-255: the byte characters in code point order
BYTE_TOKENS = sorted(B2U.values())


# ---- data ---------------------------------------------------------------------

def defang(s):
    return s.replace("<|", "< |")


def scc_context(schema):
    lines = schema.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    plain = all(not l or (l.endswith(";") and ";" not in l[:-1] and l.startswith("CREATE ")) for l in lines)
    if not plain:
        return defang(schema)
    return defang("; ".join(l[:-1] for l in lines if l))


def render_prompt(context, question):
    out = "### Context:\n" + scc_context(context)
    if not out.endswith("\n"):
        out += "\n"
    return out + "### Question:\n" + defang(question) + "\n### SQL:\n"


def row_texts(path):
    """(prompt, answer) of each usable row, in file order."""
    out = []
    with open(path, "rb") as f:
        for raw in f:
            try:
                line = raw.decode("utf-8")
                o = json.loads(line)
            except (UnicodeDecodeError, ValueError):
                continue
            if not isinstance(o, dict):
                continue
            vals = [o.get(k) for k in ("question", "context", "answer")]
            if not all(isinstance(v, str) and v.strip(" \t\n\r") for v in vals):
                continue
            q, c, a = vals
            out.append((render_prompt(c, q), defang(a)))
    return out


def pieces(text):
    """The pre-tokenized pieces of one text (NFC first), as byte-level strings."""
    text = unicodedata.normalize("NFC", text)
    out, pos = [], 0
    for m in PRE.finditer(text):
        if m.start() > pos:
            out.append(text[pos:m.start()])
        out.append(m.group(0))
        pos = m.end()
    if pos < len(text):
        out.append(text[pos:])
    return ["".join(B2U[b] for b in p.encode("utf-8")) for p in out if p]


# ---- learning -----------------------------------------------------------------

def learn(texts, n_regular):
    freq = {}
    for t in texts:
        for p in pieces(t):
            freq[p] = freq.get(p, 0) + 1
    words = [(list(w), f) for w, f in freq.items()]
    vocab = list(BYTE_TOKENS)
    known = set(vocab)
    merges = []
    while len(vocab) < n_regular:
        counts = {}
        for syms, f in words:
            for pair in zip(syms, syms[1:]):
                counts[pair] = counts.get(pair, 0) + f
        if not counts:
            break
        (a, b), _ = min(counts.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1]))
        merges.append(a + " " + b)
        m = a + b
        if m not in known:
            known.add(m)
            vocab.append(m)
        for syms, _ in words:
            i, out = 0, []
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    out.append(m)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            syms[:] = out
    return vocab, merges


# ---- GGUF ---------------------------------------------------------------------

def read_gguf_kv(path):
    data = open(path, "rb").read()
    if data[:4] != b"GGUF":
        raise ValueError(f"{path}: not GGUF")
    pos = 4
    fixed = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, data, pos)[0]
        pos += struct.calcsize(fmt)
        return v

    def string():
        nonlocal pos
        n = take("<Q")
        s = data[pos:pos + n].decode("utf-8")
        pos += n
        return s

    def value(t):
        if t == 8:
            return string()
        if t == 9:
            at, n = take("<I"), take("<Q")
            return [value(at) for _ in range(n)]
        return take(fixed[t])

    version, n_tensors, n_kv = take("<I"), take("<Q"), take("<Q")
    assert version == 3 and n_tensors == 0, (version, n_tensors)
    kv = {}
    for _ in range(n_kv):
        k = string()
        kv[k] = value(take("<I"))
    return kv


# ---- encoding -----------------------------------------------------------------

class Encoder:
    def __init__(self, tokens, merges):
        self.id = {t: i for i, t in enumerate(tokens)}
        self.rank = {}
        for r, m in enumerate(merges):
            a, b = m.split(" ")     # byte-level strings hold no space
            self.rank[(a, b)] = r   # a repeated merge keeps its last rank, as the engine does
        self.cache = {}

    def piece(self, p):
        if p in self.cache:
            return self.cache[p]
        syms = list(p)
        while len(syms) > 1:
            best = None
            for i in range(len(syms) - 1):
                r = self.rank.get((syms[i], syms[i + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            i = best[1]
            syms[i:i + 2] = [syms[i] + syms[i + 1]]
        ids = [self.id[s] for s in syms]
        self.cache[p] = ids
        return ids

    def encode(self, text):
        return [i for p in pieces(text) for i in self.piece(p)]


def decode(tokens, ids):
    return bytes(U2B[c] for i in ids for c in tokens[i]).decode("utf-8")


# ---- commands -----------------------------------------------------------------

def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i, x, y
    n = min(len(a), len(b))
    return n, a[n] if n < len(a) else "(end)", b[n] if n < len(b) else "(end)"


def cmd_train(args):
    rows = row_texts(args.data)
    texts = [t for pa in rows for t in pa]
    vocab, merges = learn(texts, args.vocab)
    kv = read_gguf_kv(args.gguf)
    ok = True

    def check(cond, msg):
        nonlocal ok
        if not cond:
            print("MISMATCH:", msg)
            ok = False

    tokens, types, gm = kv["tokenizer.ggml.tokens"], kv["tokenizer.ggml.token_type"], kv["tokenizer.ggml.merges"]
    check(kv.get("tokenizer.ggml.model") == "gpt2" and kv.get("tokenizer.ggml.pre") == "qwen2", "model/pre keys")
    check(tokens[:len(vocab)] == vocab,
          f"regular tokens: sqlassist has {len(tokens) - 3}, oracle {len(vocab)}; first difference {first_diff(tokens, vocab)}")
    check(tokens[len(vocab):] == CONTROL, f"control tokens {tokens[len(vocab):]}")
    check(types == [1] * len(vocab) + [3] * 3, "token types")
    check(gm == merges, f"merges: sqlassist {len(gm)}, oracle {len(merges)}; first difference {first_diff(gm, merges)}")
    end = len(vocab)
    for k in ("eos", "bos", "padding"):
        check(kv.get(f"tokenizer.ggml.{k}_token_id") == end, f"{k}_token_id {kv.get(f'tokenizer.ggml.{k}_token_id')} != {end}")
    print(f"oracle: {len(rows)} rows, {len(merges)} merges, {len(vocab)} regular tokens; "
          f"longest token {max(vocab, key=len)!r}; {'same' if ok else 'DIFFERENT'} as sqlassist")
    return 0 if ok else 1


def cmd_texts(args):
    with open(args.out, "w") as f:
        for p, a in row_texts(args.data):
            f.write(json.dumps(p) + "\n")
            f.write(json.dumps(a) + "\n")
    return 0


def cmd_encode(args):
    kv = read_gguf_kv(args.gguf)
    tokens, merges = kv["tokenizer.ggml.tokens"], kv["tokenizer.ggml.merges"]
    n_regular = len(tokens) - 3
    enc = Encoder(tokens[:n_regular], merges)
    texts = [json.loads(l) for l in open(args.texts)]
    ids = [json.loads(l) for l in open(args.ids)]
    if len(texts) != len(ids):
        print(f"MISMATCH: {len(texts)} texts but {len(ids)} id lines")
        return 1
    bad = 0
    n_bytes = n_ids = 0
    for k, (t, got) in enumerate(zip(texts, ids)):
        want_text = unicodedata.normalize("NFC", t)
        if any(not 0 <= i < n_regular for i in got):
            print(f"MISMATCH text {k}: ids outside the regular tokens: {got}")
            bad += 1
            continue
        back = decode(tokens, got)
        mine = enc.encode(t)
        if back != want_text or mine != got:
            bad += 1
            if bad <= 5:
                print(f"MISMATCH text {k}: {t!r}\n  sqlassist ids {got}\n  oracle ids    {mine}\n  decoded {back!r}")
        n_bytes += len(want_text.encode("utf-8"))
        n_ids += len(got)
    print(f"encode: {len(texts)} texts, {n_bytes} bytes -> {n_ids} tokens ({n_bytes / max(n_ids, 1):.2f} bytes/token), "
          f"{bad} mismatches")
    return 0 if bad == 0 else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("train")
    p.add_argument("--data", required=True)
    p.add_argument("--vocab", type=int, required=True)
    p.add_argument("--gguf", required=True)
    p = sub.add_parser("texts")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("encode")
    p.add_argument("--gguf", required=True)
    p.add_argument("--texts", required=True)
    p.add_argument("--ids", required=True)
    args = ap.parse_args()
    return {"train": cmd_train, "texts": cmd_texts, "encode": cmd_encode}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""average_gguf.py — the weighted mean of two f32 GGUF models of the same
shapes (a "model soup"): every f32 tensor becomes (1 - t) * A + t * B; the
header, metadata and tokenizer are A's.

  /usr/bin/python3 scripts/average_gguf.py A.gguf B.gguf OUT.gguf [--t 0.5]

For two trainings that start from the same weights (a fine-tune B of A,
models/make-bundled.sh), the mean often keeps what each learnt. Refuses
files whose tensors differ in name, shape or type, and any tensor that is
not f32 (average the trainer's f32 model.gguf, then quantize).

Needs numpy.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'bench'))
from gguf_to_hf import GGML_F32, read_gguf  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('a')
    ap.add_argument('b')
    ap.add_argument('out')
    ap.add_argument('--t', type=float, default=0.5, help="B's weight, 0..1 (default 0.5)")
    args = ap.parse_args()
    if not 0.0 <= args.t <= 1.0:
        sys.exit(f'--t {args.t}: must be between 0 and 1')
    _, ta, da, ma = read_gguf(args.a)
    _, tb, db, mb = read_gguf(args.b)
    if [(n, ne, t) for n, ne, t, _ in ta] != [(n, ne, t) for n, ne, t, _ in tb]:
        sys.exit(f'{args.a} and {args.b}: tensors differ in name, shape or type')
    out = bytearray(ma[:])
    for (name, ne, t, off), (_, _, _, offb) in zip(ta, tb):
        if t != GGML_F32:
            sys.exit(f'{args.a}: tensor {name} is type {t}, not f32')
        n = int(np.prod(ne))
        x = np.frombuffer(ma, np.float32, n, da + off).astype(np.float64)
        y = np.frombuffer(mb, np.float32, n, db + offb).astype(np.float64)
        out[da + off:da + off + 4 * n] = ((1.0 - args.t) * x + args.t * y).astype(np.float32).tobytes()
    with open(args.out, 'wb') as f:
        f.write(out)
    print(f'wrote {args.out}: {len(ta)} tensors, {1 - args.t:g} x {args.a} + {args.t:g} x {args.b}')


if __name__ == '__main__':
    main()

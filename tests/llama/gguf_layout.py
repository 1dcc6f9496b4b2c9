"""gguf_layout.py — the tensor table of a GGUF file, read with the standard
library: shared by tests/test_llamacpp.sh (which corrupts chosen blocks) and
bench/speed.sh (which counts the bytes read per token).

    buf, tensors, data_offset = read_layout(path, limit=None)
    tensors[name] = (ne, ggml_type, offset_in_data_section)
"""
import struct

# metadata value type -> size in bytes (8 = string, 9 = array are variable)
_SZ = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
# ggml type -> (elements per block, bytes per block)
BLOCK = {0: (1, 4), 1: (1, 2), 30: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24),
         8: (32, 34), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210)}


def read_layout(path, limit=None):
    with open(path, "rb") as f:
        buf = f.read() if limit is None else f.read(limit)
    pos = 4

    def rd(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, buf, pos)
        pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def rstr():
        nonlocal pos
        n = rd("<Q")
        pos += n
        return buf[pos - n:pos].decode()

    def skipval(t):
        nonlocal pos
        if t == 8:
            rstr()
        elif t == 9:
            at, n = rd("<I"), rd("<Q")
            if at == 8:
                for _ in range(n):
                    rstr()
            else:
                pos += _SZ[at] * n
        else:
            pos += _SZ[t]

    _, n_t, n_kv = rd("<I"), rd("<Q"), rd("<Q")
    for _ in range(n_kv):
        rstr()
        skipval(rd("<I"))
    tensors = {}
    for _ in range(n_t):
        name = rstr()
        nd = rd("<I")
        ne = [rd("<Q") for _ in range(nd)]
        tensors[name] = (ne, rd("<I"), rd("<Q"))
    return buf, tensors, (pos + 31) // 32 * 32


def tensor_bytes(ne, typ):
    n = 1
    for x in ne:
        n *= x
    bs, bb = BLOCK[typ]
    return n // bs * bb

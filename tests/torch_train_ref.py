#!/usr/bin/python3
"""torch_train_ref.py — the PyTorch autograd oracle for `sqlassist train`.

`sqlassist train --dump-grads DIR` writes, for every optimizer step,
DIR/step-NNNNNN.safetensors: the step's micro-batches (token ids, targets,
sequence offsets), every trainable parameter before the update ("param.*"),
the accumulated gradient before clipping ("grad.*") and a JSON "meta" (loss,
grad norm, lr, and the run settings: model shape, LoRA settings, optimizer).
After the last step DIR/final.safetensors holds the parameters. This script
rebuilds the same model in PyTorch, written here from the architecture (no
code shared with the C trainer), and checks it:

  grads --dump DIR [--base MODEL] [--tol 1e-4]
      For every step: loss and gradients of every parameter by PyTorch
      autograd in float64 (from C's float32 parameters of that step), against
      C's. The error of a tensor is max|g_c - g_t| / max|g_t| (the infinity
      norm of the difference relative to that of the reference); "model" is
      the same over all parameters together. Every tensor must be within tol.
      With --bf16 the reference rounds the operands of every linear product
      (forward, dx and dW; LoRA and the output head too) to bfloat16 as
      `sqlassist train --precision bf16` does, and sums them in float64.

  adamw --dump DIR [--base MODEL] [--tol 1e-4]
      Replays the run in float32 with torch.optim.AdamW (decay on matrices
      only), torch.nn.utils.clip_grad_norm_ and the warm-up + cosine schedule
      computed here, starting from C's initial parameters but never reading
      C's later ones, and compares the parameters after every step with C's:
      max|p_c - p_t| / max|p_t - p_0| (the difference relative to how far the
      run moved the tensor) must be within tol, and the learning rate and
      loss must agree. With --c-grads the update uses C's gradients instead,
      which checks AdamW, clipping and the schedule alone (the tests use 2e-5:
      one float32 ulp of a weight near 1 moved by lr 1e-2 is 1.2e-5).
      With --l2 the criterion is ||p_c - p_t||_2 / ||p_t - p_0||_2 over all
      parameters together, for the replay with torch's own gradients: Adam
      divides each element's step by that element's own gradient size, so an
      element whose gradient is ~1e-6 of the largest (and carries float32
      summation noise of about its own size, in C and in torch alike) moves
      differently in the two; the max norm then reports that one element
      (~1e-2 of the update for LoRA A after B leaves zero), the L2 norm the
      run as a whole (the tests use 1e-3; observed ~1e-4).

  bench --dump DIR [--steps N] [--threads 2] [--mm torch|dnnl]
      Times forward + backward + AdamW in float32 PyTorch on the batches of
      DIR (cycled), for bench/train_speed.sh. Prints "tokens_per_s X".
      --mm dnnl runs the linear layers' products through oneDNN (a custom
      autograd function) instead of torch's default BLAS.

--base MODEL: the frozen base of a LoRA run (GGUF or HF directory, read by
tests/torch_ref.py's loaders, which dequantize q8_0/f16/bf16 exactly).
"""
import argparse
import glob
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

PROJ = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
PARENT = {"q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn", "o_proj": "self_attn",
          "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp"}


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------
def read_st(path):
    with open(path, "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(hlen))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b0, b1 = info["data_offsets"]
        dt = {"F32": "<f4", "I32": "<i4", "U8": "u1"}[info["dtype"]]
        out[name] = np.frombuffer(data[b0:b1], dtype=dt).reshape(info["shape"]).copy()
    return out


def step_files(d):
    files = sorted(glob.glob(os.path.join(d, "step-*.safetensors")))
    if not files:
        raise SystemExit(f"{d}: no step-*.safetensors (run sqlassist train --dump-grads {d})")
    return files


def meta_of(st):
    return json.loads(bytes(st["meta"]).decode())


def batches_of(st, meta):
    out = []
    for i in range(meta["n_micro"]):
        # a tree-packed micro-batch (--share-prefix) also says which keys each token sees
        tree = None
        if f"batch.{i}.ctx_end" in st:
            tree = (st[f"batch.{i}.ctx_end"].astype(np.int64), st[f"batch.{i}.run_start"].astype(np.int64))
        out.append((st[f"batch.{i}.tokens"].astype(np.int64), st[f"batch.{i}.targets"].astype(np.int64),
                    st[f"batch.{i}.seq_start"].astype(np.int64), tree))
    return out


# ---------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------
def mm_torch(x, w):
    return x @ w.T


def _dnnl(a, b):
    return torch._C._nn.mkldnn_linear(a.contiguous().to_mkldnn(), b.contiguous().to_mkldnn(), None).to_dense()


class DnnlLinear(torch.autograd.Function):
    """x @ w.T with every product (forward, dx = g @ w, dw = g.T @ x) run by
    oneDNN: Debian's torch sends plain float32 matmuls to the reference
    BLAS, which is far slower than its bundled oneDNN (bench only)."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return _dnnl(x, w)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return _dnnl(g, w.t()), _dnnl(g.t(), x.t())


def mm_dnnl(x, w):
    return DnnlLinear.apply(x, w)


def bf16r(t):
    """t rounded to bfloat16 (to nearest, ties to even), in t's dtype."""
    return t.to(torch.bfloat16).to(t.dtype)


class Bf16Linear(torch.autograd.Function):
    """x @ w.T as `sqlassist train --precision bf16` computes every linear
    product: both operands of the forward product and of each backward one
    (dx = g @ w, dw = g.T @ x) rounded to bfloat16, the sums exact here
    (float64) where C's are float32."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return bf16r(x) @ bf16r(w).T

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        g = bf16r(g)
        return g @ bf16r(w), g.T @ bf16r(x)


def mm_bf16(x, w):
    return Bf16Linear.apply(x, w)


class Net:
    """Qwen2 over packed sequences. `w` holds every tensor by its Hugging Face
    name (frozen base or trained), `lora` maps (layer, proj) -> (A, B)."""

    def __init__(self, cfg, w, lora=None, lora_s=0.0, dtype=torch.float64):
        self.c, self.w, self.lora, self.s, self.dtype = cfg, w, lora or {}, lora_s, dtype
        self.mm = mm_torch
        self.D = cfg["hidden"] // cfg["heads"]
        self.head = w["model.embed_tokens.weight"] if cfg["tied"] else w["lm_head.weight"]
        self._rope = {}

    def rope_tables(self, n):
        if n not in self._rope:
            # the angles in float32 arithmetic, as the engine computes them
            D = self.D
            inv = 1.0 / torch.pow(torch.tensor(self.c["rope_theta"], dtype=torch.float32),
                                  torch.arange(0, D, 2, dtype=torch.float32) / D)
            ang = torch.arange(n, dtype=torch.float32)[:, None] * inv[None, :]
            cos, sin = torch.cos(ang), torch.sin(ang)
            self._rope[n] = (torch.cat([cos, cos], -1).to(self.dtype), torch.cat([sin, sin], -1).to(self.dtype))
        return self._rope[n]

    def lin(self, x, l, proj, bias):
        p = f"model.layers.{l}.{PARENT[proj]}.{proj}."
        y = self.mm(x, self.w[p + "weight"])
        if bias:
            y = y + self.w[p + "bias"]
        if (l, proj) in self.lora:
            A, B = self.lora[(l, proj)]
            y = y + self.s * self.mm(self.mm(x, A), B)
        return y

    def rms(self, x, name):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.c["rms_eps"]) * self.w[name]

    def rot(self, x, cos, sin):
        h = self.D // 2
        return x * cos + torch.cat([-x[..., h:], x[..., :h]], -1) * sin

    def loss_sum(self, tokens, targets, seq_start, tree=None):
        c, D = self.c, self.D
        H, G = c["heads"], c["kv_heads"]
        x = self.w["model.embed_tokens.weight"][torch.from_numpy(tokens)]
        N = x.shape[0]
        for l in range(c["layers"]):
            p = f"model.layers.{l}."
            h = self.rms(x, p + "input_layernorm.weight")
            q = self.lin(h, l, "q_proj", True)
            k = self.lin(h, l, "k_proj", True)
            v = self.lin(h, l, "v_proj", True)
            outs = []
            for s in range(len(seq_start) - 1):
                a, b = int(seq_start[s]), int(seq_start[s + 1])
                n = b - a
                if tree is None:
                    pos = torch.arange(n)
                    mask = torch.triu(torch.ones(n, n, dtype=torch.bool), 1)
                else:
                    # token i sees keys [0, ce) (the shared prompt) and [rs, i] (its own
                    # run), at the position it has in its example alone
                    ce = torch.from_numpy(tree[0][a:b] - a)
                    rs = torch.from_numpy(tree[1][a:b] - a)
                    pos = ce + torch.arange(n) - rs
                    j = torch.arange(n)[None, :]
                    i = torch.arange(n)[:, None]
                    mask = ~((j < ce[:, None]) | ((j >= rs[:, None]) & (j <= i)))
                cos, sin = self.rope_tables(n)
                cos, sin = cos[pos], sin[pos]
                qs = self.rot(q[a:b].view(n, H, D).transpose(0, 1), cos, sin)
                ks = self.rot(k[a:b].view(n, G, D).transpose(0, 1), cos, sin).repeat_interleave(H // G, 0)
                vs = v[a:b].view(n, G, D).transpose(0, 1).repeat_interleave(H // G, 0)
                sc = (qs @ ks.transpose(1, 2)) / math.sqrt(D)
                att = torch.softmax(sc.masked_fill(mask, float("-inf")), -1)
                outs.append((att @ vs).transpose(0, 1).reshape(n, H * D))
            x = x + self.lin(torch.cat(outs, 0), l, "o_proj", False)
            h = self.rms(x, p + "post_attention_layernorm.weight")
            g = self.lin(h, l, "gate_proj", False)
            u = self.lin(h, l, "up_proj", False)
            x = x + self.lin(torch.nn.functional.silu(g) * u, l, "down_proj", False)
        x = self.rms(x, "model.norm.weight")
        sel = torch.from_numpy(np.nonzero(targets >= 0)[0])
        logits = self.mm(x[sel], self.head)
        tg = torch.from_numpy(targets[targets >= 0])
        return torch.nn.functional.cross_entropy(logits, tg, reduction="sum"), int(sel.numel())


def model_cfg(meta):
    m = meta["run"]["model"]
    return dict(vocab=m["vocab"], hidden=m["hidden"], ffn=m["ffn"], layers=m["layers"], heads=m["heads"],
                kv_heads=m["kv_heads"], rope_theta=m["rope_theta"], rms_eps=m["rms_eps"], tied=m["tied"])


def lora_key(name):
    # base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight
    parts = name.split(".")
    return int(parts[4]), parts[6], parts[7]


def build(meta, params, base, dtype, requires_grad):
    """Returns (net, {name: leaf tensor}) with the trainable tensors taken
    from `params` (numpy, by the C names) and the frozen ones from base."""
    cfg = model_cfg(meta)
    leaves = {n: torch.tensor(v, dtype=dtype, requires_grad=requires_grad) for n, v in params.items()}
    if meta["run"]["mode"] == "full":
        return Net(cfg, leaves, dtype=dtype), leaves
    import torch_ref
    bc, bw = torch_ref.load_model(base)
    w = {k: v.to(dtype) for k, v in bw.items()}
    cfg["tied"] = bc["tied"]
    lo = meta["run"]["lora"]
    s = lo["alpha"] / (math.sqrt(lo["rank"]) if lo["rslora"] else lo["rank"])
    pairs = {}
    for n, t in leaves.items():
        l, proj, which = lora_key(n)
        pairs.setdefault((l, proj), [None, None])[0 if which == "lora_A" else 1] = t
    return Net(cfg, w, {k: tuple(v) for k, v in pairs.items()}, s, dtype), leaves


def step_loss(net, batches):
    total = sum(int((t >= 0).sum()) for _, t, _, _ in batches)
    loss = 0
    for tok, tgt, ss, tree in batches:
        ls, _ = net.loss_sum(tok, tgt, ss, tree)
        loss = loss + ls
    return loss / total


def group_of(name):
    for key, label in (("lora_A", "lora_A"), ("lora_B", "lora_B"), ("embed_tokens", "embedding"),
                       ("layernorm", "rmsnorm (layers)"), ("model.norm", "rmsnorm (final)"), ("lm_head", "output head")):
        if key in name:
            return label
    for p in PROJ:
        if p in name:
            return f"{p}.{'bias' if name.endswith('bias') else 'weight'}"
    return name


# ---------------------------------------------------------------------------
# grads
# ---------------------------------------------------------------------------
def cmd_grads(a):
    worst_all, fails = 0.0, 0
    for path in step_files(a.dump):
        st = read_st(path)
        meta = meta_of(st)
        params = {k[6:]: v for k, v in st.items() if k.startswith("param.")}
        net, leaves = build(meta, params, a.base, torch.float64, True)
        if a.bf16:
            net.mm = mm_bf16
        loss = step_loss(net, batches_of(st, meta))
        loss.backward()
        lerr = abs(loss.item() - meta["loss"]) / abs(loss.item())
        groups, num, den = {}, 0.0, 0.0
        for n, t in leaves.items():
            gt = t.grad.numpy() if t.grad is not None else np.zeros(t.shape)
            gc = st["grad." + n].astype(np.float64)
            d, m = float(np.abs(gc - gt).max()), float(np.abs(gt).max())
            rel = d / m if m > 0 else (0.0 if d == 0 else float("inf"))
            num, den = max(num, d), max(den, m)
            g = group_of(n)
            if rel > groups.get(g, (0.0, ""))[0] or g not in groups:
                groups[g] = (rel, n)
            if rel > a.tol:
                fails += 1
                print(f"FAIL {os.path.basename(path)} {n}: max|dg| {d:.3g} / max|g| {m:.3g} = {rel:.3g} > {a.tol}")
        whole = num / den if den > 0 else 0.0
        worst_all = max(worst_all, whole)
        print(f"{os.path.basename(path)}: loss C {meta['loss']:.8f} torch {loss.item():.8f} (rel {lerr:.1e}); "
              f"whole model {whole:.2e}")
        for g in sorted(groups):
            print(f"    {g:22s} {groups[g][0]:.2e}  (worst: {groups[g][1]})")
        if lerr > a.tol:
            fails += 1
            print(f"FAIL loss differs by {lerr:.3g}")
    print(f"gradients: worst whole-model error {worst_all:.2e} (tol {a.tol}); {fails} failures")
    return 1 if fails else 0


# ---------------------------------------------------------------------------
# adamw
# ---------------------------------------------------------------------------
def lr_at(o, step):
    if o["warmup"] > 0 and step <= o["warmup"]:
        return o["lr"] * step / o["warmup"]
    floor = o["lr"] * o["min_lr_ratio"]
    span = o["total_steps"] - o["warmup"]
    if span <= 0:
        return o["lr"]
    p = min(1.0, (step - o["warmup"]) / span)
    return floor + (o["lr"] - floor) * 0.5 * (1 + math.cos(math.pi * p))


def cmd_adamw(a):
    files = step_files(a.dump)
    first = read_st(files[0])
    meta0 = meta_of(first)
    if meta0["step"] != 1:
        raise SystemExit("adamw: the dump must start at step 1 (a fresh run)")
    o = meta0["run"]["optimizer"]
    p0 = {k[6:]: v for k, v in first.items() if k.startswith("param.")}
    net, leaves = build(meta0, p0, a.base, torch.float32, True)
    decay = [t for t in leaves.values() if t.dim() == 2]
    nodecay = [t for t in leaves.values() if t.dim() != 2]
    groups = [{"params": decay, "weight_decay": o["weight_decay"]}]
    if nodecay:
        groups.append({"params": nodecay, "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups, lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"], foreach=False)
    fails, worst = 0, 0.0
    for i, path in enumerate(files):
        st = first if i == 0 else read_st(path)
        meta = meta_of(st)
        step = meta["step"]
        lr = lr_at(o, step)
        if abs(lr - meta["lr"]) > 1e-12 * max(1.0, lr):
            fails += 1
            print(f"FAIL step {step}: lr C {meta['lr']!r} torch {lr!r}")
        opt.zero_grad()
        loss = step_loss(net, batches_of(st, meta))
        loss.backward()
        if a.c_grads:
            # isolate the optimizer: update with C's own gradients
            for n, t in leaves.items():
                t.grad = torch.from_numpy(st["grad." + n].copy())
        if o["clip"] > 0:
            norm = float(torch.nn.utils.clip_grad_norm_(list(leaves.values()), o["clip"]))
        else:
            norm = float(torch.sqrt(sum((t.grad.double() ** 2).sum() for t in leaves.values())))
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        nxt = read_st(files[i + 1]) if i + 1 < len(files) else read_st(os.path.join(a.dump, "final.safetensors"))
        num = den = l2n = l2d = 0.0
        for n, t in leaves.items():
            pc = nxt["param." + n].astype(np.float64)
            pt = t.detach().numpy().astype(np.float64)
            moved = pt - p0[n].astype(np.float64)
            if a.l2:
                d, m = float(np.linalg.norm(pc - pt)), float(np.linalg.norm(moved))
                l2n, l2d = l2n + d * d, l2d + m * m
            else:
                d, m = float(np.abs(pc - pt).max()), float(np.abs(moved).max())
                num, den = max(num, d), max(den, m)
            rel = d / m if m > 0 else (0.0 if d == 0 else float("inf"))
            if rel > a.tol and not a.l2:
                fails += 1
                print(f"FAIL step {step} {n}: max|dp| {d:.3g} / max|p - p0| {m:.3g} = {rel:.3g}")
        if a.l2:
            num, den = math.sqrt(l2n), math.sqrt(l2d)
        rel = num / den if den > 0 else 0.0
        if a.l2 and rel > a.tol:
            fails += 1
            print(f"FAIL step {step}: ||p_c - p_t|| / ||p_t - p0|| = {rel:.3g} over all parameters")
        worst = max(worst, rel)
        lrel = abs(loss.item() - meta["loss"]) / abs(loss.item())
        nrel = abs(norm - meta["grad_norm"]) / max(norm, 1e-30)
        if lrel > a.tol or nrel > a.tol:
            fails += 1
            print(f"FAIL step {step}: loss rel {lrel:.2e}, grad norm rel {nrel:.2e}")
        print(f"step {step}: lr {lr:.6g}, loss C {meta['loss']:.6f} torch {loss.item():.6f}, grad norm C "
              f"{meta['grad_norm']:.5f} torch {norm:.5f}; parameters after the update: {rel:.2e}")
    print(f"adamw: {len(files)} steps, worst parameter error {worst:.2e} (tol {a.tol}); {fails} failures")
    return 1 if fails else 0


# ---------------------------------------------------------------------------
# bench
# ---------------------------------------------------------------------------
def cmd_bench(a):
    torch.set_num_threads(a.threads)
    files = step_files(a.dump)
    batches = []
    for path in files:
        st = read_st(path)
        batches.append(batches_of(st, meta_of(st)))
    meta = meta_of(read_st(files[0]))
    params = {k[6:]: v for k, v in read_st(files[0]).items() if k.startswith("param.")}
    net, leaves = build(meta, params, a.base, torch.float32, True)
    if a.mm == "dnnl":
        net.mm = mm_dnnl
    o = meta["run"]["optimizer"]
    opt = torch.optim.AdamW(list(leaves.values()), lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"],
                            weight_decay=o["weight_decay"], foreach=False)
    tokens, t0 = 0, None
    for i in range(a.steps + 1):
        if i == 1:
            t0, tokens = time.perf_counter(), 0      # step 0 warms up
        b = batches[i % len(batches)]
        opt.zero_grad()
        loss = step_loss(net, b)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(leaves.values()), max(o["clip"], 1e-9))
        opt.step()
        tokens += sum(len(t) for t, _, _, _ in b)
    dt = time.perf_counter() - t0
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, matmuls by "
          f"{'oneDNN' if a.mm == 'dnnl' else 'torch (BLAS ' + torch.__config__.show().split('BLAS_INFO=')[1].split(',')[0] + ')'}, "
          f"{a.steps} steps, {tokens} tokens, {dt:.2f} s")
    print(f"tokens_per_s {tokens / dt:.1f}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("grads", "adamw", "bench"):
        p = sub.add_parser(name)
        p.add_argument("--dump", required=True)
        p.add_argument("--base", default=None)
        p.add_argument("--tol", type=float, default=1e-4)
        p.add_argument("--steps", type=int, default=10)
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--mm", choices=("torch", "dnnl"), default="torch",
                       help="bench: matmuls as plain torch ops, or through oneDNN")
        p.add_argument("--l2", action="store_true",
                       help="adamw: compare in the L2 norm instead of the max norm")
        p.add_argument("--c-grads", action="store_true",
                       help="adamw: update with C's gradients instead of autograd's (checks the optimizer alone)")
        p.add_argument("--bf16", action="store_true",
                       help="grads: round the linear products' operands to bfloat16 as --precision bf16 does")
    a = ap.parse_args()
    if a.cmd != "bench":
        torch.set_num_threads(int(os.environ.get("TORCH_REF_THREADS", "2")))
    return {"grads": cmd_grads, "adamw": cmd_adamw, "bench": cmd_bench}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())

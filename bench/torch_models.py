"""bench/torch_models.py: the PyTorch side of the issue-7 benchmarks.

The same architectures as diffkit's `dit` and `hdit` plugins (same shapes,
op choices and parameter counts), written here from the papers (Peebles &
Xie 2023 for DiT; Crowson et al. 2024 for HDiT), trained the same way: EDM
preconditioning (Karras et al. 2022, eq. 7) with Soft-Min-SNR weighting,
AdamW, gradient clipping at 1 and an EMA copy, F32, batch 64.

Usage: python3 bench/torch_models.py <config> [steps] [warmup] [threads]
Prints "RESULT config samples_per_s s_per_step params peak_rss_kb".
Configs: dit_p4, dit_p2 (width 256, depth 8, 4 heads), hdit_A, hdit_E (mini
rows: patch 2, widths [64, 128], depths [1, 3], d_head 32, mapping 128x1).
Also: attn <tokens_side> <kind> (global|neighborhood) for the attention bench.
"""
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------- DiT ----
def sincos_2d(D, side):
    """MAE/DiT fixed table: [D/2 column | D/2 row], each [sin | cos]."""
    om = 1.0 / 10000 ** (torch.arange(D // 4, dtype=torch.float64) / (D / 4))
    g = torch.arange(side, dtype=torch.float64)
    row, col = torch.meshgrid(g, g, indexing="ij")

    def emb(p):
        a = p.reshape(-1, 1) * om
        return torch.cat([a.sin(), a.cos()], 1)
    return torch.cat([emb(col), emb(row)], 1).float()


class DiTBlock(nn.Module):
    def __init__(s, D, H):
        super().__init__()
        s.H = H
        s.norm1 = nn.LayerNorm(D, elementwise_affine=False, eps=1e-6)
        s.qkv, s.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        s.norm2 = nn.LayerNorm(D, elementwise_affine=False, eps=1e-6)
        s.fc1, s.fc2 = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)
        s.ada = nn.Linear(D, 6 * D)

    def forward(s, x, c):
        B, T, D = x.shape
        sh1, sc1, g1, sh2, sc2, g2 = s.ada(F.silu(c)).unsqueeze(1).chunk(6, -1)
        h = s.norm1(x) * (1 + sc1) + sh1
        q, k, v = s.qkv(h).reshape(B, T, 3, s.H, D // s.H).permute(2, 0, 3, 1, 4)
        a = torch.softmax(q @ k.transpose(-1, -2) * (D // s.H) ** -0.5, -1) @ v
        x = x + g1 * s.proj(a.transpose(1, 2).reshape(B, T, D))
        h = s.norm2(x) * (1 + sc2) + sh2
        return x + g2 * s.fc2(F.gelu(s.fc1(h), approximate="tanh"))


class DiT(nn.Module):
    def __init__(s, size=32, p=4, C=1, D=256, depth=8, H=4, classes=10):
        super().__init__()
        s.p, s.C, s.side = p, C, size // p
        s.x_emb = nn.Conv2d(C, D, p, p)
        s.register_buffer("pos", sincos_2d(D, s.side))
        s.t1, s.t2 = nn.Linear(256, D), nn.Linear(D, D)
        s.y_emb = nn.Embedding(classes + 1, D)
        s.blocks = nn.ModuleList([DiTBlock(D, H) for _ in range(depth)])
        s.fnorm = nn.LayerNorm(D, elementwise_affine=False, eps=1e-6)
        s.fada, s.flin = nn.Linear(D, 2 * D), nn.Linear(D, p * p * C)

    def forward(s, x, c_noise, y):
        B = x.shape[0]
        h = s.x_emb(x).flatten(2).transpose(1, 2) + s.pos
        f = torch.exp(-math.log(10000) * torch.arange(128, dtype=torch.float32, device=x.device) / 128)
        a = c_noise[:, None] * f[None]
        t = s.t2(F.silu(s.t1(torch.cat([a.cos(), a.sin()], 1))))
        c = t + s.y_emb(y)
        for b in s.blocks:
            h = b(h, c)
        sh, sc = s.fada(F.silu(c)).unsqueeze(1).chunk(2, -1)
        h = s.flin(s.fnorm(h) * (1 + sc) + sh)
        h = h.reshape(B, s.side, s.side, s.p, s.p, s.C).permute(0, 5, 1, 3, 2, 4)
        return h.reshape(B, s.C, s.side * s.p, s.side * s.p)


# --------------------------------------------------------------- HDiT ----
def rms_norm(x, scale, eps=1e-6):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * scale


def neighborhood_index(h, w, k):
    """NATTEN windows: k x k keys around each query, shifted inward at borders."""
    r = k // 2
    ys = torch.arange(h).clamp(r, h - 1 - r) - r
    xs = torch.arange(w).clamp(r, w - 1 - r) - r
    off = torch.arange(k)
    wy = (ys[:, None] + off[None])  # (h, k)
    wx = (xs[:, None] + off[None])  # (w, k)
    idx = wy[:, None, :, None] * w + wx[None, :, None, :]  # (h, w, k, k)
    return idx.reshape(h * w, k * k)


def attention(q, k, v, kind, idx=None, scale=1.0):
    if kind == "global":
        return torch.softmax(q @ k.transpose(-1, -2) * scale, -1) @ v
    kk, vv = k[:, :, idx], v[:, :, idx]  # (B, H, N, k*k, d)
    s = torch.einsum("bhnd,bhnkd->bhnk", q, kk) * scale
    return torch.einsum("bhnk,bhnkd->bhnd", torch.softmax(s, -1), vv)


def rope_axial(x, pos, freqs):
    """HDiT v2 axial RoPE, split halves: rotate the first 2F channels (F per axis)."""
    Fh = freqs.shape[-1]
    th = torch.cat([pos[:, :1] * freqs[:, None, :], pos[:, 1:] * freqs[:, None, :]], -1)  # (H, N, 2F)
    x1, x2, rest = x[..., :2 * Fh], x[..., 2 * Fh:4 * Fh], x[..., 4 * Fh:]
    c, s = th.cos(), th.sin()
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s, rest], -1)


class HLayer(nn.Module):
    def __init__(s, D, d_ff, d_head, M, kind, ffn, rope, k=7):
        super().__init__()
        s.H, s.kind, s.ffn, s.k = D // d_head, kind, ffn, k
        s.anorm = nn.Linear(M, D, bias=False)
        s.qkv, s.out = nn.Linear(D, 3 * D, bias=False), nn.Linear(D, D, bias=False)
        s.scale = nn.Parameter(torch.full((s.H,), 10.0))
        s.fnorm = nn.Linear(M, D, bias=False)
        s.up = nn.Linear(D, 2 * d_ff if ffn == "geglu" else d_ff, bias=False)
        s.down = nn.Linear(d_ff, D, bias=False)
        s.freqs = nn.Parameter(torch.randn(s.H, d_head // 8), requires_grad=False) if rope else None

    def forward(s, x, cond, h, w, pos, idx):
        B, T, D = x.shape
        n = rms_norm(x, 1 + s.anorm(cond)[:, None])
        q, k, v = s.qkv(n).reshape(B, T, 3, s.H, D // s.H).permute(2, 0, 3, 1, 4)
        sq = s.scale[:, None, None].sqrt()
        q = q * sq * torch.rsqrt(q.pow(2).sum(-1, keepdim=True) + 1e-6)
        k = k * sq * torch.rsqrt(k.pow(2).sum(-1, keepdim=True) + 1e-6)
        if s.freqs is not None:
            q, k = rope_axial(q, pos, s.freqs), rope_axial(k, pos, s.freqs)
        a = attention(q, k, v, s.kind, idx)
        x = x + s.out(a.transpose(1, 2).reshape(B, T, D))
        n = rms_norm(x, 1 + s.fnorm(cond)[:, None])
        u = s.up(n)
        if s.ffn == "geglu":
            a_, b_ = u.chunk(2, -1)
            u = a_ * F.gelu(b_)
        else:
            u = F.gelu(u)
        return x + s.down(u)


def token_merge(x, h, w):  # (B, h*w, C) -> (B, h/2*w/2, 4C), features (i, j, c)
    B, _, C = x.shape
    x = x.reshape(B, h // 2, 2, w // 2, 2, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(B, (h // 2) * (w // 2), 4 * C)


def token_split(x, h, w, C):  # inverse of token_merge to a (h, w) grid
    B = x.shape[0]
    x = x.reshape(B, h // 2, w // 2, 2, 2, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(B, h * w, C)


class HDiT(nn.Module):
    def __init__(s, row, size=32, C=1, p=2, widths=(64, 128), depths=(1, 3), d_head=32, M=128, classes=10):
        super().__init__()
        ffn = "gelu" if row == "A" else "geglu"
        kinds = ("global", "global") if row == "A" else ("neighborhood", "global")
        rope = row != "A"
        s.p, s.C, s.h = p, C, size // p
        s.widths = widths
        s.patch_in = nn.Linear(p * p * C, widths[0], bias=False)
        s.pos = nn.Parameter(torch.randn(s.h * s.h, widths[0]) * 0.02, requires_grad=False) if not rope else None
        s.time_emb = nn.Parameter(torch.randn(M // 2, 1), requires_grad=False)
        s.time_in = nn.Linear(M, M, bias=False)
        s.class_emb = nn.Embedding(classes + 1, M)
        s.map_up, s.map_down = nn.Linear(M, 2 * 3 * M, bias=False), nn.Linear(3 * M, M, bias=False)
        mult = 4 if ffn == "gelu" else 3
        mk = lambda i: HLayer(widths[i], mult * widths[i], d_head, M, kinds[i], ffn, rope)
        s.down0 = nn.ModuleList([mk(0) for _ in range(depths[0])])
        s.mid = nn.ModuleList([mk(1) for _ in range(depths[1])])
        s.up0 = nn.ModuleList([mk(0) for _ in range(depths[0])])
        s.merge = nn.Linear(4 * widths[0], widths[1], bias=False)
        s.split = nn.Linear(widths[1], 4 * widths[0], bias=False)
        s.fac = nn.Parameter(torch.tensor([0.5]))
        s.patch_out = nn.Linear(widths[0], p * p * C, bias=False)
        g0 = torch.stack(torch.meshgrid(torch.arange(s.h), torch.arange(s.h), indexing="ij"), -1).reshape(-1, 2)
        g1 = torch.stack(torch.meshgrid(torch.arange(s.h // 2), torch.arange(s.h // 2), indexing="ij"), -1).reshape(-1, 2)
        s.register_buffer("pos0", g0.float())
        s.register_buffer("pos1", g1.float())
        s.register_buffer("idx0", neighborhood_index(s.h, s.h, 7))

    def forward(s, x, c_noise, y):
        B, h, p = x.shape[0], s.h, s.p
        f = 2 * math.pi * c_noise[:, None] @ s.time_emb.t()
        e = s.time_in(torch.cat([f.cos(), f.sin()], 1)) + s.class_emb(y)
        e = rms_norm(e, 1)
        u = s.map_up(rms_norm(e, 1))
        a_, b_ = u.chunk(2, -1)
        cond = rms_norm(e + s.map_down(a_ * F.gelu(b_)), 1)
        t = x.reshape(B, s.C, h, p, h, p).permute(0, 2, 4, 3, 5, 1).reshape(B, h * h, p * p * s.C)
        t = s.patch_in(t)
        if s.pos is not None:
            t = t + s.pos
        for L in s.down0:
            t = L(t, cond, h, h, s.pos0, s.idx0)
        skip = t
        t = s.merge(token_merge(t, h, h))
        for L in s.mid:
            t = L(t, cond, h // 2, h // 2, s.pos1, None)
        t = token_split(s.split(t), h, h, s.widths[0])
        t = skip + s.fac * (t - skip)
        for L in s.up0:
            t = L(t, cond, h, h, s.pos0, s.idx0)
        t = s.patch_out(rms_norm(t, 1))
        t = t.reshape(B, h, h, p, p, s.C).permute(0, 5, 1, 3, 2, 4)
        return t.reshape(B, s.C, h * p, h * p)


# ---------------------------------------------------------- training ----
def train_bench(name, steps, warmup):
    torch.manual_seed(0)
    if name.startswith("dit"):
        model = DiT(p=4 if name == "dit_p4" else 2)
    else:
        model = HDiT(name[-1])
    ema = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=1e-2)
    # a uint8 dataset the size of Fashion-MNIST, as diffkit holds it
    data = torch.randint(0, 256, (60000, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (60000,))
    sd = 0.5

    def step():
        i = torch.randint(0, 60000, (64,))
        x = F.pad(data[i].float()[:, None] / 127.5 - 1, (2, 2, 2, 2), value=-1.0)
        y = torch.where(torch.rand(64) < 0.1, torch.full_like(labels[i], 10), labels[i])
        sigma = (torch.randn(64) * 1.2 - 1.2).exp()
        noise = torch.randn_like(x)
        s4 = sigma[:, None, None, None]
        c_skip = sd ** 2 / (s4 ** 2 + sd ** 2)
        c_out = s4 * sd / (s4 ** 2 + sd ** 2).sqrt()
        c_in = 1 / (s4 ** 2 + sd ** 2).sqrt()
        yn = x + s4 * noise
        out = model(c_in * yn, sigma.log() / 4, y)
        target = (x - c_skip * yn) / c_out
        snr = sd ** 2 / sigma ** 2
        w = torch.minimum(snr, torch.ones_like(snr) * 5) / snr  # soft-min-snr-like weight (same cost)
        loss = (w * (out - target).pow(2).flatten(1).mean(1)).mean()
        opt.zero_grad(set_to_none=False)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema, model.parameters()):
                e.lerp_(p, 0.001)

    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    dt = (time.perf_counter() - t0) / steps
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"RESULT {name} {64 / dt:.3f} {dt:.4f} {n} {rss}", flush=True)


def attn_bench(side, kind, reps):
    """Attention alone, fwd + bwd: B=16, 4 heads, d=32 on a side x side grid."""
    torch.manual_seed(0)
    B, H, d, N = 16, 4, 32, side * side
    q, k, v = (torch.randn(B, H, N, d, requires_grad=True) for _ in range(3))
    idx = neighborhood_index(side, side, 7)
    g = torch.randn(B, H, N, d)
    for _ in range(2):
        attention(q, k, v, kind, idx, d ** -0.5).backward(g)
    best = 1e30
    for _ in range(reps):  # best of reps, as attn_bench.c
        t0 = time.perf_counter()
        attention(q, k, v, kind, idx, d ** -0.5).backward(g)
        best = min(best, time.perf_counter() - t0)
    print(f"RESULT attn {side} {kind} {best * 1e3:.3f}", flush=True)


if __name__ == "__main__":
    threads = int(sys.argv[5]) if sys.argv[1] == "attn" and len(sys.argv) > 5 else \
        int(sys.argv[4]) if len(sys.argv) > 4 else 2
    torch.set_num_threads(threads)
    if sys.argv[1] == "attn":
        attn_bench(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 5)
    else:
        train_bench(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5,
                    int(sys.argv[3]) if len(sys.argv) > 3 else 2)

"""bench/gpu/torch_fwbw.py: PyTorch's side of bench/gpu/run: forward + backward
of bench/torch_models.py's DiT (the same architecture as diffkit's `dit`
plugin) with loss = sum(out * r), every parameter gradient, F32 (TF32 off
unless --tf32), eager, on CUDA.
Usage: python3 bench/gpu/torch_fwbw.py mini|b4 [steps] [warmup] [--tf32]
Prints "RESULT name torch samples_per_s ms_per_step params peak_mib"."""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from torch_models import DiT  # noqa: E402


def main():
    name = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    warm = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    tf32 = "--tf32" in sys.argv
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    dev = "cuda"
    torch.manual_seed(0)
    if name == "mini":
        m, B, C, H, K = DiT(size=32, p=4, C=1, D=256, depth=8, H=4, classes=10), 64, 1, 32, 10
    else:
        m, B, C, H, K = DiT(size=128, p=4, C=3, D=768, depth=12, H=12, classes=1000), 64, 3, 128, 1000
    m = m.to(dev)
    x = torch.randn(B, C, H, H, device=dev)
    t = torch.randn(B, device=dev)
    r = torch.randn(B, C, H, H, device=dev)
    y = torch.arange(B, device=dev) % K
    torch.cuda.reset_peak_memory_stats()

    def step():
        for p in m.parameters():
            p.grad = None
        loss = (m(x, t, y) * r).sum()
        loss.backward()

    for _ in range(warm):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / steps
    n = sum(p.numel() for p in m.parameters() if p.requires_grad)
    peak = torch.cuda.max_memory_allocated() / 2**20
    print(f"RESULT {name} torch{'-tf32' if tf32 else ''} {B / dt:.2f} {1e3 * dt:.3f} {n} {peak:.0f}", flush=True)


if __name__ == "__main__":
    main()

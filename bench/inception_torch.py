#!/usr/bin/python3
"""inception_torch.py: images/s of pytorch-fid's Inception in PyTorch (the same
network as tests/data/inception/gen_inception_golden.py builds: torchvision's
Inception3 with pytorch-fid's FID blocks, random weights), batch B of 3x32x32
images in [0, 1] resized to 299x299, no_grad, eval mode, float32.
Usage: inception_torch.py [batch] [reps] [threads]. Prints "RESULT inception torch B images_per_s"."""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "inception"))
from gen_inception_golden import fid_inception_v3, pool3_features  # noqa: E402

B = int(sys.argv[1]) if len(sys.argv) > 1 else 50
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 2
if len(sys.argv) > 3:
    torch.set_num_threads(int(sys.argv[3]))
torch.manual_seed(0)
net = fid_inception_v3().eval()
for m in net.modules():
    if isinstance(m, torch.nn.BatchNorm2d):
        m.running_var.uniform_(0.5, 1.5)
x = torch.rand(B, 3, 32, 32)
best = 0
with torch.no_grad():
    for r in range(reps):
        t0 = time.perf_counter()
        pool3_features(net, x)
        dt = time.perf_counter() - t0
        print(f"rep {r}: {dt:.2f} s, {B / dt:.2f} images/s", file=sys.stderr)
        best = max(best, B / dt)
print(f"RESULT inception torch {B} {best:.3f} (threads {torch.get_num_threads()})")

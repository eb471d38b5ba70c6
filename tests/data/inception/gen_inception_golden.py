#!/usr/bin/python3
"""gen_inception_golden.py: the parity golden of diffkit's FID Inception
(core/src/inception.c, tests/unit/test_eval_inception.c).

Run with Debian's /usr/bin/python3 (torch 1.13 + torchvision 0.14, CPU):

    /usr/bin/python3 tests/data/inception/gen_inception_golden.py

It builds the network exactly as pytorch-fid defines it
(src/pytorch_fid/inception.py: fid_inception_v3() = torchvision's
Inception3(num_classes=1008, aux_logits=False, init_weights=False) with
Mixed_5b/5c/5d -> FIDInceptionA, Mixed_6b..6e -> FIDInceptionC, Mixed_7b ->
FIDInceptionE_1, Mixed_7c -> FIDInceptionE_2; InceptionV3.forward with
resize_input=True, normalize_input=True, output_blocks=[3]). The FID blocks
are written out below on top of torchvision.models.inception's InceptionA /
InceptionC / InceptionE (only their forward differs).

Weights are not random draws from torch but a deterministic hash formula of
(tensor name, element index), written once here and once in
tests/unit/test_eval_inception.c (inc_weight), so that no 95 MB weights file
is committed: only the input images and the expected 2048-d features
(golden.safetensors, ~120 KB).

Inputs follow diffkit's convention: images [N, C, H, W] in [-1, 1]; the
diffkit route (documented in docs/interop.md) is
x01 = (x + 1) / 2 in float32, grey repeated to 3 channels, then pytorch-fid's
InceptionV3 (bilinear resize to 299x299, 2 * x - 1, ...). This script does the
same in torch.
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torchvision.models.inception import InceptionA, InceptionC, InceptionE

HERE = os.path.dirname(os.path.abspath(__file__))
M64 = (1 << 64) - 1


# ---- the deterministic weights (same formula as inc_weight in test_eval_inception.c) ----
def fnv1a64(s):
    h = 0xCBF29CE484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001B3) & M64
    return h


def unit(name, n):
    """n values in [0, 1): element i = top 24 bits of splitmix64(fnv1a64(name) + (i + 1) * golden) / 2^24."""
    with np.errstate(over="ignore"):
        i = np.arange(1, n + 1, dtype=np.uint64)
        z = np.uint64(fnv1a64(name)) + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) / 16777216.0


def det_weight(name, shape):
    """float32 values of tensor `name` (computed in double, then rounded once)."""
    n = int(np.prod(shape))
    u = unit(name, n)
    if name.endswith(".conv.weight"):
        fan_in = int(np.prod(shape[1:]))
        v = (2 * u - 1) * np.sqrt(6.0 / fan_in)   # He-uniform: variance 2 / fan_in
    elif name.endswith(".bn.weight"):
        v = 0.5 + u
    elif name.endswith(".bn.bias"):
        v = 0.2 * (2 * u - 1)
    elif name.endswith(".bn.running_mean"):
        v = 0.2 * (2 * u - 1)
    elif name.endswith(".bn.running_var"):
        v = 0.5 + u
    else:  # fc.weight, fc.bias: not used by the features
        v = 0.01 * (2 * u - 1)
    return v.astype(np.float32).reshape(shape)


# ---- pytorch-fid's FID blocks (src/pytorch_fid/inception.py), forward only ----
class FIDInceptionA(InceptionA):
    def forward(self, x):
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False))
        return torch.cat([b1, b5, b3, bp], 1)


class FIDInceptionC(InceptionC):
    def forward(self, x):
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        bd = self.branch7x7dbl_5(self.branch7x7dbl_4(self.branch7x7dbl_3(self.branch7x7dbl_2(bd))))
        bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False))
        return torch.cat([b1, b7, bd, bp], 1)


class FIDInceptionE(InceptionE):
    """FIDInceptionE_1 (max_pool=False: avg pool, count_include_pad=False) and
    FIDInceptionE_2 (max_pool=True: max pool 3x3 stride 1 pad 1)."""

    def __init__(self, in_channels, max_pool):
        super().__init__(in_channels)
        self.max_pool = max_pool

    def forward(self, x):
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        if self.max_pool:
            bp = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:
            bp = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        bp = self.branch_pool(bp)
        return torch.cat([b1, b3, bd, bp], 1)


def fid_inception_v3():
    """pytorch-fid's fid_inception_v3() without the download."""
    net = torchvision.models.inception.Inception3(num_classes=1008, aux_logits=False, init_weights=False)
    net.Mixed_5b = FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = FIDInceptionE(1280, max_pool=False)
    net.Mixed_7c = FIDInceptionE(2048, max_pool=True)
    return net


def pool3_features(net, x01):
    """pytorch-fid InceptionV3(output_blocks=[3], resize_input=True, normalize_input=True).forward."""
    x = F.interpolate(x01, size=(299, 299), mode="bilinear", align_corners=False)
    x = 2 * x - 1
    for m in [net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3]:
        x = m(x)
    x = F.max_pool2d(x, kernel_size=3, stride=2)
    x = net.Conv2d_4a_3x3(net.Conv2d_3b_1x1(x))
    x = F.max_pool2d(x, kernel_size=3, stride=2)
    for name in ["Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
                 "Mixed_7a", "Mixed_7b", "Mixed_7c"]:
        x = getattr(net, name)(x)
    x = F.adaptive_avg_pool2d(x, (1, 1))
    return x.flatten(1)


def diffkit_features(net, img, dtype):
    """diffkit's route: img [N, C, H, W] in [-1, 1] -> clamp -> (x + 1) / 2 (float32) -> grey x3 -> pytorch-fid."""
    x = torch.from_numpy(img).clamp(-1, 1)
    x01 = (x + 1) / 2
    if x01.shape[1] == 1:
        x01 = x01.repeat(1, 3, 1, 1)
    with torch.no_grad():
        return pool3_features(net, x01.to(dtype))


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        dt = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64"}[a.dtype]
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"generator": "tests/data/inception/gen_inception_golden.py",
                              "torch": torch.__version__, "torchvision": torchvision.__version__}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    torch.manual_seed(0)
    net = fid_inception_v3().eval()
    sd = net.state_dict()
    new = {}
    for k, v in sd.items():
        if k.endswith("num_batches_tracked"):
            new[k] = v
            continue
        new[k] = torch.from_numpy(det_weight(k, tuple(v.shape)))
    net.load_state_dict(new)
    n_params = sum(v.numel() for k, v in sd.items() if not k.endswith("num_batches_tracked"))
    print("parameters (incl. BN stats, fc):", n_params, "tensors:", len(sd), file=sys.stderr)

    # Inputs in diffkit's convention, [-1, 1]: a grey 28x28 (Fashion-MNIST-like), a batch of two
    # 3x32x32 and one 3x64x64; a few values past +-1 test the clamp.
    def img(name, shape):
        return (2 * unit(name, int(np.prod(shape))) - 1).astype(np.float32).reshape(shape) * np.float32(1.05)

    # grey301x305 (larger than 299 and not square: bilinear downsampling without antialias, as
    # pytorch-fid) is not stored: the C test regenerates it from the same formula.
    inputs = {"grey28": img("input.grey28", (1, 1, 28, 28)), "rgb32": img("input.rgb32", (2, 3, 32, 32)),
              "rgb64": img("input.rgb64", (1, 3, 64, 64)), "grey301x305": img("input.grey301x305", (1, 1, 301, 305))}
    out = {}
    for k, x in inputs.items():
        f32 = diffkit_features(net, x, torch.float32).numpy()
        f64 = diffkit_features(net.double(), x, torch.float64).numpy()
        net.float()
        if k != "grey301x305":
            out["input." + k] = x
        out["features." + k] = f32
        d = np.abs(f32.astype(np.float64) - f64)
        print(f"{k}: features mean {f32.mean():.4f} min {f32.min():.4f} max {f32.max():.4f}; "
              f"torch F32 vs F64: max abs {d.max():.3g}, max rel {(d / np.abs(f64).clip(1e-12)).max():.3g}, "
              f"max abs/(1+|x|) {(d / (1 + np.abs(f64))).max():.3g}", file=sys.stderr)
    # a spot check of the formula for the C test: the first values of one tensor
    out["check.Mixed_7c.branch_pool.conv.weight"] = det_weight("Mixed_7c.branch_pool.conv.weight", (192, 2048, 1, 1))[:2, :4, 0, 0]
    write_safetensors(os.path.join(HERE, "golden.safetensors"), out)
    print("wrote", os.path.join(HERE, "golden.safetensors"), file=sys.stderr)


if __name__ == "__main__":
    main()

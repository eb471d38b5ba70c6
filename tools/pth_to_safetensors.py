#!/usr/bin/python3
"""pth_to_safetensors.py: converts a PyTorch state-dict file (.pth, torch.save
of a dict of tensors, e.g. pytorch-fid's pt_inception-2015-12-05-6726825d.pth)
to .safetensors for diffkit, until diffkit reads .pth itself. Needs torch only
(the safetensors package is not used: the header is written by hand).
Floating tensors are written as F32 (values unchanged for an F32 file);
integer tensors (BatchNorm's num_batches_tracked) are skipped.

    /usr/bin/python3 tools/pth_to_safetensors.py pt_inception-2015-12-05-6726825d.pth inception.safetensors
"""
import json
import struct
import sys

import torch


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    sd = torch.load(sys.argv[1], map_location="cpu")
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    header, blobs, off = {}, [], 0
    for name, t in sd.items():
        if not torch.is_tensor(t) or not t.is_floating_point():
            continue
        b = t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"converted_from": sys.argv[1].rsplit("/", 1)[-1]}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(sys.argv[2], "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    print(f"wrote {sys.argv[2]}: {len(blobs)} tensors, {off / 1e6:.1f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

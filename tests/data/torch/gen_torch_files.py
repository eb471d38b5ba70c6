#!/usr/bin/python3
"""Writes the torch.save test files of tests/data/torch/ (run with a Python
that has torch, e.g. /usr/bin/python3 on Debian with python3-torch 1.13):

    /usr/bin/python3 tests/data/torch/gen_torch_files.py [OUTDIR]

For every readable file NAME.pt / NAME.pth it also writes NAME.expected.safetensors:
every tensor leaf of the saved object under its dotted name (dict keys, list
and tuple indices, Namespace attributes), contiguous, in the dtype diffkit
materializes (bool -> U8, int16/int8 -> I64), written by hand (JSON header +
raw little-endian bytes), so the C test compares bit for bit without torch.
Hostile and broken files (hostile_*, truncated_*, deflated_*) have no
expected file: the C test checks their error messages. Seeded: reruns give
the same tensors (the zip members' timestamps may differ)."""
import argparse
import collections
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import torch

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))

ST_DTYPE = {
    torch.float32: ("F32", None), torch.float64: ("F64", None), torch.float16: ("F16", None),
    torch.bfloat16: ("BF16", torch.int16), torch.int64: ("I64", None), torch.int32: ("I32", None),
    torch.uint8: ("U8", None), torch.bool: ("U8", torch.uint8), torch.int16: ("I64", torch.int64),
    torch.int8: ("I64", torch.int64),
}


def tensor_bytes(t):
    name, conv = ST_DTYPE[t.dtype]
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    elif conv is not None:
        t = t.to(conv)
    return name, t.numpy().tobytes()


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors:
        dt, b = tensor_bytes(t)
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def leaves(obj, prefix=""):
    """(dotted name, tensor) of every tensor leaf, in pickle (insertion) order."""
    def join(p, k):
        return f"{p}.{k}" if p else str(k)
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(k, (str, int)) and not isinstance(k, bool):
                yield from leaves(v, join(prefix, k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from leaves(v, join(prefix, i))
    elif isinstance(obj, argparse.Namespace):
        yield from leaves(vars(obj), prefix)


def save(name, obj, expected=True, **kw):
    path = os.path.join(OUT, name)
    torch.save(obj, path, **kw)
    if expected:
        base = name.rsplit(".", 1)[0]
        write_safetensors(os.path.join(OUT, base + ".expected.safetensors"), list(leaves(obj)))
    return path


class _Storage:
    def __init__(self, pid):
        self.pid = pid


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class _LegacyPickler(pickle.Pickler):
    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, _Storage) else None


def write_legacy_storage_view(path):
    """torch.serialization's legacy layout: magic, 1001, sys_info, the main
    pickle (persistent ids ('storage', type, root_key, location, numel,
    view_metadata)), the sorted storage keys, each storage as int64 numel +
    bytes. 'root' holds 10 floats; 'v' is the view root[3:8]."""
    root = torch.arange(10, dtype=torch.float32) * 1.5
    whole = _Storage(("storage", torch.FloatStorage, "root", "cpu", 10, None))
    view = _Storage(("storage", torch.FloatStorage, "root", "cpu", 10, ("v", 3, 5)))
    obj = {"whole": _Tensor(whole, 2, (2, 2), (1, 3)), "view": _Tensor(view, 1, (2, 2), (2, 1))}
    expected = {"whole": root[2:].as_strided((2, 2), (1, 3)), "view": root[3:8][1:].as_strided((2, 2), (2, 1))}
    buf = io.BytesIO()
    for x in (0x1950a86a20f9469cfc6c, 1001, {"protocol_version": 1001, "little_endian": True,
                                            "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        pickle.dump(x, buf, protocol=2)
    _LegacyPickler(buf, protocol=2).dump(obj)
    pickle.dump(["root"], buf, protocol=2)
    buf.write(struct.pack("<q", 10))
    buf.write(root.numpy().tobytes())
    with open(path, "wb") as f:
        f.write(buf.getvalue())
    write_safetensors(path.rsplit(".", 1)[0] + ".expected.safetensors", list(expected.items()))
    loaded = torch.load(path)  # torch itself agrees
    for k, t in expected.items():
        assert torch.equal(loaded[k], t), k


def main():
    torch.manual_seed(1234)
    g = torch.Generator().manual_seed(5678)

    # every storage dtype, incl. a 0-d tensor and an empty one
    dtypes = {
        "f32": torch.randn(3, 4, generator=g),
        "f16": torch.randn(5, generator=g).half(),
        "bf16": torch.randn(2, 3, generator=g).bfloat16(),
        "f64": torch.randn(2, 2, generator=g, dtype=torch.float64),
        "i64": torch.tensor([-(2 ** 62), -1, 0, 7, 2 ** 62]),
        "i32": torch.tensor([[-5, 6], [2 ** 31 - 1, -(2 ** 31)]], dtype=torch.int32),
        "u8": torch.arange(250, 256, dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "i16": torch.tensor([-32768, -2, 32767], dtype=torch.int16),
        "i8": torch.tensor([-128, -1, 127], dtype=torch.int8),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
    }
    save("dtypes.pt", dtypes)

    # strided views and shared storages
    base = torch.arange(60, dtype=torch.float32).reshape(3, 4, 5)
    views = {
        "base": base,
        "transpose": base.transpose(0, 2),
        "slice": base[1:, 2:, 1:4],           # storage offset, non-contiguous
        "narrow_last": base[:, :, 3],
        "expand": torch.arange(3.0).reshape(3, 1).expand(3, 4),  # stride 0
        "step": base.reshape(-1)[5:50:7],
        "f16_t": torch.randn(4, 6, generator=g).half().t(),
        "i64_view": torch.arange(20).reshape(4, 5)[1:3, ::2],
    }
    shared = torch.randn(10, generator=g)
    views["shared_a"] = shared[:6]
    views["shared_b"] = shared[4:].view(2, 3)
    save("views.pt", views)

    # containers and scalars
    nested = {
        "none": None, "t": True, "f": False, "int": 42, "neg": -(2 ** 40), "big": 2 ** 63 - 1,
        "float": 0.1, "inf": float("inf"), "str": "héllo \"q\"\n", "bytes": b"\x00ab\xff", "empty_bytes": b"",
        "list": [1, 2.5, "x", [None, (3, 4)]], "tuple": (1, (2, 3)), "intkeys": {0: "zero", 7: {"x": 1}},
        "tensors": [torch.ones(2), (torch.zeros(1, dtype=torch.int64),)], "emptyd": {}, "emptyl": [],
        "size": torch.Size([2, 3]),
    }
    save("nested.pt", nested)

    # a module state dict (OrderedDict with _metadata set by BUILD)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Linear(5, 2))
    sd = net.state_dict()
    save("state_dict.pt", sd)
    # nn.Parameter saved directly, inside a dict
    save("param.pt", {"p": torch.nn.Parameter(torch.randn(3, 2, generator=g)),
                      "q": torch.nn.Parameter(torch.ones(2), requires_grad=False)})

    # a k-diffusion train.py checkpoint
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU(), torch.nn.Linear(8, 4))
    ema = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU(), torch.nn.Linear(8, 4))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.95, 0.999), eps=1e-6, weight_decay=1e-3)
    model(torch.randn(2, 4, generator=g)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    sched_sd = sched.state_dict()
    sched_sd.pop("lr_lambdas", None)
    kdiff = {
        "config": {"model": {"type": "image_v1", "input_channels": 3, "input_size": [32, 32], "depths": [2, 2],
                             "sigma_data": 0.5, "dropout_rate": 0.05, "augment_wrapper": True, "skip_stages": 0,
                             "has_variance": False, "loss_config": "karras", "mapping_cond_dim": None},
                   "optimizer": {"type": "adamw", "lr": 1e-4, "betas": [0.95, 0.999], "eps": 1e-6, "weight_decay": 1e-3},
                   "ema_sched": {"type": "inverse", "power": 0.6667, "max_value": 0.9999}},
        "model": model.state_dict(),
        "model_ema": ema.state_dict(),
        "opt": opt.state_dict(),
        "sched": sched_sd,
        "ema_sched": {"inv_gamma": 1.0, "power": 0.6667, "min_value": 0.0, "max_value": 0.9999, "last_epoch": 10},
        "epoch": 3, "step": 1000, "gns_stats": None,
        "ema_stats": {"loss": 0.25},
        "demo_gen": torch.Generator().manual_seed(7).get_state(),
        "elapsed": 123.5,
    }
    save("kdiff_ckpt.pth", kdiff)

    # a facebookresearch/DiT train.py checkpoint (args = argparse.Namespace)
    args = argparse.Namespace(data_path="/data/imagenet", results_dir="results", model="DiT-XL/2", image_size=256,
                              num_classes=1000, epochs=1400, global_batch_size=256, global_seed=0, vae="ema",
                              num_workers=4, log_every=100, ckpt_every=50000)
    dit = {"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "args": args}
    save("dit_ckpt.pt", dit)
    # DiT's released weights: a bare state dict (protocol 4, as torch >= 2 may write)
    save("dit_weights_p4.pt", ema.state_dict(), pickle_protocol=4)
    save("proto4.pt", {"nested": nested, "views": views}, pickle_protocol=4)

    # the legacy (pre-1.6) layout
    save("legacy.pth", {"sd": sd, "views": views, "dtypes": dtypes, "meta": {"epoch": 2}},
         _use_new_zipfile_serialization=False)
    save("legacy_p4.pth", {"views": views}, _use_new_zipfile_serialization=False, pickle_protocol=4)

    # a legacy file with a storage view (view_metadata, written by torch < 1.0 for
    # tensors on a slice of a storage), made by hand with the format's own pickles
    write_legacy_storage_view(os.path.join(OUT, "legacy_storage_view.pth"))

    # ---- hostile and broken files (no expected file)
    src = os.path.join(OUT, "dtypes.pt")
    with zipfile.ZipFile(src) as z:
        members = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    # os.system(...) as a pickle GLOBAL + REDUCE, in a well-formed archive
    evil = b"\x80\x02cos\nsystem\nq\x00X\x0b\x00\x00\x00echo pwned!q\x01\x85q\x02Rq\x03."
    with zipfile.ZipFile(os.path.join(OUT, "hostile_os_system.pt"), "w", zipfile.ZIP_STORED) as z:
        z.writestr("hostile_os_system/data.pkl", evil)
        z.writestr("hostile_os_system/version", "3\n")
    # the same through STACK_GLOBAL (protocol 4)
    evil4 = b"\x80\x04\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94\x8c\x041+1\x94\x85\x94R\x94."
    with zipfile.ZipFile(os.path.join(OUT, "hostile_eval.pt"), "w", zipfile.ZIP_STORED) as z:
        z.writestr("hostile_eval/data.pkl", evil4)
    # a legacy file whose main pickle calls os.system
    leg = io.BytesIO()
    torch.save({"x": 1}, leg, _use_new_zipfile_serialization=False)
    b = leg.getvalue()
    i = b.index(b"\x80\x02}q\x00X\x01\x00\x00\x00x")  # the main pickle (after magic, version, sys_info)
    with open(os.path.join(OUT, "hostile_legacy.pth"), "wb") as f:
        f.write(b[:i] + evil)
    # a Python int beyond int64 (LONG1 of 9 bytes)
    save("hostile_bigint.pt", {"n": 2 ** 70}, expected=False)
    # a whole nn.Module (torch.save(model)): refused, naming its class
    save("hostile_module.pt", torch.nn.Sequential(torch.nn.Linear(2, 2)), expected=False)
    # a deflated member
    with zipfile.ZipFile(os.path.join(OUT, "deflated_dtypes.pt"), "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in members:
            z.writestr(n, d)
    # truncated files
    for name in ("dtypes.pt", "legacy.pth"):
        with open(os.path.join(OUT, name), "rb") as f:
            data = f.read()
        with open(os.path.join(OUT, "truncated_" + name), "wb") as f:
            f.write(data[: len(data) * 2 // 3])
    # the members torch >= 2 adds: byteorder ("little" reads, "big" is refused) and .data/serialization_id
    for order, name in (("little", "byteorder_little.pt"), ("big", "hostile_byteorder_big.pt")):
        stem = name[:-3]
        with zipfile.ZipFile(os.path.join(OUT, name), "w", zipfile.ZIP_STORED) as z:
            for n, d in members:
                z.writestr(n.replace("dtypes/", stem + "/"), d)
            z.writestr(stem + "/byteorder", order)
            z.writestr(stem + "/.data/serialization_id", "1234567890")
        if order == "little":
            write_safetensors(os.path.join(OUT, stem + ".expected.safetensors"), list(leaves(dtypes)))
    # a view that reads past its storage: patch the size of 'f32' in data.pkl
    pkl = dict(members)["dtypes/data.pkl"]
    pos = pkl.index(b"K\x03K\x04\x86")  # size (3, 4) of f32
    bad = pkl[:pos] + b"K\x09K\x04\x86" + pkl[pos + 5:]
    with zipfile.ZipFile(os.path.join(OUT, "hostile_view.pt"), "w", zipfile.ZIP_STORED) as z:
        for n, d in members:
            z.writestr(n.replace("dtypes/", "hostile_view/"), bad if n.endswith("data.pkl") else d)


if __name__ == "__main__":
    main()

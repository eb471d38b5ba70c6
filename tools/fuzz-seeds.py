#!/usr/bin/env python3
"""fuzz-seeds.py: writes the hand-made inputs of tests/fuzz/corpus/<name>/
(seed-*, regress-*) from which tools/fuzz.sh starts; fuzzing adds the rest."""
import gzip, json, os, re, shutil, struct, zlib

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
corpus = os.path.join(root, "tests", "fuzz", "corpus")


def out(name, fname, data):
    d = os.path.join(corpus, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, fname), "wb") as f:
        f.write(data)


def st(tensors, meta=None, pad=True):
    """safetensors bytes: tensors = [(name, dtype, shape, raw bytes)]"""
    h, off, blob = {}, 0, b""
    if meta is not None:
        h["__metadata__"] = meta
    for name, dt, shape, raw in tensors:
        h[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blob += raw
    j = json.dumps(h, separators=(",", ":")).encode()
    if pad:
        j += b" " * (-(8 + len(j)) % 8)
    return struct.pack("<Q", len(j)) + j + blob


# safetensors
out("safetensors", "seed-empty", st([]))
out("safetensors", "seed-meta-only", st([], {"step": "12", "lr": "1e-05", "flag": "true"}))
out("safetensors", "seed-dtypes", st([
    ("f32", "F32", [2, 2], struct.pack("<4f", 1, -2, 0.5, 3)),
    ("f64", "F64", [1], struct.pack("<d", 1e300)),
    ("i64", "I64", [2], struct.pack("<2q", -1, 2**62)),
    ("i32", "I32", [1, 1, 1], struct.pack("<i", 7)),
    ("f16", "F16", [3], bytes.fromhex("003c00bc007c")),
    ("bf16", "BF16", [2], bytes.fromhex("803f80ff")),
    ("u8", "U8", [4], bytes([0, 1, 254, 255])),
    ("bool", "BOOL", [2], bytes([0, 1])),
], {"diffkit.kind": "test", "x": "0.1"}))
out("safetensors", "seed-zero-size", st([("empty", "F32", [0, 5], b""), ("scalar", "F64", [], struct.pack("<d", 2.5))]))
out("safetensors", "seed-escapes", st([("caf\u00e9 \U0001F600 \"q\" \\ /", "F32", [1], struct.pack("<f", 1))],
                                      {"t\u00e4b\tnl\n": "\u2603"}).replace(b"\\u00e9", b"\\u00E9"))
out("safetensors", "seed-unpadded", st([("a", "U8", [3], b"abc")], None, pad=False))
out("safetensors", "seed-null-meta", b"".join([struct.pack("<Q", 72), b'{"__metadata__":null,"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}'.ljust(72), b"z"]))
g = os.path.join(root, "tests", "data", "golden", "gmm_check.safetensors")
if os.path.exists(g):
    shutil.copy(g, os.path.join(corpus, "safetensors", "seed-golden-gmm_check"))

# idx: byte 0 = pad, bytes 1-2 = length of the images file, images, labels
def idx(pad, images_hdr_dims, pixels, labels, ndim_img=3):
    img = bytes([0, 0, 8, ndim_img]) + b"".join(struct.pack(">I", d) for d in images_hdr_dims) + pixels
    lab = bytes([0, 0, 8, 1]) + struct.pack(">I", len(labels)) + bytes(labels)
    return bytes([pad]) + struct.pack("<H", len(img)) + img + lab

fm = "/usr/share/datasets/fashion-mnist"
try:
    with gzip.open(os.path.join(fm, "t10k-images-idx3-ubyte.gz")) as f:
        raw = f.read(16 + 3 * 784)
    with gzip.open(os.path.join(fm, "t10k-labels-idx1-ubyte.gz")) as f:
        rawl = f.read(8 + 3)
    out("idx", "seed-fashion-mnist-3", bytes([2]) + struct.pack("<H", 16 + 3 * 784) + raw[:4] + struct.pack(">I", 3) + raw[8:] + rawl[:4] + struct.pack(">I", 3) + rawl[8:])
except OSError:
    pass
out("idx", "seed-tiny", idx(0, [5, 2, 2], bytes(range(0, 240, 12)), [0, 1, 2, 3, 4]))
out("idx", "seed-pad1-one", idx(1, [1, 1, 3], bytes([0, 128, 255]), [9]))
out("idx", "seed-bad-pad", idx(0xff, [1, 1, 1], bytes([7]), [0]))
out("idx", "seed-label-255", idx(3, [2, 3, 1], bytes(6), [255, 0]))
# 256 x 2^31 x 2^25 wraps 2^64 to 0 (regression: parse_idx overflow)
out("idx", "regress-dims-wrap", idx(0, [256, 1 << 31, 1 << 25], b"", list(range(256))))

# checkpoint metadata: "key=value" lines
base = ["diffkit.format=1", "diffkit.kind=checkpoint", "step=100",
        "config=return {\\n  model = \"hdit\",\\n  lr = 1e-4,\\n  widths = {128, 256},\\n}",
        "ema.step=100", "optim.kind=adamw", "optim.step=100", "loader.epoch=3", "loader.index=4",
        "rng.noise=11 1 12 2 1 2 3 4", "rng.sigma=11 2 0 4 0 0 0 0"]
out("checkpoint", "seed-full", "\n".join(base).encode())
out("checkpoint", "seed-minimal-fails", b"diffkit.format=1\nstep=0")
out("checkpoint", "seed-numbers", "\n".join(b if not b.startswith("step=") else "step=1e3" for b in base).replace("optim.step=100", "optim.step= 7 ").encode())
out("checkpoint", "seed-format2", "\n".join(base).replace("diffkit.format=1", "diffkit.format=2").encode())
out("checkpoint", "seed-sgd", "\n".join(base).replace("adamw", "sgd").encode())
out("checkpoint", "seed-rng-bad", "\n".join(base).replace("rng.sigma=11 2 0 4 0 0 0 0", "rng.sigma=11 2 0 5 0 0 0 4294967296").encode())
out("checkpoint", "seed-neg", "\n".join(base).replace("loader.index=4", "loader.index=-1").replace("step=100", "step=-5").encode())

# options (hdit's table): "name=value" lines, or bare values by position
out("options", "seed-defaults", b"")
out("options", "seed-preset-E", b"preset=E\nimage_size=128\nnum_classes=1000")
out("options", "seed-lists", b"widths=[128, 256, 512]\ndepths=2,2,4\nd_ffs=(384,768,1536)\nattn=[neighborhood,'global',\"none\"]\n"
                             b"d_head=[64]\nkernel=7\nwindow=[8]\ndropout=[0, 0.0, 0]\npatch=[2,4]")
out("options", "seed-types", b"out_gate=yes\nnull_class=off\nmapping_width=1e3\nmapping_dropout=0.0\nmapping_ffn=gelu\n"
                             b"skip=concat\nffn=gelu\npos=additive\nnorm=adaln\nin_channels=1\nout_channels=2\nimage_size=[32, 64]")
out("options", "seed-positional", b"B1\n[64]\n3\n")
out("options", "seed-errors", b"widht=3\nmapping_width=inf\nmapping_dropout=nan\nd_head=[64,\npreset=Q\nnum_classes=-1\n=\ndropout=[0.5]")

# png: written here (zlib + chunks); jpeg: the 8x8 JPEG of tests/unit/test_core_image.c


def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)

def png(w, h, bitdepth, ctype, rows, plte=None, trns=None, filt=0):
    raw = b"".join(bytes([filt]) + r for r in rows)
    ihdr = struct.pack(">IIBBBBB", w, h, bitdepth, ctype, 0, 0, 0)
    body = chunk(b"IHDR", ihdr)
    if plte: body += chunk(b"PLTE", plte)
    if trns: body += chunk(b"tRNS", trns)
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")

out("png", "seed-gray8.png", png(8, 8, 8, 0, [bytes((x * 32 + y) % 256 for x in range(8)) for y in range(8)]))
out("png", "seed-rgb8.png", png(7, 5, 8, 2, [bytes((x * 30 + c * 80 + y * 9) % 256 for x in range(7) for c in range(3)) for y in range(5)], filt=1))
out("png", "seed-rgba8.png", png(6, 6, 8, 6, [bytes((x * 40 + c * 60 + y) % 256 for x in range(6) for c in range(4)) for y in range(6)], filt=4))
out("png", "seed-gray16.png", png(4, 9, 16, 0, [b"".join(struct.pack(">H", x * 9000 + y) for x in range(4)) for y in range(9)], filt=2))
out("png", "seed-rgb16.png", png(5, 3, 16, 2, [b"".join(struct.pack(">H", (x + c + y) * 4000) for x in range(5) for c in range(3)) for y in range(3)], filt=3))
out("png", "seed-graya8.png", png(4, 4, 8, 4, [bytes((x * 50 + c * 100) % 256 for x in range(4) for c in range(2)) for y in range(4)]))
out("png", "seed-palette2.png", png(8, 4, 2, 3, [bytes([0b00011011, 0b11100100]) for y in range(4)], plte=bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9]), trns=bytes([128, 255])))
out("png", "seed-mono1.png", png(16, 2, 1, 0, [bytes([0xaa, 0x55]), bytes([0x0f, 0xf0])]))
out("png", "seed-rgb8-odd-last.png", png(3, 3, 8, 2, [bytes(range(y, y + 9)) for y in range(3)]) + b"\x01")
with open(os.path.join(root, "tests", "unit", "test_core_image.c")) as f:
    src = f.read()
m = re.search(r"flat_jpg\[\] = \{(.*?)\};", src, re.S)
if m:
    jpg = bytes(int(v, 16) for v in re.findall(r"0x[0-9a-fA-F]{2}", m.group(1)))
    out("png", "seed-flat8x8.jpg", jpg)
print("seeds written under", corpus)

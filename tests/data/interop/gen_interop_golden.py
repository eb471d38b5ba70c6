#!/usr/bin/python3
"""Generate the interop goldens of diffkit (k-diffusion HDiT checkpoint + samples,
DiT pixel-space checkpoint + samples) with the REAL, unmodified code of

  * crowsonkb/k-diffusion      (k_diffusion.config / layers / sampling / models.image_transformer_v2)
  * facebookresearch/DiT       (models.py, diffusion/, train.py helpers, download.find_model)

Run with the Debian torch 1.13 CPU interpreter:

    /usr/bin/python3 gen_interop_golden.py --kd-src /path/k-diffusion --dit-src /path/DiT \
        [--kd-commit HASH] [--dit-commit HASH] [--out DIR]

The two source trees are plain checkouts (or `git archive HEAD` extracts). The
commit hashes are taken from `git -C SRC rev-parse HEAD` when SRC is a git
work tree, else from --kd-commit / --dit-commit (defaults: the commits the
committed files were made from). Missing dependencies are replaced by the
shims in ./shims (see README.md). Everything is seeded; a rerun reproduces the
tensors bit for bit on the same torch build (the .pth files differ only in
the measured `elapsed` value of the k-diffusion checkpoint, which is fixed
here to make reruns byte-identical in content).
"""
import argparse
import copy
import importlib.util
import json
import math
import os
import struct
import subprocess
import sys
import time
from contextlib import contextmanager

HERE = os.path.dirname(os.path.abspath(__file__))
GENERATOR = "tests/data/interop/gen_interop_golden.py"
DEFAULT_KD_COMMIT = "4601bf085320592473f681a62808ed873d17fad5"
DEFAULT_DIT_COMMIT = "ed81ce2229091fd4ecc9a223645f95cf379d582b"

SEED_KD = 20260101
SEED_DIT = 20260202


# ---------------------------------------------------------------------------
# safetensors (hand written: the `safetensors` package is not installed)
# ---------------------------------------------------------------------------

_DT = {  # torch dtype name -> (safetensors name, numpy dtype string)
    "float64": ("F64", "<f8"),
    "float32": ("F32", "<f4"),
    "int64": ("I64", "<i8"),
}


def write_safetensors(path, tensors, metadata):
    import numpy as np
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        st, npd = _DT[str(t.dtype).replace("torch.", "")]
        raw = np.ascontiguousarray(t.numpy().astype(npd)).tobytes()
        header[name] = {"dtype": st, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Tiny independent reader: returns ({name: numpy array}, metadata)."""
    import numpy as np
    rev = {"F64": "<f8", "F32": "<f4", "I64": "<i8"}
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode())
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out, end_max = {}, 0
    for name, h in header.items():
        b, e = h["data_offsets"]
        arr = np.frombuffer(data[base + b:base + e], dtype=rev[h["dtype"]])
        assert arr.size == math.prod(h["shape"]), name
        out[name] = arr.reshape(h["shape"]).copy()
        end_max = max(end_max, e)
    assert base + end_max == len(data), "trailing / missing bytes"
    assert all(isinstance(v, str) for v in meta.values())
    return out, meta


def fmt(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "inf" if v == math.inf else repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(fmt(x) for x in v) + "]"
    return str(v)


# ---------------------------------------------------------------------------
# environment
# ---------------------------------------------------------------------------

def git_head(src, fallback):
    try:
        r = subprocess.run(["git", "-C", src, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        h = r.stdout.strip()
        if len(h) == 40:
            return h
    except Exception:
        pass
    return fallback


def setup_paths(kd_src, dit_src):
    shims = os.path.join(HERE, "shims")
    sys.path[:0] = [shims, dit_src]  # k_diffusion is registered below; kd_src root is NOT on the path (its train.py would shadow DiT's)
    import torch_compat  # noqa: F401  (torch._dynamo stub, F.scaled_dot_product_attention, env flags)
    # Import k_diffusion submodules without executing k_diffusion/__init__.py
    # (which would pull in evaluation.py -> clean-fid, CLIP, ...): register the
    # package object with its __path__ and let the import system find the
    # submodules on disk.
    spec = importlib.util.spec_from_file_location(
        "k_diffusion", os.path.join(kd_src, "k_diffusion", "__init__.py"),
        submodule_search_locations=[os.path.join(kd_src, "k_diffusion")])
    pkg = importlib.util.module_from_spec(spec)
    sys.modules["k_diffusion"] = pkg


@contextmanager
def default_dtype(dt):
    import torch
    old = torch.get_default_dtype()
    torch.set_default_dtype(dt)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def check_natten_shim():
    """The natten shim against a brute-force loop (NATTEN semantics)."""
    import torch
    import natten
    g = torch.Generator().manual_seed(1)
    for (h, w, k) in [(8, 8, 5), (7, 9, 3), (5, 5, 5)]:
        q = torch.randn(2, 2, h, w, 4, generator=g, dtype=torch.float64)
        kk = torch.randn(2, 2, h, w, 4, generator=g, dtype=torch.float64)
        v = torch.randn(2, 2, h, w, 4, generator=g, dtype=torch.float64)
        qk = natten.functional.na2d_qk(q, kk, k)
        a = torch.softmax(qk, -1)
        out = natten.functional.na2d_av(a, v, k)
        ref = torch.empty_like(out)
        for i in range(h):
            si = min(max(i - k // 2, 0), h - k)
            for j in range(w):
                sj = min(max(j - k // 2, 0), w - k)
                keys = kk[:, :, si:si + k, sj:sj + k].reshape(2, 2, k * k, 4)
                vals = v[:, :, si:si + k, sj:sj + k].reshape(2, 2, k * k, 4)
                logits = (q[:, :, i, j, None, :] * keys).sum(-1)
                assert torch.allclose(logits, qk[:, :, i, j], rtol=0, atol=1e-12)
                ref[:, :, i, j] = (torch.softmax(logits, -1)[..., None] * vals).sum(-2)
        assert torch.allclose(out, ref, rtol=0, atol=1e-12)


def check_einops_shim():
    import torch
    from einops import rearrange
    x = torch.arange(2 * 4 * 6 * 3).reshape(2, 4, 6, 3)
    y = rearrange(x, "... (h nh) (w nw) e -> ... h w (nh nw e)", nh=2, nw=2)
    ref = x.reshape(2, 2, 2, 3, 2, 3).permute(0, 1, 3, 2, 4, 5).reshape(2, 2, 3, 12)
    assert torch.equal(y, ref)
    assert torch.equal(rearrange(y, "... h w (nh nw e) -> ... (h nh) (w nw) e", nh=2, nw=2), x)
    qkv = torch.arange(2 * 3 * 4 * 24).reshape(2, 3, 4, 24)
    t = rearrange(qkv, "n h w (t nh e) -> t n nh h w e", t=3, e=4)
    assert torch.equal(t, qkv.reshape(2, 3, 4, 3, 2, 4).permute(3, 0, 4, 1, 2, 5))
    assert torch.equal(rearrange(t[0], "n nh h w e -> n h w (nh e)"), qkv[..., :8])


# ---------------------------------------------------------------------------
# k-diffusion
# ---------------------------------------------------------------------------

KD_CONFIG_IN = {
    "model": {
        "type": "image_transformer_v2",
        "input_channels": 3,
        "input_size": [16, 16],
        "patch_size": [2, 2],
        "depths": [1, 1],
        "widths": [32, 64],
        "d_ffs": [64, 128],
        "self_attns": [
            {"type": "neighborhood", "d_head": 16, "kernel_size": 5},
            {"type": "global", "d_head": 16},
        ],
        "mapping_width": 48,
        "mapping_depth": 1,
        "mapping_d_ff": 96,
        "loss_config": "karras",
        "loss_weighting": "soft-min-snr",
        "dropout_rate": [0.0, 0.0],
        "mapping_dropout_rate": 0.0,
        "augment_prob": 0.0,
        "sigma_data": 0.5,
        "sigma_min": 1e-2,
        "sigma_max": 80,
        "sigma_sample_density": {"type": "cosine-interpolated"},
    },
    "dataset": {
        "type": "imagefolder",
        "location": "data/tiny",
        "num_classes": 10,
        "cond_dropout_rate": 0.1,
    },
    "optimizer": {
        "type": "adamw",
        "lr": 5e-4,
        "betas": [0.9, 0.95],
        "eps": 1e-8,
        "weight_decay": 1e-3,
    },
    "lr_sched": {"type": "constant", "warmup": 0.0},
    "ema_sched": {"type": "inverse", "power": 0.75, "max_value": 0.9999},
}

KD_WEIGHT_INIT = ("every parameter ~ N(0, 0.08^2) from a seeded generator, except RMSNorm scales 1 + 0.1 N(0,1), "
                  "attention scale 10 exp(0.2 N(0,1)), TokenSplit fac 0.5 + 0.1 N(0,1); FourierFeatures buffers "
                  "as constructed (torch.randn after torch.manual_seed); then one real AdamW training step (train.py "
                  "order); model_ema = EMA after that step (equal to model: EMAWarmup decay is 0 at step 0) + "
                  "0.01 N(0,1) on every parameter")


def kd_init_weights(inner, gen):
    import torch
    from k_diffusion.models import image_transformer_v2 as itv2
    special = {}
    for mname, mod in inner.named_modules():
        pre = mname + "." if mname else ""
        if isinstance(mod, itv2.RMSNorm):
            special[pre + "scale"] = "norm"
        elif isinstance(mod, (itv2.SelfAttentionBlock, itv2.NeighborhoodSelfAttentionBlock,
                              itv2.ShiftedWindowSelfAttentionBlock)):
            special[pre + "scale"] = "attn"
        elif isinstance(mod, itv2.TokenSplit):
            special[pre + "fac"] = "fac"
    with torch.no_grad():
        for name, p in inner.named_parameters():
            n = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            kind = special.get(name)
            if kind == "norm":
                v = 1 + 0.1 * n
            elif kind == "attn":
                v = 10 * torch.exp(0.2 * n)
            elif kind == "fac":
                v = 0.5 + 0.1 * n
            else:
                v = 0.08 * n
            p.copy_(v.to(p.dtype))
    return special


def gen_kdiff(out_dir, commits):
    import torch
    import k_diffusion.config as Kconfig
    import k_diffusion.layers as Klayers
    import k_diffusion.sampling as Ksampling
    import k_diffusion.utils as Kutils
    from k_diffusion.models import image_transformer_v2 as itv2

    # torch 1.13: ApplyRotaryEmbeddingInplace uses the torch-2 autograd.Function
    # API (forward without ctx + setup_context), which torch 1.13 cannot call.
    # Replace the module-level helper by the same module's out-of-place
    # apply_rotary_emb (identical arithmetic: y1 = x1 cos - x2 sin,
    # y2 = x2 cos + x1 sin, rest untouched); the call sites use the return value.
    itv2.apply_rotary_emb_ = lambda x, theta: itv2.apply_rotary_emb(x, theta)

    torch.manual_seed(SEED_KD)
    config = Kconfig.load_config(copy.deepcopy(KD_CONFIG_IN))
    model_config = config["model"]
    dataset_config = config["dataset"]
    opt_config = config["optimizer"]
    sched_config = config["lr_sched"]
    ema_sched_config = config["ema_sched"]
    num_classes = dataset_config["num_classes"]
    cond_dropout_rate = dataset_config["cond_dropout_rate"]

    demo_gen = torch.Generator().manual_seed(torch.randint(-2 ** 63, 2 ** 63 - 1, ()).item())
    elapsed = 0.0

    inner_model = Kconfig.make_model(config)
    gen = torch.Generator().manual_seed(SEED_KD + 1)
    kd_init_weights(inner_model, gen)
    inner_model_ema = copy.deepcopy(inner_model)

    lr = opt_config["lr"]
    groups = inner_model.param_groups(lr)
    opt = torch.optim.AdamW(groups, lr=lr, betas=tuple(opt_config["betas"]), eps=opt_config["eps"],
                            weight_decay=opt_config["weight_decay"])
    assert sched_config["type"] == "constant"
    sched = Kutils.ConstantLRWithWarmup(opt, warmup=sched_config["warmup"])
    assert ema_sched_config["type"] == "inverse"
    ema_sched = Kutils.EMAWarmup(power=ema_sched_config["power"], max_value=ema_sched_config["max_value"])
    ema_stats = {}

    sample_density = Kconfig.make_sample_density(model_config)
    model = Kconfig.make_denoiser_wrapper(config)(inner_model)
    model_ema = Kconfig.make_denoiser_wrapper(config)(inner_model_ema)

    # ---- one real training step, in train.py's order (single process, no accelerate) ----
    epoch, step = 0, 0
    B = 4
    reals = torch.rand([B, 3, 16, 16], generator=gen) * 2 - 1
    aug_cond = torch.zeros([B, 9])  # KarrasAugmentationPipeline with augment_prob 0
    class_cond = torch.tensor([2, 5, 7, 1])
    drop = torch.rand(class_cond.shape, device=class_cond.device)
    class_cond.masked_fill_(drop < cond_dropout_rate, num_classes)
    extra_args = {"class_cond": class_cond}
    noise = torch.randn_like(reals)
    sigma = sample_density([reals.shape[0]], device="cpu")
    t0 = time.time()
    losses = model.loss(reals, noise, sigma, aug_cond=aug_cond, **extra_args)
    loss = losses.mean().item()
    losses.mean().backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.)
    opt.step()
    sched.step()
    opt.zero_grad()
    ema_decay = ema_sched.get_value()
    Kutils.ema_update_dict(ema_stats, {"loss": loss}, ema_decay)
    Kutils.ema_update(model, model_ema, ema_decay)
    ema_sched.step()
    step += 1
    elapsed += time.time() - t0
    elapsed = 1.25  # fixed so that reruns give identical checkpoint contents

    # make model_ema differ from model
    with torch.no_grad():
        for p in inner_model_ema.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype))

    obj = {
        "config": config,
        "model": inner_model.state_dict(),
        "model_ema": inner_model_ema.state_dict(),
        "opt": opt.state_dict(),
        "sched": sched.state_dict(),
        "ema_sched": ema_sched.state_dict(),
        "epoch": epoch,
        "step": step,
        "gns_stats": None,
        "ema_stats": ema_stats,
        "demo_gen": demo_gen.get_state(),
        "elapsed": elapsed,
    }
    ckpt_path = os.path.join(out_dir, "kdiff_tiny.pth")
    torch.save(obj, ckpt_path)

    # ---- sampling with the EMA model in float64 (as sample.py: load_state_dict of model_ema) ----
    ckpt = torch.load(ckpt_path, map_location="cpu")
    config2 = Kconfig.load_config(ckpt["config"])
    assert config2 == ckpt["config"]
    with default_dtype(torch.float64):
        inner = Kconfig.make_model(config2)
        inner.load_state_dict(ckpt["model_ema"])
        inner = inner.double().eval()
        denoiser = Kconfig.make_denoiser_wrapper(config2)(inner)
        assert isinstance(denoiser, Klayers.Denoiser) and denoiser.sigma_data == 0.5
        denoiser.eval()

        sg = torch.Generator().manual_seed(SEED_KD + 2)
        n_steps, smin, smax, rho = 10, 0.01, 80.0, 7.0
        sigmas = Ksampling.get_sigmas_karras(n_steps, smin, smax, rho=rho, device="cpu")
        assert sigmas.dtype == torch.float64
        labels = torch.tensor([0, 3, 7, 9], dtype=torch.int64)
        noise0 = torch.randn([4, 3, 16, 16], generator=sg, dtype=torch.float64)
        extra = {"class_cond": labels}
        with torch.no_grad():
            x = noise0 * sigmas[0]
            x_lms = Ksampling.sample_lms(denoiser, x.clone(), sigmas, extra_args=extra, disable=True)
            x_dpm = Ksampling.sample_dpmpp_2m_sde(denoiser, x.clone(), sigmas, extra_args=extra, eta=0.0,
                                                 solver_type="heun", disable=True)
            x_heun = Ksampling.sample_heun(denoiser, x.clone(), sigmas, extra_args=extra, disable=True)
            den_sigma = 1.5
            denoised = denoiser(noise0, torch.full([4], den_sigma, dtype=torch.float64), **extra)
            raw = inner(noise0 * (1 / (den_sigma ** 2 + 0.25) ** 0.5), torch.full([4], den_sigma, dtype=torch.float64),
                        class_cond=labels)
    for t in (x_lms, x_dpm, x_heun, denoised):
        assert t.dtype == torch.float64 and torch.isfinite(t).all()
    assert denoised.abs().max() > 1e-3, "trivial model output"

    tensors = {
        "noise": noise0, "sigmas": sigmas, "labels": labels,
        "x_lms": x_lms, "x_dpmpp_2m_sde": x_dpm, "x_heun": x_heun,
        "denoised": denoised, "denoised_inner": raw,
    }
    meta = {
        "generator": GENERATOR, "set": "interop", "section": "kdiff_tiny",
        "k_diffusion_commit": commits["kd"], "dit_commit": commits["dit"], "torch_version": torch.__version__,
        "checkpoint": "kdiff_tiny.pth", "weights": "model_ema",
        "wrapper": "k_diffusion.layers.Denoiser(inner, sigma_data=0.5) via config.make_denoiser_wrapper",
        "sigma_data": fmt(0.5),
        "schedule": "get_sigmas_karras", "n": fmt(n_steps), "sigma_min": fmt(smin), "sigma_max": fmt(smax),
        "rho": fmt(rho),
        "x0_rule": "noise * sigmas[0]",
        "extra_args": "class_cond=labels (no CFG, no aug_cond -> zeros)",
        "x_lms": "K.sampling.sample_lms(order=4)",
        "x_dpmpp_2m_sde": "K.sampling.sample_dpmpp_2m_sde(eta=0.0, solver_type='heun') (deterministic)",
        "x_heun": "K.sampling.sample_heun(s_churn=0)",
        "denoised": "denoiser(noise, sigma=den_sigma, class_cond=labels)",
        "denoised_inner": "inner(noise * c_in(den_sigma), den_sigma, class_cond=labels): raw model output (before c_skip/c_out)",
        "den_sigma": fmt(den_sigma),
        "precision": "model .double(), torch default dtype float64 (axial pos, RoPE angles, Karras ramp all float64)",
        "weight_init": KD_WEIGHT_INIT,
        "natten": "pure-torch shim (NATTEN semantics, window start clamp(i-k//2,0,H-k))",
        "seed": fmt(SEED_KD),
    }
    path = os.path.join(out_dir, "kdiff_tiny.sample.safetensors")
    write_safetensors(path, tensors, meta)
    return ckpt_path, path


# ---------------------------------------------------------------------------
# DiT
# ---------------------------------------------------------------------------

DIT_CFG = dict(input_size=8, patch_size=2, in_channels=3, hidden_size=32, depth=2, num_heads=2,
               num_classes=10, learn_sigma=True, class_dropout_prob=0.1)
DIT_WEIGHT_INIT = ("DiT constructor init, then every parameter except pos_embed (DiT's fixed 2-D sin-cos table) "
                   "~ N(0, 0.08^2) from a seeded generator; one real train.py step (AdamW lr 1e-4, wd 0, "
                   "diffusion.training_losses on pixel-space x, update_ema decay 0.9999); then ema += 0.01 N(0,1) "
                   "on every parameter except pos_embed")


class NoiseStream:
    """Replaces torch.randn_like / torch.randn while DiT's p_sample_loop runs:
    each call takes the next slice of a pre-drawn float64 stream."""

    def __init__(self, stream):
        self.stream = stream
        self.i = 0

    @contextmanager
    def patched(self):
        import torch
        orig_like, orig_randn = torch.randn_like, torch.randn

        def randn_like(x, *a, **k):
            assert not a and set(k) <= {"dtype", "device"}, (a, k)
            s = self.stream[self.i]
            assert tuple(s.shape) == tuple(x.shape), (s.shape, x.shape)
            self.i += 1
            return s.to(dtype=k.get("dtype") or x.dtype, device=x.device).clone()

        def randn(*a, **k):
            raise AssertionError("unexpected torch.randn inside p_sample_loop (noise was given)")

        torch.randn_like, torch.randn = randn_like, randn
        try:
            yield self
        finally:
            torch.randn_like, torch.randn = orig_like, orig_randn


def gen_dit(out_dir, commits):
    import argparse as ap
    import torch
    import numpy as np
    from models import DiT
    from diffusion import create_diffusion
    import train as dit_train      # real helpers: update_ema, requires_grad
    from download import find_model

    torch.manual_seed(SEED_DIT)
    args = ap.Namespace(data_path="data/tiny", results_dir="results", model="DiT-S/2", image_size=8,
                        num_classes=10, epochs=1, global_batch_size=4, global_seed=0, vae="ema",
                        num_workers=4, log_every=100, ckpt_every=1)
    model = DiT(**DIT_CFG)
    gen = torch.Generator().manual_seed(SEED_DIT + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "pos_embed":
                continue
            p.copy_((0.08 * torch.randn(p.shape, generator=gen, dtype=torch.float64)).to(p.dtype))
    ema = copy.deepcopy(model)
    dit_train.requires_grad(ema, False)
    diffusion = create_diffusion(timestep_respacing="")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0)
    dit_train.update_ema(ema, model, decay=0)
    model.train()
    ema.eval()

    # one training step (pixel space: no VAE encode)
    x = torch.rand([4, 3, 8, 8], generator=gen) * 2 - 1
    y = torch.tensor([3, 1, 4, 1])
    t = torch.randint(0, diffusion.num_timesteps, (x.shape[0],))
    loss_dict = diffusion.training_losses(model, x, t, dict(y=y))
    loss = loss_dict["loss"].mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    dit_train.update_ema(ema, model)
    with torch.no_grad():
        for name, p in ema.named_parameters():
            if name == "pos_embed":
                continue
            p.add_(0.01 * torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype))

    checkpoint = {"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "args": args}
    ckpt_path = os.path.join(out_dir, "dit_tiny_train.pt")
    torch.save(checkpoint, ckpt_path)
    ema_path = os.path.join(out_dir, "dit_tiny_ema_only.pt")
    torch.save(ema.state_dict(), ema_path)

    # ---- sample.py procedure, pixel space, float64 ----
    state_dict = find_model(ckpt_path)          # DiT's own loader: picks checkpoint["ema"]
    sd2 = find_model(ema_path)
    assert all(torch.equal(state_dict[k], sd2[k]) for k in state_dict)
    K, cfg_scale = 10, 4.0
    labels = [1, 4, 9, 0]
    with default_dtype(torch.float64):
        net = DiT(**DIT_CFG)
        net.load_state_dict(state_dict)
        net = net.double().eval()
        # DiT's TimestepEmbedder.timestep_embedding builds the sinusoid in
        # float32 explicitly (dtype=torch.float32, t.float()); a float64
        # Linear rejects a float32 input in torch 1.13, so cast it (its values
        # stay the float32 sinusoid DiT uses).
        net.t_embedder.mlp.register_forward_pre_hook(lambda m, inp: tuple(i.to(torch.float64) for i in inp))
        diffusion = create_diffusion(str(K))
        n = len(labels)
        sg = torch.Generator().manual_seed(SEED_DIT + 2)
        z0 = torch.randn(n, 3, args.image_size, args.image_size, generator=sg, dtype=torch.float64)
        stream_cfg = torch.randn(K, 2 * n, 3, args.image_size, args.image_size, generator=sg, dtype=torch.float64)
        stream_nocfg = torch.randn(K, n, 3, args.image_size, args.image_size, generator=sg, dtype=torch.float64)
        torch.set_grad_enabled(False)
        y = torch.tensor(labels)
        # CFG run, exactly as sample.py
        z = torch.cat([z0, z0], 0)
        y_null = torch.tensor([args.num_classes] * n)
        yy = torch.cat([y, y_null], 0)
        model_kwargs = dict(y=yy, cfg_scale=cfg_scale)
        ns = NoiseStream(stream_cfg)
        with ns.patched():
            samples = diffusion.p_sample_loop(net.forward_with_cfg, z.shape, z, clip_denoised=False,
                                              model_kwargs=model_kwargs, progress=False, device="cpu")
        assert ns.i == K, ns.i
        samples_full = samples
        samples, _ = samples.chunk(2, dim=0)
        # no-CFG run (cfg 1.0): plain model.forward, batch n
        ns2 = NoiseStream(stream_nocfg)
        with ns2.patched():
            samples_nocfg = diffusion.p_sample_loop(net.forward, z0.shape, z0.clone(), clip_denoised=False,
                                                    model_kwargs=dict(y=y), progress=False, device="cpu")
        assert ns2.i == K, ns2.i
        # one raw forward for localising failures: the first step of the no-CFG run
        t_first = torch.tensor([diffusion.timestep_map[-1]] * n)
        model_out = net(z0, t_first, y)
        torch.set_grad_enabled(True)
    timestep_map = torch.tensor(diffusion.timestep_map, dtype=torch.int64)
    betas = torch.from_numpy(np.asarray(diffusion.betas, dtype=np.float64))
    for tt in (samples, samples_nocfg, model_out):
        assert tt.dtype == torch.float64 and torch.isfinite(tt).all()
    assert torch.equal(samples_full[:n], samples)

    tensors = {
        "z": z0, "labels": torch.tensor(labels, dtype=torch.int64), "samples": samples,
        "noise_stream": stream_cfg, "samples_nocfg": samples_nocfg, "noise_stream_nocfg": stream_nocfg,
        "timestep_map": timestep_map, "betas": betas,
        "model_out": model_out, "model_out_t": t_first.to(torch.int64),
        "samples_uncond_half": samples_full[n:],
    }
    meta = {
        "generator": GENERATOR, "set": "interop", "section": "dit_tiny",
        "k_diffusion_commit": commits["kd"], "dit_commit": commits["dit"], "torch_version": torch.__version__,
        "checkpoint": "dit_tiny_train.pt", "weights": "ema (download.find_model)",
        "cfg.input_size": fmt(8), "cfg.patch_size": fmt(2), "cfg.in_channels": fmt(3), "cfg.hidden_size": fmt(32),
        "cfg.depth": fmt(2), "cfg.num_heads": fmt(2), "cfg.mlp_ratio": fmt(4.0), "cfg.num_classes": fmt(10),
        "cfg.learn_sigma": fmt(True), "cfg.class_dropout_prob": fmt(0.1),
        "pixel_space": "true (no VAE; in_channels 3, input_size = image_size = 8)",
        "K": fmt(K), "diffusion": "create_diffusion(str(K)): linear betas, 1000 steps respaced to K, LEARNED_RANGE variance, EPSILON",
        "cfg_scale": fmt(cfg_scale), "null_class": fmt(args.num_classes),
        "procedure": ("z2 = cat([z, z]); y2 = cat([labels, [null_class]*n]); samples = p_sample_loop(forward_with_cfg, "
                      "z2.shape, z2, clip_denoised=False, model_kwargs=dict(y=y2, cfg_scale=cfg_scale)); "
                      "samples = first half"),
        "noise_stream": ("[K, 2n, C, H, W]: noise_stream[j] is what torch.randn_like returned at the j-th p_sample "
                         "call (j = 0 at t = K-1 ... j = K-1 at t = 0, where it is masked out). Rows [0, n) feed the "
                         "conditional half whose result is `samples`; rows [n, 2n) feed the unconditional half, "
                         "whose result (samples_uncond_half) is discarded by sample.py and never influences `samples` "
                         "(forward_with_cfg only reads x[:n])"),
        "noise_stream_nocfg": "[K, n, C, H, W], same convention, for samples_nocfg",
        "samples_nocfg": "p_sample_loop(model.forward, z.shape, z, clip_denoised=False, model_kwargs=dict(y=labels)) (cfg 1.0)",
        "cfg_channels": ("forward_with_cfg guides model_out[:, :3] only (DiT's reproducibility choice); with 3 pixel "
                         "channels that is all of eps; the variance channels 3..5 are the model's own output"),
        "model_out": "net(z, model_out_t, labels): raw 6-channel output (eps, variance) at the first no-CFG step",
        "precision": ("model .double(), default dtype float64; DiT itself computes the timestep sinusoid in float32 "
                      "(cast to float64 before t_embedder.mlp) and _extract_into_tensor casts every schedule "
                      "coefficient to float32 (.float()) before it multiplies float64 tensors"),
        "timestep_map": "original DDPM timestep of each respaced step (the model sees these t)",
        "betas": "respaced betas (float64, as SpacedDiffusion computes them)",
        "weight_init": DIT_WEIGHT_INIT,
        "seed": fmt(SEED_DIT),
    }
    path = os.path.join(out_dir, "dit_tiny.sample.safetensors")
    write_safetensors(path, tensors, meta)
    return ckpt_path, ema_path, path


# ---------------------------------------------------------------------------

def check_resume(out_dir):
    """Load the checkpoints back the way the original trainers resume them."""
    import torch
    import k_diffusion.config as Kconfig
    import k_diffusion.utils as Kutils
    import k_diffusion.layers as Klayers
    ckpt = torch.load(os.path.join(out_dir, "kdiff_tiny.pth"), map_location="cpu")
    config = Kconfig.load_config(ckpt["config"])
    m, me = Kconfig.make_model(config), Kconfig.make_model(config)
    m.load_state_dict(ckpt["model"])
    me.load_state_dict(ckpt["model_ema"])
    oc = config["optimizer"]
    opt = torch.optim.AdamW(m.param_groups(oc["lr"]), lr=oc["lr"], betas=tuple(oc["betas"]), eps=oc["eps"],
                            weight_decay=oc["weight_decay"])
    opt.load_state_dict(ckpt["opt"])
    sched = Kutils.ConstantLRWithWarmup(opt, warmup=config["lr_sched"]["warmup"])
    sched.load_state_dict(ckpt["sched"])
    es = Kutils.EMAWarmup(power=config["ema_sched"]["power"], max_value=config["ema_sched"]["max_value"])
    es.load_state_dict(ckpt["ema_sched"])
    torch.Generator().set_state(ckpt["demo_gen"])
    assert ckpt["step"] == 1 and ckpt["gns_stats"] is None and "loss" in ckpt["ema_stats"]
    assert any(not torch.equal(ckpt["model"][k], ckpt["model_ema"][k]) for k in ckpt["model"])
    # float32 run of the EMA model vs the float64 golden (sanity: ~1e-6 apart)
    t, _ = read_safetensors(os.path.join(out_dir, "kdiff_tiny.sample.safetensors"))
    den = Klayers.Denoiser(me.eval(), sigma_data=0.5)
    with torch.no_grad():
        d32 = den(torch.from_numpy(t["noise"]).float(), torch.full([4], 1.5), class_cond=torch.from_numpy(t["labels"]))
    err = (d32.double() - torch.from_numpy(t["denoised"])).abs().max().item()
    print(f"kdiff: float32 EMA denoiser vs float64 golden: max abs diff {err:.3g}")
    assert err < 1e-4

    from models import DiT
    dc = torch.load(os.path.join(out_dir, "dit_tiny_train.pt"), map_location="cpu")
    net = DiT(**DIT_CFG)
    net.load_state_dict(dc["model"])
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=0)
    opt.load_state_dict(dc["opt"])
    net.load_state_dict(dc["ema"])
    net.load_state_dict(torch.load(os.path.join(out_dir, "dit_tiny_ema_only.pt"), map_location="cpu"))
    assert dc["args"].image_size == 8 and dc["args"].num_classes == 10
    t, _ = read_safetensors(os.path.join(out_dir, "dit_tiny.sample.safetensors"))
    with torch.no_grad():
        o32 = net.eval()(torch.from_numpy(t["z"]).float(), torch.from_numpy(t["model_out_t"]),
                         torch.from_numpy(t["labels"]))
    err = (o32.double() - torch.from_numpy(t["model_out"])).abs().max().item()
    print(f"dit: float32 EMA forward vs float64 golden: max abs diff {err:.3g}")
    assert err < 1e-4


def verify(paths):
    import torch
    for p in paths:
        if p.endswith(".safetensors"):
            t, m = read_safetensors(p)
            print(f"{os.path.basename(p)}: {os.path.getsize(p)} bytes")
            for k in sorted(t):
                print(f"    {k}: {t[k].dtype} {list(t[k].shape)}")
        else:
            obj = torch.load(p, map_location="cpu")
            keys = list(obj.keys()) if isinstance(obj, dict) else type(obj)
            print(f"{os.path.basename(p)}: {os.path.getsize(p)} bytes, keys {keys if len(keys) < 20 else len(keys)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kd-src", default="/tmp/golden-work/kd")
    ap.add_argument("--dit-src", default="/tmp/golden-work/dit")
    ap.add_argument("--kd-commit", default=None)
    ap.add_argument("--dit-commit", default=None)
    ap.add_argument("--out", default=HERE)
    a = ap.parse_args()
    kd_src, dit_src = os.path.abspath(a.kd_src), os.path.abspath(a.dit_src)
    commits = {"kd": a.kd_commit or git_head(kd_src, DEFAULT_KD_COMMIT),
               "dit": a.dit_commit or git_head(dit_src, DEFAULT_DIT_COMMIT)}
    setup_paths(kd_src, dit_src)
    import torch
    torch.set_num_threads(1)
    check_einops_shim()
    check_natten_shim()
    os.makedirs(a.out, exist_ok=True)
    paths = list(gen_kdiff(a.out, commits)) + list(gen_dit(a.out, commits))
    check_resume(a.out)
    verify(paths)
    print("commits", commits, "torch", torch.__version__)


if __name__ == "__main__":
    main()

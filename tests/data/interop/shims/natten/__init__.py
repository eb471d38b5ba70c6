"""Pure-torch stand-in for NATTEN (not installable here; CPU, torch 1.13).

Only what k_diffusion/models/image_transformer_v2.py calls:
  natten.has_fused_na() -> False   (so the unfused na2d_qk / softmax / na2d_av path runs)
  natten.functional.na2d_qk(q, k, kernel_size)   q, k: [B, heads, H, W, D] -> [B, heads, H, W, k*k]
  natten.functional.na2d_av(attn, v, kernel_size) attn: [B, heads, H, W, k*k], v: [B, heads, H, W, D]
NATTEN semantics, dilation 1, odd kernel k, no relative position bias, no
scaling (k-diffusion applies its own cosine-sim scale): the query at (i, j)
attends to the k x k keys in rows start(i)..start(i)+k-1 and columns
start(j)..start(j)+k-1 with start(i) = clamp(i - k//2, 0, H - k), i.e. the
window is shifted inward at the borders (NATTEN's get_window_start), never
zero-padded.  The k*k neighbours are ordered row-major over (ki, kj).
"""
from . import functional


def has_fused_na():
    return False


def has_cuda():
    return False

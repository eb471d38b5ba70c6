"""torch 1.13 compatibility shims for k-diffusion (written for torch >= 2.0).

Import this before any k_diffusion module.
1. `torch._dynamo` does not exist in torch 1.13: register a stub module with a
   `config` namespace (k-diffusion only touches it when K_DIFFUSION_USE_COMPILE=1,
   which we set to 0 -- torch.compile does not exist either).
2. `torch.nn.functional.scaled_dot_product_attention` (torch 2.0) is added
   with its math definition: softmax(q k^T * scale + mask) v, scale defaulting
   to 1/sqrt(head_dim); a boolean mask keeps positions where it is True.
"""
import math
import os
import sys
import types

import torch
import torch.nn.functional as F

os.environ.setdefault("K_DIFFUSION_USE_COMPILE", "0")
os.environ.setdefault("K_DIFFUSION_USE_FLASH_2", "0")

if "torch._dynamo" not in sys.modules and not hasattr(torch, "_dynamo"):
    _dyn = types.ModuleType("torch._dynamo")
    _dyn.config = types.SimpleNamespace(cache_size_limit=8, suppress_errors=False, automatic_dynamic_shapes=True)
    sys.modules["torch._dynamo"] = _dyn
    torch._dynamo = _dyn


def _sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    assert dropout_p == 0.0 and not is_causal
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    attn = (query @ key.transpose(-2, -1)) * scale
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            attn = attn.masked_fill(~attn_mask, float("-inf"))
        else:
            attn = attn + attn_mask
    attn = torch.softmax(attn, dim=-1)
    return attn @ value


if not hasattr(F, "scaled_dot_product_attention"):
    F.scaled_dot_product_attention = _sdpa

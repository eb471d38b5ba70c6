"""Minimal stand-in for timm (not installable here): only
timm.models.vision_transformer.{PatchEmbed, Attention, Mlp} as DiT's models.py
imports them. Same constructor signatures, parameter names and forward math
as timm (0.6 - 0.9, non-fused attention path)."""

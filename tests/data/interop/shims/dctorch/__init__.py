"""Stand-in for dctorch: only imported by k_diffusion/layers.py (used by the
multi-scale DCT loss, scales > 1). Not on the golden code path (loss_scales = 1)."""

"""Stand-in for diffusers: DiT's train.py / sample.py import
diffusers.models.AutoencoderKL at module level. The interop goldens are in
pixel space (no VAE), so the class is never instantiated."""

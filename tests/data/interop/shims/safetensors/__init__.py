"""Stand-in for the safetensors package: k_diffusion/utils.py imports it at
module level (only get_safetensors_metadata uses safe_open). The goldens are
written/read by the hand-written reader/writer in gen_interop_golden.py."""


def safe_open(*args, **kwargs):
    raise NotImplementedError("safetensors shim: safe_open not available")

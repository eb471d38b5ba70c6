"""Stand-in for jsonmerge.merge with its default strategies, as used by
k_diffusion/config.py load_config: objects (dicts) are merged recursively
key by key; any other value (including arrays) in `head` overwrites `base`."""
import copy


def merge(base, head, schema=None, **kwargs):
    if isinstance(base, dict) and isinstance(head, dict):
        out = copy.deepcopy(base)
        for k, v in head.items():
            out[k] = merge(out[k], v) if k in out else copy.deepcopy(v)
        return out
    return copy.deepcopy(head)

import torch


def _starts(n, k, device):
    i = torch.arange(n, device=device)
    return torch.clamp(i - k // 2, min=0, max=n - k)


def _neighbour_index(h, w, k, device):
    """[H*W, k*k] flat key index for every query (row-major neighbours)."""
    if h < k or w < k:
        raise ValueError(f"natten shim: grid {h}x{w} smaller than kernel {k}")
    sr = _starts(h, k, device)            # [H]
    sc = _starts(w, k, device)            # [W]
    off = torch.arange(k, device=device)
    rows = sr[:, None] + off[None, :]     # [H, k]
    cols = sc[:, None] + off[None, :]     # [W, k]
    idx = rows[:, None, :, None] * w + cols[None, :, None, :]   # [H, W, k, k]
    return idx.reshape(h * w, k * k)


def _check(kernel_size, dilation):
    if isinstance(kernel_size, (tuple, list)):
        assert kernel_size[0] == kernel_size[1]
        kernel_size = kernel_size[0]
    assert kernel_size % 2 == 1, "natten shim: odd kernel sizes only"
    assert dilation in (None, 1), "natten shim: dilation 1 only"
    return kernel_size


def na2d_qk(query, key, kernel_size, dilation=1, rpb=None, **kwargs):
    k = _check(kernel_size, dilation)
    assert rpb is None, "natten shim: rpb not supported"
    *b, h, w, d = query.shape
    idx = _neighbour_index(h, w, k, query.device)                  # [HW, kk]
    kf = key.reshape(*b, h * w, d)
    kn = kf[..., idx, :]                                           # [*b, HW, kk, d]
    qf = query.reshape(*b, h * w, 1, d)
    attn = (qf * kn).sum(-1)                                       # [*b, HW, kk]
    return attn.reshape(*b, h, w, k * k)


def na2d_av(attn, value, kernel_size, dilation=1, **kwargs):
    k = _check(kernel_size, dilation)
    *b, h, w, d = value.shape
    idx = _neighbour_index(h, w, k, value.device)
    vf = value.reshape(*b, h * w, d)
    vn = vf[..., idx, :]                                           # [*b, HW, kk, d]
    a = attn.reshape(*b, h * w, k * k, 1).to(vn.dtype)
    return (a * vn).sum(-2).reshape(*b, h, w, d)


def na2d(query, key, value, kernel_size, dilation=1, scale=None, **kwargs):
    """Fused form (layout [B, H, W, heads, D]); not used when has_fused_na() is False."""
    q = query.movedim(-2, -4)
    kk = key.movedim(-2, -4)
    v = value.movedim(-2, -4)
    if scale is None:
        scale = q.shape[-1] ** -0.5
    a = torch.softmax(na2d_qk(q * scale, kk, kernel_size, dilation), dim=-1)
    return na2d_av(a, v, kernel_size, dilation).movedim(-4, -2)

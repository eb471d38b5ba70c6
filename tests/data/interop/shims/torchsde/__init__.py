"""Stand-in for torchsde: k_diffusion/sampling.py imports it for
BrownianTreeNoiseSampler. sample_dpmpp_2m_sde constructs that sampler even
with eta = 0 but never calls it (`if eta:` guards the noise term). The shim
tree therefore accepts construction and raises if it is ever sampled, which
proves the golden does not depend on Brownian noise."""


class BrownianTree:
    def __init__(self, t0, w0, t1, entropy=None, **kwargs):
        self.t0, self.t1 = t0, t1

    def __call__(self, *args, **kwargs):
        raise RuntimeError("torchsde shim: Brownian noise requested (eta != 0?)")

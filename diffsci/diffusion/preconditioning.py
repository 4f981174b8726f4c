"""EDM preconditioning: the denoiser D(x, sigma, cond) around a raw network F (Karras et al. 2022, Table 1)."""

from __future__ import annotations

from torch import Tensor, nn

from ..conditioning import Cond
from ..utils import append_dims, batch_sigma

__all__ = ["EDMDenoiser"]


class EDMDenoiser(nn.Module):
    r"""D(x, sigma) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, c_noise(sigma); cond).

    .. math::
        c_\mathrm{skip} = \frac{\sigma_d^2}{\sigma^2+\sigma_d^2},\quad
        c_\mathrm{out} = \frac{\sigma\sigma_d}{\sqrt{\sigma^2+\sigma_d^2}},\quad
        c_\mathrm{in} = \frac{1}{\sqrt{\sigma^2+\sigma_d^2}},\quad
        c_\mathrm{noise} = \tfrac14\ln\sigma

    Args:
        net: a module ``net(x, noise_level, cond) -> F`` where x is (B, C, *spatial) and
            noise_level is (B,). Any extra conditioning channels are the network's business.
        sigma_data: standard deviation of the (normalised) data.
    """

    def __init__(self, net: nn.Module, sigma_data: float = 0.5):
        super().__init__()
        self.net = net
        self.sigma_data = float(sigma_data)

    def preconditioning(self, sigma: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Return (c_skip, c_out, c_in, c_noise) of Table 1 for sigma of shape (B,)."""
        sd2 = self.sigma_data ** 2
        c_skip = sd2 / (sigma ** 2 + sd2)
        c_out = sigma * self.sigma_data / (sigma ** 2 + sd2).sqrt()
        c_in = 1 / (sigma ** 2 + sd2).sqrt()
        c_noise = sigma.log() / 4
        return c_skip, c_out, c_in, c_noise

    def forward(self, x: Tensor, sigma: Tensor | float, cond: Cond | None = None) -> Tensor:
        sigma = batch_sigma(sigma, x)
        c_skip, c_out, c_in, c_noise = (append_dims(c, x.ndim) if i < 3 else c
                                        for i, c in enumerate(self.preconditioning(sigma)))
        net_dtype = next(self.net.parameters()).dtype
        F = self.net((c_in * x).to(net_dtype), c_noise.to(net_dtype), cond)
        return c_skip * x + c_out * F.to(x.dtype)

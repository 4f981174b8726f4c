"""Adapter: a network trained with a discrete VP (DDPM) schedule becomes the EDM denoiser D(x, sigma, cond).

A DDPM forward process x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps is, after dividing by sqrt(abar_t),
the variance-exploding process x = x0 + sigma_t eps of EDM with

    sigma_t = sqrt((1 - abar_t) / abar_t),      x_t = x / sqrt(1 + sigma_t^2)

(Karras et al. 2022, Sec. 2 and Table 1, "VP" column; Song et al. 2021, Eq. 32). So for a continuous
sigma we feed the network x / sqrt(1 + sigma^2) at the fractional timestep t(sigma) obtained by linear
interpolation of ln sigma_t between the two neighbouring discrete timesteps, and read off

    epsilon prediction:  D = x - sigma * eps                                     (Tweedie / Eq. 3)
    v prediction:        D = (x - sigma * v * sqrt(1 + sigma^2)) / (1 + sigma^2)
                         (v = sqrt(abar) eps - sqrt(1 - abar) x0, Salimans & Ho 2022)
    sample prediction:   D = net output

The idea follows k-diffusion's ``external.DiscreteEpsDDPMDenoiser``; the code is ours.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from ..conditioning import Cond
from ..utils import append_dims, batch_sigma

__all__ = ["VPEpsDenoiser"]

PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")


class VPEpsDenoiser(nn.Module):
    r"""EDM denoiser D(x, sigma, cond) around a discrete-time VP network ``net(x_t, t, cond)``.

    Args:
        net: ``net(x_t (B, C, *spatial), t (B,) float timesteps in [0, T-1], cond) -> prediction``
            (an nn.Module or any callable; see :meth:`from_monai` for MONAI networks).
        alphas_cumprod: (T,) the cumulative products abar_t of the training schedule, decreasing in t.
        prediction_type: what the network predicts: "epsilon" (default), "v_prediction" or "sample".

    Attributes:
        sigmas: (T,) float64 buffer, sigma_t = sqrt((1 - abar_t) / abar_t), increasing.
        sigma_min, sigma_max: the range of sigmas the network was trained on (floats). Outside it the
            timestep is clamped to 0 or T-1 while the input scaling still uses the true sigma.

    >>> abar = torch.linspace(0.999, 0.01, 50, dtype=torch.float64)
    >>> d = VPEpsDenoiser(lambda x, t, c: torch.zeros_like(x), abar)
    >>> float(d.sigma_to_t(d.sigmas[7:8])[0])
    7.0
    """

    def __init__(self, net: Callable[[Tensor, Tensor, Cond | None], Tensor], alphas_cumprod: Tensor, *,
                 prediction_type: str = "epsilon"):
        super().__init__()
        abar = torch.as_tensor(alphas_cumprod, dtype=torch.float64).detach().cpu()
        if abar.ndim != 1 or abar.numel() < 2:
            raise ValueError("alphas_cumprod must be a 1-D tensor of T >= 2 values, "
                             f"got shape {tuple(abar.shape)}")
        if not ((abar > 0) & (abar < 1)).all():
            raise ValueError("alphas_cumprod must lie strictly inside (0, 1) "
                             "(sigma_t would be 0 or infinite)")
        if not (abar[1:] < abar[:-1]).all():
            raise ValueError("alphas_cumprod must be strictly decreasing in t")
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"prediction_type must be one of {PREDICTION_TYPES}, got '{prediction_type}'")
        self.net = net
        self.prediction_type = prediction_type
        sigmas = ((1 - abar) / abar).sqrt()
        self.register_buffer("sigmas", sigmas, persistent=False)
        self.register_buffer("log_sigmas", sigmas.log(), persistent=False)

    # --- constructors ------------------------------------------------------------------------------
    @classmethod
    def from_monai(cls, net: nn.Module, scheduler, *, null_label: int | None = None) -> "VPEpsDenoiser":
        """Wrap a MONAI ``DiffusionModelUNet`` trained with a MONAI ``DDPMScheduler`` (or DDIM: any
        scheduler with ``alphas_cumprod`` and ``prediction_type``).

        The condition maps onto MONAI's inputs as: ``cond.label`` -> ``class_labels``,
        ``cond.scalars`` (B, S) -> ``context`` (B, 1, S) (cross-attention), ``cond.channels`` ->
        concatenated to the input (MONAI's conditioning by concatenation). MONAI networks have no
        learned NULL label: ``cond.dropped`` is honoured only if the model reserved a class index for
        "unconditional" during training (``null_label``); otherwise a dropped sample is an error.
        """
        prediction = str(getattr(scheduler, "prediction_type", "epsilon"))
        prediction = {"DDPMPredictionType.EPSILON": "epsilon",
                      "DDPMPredictionType.V_PREDICTION": "v_prediction",
                      "DDPMPredictionType.SAMPLE": "sample"}.get(prediction, prediction)
        # MONAI's clip_sample (clamping x0 to [-1, 1] in step()) is a sampler heuristic, not part of D
        return cls(_MonaiNet(net, null_label), scheduler.alphas_cumprod, prediction_type=prediction)

    # --- the sigma <-> timestep maps ----------------------------------------------------------------
    @property
    def sigma_min(self) -> float:
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[-1])

    @property
    def num_timesteps(self) -> int:
        return self.sigmas.numel()

    def sigma_to_t(self, sigma: Tensor) -> Tensor:
        """Fractional timestep of each sigma: linear interpolation of ln sigma_t, clamped to [0, T-1]."""
        ls = sigma.to(self.log_sigmas).log().clamp(self.log_sigmas[0], self.log_sigmas[-1])
        hi = torch.searchsorted(self.log_sigmas, ls).clamp(1, self.num_timesteps - 1)
        lo = hi - 1
        w = (ls - self.log_sigmas[lo]) / (self.log_sigmas[hi] - self.log_sigmas[lo])
        return (lo + w).to(sigma.dtype if sigma.is_floating_point() else torch.float64)

    def t_to_sigma(self, t: Tensor) -> Tensor:
        """Inverse of :meth:`sigma_to_t`: sigma at (fractional) timesteps t in [0, T-1]."""
        t = torch.as_tensor(t, dtype=torch.float64, device=self.log_sigmas.device)
        t = t.clamp(0, self.num_timesteps - 1)
        lo = t.floor().long().clamp(max=self.num_timesteps - 2)
        w = t - lo
        return ((1 - w) * self.log_sigmas[lo] + w * self.log_sigmas[lo + 1]).exp()

    def round_sigma(self, sigma: Tensor) -> Tensor:
        """The nearest (in ln sigma) of the model's discrete sigmas for each entry; zeros stay 0.

        Useful to run a sampler exactly on the timesteps the network was trained at:
        ``sigmas = d.round_sigma(karras_sigmas(n, d.sigma_min, d.sigma_max))``.
        """
        sigma = torch.as_tensor(sigma)
        s = sigma.to(self.log_sigmas)
        idx = (s.clamp_min(1e-30).log()[..., None] - self.log_sigmas).abs().argmin(-1)
        out = torch.where(s > 0, self.sigmas[idx], torch.zeros_like(s))
        return out.to(sigma.dtype if sigma.is_floating_point() else torch.float64)

    # --- D ---------------------------------------------------------------------------------------------
    def forward(self, x: Tensor, sigma: Tensor | float, cond: Cond | None = None) -> Tensor:
        sigma = batch_sigma(sigma, x)
        s = append_dims(sigma, x.ndim)
        c_in = 1 / (1 + s ** 2).sqrt()                            # x_t = x / sqrt(1 + sigma^2)
        t = self.sigma_to_t(sigma).to(x.device)
        out = self.net(x * c_in, t.to(x.dtype), cond).to(x.dtype)
        if self.prediction_type == "epsilon":
            return x - s * out                                    # D = x - sigma eps
        if self.prediction_type == "v_prediction":
            # D = (x - sigma sqrt(1 + sigma^2) v) / (1 + sigma^2)
            return (x - s * out / c_in) * c_in ** 2
        return out


class _MonaiNet(nn.Module):
    """``(x_t, t, cond) -> net(x_t [+ channels], timesteps=t, context=, class_labels=)`` for MONAI nets."""

    def __init__(self, net: nn.Module, null_label: int | None = None):
        super().__init__()
        self.net, self.null_label = net, null_label

    def forward(self, x: Tensor, t: Tensor, cond: Cond | None) -> Tensor:
        kw = {}
        if cond is not None:
            if cond.channels is not None:
                x = torch.cat([x, cond.channels.to(x)], dim=1)
            if cond.scalars is not None:
                kw["context"] = cond.scalars.to(x)[:, None, :]
            label = cond.label
            if cond.dropped is not None and bool(cond.dropped.any()):
                if self.null_label is None or label is None:
                    raise ValueError("cond.dropped is set, but a MONAI network has no learned null "
                                     "condition; pass null_label= to VPEpsDenoiser.from_monai if the "
                                     "model reserved a class index for 'unconditional'")
                null = torch.full_like(label, self.null_label)
                label = torch.where(cond.dropped.to(label.device), null, label)
            if label is not None:
                kw["class_labels"] = label.long()
        return self.net(x, timesteps=t.float(), **kw)

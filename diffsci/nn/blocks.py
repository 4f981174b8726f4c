"""Residual block with adaptive (noise- and condition-dependent) GroupNorm, and the resampling layers.

Every block has the signature ``block(h, emb) -> h`` so that the UNet can run (and checkpoint) them
uniformly; blocks that do not use ``emb`` ignore it.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .layers import Pointwise, conv, group_norm
from .norm import group_norm_silu

__all__ = ["ResBlock", "Downsample", "Upsample"]


class ResBlock(nn.Module):
    r"""h = skip(x) + conv2(dropout(SiLU(AdaGN(conv1(SiLU(GN(x))), emb)))).

    AdaGN(h, emb) = GN(h) * (1 + scale) + shift with (scale, shift) = Linear(SiLU(emb)): the
    scale-shift norm of Dhariwal & Nichol (2021, Sec. 3 "adaptive group normalization"). Each
    SiLU(GN(.)) pair is one memory-lean node (:func:`.norm.group_norm_silu`).
    ``skip`` is a 1x1 convolution (:class:`.layers.Pointwise`) when the width changes, else the identity.

    Args:
        spatial_dims: 1, 2 or 3.
        in_channels, out_channels: widths.
        emb_dim: width of the embedding ``emb`` (B, emb_dim); the block receives SiLU(emb) already.
        dropout: dropout probability before the second convolution.
        padding_mode: "zeros" or "circular".
        norm_num_groups: maximum number of GroupNorm groups.
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, emb_dim: int, *,
                 dropout: float = 0.0, padding_mode: str = "zeros", norm_num_groups: int = 32):
        super().__init__()
        self.norm1 = group_norm(in_channels, norm_num_groups)
        self.conv1 = conv(spatial_dims, in_channels, out_channels, 3, padding_mode=padding_mode)
        self.emb_proj = nn.Linear(emb_dim, 2 * out_channels)
        self.norm2 = group_norm(out_channels, norm_num_groups, affine=False)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = conv(spatial_dims, out_channels, out_channels, 3, padding_mode=padding_mode)
        self.skip = Pointwise(in_channels, out_channels) if in_channels != out_channels else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        n1, n2 = self.norm1, self.norm2
        h = self.conv1(group_norm_silu(x, n1.num_groups, n1.weight, n1.bias, n1.eps))
        scale, shift = self.emb_proj(emb).chunk(2, dim=1)                  # (B, C) each
        h = group_norm_silu(h, n2.num_groups, 1 + scale, shift, n2.eps)    # SiLU(AdaGN): GN(h)(1+scale)+shift
        h = self.conv2(self.dropout(h))
        return h.add_(self.skip(x))                              # in place: conv2 does not save its output


class Downsample(nn.Module):
    """Halve every spatial size with a stride-2 3x3 convolution (same boundary handling as the rest)."""

    def __init__(self, spatial_dims: int, channels: int, padding_mode: str = "zeros"):
        super().__init__()
        self.conv = conv(spatial_dims, channels, channels, 3, stride=2, padding_mode=padding_mode)

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Double every spatial size with nearest-neighbour interpolation and a 3x3 convolution.

    ``order="conv_first"`` (default) convolves at the coarse resolution and then interpolates;
    ``"nearest_first"`` interpolates and then convolves at the fine resolution (ADM, MONAI). Both have
    the same parameters; convolving first costs 2**spatial_dims times fewer operations in this layer
    (about a fifth of the whole UNet's), and its output is the nearest-neighbour upsampling of a learned
    coarse map, which the next residual block (3x3 convolutions over it and the fine skip connection)
    refines. Both orders commute with circular shifts by even amounts.
    """

    ORDERS = ("conv_first", "nearest_first")

    def __init__(self, spatial_dims: int, channels: int, padding_mode: str = "zeros",
                 order: str = "conv_first"):
        super().__init__()
        if order not in self.ORDERS:
            raise ValueError(f"upsample order must be one of {self.ORDERS}, got '{order}'")
        self.order = order
        self.conv = conv(spatial_dims, channels, channels, 3, padding_mode=padding_mode)

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        if self.order == "conv_first":
            return F.interpolate(self.conv(x), scale_factor=2.0, mode="nearest")
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))

"""Dimension-generic layer factories: convolutions and group norms looked up by ``spatial_dims``.

One table per layer kind replaces ``if spatial_dims == 2`` branches (MONAI's ``Conv[...]`` factory does
the same), so 1D, 2D and 3D networks share every line of code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["CONV", "CHANNELS_LAST", "PADDING_MODES", "Pointwise", "conv", "group_norm", "num_groups"]

#: spatial_dims -> convolution class
CONV: dict[int, type[nn.Module]] = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}

#: spatial_dims -> the channels-last memory format (None: torch has none for 3-D tensors)
CHANNELS_LAST: dict[int, torch.memory_format | None] = {1: None, 2: torch.channels_last,
                                                        3: torch.channels_last_3d}

#: padding modes of every convolution with kernel > 1: zero padding, or periodic (circular) boundaries
PADDING_MODES = ("zeros", "circular")


def conv(spatial_dims: int, in_channels: int, out_channels: int, kernel_size: int = 3, *,
         stride: int = 1, padding_mode: str = "zeros", bias: bool = True) -> nn.Module:
    """A 'same' convolution (odd kernel, padding k // 2) with the given boundary handling.

    >>> conv(1, 2, 4, padding_mode="circular")
    Conv1d(2, 4, kernel_size=(3,), stride=(1,), padding=(1,), padding_mode=circular)
    """
    if spatial_dims not in CONV:
        raise ValueError(f"spatial_dims must be 1, 2 or 3, got {spatial_dims}")
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got '{padding_mode}'")
    if kernel_size % 2 != 1:
        raise ValueError(f"kernel_size must be odd for 'same' padding, got {kernel_size}")
    return CONV[spatial_dims](in_channels, out_channels, kernel_size, stride=stride,
                              padding=kernel_size // 2, padding_mode=padding_mode, bias=bias)


def num_groups(channels: int, max_groups: int = 32) -> int:
    """The largest group count <= ``max_groups`` that divides ``channels``.

    Small widths then still normalise sensibly (16 channels with max 32 -> 16 groups of one channel,
    24 channels -> 24, 48 -> 24) instead of failing as ``nn.GroupNorm(32, 16)`` would.

    >>> num_groups(16), num_groups(48), num_groups(256)
    (16, 24, 32)
    """
    return max(g for g in range(1, min(channels, max_groups) + 1) if channels % g == 0)


def group_norm(channels: int, max_groups: int = 32, *, affine: bool = True,
               eps: float = 1e-6) -> nn.GroupNorm:
    """GroupNorm over ``channels`` with :func:`num_groups` groups (dimension-agnostic)."""
    return nn.GroupNorm(num_groups(channels, max_groups), channels, eps=eps, affine=affine)



class Pointwise(nn.Module):
    """A 1x1 convolution written as a matrix product over the channel axis, for any spatial_dims.

    PyTorch routes 1x1 convolutions with a batch below 16 on one CPU thread to its slow unfold-based
    kernel, and oneDNN is slower still on channels-last inputs; a matrix product is the fast path in
    both layouts (``F.linear`` on the channels-last view, ``baddbmm`` on the contiguous one).

    >>> p = Pointwise(3, 2)
    >>> x = torch.randn(4, 3, 5, 6)
    >>> ref = F.conv2d(x, p.weight[:, :, None, None], p.bias)
    >>> bool(torch.allclose(p(x), ref, atol=1e-6))
    True
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        ref = nn.Conv1d(in_channels, out_channels, 1)                    # PyTorch's default conv init
        self.weight = nn.Parameter(ref.weight.detach()[:, :, 0].clone())
        self.bias = nn.Parameter(ref.bias.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        cl = x.movedim(1, -1)
        if cl.is_contiguous():                                          # channels-last layout
            return F.linear(cl, self.weight, self.bias).movedim(-1, 1)
        x3 = x.contiguous().flatten(2)                                  # (B, C, N)
        out = torch.baddbmm(self.bias[None, :, None], self.weight.expand(x.shape[0], -1, -1), x3)
        return out.view(x.shape[0], -1, *x.shape[2:])

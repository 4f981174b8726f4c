"""Multi-head self-attention over all spatial positions, for 1D, 2D and 3D feature maps."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import group_norm

__all__ = ["SelfAttention"]


def _transformed(x: Tensor) -> bool:
    """True under a torch.func transform or with a forward-mode dual tensor."""
    return (torch._C._are_functorch_transforms_active()
            or torch.autograd.forward_ad.unpack_dual(x).tangent is not None)


class SelfAttention(nn.Module):
    r"""x + Proj(MHA(GN(x))) with softmax(Q K^T / sqrt(d)) V over the flattened spatial positions.

    Vaswani et al. (2017), Eq. 1, via ``torch.nn.functional.scaled_dot_product_attention`` (which picks
    a fused flash / memory-efficient kernel where one exists; under ``torch.func`` transforms and
    forward-mode AD, which that kernel does not support, the same formula in plain ops). No positional
    encoding is used, so the
    block is equivariant to any permutation of positions (in particular to circular shifts).

    Args:
        channels: width C; the number of heads is ``max(1, C // num_head_channels)``.
        num_head_channels: width of each head.
        norm_num_groups: maximum number of GroupNorm groups.
    """

    def __init__(self, channels: int, num_head_channels: int = 32, norm_num_groups: int = 32):
        super().__init__()
        self.heads = max(1, channels // num_head_channels)
        if channels % self.heads:
            raise ValueError(f"attention width {channels} is not divisible into {self.heads} heads of "
                             f"{num_head_channels} channels")
        self.norm = group_norm(channels, norm_num_groups)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        B, C = x.shape[:2]
        tokens = self.norm(x).flatten(2).transpose(1, 2)               # (B, N, C)
        q, k, v = self.qkv(tokens).view(B, -1, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        if _transformed(x):
            # torch.func / forward-mode AD (the likelihood's Jacobian products): SDPA's fused CPU kernel
            # has no forward-mode rule and no vmap rule for its backward, so spell out Eq. 1
            w = torch.softmax(q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5, dim=-1)
            h = w @ v
        else:
            h = F.scaled_dot_product_attention(q, k, v)                # (B, heads, N, C/heads)
        h = self.proj(h.transpose(1, 2).reshape(B, -1, C))             # (B, N, C)
        return x + h.transpose(1, 2).reshape(x.shape)

"""One UNet for 1D, 2D and 3D data: the raw network F(x, noise_level, cond) of the EDM denoiser."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ..conditioning import Cond
from ..utils import check_spatial
from .attention import SelfAttention
from .blocks import Downsample, ResBlock, Upsample
from .embedding import ConditionEmbedding, NoiseEmbedding
from .layers import CHANNELS_LAST, CONV, PADDING_MODES, conv, group_norm
from .norm import group_norm_silu

__all__ = ["UNet"]


class _ResAttn(nn.Module):
    """A residual block optionally followed by self-attention; ``(h, emb) -> h``."""

    def __init__(self, res: ResBlock, attn: SelfAttention | None):
        super().__init__()
        self.res, self.attn = res, attn

    def forward(self, h: Tensor, emb: Tensor) -> Tensor:
        h = self.res(h, emb)
        return self.attn(h) if self.attn is not None else h


class UNet(nn.Module):
    r"""N-d UNet (Ronneberger et al. 2015) with the ADM refinements (Dhariwal & Nichol 2021).

    Encoder: ``num_res_blocks`` residual blocks per level (self-attention after each at the levels where
    ``attention_levels`` is True), a stride-2 down-sampling between levels. Middle: residual block,
    self-attention, residual block (the middle attention is always there, as in ADM and MONAI).
    Decoder: ``num_res_blocks + 1`` residual blocks per level, each taking the concatenation with the
    matching encoder activation (skip connection), nearest-neighbour up-sampling with a 3x3
    convolution between levels. The noise level and the condition enter every residual block through
    an adaptive scale-shift GroupNorm. The output convolution is zero-initialised, so F = 0 at
    initialisation and the EDM denoiser starts as D = c_skip x.

    The same code serves spatial_dims 1, 2 and 3 (layers come from lookup tables, :mod:`.layers`).

    **Spatial sizes.** Every spatial size must be a multiple of ``2 ** (len(channels) - 1)`` (the total
    down-sampling factor); any other size is a ``ValueError`` naming the shape and the multiple. We
    chose an error over silent pad-and-crop because padding changes the boundary statistics the prior
    was trained on (and breaks periodicity with ``padding_mode="circular"``); pad or crop your data
    explicitly instead.

    Args:
        spatial_dims: 1, 2 or 3.
        in_channels: channels of x.
        out_channels: channels of the output (default: ``in_channels``).
        channels: width of each level; its length is the number of levels.
        num_res_blocks: residual blocks per level in the encoder (the decoder has one more).
        attention_levels: one bool per level: self-attention at that level.
        num_head_channels: width of an attention head.
        dropout: dropout probability inside the residual blocks.
        num_classes: class-label conditioning with this many classes (plus a learned NULL label).
        num_scalars: conditioning on a vector of this many scalars (plus a learned NULL vector).
        cond_channels: extra input channels ``cond.channels`` concatenated to x (measurement conditioning).
        padding_mode: "zeros" or "circular" (periodic boundaries) for every convolution with kernel > 1.
        gradient_checkpointing: recompute block activations in the backward pass to save memory.
        norm_num_groups: maximum number of GroupNorm groups; narrower layers use the largest divisor of
            their width below it (see :func:`.layers.num_groups`).
        channels_last: run the activations in the channels-last layout (NHWC / NDHWC); None (default)
            = on CUDA only (where cuDNN is fastest in it; on CPU we measured no gain for whole training
            steps, see docs/benchmarks.md). 1-D has no such layout. Inputs and outputs keep the
            ordinary layout either way.
        upsample: "conv_first" (default: 3x3 convolution at the coarse resolution, then nearest-neighbour
            up-sampling) or "nearest_first" (the ADM / MONAI order); same parameters, the first is
            cheaper (see :class:`.blocks.Upsample`).

    Forward: ``net(x (B, in_channels, *spatial), noise_level (B,), cond=None) -> (B, out_channels, *spatial)``
    where noise_level is EDM's c_noise = ln(sigma)/4.

    >>> net = UNet(1, 2, channels=(8, 16), attention_levels=(False, True), num_head_channels=8)
    >>> net(torch.randn(3, 2, 32), torch.zeros(3)).shape
    torch.Size([3, 2, 32])
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int | None = None,
                 channels: Sequence[int] = (64, 128, 256), num_res_blocks: int = 2,
                 attention_levels: Sequence[bool] = (False, False, True), num_head_channels: int = 32,
                 dropout: float = 0.0, num_classes: int | None = None, num_scalars: int = 0,
                 cond_channels: int = 0, padding_mode: str = "zeros", gradient_checkpointing: bool = False,
                 norm_num_groups: int = 32, channels_last: bool | None = None, upsample: str = "conv_first"):
        super().__init__()
        if spatial_dims not in CONV:
            raise ValueError(f"spatial_dims must be 1, 2 or 3, got {spatial_dims}")
        channels, attention_levels = tuple(int(c) for c in channels), tuple(bool(a) for a in attention_levels)
        if not channels:
            raise ValueError("channels must name at least one level")
        if len(attention_levels) != len(channels):
            raise ValueError(f"attention_levels has {len(attention_levels)} entries but channels has "
                             f"{len(channels)}; give one per level")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got '{padding_mode}'")
        if num_res_blocks < 1:
            raise ValueError(f"num_res_blocks must be >= 1, got {num_res_blocks}")
        self.spatial_dims, self.in_channels = spatial_dims, in_channels
        self.out_channels = out_channels or in_channels
        self.cond_channels = int(cond_channels)
        self.channels = channels
        self.gradient_checkpointing = gradient_checkpointing
        self.factor = 2 ** (len(channels) - 1)
        if channels_last and CHANNELS_LAST[spatial_dims] is None:
            raise ValueError("channels_last=True needs spatial_dims 2 or 3 "
                             "(torch has no 1-D channels-last layout)")
        self.channels_last = channels_last

        emb_dim = 4 * channels[0]
        self.noise_embedding = NoiseEmbedding(channels[0] + channels[0] % 2, emb_dim)
        self.cond_embedding = ConditionEmbedding(emb_dim, num_classes, num_scalars)

        kw = dict(dropout=dropout, padding_mode=padding_mode, norm_num_groups=norm_num_groups)

        def unit(cin: int, cout: int, level: int) -> _ResAttn:
            attn = (SelfAttention(cout, num_head_channels, norm_num_groups) if attention_levels[level]
                    else None)
            return _ResAttn(ResBlock(spatial_dims, cin, cout, emb_dim, **kw), attn)

        self.conv_in = conv(spatial_dims, in_channels + self.cond_channels, channels[0], 3,
                            padding_mode=padding_mode)
        # encoder: every module's output is kept as a skip connection
        self.down = nn.ModuleList()
        skips, ch = [channels[0]], channels[0]
        for level, width in enumerate(channels):
            for _ in range(num_res_blocks):
                self.down.append(unit(ch, width, level))
                ch = width
                skips.append(ch)
            if level < len(channels) - 1:
                self.down.append(Downsample(spatial_dims, ch, padding_mode))
                skips.append(ch)
        self.mid = nn.ModuleList([
            ResBlock(spatial_dims, ch, ch, emb_dim, **kw),
            SelfAttention(ch, num_head_channels, norm_num_groups),
            ResBlock(spatial_dims, ch, ch, emb_dim, **kw),
        ])
        # decoder: each unit consumes one skip; an Upsample (which consumes none) ends every level but the top
        self.up = nn.ModuleList()
        for level in reversed(range(len(channels))):
            width = channels[level]
            for _ in range(num_res_blocks + 1):
                self.up.append(unit(ch + skips.pop(), width, level))
                ch = width
            if level > 0:
                self.up.append(Upsample(spatial_dims, ch, padding_mode, order=upsample))
        self.norm_out = group_norm(ch, norm_num_groups)
        self.conv_out = conv(spatial_dims, ch, self.out_channels, 3, padding_mode=padding_mode)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    # ------------------------------------------------------------------------------------------------
    def _check_input(self, x: Tensor, noise_level: Tensor, cond: Cond | None) -> None:
        check_spatial(x, self.spatial_dims, self.in_channels, what="UNet input x")
        bad = [s for s in x.shape[2:] if s % self.factor]
        if bad:
            raise ValueError(
                f"UNet input x has shape {tuple(x.shape)}: every spatial size must be a multiple of "
                f"{self.factor} (= 2**(len(channels)-1) for {len(self.channels)} levels); pad or crop the "
                f"data to a multiple of {self.factor}")
        if noise_level.shape != (x.shape[0],):
            raise ValueError(f"noise_level must have shape ({x.shape[0]},), got {tuple(noise_level.shape)}")
        extra = cond.channels if cond is not None else None
        if self.cond_channels and extra is None:
            raise ValueError(f"this UNet was built with cond_channels={self.cond_channels}, but "
                             "cond.channels is missing; pass Cond(channels=...) of shape "
                             f"({x.shape[0]}, {self.cond_channels}, {', '.join(map(str, x.shape[2:]))})")
        if extra is not None:
            if not self.cond_channels:
                raise ValueError(f"cond.channels of shape {tuple(extra.shape)} was given, but this UNet was "
                                 "built with cond_channels=0; set cond_channels or drop the channels")
            want = (x.shape[0], self.cond_channels, *x.shape[2:])
            if tuple(extra.shape) != want:
                raise ValueError(f"cond.channels has shape {tuple(extra.shape)}, expected {want} "
                                 f"(x has shape {tuple(x.shape)})")

    def _run(self, block: nn.Module, h: Tensor, emb: Tensor) -> Tensor:
        if self.gradient_checkpointing and torch.is_grad_enabled() and h.requires_grad:
            return checkpoint(block, h, emb, use_reentrant=False)
        return block(h, emb)

    def forward(self, x: Tensor, noise_level: Tensor, cond: Cond | None = None) -> Tensor:
        noise_level = torch.as_tensor(noise_level, device=x.device)
        if noise_level.ndim == 0:
            noise_level = noise_level.expand(x.shape[0])
        self._check_input(x, noise_level, cond)
        emb = self.noise_embedding(noise_level)
        c = self.cond_embedding(cond, x.shape[0], x.device)
        if c is not None:
            emb = emb + c
        emb = F.silu(emb).to(x.dtype)                    # every block applies Linear(SiLU(emb))
        h = x if not self.cond_channels else torch.cat([x, cond.channels.to(x.dtype)], dim=1)
        fmt = CHANNELS_LAST[self.spatial_dims]
        if fmt is not None and (self.channels_last or (self.channels_last is None and h.is_cuda)):
            h = h.contiguous(memory_format=fmt)
        h = self.conv_in(h)
        skips = [h]
        for block in self.down:
            h = self._run(block, h, emb)
            skips.append(h)
        for block in self.mid:
            h = self._run(block, h, emb)
        for block in self.up:
            if isinstance(block, Upsample):
                h = block(h)
            else:
                h = self._run(block, torch.cat([h, skips.pop()], dim=1), emb)
        n = self.norm_out
        return self.conv_out(group_norm_silu(h, n.num_groups, n.weight, n.bias, n.eps)).contiguous()

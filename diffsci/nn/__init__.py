"""The N-d backbone: one UNet for 1D, 2D and 3D data (layers looked up by ``spatial_dims``)."""

from .attention import SelfAttention
from .blocks import Downsample, ResBlock, Upsample
from .embedding import ConditionEmbedding, FourierFeatures, NoiseEmbedding
from .layers import CHANNELS_LAST, CONV, Pointwise, conv, group_norm, num_groups
from .norm import group_norm_silu
from .unet import UNet

__all__ = ["UNet", "ResBlock", "Downsample", "Upsample", "SelfAttention", "FourierFeatures",
           "NoiseEmbedding", "ConditionEmbedding", "CONV", "CHANNELS_LAST", "Pointwise", "conv",
           "group_norm", "group_norm_silu", "num_groups"]

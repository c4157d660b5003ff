"""MetaPruning-style channel-width search over MobileNetV2, ResNet-50 or a small CNN."""

from search_spaces.channel_width.config import DEFAULT_WIDTHS, METAPRUNING_WIDTHS, ChannelWidthConfig
from search_spaces.channel_width.space import ChannelWidthSpace

__all__ = ["ChannelWidthConfig", "ChannelWidthSpace", "DEFAULT_WIDTHS", "METAPRUNING_WIDTHS"]

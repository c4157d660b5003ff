"""Configuration and constants of the SPOS ShuffleNet space (see ``search_spaces.shufflenet``).

Shared by the space and its latency units, which therefore need not import each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from nasengine.space import SpaceConfig
from nasengine.utils.validation import positive_int, positive_int_tuple

#: Block options in the official index order (0: 3x3, 1: 5x5, 2: 7x7, 3: Xception).
BLOCK_OPTIONS: tuple[str, ...] = ("k3", "k5", "k7", "xception")

#: The paper's channel scales: 0.2 .. 1.6 in steps of 0.2 (written out, as the official list).
DEFAULT_SCALES: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6)

#: Block-search result released with the official code (README of megvii-model/SinglePathOneShot).
SPOS_BLOCKS = (2, 1, 0, 1, 2, 0, 2, 0, 2, 0, 2, 3, 0, 0, 0, 0, 3, 2, 3, 3)
#: Block + channel search result (megvii-model/ShuffleNet-Series, OneShot/network.py).
SPOS_CHANNEL_BLOCKS = (0, 0, 3, 1, 1, 1, 0, 0, 2, 0, 2, 1, 1, 0, 2, 0, 2, 1, 3, 2)
SPOS_CHANNEL_SCALE_IDS = (6, 5, 3, 5, 2, 6, 3, 4, 2, 5, 7, 5, 4, 6, 7, 4, 4, 5, 4, 3)


@dataclass(frozen=True)
class ShuffleNetConfig(SpaceConfig):
    """Configuration of the SPOS space.

    Args:
        stem_channels: Output channels of the 3x3 stem conv.
        stem_stride: 2 at ImageNet size; 1 for small inputs.
        stem_pool: 3x3 stride-2 max-pool after the stem (not in the official SPOS net).
        stage_repeats: Searchable layers per stage.
        stage_channels: Output channels per stage (even; each larger than its input).
        last_channels: Channels of the 1x1 conv before pooling.
        channel_search: Also search each layer's mid channels.
        channel_scales: Mid-channel scales (increasing) relative to ``out // 2``.
        dropout: Dropout before the classifier (0.1 in the official evaluation net).
        bn_affine: Learnable BatchNorm scale/shift (the official supernet uses ``False``,
            the official evaluation nets ``True``).
    """

    stem_channels: int = 16
    stem_stride: int = 2
    stem_pool: bool = False
    stage_repeats: tuple[int, ...] = (4, 4, 8, 4)
    stage_channels: tuple[int, ...] = (64, 160, 320, 640)
    last_channels: int = 1024
    channel_search: bool = False
    channel_scales: tuple[float, ...] = DEFAULT_SCALES
    dropout: float = 0.1
    bn_affine: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int("stem_channels", self.stem_channels)
        positive_int("last_channels", self.last_channels)
        if self.stem_stride not in (1, 2) or isinstance(self.stem_stride, bool):
            raise ValueError(f"stem_stride must be 1 or 2, got {self.stem_stride!r}")
        for name in ("stem_pool", "channel_search", "bn_affine"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        for name in ("stage_repeats", "stage_channels"):
            object.__setattr__(self, name, positive_int_tuple(name, getattr(self, name)))
        if len(self.stage_repeats) != len(self.stage_channels):
            raise ValueError(f"stage_repeats {self.stage_repeats} and stage_channels {self.stage_channels} "
                             "must have the same length (one entry per stage)")
        c_in = self.stem_channels
        for out in self.stage_channels:
            if out % 2:
                raise ValueError(f"stage_channels must be even (blocks split channels in halves), got {out}")
            if out <= c_in:  # a stride-2 block's main branch produces out - in channels
                raise ValueError(f"stage_channels {self.stage_channels}: {out} must exceed its stage's "
                                 f"input channels {c_in} (stem_channels={self.stem_channels})")
            c_in = out
        self._check_scales()
        if not isinstance(self.dropout, (int, float)) or isinstance(self.dropout, bool) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be a number in [0, 1), got {self.dropout!r}")

    def _check_scales(self) -> None:
        scales = self.channel_scales
        if not isinstance(scales, (tuple, list)) or not scales:
            raise ValueError(f"channel_scales must be a non-empty sequence of positive numbers, got {scales!r}")
        if any(not isinstance(s, (int, float)) or isinstance(s, bool) or s <= 0 for s in scales):
            raise ValueError(f"channel_scales must be positive numbers, got {scales!r}")
        scales = tuple(float(s) for s in scales)
        if any(a >= b for a, b in zip(scales, scales[1:])):
            raise ValueError(f"channel_scales must be strictly increasing, got {scales}")
        object.__setattr__(self, "channel_scales", scales)
        if self.channel_search:
            narrowest = min(self.stage_channels)
            if mid_channels(narrowest, scales[0]) < 1:
                raise ValueError(f"channel scale {scales[0]} leaves no mid channels in a layer with "
                                 f"{narrowest} output channels; raise the smallest scale or the channels")


def mid_channels(out_channels: int, scale: float) -> int:
    """Mid channels of a block: the official ``int(out // 2 * scale)`` (rounds down)."""
    return int(out_channels // 2 * scale)

"""Configuration of the channel-width space and its channel rounding rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from nasengine.space import SpaceConfig
from nasengine.utils.validation import positive_int, positive_int_tuple

BACKBONES: tuple[str, ...] = ("mobilenet_v2", "resnet50", "small")
ROUNDINGS: tuple[str, ...] = ("make_divisible", "floor")

#: Default width multipliers: eighths from 0.25 to 1.0 (with ``make_divisible`` by 8 a
#: finer grid mostly repeats channel counts).
DEFAULT_WIDTHS: tuple[float, ...] = (0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0)

#: MetaPruning's grid (official code): 31 scales 0.10, 0.13, ..., 1.00, computed as the
#: official code does so that the floats (and ``int(c * w)`` roundings) are identical.
METAPRUNING_WIDTHS: tuple[float, ...] = tuple((10 + 3 * i) / 100 for i in range(31))

#: Kernel sizes a searched conv may take (odd, so "same" padding centres them).
MAX_KERNELS: tuple[int, ...] = (1, 3, 5, 7)

#: Largest multiplier accepted (MetaPruning's MobileNetV2 PruningNet reaches 1.4x).
MAX_WIDTH = 1.5

_SMALL_DEFAULTS = {"stem_width": 16, "stage_widths": (16, 32, 64), "stage_repeats": (1, 1, 1)}


def make_divisible(value: float, divisor: int) -> int:
    """torchvision's rounding: nearest multiple of ``divisor`` (at least ``divisor``),
    bumped up one step if that lost more than 10% of ``value``."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


@dataclass(frozen=True)
class ChannelWidthConfig(SpaceConfig):
    """Configuration of the channel-width space.

    Args:
        backbone: ``"mobilenet_v2"`` or ``"resnet50"`` (torchvision's layouts at any input
            size), or ``"small"``: a compact residual CNN for 8x8 to 32x32 inputs.
        widths: Width multipliers of the standard network offered by every decision;
            strictly increasing, each in (0, 1.5], and including 1.0.
        rounding: How ``base * width`` becomes a channel count. ``"make_divisible"``:
            torchvision's ``_make_divisible(base * width, divisor)``; ``"floor"``:
            ``max(1, int(base * width))`` as MetaPruning's official code does. Width 1.0
            always gives the standard ``base`` exactly.
        divisor: Channel multiple for ``"make_divisible"`` (8 as in torchvision).
        search_last: Search the width feeding the classifier (MobileNetV2's 1280-wide last
            conv, ResNet's last stage, the small net's last stage). MetaPruning's code keeps
            it at full width; ``False`` does the same.
        stem_width: ``small`` only: channels of the 3x3 stem conv.
        stage_widths: ``small`` only: output channels of each stage.
        stage_repeats: ``small`` only: basic residual blocks per stage.
        kernels: Kernel sizes offered to every 3x3 conv of the residual blocks (``small``:
            both convs of a basic block; ``resnet50``: a bottleneck's middle conv), each a
            decision ``layer{s}_{j}_conv{n}_kernel``; empty (the default): kernels fixed at 3.
            Odd, strictly increasing, at most 7, including 3. A smaller kernel is the centre
            of the larger, so every kernel shares its weights in the supernet.
    """

    LATER_FIELDS: ClassVar[tuple[str, ...]] = ("kernels",)

    backbone: str = "mobilenet_v2"
    widths: tuple[float, ...] = DEFAULT_WIDTHS
    rounding: str = "make_divisible"
    divisor: int = 8
    search_last: bool = True
    stem_width: int = 16
    stage_widths: tuple[int, ...] = (16, 32, 64)
    stage_repeats: tuple[int, ...] = (1, 1, 1)
    kernels: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {list(BACKBONES)}, got {self.backbone!r}")
        object.__setattr__(self, "widths", _check_widths(self.widths))
        if self.rounding not in ROUNDINGS:
            raise ValueError(f"rounding must be one of {list(ROUNDINGS)}, got {self.rounding!r}")
        positive_int("divisor", self.divisor)
        if not isinstance(self.search_last, bool):
            raise ValueError(f"search_last must be True or False, got {self.search_last!r}")
        positive_int("stem_width", self.stem_width)
        object.__setattr__(self, "stage_widths", positive_int_tuple("stage_widths", self.stage_widths))
        object.__setattr__(self, "stage_repeats", positive_int_tuple("stage_repeats", self.stage_repeats))
        if len(self.stage_widths) != len(self.stage_repeats):
            raise ValueError(
                f"stage_widths {self.stage_widths} and stage_repeats {self.stage_repeats} "
                "must have the same length (one entry per stage)"
            )
        object.__setattr__(self, "kernels", _check_kernels(self.kernels, self.backbone))
        if self.backbone != "small":
            changed = [k for k, v in _SMALL_DEFAULTS.items() if getattr(self, k) != v]
            if changed:
                raise ValueError(f"{changed} only apply to backbone='small', not {self.backbone!r}")

    def channels(self, base: int, width: float) -> int:
        """Channel count of a layer whose standard width is ``base`` at multiplier ``width``."""
        if width == 1.0:
            return base
        if self.rounding == "floor":
            return max(1, int(base * width))
        return make_divisible(base * width, self.divisor)


def _check_widths(widths: Any) -> tuple[float, ...]:
    if not isinstance(widths, (tuple, list)) or not widths:
        raise ValueError(f"widths must be a non-empty tuple of multipliers, got {widths!r}")
    for w in widths:
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 < w <= MAX_WIDTH:
            raise ValueError(f"width {w!r} is not allowed; widths must be numbers in (0, {MAX_WIDTH}]")
    values = tuple(float(w) for w in widths)
    if any(a >= b for a, b in zip(values, values[1:])):
        raise ValueError(f"widths must be strictly increasing, got {list(values)}")
    if 1.0 not in values:
        raise ValueError(f"widths must include 1.0 (the standard network), got {list(values)}")
    return values


def _check_kernels(kernels: Any, backbone: str) -> tuple[int, ...]:
    if not isinstance(kernels, (tuple, list)):
        raise ValueError(f"kernels must be a list of kernel sizes, got {kernels!r}")
    if not kernels:
        return ()
    if backbone == "mobilenet_v2":
        raise ValueError("kernels can be searched with backbone 'small' or 'resnet50', not 'mobilenet_v2'")
    for k in kernels:
        if isinstance(k, bool) or not isinstance(k, int) or k not in MAX_KERNELS:
            raise ValueError(f"kernel {k!r} is not allowed; kernels must be among {list(MAX_KERNELS)}")
    values = tuple(kernels)
    if any(a >= b for a, b in zip(values, values[1:])):
        raise ValueError(f"kernels must be strictly increasing, got {list(values)}")
    if 3 not in values:
        raise ValueError(f"kernels must include 3 (the standard network's), got {list(values)}")
    return values

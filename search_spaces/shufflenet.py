"""The Single Path One-Shot search space (Guo et al. 2019, arXiv 1904.00420).

ShuffleNetV2-style supernet of the official SPOS code at ImageNet settings: a 3x3 stride-2
stem conv to 16 channels, four stages of 4/4/8/4 searchable layers with 64/160/320/640
output channels (the first layer of each stage has stride 2), a 1x1 conv to 1024 channels,
global average pooling, dropout 0.1 and a bias-free classifier. The official network has
no max-pool after the stem (224 -> 112 -> 56 -> 28 -> 14 -> 7); ``stem_pool`` adds the
ShuffleNetV2 one as an option.

Every layer chooses a block (``block{i}``: ShuffleNetV2 3x3/5x5/7x7 or Shuffle-Xception,
in the official index order). With ``channel_search`` every layer also chooses the mid
channels of its block (``channel{i}``) as ``int(out // 2 * scale)``, the official rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from nasengine.arch import Arch, ArchError, Decision
from nasengine.cost import Cost
from nasengine.nn import ChoiceOp, inherit_weights
from nasengine.space import LatencyUnit, SearchSpace, SpaceConfig
from nasengine.utils.validation import positive_int, positive_int_tuple
from search_spaces.shufflenet_blocks import BLOCK_KERNELS, SPOSNet, init_weights, make_block

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


def _conv_out(size: int, kernel: int, stride: int) -> int:
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


def _bn(channels: int, affine: bool) -> int:
    return 2 * channels if affine else 0


def block_cost(option: str, *, c_in: int, c_out: int, mid: int, stride: int, size_in: int, affine: bool) -> Cost:
    """MACs (Conv2d only) and parameters of one block, analytically."""
    k = BLOCK_KERNELS[option]
    size_out = _conv_out(size_in, k, stride)
    a_in, a_out = size_in * size_in, size_out * size_out
    main_in = c_in // 2 if stride == 1 else c_in
    main_out = c_out - main_in
    if option == "xception":
        # dw3 (stride) -> pw -> dw3 -> pw -> dw3 -> pw, all at the output resolution
        weights = [(main_in * 9, a_out), (main_in * mid, a_out), (mid * 9, a_out),
                   (mid * mid, a_out), (mid * 9, a_out), (mid * main_out, a_out)]
        bn = main_in + 4 * mid + main_out
    else:
        # pw at the input resolution -> dw kxk (stride) -> pw
        weights = [(main_in * mid, a_in), (mid * k * k, a_out), (mid * main_out, a_out)]
        bn = 2 * mid + main_out
    if stride == 2:
        weights += [(c_in * k * k, a_out), (c_in * c_in, a_out)]
        bn += 2 * c_in
    return Cost(sum(w * a for w, a in weights), sum(w for w, _ in weights) + _bn(bn, affine))


class ShuffleNetSpace(SearchSpace):
    """Single Path One-Shot ShuffleNetV2 space: a block (and optionally a width) per layer."""

    name = "shufflenet"
    config_class = ShuffleNetConfig
    config: ShuffleNetConfig

    def __init__(self, config: ShuffleNetConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        self.num_layers = sum(c.stage_repeats)
        # (c_in, c_out, stride) per layer; stride-1 layers see the stage's own width.
        self.layers: list[tuple[int, int, int]] = []
        c_in = c.stem_channels
        for repeats, out in zip(c.stage_repeats, c.stage_channels):
            for r in range(repeats):
                self.layers.append((c_in if r == 0 else out, out, 2 if r == 0 else 1))
            c_in = out
        self.scales: tuple[float, ...] = c.channel_scales if c.channel_search else (1.0,)
        self._decisions: tuple[Decision, ...] | None = None
        self._table: list[dict[tuple[str, float], Cost]] | None = None
        self._fixed: Cost | None = None

    # --- decisions ---------------------------------------------------------------------
    def decisions(self) -> tuple[Decision, ...]:
        if self._decisions is None:
            blocks = [Decision(f"block{i}", BLOCK_OPTIONS) for i in range(self.num_layers)]
            widths = [Decision(f"channel{i}", self.scales, kind="width")
                      for i in range(self.num_layers)] if self.config.channel_search else []
            self._decisions = tuple(blocks + widths)
        return self._decisions

    def layer_choice(self, arch: Arch | dict[str, Any], i: int) -> tuple[str, float]:
        """(block option, channel scale) of layer ``i``; the scale is 1.0 without channel search."""
        choices = getattr(arch, "choices", arch)
        return choices[f"block{i}"], choices[f"channel{i}"] if self.config.channel_search else 1.0

    # --- cost ----------------------------------------------------------------------------
    def _build_table(self) -> None:
        c = self.config
        size = _conv_out(c.input_size, 3, c.stem_stride)
        fixed = Cost(c.in_channels * c.stem_channels * 9 * size * size,
                     c.in_channels * c.stem_channels * 9 + _bn(c.stem_channels, c.bn_affine))
        if c.stem_pool:
            size = _conv_out(size, 3, 2)
        table = []
        for c_in, c_out, stride in self.layers:
            table.append({
                (option, scale): block_cost(option, c_in=c_in, c_out=c_out, mid=mid_channels(c_out, scale),
                                            stride=stride, size_in=size, affine=c.bn_affine)
                for option in BLOCK_OPTIONS for scale in self.scales
            })
            size = _conv_out(size, 3, stride)
        c_last = c.stage_channels[-1]
        fixed += Cost(c_last * c.last_channels * size * size,
                      c_last * c.last_channels + _bn(c.last_channels, c.bn_affine))
        fixed += Cost(c.last_channels * c.num_classes, c.last_channels * c.num_classes)
        self._table, self._fixed = table, fixed

    def cost(self, arch: Arch) -> Cost:
        if self._table is None:
            self._build_table()
        choices = arch.choices
        macs, params = self._fixed.macs, self._fixed.params
        search = self.config.channel_search
        try:
            for i, row in enumerate(self._table):
                c = row[choices[f"block{i}"], choices[f"channel{i}"] if search else 1.0]
                macs += c.macs
                params += c.params
        except KeyError as exc:
            raise ArchError(f"architecture does not fit space {self.name!r} with this config: {exc}") from None
        return Cost(macs, params)

    def cost_bounds(self) -> tuple[Cost, Cost]:
        if self._table is None:
            self._build_table()
        lo, hi = self._fixed, self._fixed
        for row in self._table:  # layers are independent: per-layer extremes add up exactly
            lo += Cost(min(c.macs for c in row.values()), min(c.params for c in row.values()))
            hi += Cost(max(c.macs for c in row.values()), max(c.params for c in row.values()))
        return lo, hi

    # --- networks --------------------------------------------------------------------------
    def _net(self, blocks_for_layer, *, stem: bool = True) -> SPOSNet:
        """The network; ``blocks_for_layer=None`` and ``stem=False`` leave those parts out
        (what latency tables time as the head)."""
        c = self.config
        layers = [ChoiceOp(f"block{i}", blocks_for_layer(i, *shape))
                  for i, shape in enumerate(self.layers)] if blocks_for_layer else []
        head = nn.Sequential(nn.Conv2d(c.stage_channels[-1], c.last_channels, 1, bias=False),
                             nn.BatchNorm2d(c.last_channels, affine=c.bn_affine), nn.ReLU(inplace=True))
        net = SPOSNet(stem=self._stem() if stem else nn.Sequential(), layers=layers, head=head,
                      last_channels=c.last_channels, num_classes=c.num_classes, dropout=c.dropout)
        init_weights(net)
        return net

    def _stem(self) -> nn.Sequential:
        c = self.config
        stem = [nn.Conv2d(c.in_channels, c.stem_channels, 3, c.stem_stride, 1, bias=False),
                nn.BatchNorm2d(c.stem_channels, affine=c.bn_affine), nn.ReLU(inplace=True)]
        if c.stem_pool:
            stem.append(nn.MaxPool2d(3, 2, 1))
        return nn.Sequential(*stem)

    def network(self) -> nn.Module:
        """Supernet: all four blocks per layer; with channel search their mid layers are
        elastic at the widest scale and follow ``channel{i}``."""
        affine, search = self.config.bn_affine, self.config.channel_search

        def candidates(i: int, c_in: int, c_out: int, stride: int) -> dict[str, nn.Module]:
            widths = {s: mid_channels(c_out, s) for s in self.scales} if search else None
            mid = mid_channels(c_out, self.scales[-1])
            return {o: make_block(o, in_channels=c_in, out_channels=c_out, mid=mid, stride=stride, affine=affine,
                                  decision=f"channel{i}", widths=widths) for o in BLOCK_OPTIONS}

        return self._net(candidates)

    def build(self, arch: Arch, *, from_supernet: nn.Module | None = None) -> nn.Module:
        """Standalone network with exactly the chosen blocks and mid channels."""
        arch = self.arch(arch)

        def chosen(i: int, c_in: int, c_out: int, stride: int) -> dict[str, nn.Module]:
            option, scale = self.layer_choice(arch, i)
            return {option: make_block(option, in_channels=c_in, out_channels=c_out, stride=stride,
                                       mid=mid_channels(c_out, scale), affine=self.config.bn_affine)}

        model = self._net(chosen)
        if from_supernet is not None:
            inherit_weights(model, from_supernet)
        return model

    def latency_units(self, arch: Arch | None = None) -> list[LatencyUnit]:
        """Stem and head (fixed) and each layer's block, keyed by option and shape."""
        from search_spaces.shufflenet_latency import latency_units

        return latency_units(self, arch)

    # --- presets ------------------------------------------------------------------------------
    def presets(self) -> dict[str, Arch]:
        """Published SPOS architectures that fit this config (20 layers, 4/4/8/4).

        * ``spos_block_search``: the block-search result released with the official code
          (all mid channels at scale 1.0).
        * ``spos_block_channel_search``: the block + channel search result of the official
          ShuffleNet-Series OneShot model (scale ids over 0.2 .. 1.6); only with
          ``channel_search`` and a scale list that holds its scales.
        """
        if self.config.stage_repeats != (4, 4, 8, 4):
            return {}
        found = {}
        named = {"spos_block_search": (SPOS_BLOCKS, (1.0,) * 20)}
        if self.config.channel_search:
            named["spos_block_channel_search"] = (SPOS_CHANNEL_BLOCKS,
                                                  tuple(DEFAULT_SCALES[j] for j in SPOS_CHANNEL_SCALE_IDS))
        for name, (blocks, scales) in named.items():
            if not set(scales) <= set(self.scales):
                continue
            choices = {f"block{i}": BLOCK_OPTIONS[b] for i, b in enumerate(blocks)}
            if self.config.channel_search:
                choices.update({f"channel{i}": s for i, s in enumerate(scales)})
            found[name] = self.arch(choices)
        return found

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

from functools import partial
from typing import Any

from torch import nn

from nasengine.arch import Arch, ArchError, Decision
from nasengine.cost import Cost
from nasengine.nn import ChoiceOp, conv_out_size, inherit_weights
from nasengine.space import LatencyUnit, SearchSpace
from search_spaces import shufflenet_latency
from search_spaces.shufflenet_blocks import BLOCK_KERNELS, SPOSNet, init_weights, make_block
from search_spaces.shufflenet_config import (
    BLOCK_OPTIONS,
    DEFAULT_SCALES,
    SPOS_BLOCKS,
    SPOS_CHANNEL_BLOCKS,
    SPOS_CHANNEL_SCALE_IDS,
    ShuffleNetConfig,
    mid_channels,
)

__all__ = ["BLOCK_OPTIONS", "DEFAULT_SCALES", "ShuffleNetConfig", "ShuffleNetSpace", "block_cost", "mid_channels"]


def _bn(channels: int, affine: bool) -> int:
    return 2 * channels if affine else 0


def block_cost(option: str, *, c_in: int, c_out: int, mid: int, stride: int, size_in: int, affine: bool) -> Cost:
    """MACs (Conv2d only) and parameters of one block, analytically."""
    k = BLOCK_KERNELS[option]
    size_out = conv_out_size(size_in, k, stride)
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
        size = conv_out_size(c.input_size, 3, c.stem_stride)
        fixed = Cost(c.in_channels * c.stem_channels * 9 * size * size,
                     c.in_channels * c.stem_channels * 9 + _bn(c.stem_channels, c.bn_affine))
        if c.stem_pool:
            size = conv_out_size(size, 3, 2)
        table = []
        for c_in, c_out, stride in self.layers:
            table.append({
                (option, scale): block_cost(option, c_in=c_in, c_out=c_out, mid=mid_channels(c_out, scale),
                                            stride=stride, size_in=size, affine=c.bn_affine)
                for option in BLOCK_OPTIONS for scale in self.scales
            })
            size = conv_out_size(size, 3, stride)
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
        chosen = None if arch is None else [self.layer_choice(self.arch(arch), i) for i in range(self.num_layers)]
        return shufflenet_latency.latency_units(self.config, self.layers, self.scales, self._stem,
                                                partial(self._net, None, stem=False), chosen)

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

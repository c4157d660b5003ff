"""Operations of the layer-wise space. Every conv is elastic on its input side (one module
serves the supernet, sized for the widest input, and a standalone network) and, when the
filter count is searched, on its output side (``ElasticConv2d`` following ``l{i}.filters``).

ENAS builds each op as a 1x1 conv -> BN -> ReLU to the layer's width (``input_conv``), then
a KxK conv / separable conv -> BN -> ReLU, or a 3x3 pool (stride 1, SAME). Zoph & Le's layer
is one HxW conv -> BN -> ReLU over its (concatenated) inputs.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from nasengine.nn import ElasticBatchNorm2d, ElasticConv2d
from search_spaces.nas_cell.ops import Pool


def _kernel(name: str) -> tuple[int, int]:
    h, w = name.rsplit("_", 1)[1].split("x")
    return int(h), int(w)


class ConvBnRelu(nn.Sequential):
    """Conv (SAME padding, no bias) -> BN -> ReLU; ``widths`` maps filter options to
    channels when the output width follows ``decision``."""

    def __init__(self, c_in: int, c_out: int, kernel: tuple[int, int], *, groups: int = 1,
                 decision: str | None = None, widths: Mapping[int, int] | None = None, relu: bool = True) -> None:
        conv = ElasticConv2d(c_in, c_out, kernel, padding=(kernel[0] // 2, kernel[1] // 2), groups=groups,
                             bias=False, decision=decision, widths=widths)
        super().__init__(conv, ElasticBatchNorm2d(c_out), nn.ReLU() if relu else nn.Identity())


class SepConv(nn.Module):
    """Depthwise KxK conv -> pointwise 1x1 conv -> BN -> ReLU (ENAS's separable branch)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, *, decision: str | None,
                 widths: Mapping[int, int] | None) -> None:
        super().__init__()
        self.depthwise = ElasticConv2d(c_in, c_in, kernel, padding=kernel // 2, groups=c_in, bias=False)
        self.pointwise = ConvBnRelu(c_in, c_out, (1, 1), decision=decision, widths=widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


def make_op(name: str, c_in: int, c_out: int, *, input_conv: bool, decision: str | None = None,
            widths: Mapping[int, int] | None = None) -> nn.Module:
    """Operation ``name`` from ``c_in`` (the widest input it may read) to ``c_out`` channels.

    Args:
        decision: The filter-count decision the output width follows (``None``: fixed).
        widths: Filter option -> channels, with ``decision``.
    """
    steps: list[nn.Module] = []
    if input_conv:
        steps.append(ConvBnRelu(c_in, c_out, (1, 1), decision=decision, widths=widths))
        c_in = c_out
    if name.endswith("_pool_3x3"):
        steps.append(Pool(name.split("_")[0], 3, 1))
    elif name.startswith("sep_conv_"):
        steps.append(SepConv(c_in, c_out, _kernel(name)[0], decision=decision, widths=widths))
    else:
        steps.append(ConvBnRelu(c_in, c_out, _kernel(name), decision=decision, widths=widths))
    return steps[0] if len(steps) == 1 else nn.Sequential(*steps)

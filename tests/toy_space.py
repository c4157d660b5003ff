"""A tiny third-party-style space used to test the core without the built-ins."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from nasengine import SPACES, Arch, Cost, Decision, SearchSpace, SpaceConfig, trace_cost
from nasengine.nn import ChoiceOp, ElasticBatchNorm2d, ElasticConv2d, ElasticLinear, inherit_weights

WIDTHS = (4, 8)


@dataclass(frozen=True)
class ToyConfig(SpaceConfig):
    input_size: int = 8
    num_classes: int = 10
    in_channels: int = 1


class ToySpace(SearchSpace):
    """Two layers: a kernel choice and a width choice."""

    name = "toy"
    config_class = ToyConfig

    def decisions(self) -> tuple[Decision, ...]:
        return (Decision("kernel", ("k3", "k5")), Decision("width", WIDTHS, kind="width"))

    def _make(self, kernels: tuple[str, ...], width: int | None) -> nn.Module:
        c = self.config
        w = width or max(WIDTHS)
        conv = {k: nn.Conv2d(c.in_channels, 4, int(k[1]), padding=int(k[1]) // 2) for k in kernels}
        conv2 = ElasticConv2d(4, w, 3, padding=1, decision="width" if width is None else "", widths={v: v for v in WIDTHS})
        return nn.Sequential(ChoiceOp("kernel", conv), nn.ReLU(), conv2, ElasticBatchNorm2d(w), nn.ReLU(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             ElasticLinear(max(WIDTHS) if width is None else w, c.num_classes))

    def network(self) -> nn.Module:
        return self._make(("k3", "k5"), None)

    def build(self, arch: Arch, *, from_supernet: nn.Module | None = None) -> nn.Module:
        model = self._make((arch.choices["kernel"],), arch.choices["width"])
        return inherit_weights(model, from_supernet) if from_supernet is not None else model

    def cost(self, arch: Arch) -> Cost:
        # Small enough to count directly; real spaces use lookup tables.
        return trace_cost(self.build(arch), self.input_shape())


# Registered by hand, as a plug-in would be through its entry point.
if "toy" not in SPACES:
    SPACES.register("toy", ToySpace)

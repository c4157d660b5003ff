"""Building blocks shared by the backbones: width slots, cost terms and elastic layers.

A backbone describes itself twice from one layout: as cost ``Term``s (for the exact,
table-driven ``cost``) and as modules (for ``network`` and ``build``). Both name the same
width *slots*; a slot is a searched decision, or a fixed width (image channels, classes,
the unsearched last width).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from torch import nn

from nasengine.nn import ElasticBatchNorm2d, ElasticConv2d

#: Slot names of the two widths no decision controls.
INPUT, CLASSES = "input", "classes"


@dataclass(frozen=True)
class Slot:
    """A width of the network: ``base`` channels in the standard network.

    ``searched`` slots are decisions (name = decision name); the others stay at ``base``.
    """

    name: str
    base: int
    searched: bool = True


@dataclass(frozen=True)
class Term:
    """A cost contribution: ``macs`` and ``params`` times the product of the channel
    counts of ``slots`` (a slot may repeat, e.g. a 3x3 conv from ``mid`` to ``mid``)."""

    slots: tuple[str, ...]
    macs: int
    params: int


def conv_terms(cin: str, cout: str, k: int | str, hw_out: int, *, depthwise: bool = False) -> list[Term]:
    """Terms of a bias-free conv followed by BatchNorm (weight + bias = 2 params/channel).

    ``k`` is the kernel size, or the slot of a kernel decision (whose factor is k * k).
    """
    slots = (cout,) if depthwise else (cin, cout)
    if isinstance(k, str):
        return [Term((*slots, k), hw_out * hw_out, 1), Term((cout,), 0, 2)]
    return [Term(slots, k * k * hw_out * hw_out, k * k), Term((cout,), 0, 2)]


def linear_terms(cin: str, cout: str) -> list[Term]:
    """Terms of a Linear layer with bias."""
    return [Term((cin, cout), 1, 1), Term((cout,), 0, 1)]


@dataclass(frozen=True)
class Width:
    """How a module builder sizes one slot: ``channels`` allocated, and for searched slots
    the decision and its option -> channels map (what ``ElasticConv2d.select`` reads).

    A kernel slot resolves the same way, with kernel sizes in place of channels.
    """

    channels: int
    decision: str | None = None
    options: Mapping[Any, int] = field(default_factory=dict)


#: ``slot name -> Width``; the supernet gives every option, a standalone net the chosen one.
Resolver = Callable[[str], Width]


def conv(cin: Width, cout: Width, k: int | Width, stride: int = 1, *, depthwise: bool = False) -> ElasticConv2d:
    """Bias-free elastic conv with "same" padding; a depthwise conv follows its input.

    ``k`` is a fixed kernel size or a resolved kernel slot (an elastic kernel).
    """
    kernel = k if isinstance(k, Width) else Width(k)
    size = kernel.channels
    if depthwise:
        c = cin.channels
        return ElasticConv2d(c, c, size, stride, (size - 1) // 2, groups=c, bias=False)
    return ElasticConv2d(
        cin.channels, cout.channels, size, stride, (size - 1) // 2, bias=False, decision=cout.decision,
        widths=cout.options, kernel_decision=kernel.decision, kernels=kernel.options,
    )


def bn(width: Width) -> ElasticBatchNorm2d:
    return ElasticBatchNorm2d(width.channels)


def init_weights(model: nn.Module) -> None:
    """torchvision-style initialisation: He (fan-out) convs, unit BN, small classifier."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)

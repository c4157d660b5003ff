"""Choice modules shared by weight-sharing networks and the standalone networks built
from them. A standalone network uses the same modules with a single candidate each, so
its ``state_dict`` keys are a subset of the supernet's and weights are inherited by
slicing (``inherit_weights``).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import nn


def option_key(value: Any) -> str:
    """A ``ModuleDict``-safe key for an option value (no dots)."""
    return str(value).replace(".", "_")


class Selectable(nn.Module):
    """A module driven by one decision; ``select`` fixes the option used by ``forward``."""

    decision: str

    def select(self, value: Any) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class ChoiceOp(Selectable):
    """Candidate operations for one decision; runs the selected one.

    Args:
        decision: Name of the decision this module follows.
        candidates: Option value -> module. A standalone network passes one candidate.
    """

    def __init__(self, decision: str, candidates: Mapping[Any, nn.Module]) -> None:
        super().__init__()
        if not candidates:
            raise ValueError(f"ChoiceOp {decision!r} needs at least one candidate")
        self.decision = decision
        self.candidates = nn.ModuleDict({option_key(k): m for k, m in candidates.items()})
        self.active: str | None = next(iter(self.candidates)) if len(self.candidates) == 1 else None

    def select(self, value: Any) -> None:
        key = option_key(value)
        if key not in self.candidates:
            raise KeyError(f"{self.decision!r}: option {value!r} is not a candidate here ({list(self.candidates)})")
        self.active = key

    def forward(self, *args: Any) -> Any:
        if self.active is None:
            raise RuntimeError(f"no option selected for {self.decision!r}; call select_path(net, arch) first")
        return self.candidates[self.active](*args)


class InputChoice(Selectable):
    """Picks one tensor among earlier ones (a cell block's input)."""

    def __init__(self, decision: str, n_inputs: int, fixed: int | None = None) -> None:
        super().__init__()
        self.decision = decision
        self.n_inputs = n_inputs
        self.active: int | None = fixed

    def select(self, value: Any) -> None:
        if not 0 <= int(value) < self.n_inputs:
            raise KeyError(f"{self.decision!r}: input {value!r} out of range 0..{self.n_inputs - 1}")
        self.active = int(value)

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        if self.active is None:
            raise RuntimeError(f"no input selected for {self.decision!r}; call select_path(net, arch) first")
        return inputs[self.active]


class ElasticConv2d(nn.Conv2d):
    """Conv2d whose weights are sliced: the first ``active_out`` filters over the first
    ``x.shape[1]`` input channels (``weight[:out, :in]``). Depthwise convs follow the input.

    ``widths`` maps option values of ``decision`` to output channel counts; without a
    decision the output width is fixed (only the input side is elastic).

    ``kernels`` maps option values of ``kernel_decision`` to odd kernel sizes: a smaller
    kernel is the centre of the allocated one (Once-for-All's elastic kernel, without its
    transformation matrices), with "same" padding, so every kernel size shares its weights.
    """

    def __init__(self, *args: Any, decision: str | None = None, widths: Mapping[Any, int] | None = None,
                 kernel_decision: str | None = None, kernels: Mapping[Any, int] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.decision = decision or ""
        self.widths = {option_key(k): int(v) for k, v in (widths or {}).items()}
        self.active_out = self.out_channels
        self.kernel_decision = kernel_decision or ""
        self.kernels = {option_key(k): int(v) for k, v in (kernels or {}).items()}
        self.active_kernel = self.kernel_size[0]
        bad = [k for k in self.kernels.values() if k % 2 == 0 or k > self.kernel_size[0]]
        if bad or (self.kernels and self.kernel_size[0] != self.kernel_size[1]):
            raise ValueError(f"kernels {sorted(self.kernels.values())} must be odd and at most the square "
                             f"kernel allocated ({self.kernel_size})")

    def select(self, value: Any) -> None:
        self.active_out = self.widths[option_key(value)]

    def select_kernel(self, value: Any) -> None:
        self.active_kernel = self.kernels[option_key(value)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c_in = x.shape[1]
        if self.groups == self.in_channels and self.groups > 1:  # depthwise
            weight, groups = self.weight[:c_in], c_in
        else:
            weight, groups = self.weight[: self.active_out, : c_in // self.groups], self.groups
        padding: str | tuple[int, ...] = self.padding
        if self.active_kernel != self.kernel_size[0]:
            trim = (self.kernel_size[0] - self.active_kernel) // 2
            weight = weight[:, :, trim: trim + self.active_kernel, trim: trim + self.active_kernel]
            padding = ((self.active_kernel - 1) // 2 * self.dilation[0],) * 2
        bias = None if self.bias is None else self.bias[: weight.shape[0]]
        return F.conv2d(x, weight, bias, self.stride, padding, self.dilation, groups)


class ElasticLinear(nn.Linear):
    """Linear layer over the first ``x.shape[-1]`` input features (``weight[:, :in]``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight[:, : x.shape[-1]], self.bias)


class ElasticBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d over the first ``x.shape[1]`` channels (statistics sliced in place)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        if c == self.num_features:
            return super().forward(x)
        use_batch_stats = self.training or self.running_mean is None
        if self.training and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.momentum is None:
            momentum = 1.0 / float(self.num_batches_tracked)  # type: ignore[arg-type]
        return F.batch_norm(
            x,
            None if self.running_mean is None else self.running_mean[:c],
            None if self.running_var is None else self.running_var[:c],
            None if self.weight is None else self.weight[:c],
            None if self.bias is None else self.bias[:c],
            use_batch_stats,
            momentum,
            self.eps,
        )


def selectables(net: nn.Module) -> Iterable[nn.Module]:
    """Modules that follow a decision (choice ops, input choices, elastic widths and kernels)."""
    for m in net.modules():
        if isinstance(m, (ChoiceOp, InputChoice)) or (isinstance(m, ElasticConv2d) and (m.decision or m.kernel_decision)):
            yield m


def followed_decisions(module: nn.Module) -> list[tuple[str, Callable[[Any], None]]]:
    """The decisions a selectable module follows, each with the method that applies it."""
    if isinstance(module, ElasticConv2d):
        out = [(module.decision, module.select)] if module.decision else []
        return out + ([(module.kernel_decision, module.select_kernel)] if module.kernel_decision else [])
    return [(module.decision, module.select)]  # type: ignore[list-item]


def select_path(net: nn.Module, choices: Mapping[str, Any] | Any) -> nn.Module:
    """Point every choice module of ``net`` at the options in ``choices`` (or an ``Arch``)."""
    choices = getattr(choices, "choices", choices)
    for m in selectables(net):
        for decision, select in followed_decisions(m):
            if decision not in choices:
                raise KeyError(f"the network has decision {decision!r} but the choices do not")
            select(choices[decision])
    return net


@torch.no_grad()
def inherit_weights(standalone: nn.Module, supernet: nn.Module) -> nn.Module:
    """Copy weights and BN statistics from ``supernet`` into ``standalone`` by slicing.

    Every tensor of the standalone network must exist in the supernet under the same key,
    at least as large in every dimension. The leading slice is copied, except in the
    spatial dimensions of conv weights, where a smaller kernel is the centre of the larger
    (as ``ElasticConv2d`` runs it).
    """
    source = supernet.state_dict()
    for key, target in standalone.state_dict().items():
        if key not in source:
            raise KeyError(f"supernet has no tensor {key!r}; was it built from the same space and config?")
        src = source[key]
        if src.dim() != target.dim() or any(s < t for s, t in zip(src.shape, target.shape)):
            raise ValueError(f"{key!r}: supernet shape {tuple(src.shape)} cannot cover {tuple(target.shape)}")
        starts = [0] * target.dim()
        if target.dim() == 4:
            starts[2:] = [(s - t) // 2 for s, t in zip(src.shape[2:], target.shape[2:])]
        target.copy_(src[tuple(slice(a, a + n) for a, n in zip(starts, target.shape))])
    return standalone


def conv_out_size(size: int, kernel: int, stride: int = 1, padding: int | None = None) -> int:
    """Spatial output size of a conv or pooling window over a ``size``-wide input.

    ``padding`` defaults to ``kernel // 2`` (the "same" padding of odd kernels).
    """
    pad = kernel // 2 if padding is None else padding
    return (size + 2 * pad - kernel) // stride + 1

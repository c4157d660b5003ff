"""A NASNet cell and its blocks, shared by the supernet and standalone networks.

The modules hold whatever candidates they are given: ``network.py`` gives a supernet every
candidate (convs sized for the widest input) and a standalone network only the chosen ones
(exact sizes), under the same names, so the standalone ``state_dict`` keys are a subset.
"""

from __future__ import annotations

import torch
from torch import nn

from nasengine.nn import ChoiceOp, InputChoice

#: Options of the per-state output decisions (see ``space.py``).
OUTPUT_OPTIONS = ("if_unused", "always")


class StrideVariants(nn.ModuleDict):
    """One operation at the strides it may run with (``"s1"``, ``"s2"``): in a reduction cell
    an op reading a cell input strides, one reading a block output does not."""

    def forward(self, x: torch.Tensor, stride: int) -> torch.Tensor:
        return self[f"s{stride}"](x)


class Add(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b


class Concat(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.cat([a, b], 1)


COMBINERS = {"add": Add, "concat": Concat}


def op_stride(reduction: bool, state: int) -> int:
    """Ops stride in a reduction cell only when they read a cell input (slim's rule)."""
    return 2 if reduction and state < 2 else 1


class Block(nn.Module):
    """Two inputs (``InputChoice``), an operation on each (``ChoiceOp`` of ``StrideVariants``)
    and a combiner (a ``ChoiceOp`` when it is searched, else a fixed ``Add``/``Concat``)."""

    def __init__(
        self,
        *,
        inputs: tuple[InputChoice, InputChoice],
        ops: tuple[ChoiceOp, ChoiceOp],
        combine: nn.Module,
        reduction: bool,
    ) -> None:
        super().__init__()
        self.in0, self.in1 = inputs
        self.op0, self.op1 = ops
        self.combine = combine
        self.reduction = reduction

    def forward(self, states: list[torch.Tensor]) -> torch.Tensor:
        a = self.op0(self.in0(states), op_stride(self.reduction, self.in0.active))
        b = self.op1(self.in1(states), op_stride(self.reduction, self.in1.active))
        return self.combine(a, b)


class Cell(nn.Module):
    """A normal or reduction cell.

    Args:
        filters: Channels of every operation output (F of this cell).
        reduction: Whether the cell halves the resolution.
        pre0: ReLU-1x1 conv-BN applied to the current input (state 0).
        pre1: Preprocessing of the previous-previous input (state 1): a ``FactorizedReduce``
            when resolutions differ, a 1x1 ``ConvBn`` applied only when its channel count is
            not ``filters``, or ``None`` (passed through unchanged).
        pre1_reduces: ``pre1`` is a factorized reduction (always applied).
        blocks: The cell's blocks in order; block ``j`` produces state ``j + 2``.
        out_reduce: State index -> module matching a cell input concatenated into the output
            to the output resolution and ``filters`` channels (used when they differ).
        outputs: Per-state output decisions for states ``0..B`` (``None``: unused rule only).
    """

    def __init__(
        self,
        *,
        filters: int,
        reduction: bool,
        pre0: nn.Module,
        pre1: nn.Module | None,
        pre1_reduces: bool,
        blocks: list[Block],
        out_reduce: dict[str, nn.Module],
        outputs: list[ChoiceOp] | None,
    ) -> None:
        super().__init__()
        self.filters, self.reduction, self.pre1_reduces = filters, reduction, pre1_reduces
        self.pre0, self.pre1 = pre0, pre1
        self.blocks = nn.ModuleList(blocks)
        self.out_reduce = nn.ModuleDict(out_reduce)
        self.outputs = None if outputs is None else nn.ModuleList(outputs)

    def output_states(self) -> list[int]:
        """States concatenated into the output: unused ones, plus those marked ``always``."""
        used = {i for b in self.blocks for i in (b.in0.active, b.in1.active)}
        n_states = len(self.blocks) + 2
        always = set() if self.outputs is None else {s for s, o in enumerate(self.outputs) if o.active == "always"}
        return [s for s in range(n_states) if s not in used or s in always]

    def forward(self, cur: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        h1 = prev
        if self.pre1 is not None and (self.pre1_reduces or prev.shape[1] != self.filters):
            h1 = self.pre1(prev)
        states = [self.pre0(cur), h1]
        for block in self.blocks:
            states.append(block(states))
        out = []
        for s in self.output_states():
            h = states[s]
            key = str(s)
            if key in self.out_reduce and (self.reduction or h.shape[1] != self.filters):
                h = self.out_reduce[key](h)
            out.append(h)
        return torch.cat(out, 1)

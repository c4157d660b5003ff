"""What every compression method shares: its input (``MethodInput``), its result
(``Pruned``) and its entry in ``METHODS`` (``Method``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import torch
from torch import nn

from nasengine.compress.layers import LayerInfo

if TYPE_CHECKING:
    from nasengine.compress.latency import LatencyLimit


@dataclass(frozen=True)
class Pruned:
    """What a method returns: the pruned network and the ratios it was pruned with."""

    model: nn.Module
    ratios: dict[str, float]


@dataclass(frozen=True)
class MethodInput:
    """Everything a method may use.

    Attributes:
        model: The source network (eval mode; not to be changed).
        example: An example input batch.
        limit: Most MACs per image the result may have.
        layers: ``prunable_layers(model, example)``.
        calibration: Input batches for feature-map sampling.
        seed: Seeds the method's random choices.
        score: Accuracy of a network on held-out data (validation images), for methods
            that search (AMC's reward); ``None`` where there is no data.
        workdir: A folder of the method's own (checkpoints of a search, so that an
            interrupted one resumes, and TensorBoard logs); ``None``: keep nothing.
        options: Method-specific settings (``--set key=value`` style), empty by default.
        progress: Show progress bars.
        latency: A limit on the predicted latency as well (``None``: MACs alone).
    """

    model: nn.Module
    example: torch.Tensor
    limit: int
    layers: Sequence[LayerInfo]
    calibration: Sequence[torch.Tensor]
    seed: int = 0
    score: Callable[[nn.Module], float] | None = None
    workdir: Path | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    progress: bool = False
    latency: LatencyLimit | None = None


@dataclass(frozen=True)
class Method:
    """A compression method: ``run(MethodInput) -> Pruned``, a line for ``--help``, the
    names of the settings it reads from ``MethodInput.options`` (``--set``), and ``check``,
    which raises ``PruningError`` for a wrong setting before any work is done."""

    help: str
    run: Callable[[MethodInput], Pruned]
    options: tuple[str, ...] = ()
    check: Callable[[Mapping[str, Any]], None] | None = None

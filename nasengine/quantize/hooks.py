"""Running a network over inputs with observing hooks on some of its modules."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

import torch
from torch import nn

__all__ = ["observe"]


def observe(model: nn.Module, hooks: Mapping[nn.Module, Callable[..., Any]], batches: Iterable[torch.Tensor], *,
            pre: bool = False) -> None:
    """Run ``batches`` through ``model`` in eval mode without gradients, with each hook of
    ``hooks`` on its module (forward hooks ``(module, inputs, output)``, or with ``pre``
    forward pre-hooks ``(module, inputs)``); the hooks go and the mode returns afterwards."""
    handles = [m.register_forward_pre_hook(h) if pre else m.register_forward_hook(h) for m, h in hooks.items()]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()
            for x in batches:
                model(x)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()

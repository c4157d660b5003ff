"""Sampled feature maps of a layer: its input patches and outputs at random positions.

He et al. (2017) reconstruct a layer's response from a few positions per image (10 in their
code, ``nPointsPerLayer``) rather than whole maps. The positions are drawn from a generator
seeded by the layer's name, the batch's index and ``seed``, so that the same positions are
read from the source network (targets) and from the network being pruned (inputs).
"""

from __future__ import annotations

import zlib
from typing import Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

#: Positions sampled per image and layer (He et al.'s ``nPointsPerLayer``).
POINTS_PER_IMAGE = 10


def _positions(name: str, batch: int, seed: int, images: int, length: int, points: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()) + batch * 7919)
    return torch.randint(length, (images, points), generator=generator)


def _unfolded_input(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``(N, C, kk, L)`` patches of ``x`` as ``module`` sees them, and ``kk``."""
    if isinstance(module, nn.Conv2d):
        kk = module.kernel_size[0] * module.kernel_size[1]
        cols = F.unfold(x, module.kernel_size, dilation=module.dilation, padding=module.padding,  # type: ignore[arg-type]
                        stride=module.stride)  # type: ignore[arg-type]
        return cols.reshape(x.shape[0], x.shape[1], kk, -1), kk
    flat = x.reshape(x.shape[0], -1, x.shape[-1])  # (N, tokens, features)
    return flat.transpose(1, 2).unsqueeze(2), 1


def _flat_output(module: nn.Module, y: torch.Tensor) -> torch.Tensor:
    """``(N, out, L)`` outputs of ``module``."""
    if isinstance(module, nn.Conv2d):
        return y.reshape(y.shape[0], y.shape[1], -1)
    return y.reshape(y.shape[0], -1, y.shape[-1]).transpose(1, 2)


def _gather(t: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """``t`` ``(N, ..., L)`` at ``pos`` ``(N, P)`` -> ``(N * P, ...)``."""
    index = pos.view(pos.shape[0], *([1] * (t.dim() - 2)), pos.shape[1]).expand(*t.shape[:-1], pos.shape[1])
    picked = torch.gather(t, -1, index.to(t.device))
    return picked.movedim(-1, 1).reshape(-1, *t.shape[1:-1])


def sample_features(model: nn.Module, layers: Mapping[str, nn.Module], batches: Iterable[torch.Tensor], *,
                    inputs: bool, seed: int = 0, points: int = POINTS_PER_IMAGE) -> dict[str, torch.Tensor]:
    """Run ``model`` (eval, no grad) on ``batches`` and sample each of ``layers`` at random positions.

    Args:
        model: The network ``layers`` belong to.
        layers: ``{name: Conv2d or Linear module}``; names seed the positions.
        batches: Input tensors.
        inputs: Return input patches ``(M, C, kh * kw)`` if true, else outputs ``(M, out)``.
        seed: Seeds the positions together with names and batch indices.
        points: Positions per image (a linear layer on ``(N, features)`` has one).

    Returns:
        ``{name: samples}`` in float32 on the CPU, ``M = images * points`` rows.
    """
    found: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    batch_index = 0

    def make_hook(name: str):  # noqa: ANN202 -- a forward hook
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            if len(found[name]) > batch_index:  # a module called twice in one forward: its first call
                return
            x = args[0]
            flat = _unfolded_input(module, x)[0] if inputs else _flat_output(module, output)
            length = flat.shape[-1]
            pos = _positions(name, batch_index, seed, x.shape[0], length, min(points, length))
            found[name].append(_gather(flat, pos).float().cpu())
        return hook

    handles = [module.register_forward_hook(make_hook(name)) for name, module in layers.items()]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            for batch_index, x in enumerate(batches):
                model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return {name: torch.cat(parts) for name, parts in found.items() if parts}

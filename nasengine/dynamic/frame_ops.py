"""Frames of many clips in one flat batch: bookkeeping, TSM shift, and the static twin.

The rows of a ``FrameBatch`` are the frames still alive, sorted by clip and time; ``clip``
names each row's clip. Pruning keeps that order (``route_buckets`` is stable), so a frame's
temporal neighbours are the adjacent rows of the same clip.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from nasengine.dynamic.execution import partition
from nasengine.dynamic.units import StaticBlock

if TYPE_CHECKING:
    from nasengine.dynamic.frames import FramesNetwork

#: TSM shifts 1/SHIFT_DIV of the channels from the next frame and as many from the previous.
SHIFT_DIV = 8


class FrameBatch:
    """Which clip each row of a flat ``[M, C, H, W]`` frame batch belongs to."""

    def __init__(self, clip: torch.Tensor, clips: int) -> None:
        self.clip, self.clips = clip, clips
        # Rows ``i`` (``i + 1``) where clip ``i`` ends and the next begins: the shift must
        # not read across them. None when the rows hold one clip.
        self.boundaries = (clip[1:] != clip[:-1]).nonzero().flatten() if clips > 1 else None

    @classmethod
    def full(cls, clips: int, frames: int, device: torch.device) -> FrameBatch:
        return cls(torch.arange(clips, device=device).repeat_interleave(frames), clips)

    def counts(self) -> torch.Tensor:
        """Frames alive per clip, ``[N]``."""
        return torch.bincount(self.clip, minlength=self.clips)

    def clip_mean(self, rows: torch.Tensor) -> torch.Tensor:
        """``[N, C]`` mean over each clip's rows of ``rows`` ``[M, C]``."""
        total = rows.new_zeros(self.clips, rows.shape[1]).index_add(0, self.clip, rows)
        return total / self.counts().clamp_min(1).to(rows.dtype)[:, None]

    def select(self, keep: torch.Tensor) -> tuple[torch.Tensor | None, FrameBatch]:
        """Rows to keep (in order; None when all are kept) and the batch they form."""
        buckets, sizes = partition((~keep).long(), 2)  # route 0: kept, stable
        if sizes[0] == keep.numel():
            return None, self
        rows = buckets.perm[: sizes[0]]
        return rows, FrameBatch(self.clip[rows], self.clips)

    def top_up(self, keep: torch.Tensor, score: torch.Tensor, minimum: int) -> torch.Tensor:
        """Frames that must be kept besides ``keep`` so that every clip keeps ``minimum``:
        each short clip's best-scoring dropped frames."""
        kept = torch.zeros(self.clips, dtype=torch.long, device=keep.device).index_add(0, self.clip, keep.long())
        need = (minimum - kept).clamp_min(0)
        if not bool(need.any()):
            return torch.zeros_like(keep)
        # Rank the dropped frames of each clip by score, best first (kept ones last).
        by_score = torch.argsort(score.masked_fill(keep, float("-inf")), descending=True, stable=True)
        order = by_score[torch.argsort(self.clip[by_score], stable=True)]
        counts = self.counts()
        starts = torch.cumsum(counts, 0) - counts
        rank = torch.empty_like(order)
        rank[order] = torch.arange(order.numel(), device=order.device) - starts[self.clip[order]]
        return ~keep & (rank < need[self.clip])


def temporal_shift(x: torch.Tensor, batch: FrameBatch) -> torch.Tensor:
    """TSM's shift among each clip's alive frames: 1/8 of the channels from the next frame,
    1/8 from the previous one, zeros at a clip's ends."""
    fold = x.shape[1] // SHIFT_DIV
    if fold == 0 or x.shape[0] == 0:
        return x
    # One copy in ``x``'s memory format (channels-last stays channels-last), then zeros
    # where a row's neighbour belongs to another clip.
    out = torch.empty_like(x)
    out[:, 2 * fold:] = x[:, 2 * fold:]
    out[:-1, :fold] = x[1:, :fold]
    out[-1, :fold] = 0
    out[1:, fold:2 * fold] = x[:-1, fold:2 * fold]
    out[0, fold:2 * fold] = 0
    ends = batch.boundaries
    if ends is not None and ends.numel():
        out[ends, :fold] = 0
        out[ends + 1, fold:2 * fold] = 0
    return out


class _StaticShiftBlock(nn.Module):
    """A plain basic block whose residual branch reads shifted frames."""

    def __init__(self, block: StaticBlock, shift: bool) -> None:
        super().__init__()
        self.block, self.shift = block, shift

    def forward(self, x: torch.Tensor, batch: FrameBatch) -> torch.Tensor:
        b = self.block
        inner = temporal_shift(x, batch) if self.shift else x
        y = b.conv2(F.relu(b.conv1(inner)))
        return F.relu(y + (x if b.proj is None else b.proj(x)))


class StaticFrames(nn.Module):
    """Plain-layer TSN / TSM network running stage ``s`` on the first ``route[s - 1]``
    frames of every clip (input ``[N, T, C, H, W]``)."""

    def __init__(self, net: FramesNetwork, route: list[int], *, fold_bn: bool) -> None:
        super().__init__()
        self.route, self.frames = route, net.config.frames
        self.stem = net.stem.to_static(fold_bn=fold_bn)
        self.stages = nn.ModuleList(
            nn.ModuleList(_StaticShiftBlock(StaticBlock(b.bodies[0], b.shortcut, b.mids[0], fold_bn=fold_bn),
                                            net.config.shift) for b in stage) for stage in net.stages)
        self.classifier = nn.Linear(net.classifier.in_features, net.classifier.out_features)
        self.classifier.load_state_dict(net.classifier.state_dict())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, frames = x.shape[0], x.shape[1]
        h = self.stem(x.flatten(0, 1))
        for s, stage in enumerate(self.stages):
            if s > 0:
                kept = min(self.route[s - 1], frames)
                h = h.unflatten(0, (n, frames))[:, :kept].flatten(0, 1)
                frames = kept
            batch = FrameBatch.full(n, frames, x.device)
            for block in stage:
                h = block(h, batch)
        return self.classifier(h.mean((2, 3)).unflatten(0, (n, frames)).mean(1))

"""Triton kernels of route bucketing (loaded through :mod:`nasengine.kernels.loader`)."""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def route_buckets_kernel(ids_ptr, counts_ptr, offsets_ptr, perm_ptr, N, R,
                         BLOCK_N: tl.constexpr, BLOCK_R: tl.constexpr):
    """One program: counts, exclusive offsets and the stable permutation.

    A sample's slot is its route's start + the number of earlier samples of that route, so
    the order within a route is the batch order. Ids outside 0..R-1 match no route: they
    are neither counted nor placed (the caller rejects them from the counts).
    """
    offs_r = tl.arange(0, BLOCK_R)
    mask_r = offs_r < R
    counts = tl.zeros([BLOCK_R], dtype=tl.int32)
    for n0 in range(0, N, BLOCK_N):
        offs_n = n0 + tl.arange(0, BLOCK_N)
        ids = tl.load(ids_ptr + offs_n, mask=offs_n < N, other=-1)
        hit = (ids[None, :] == offs_r[:, None]) & mask_r[:, None]
        counts += tl.sum(hit.to(tl.int32), axis=1)
    starts = tl.cumsum(counts, axis=0) - counts
    tl.store(counts_ptr + offs_r, counts.to(tl.int64), mask=mask_r)
    tl.store(offsets_ptr + offs_r, starts.to(tl.int64), mask=mask_r)
    tl.store(offsets_ptr + R, tl.sum(counts, axis=0).to(tl.int64))
    seen = tl.zeros([BLOCK_R], dtype=tl.int32)
    for n0 in range(0, N, BLOCK_N):
        offs_n = n0 + tl.arange(0, BLOCK_N)
        ids = tl.load(ids_ptr + offs_n, mask=offs_n < N, other=-1)
        hit = ((ids[None, :] == offs_r[:, None]) & mask_r[:, None]).to(tl.int32)
        slot = starts[:, None] + seen[:, None] + tl.cumsum(hit, axis=1) - 1
        # Each sample hits at most one route: the column sum picks its slot.
        pos = tl.sum(hit * slot, axis=0)
        placed = tl.sum(hit, axis=0) > 0
        tl.store(perm_ptr + pos, offs_n.to(tl.int64), mask=placed)
        seen += tl.sum(hit, axis=1)


@triton.jit
def permute_rows_kernel(src_ptr, dst_ptr, perm_ptr, D, GATHER: tl.constexpr, BLOCK_D: tl.constexpr):
    """Scatter ``dst[perm[i]] = src[i]`` or gather ``dst[i] = src[perm[i]]`` of ``[N, D]`` rows."""
    i = tl.program_id(0).to(tl.int64)
    target = tl.load(perm_ptr + i).to(tl.int64)
    if GATHER:
        src_row, dst_row = target, i
    else:
        src_row, dst_row = i, target
    offs = tl.program_id(1).to(tl.int64) * BLOCK_D + tl.arange(0, BLOCK_D)
    mask = offs < D
    values = tl.load(src_ptr + src_row * D + offs, mask=mask)
    tl.store(dst_ptr + dst_row * D + offs, values, mask=mask)

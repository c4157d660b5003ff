"""Route bucketing with Triton: one launch for counts/offsets/permutation, one per row copy.

The stable permutation is computed in the kernel (rank within a route by a prefix sum)
rather than by a stable argsort, which on GPU costs a radix sort of the whole batch.
"""

from __future__ import annotations

import torch
import triton

from nasengine.kernels.loader import kernel_module
from nasengine.kernels.results import Buckets

ROUTE_TILE = 4096  # [BLOCK_R, BLOCK_N] hit-matrix elements per step
ROW_BLOCK = 2048


def fused_route_buckets(route_ids: torch.Tensor, num_routes: int, *, interpret: bool) -> Buckets:
    """Triton implementation of :func:`nasengine.kernels.route_buckets` (ids not yet checked)."""
    kernels = kernel_module("bucket_kernels", interpret)
    ids = route_ids.long().contiguous()
    n = ids.numel()
    counts = torch.empty(num_routes, dtype=torch.int64, device=ids.device)
    offsets = torch.empty(num_routes + 1, dtype=torch.int64, device=ids.device)
    perm = torch.empty(n, dtype=torch.int64, device=ids.device)
    block_r = triton.next_power_of_2(num_routes)
    block_n = min(triton.next_power_of_2(max(n, 1)), max(16, ROUTE_TILE // block_r))
    kernels.route_buckets_kernel[(1,)](ids, counts, offsets, perm, n, num_routes,
                                       BLOCK_N=block_n, BLOCK_R=block_r)
    return Buckets(route_ids=ids, counts=counts, offsets=offsets, perm=perm)


def _permute_rows(src: torch.Tensor, perm: torch.Tensor, gather: bool, interpret: bool) -> torch.Tensor:
    # Rows (samples) are dense blocks of numel / N elements in NCHW and channels-last alike.
    if not (src.is_contiguous() or src.is_contiguous(memory_format=torch.channels_last)):
        src = src.contiguous()
    dst = torch.empty_like(src)
    n = src.shape[0]
    row = src.numel() // n if n else 0
    if n and row:
        block = min(triton.next_power_of_2(row), ROW_BLOCK)
        kernel_module("bucket_kernels", interpret).permute_rows_kernel[(n, triton.cdiv(row, block))](
            src, dst, perm, row, GATHER=gather, BLOCK_D=block)
    return dst


class _UnbucketFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, sorted_outputs, perm, interpret):
        ctx.save_for_backward(perm)
        ctx.interpret = interpret
        return _permute_rows(sorted_outputs, perm, gather=False, interpret=interpret)

    @staticmethod
    def backward(ctx, grad_out):
        (perm,) = ctx.saved_tensors
        return _permute_rows(grad_out, perm, gather=True, interpret=ctx.interpret), None, None


def fused_unbucket(sorted_outputs: torch.Tensor, perm: torch.Tensor, *, interpret: bool) -> torch.Tensor:
    """Triton implementation of :func:`nasengine.kernels.unbucket` (differentiable)."""
    return _UnbucketFunction.apply(sorted_outputs, perm.contiguous(), interpret)

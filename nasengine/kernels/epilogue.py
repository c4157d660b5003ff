"""Fused prefix-gated BN epilogue with a Triton backward.

Forward: inference is one elementwise pass (after a tiny launch folding running statistics
into scale/shift); training adds a statistics pass (partial sums per range of samples) and a
tiny finalize launch that also updates the running statistics.
Backward: one reduction pass (sums of g' and g' * xhat, skipped in inference when no affine
gradient is needed) and one elementwise pass for ``dy``; ``y`` is re-read, nothing else is
stored in forward besides per-channel vectors.
"""

from __future__ import annotations

import torch
import triton

from nasengine.kernels.loader import kernel_module

TILE_ELEMENTS = 1024  # elements per program of the elementwise passes
REDUCTION_PROGRAMS_PER_SM = 8


def _tiles(y3: torch.Tensor) -> tuple[int, int]:
    """(BLOCK_C, BLOCK_HW) with the contiguous dimension innermost-wide."""
    _, channels, hw = y3.shape
    if y3.stride(1) == 1 and channels > 1:  # channels-last: channels are contiguous
        block_c = min(triton.next_power_of_2(channels), 64)
        return block_c, min(triton.next_power_of_2(hw), max(1, TILE_ELEMENTS // block_c))
    block_hw = min(triton.next_power_of_2(hw), 256)
    return min(triton.next_power_of_2(channels), max(1, TILE_ELEMENTS // block_hw)), block_hw


def _splits(y3: torch.Tensor, c_blocks: int) -> tuple[int, int]:
    """(number of sample ranges, samples per range) of the reduction passes."""
    n = y3.shape[0]
    processors = (torch.cuda.get_device_properties(y3.device).multi_processor_count
                  if y3.is_cuda else 2)
    wanted = max(1, triton.cdiv(processors * REDUCTION_PROGRAMS_PER_SM, c_blocks))
    per_split = triton.cdiv(n, min(n, wanted))
    return triton.cdiv(n, per_split), per_split


def _grid_1d(y3: torch.Tensor, block_c: int, block_hw: int) -> tuple[int]:
    n, channels, hw = y3.shape
    return (n * triton.cdiv(channels, block_c) * triton.cdiv(hw, block_hw),)


def _like(y3: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``t`` with the strides of ``y3`` (the kernels index every tensor with one set of strides)."""
    return t if t.stride() == y3.stride() else torch.empty_like(y3).copy_(t)


class _PrefixEpilogueFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, y, widths, scale, shift, weight, bias, running_mean, running_var, training,
                momentum, eps, relu, interpret):
        kernels = kernel_module("epilogue_kernels", interpret)
        y = y if y.is_contiguous() or y.is_contiguous(memory_format=torch.channels_last) else y.contiguous()
        out = torch.empty_like(y)
        y3, out3 = y.flatten(2), out.flatten(2)
        n, channels, hw = y3.shape
        block_c, block_hw = _tiles(y3)
        strides = (y3.stride(0), y3.stride(1), y3.stride(2))
        mean = rstd = None
        folded = not training and running_mean is not None
        if folded:
            vectors = torch.empty(4, channels, dtype=torch.float32, device=y.device)
            scale, shift, mean, rstd = vectors.unbind(0)
            fold_block = min(triton.next_power_of_2(max(channels, 1)), 256)
            if channels > 0:
                kernels.fold_running_stats_kernel[(triton.cdiv(channels, fold_block),)](
                    weight, bias, running_mean, running_var, scale, shift, mean, rstd, channels,
                    float(eps), BLOCK_C=fold_block)
        if training and y.numel() > 0:
            c_blocks = triton.cdiv(channels, block_c)
            splits, per_split = _splits(y3, c_blocks)
            partial = torch.empty(2, splits, channels, dtype=torch.float32, device=y.device)
            kernels.batch_stats_kernel[(c_blocks, splits)](
                y3, partial, n, channels, hw, *strides, per_split,
                BLOCK_C=block_c, BLOCK_HW=block_hw)
            vectors = torch.empty(4, channels, dtype=torch.float32, device=y.device)
            scale, shift, mean, rstd = vectors.unbind(0)
            has_running = running_mean is not None
            m = n * hw
            finalize_block = min(triton.next_power_of_2(channels), 256)
            kernels.batch_stats_finalize_kernel[(triton.cdiv(channels, finalize_block),)](
                y3, partial, weight, bias, running_mean if has_running else scale,
                running_var if has_running else scale, scale, shift, mean, rstd,
                channels, m, splits, y3.stride(1), float(momentum), float(eps), m / (m - 1),
                HAS_RUNNING=has_running, BLOCK_C=finalize_block)
        if y.numel() > 0:
            kernels.apply_kernel[_grid_1d(y3, block_c, block_hw)](
                y3, out3, widths, scale, shift, n, channels, hw, *strides,
                RELU=relu, BLOCK_C=block_c, BLOCK_HW=block_hw)
        ctx.training, ctx.folded, ctx.relu, ctx.interpret = training, folded, relu, interpret
        ctx.param_dtypes = ((weight.dtype, bias.dtype) if training or folded
                            else (scale.dtype, shift.dtype))
        ctx.save_for_backward(y, widths, scale, shift, mean, rstd)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        y, widths, scale, shift, mean, rstd = ctx.saved_tensors
        kernels = kernel_module("epilogue_kernels", ctx.interpret)
        need = ctx.needs_input_grad
        # Affine gradients: weight/bias with BN parameters, scale/shift when given directly.
        by_weight = ctx.training or ctx.folded
        need_a, need_b = (need[4], need[5]) if by_weight else (need[2], need[3])
        need_params = need_a or need_b
        y3 = y.flatten(2)
        g3 = _like(y3, grad_out.flatten(2))
        n, channels, hw = y3.shape
        block_c, block_hw = _tiles(y3)
        strides = (y3.stride(0), y3.stride(1), y3.stride(2))
        mean = mean if mean is not None else scale  # unused in inference; any fp32 [C] pointer
        rstd = rstd if rstd is not None else scale
        sums = None
        if (ctx.training or need_params) and y.numel() > 0:
            c_blocks = triton.cdiv(channels, block_c)
            splits, per_split = _splits(y3, c_blocks)
            partial = torch.empty(2, splits, channels, dtype=torch.float32, device=y.device)
            kernels.grad_sums_kernel[(c_blocks, splits)](
                g3, y3, widths, scale, shift, mean, rstd, partial, n, channels, hw, *strides,
                per_split, RELU=ctx.relu, TRAINING=ctx.training, BLOCK_C=block_c, BLOCK_HW=block_hw)
            sums = partial.sum(1)
        elif need_params:
            sums = torch.zeros(2, channels, dtype=torch.float32, device=y.device)
        grad_y = None
        if need[0]:
            grad_y = torch.empty_like(y)
            if y.numel() > 0:
                kernels.grad_input_kernel[_grid_1d(y3, block_c, block_hw)](
                    g3, y3, grad_y.flatten(2), widths, scale, shift, mean, rstd,
                    sums if sums is not None else scale, n, channels, hw, *strides,
                    1.0 / max(n * hw, 1), RELU=ctx.relu, TRAINING=ctx.training,
                    BLOCK_C=block_c, BLOCK_HW=block_hw)
        grad_a = grad_b = None
        if need_a:
            # Folded inference: scale = w * rstd and shift = b - mean * scale both move with w.
            grad_a = (sums[1] - mean * sums[0]) * rstd if ctx.folded else sums[1]
            grad_a = grad_a.to(ctx.param_dtypes[0])
        if need_b:
            grad_b = sums[0].to(ctx.param_dtypes[1])
        if by_weight:
            return grad_y, None, None, None, grad_a, grad_b, None, None, None, None, None, None, None
        return grad_y, None, grad_a, grad_b, None, None, None, None, None, None, None, None, None


def fused_prefix_epilogue(y: torch.Tensor, widths: torch.Tensor, *, scale: torch.Tensor | None,
                          shift: torch.Tensor | None, weight: torch.Tensor | None,
                          bias: torch.Tensor | None, running_mean: torch.Tensor | None,
                          running_var: torch.Tensor | None, training: bool, momentum: float,
                          eps: float, activation: str, interpret: bool) -> torch.Tensor:
    """Triton implementation of :func:`nasengine.kernels.prefix_epilogue` (arguments checked).

    With BN parameters (training, or inference with running statistics) ``weight``/``bias``
    None means 1/0; with ``scale``/``shift`` given directly None means the identity.
    """
    channels = y.shape[1]

    def filled(t: torch.Tensor | None, value: float) -> torch.Tensor:
        return t if t is not None else torch.full((channels,), value, device=y.device)

    if training or running_mean is not None:
        weight, bias = filled(weight, 1.0), filled(bias, 0.0)
    else:
        scale, shift = filled(scale, 1.0), filled(shift, 0.0)
    return _PrefixEpilogueFunction.apply(y, widths.contiguous(), scale, shift, weight, bias, running_mean,
                                         running_var, training, momentum, eps,
                                         activation == "relu", interpret)

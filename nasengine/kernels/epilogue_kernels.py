"""Triton kernels of the prefix-gated BN epilogue (loaded through :mod:`.loader`).

Tensors are seen as ``[N, C, HW]`` with shared strides (NCHW or channels-last). Element
(n, c, p) is "kept" when ``c < widths[n]``; a tile of dropped channels is never read.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _tile(pid, N, C, HW, widths_ptr, stride_n, stride_c, stride_hw,
          BLOCK_C: tl.constexpr, BLOCK_HW: tl.constexpr):
    """Offsets and masks of tile ``pid`` of the 1-D launch grid (n-major, hw-minor)."""
    hw_blocks = tl.cdiv(HW, BLOCK_HW)
    c_blocks = tl.cdiv(C, BLOCK_C)
    hb = pid % hw_blocks
    rest = pid // hw_blocks
    cb = rest % c_blocks
    n = (rest // c_blocks).to(tl.int64)
    offs_c = cb * BLOCK_C + tl.arange(0, BLOCK_C)
    offs_p = hb * BLOCK_HW + tl.arange(0, BLOCK_HW)
    width = tl.load(widths_ptr + n)
    mask_c = offs_c < C
    valid = mask_c[:, None] & (offs_p[None, :] < HW)
    kept = valid & (offs_c < width)[:, None]
    offsets = n * stride_n + offs_c[:, None].to(tl.int64) * stride_c + offs_p[None, :] * stride_hw
    return offs_c, mask_c, valid, kept, offsets


@triton.jit
def batch_stats_kernel(y_ptr, part_ptr, N, C, HW, stride_n, stride_c, stride_hw, samples_per_split,
                       BLOCK_C: tl.constexpr, BLOCK_HW: tl.constexpr):
    """Partial per-channel sums of ``y - k`` and ``(y - k)^2`` over one range of samples.

    ``k = y[0, c, 0]`` shifts the data so the variance does not cancel catastrophically.
    Writes ``part[0, split, c]`` and ``part[1, split, c]``.
    """
    pid_c = tl.program_id(0)
    split = tl.program_id(1)
    offs_c = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    mask_c = offs_c < C
    chan = offs_c.to(tl.int64) * stride_c
    k = tl.load(y_ptr + chan, mask=mask_c, other=0.0).to(tl.float32)
    acc1 = tl.zeros([BLOCK_C, BLOCK_HW], dtype=tl.float32)
    acc2 = tl.zeros([BLOCK_C, BLOCK_HW], dtype=tl.float32)
    n_start = split * samples_per_split
    n_end = tl.minimum(n_start + samples_per_split, N)
    for n in range(n_start, n_end):
        for p0 in range(0, HW, BLOCK_HW):
            offs_p = p0 + tl.arange(0, BLOCK_HW)
            mask = mask_c[:, None] & (offs_p[None, :] < HW)
            ptrs = y_ptr + tl.cast(n, tl.int64) * stride_n + chan[:, None] + offs_p[None, :] * stride_hw
            v = tl.load(ptrs, mask=mask, other=0.0).to(tl.float32) - k[:, None]
            v = tl.where(mask, v, 0.0)
            acc1 += v
            acc2 += v * v
    tl.store(part_ptr + split * C + offs_c, tl.sum(acc1, axis=1), mask=mask_c)
    tl.store(part_ptr + (tl.num_programs(1) + split) * C + offs_c, tl.sum(acc2, axis=1), mask=mask_c)


@triton.jit
def batch_stats_finalize_kernel(y_ptr, part_ptr, weight_ptr, bias_ptr, rmean_ptr, rvar_ptr,
                                scale_ptr, shift_ptr, mean_ptr, rstd_ptr,
                                C, M, splits, stride_c, momentum, eps, unbias,
                                HAS_RUNNING: tl.constexpr, BLOCK_C: tl.constexpr):
    """Mean/rstd from the partial sums, folded affine, in-place running-stat update."""
    offs_c = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask_c = offs_c < C
    s1 = tl.zeros([BLOCK_C], dtype=tl.float32)
    s2 = tl.zeros([BLOCK_C], dtype=tl.float32)
    for s in range(0, splits):
        s1 += tl.load(part_ptr + s * C + offs_c, mask=mask_c, other=0.0)
        s2 += tl.load(part_ptr + (splits + s) * C + offs_c, mask=mask_c, other=0.0)
    k = tl.load(y_ptr + offs_c.to(tl.int64) * stride_c, mask=mask_c, other=0.0).to(tl.float32)
    shifted_mean = s1 / M
    var = tl.maximum(s2 / M - shifted_mean * shifted_mean, 0.0)
    mean = k + shifted_mean
    rstd = 1.0 / tl.sqrt(var + eps)
    weight = tl.load(weight_ptr + offs_c, mask=mask_c, other=1.0).to(tl.float32)
    bias = tl.load(bias_ptr + offs_c, mask=mask_c, other=0.0).to(tl.float32)
    scale = weight * rstd
    tl.store(scale_ptr + offs_c, scale, mask=mask_c)
    tl.store(shift_ptr + offs_c, bias - mean * scale, mask=mask_c)
    tl.store(mean_ptr + offs_c, mean, mask=mask_c)
    tl.store(rstd_ptr + offs_c, rstd, mask=mask_c)
    if HAS_RUNNING:
        rmean = tl.load(rmean_ptr + offs_c, mask=mask_c, other=0.0).to(tl.float32)
        rvar = tl.load(rvar_ptr + offs_c, mask=mask_c, other=0.0).to(tl.float32)
        rmean = (1.0 - momentum) * rmean + momentum * mean
        rvar = (1.0 - momentum) * rvar + momentum * var * unbias
        tl.store(rmean_ptr + offs_c, rmean.to(rmean_ptr.dtype.element_ty), mask=mask_c)
        tl.store(rvar_ptr + offs_c, rvar.to(rvar_ptr.dtype.element_ty), mask=mask_c)


@triton.jit
def fold_running_stats_kernel(weight_ptr, bias_ptr, rmean_ptr, rvar_ptr, scale_ptr, shift_ptr,
                              mean_ptr, rstd_ptr, C, eps, BLOCK_C: tl.constexpr):
    """Inference BN folded into ``scale``/``shift`` (one launch instead of a chain of ops)."""
    offs_c = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask_c = offs_c < C
    mean = tl.load(rmean_ptr + offs_c, mask=mask_c, other=0.0).to(tl.float32)
    rstd = 1.0 / tl.sqrt(tl.load(rvar_ptr + offs_c, mask=mask_c, other=1.0).to(tl.float32) + eps)
    scale = tl.load(weight_ptr + offs_c, mask=mask_c, other=1.0).to(tl.float32) * rstd
    bias = tl.load(bias_ptr + offs_c, mask=mask_c, other=0.0).to(tl.float32)
    tl.store(scale_ptr + offs_c, scale, mask=mask_c)
    tl.store(shift_ptr + offs_c, bias - mean * scale, mask=mask_c)
    tl.store(mean_ptr + offs_c, mean, mask=mask_c)
    tl.store(rstd_ptr + offs_c, rstd, mask=mask_c)


@triton.jit
def apply_kernel(y_ptr, out_ptr, widths_ptr, scale_ptr, shift_ptr,
                 N, C, HW, stride_n, stride_c, stride_hw,
                 RELU: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_HW: tl.constexpr):
    """``out = act(y * scale + shift)`` on kept channels, 0 elsewhere."""
    offs_c, mask_c, valid, kept, offsets = _tile(tl.program_id(0), N, C, HW, widths_ptr, stride_n,
                                                 stride_c, stride_hw, BLOCK_C, BLOCK_HW)
    scale = tl.load(scale_ptr + offs_c, mask=mask_c, other=0.0).to(tl.float32)
    shift = tl.load(shift_ptr + offs_c, mask=mask_c, other=0.0).to(tl.float32)
    y = tl.load(y_ptr + offsets, mask=kept, other=0.0).to(tl.float32)
    z = y * scale[:, None] + shift[:, None]
    if RELU:
        z = tl.maximum(z, 0.0)
    z = tl.where(kept, z, 0.0)
    tl.store(out_ptr + offsets, z.to(out_ptr.dtype.element_ty), mask=valid)


@triton.jit
def _gated_grad(g_ptr, offsets, y, kept, scale, shift, RELU: tl.constexpr):
    """Gradient at the BN output: grad * mask * act'(z), with z recomputed as in forward."""
    g = tl.load(g_ptr + offsets, mask=kept, other=0.0).to(tl.float32)
    if RELU:
        z = y * scale[:, None] + shift[:, None]
        g = tl.where(z > 0.0, g, 0.0)
    return tl.where(kept, g, 0.0)


@triton.jit
def grad_sums_kernel(g_ptr, y_ptr, widths_ptr, scale_ptr, shift_ptr, mean_ptr, rstd_ptr, part_ptr,
                     N, C, HW, stride_n, stride_c, stride_hw, samples_per_split,
                     RELU: tl.constexpr, TRAINING: tl.constexpr,
                     BLOCK_C: tl.constexpr, BLOCK_HW: tl.constexpr):
    """Partial per-channel ``sum(g')`` and ``sum(g' * xhat)`` (xhat = y in inference)."""
    pid_c = tl.program_id(0)
    split = tl.program_id(1)
    offs_c = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    mask_c = offs_c < C
    chan = offs_c.to(tl.int64) * stride_c
    scale = tl.load(scale_ptr + offs_c, mask=mask_c, other=0.0).to(tl.float32)
    shift = tl.load(shift_ptr + offs_c, mask=mask_c, other=0.0).to(tl.float32)
    mean = tl.load(mean_ptr + offs_c, mask=mask_c, other=0.0)
    rstd = tl.load(rstd_ptr + offs_c, mask=mask_c, other=1.0)
    acc0 = tl.zeros([BLOCK_C, BLOCK_HW], dtype=tl.float32)
    acc1 = tl.zeros([BLOCK_C, BLOCK_HW], dtype=tl.float32)
    n_start = split * samples_per_split
    n_end = tl.minimum(n_start + samples_per_split, N)
    for n in range(n_start, n_end):
        width = tl.load(widths_ptr + n)
        kept_c = mask_c & (offs_c < width)
        for p0 in range(0, HW, BLOCK_HW):
            offs_p = p0 + tl.arange(0, BLOCK_HW)
            kept = kept_c[:, None] & (offs_p[None, :] < HW)
            offsets = tl.cast(n, tl.int64) * stride_n + chan[:, None] + offs_p[None, :] * stride_hw
            y = tl.load(y_ptr + offsets, mask=kept, other=0.0).to(tl.float32)
            g = _gated_grad(g_ptr, offsets, y, kept, scale, shift, RELU)
            if TRAINING:
                y = (y - mean[:, None]) * rstd[:, None]
            acc0 += g
            acc1 += g * y
    tl.store(part_ptr + split * C + offs_c, tl.sum(acc0, axis=1), mask=mask_c)
    tl.store(part_ptr + (tl.num_programs(1) + split) * C + offs_c, tl.sum(acc1, axis=1), mask=mask_c)


@triton.jit
def grad_input_kernel(g_ptr, y_ptr, dy_ptr, widths_ptr, scale_ptr, shift_ptr, mean_ptr, rstd_ptr,
                      sums_ptr, N, C, HW, stride_n, stride_c, stride_hw, inv_m,
                      RELU: tl.constexpr, TRAINING: tl.constexpr,
                      BLOCK_C: tl.constexpr, BLOCK_HW: tl.constexpr):
    """``dy``: ``scale * g'`` in inference; the batch-statistics BN backward in training.

    In training ``scale = weight * rstd``; ``sums`` holds the totals of ``grad_sums_kernel``.
    """
    offs_c, mask_c, valid, kept, offsets = _tile(tl.program_id(0), N, C, HW, widths_ptr, stride_n,
                                                 stride_c, stride_hw, BLOCK_C, BLOCK_HW)
    scale = tl.load(scale_ptr + offs_c, mask=mask_c, other=0.0).to(tl.float32)
    shift = tl.load(shift_ptr + offs_c, mask=mask_c, other=0.0).to(tl.float32)
    if TRAINING:
        # Every sample's y moves the batch statistics, so dropped channels get gradient too.
        y = tl.load(y_ptr + offsets, mask=valid, other=0.0).to(tl.float32)
    else:
        y = tl.load(y_ptr + offsets, mask=kept, other=0.0).to(tl.float32)
    g = _gated_grad(g_ptr, offsets, y, kept, scale, shift, RELU)
    if TRAINING:
        mean = tl.load(mean_ptr + offs_c, mask=mask_c, other=0.0)
        rstd = tl.load(rstd_ptr + offs_c, mask=mask_c, other=0.0)
        sum_g = tl.load(sums_ptr + offs_c, mask=mask_c, other=0.0)
        sum_gx = tl.load(sums_ptr + C + offs_c, mask=mask_c, other=0.0)
        xhat = (y - mean[:, None]) * rstd[:, None]
        dy = scale[:, None] * (g - sum_g[:, None] * inv_m - xhat * (sum_gx * inv_m)[:, None])
    else:
        dy = g * scale[:, None]
    tl.store(dy_ptr + offsets, dy.to(dy_ptr.dtype.element_ty), mask=valid)

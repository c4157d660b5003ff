"""Triton kernel of the fused gate head (loaded through :mod:`nasengine.kernels.loader`)."""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _pool_and_fc1(x_row, w1_ptr, pooled_row, C, HW, HIDDEN, stride_xc, stride_xhw, inv_hw,
                  cb_start, cb_end, SAVE: tl.constexpr, BLOCK_C: tl.constexpr,
                  BLOCK_HW: tl.constexpr, BLOCK_H: tl.constexpr):
    """``w1[:, cs] @ mean(x[cs])`` over channel blocks ``cb_start..cb_end`` (pre-bias, fp32)."""
    offs_h = tl.arange(0, BLOCK_H)
    mask_h = offs_h < HIDDEN
    hidden = tl.zeros([BLOCK_H], dtype=tl.float32)
    for cb in range(cb_start, cb_end):
        offs_c = cb * BLOCK_C + tl.arange(0, BLOCK_C)
        mask_c = offs_c < C
        acc = tl.zeros([BLOCK_C, BLOCK_HW], dtype=tl.float32)
        for p0 in range(0, HW, BLOCK_HW):
            offs_p = p0 + tl.arange(0, BLOCK_HW)
            ptrs = x_row + offs_c[:, None] * stride_xc + offs_p[None, :] * stride_xhw
            tile_mask = mask_c[:, None] & (offs_p[None, :] < HW)
            acc += tl.load(ptrs, mask=tile_mask, other=0.0).to(tl.float32)
        pooled = tl.sum(acc, axis=1) * inv_hw
        if SAVE:
            tl.store(pooled_row + offs_c, pooled, mask=mask_c)
        w1 = tl.load(w1_ptr + offs_h[:, None] * C + offs_c[None, :],
                     mask=mask_h[:, None] & mask_c[None, :], other=0.0).to(tl.float32)
        hidden += tl.sum(w1 * pooled[None, :], axis=1)
    return hidden


@triton.jit
def _head(n, hidden, b1_ptr, w2_ptr, b2_ptr, noise_ptr, decision_ptr, scores_ptr, probs_ptr,
          hidden_ptr, soft_ptr, HIDDEN, ACTIONS, threshold, inv_tau,
          MODE: tl.constexpr, SAVE: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_A: tl.constexpr):
    """Bias + ReLU, second FC and the decision of one sample."""
    offs_h = tl.arange(0, BLOCK_H)
    mask_h = offs_h < HIDDEN
    hidden += tl.load(b1_ptr + offs_h, mask=mask_h, other=0.0).to(tl.float32)
    hidden = tl.maximum(hidden, 0.0)
    if SAVE:
        tl.store(hidden_ptr + n * HIDDEN + offs_h, hidden, mask=mask_h)
    offs_a = tl.arange(0, BLOCK_A)
    mask_a = offs_a < ACTIONS
    w2 = tl.load(w2_ptr + offs_a[:, None] * HIDDEN + offs_h[None, :],
                 mask=mask_a[:, None] & mask_h[None, :], other=0.0).to(tl.float32)
    scores = tl.sum(w2 * hidden[None, :], axis=1)
    scores += tl.load(b2_ptr + offs_a, mask=mask_a, other=0.0).to(tl.float32)
    row = n * ACTIONS + offs_a
    tl.store(scores_ptr + row, scores.to(scores_ptr.dtype.element_ty), mask=mask_a)
    if MODE == 1 or MODE == 2:  # sigmoid gate, A == 1
        soft = 1.0 / (1.0 + tl.exp(-scores))
        hard = (soft > threshold).to(tl.float32)
        decision = tl.sum(tl.where(offs_a == 0, hard, 0.0), axis=0).to(tl.int64)
        if MODE == 1:
            value = soft
        else:
            value = hard
    else:  # argmax of the scores, or of the Gumbel-perturbed scores
        logits = scores
        if MODE == 3:
            noise = tl.load(noise_ptr + row, mask=mask_a, other=0.0).to(tl.float32)
            logits = (scores + noise) * inv_tau
        logits = tl.where(mask_a, logits, float("-inf"))
        best = tl.max(logits, axis=0)
        # First index of the maximum, as torch.argmax.
        decision = tl.min(tl.where(logits == best, offs_a, BLOCK_A), axis=0).to(tl.int64)
        e = tl.where(mask_a, tl.exp(logits - best), 0.0)
        soft = e / tl.sum(e, axis=0)
        if MODE == 0:
            value = soft
        else:
            value = (offs_a == decision).to(tl.float32)
    tl.store(probs_ptr + row, value.to(probs_ptr.dtype.element_ty), mask=mask_a)
    if SAVE:
        tl.store(soft_ptr + row, soft, mask=mask_a)
    tl.store(decision_ptr + n, decision)


@triton.jit
def gate_head_kernel(
    x_ptr, w1_ptr, b1_ptr, w2_ptr, b2_ptr, noise_ptr,
    decision_ptr, scores_ptr, probs_ptr, pooled_ptr, hidden_ptr, soft_ptr,
    partial_ptr, ticket_ptr,
    C, HW, HIDDEN, ACTIONS,
    stride_xn, stride_xc, stride_xhw,
    inv_hw, threshold, inv_tau, c_blocks, blocks_per_split,
    MODE: tl.constexpr, SAVE: tl.constexpr, SPLITS: tl.constexpr,
    BLOCK_C: tl.constexpr, BLOCK_HW: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_A: tl.constexpr,
):
    """Grid ``(N, SPLITS)``: program (n, s) pools a slice of the channels of sample n.

    With one split the program finishes the sample. With more (small batches, so the whole
    GPU streams the feature map) each program stores its share of the first FC, and the last
    program of the sample to take a ticket sums the shares and finishes it; fp32 throughout.
    """
    n = tl.program_id(0).to(tl.int64)
    split = tl.program_id(1)
    cb_start = split * blocks_per_split
    cb_end = tl.minimum(cb_start + blocks_per_split, c_blocks)
    hidden = _pool_and_fc1(x_ptr + n * stride_xn, w1_ptr, pooled_ptr + n * C, C, HW, HIDDEN,
                           stride_xc, stride_xhw, inv_hw, cb_start, cb_end,
                           SAVE, BLOCK_C, BLOCK_HW, BLOCK_H)
    if SPLITS == 1:
        _head(n, hidden, b1_ptr, w2_ptr, b2_ptr, noise_ptr, decision_ptr, scores_ptr, probs_ptr,
              hidden_ptr, soft_ptr, HIDDEN, ACTIONS, threshold, inv_tau, MODE, SAVE, BLOCK_H, BLOCK_A)
    else:
        offs_h = tl.arange(0, BLOCK_H)
        tl.store(partial_ptr + (n * SPLITS + split) * BLOCK_H + offs_h, hidden)
        tl.debug_barrier()  # every thread's share is written before the ticket (acq_rel) is taken
        ticket = tl.atomic_add(ticket_ptr + n, 1)
        if ticket == SPLITS - 1:
            total = tl.zeros([BLOCK_H], dtype=tl.float32)
            for s in range(0, SPLITS):
                total += tl.load(partial_ptr + (n * SPLITS + s) * BLOCK_H + offs_h, cache_modifier=".cg")
            _head(n, total, b1_ptr, w2_ptr, b2_ptr, noise_ptr, decision_ptr, scores_ptr, probs_ptr,
                  hidden_ptr, soft_ptr, HIDDEN, ACTIONS, threshold, inv_tau, MODE, SAVE, BLOCK_H,
                  BLOCK_A)

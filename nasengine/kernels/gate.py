"""Fused gate head: one Triton launch for pooling, the two-layer MLP and the decision.

Backward runs in PyTorch from the pooled features, hidden activations and soft
probabilities the forward kernel saved (all ``[N, C]``-sized or smaller): a few tiny matmuls
and one broadcast write of ``dx``; the feature map is not read again.
"""

from __future__ import annotations

import torch
import triton

from nasengine.kernels.loader import kernel_module
from nasengine.kernels.reference import gate_output_dtype
from nasengine.kernels.results import GateOutput

MODES = {"argmax": 0, "sigmoid": 1, "straight_through": 2, "gumbel": 3}
TILE_ELEMENTS = 4096  # fp32 accumulator tile of the pooling loop, per program
PROGRAMS_PER_PROCESSOR = 4


def launch_shape(x3: torch.Tensor, hidden: int, actions: int) -> dict[str, int]:
    """Block sizes and channel splits: enough programs to stream x with the whole device."""
    n, channels, hw = x3.shape
    processors = (torch.cuda.get_device_properties(x3.device).multi_processor_count
                  if x3.is_cuda else 2)
    wanted_splits = max(1, triton.cdiv(PROGRAMS_PER_PROCESSOR * processors, max(n, 1)))
    block_h = triton.next_power_of_2(hidden)
    # Narrow channel blocks when splitting; keep the [BLOCK_H, BLOCK_C] slice of w1 within
    # ~4K fp32 values per program.
    block_c = min(triton.next_power_of_2(channels), max(8, 4096 // block_h), 64,
                  max(4, triton.next_power_of_2(triton.cdiv(channels, wanted_splits))))
    c_blocks = triton.cdiv(channels, block_c)
    blocks_per_split = triton.cdiv(c_blocks, min(c_blocks, wanted_splits))
    return dict(BLOCK_C=block_c, BLOCK_HW=min(triton.next_power_of_2(hw), max(1, TILE_ELEMENTS // block_c)),
                BLOCK_H=block_h, BLOCK_A=triton.next_power_of_2(actions), c_blocks=c_blocks,
                blocks_per_split=blocks_per_split, SPLITS=triton.cdiv(c_blocks, blocks_per_split))


def _as_nchw3(x: torch.Tensor) -> torch.Tensor:
    """``[N, C, HW]`` view (a copy only for layouts that cannot be flattened)."""
    return x.flatten(2) if x.dim() == 4 else x.unsqueeze(2)


class _GateHeadFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2, noise, mode, threshold, tau, interpret):
        kernels = kernel_module("gate_kernels", interpret)
        x3 = _as_nchw3(x)
        n, channels, hw = x3.shape
        hidden_size, actions = w1.shape[0], w2.shape[0]
        out_dtype = gate_output_dtype(x, w1)
        dev = x.device
        decision = torch.empty(n, dtype=torch.int64, device=dev)
        scores = torch.empty(n, actions, dtype=out_dtype, device=dev)
        probs = torch.empty(n, actions, dtype=out_dtype, device=dev)
        save = any(ctx.needs_input_grad[:5])
        pooled = torch.empty(n if save else 0, channels, dtype=torch.float32, device=dev)
        hidden = torch.empty(n if save else 0, hidden_size, dtype=torch.float32, device=dev)
        soft = torch.empty(n if save else 0, actions, dtype=torch.float32, device=dev)
        if n > 0:
            noise_arg = noise.float().contiguous() if noise is not None else scores
            shape = launch_shape(x3, hidden_size, actions)
            splits = shape["SPLITS"]
            # Per-split shares of the first FC and the tickets that elect each sample's finisher.
            partial = torch.empty(n * splits * shape["BLOCK_H"] if splits > 1 else 0,
                                  dtype=torch.float32, device=dev)
            tickets = torch.zeros(n if splits > 1 else 0, dtype=torch.int32, device=dev)
            kernels.gate_head_kernel[(n, splits)](
                x3, w1.contiguous(), b1.contiguous(), w2.contiguous(), b2.contiguous(), noise_arg,
                decision, scores, probs, pooled, hidden, soft, partial, tickets,
                channels, hw, hidden_size, actions,
                x3.stride(0), x3.stride(1), x3.stride(2),
                1.0 / hw, float(threshold), 1.0 / float(tau), shape.pop("c_blocks"),
                shape.pop("blocks_per_split"), MODE=MODES[mode], SAVE=save,
                num_warps=8 if channels * hw >= 16384 else 4, **shape)
        ctx.mark_non_differentiable(decision)
        ctx.mode, ctx.inv_tau, ctx.hw = mode, 1.0 / float(tau), hw
        if save:
            ctx.save_for_backward(x, w1, w2, pooled, hidden, soft)
        return decision, scores, probs

    @staticmethod
    def backward(ctx, _grad_decision, grad_scores, grad_probs):
        x, w1, w2, pooled, hidden, soft = ctx.saved_tensors
        grad = torch.zeros_like(soft)  # d loss / d scores, fp32
        if grad_scores is not None:
            grad += grad_scores.float()
        if grad_probs is not None:
            gp = grad_probs.float()
            if ctx.mode in ("sigmoid", "straight_through"):
                grad += soft * (1.0 - soft) * gp
            else:
                softmax_grad = soft * (gp - (gp * soft).sum(1, keepdim=True))
                grad += softmax_grad * ctx.inv_tau if ctx.mode == "gumbel" else softmax_grad
        need = ctx.needs_input_grad
        grad_w2 = (grad.t() @ hidden).to(w2.dtype) if need[3] else None
        grad_b2 = grad.sum(0).to(w2.dtype) if need[4] else None
        grad_pre = (grad @ w2.float()) * (hidden > 0)
        grad_w1 = (grad_pre.t() @ pooled).to(w1.dtype) if need[1] else None
        grad_b1 = grad_pre.sum(0).to(w1.dtype) if need[2] else None
        grad_x = None
        if need[0]:
            grad_pooled = (grad_pre @ w1.float()) / ctx.hw
            grad_x = torch.empty_like(x)
            grad_x.copy_(grad_pooled.view(*grad_pooled.shape, *([1] * (x.dim() - 2))).expand(x.shape))
        return grad_x, grad_w1, grad_b1, grad_w2, grad_b2, None, None, None, None, None


def fused_gate_head(x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor,
                    b2: torch.Tensor, *, mode: str, threshold: float, tau: float,
                    noise: torch.Tensor | None, interpret: bool) -> GateOutput:
    """Triton implementation of :func:`nasengine.kernels.gate_head` (arguments checked)."""
    decision, scores, probs = _GateHeadFunction.apply(x, w1, b1, w2, b2, noise, mode, threshold,
                                                      tau, interpret)
    return GateOutput(decision=decision, scores=scores, probs=probs)

"""Fused prefix-gated BN epilogue (Triton interpreter on CPU) against the PyTorch reference."""

from __future__ import annotations

import pytest
import torch

from nasengine.kernels import prefix_epilogue, reference
from tests.kernels.helpers import assert_close, grads

SIZES = [(1, 3, 5), (3, 17, 5), (5, 65, 7), (5, 3, 1)]


def make_case(n: int, c: int, hw: int, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    widths = torch.randint(0, c + 1, (n,))
    widths[0] = c  # widths 0 and C both occur in multi-sample cases
    if n > 1:
        widths[1] = 0
    return dict(y=(torch.randn(n, c, hw, hw) * 2 + 0.5).to(dtype), widths=widths,
                weight=(torch.rand(c) + 0.5).requires_grad_(), bias=torch.randn(c).requires_grad_(),
                running_mean=torch.randn(c) * 0.1, running_var=torch.rand(c) + 0.5)


def run_both(case: dict[str, torch.Tensor], differentiable: list[str], **kwargs) -> None:
    """Fused and reference on copies of ``case``: outputs, gradients and running stats agree."""
    dtype = case["y"].dtype
    upstream = (torch.randn(case["y"].shape),)
    results = []
    for fn in (prefix_epilogue, reference.prefix_epilogue):
        args = {k: (v.detach().clone().requires_grad_(k in differentiable) if v.is_floating_point()
                    else v) for k, v in case.items()}
        out = fn(**args, **kwargs)
        results.append((out, grads(out, upstream, [args[k] for k in differentiable]), args))
    (out, fused_grads, fused_args), (ref, ref_grads, ref_args) = results
    assert_close(out, ref, dtype, "output")
    for name, a, b in zip(differentiable, fused_grads, ref_grads):
        assert_close(a, b, dtype, f"grad {name}")
    for name in ("running_mean", "running_var"):
        if name in case:
            assert_close(fused_args[name], ref_args[name], torch.float32, name)


@pytest.mark.parametrize("activation", ["relu", "none"])
@pytest.mark.parametrize("n,c,hw", SIZES)
def test_inference_bn_matches_reference(interpreter, n, c, hw, activation):
    run_both(make_case(n, c, hw), ["y", "weight", "bias"], activation=activation)


@pytest.mark.parametrize("n,c,hw", SIZES)
def test_inference_scale_shift_matches_reference(interpreter, n, c, hw):
    case = make_case(n, c, hw)
    case = dict(y=case["y"], widths=case["widths"], scale=case.pop("weight"), shift=case.pop("bias"))
    run_both(case, ["y", "scale", "shift"])
    run_both(dict(y=case["y"], widths=case["widths"], scale=case["scale"]), ["y", "scale"],
             activation="none")


@pytest.mark.parametrize("activation", ["relu", "none"])
@pytest.mark.parametrize("n,c,hw", SIZES)
def test_training_matches_reference(interpreter, n, c, hw, activation):
    run_both(make_case(n, c, hw), ["y", "weight", "bias"], training=True, momentum=0.3,
             activation=activation)


def test_training_without_running_stats_or_affine(interpreter):
    case = make_case(3, 17, 5)
    run_both(dict(y=case["y"], widths=case["widths"]), ["y"], training=True)


def test_training_statistics_survive_a_large_mean(interpreter):
    case = make_case(3, 5, 4)
    case["y"] = case["y"] + 1000.0  # sum-of-squares without a shift would lose the variance
    run_both(case, ["y", "weight", "bias"], training=True)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("training", [False, True])
def test_low_precision(interpreter, dtype, training):
    run_both(make_case(3, 17, 5, dtype), ["y", "weight", "bias"], training=training)


def test_channels_last_and_strided_grad(interpreter):
    case = make_case(3, 17, 5)
    y = case["y"].to(memory_format=torch.channels_last)
    fused = prefix_epilogue(y.requires_grad_(), case["widths"], scale=case["weight"].detach())
    assert fused.is_contiguous(memory_format=torch.channels_last)
    ref = reference.prefix_epilogue(y, case["widths"], scale=case["weight"].detach())
    assert_close(fused, ref, torch.float32, "channels-last output")
    upstream = torch.randn(3, 17, 1, 1).expand(fused.shape)  # stride-0 gradient
    (fused_grad,) = torch.autograd.grad(fused, y, upstream)
    (ref_grad,) = torch.autograd.grad(ref, y, upstream)
    assert_close(fused_grad, ref_grad, torch.float32, "channels-last grad")


def test_widths_mask_exactly_and_empty_batch(interpreter):
    y = torch.randn(3, 4, 2, 2).abs() + 0.1
    out = prefix_epilogue(y, torch.tensor([0, 2, 4]), scale=torch.ones(4), shift=torch.zeros(4))
    assert out[0].abs().sum() == 0 and torch.equal(out[1, :2], y[1, :2])
    assert out[1, 2:].abs().sum() == 0 and torch.equal(out[2], y[2])
    empty = prefix_epilogue(torch.randn(0, 4, 2, 2), torch.zeros(0, dtype=torch.long),
                            scale=torch.ones(4))
    assert empty.shape == (0, 4, 2, 2)

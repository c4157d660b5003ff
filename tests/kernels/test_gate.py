"""Fused gate head (Triton interpreter on CPU) against the PyTorch reference."""

from __future__ import annotations

import pytest
import torch

from nasengine.kernels import gate_head, kernel_backend, reference
from nasengine.kernels.gate import launch_shape
from tests.kernels.helpers import assert_close, grads

MODES_ACTIONS = [("argmax", 4), ("sigmoid", 1), ("straight_through", 1), ("gumbel", 3)]


def make_gate(n: int, c: int, hw: int | None, hidden: int, actions: int,
              dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    shape = (n, c) if hw is None else (n, c, hw, hw)
    tensors = [torch.randn(shape) * 2, torch.randn(hidden, c) / c ** 0.5, torch.randn(hidden) * 0.5,
               torch.randn(actions, hidden) / hidden ** 0.5, torch.randn(actions) * 0.5]
    return [t.to(dtype).requires_grad_() for t in tensors]


def check_gate(tensors: list[torch.Tensor], mode: str, dtype: torch.dtype = torch.float32,
               **kwargs) -> None:
    n, actions = tensors[0].shape[0], tensors[3].shape[0]
    if mode == "gumbel":
        kwargs.setdefault("noise", reference.gumbel_noise((n, actions), tensors[0]))
    fused = gate_head(*tensors, mode=mode, **kwargs)
    assert kernel_backend(tensors[0]) == "triton"
    ref = reference.gate_head(*tensors, mode=mode, threshold=kwargs.get("threshold", 0.5),
                              tau=kwargs.get("tau", 1.0), noise=kwargs.get("noise"))
    assert torch.equal(fused.decision, ref.decision)
    assert fused.decision.dtype == torch.int64
    assert_close(fused.scores, ref.scores, dtype, "scores")
    assert_close(fused.probs, ref.probs, dtype, "probs")
    upstream = (torch.randn(n, actions), torch.randn(n, actions))
    for a, b, name in zip(grads((fused.scores, fused.probs), upstream, tensors),
                          grads((ref.scores, ref.probs), upstream, tensors),
                          ("x", "w1", "b1", "w2", "b2")):
        assert_close(a, b, dtype, f"grad {name}")


@pytest.mark.parametrize("mode,actions", MODES_ACTIONS)
@pytest.mark.parametrize("n,c,hw", [(1, 3, 1), (3, 17, 5), (5, 65, 7)])
def test_gate_head_matches_reference(interpreter, mode, actions, n, c, hw):
    check_gate(make_gate(n, c, hw, hidden=9, actions=actions), mode)


@pytest.mark.parametrize("mode,actions", MODES_ACTIONS)
def test_gate_head_on_pooled_input(interpreter, mode, actions):
    check_gate(make_gate(3, 17, None, hidden=5, actions=actions), mode)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("mode,actions", [("argmax", 4), ("straight_through", 1)])
def test_gate_head_low_precision(interpreter, dtype, mode, actions):
    check_gate(make_gate(3, 17, 5, hidden=9, actions=actions, dtype=dtype), mode, dtype)


def test_gate_head_channels_last_and_threshold_and_tau(interpreter):
    tensors = make_gate(3, 17, 5, hidden=9, actions=1)
    tensors[0] = tensors[0].detach().to(memory_format=torch.channels_last).requires_grad_()
    check_gate(tensors, "sigmoid", threshold=0.7)
    check_gate(make_gate(3, 17, 5, hidden=9, actions=3), "gumbel", tau=0.3)


def test_gate_head_ties_pick_the_first_action(interpreter):
    x, w1, b1, w2, b2 = make_gate(3, 8, 2, hidden=4, actions=3)
    with torch.no_grad():
        w2[:] = w2[0]
        b2[:] = b2[0]
    out = gate_head(x, w1, b1, w2, b2)
    assert out.decision.tolist() == [0, 0, 0]


@pytest.mark.parametrize("mode,actions", [("argmax", 4), ("sigmoid", 1)])
def test_gate_head_small_batch_splits_channels(interpreter, mode, actions):
    tensors = make_gate(1, 65, 3, hidden=9, actions=actions)
    assert launch_shape(tensors[0].flatten(2), 9, actions)["SPLITS"] > 1
    check_gate(tensors, mode)


def test_gate_head_empty_batch(interpreter):
    x, w1, b1, w2, b2 = make_gate(0, 5, 3, hidden=4, actions=2)
    out = gate_head(x, w1, b1, w2, b2)
    assert out.decision.shape == (0,) and out.scores.shape == (0, 2) and out.probs.shape == (0, 2)


def test_gate_head_without_grad_skips_saving(interpreter):
    tensors = [t.detach() for t in make_gate(2, 6, 3, hidden=4, actions=2)]
    out = gate_head(*tensors)
    ref = reference.gate_head(*tensors)
    assert torch.equal(out.decision, ref.decision) and out.scores.grad_fn is None

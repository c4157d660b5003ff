"""Backend choice and argument checks of the public ops."""

from __future__ import annotations

import pytest
import torch

from nasengine.kernels import gate_head, kernel_backend, prefix_epilogue, route_buckets


def test_cpu_tensors_use_the_reference_by_default(monkeypatch):
    monkeypatch.delenv("NASENGINE_KERNELS", raising=False)
    assert kernel_backend(torch.zeros(1)) == "reference"
    monkeypatch.setenv("NASENGINE_KERNELS", "reference")
    assert kernel_backend(torch.zeros(1)) == "reference"


def test_triton_on_cpu_needs_the_interpreter(monkeypatch):
    monkeypatch.setenv("NASENGINE_KERNELS", "triton")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(ValueError, match="needs TRITON_INTERPRET=1"):
        kernel_backend(torch.zeros(1))
    with pytest.raises(ValueError, match="needs TRITON_INTERPRET=1"):
        route_buckets(torch.zeros(2, dtype=torch.long), 1)
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert kernel_backend(torch.zeros(1)) == "triton"


def test_unknown_backend_is_rejected(monkeypatch):
    monkeypatch.setenv("NASENGINE_KERNELS", "cuda")
    with pytest.raises(ValueError, match="NASENGINE_KERNELS='cuda' is not one of"):
        kernel_backend(torch.zeros(1))


def test_gate_head_argument_errors():
    x, w1, b1 = torch.randn(2, 4, 3, 3), torch.randn(5, 4), torch.randn(5)
    w2, b2 = torch.randn(3, 5), torch.randn(3)
    with pytest.raises(ValueError, match="gate mode 'softmax' is not one of"):
        gate_head(x, w1, b1, w2, b2, mode="softmax")
    with pytest.raises(ValueError, match="needs exactly 1 action, got 3"):
        gate_head(x, w1, b1, w2, b2, mode="sigmoid")
    with pytest.raises(ValueError, match=r"w1 must be \[hidden, 4\]"):
        gate_head(x, w1.t(), b1, w2, b2)
    with pytest.raises(ValueError, match=r"noise must be \[2, 3\] on cpu"):
        gate_head(x, w1, b1, w2, b2, mode="gumbel", noise=torch.zeros(2, 2))
    with pytest.raises(ValueError, match="tau must be > 0"):
        gate_head(x, w1, b1, w2, b2, mode="gumbel", tau=0.0)


def test_prefix_epilogue_argument_errors():
    y, widths = torch.randn(2, 4, 3, 3), torch.tensor([1, 4])
    with pytest.raises(ValueError, match="activation 'gelu' is not one of"):
        prefix_epilogue(y, widths, activation="gelu")
    with pytest.raises(ValueError, match=r"widths must be an int64 or int32 tensor of shape \[2\]"):
        prefix_epilogue(y, widths.float())
    with pytest.raises(ValueError, match=r"scale must be a \[4\] tensor"):
        prefix_epilogue(y, widths, scale=torch.ones(3))
    with pytest.raises(ValueError, match="scale/shift are for inference"):
        prefix_epilogue(y, widths, scale=torch.ones(4), training=True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        prefix_epilogue(y[:1, :, :1, :1], widths[:1], training=True)
    with pytest.raises(ValueError, match="inference with weight/bias needs running_mean"):
        prefix_epilogue(y, widths, weight=torch.ones(4))
    with pytest.raises(ValueError, match="not both"):
        prefix_epilogue(y, widths, scale=torch.ones(4), running_mean=torch.zeros(4),
                        running_var=torch.ones(4))


def test_route_argument_errors():
    with pytest.raises(ValueError, match="num_routes must be >= 1"):
        route_buckets(torch.zeros(2, dtype=torch.long), 0)
    with pytest.raises(ValueError, match="1-D integer tensor"):
        route_buckets(torch.zeros(2), 2)


def test_interpreted_launch_leaves_triton_language_as_it_was(interpreter):
    import triton.language as tl

    before = tl.sum
    route_buckets(torch.tensor([1, 0, 1]), 2)
    assert tl.sum is before

"""Comparison helpers of the kernel tests."""

from __future__ import annotations

import torch

TOLERANCE = {torch.float32: dict(atol=1e-4, rtol=1e-4), torch.float16: dict(atol=2e-2, rtol=1e-2),
             torch.bfloat16: dict(atol=8e-2, rtol=5e-2)}


def assert_close(actual: torch.Tensor | None, expected: torch.Tensor | None, dtype: torch.dtype,
                 name: str) -> None:
    """Equal within the tolerance of ``dtype`` (fp32 accumulation on both sides)."""
    assert (actual is None) == (expected is None), name
    if actual is None:
        return
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, name
    torch.testing.assert_close(actual.float(), expected.float(), **TOLERANCE[dtype], msg=name)


def grads(output: torch.Tensor | tuple[torch.Tensor, ...], upstream: tuple[torch.Tensor, ...],
          inputs: list[torch.Tensor]) -> list[torch.Tensor | None]:
    """Gradients of ``sum(output_i * upstream_i)`` w.r.t. ``inputs``."""
    outputs = output if isinstance(output, tuple) else (output,)
    loss = sum((o.float() * u).sum() for o, u in zip(outputs, upstream))
    return list(torch.autograd.grad(loss, inputs, allow_unused=True))

"""Fixtures of the kernel tests.

Triton kernels run on CPU tensors in Triton's interpreter. ``TRITON_INTERPRET`` is set per
test with ``monkeypatch`` (the kernels are loaded per mode, see ``nasengine.kernels.loader``),
so it never leaks into other test packages, and the CUDA tests of the same session still
get compiled kernels.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("triton")


@pytest.fixture
def interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forces the Triton backend on CPU tensors through Triton's interpreter."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.setenv("NASENGINE_KERNELS", "triton")
    torch.manual_seed(0)


@pytest.fixture
def cuda(monkeypatch: pytest.MonkeyPatch) -> torch.device:
    """A CUDA device with compiled kernels (auto dispatch), or skip."""
    from nasengine.kernels.loader import triton_language_interpreted

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    if triton_language_interpreted():
        pytest.skip("triton was imported with TRITON_INTERPRET=1; compiled kernels unavailable")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setenv("NASENGINE_KERNELS", "auto")
    torch.manual_seed(0)
    return torch.device("cuda")

"""Compiled kernels on CUDA against the reference at realistic sizes (skipped without CUDA)."""

from __future__ import annotations

import pytest
import torch

from nasengine.kernels import gate_head, kernel_backend, prefix_epilogue, reference, route_buckets, unbucket
from tests.kernels.helpers import assert_close, grads

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("mode,actions", [("argmax", 8), ("straight_through", 1), ("gumbel", 4)])
@pytest.mark.parametrize("n,c,hw,hidden", [(64, 512, 7, 128), (256, 64, 56, 64), (3, 65, 9, 17)])
def test_gate_head_cuda(cuda, dtype, mode, actions, n, c, hw, hidden):
    tensors = [torch.randn(n, c, hw, hw, device=cuda, dtype=dtype),
               torch.randn(hidden, c, device=cuda) / c ** 0.5, torch.randn(hidden, device=cuda) * 0.1,
               torch.randn(actions, hidden, device=cuda) / hidden ** 0.5, torch.randn(actions, device=cuda)]
    tensors = [t.requires_grad_() for t in tensors]
    noise = torch.randn(n, actions, device=cuda) if mode == "gumbel" else None
    assert kernel_backend(tensors[0]) == "triton"
    fused = gate_head(*tensors, mode=mode, noise=noise)
    ref = reference.gate_head(*tensors, mode=mode, threshold=0.5, tau=1.0, noise=noise)
    # Low-precision inputs can flip near-ties; the decisions must agree almost everywhere.
    assert (fused.decision == ref.decision).float().mean() >= (1.0 if dtype == torch.float32 else 0.97)
    assert_close(fused.scores, ref.scores, dtype, "scores")
    upstream = (torch.randn(n, actions, device=cuda),)
    for a, b in zip(grads(fused.scores, upstream, tensors), grads(ref.scores, upstream, tensors)):
        assert_close(a, b, dtype, "grad")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("n,c,hw", [(128, 256, 14), (64, 64, 56), (5, 65, 7)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_prefix_epilogue_cuda(cuda, dtype, training, n, c, hw, channels_last):
    y = torch.randn(n, c, hw, hw, device=cuda, dtype=dtype) * 2 + 0.5
    if channels_last:
        y = y.to(memory_format=torch.channels_last)
    widths = torch.randint(0, c + 1, (n,), device=cuda)
    stats = [torch.randn(c, device=cuda) * 0.1, torch.rand(c, device=cuda) + 0.5]
    results = []
    for fn in (prefix_epilogue, reference.prefix_epilogue):
        yy = y.detach().clone().requires_grad_()
        w = torch.linspace(0.5, 1.5, c, device=cuda).requires_grad_()
        b = torch.linspace(-1, 1, c, device=cuda).requires_grad_()
        running = [s.clone() for s in stats]
        out = fn(yy, widths, weight=w, bias=b, running_mean=running[0], running_var=running[1],
                 training=training)
        upstream = (torch.randn(y.shape, device=cuda, generator=torch.Generator(cuda).manual_seed(1)),)
        results.append((out, grads(out, upstream, [yy, w, b]), running))
    (out, g1, r1), (ref, g2, r2) = results
    assert_close(out, ref, dtype, "output")
    for a, b_ in zip(g1, g2):
        assert_close(a, b_, dtype, "grad")
    for a, b_ in zip(r1, r2):
        assert_close(a, b_, torch.float32, "running stats")


@pytest.mark.parametrize("n,num_routes", [(256, 4), (64, 2), (4096, 16), (1, 3)])
def test_route_buckets_cuda(cuda, n, num_routes):
    ids = torch.randint(0, num_routes, (n,), device=cuda)
    fused, ref = route_buckets(ids, num_routes), reference.route_buckets(ids, num_routes)
    for field in ("counts", "offsets", "perm"):
        assert torch.equal(getattr(fused, field), getattr(ref, field)), field
    rows = torch.randn(n, 64, 7, 7, device=cuda)
    assert torch.equal(unbucket(rows[fused.perm], fused), rows)

"""Route bucketing (Triton interpreter on CPU) against the PyTorch reference."""

from __future__ import annotations

import pytest
import torch

from nasengine.kernels import reference, route_buckets, unbucket


def check_buckets(route_ids: torch.Tensor, num_routes: int) -> None:
    fused = route_buckets(route_ids, num_routes)
    ref = reference.route_buckets(route_ids, num_routes)
    for field in ("route_ids", "counts", "offsets", "perm"):
        assert torch.equal(getattr(fused, field), getattr(ref, field)), field
        assert getattr(fused, field).dtype == torch.int64, field
    rows = torch.randn(route_ids.numel(), 3, 2, requires_grad=True)
    sorted_rows = rows[fused.perm]
    restored = unbucket(sorted_rows, fused)
    assert torch.equal(restored, rows)
    upstream = torch.randn_like(rows)
    (fused_grad,) = torch.autograd.grad(unbucket(rows[fused.perm], fused), rows, upstream)
    (ref_grad,) = torch.autograd.grad(reference.unbucket(rows[ref.perm], ref), rows, upstream)
    assert torch.equal(fused_grad, ref_grad)


# 700 samples over 6 routes take two chunks of the kernel loop.
@pytest.mark.parametrize("n,num_routes", [(1, 1), (1, 3), (5, 4), (37, 3), (300, 5), (700, 6)])
def test_route_buckets_match_reference(interpreter, n, num_routes):
    check_buckets(torch.randint(0, num_routes, (n,)), num_routes)


def test_empty_buckets_and_empty_batch(interpreter):
    ids = torch.tensor([3, 0, 3, 3, 0])  # routes 1 and 2 empty
    buckets = route_buckets(ids, 5)
    assert buckets.counts.tolist() == [2, 0, 0, 3, 0]
    assert buckets.offsets.tolist() == [0, 2, 2, 2, 5, 5]
    assert buckets.perm.tolist() == [1, 4, 0, 2, 3]
    check_buckets(ids, 5)
    check_buckets(torch.zeros(0, dtype=torch.long), 3)


def test_int32_ids_and_out_of_range(interpreter):
    check_buckets(torch.tensor([1, 0, 1], dtype=torch.int32), 2)
    with pytest.raises(ValueError, match=r"route_ids must lie in 0\.\.1; 1 of 3"):
        route_buckets(torch.tensor([1, 2, 0]), 2)
    with pytest.raises(ValueError, match="1 of 2"):
        route_buckets(torch.tensor([-1, 0]), 2)


def test_unbucket_keeps_dtype_and_rejects_wrong_rows(interpreter):
    buckets = route_buckets(torch.tensor([1, 0, 1]), 2)
    values = torch.tensor([[1, 2], [3, 4], [5, 6]], dtype=torch.int16)
    assert unbucket(values, buckets).tolist() == [[3, 4], [1, 2], [5, 6]]
    with pytest.raises(ValueError, match="must have 3 rows"):
        unbucket(torch.zeros(2, 2), buckets)


def test_unbucket_keeps_channels_last(interpreter):
    ids = torch.tensor([2, 0, 1, 0, 2])
    buckets = route_buckets(ids, 3)
    rows = torch.randn(5, 4, 3, 3).contiguous(memory_format=torch.channels_last)
    restored = unbucket(rows[buckets.perm], buckets)
    assert torch.equal(restored, rows)
    assert restored.is_contiguous(memory_format=torch.channels_last)
    assert buckets.sizes == (2, 1, 2)

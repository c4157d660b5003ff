"""Fused gating ops for input-adaptive networks (runtime pruning, routing, layer skipping).

Triton kernels serve CUDA tensors, the plain PyTorch reference (:mod:`.reference`) the rest;
``NASENGINE_KERNELS=auto|triton|reference`` forces a backend.
"""

from __future__ import annotations

from nasengine.kernels.dispatch import gate_head, kernel_backend, prefix_epilogue, route_buckets, unbucket
from nasengine.kernels.results import Buckets, GateOutput

__all__ = ["Buckets", "GateOutput", "gate_head", "kernel_backend", "prefix_epilogue",
           "route_buckets", "unbucket"]

"""Compiles every kernel variant the ops launch for a CUDA target, without a GPU.

Run as a script in a process where triton is compiled (TRITON_INTERPRET unset). The ops run
on CPU tensors with the kernel launches recorded instead of executed; each distinct variant
(kernel, pointer dtypes, constexprs, num_warps) is then compiled to a cubin for the target
(ptxas included), which catches type and lowering errors of the compiled path.
Usage: python -m tests.kernels.cuda_compile_check [ARCH]   (ARCH like 90, default 90)
"""

from __future__ import annotations

import sys

import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from nasengine.kernels import buckets, epilogue, gate
from nasengine.kernels.loader import kernel_module

POINTER_TYPES = {torch.float32: "*fp32", torch.float16: "*fp16", torch.bfloat16: "*bf16",
                 torch.int64: "*i64", torch.int32: "*i32", torch.int16: "*i16"}


class Recorder:
    """Stands in for a JITFunction: ``kernel[grid](*args)`` records the launch."""

    def __init__(self, fn, launches: dict):
        self.fn, self.launches = fn, launches

    def __getitem__(self, grid):
        def launch(*args, num_warps: int = 4, **constexprs):
            names = [n for n in self.fn.arg_names if n not in constexprs]
            signature = {}
            for name, value in zip(names, args):
                if isinstance(value, torch.Tensor):
                    signature[name] = POINTER_TYPES[value.dtype]
                elif isinstance(value, float):
                    signature[name] = "fp32"
                else:
                    signature[name] = "i64" if abs(int(value)) >= 2 ** 31 else "i32"
            signature.update({name: "constexpr" for name in constexprs})
            key = (self.fn.__name__, tuple(signature.items()), tuple(sorted(constexprs.items())),
                   num_warps)
            self.launches[key] = (self.fn, signature, constexprs, num_warps)
        return launch


def record_launches() -> dict:
    launches: dict = {}
    for name in ("gate_kernels", "epilogue_kernels", "bucket_kernels"):
        module = kernel_module(name, interpret=False)
        for attr, value in list(vars(module).items()):
            if isinstance(value, triton.runtime.jit.JITFunction) and attr.endswith("_kernel"):
                setattr(module, attr, Recorder(value, launches))
    torch.manual_seed(0)
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        for mode, actions in (("argmax", 4), ("sigmoid", 1), ("straight_through", 1), ("gumbel", 3)):
            weights = [torch.randn(32, 64), torch.randn(32), torch.randn(actions, 32), torch.randn(actions)]
            for n in (16, 1):  # one program per sample, and channel splits
                x = torch.randn(n, 64, 8, 8, dtype=dtype, requires_grad=True)
                for inputs in (x, x.detach()):
                    gate.fused_gate_head(inputs, *weights, mode=mode, threshold=0.5, tau=1.0,
                                         noise=torch.randn(n, actions), interpret=False)
        y = torch.randn(4, 64, 8, 8, dtype=dtype, requires_grad=True)
        widths = torch.tensor([64, 0, 10, 33])
        for training in (False, True):
            for relu in ("relu", "none"):
                w, b = torch.ones(64, requires_grad=True), torch.zeros(64, requires_grad=True)
                out = epilogue.fused_prefix_epilogue(
                    y, widths, scale=None if training else w, shift=None if training else b,
                    weight=w if training else None, bias=b if training else None,
                    running_mean=torch.zeros(64) if training else None,
                    running_var=torch.ones(64) if training else None, training=training,
                    momentum=0.1, eps=1e-5, activation=relu, interpret=False)
                # The recorded launches wrote nothing: only the backward's launches matter here.
                out.backward(torch.ones_like(out))
    ids = torch.tensor([1, 0, 1])
    found = buckets.fused_route_buckets(ids, 2, interpret=False)
    found.perm.copy_(torch.tensor([1, 0, 2]))
    rows = torch.randn(3, 5, requires_grad=True)
    buckets.fused_unbucket(rows, found.perm, interpret=False).sum().backward()
    return launches


def main(arch: int = 90) -> int:
    target = GPUTarget("cuda", arch, 32)
    launches = record_launches()
    for fn, signature, constexprs, num_warps in launches.values():
        compiled = triton.compile(ASTSource(fn, signature, constexprs), target=target,
                                  options={"num_warps": num_warps})
        assert compiled.asm.get("cubin"), fn.__name__
    print(f"compiled {len(launches)} kernel variants for sm_{arch}")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 90))

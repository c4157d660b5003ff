"""Loads the Triton kernel modules, compiled or interpreted.

Triton decides at decoration time whether ``@triton.jit`` compiles or interprets (the
``TRITON_INTERPRET`` knob): for our kernels when their module is loaded, for its own
standard library (``tl.sum``, ``tl.zeros``...) when ``triton.language`` is first imported.
Our kernel modules are loaded per mode (separate module copies), so the mode follows the
tensor: the interpreter for CPU tensors, compiled kernels for CUDA ones. If
``triton.language`` was imported compiled, an interpreted launch runs with its standard
library swapped for interpreted twins for the duration of the launch, so the interpreter
works whatever imported triton first.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def triton_available() -> bool:
    """Whether the ``triton`` package is installed."""
    return importlib.util.find_spec("triton") is not None


def triton_language_interpreted() -> bool:
    """Whether ``triton.language`` was imported under ``TRITON_INTERPRET=1``."""
    import triton.language as tl
    from triton.runtime.interpreter import InterpretedFunction

    return isinstance(tl.sum, InterpretedFunction)


def kernel_module(name: str, interpret: bool) -> ModuleType:
    """The kernel module ``nasengine/kernels/{name}.py`` with its kernels jitted in one mode.

    Raises:
        ValueError: compiled kernels asked for after triton was imported interpreted.
    """
    if not interpret and triton_language_interpreted():
        raise ValueError("triton was imported with TRITON_INTERPRET=1, so compiled kernels are "
                         "unavailable in this process; unset it to run them on CUDA")
    return _load(name, interpret)


@lru_cache(maxsize=None)
def _load(name: str, interpret: bool) -> ModuleType:
    from triton import knobs

    path = Path(__file__).with_name(f"{name}.py")
    qualified = f"{__package__}._{'interpreted' if interpret else 'compiled'}_{name}"
    with _LOCK, knobs.runtime.scope():
        knobs.runtime.interpret = interpret
        spec = importlib.util.spec_from_file_location(qualified, path)
        assert spec is not None and spec.loader is not None, path
        module = importlib.util.module_from_spec(spec)
        sys.modules[qualified] = module  # inspect.getsource (used by triton) looks here
        spec.loader.exec_module(module)
    if interpret:
        for attr, value in list(vars(module).items()):
            if attr.endswith("_kernel"):
                setattr(module, attr, _InterpretedLaunch(value))
    return module


class _InterpretedLaunch:
    """``kernel[grid](...)`` of an interpreted kernel, with an interpreted standard library."""

    def __init__(self, kernel: Any):
        self.kernel = kernel

    def __getitem__(self, grid: tuple[int, ...]) -> Callable[..., None]:
        def launch(*args: Any, **kwargs: Any) -> None:
            with _interpreted_language():
                self.kernel[grid](*args, **kwargs)
        return launch


_TWINS: dict[int, Any] = {}


@contextmanager
def _interpreted_language() -> Iterator[None]:
    """Swaps triton.language's compiled ``@jit`` functions for interpreted twins meanwhile."""
    if triton_language_interpreted():
        yield
        return
    import triton.language as tl
    from triton.language import core, math, standard
    from triton.runtime.interpreter import InterpretedFunction
    from triton.runtime.jit import JITFunction

    swapped = []
    with _LOCK:
        try:
            for module in (tl, standard, core, math):
                for attr, value in list(vars(module).items()):
                    if isinstance(value, JITFunction):
                        twin = _TWINS.setdefault(id(value), InterpretedFunction(value.fn))
                        swapped.append((module, attr, value))
                        setattr(module, attr, twin)
            yield
        finally:
            for module, attr, value in reversed(swapped):
                setattr(module, attr, value)

"""Fixtures of the quantization tests: the compression tests' small digits export."""

from __future__ import annotations

from tests.compress.conftest import export_folder

__all__ = ["export_folder"]

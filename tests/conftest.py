"""Suite-wide settings for running the tests in several processes (``pytest -n 2``)."""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Two worker processes on two cores: one thread each, or torch's default threads
    # oversubscribe the cores. Set in the environment so that CLI subprocesses inherit it.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        import torch

        torch.set_num_threads(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first, so that with several workers the longest ones start at once instead
    of leaving one worker busy at the end (a stable sort keeps the rest in order)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)

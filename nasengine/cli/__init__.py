"""The ``nasengine`` command line."""

from nasengine.cli.main import main

__all__ = ["main"]

"""Running ``nasengine`` in-process in a test and reading what it printed."""

from __future__ import annotations

import pytest

from nasengine.cli.main import main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``(exit code, stdout, stderr)`` of ``nasengine ARGV``."""
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err

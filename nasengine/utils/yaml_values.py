"""YAML values as users write them.

PyYAML follows YAML 1.1, where a float needs a dot: ``1e-3`` and ``5e-4`` load as strings,
and a learning rate given that way would reach the optimizer as text. ``load`` reads them
as numbers, in config files and in ``--set KEY=VALUE`` alike.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml


class Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads exponent floats without a dot (``1e-3``)."""


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def load(text: str) -> Any:
    """Parse ``text`` like ``yaml.safe_load``, with ``1e-3`` read as a float."""
    return yaml.load(text, Loader=Loader)  # a SafeLoader: builds plain data only


def load_file(path: str | Path) -> Any:
    """``load`` of a file's text; a one-line ``ValueError`` naming the file and where its YAML
    breaks (or that it is not text), instead of PyYAML's multi-line error."""
    try:
        return load(Path(path).read_text())
    except UnicodeDecodeError:
        raise ValueError(f"{str(path)!r} is not a text (YAML) file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise ValueError(f"{str(path)!r} is not valid YAML: {problem}{where}") from None

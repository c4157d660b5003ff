"""Reading a latency table file: one-line errors for a missing, unparsable, foreign or
truncated file, before any field is used (a hand-edited file must not fail as a KeyError
deep inside a prediction)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence


def read_table(path: str | Path, fmt: str, required: Sequence[str], *, kind: str, hint: str) -> dict[str, Any]:
    """The JSON object in ``path``, which must have format ``fmt`` and the ``required`` keys.

    Args:
        path: The file.
        fmt: Its expected ``format`` value.
        required: Keys it must have.
        kind: What it is, for messages (``"nasengine latency table"``).
        hint: How to make one, for messages.

    Raises:
        ValueError: One line naming the file and what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"latency table {str(path)!r} does not exist; {hint}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"latency table {str(path)!r} is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise ValueError(f"{str(path)!r} is not a {kind} (format {fmt!r}); {hint}")
    missing = [k for k in required if k not in data]
    if missing:
        raise ValueError(f"{str(path)!r} is not a valid {kind.removeprefix('nasengine ')}: missing "
                         f"{', '.join(repr(k) for k in missing)}")
    return data

"""The figures the documentation cites come from committed files: every ``reports/...json``
named in ``docs/*.md`` and ``README.md`` exists, and the committed JSON under ``reports/``
names no machine's absolute paths."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted(ROOT.glob("docs/*.md")) + [ROOT / "README.md"]
#: A path under reports/ ending in .json, as docs write it (in backticks, links or commands).
CITED = re.compile(r"reports/[\w./-]+?\.json")


def _committed() -> set[str]:
    """Paths tracked by git (files that exist only in one checkout do not count)."""
    out = subprocess.run(["git", "ls-files", "reports"], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def _citations() -> list[tuple[str, str]]:
    return sorted({(doc.name, path) for doc in DOCS for path in CITED.findall(doc.read_text(encoding="utf-8"))})


def test_the_docs_cite_reports():
    # Guards the pattern: a regex that matched nothing would make the next test vacuous.
    assert ("one-shot.md", "reports/bench/rankcheck.json") in _citations()


@pytest.mark.parametrize("doc,path", _citations(), ids=lambda v: str(v))
def test_every_cited_report_file_is_committed(doc, path):
    assert path in _committed(), f"{doc} cites {path}, which is not a committed file"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@pytest.mark.parametrize("path", sorted(p for p in _committed() if p.endswith(".json")))
def test_committed_json_names_no_absolute_paths(path):
    absolute = [s for s in _strings(json.loads((ROOT / path).read_text())) if re.match(r"^(/|[A-Za-z]:\\)", s)]
    assert not absolute, f"{path} holds absolute paths {absolute[:3]}; record them relative to the repository"

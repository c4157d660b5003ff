"""Every committed benchmark table still names its archs by the ids the space gives them
today: a space that gains a config option must not change the ids of the archs that do not
use it (tables, weights files and studies are keyed by them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nasengine.registry import get_space

TABLES = sorted((Path(__file__).resolve().parents[2] / "reports" / "tables").glob("*.json"))


@pytest.mark.parametrize("path", TABLES, ids=[p.stem for p in TABLES])
def test_committed_table_ids_match_the_space(path: Path) -> None:
    table = json.loads(path.read_text())
    space = get_space(table["space"], **table["config"])
    for entry in table["entries"][:5]:
        assert space.arch(entry["choices"]).id == entry["id"], (path.name, entry["choices"])


def test_a_later_field_changes_the_id_only_when_set() -> None:
    base = get_space("nas_cell", input_size=16, in_channels=1, num_classes=10, stem="cifar", filters=8,
                     cells_per_stage=1, blocks=2)
    tied = get_space("nas_cell", **{**base.config.to_dict(), "first_prev": "conv"})
    assert "first_prev" not in base.config.to_dict()
    assert tied.config.to_dict()["first_prev"] == "conv"
    arch = base.sample(0)
    assert tied.arch(arch.choices).id != arch.id

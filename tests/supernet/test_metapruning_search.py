"""``nasengine search --strategy metapruning`` end to end on digits (tiny budget)."""

from __future__ import annotations

import json

import pytest
import torch

import nasengine
from nasengine.cli.main import main

SETS = ["--set", "backbone=small", "--set", "input_size=8", "--set", "in_channels=1", "--set", "rounding=floor",
        "--set", "num_classes=10"]


@pytest.mark.slow
def test_metapruning_search_pretrains_searches_and_exports(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    args = ["search", "--strategy", "metapruning", "--space", "channel_width", *SETS, "--dataset", "digits",
            "--pretrain-epochs", "1", "--pretrain-set", "hidden=4", "--trials", "4", "--max-macs", "300K",
            "--top-k", "1", "--out", str(out), "--quiet"]
    assert main(args) == 0
    assert (out / "pruningnet.pt").is_file()
    result = json.loads((out / "result.json").read_text())
    done = [t for t in result["trials"] if t["state"] == "COMPLETE"]
    assert len(done) == 4
    assert all(t["cost"]["macs"] <= 300_000 and 0 < t["metrics"]["acc"] <= 1 for t in done)
    # The export carries the generated weights: rebuilt, it scores what the search measured.
    (folder,) = (out / "exports").iterdir()
    doc = json.loads((folder / "arch.json").read_text())
    space = nasengine.get_space("channel_width", **doc["config"])
    model = space.build(space.arch(doc["choices"]))
    model.load_state_dict(torch.load(folder / "weights.pt"))
    assert 0 < doc["metrics"]["test_acc"] <= 1
    # Resuming a finished search reuses the PruningNet instead of training it again.
    stamp = (out / "pruningnet.pt").stat().st_mtime_ns
    assert main([*args, "--resume"]) == 0
    assert (out / "pruningnet.pt").stat().st_mtime_ns == stamp
    assert "best: acc" in capsys.readouterr().out

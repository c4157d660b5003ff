"""``nasengine report`` of compress output folders: both runs and their source, one figure."""

from __future__ import annotations

import json

import pytest

from nasengine.cost import human
from tests.cli_helpers import run_cli


@pytest.fixture(scope="module")
def two_runs(export_folder, tmp_path_factory):
    """The digits network compressed to 50 % by ``uniform`` and by ``l1`` (one fine-tuning epoch)."""
    from nasengine.cli.main import main

    root = tmp_path_factory.mktemp("runs")
    for method in ("uniform", "l1"):
        code = main(["compress", "--model", str(export_folder), "--max-macs", "50%", "--method", method,
                     "--finetune-epochs", "1", "--calibration-images", "64", "--out", str(root / method), "--quiet"])
        assert code == 0
    return root / "uniform", root / "l1"


def test_a_report_of_two_compress_runs_shows_both_and_the_source(capsys, two_runs, tmp_path):
    out = tmp_path / "report"
    code, stdout, stderr = run_cli(capsys, "report", *map(str, two_runs), "--out", str(out))
    assert code == 0, stderr
    markdown = (out / "report.md").read_text()
    records = [json.loads((run / "compress.json").read_text()) for run in two_runs]
    rows = {line.split("|")[1].strip(): line for line in markdown.splitlines() if line.startswith("| ")}
    source = next(line for name, line in rows.items() if name.startswith("source: "))  # one source for both
    assert human(records[0]["source_cost"]["macs"]) in source
    for run, record in zip(two_runs, records):
        row = rows[run.name]
        assert record["method"] in row and human(record["cost"]["macs"]) in row
        assert f"{record['finetuned_val_acc']:.2%}" in row and f"{record['test_acc']:.2%}" in row
    first_layer = next(iter(records[0]["channels"]))
    expected = [f"{r['channels'][first_layer]}/{r['source_channels'][first_layer]}" for r in records]
    assert rows[f"`{first_layer}`"].split("|")[2:4] == [f" {cell} " for cell in expected]
    assert (out / "compress_accuracy_macs.png").stat().st_size > 1000
    assert "uniform" in stdout and "l1" in stdout
    assert "data:image/png;base64," in (out / "report.html").read_text()


def test_compress_folders_are_not_mixed_with_other_runs(capsys, two_runs, tmp_path):
    code, _, stderr = run_cli(capsys, "report", str(two_runs[0]), str(tmp_path), "--out", str(tmp_path / "r"))
    assert code == 2 and "no compress.json" in stderr and len(stderr.strip().splitlines()) == 1
    code, _, stderr = run_cli(capsys, "report", str(two_runs[0]), "--baselines", "torchvision:resnet18",
                              "--out", str(tmp_path / "r"))
    assert code == 2 and "--baselines" in stderr

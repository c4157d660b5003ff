"""``nasengine report`` of quantize output folders: the runs' figures side by side and a
per-layer bits chart of each policy."""

from __future__ import annotations

import json

import pytest

from nasengine.cost import human
from tests.cli_helpers import run_cli


@pytest.fixture(scope="module")
def two_runs(export_folder, tmp_path_factory):
    """The digits network at uniform 4 bits, and by HAQ under a modelled BISMO latency."""
    from nasengine.cli.main import main

    root = tmp_path_factory.mktemp("runs")
    common = ["--model", str(export_folder), "--calibration-images", "64", "--quiet"]
    assert main(["quantize", *common, "--method", "uniform", "--bits", "4", "--out", str(root / "u4")]) == 0
    assert main(["quantize", *common, "--method", "haq", "--hardware", "bismo", "--max-latency-ms", "0.0015",
                 "--set", "episodes=3", "--set", "warmup=2", "--out", str(root / "haq")]) == 0
    return root / "u4", root / "haq"


def test_a_report_of_quantize_runs_tabulates_them_and_draws_their_bits(capsys, two_runs, tmp_path):
    out = tmp_path / "report"
    code, stdout, stderr = run_cli(capsys, "report", *map(str, two_runs), "--out", str(out))
    assert code == 0, stderr
    records = [json.loads((run / "quantize.json").read_text()) for run in two_runs]
    markdown = (out / "report.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in markdown.splitlines() if line.startswith("| ")}
    for run, record in zip(two_runs, records):
        assert human(record["size_bits"]) in rows[run.name] and f"{record['test_acc']:.2%}" in rows[run.name]
        for layer, (w, a) in record["policy"].items():  # the bits table: a row per layer, a column per run
            assert f"{w}/{a}" in rows[f"`{layer}`"]
    assert "modelled" in rows["haq"] and "bismo" in rows["haq"]
    for i in range(2):
        assert (out / f"quantize_bits_{i}.png").stat().st_size > 1000
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 2
    assert "quantize_bits_0.png" in stdout


def test_the_bits_chart_has_a_weight_and_an_activation_bar_per_layer(two_runs):
    from nasengine.report.figures import plt
    from nasengine.report.quantized import draw_bits

    policy = json.loads((two_runs[1] / "quantize.json").read_text())["policy"]
    fig, ax = plt.subplots()
    weights, activations = draw_bits(ax, policy)
    plt.close(fig)
    assert len(weights) == len(activations) == len(policy) > 2
    assert [bar.get_height() for bar in weights] == [w for w, _ in policy.values()]
    assert [bar.get_height() for bar in activations] == [a for _, a in policy.values()]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(policy)


def test_quantize_folders_are_not_mixed_with_other_runs(capsys, two_runs, tmp_path):
    code, _, stderr = run_cli(capsys, "report", str(two_runs[0]), str(tmp_path), "--out", str(tmp_path / "r"))
    assert code == 2 and "no quantize.json" in stderr and len(stderr.strip().splitlines()) == 1

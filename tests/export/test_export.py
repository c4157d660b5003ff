from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from nasengine.cli.main import main
from nasengine.export import export, formats
from nasengine.export.export import ExportError, export_model, export_run
from nasengine.export.load import read_arch
from nasengine.records import ExportRecord, ParityRecord, SearchResult, TrialRecord
from nasengine.registry import get_space
from nasengine.search.config import SearchConfig
from nasengine.search.runner import run_search
from nasengine.testing.controllers import SMALL
from tests.search_helpers import synthetic_table


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A real search on digits whose evaluator trains (so the run keeps weights)."""
    out = tmp_path_factory.mktemp("run") / "run"
    cfg = SearchConfig(space="shufflenet", space_config=dict(SMALL), controller="random", epochs=1, trials=3, top_k=1,
                       out=str(out))
    result = run_search(cfg, progress=False)
    return out, result


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_export_writes_every_format_with_parity(trained_run, tmp_path, capsys, monkeypatch):
    run_dir, result = trained_run
    monkeypatch.setattr(formats, "onnx_available", lambda: False)
    code, out, _ = run(capsys, "export", str(run_dir), "--top-k", "2", "--out", str(tmp_path))
    assert code == 0 and "skipping onnx" in out
    rows = export.top_rows(SearchResult.load(run_dir / "result.json"), 2)
    ids = {r.arch_id for r in rows}
    assert {p.name for p in tmp_path.iterdir()} == ids
    for row in rows:
        folder = tmp_path / row.arch_id
        assert {p.name for p in folder.iterdir()} == {"arch.json", "weights.pt", "model.pt2", "parity.json"}
        parity = ParityRecord.load(folder / "parity.json")
        assert parity.ok and parity.arch_id == row.arch_id and set(parity.max_abs_diff) == {"state_dict", "pt2"}
        assert max(parity.max_abs_diff.values()) <= parity.tolerance and parity.inputs.shape == (2, 1, 8, 8)
        doc = ExportRecord.load(folder / "arch.json")
        assert doc.id == row.arch_id and doc.formats == ("state_dict", "pt2") and doc.trial == row.number
        assert doc.metrics["val_acc"] == row.metrics["acc"] and doc.arch().id == row.arch_id
        # The exported weights are the run's, and the program reproduces the model at another batch size.
        space = get_space("shufflenet", **SMALL)
        model = space.build(doc.arch())
        model.load_state_dict(torch.load(run_dir / "weights" / f"{row.arch_id}.pt"))
        x = torch.randn(5, 1, 8, 8)
        with torch.no_grad():
            expected = model.eval()(x)
            got = torch.export.load(folder / "model.pt2").module()(x)
        assert torch.allclose(got, expected, atol=1e-5)


def test_export_one_arch_by_id_prefix_into_the_run(trained_run, capsys):
    run_dir, result = trained_run
    arch_id = result["trials"][-1]["arch_id"]
    code, out, _ = run(capsys, "export", str(run_dir), "--arch", arch_id[:6], "--format", "state_dict")
    assert code == 0 and arch_id in out
    assert (run_dir / "exports" / arch_id / "weights.pt").is_file()
    assert ParityRecord.load(run_dir / "exports" / arch_id / "parity.json").max_abs_diff == {"state_dict": 0.0}


def test_into_writes_one_architecture_to_a_known_folder(trained_run, tmp_path, capsys):
    run_dir, _ = trained_run
    best = export.top_rows(SearchResult.load(run_dir / "result.json"), 1)[0]
    code, out, _ = run(capsys, "export", str(run_dir), "--top-k", "1", "--format", "state_dict", "--into",
                       str(tmp_path / "best"))
    assert code == 0 and best.arch_id in out
    assert ExportRecord.load(tmp_path / "best" / "arch.json").id == best.arch_id
    assert (tmp_path / "best" / "weights.pt").is_file()
    code, _, err = run(capsys, "export", str(run_dir), "--top-k", "2", "--into", str(tmp_path / "two"))
    assert code == 2 and "--into holds one architecture" in err and err.count("\n") == 1


def test_onnx_export_and_parity(trained_run, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    run_dir, _ = trained_run
    [(folder, parity)] = export_run(run_dir, top=1, formats=("onnx",), explicit=True, out=tmp_path)
    assert (folder / "model.onnx").is_file() and parity.ok and parity.max_abs_diff["onnx"] < 1e-4
    assert ParityRecord.load(folder / "parity.json") == parity


def test_explicit_onnx_without_the_extra_names_it(trained_run, capsys, monkeypatch):
    monkeypatch.setattr(formats, "onnx_available", lambda: False)
    code, _, err = run(capsys, "export", str(trained_run[0]), "--format", "pt2,onnx")
    assert code == 2 and 'optional extra "onnx"' in err and err.count("\n") == 1


def test_parity_mismatch_fails_the_export(tmp_path):
    space = get_space("shufflenet", **SMALL)
    arch = space.sample(0)

    class Noisy(nn.Module):  # a model whose outputs differ from call to call
        def __init__(self) -> None:
            super().__init__()
            self.net = space.build(arch)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x) + torch.rand_like(self.net(x))

    with pytest.raises(ExportError, match="does not reproduce the model"):
        export_model(space, arch, Noisy(), tmp_path, ("pt2",))
    assert ParityRecord.load(tmp_path / "parity.json").ok is False


def test_run_without_weights_says_how_to_train(tmp_path, capsys):
    table = synthetic_table(tmp_path / "table.json")
    cfg = SearchConfig(space="shufflenet", space_config=dict(SMALL), controller="random", evaluator="table",
                       evaluator_options={"path": str(table)}, trials=2, out=str(tmp_path / "run"))
    run_search(cfg, progress=False)
    code, _, err = run(capsys, "export", str(tmp_path / "run"), "--top-k", "1")
    assert code == 2 and "no trained weights" in err and "nasengine train --arch" in err and err.count("\n") == 1


@pytest.mark.parametrize("argv,message", [
    (["--format", "tflite"], "unknown export format"),
    (["--arch", "ffffffffffff"], "no completed trial has that id"),
    (["--top-k", "0"], "--top-k must be >= 1"),
])
def test_cli_errors_are_one_line(trained_run, capsys, argv, message):
    code, _, err = run(capsys, "export", str(trained_run[0]), *argv)
    assert code == 2 and message in err and err.count("\n") == 1


def test_folder_that_is_not_a_run_is_refused(tmp_path, capsys):
    code, _, err = run(capsys, "export", str(tmp_path))
    assert code == 2 and "neither a search run" in err


def test_architecture_folder_exports_in_place(tmp_path, capsys):
    """A ``nasengine train`` output (arch.json + weights.pt) exports where it is."""
    space = get_space("nas_cell", input_size=8, num_classes=10, in_channels=1, stem="cifar", filters=4,
                      cells_per_stage=1, blocks=2)
    arch = space.sample(1)
    (tmp_path / "arch.json").write_text(arch.to_json(indent=2))
    torch.save(space.build(arch).state_dict(), tmp_path / "weights.pt")
    code, out, _ = run(capsys, "export", str(tmp_path), "--format", "pt2")
    assert code == 0 and arch.id in out
    assert ParityRecord.load(tmp_path / "parity.json").ok and (tmp_path / "model.pt2").is_file()
    doc = ExportRecord.load(tmp_path / "arch.json")  # the bare arch file became an export record
    assert doc.id == arch.id and doc.formats == ("pt2",) and doc.cost == space.cost(arch).to_dict()
    assert read_arch(tmp_path) == arch
    code, _, err = run(capsys, "export", str(tmp_path), "--top-k", "2")
    assert code == 2 and "--top-k and --arch apply to search runs" in err


def test_top_rows_follow_the_front_of_the_searched_objective():
    trials = tuple(TrialRecord(i, "COMPLETE", f"a{i}", {}, {}, {"acc": acc}, (acc,), 0.0, None)
                   for i, acc in enumerate([0.9, 0.8, 0.7]))
    fronts = {"acc_vs_macs": trials[:1], "acc_vs_params": trials[:1], "acc_vs_latency": trials[2:]}
    result = SearchResult("shufflenet", {}, None, "random", "train", ("acc", "latency"), {}, 3, trials[0], fronts,
                          trials)
    assert [r.arch_id for r in export.top_rows(result, 2)] == ["a2", "a0"]
    result = replace(result, objectives=("acc", "macs"))
    assert [r.arch_id for r in export.top_rows(result, 2)] == ["a0", "a1"]


def test_existing_out_and_into_folders_are_not_overwritten_without_force(trained_run, tmp_path, capsys):
    run_dir, _ = trained_run
    best = export.top_rows(SearchResult.load(run_dir / "result.json"), 1)[0]
    (tmp_path / "best").mkdir()
    (tmp_path / "best" / "mine.txt").write_text("keep")
    argv = ["export", str(run_dir), "--top-k", "1", "--format", "state_dict"]
    code, _, err = run(capsys, *argv, "--into", str(tmp_path / "best"))
    assert code == 2 and "--into" in err and "already exists" in err and "--force" in err and err.count("\n") == 1
    assert [p.name for p in (tmp_path / "best").iterdir()] == ["mine.txt"]
    assert run(capsys, *argv, "--out", str(tmp_path / "all"))[0] == 0
    # The same export again (after an interruption, say) refreshes it; other settings are refused.
    assert run(capsys, *argv, "--out", str(tmp_path / "all"))[0] == 0
    code, _, err = run(capsys, *argv[:-1], "pt2", "--out", str(tmp_path / "all"))
    assert code == 2 and f"{best.arch_id}' already exists" in err
    assert run(capsys, *argv, "--into", str(tmp_path / "best"), "--force")[0] == 0
    assert ExportRecord.load(tmp_path / "best" / "arch.json").id == best.arch_id
    # the run's own export folders are refreshed in place, as every search leaves them
    assert run(capsys, *argv)[0] == 0


def test_a_failed_export_leaves_the_folder_as_it_was(tmp_path, capsys, monkeypatch):
    space = get_space("nas_cell", input_size=8, num_classes=10, in_channels=1, stem="cifar", filters=4,
                      cells_per_stage=1, blocks=2)
    arch = space.sample(1)
    folder = tmp_path / "arch"
    folder.mkdir()
    (folder / "arch.json").write_text(arch.to_json(indent=2))
    torch.save(space.build(arch).state_dict(), folder / "weights.pt")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    monkeypatch.setattr(formats, "max_diff", lambda module, x, reference: 1.0)  # no form reproduces the model
    code, _, err = run(capsys, "export", str(folder), "--format", "state_dict")
    assert code == 2 and "does not reproduce the model" in err and f"{folder / 'parity.json'}" in err
    after = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert after.pop("parity.json") and after == before  # arch.json and weights untouched; parity says why
    assert ParityRecord.load(folder / "parity.json").ok is False
    assert [p.name for p in tmp_path.iterdir()] == ["arch"]  # no staging folder left behind

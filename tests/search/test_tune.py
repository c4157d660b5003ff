"""``--tune NAME=SPEC``: training settings searched beside the architecture, recorded per
trial, shown, exported and used by ``nasengine train`` on the export."""

from __future__ import annotations

import json
import shlex

import pytest
import yaml

from nasengine.cli.main import main
from nasengine.evaluators.train import TrainEvaluator
from nasengine.records import ExportRecord
from nasengine.search.tune import parse_tune
from nasengine.testing.controllers import small_space
from tests.search_helpers import SPACE_ARGS, synthetic_table

TUNE = ["--tune", "lr=log:1e-3:2e-1", "--tune", "optimizer=sgd,adamw", "--tune", "batch_size=32,64",
        "--tune", "weight_decay=float:0:1e-3"]


def test_a_joint_search_records_uses_shows_and_exports_its_training_settings(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["search", "--space", "shufflenet", *SPACE_ARGS, "--strategy", "random", "--epochs", "1",
                 "--trials", "3", "--top-k", "1", "--out", str(out), "--quiet", *TUNE]) == 0
    assert "best training settings: lr=" in capsys.readouterr().out
    result = json.loads((out / "result.json").read_text())
    for trial in result["trials"]:
        hp = trial["hparams"]
        assert set(hp) == {"lr", "optimizer", "batch_size", "weight_decay"}
        assert 1e-3 <= hp["lr"] <= 2e-1 and hp["optimizer"] in ("sgd", "adamw") and hp["batch_size"] in (32, 64)
        assert set(trial["choices"]) == {d.name for d in small_space().decisions()}  # decisions only
    assert len({t["hparams"]["lr"] for t in result["trials"]}) == 3  # drawn per trial
    best = result["best"]
    export = ExportRecord.load(out / "exports" / best["arch_id"] / "arch.json")
    assert export.hparams == best["hparams"]
    # show lists them under the choices
    assert main(["show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "tuned lr=log:1e-3:2e-1" in shown and f"train lr={best['hparams']['lr']:g}" in shown
    # train on the export uses them unless told otherwise
    assert main(["train", "--arch", str(out / "exports" / best["arch_id"]), "--epochs", "1", "--out",
                 str(tmp_path / "retrain"), "--lr", "0.01", "--quiet"]) == 0
    used = (tmp_path / "retrain" / "config.yaml").read_text()
    assert "lr: 0.01\n" in used and f"optimizer: {best['hparams']['optimizer']}" in used
    assert f"batch_size: {best['hparams']['batch_size']}" in used


def test_the_evaluator_trains_with_the_trials_settings():
    space = small_space()
    evaluator = TrainEvaluator(space, epochs=1, lr=0.1)
    arch = space.sample(0)
    learnt = evaluator.evaluate_reporting(arch, None, hparams={"lr": 0.2, "batch_size": 32}).metrics["acc"]
    frozen = evaluator.evaluate_reporting(arch, None, hparams={"lr": 1e-9}).metrics["acc"]
    assert learnt > 0.4 and frozen < learnt - 0.2  # chance is 0.1
    with pytest.raises(ValueError, match="cannot vary \\['epochs'\\] per trial; tunable: lr, weight_decay"):
        evaluator.evaluate_reporting(arch, None, hparams={"epochs": 3})


@pytest.mark.parametrize("tune, message", [
    ({"lr": "log:0:1"}, "--tune lr=log:0:1: expected log:LOW:HIGH with 0 < LOW < HIGH"),
    ({"lr": "int:1:3"}, "--tune lr=int:1:3: lr is a float setting; give log: or float:"),
    ({"batch_size": "float:8:64"}, "batch_size is a int setting; give int:LOW:HIGH"),
    ({"optimizer": "sgd,adam"}, "--tune optimizer=sgd,adam: optimizer must be one of"),
    ({"label_smoothing": "float:0:1.5"}, "label_smoothing must be a finite number with 0 <= label_smoothing < 1, got 1.5"),
    ({"lr": "cube:1:2"}, "unknown range kind 'cube'"),
    ({"dropout": "0.1,0.2"}, "--tune dropout: not a tunable training setting; tunable: epochs, batch_size"),
])
def test_bad_specs_name_the_value_and_what_is_allowed(tune, message):
    with pytest.raises(ValueError) as exc:
        parse_tune(tune)
    assert message in str(exc.value)


def test_tune_needs_a_training_evaluator_and_a_tunable_name(tmp_path, capsys):
    table = synthetic_table(tmp_path / "table.json")
    base = ["search", "--space", "shufflenet", *SPACE_ARGS, "--trials", "2", "--out", str(tmp_path / "run"), "--quiet"]
    for extra, message in (
        (["--evaluator", f"table:{table}", "--tune", "lr=log:1e-3:1e-1"],
         "--tune needs an evaluator that trains each candidate (train); evaluator 'table' does not"),
        (["--strategy", "spos", "--tune", "lr=log:1e-3:1e-1"], "evaluator 'supernet' does not"),
        (["--tune", "epochs=int:1:3"], "--tune epochs: not a tunable training setting; tunable: lr, weight_decay, "
                                       "momentum, optimizer, batch_size, label_smoothing, warmup_epochs"),
        (["--tune", "lr"], "--tune expects NAME=VALUE, got 'lr'"),
    ):
        assert main(base + extra) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


def test_yaml_tune_is_the_command_lines(tmp_path, capsys):
    path = tmp_path / "search.yaml"
    path.write_text("tune: {lr: 'log:1e-3:1e-1', optimizer: 'sgd,adamw'}\n")
    assert main(["search", "--config", str(path), "--tune", "momentum=float:0.5:0.95", "--print-config"]) == 0
    assert "tune:\n  lr: log:1e-3:1e-1\n  optimizer: sgd,adamw\n  momentum: float:0.5:0.95\n" in capsys.readouterr().out


def test_a_resume_refuses_other_tuned_settings(tmp_path, capsys):
    base = ["search", "--space", "shufflenet", *SPACE_ARGS, "--strategy", "random", "--epochs", "1", "--trials", "1",
            "--top-k", "1", "--out", str(tmp_path / "run"), "--quiet"]
    assert main(base + ["--tune", "lr=log:1e-3:1e-1"]) == 0
    assert main(base + ["--tune", "lr=log:1e-2:1e-1", "--trials", "2", "--resume"]) == 2
    assert "(lr log:1e-3:1e-1 -> log:1e-2:1e-1)" in capsys.readouterr().err


def test_the_reports_search_command_keeps_fix_tune_and_pruner():
    from nasengine.cli.main import build_parser
    from nasengine.cli.search import config_from_args
    from nasengine.report.runs import search_command
    from nasengine.search.config import SearchConfig

    stored = SearchConfig.resolve(None, fix={"block0": "k5", "channel1": 0.5}, tune={"lr": "log:1e-4:1e-1",
                                  "optimizer": "sgd,adamw"}, pruner="hyperband",
                                  pruner_options={"reduction_factor": 2})
    argv = shlex.split(search_command(yaml.safe_load(yaml.safe_dump(stored.to_dict()))))
    assert "--fix" in argv and "lr=log:1e-4:1e-1" in argv and "reduction_factor=2" in argv
    assert config_from_args(build_parser().parse_args(argv[1:])).to_dict() == stored.to_dict()


def test_the_report_lists_tuned_settings_beside_the_choices():
    from types import SimpleNamespace

    from nasengine.report.baselines import Candidate
    from nasengine.report.document import _found_blocks

    def candidate(key, hparams):
        stats = {"cost": SimpleNamespace(macs=1000, params=100), "latency_ms": 1.0, "val_acc": (0.5, 0.0),
                 "test_acc": (0.5, 0.0), "val_accs": (0.5,), "test_accs": (0.5,)}
        return Candidate(key, f"net {key}", "run a", lambda: None, (1, 8, 8), False, stats=stats,
                         choices={"block0": "k3"}, hparams=hparams)

    cfg = SimpleNamespace(retrain=SimpleNamespace(seeds=1, epochs=1), top=1)
    tuned = _found_blocks({"cfg": cfg, "candidates": [candidate("a", {"lr": 0.01, "optimizer": "sgd"}),
                                                        candidate("b", None)]})[-1]
    assert tuned[1] == ["network", "choices", "tuned training"]
    assert tuned[2][0][1:] == ["`block0=k3`", "`lr=0.01 optimizer=sgd`"] and tuned[2][1][2] == "—"
    plain = _found_blocks({"cfg": cfg, "candidates": [candidate("b", None)]})[-1]
    assert plain[1] == ["network", "choices"] and plain[2][0][1:] == ["`block0=k3`"]

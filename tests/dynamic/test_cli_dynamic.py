from __future__ import annotations

import json
import signal

import pytest
import torch
import yaml

import nasengine.dynamic.run as dynamic_run
from nasengine.cli.main import main
from nasengine.data import load_dataset
from nasengine.dynamic import load_dynamic
from tests.kill_helpers import run as run_cli
from tests.kill_helpers import signal_and_wait, wait_until
from tests.kill_helpers import start as start_cli

TINY = ["--image-size", "8", "--widths", "8,16", "--depths", "2,2", "--epochs", "1", "--nested-epochs", "1",
        "--policy-epochs", "1",
        "--finetune-epochs", "1", "--rounds", "1", "--relaxed-epochs", "1", "--batch-size", "128", "--quiet"]


@pytest.fixture(scope="module")
def rnp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "rnp"
    assert main(["dynamic", "train", "--method", "rnp", *TINY, "--penalty", "0.3", "--out", str(out)]) == 0
    return out


def test_train_writes_config_model_and_metrics(rnp_run):
    metrics = json.loads((rnp_run / "metrics.json").read_text())
    assert [r["phase"] for r in metrics["history"]] == ["pretrain", "nested", "policy", "finetune"]
    config = yaml.safe_load((rnp_run / "config.yaml").read_text())
    assert config["method"] == "rnp" and config["model"]["backbone"]["widths"] == [8, 16]
    assert not (rnp_run / "checkpoint.pt").exists()
    model = load_dynamic(rnp_run)
    assert not model.training and model.config.backbone.input_size == 8
    assert metrics["dense_macs"] == model.dense_macs()  # the metrics describe the saved network


def test_rerunning_a_finished_run_does_nothing(rnp_run, capsys):
    before = (rnp_run / "metrics.json").read_text()
    assert main(["dynamic", "train", "--method", "rnp", *TINY, "--penalty", "0.3", "--out", str(rnp_run)]) == 0
    assert "already trained" in capsys.readouterr().out
    assert (rnp_run / "metrics.json").read_text() == before
    assert main(["dynamic", "train", "--method", "rnp", *TINY, "--penalty", "0.9", "--out", str(rnp_run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "other settings (penalty 0.3 -> 0.9)" in err and "--force" in err
    assert (rnp_run / "metrics.json").read_text() == before


def test_eval_reports_accuracy_macs_and_speed(rnp_run, capsys):
    out = rnp_run / "eval.json"
    assert main(["dynamic", "eval", str(rnp_run), "--images", "64", "--repeats", "1", "--threads", "1"]) == 0
    result = json.loads(out.read_text())
    assert {r["batch"] for r in result["speed"]} == {1, 64}
    for row in result["speed"]:
        assert row["dense_ms"] > 0 and row["dynamic_ms"] > 0
        # the baseline is the dense network in its faster memory layout
        assert row["dense_ms"] == min(row["dense_nchw_ms"], row["dense_nhwc_ms"])
        assert row["dense_ms"] == row[f"dense_{row['dense_layout']}_ms"]
    assert result["threads"] == 1 and result["mac_reduction"] > 0
    assert "speedup" in capsys.readouterr().out


def test_export_and_reload_give_identical_outputs(rnp_run, tmp_path):
    dest = tmp_path / "exported"
    assert main(["dynamic", "export", str(rnp_run), "--out", str(dest)]) == 0
    a, b = load_dynamic(rnp_run), load_dynamic(dest)
    x = torch.cat([x for x, _ in load_dataset("digits").loaders(64)[2]])[:40]
    assert torch.equal(a(x), b(x))
    assert torch.equal(a(x[:1]), b(x[:1]))
    assert json.loads((dest / "metrics.json").read_text())["method"] == "rnp"
    (dest / "metrics.json").write_text("{}")
    assert main(["dynamic", "export", str(rnp_run), "--out", str(dest)]) == 2  # never over another export
    assert (dest / "metrics.json").read_text() == "{}"
    assert main(["dynamic", "export", str(rnp_run), "--out", str(dest), "--force"]) == 0
    assert json.loads((dest / "metrics.json").read_text())["method"] == "rnp"


@pytest.mark.parametrize("argv,message", [
    (["dynamic", "train", "--method", "skipnet", "--backbone", "vgg", "--out", "X"], "needs backbone kind 'resnet'"),
    (["dynamic", "train", "--method", "rnp", "--widths", "8,x", "--out", "X"], "--widths expects"),
    (["dynamic", "train", "--method", "rnp", "--groups", "0", "--out", "X"], "groups must be"),
    (["dynamic", "train", "--method", "routing", "--branches", "1", "--out", "X"], "branches must be"),
    (["dynamic", "train", "--method", "skipnet", "--hidden", "0", "--out", "X"], "hidden must be a positive integer, got 0"),
    (["dynamic", "eval", "no/such/run"], "holds no trained dynamic network"),
    (["dynamic", "export", "no/such/run", "--out", "Y"], "has no trained network"),
    (["dynamic", "eval", "no/such/run", "--threads", "0"], "--threads must be an integer >= 1, got 0"),
    (["dynamic", "train", "--method", "rnp", "--threads", "-1", "--out", "X"], "--threads must be an integer >= 1"),
])
def test_bad_input_is_one_line_and_exit_code_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nasengine: error:") and message in err and "\n" not in err


def test_interrupted_cli_run_resumes(tmp_path, monkeypatch, capsys):
    out = tmp_path / "skip"
    loud = [a for a in TINY if a != "--quiet"]  # the epoch lines show where the run picks up
    argv = ["dynamic", "train", "--method", "skipnet", *loud, "--widths", "8,16", "--depths", "2,2", "--out", str(out)]
    real = dynamic_run.train_dynamic

    def interrupted(*args, on_epoch=None, **kwargs):
        def stop(record):
            on_epoch(record)
            if record["epoch"] == 2:
                raise KeyboardInterrupt
        return real(*args, on_epoch=stop, **kwargs)

    monkeypatch.setattr(dynamic_run, "train_dynamic", interrupted)
    assert main(argv) == 130
    assert (out / "checkpoint.pt").exists() and not (out / "metrics.json").exists()
    monkeypatch.setattr(dynamic_run, "train_dynamic", real)
    capsys.readouterr()
    assert main(argv) == 0
    printed = capsys.readouterr().err
    assert "epoch 3/4  policy" in printed and "epoch 1/4" not in printed  # picks up after the saved epochs
    assert f"resuming from {out / 'checkpoint.pt'}: epoch 2 of 4 done" in printed
    assert yaml.safe_load((out / "config.yaml").read_text())["kind"] == "dynamic"
    metrics = json.loads((out / "metrics.json").read_text())
    assert [r["phase"] for r in metrics["history"]] == ["pretrain", "relaxed", "policy", "finetune"]
    assert metrics["dense_test_acc"] is not None  # measured before the interruption, kept in the checkpoint


def test_same_seed_same_network(tmp_path):
    argv = ["dynamic", "train", "--method", "routing", *TINY, "--seed", "3"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    torch.rand(5)  # a different global RNG state must not matter
    assert main([*argv, "--out", str(tmp_path / "b")]) == 0
    a, b = load_dynamic(tmp_path / "a"), load_dynamic(tmp_path / "b")
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key


def test_methods_are_registered_one_way():
    from nasengine.dynamic import DYNAMIC_METHODS, GatedNetwork, RNPNetwork, build_dynamic, recipe_for
    from nasengine.dynamic.run import model_config

    assert DYNAMIC_METHODS.names() == ["frames", "rnp", "routing", "skipnet"]
    rnp = model_config("rnp", widths=(8, 16), depths=(1, 1), image_size=8, groups=2, gate="recurrent")
    assert rnp["backbone"]["kind"] == "vgg" and rnp["groups"] == 2 and rnp["hidden"] == 32 and "gate" not in rnp
    assert isinstance(build_dynamic("rnp", rnp), RNPNetwork)
    routing = model_config("routing", widths=(8, 16), depths=(1, 1), image_size=8, groups=2, branches=(0, 1))
    assert routing["backbone"]["kind"] == "resnet" and routing["branches"] == [0, 1] and "groups" not in routing
    net = build_dynamic("routing", routing)
    assert isinstance(net, GatedNetwork) and net.method == "routing"
    assert type(recipe_for("skipnet")).__name__ == "GatedRecipe"
    frames = model_config("frames", widths=(8, 16), depths=(1, 1), image_size=8, frames=4, shift=True, gate="recurrent")
    assert frames["frames"] == 4 and frames["shift"] and "gate" not in frames
    assert build_dynamic("frames", frames).method == "frames"
    with pytest.raises(ValueError, match="unknown dynamic method 'dropout'; choose one of frames, rnp, routing, skipnet"):
        build_dynamic("dropout", rnp)


def test_library_run_functions_refuse_bad_input(tmp_path):
    from nasengine.dynamic.run import evaluate_run, export_run

    with pytest.raises(ValueError, match="has no trained network"):
        export_run(tmp_path / "none", tmp_path / "out")
    with pytest.raises(ValueError, match="--images must be >= the largest batch"):
        evaluate_run(tmp_path, batches=(1, 64), images=32)


@pytest.mark.slow
def test_sigterm_saves_like_ctrl_c_and_the_rerun_ends_as_an_uninterrupted_run(tmp_path):
    argv = ["dynamic", "train", "--method", "skipnet", *TINY]
    whole = run_cli(*argv, "--out", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "run"
    proc = start_cli(*argv, "--out", str(out))
    wait_until(lambda: (out / "checkpoint.pt").exists(), proc, "the first epoch's checkpoint")
    err = signal_and_wait(proc, signal.SIGTERM)
    assert proc.returncode == 143, err  # 128 + SIGTERM; Ctrl-C gives 130
    assert "terminated by SIGTERM; finished work is saved" in err and "Traceback" not in err
    assert not (out / "metrics.json").exists()
    resumed = run_cli(*argv, "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from {out / 'checkpoint.pt'}: epoch " in resumed.stderr
    got, want = (json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("run", "whole"))
    assert [r["phase"] for r in got["history"]] == [r["phase"] for r in want["history"]]
    for key in ("dense_test_acc", "test_acc"):
        assert got[key] == pytest.approx(want[key]), key

"""``nasengine train`` run folders: reruns under other settings refused, finished runs kept,
``--force`` starting over, SIGTERM saving like Ctrl-C and the rerun resuming exactly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests import toy_space  # noqa: F401  registers the "toy" space
from tests.cli_helpers import run_cli
from tests.kill_helpers import wait_until

ROOT = Path(__file__).resolve().parents[2]
ARCH = '{"kernel": "k3", "width": 4}'


def _train(capsys, out, *extra):
    return run_cli(capsys, "train", "--space", "toy", "--arch", ARCH, "--out", str(out), "--quiet", *extra)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished two-epoch run (the module's tests copy it before changing it)."""
    from nasengine.cli.main import main

    out = tmp_path_factory.mktemp("train") / "run"
    assert main(["train", "--space", "toy", "--arch", ARCH, "--epochs", "2", "--out", str(out), "--quiet",
                 "--threads", "1"]) == 0
    return out


def _copy(finished, tmp_path):
    import shutil

    return Path(shutil.copytree(finished, tmp_path / "run"))


def test_config_records_the_kind_the_arch_and_the_threads(finished):
    config = yaml.safe_load((finished / "config.yaml").read_text())
    assert config["kind"] == "train" and config["choices"] == {"kernel": "k3", "width": 4}
    assert config["threads"] == 1 and config["train"]["epochs"] == 2


def test_a_rerun_under_other_settings_is_refused_naming_them(finished, tmp_path, capsys):
    run = _copy(finished, tmp_path)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    code, _, err = _train(capsys, run, "--epochs", "4", "--lr", "0.5", "--batch-size", "16")
    assert code == 2 and err.count("\n") == 1
    assert "other settings (epochs 2 -> 4, batch_size 64 -> 16, lr 0.05 -> 0.5)" in err and "--force" in err
    code, _, err = run_cli(capsys, "train", "--space", "toy", "--arch", '{"kernel": "k5", "width": 4}',
                           "--epochs", "2", "--out", str(run), "--quiet")
    assert code == 2 and "kernel k3 -> k5" in err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before  # nothing written


def test_a_finished_run_is_kept_and_only_force_trains_again(finished, tmp_path, capsys):
    run = _copy(finished, tmp_path)
    metrics = (run / "metrics.json").read_text()
    code, out, err = _train(capsys, run, "--epochs", "2", "--threads", "1", "--device", "cpu")
    assert code == 0 and "already holds this finished run" in err
    assert (run / "metrics.json").read_text() == metrics
    code, _, _ = _train(capsys, run, "--epochs", "1", "--force", "--threads", "1")
    assert code == 0 and len(json.loads((run / "metrics.json").read_text())["history"]) == 1
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["epochs"] == 1


def test_train_and_search_refuse_each_others_folders(finished, tmp_path, capsys):
    from tests.search_helpers import SPACE_ARGS, synthetic_table

    run = _copy(finished, tmp_path)
    table = synthetic_table(tmp_path / "table.json")
    search = ["search", "--space", "shufflenet", *SPACE_ARGS, "--evaluator", f"table:{table}", "--trials", "2",
              "--quiet"]
    code, _, err = run_cli(capsys, *search, "--out", str(run))
    assert code == 2 and "holds a run of `nasengine train`, not of `nasengine search`" in err
    assert yaml.safe_load((run / "config.yaml").read_text())["kind"] == "train"
    assert run_cli(capsys, *search, "--out", str(tmp_path / "s"))[0] == 0
    code, _, err = _train(capsys, tmp_path / "s", "--epochs", "1")
    assert code == 2 and "holds a run of `nasengine search`" in err
    assert yaml.safe_load((tmp_path / "s" / "config.yaml").read_text())["kind"] == "search"


@pytest.mark.parametrize("value", ["0", "-1"])
def test_threads_must_be_positive(tmp_path, capsys, value):
    code, _, err = _train(capsys, tmp_path / "run", "--epochs", "1", "--threads", value)
    assert code == 2 and err == f"nasengine: error: --threads must be an integer >= 1, got {value}\n"
    assert not (tmp_path / "run").exists()


_CLI = ("import sys; from tests import toy_space; from nasengine.cli.main import main; "
        "raise SystemExit(main(sys.argv[1:]))")


def test_sigterm_saves_like_ctrl_c_and_the_rerun_ends_as_an_uninterrupted_run(tmp_path, capsys):
    argv = ["train", "--space", "toy", "--arch", ARCH, "--epochs", "8", "--batch-size", "16", "--quiet"]
    proc = subprocess.Popen([sys.executable, "-c", _CLI, *argv, "--out", str(tmp_path / "run")], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    wait_until(checkpoint.exists, proc, "the first checkpoint")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err  # 143; Ctrl-C gives 130
    assert "terminated by SIGTERM; finished work is saved" in err and "Traceback" not in err
    assert checkpoint.exists() and not (tmp_path / "run" / "metrics.json").exists()

    resumed = subprocess.run([sys.executable, "-c", _CLI, *argv, "--out", str(tmp_path / "run")], cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from {checkpoint}: epoch " in resumed.stderr and " of 8 done" in resumed.stderr
    assert run_cli(capsys, *argv, "--out", str(tmp_path / "whole"))[0] == 0
    got, want = (json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("run", "whole"))
    assert (got["val_acc"], got["test_acc"]) == (want["val_acc"], want["test_acc"])
    assert [h["train_loss"] for h in got["history"]] == pytest.approx([h["train_loss"] for h in want["history"]])

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import optuna
import pytest

from nasengine.cli.main import main
from nasengine.records import ExportRecord, SearchResult
from nasengine.report.runs import load_run
from nasengine.search.config import SearchConfig
from nasengine.search.runner import run_search
from nasengine.testing.controllers import SMALL, small_space
from tests.search_helpers import SPACE_ARGS, synthetic_table


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return synthetic_table(tmp_path_factory.mktemp("table") / "table.json")


def _config(table, tmp_path, **kw):
    base = dict(space="shufflenet", space_config=dict(SMALL), evaluator="table", evaluator_options={"path": str(table)},
                trials=12, out=str(tmp_path / "run"))
    return SearchConfig(**{**base, **kw})


@pytest.mark.parametrize("controller", ["random", "evolution", "rl", "tpe", "nsga2"])
def test_every_controller_searches_under_a_macs_limit(controller, table, tmp_path):
    space = small_space()
    low, high = space.cost_bounds()
    limit = (low.macs + high.macs) / 2
    result = run_search(_config(table, tmp_path, controller=controller, max_macs=limit), progress=False)
    assert result["completed"] == 12
    assert all(row["cost"]["macs"] <= limit for row in result["trials"])
    assert result["best"]["metrics"]["acc"] == max(r["metrics"]["acc"] for r in result["trials"])
    exports = list((tmp_path / "run" / "exports").iterdir())
    assert len(exports) == 3
    # What the runner wrote is what the report reads: the same record, its exports included.
    run = load_run(tmp_path / "run")
    assert run.result == SearchResult.from_dict(result) and run.result.to_dict() == result
    assert {e.id for e in run.exports} == {p.name for p in exports}
    for doc in run.exports:
        assert doc.cost["macs"] <= limit and doc.space == "shufflenet" and doc.trial is not None
        assert doc.val_acc == next(t.acc for t in run.result.trials if t.number == doc.trial)


def test_multi_objective_search_has_a_pareto_front(table, tmp_path):
    result = run_search(_config(table, tmp_path, controller="nsga2", objectives=("acc", "macs"), trials=15), progress=False)
    front = result["pareto_front"]["acc_vs_macs"]
    assert front and all(len(r["values"]) == 2 for r in result["trials"])
    for a in front:  # nothing in the search dominates a front member
        assert not any(b["metrics"]["acc"] >= a["metrics"]["acc"] and b["cost"]["macs"] < a["cost"]["macs"]
                       for b in result["trials"])
    # The study names its objectives, so Optuna's dashboard and plots label them.
    study = optuna.load_study(study_name="search", storage=f"sqlite:///{tmp_path / 'run' / 'study.db'}")
    assert study.metric_names == ["acc", "macs"]
    # A table replay knows no data: its exports say nothing of preprocessing rather than guess.
    exported = sorted((tmp_path / "run" / "exports").glob("*/arch.json"))
    assert exported and all(ExportRecord.load(p).preprocessing is None for p in exported)


def test_existing_run_needs_resume_and_resume_adds_trials(table, tmp_path):
    cfg = _config(table, tmp_path, controller="evolution", trials=6)
    first = run_search(cfg, progress=False)
    with pytest.raises(ValueError, match="--resume"):
        run_search(cfg, progress=False)
    second = run_search(_config(table, tmp_path, controller="evolution", trials=10), resume=True, progress=False)
    assert second["completed"] == 10
    assert [r["arch_id"] for r in second["trials"][:6]] == [r["arch_id"] for r in first["trials"]]


def _cli(table, out, *extra):
    return [sys.executable, "-m", "nasengine", "search", "--space", "shufflenet", *SPACE_ARGS, "--strategy", "rl",
            "--evaluator", f"table:{table}", "--out", str(out), "--quiet", *extra]


def _wait_for_completed(out, count, timeout=300.0):
    """Until the run's result.json counts ``count`` completed trials; fails after ``timeout``
    seconds (a signal sent earlier could land before the command has installed its handlers)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (out / "result.json").exists() and json.loads((out / "result.json").read_text())["completed"] >= count:
            return
        time.sleep(0.05)
    pytest.fail(f"{out}: fewer than {count} completed trials after {timeout:.0f} s")


def test_killed_search_resumes_without_losing_or_repeating(table, tmp_path):
    out = tmp_path / "killed"
    # Killed while trials are being written; a trial killed before it recorded its worker is
    # re-run after the study's heartbeat grace, kept short here.
    proc = subprocess.Popen(_cli(table, out, "--trials", "400", "--heartbeat-interval", "1", "--heartbeat-grace", "2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_completed(out, 5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = json.loads((out / "result.json").read_text())
    done_before = {r["number"]: r["arch_id"] for r in before["trials"] if r["state"] == "COMPLETE"}
    assert 5 <= len(done_before) < 400
    resumed = subprocess.run(_cli(table, out, "--trials", str(len(done_before) + 5), "--resume"), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    after = json.loads((out / "result.json").read_text())
    done_after = {r["number"]: r["arch_id"] for r in after["trials"] if r["state"] == "COMPLETE"}
    assert len(done_after) >= len(done_before) + 5
    assert all(done_after[n] == a for n, a in done_before.items())  # nothing lost or changed


def test_sigterm_saves_like_ctrl_c_and_resume_finishes_the_count(table, tmp_path):
    # What a cluster scheduler sends before preemption: the running trial is failed and
    # re-queued, finished ones are kept, and the resumed run ends with exactly --trials.
    out = tmp_path / "terminated"
    argv = _cli(table, out, "--trials", "12", "--evaluator-set", "seconds=0.3")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_completed(out, 3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "finished work is saved" in err
    before = json.loads((out / "result.json").read_text())
    done_before = {r["number"]: r["arch_id"] for r in before["trials"] if r["state"] == "COMPLETE"}
    assert 3 <= len(done_before) < 12
    resumed = subprocess.run([*argv, "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming study" in resumed.stderr
    after = json.loads((out / "result.json").read_text())
    done_after = {r["number"]: r["arch_id"] for r in after["trials"] if r["state"] == "COMPLETE"}
    assert after["completed"] == 12 == len(done_after)
    assert all(done_after[n] == a for n, a in done_before.items())


def test_config_file_and_command_line_resolution(table, tmp_path, capsys):
    cfg_file = tmp_path / "search.yaml"
    cfg_file.write_text(f"space: shufflenet\nspace_config: {json.dumps(dict(SMALL))}\ncontroller: random\n"
                        f"evaluator: table\nevaluator_options: {{path: {table}}}\ntrials: 50\n")
    out = tmp_path / "cfg"
    assert main(["search", "--config", str(cfg_file), "--trials", "4", "--out", str(out), "--quiet"]) == 0
    saved = (out / "config.yaml").read_text()
    assert "trials: 4" in saved and "controller: random" in saved
    assert json.loads((out / "result.json").read_text())["completed"] == 4


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--max-macs", "1K"], "below the minimum of space 'shufflenet': the smallest architecture needs"),
        (["--max-macs", "lots"], "not an amount"),
        (["--objectives", "macs,acc"], "objectives must start with acc"),
        (["--strategy", "bogus"], "unknown strategy 'bogus'"),
        (["--strategy", "rl", "--controller", "random"], "disagree"),
        (["--evaluator", "table"], "needs a file"),
        (["--evaluator", "table:/no/such.json"], "does not exist"),
        (["--controller-set", "population_size=0", "--strategy", "evolution"], "population_size"),
        (["--controller-set", "popsize=5", "--strategy", "evolution"], "controller 'evolution' has no option(s) ['popsize']"),
        (["--controller-set", "foo=1", "--strategy", "tpe"], "controller 'tpe' has no option(s) ['foo']"),
    ],
)
def test_bad_search_input_is_one_line_exit_2(argv, message, tmp_path, capsys, table):
    args = ["search", "--space", "shufflenet", *SPACE_ARGS, "--out", str(tmp_path / "bad"), "--quiet", "--trials", "2"]
    if not any(a.startswith("--evaluator") for a in argv):
        args += ["--evaluator", f"table:{table}"]
    code = main(args + argv)
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_real_search_on_digits_exports_trained_models_that_retrain(tmp_path, capsys):
    out = tmp_path / "real"
    cfg = SearchConfig(space="shufflenet", space_config=dict(SMALL), controller="random", epochs=2, trials=3, top_k=2,
                       max_macs=60_000, out=str(out))
    result = run_search(cfg, progress=False)
    assert result["completed"] == 3 and result["best"]["metrics"]["acc"] > 0.3  # chance is 0.1
    folders = sorted((out / "exports").iterdir())
    assert len(folders) == 2
    doc = ExportRecord.load(folders[0] / "arch.json")
    assert doc.metrics["test_acc"] > 0.3 and (folders[0] / "weights.pt").exists()  # the trained model, not chance
    assert (out / "tb").is_dir() and "controller: random" in (out / "config.yaml").read_text()
    # Every epoch's validation accuracy reached the trial as an intermediate value.
    study = optuna.load_study(study_name="search", storage=cfg.storage_url)
    assert [sorted(t.intermediate_values) for t in study.trials] == [[1, 2]] * 3
    for t in study.trials:
        assert t.intermediate_values[2] == t.user_attrs["metrics"]["acc"]
    # The exports carry the preprocessing of the data the search trained on.
    assert doc.preprocessing is not None and doc.preprocessing.dataset == "digits"
    assert (doc.preprocessing.input_size, doc.preprocessing.channels) == (SMALL["input_size"], SMALL["in_channels"])
    assert len(doc.preprocessing.mean) == len(doc.preprocessing.std) == 1
    assert main(["train", "--arch", str(folders[0]), "--epochs", "1", "--out", str(tmp_path / "retrain"), "--quiet"]) == 0
    assert json.loads((tmp_path / "retrain" / "metrics.json").read_text())["arch_id"] == doc.id
    assert json.loads((tmp_path / "retrain" / "arch.json").read_text())["preprocessing"] == doc.preprocessing.to_dict()


def test_progress_without_a_terminal_is_one_line_per_trial(table, tmp_path, capsys):
    run_search(_config(table, tmp_path, trials=3), progress=True)  # pytest's stderr is not a terminal
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("trial ")]
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert len(lines) == 3 == result["completed"]
    for line, trial in zip(lines, result["trials"]):
        assert line.startswith(f"trial {trial['number']} (") and f"arch {trial['arch_id']}" in line
        assert f"acc {trial['metrics']['acc']:.4f}" in line and "MACs " in line
    assert lines[-1].endswith(f"best {result['best']['metrics']['acc']:.4f}") and "(3/3)" in lines[-1]
    run_search(_config(table, tmp_path / "quiet", trials=2), progress=False)
    assert "trial " not in capsys.readouterr().err

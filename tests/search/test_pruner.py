"""``--pruner``: poor candidates stop early on their per-epoch accuracy; pruned trials are
recorded and counted, never best, and a resumed search neither loses nor repeats them."""

from __future__ import annotations

import json

import pytest

from nasengine.cli.main import main
from nasengine.evaluators.train import TrainEvaluator
from nasengine.search.config import SearchConfig
from nasengine.search.pruning import make_pruner
from nasengine.search.runner import run_search
from nasengine.testing.controllers import SMALL

EPOCHS = 3


def _config(out, **kw):
    base = dict(space="shufflenet", space_config=dict(SMALL), controller="random", epochs=EPOCHS, trials=6,
                pruner="median", pruner_options={"n_startup_trials": 1}, out=str(out))
    return SearchConfig(**{**base, **kw})


def test_the_median_pruner_stops_poor_candidates_and_the_run_records_them(tmp_path, capsys):
    result = run_search(_config(tmp_path / "run"), progress=True)
    trials = result["trials"]
    pruned = [t for t in trials if t["state"] == "PRUNED"]
    complete = [t for t in trials if t["state"] == "COMPLETE"]
    assert len(trials) == 6 and pruned and complete  # seeded: 4 of 6 stop after one epoch
    assert result["pruned"] == len(pruned) and result["completed"] == len(complete)
    assert all(t["epochs"] < EPOCHS and t["seconds"] > 0 and 0 <= t["metrics"]["acc"] <= 1 for t in pruned)
    assert all(t["epochs"] == EPOCHS for t in complete)
    # the best is a complete trial, and no pruned one leads the exports
    assert result["best"]["state"] == "COMPLETE"
    assert result["best"]["metrics"]["acc"] == max(t["metrics"]["acc"] for t in complete)
    exported = {p.name for p in (tmp_path / "run" / "exports").iterdir()}
    assert exported <= {t["arch_id"] for t in complete}
    lines = [line for line in capsys.readouterr().err.splitlines() if "pruned at epoch" in line]
    assert len(lines) == len(pruned) and lines[0].startswith(f"trial {pruned[0]['number']} (")
    assert main(["show", str(tmp_path / "run")]) == 0
    assert f"{len(pruned)} pruned (median)" in capsys.readouterr().out


def test_an_interrupted_pruned_search_resumes_without_losing_or_repeating(tmp_path, monkeypatch):
    original = TrainEvaluator.evaluate_reporting
    calls = []

    def interrupted(self, arch, report, hparams=None):
        calls.append(arch.id)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return original(self, arch, report, hparams)

    monkeypatch.setattr(TrainEvaluator, "evaluate_reporting", interrupted)
    cfg = _config(tmp_path / "run", pruner="hyperband", pruner_options={"reduction_factor": 2}, trials=6)
    with pytest.raises(KeyboardInterrupt):
        run_search(cfg, progress=False)
    before = json.loads((tmp_path / "run" / "result.json").read_text())["trials"]
    assert len(before) == 3
    monkeypatch.setattr(TrainEvaluator, "evaluate_reporting", original)
    # Another pruner is another search: refused.
    with pytest.raises(ValueError, match="pruner hyperband -> median"):
        run_search(_config(tmp_path / "run"), resume=True, progress=False)
    after = run_search(cfg, resume=True, progress=False)
    finished = [t for t in after["trials"] if t["state"] in ("COMPLETE", "PRUNED")]
    assert len(finished) == 6
    assert [(t["number"], t["arch_id"], t["state"]) for t in after["trials"][:3]] == \
        [(t["number"], t["arch_id"], t["state"]) for t in before]  # nothing lost or changed
    assert [t for t in after["trials"] if t["state"] == "FAIL"][0]["arch_id"] == calls[3]
    redone = [t for t in finished if t["arch_id"] == calls[3]]
    assert len(redone) == 1  # the interrupted candidate ran again, once
    assert after["pruned"] == sum(t["state"] == "PRUNED" for t in finished)


def test_a_pruner_needs_a_training_evaluator_and_one_objective(tmp_path, capsys):
    base = ["search", "--out", str(tmp_path / "run"), "--quiet"]
    for extra, message in (
        (["--strategy", "spos", "--pruner", "median"],
         "--pruner median needs an evaluator that trains each candidate (train); evaluator 'supernet' does not"),
        (["--pruner", "hyperband", "--objectives", "acc,macs"], "--pruner hyperband needs a single objective"),
        (["--pruner", "median", "--pruner-set", "patience=2"], "pruner median takes no option(s) ['patience']; "
                                                               "its options: n_startup_trials"),
    ):
        assert main(base + extra) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()
    path = tmp_path / "search.yaml"
    path.write_text("pruner: hyperband\npruner_options: {reduction_factor: 2}\n")
    assert main(["search", "--config", str(path), "--print-config"]) == 0
    assert "pruner: hyperband\npruner_options:\n  reduction_factor: 2\n" in capsys.readouterr().out


class _AlwaysPrune:
    def __init__(self):
        self.reported = []

    def report(self, value, step):
        self.reported.append((step, value))

    def should_prune(self):
        return True


def test_the_last_epoch_is_never_pruned():
    # Its training is already paid for: a pruner that says "stop" then would only discard it.
    from optuna import TrialPruned

    from nasengine.search.pruning import EpochReporter

    trial = _AlwaysPrune()
    reporter = EpochReporter(trial, prune=True, report=True, last_epoch=3)  # type: ignore[arg-type]
    with pytest.raises(TrialPruned, match="pruned at epoch 2"):
        reporter(2, 0.5)
    reporter(3, 0.6)
    assert trial.reported == [(2, 0.5), (3, 0.6)] and reporter.epochs == 2 and reporter.last == 0.6


@pytest.mark.parametrize(("options", "expected"), [({}, EPOCHS), ({"epochs": 5}, 5)])
def test_a_trial_trains_the_evaluators_own_epochs(tmp_path, options, expected):
    # `--evaluator-set epochs=N` changes how long a trial trains: the pruner's last epoch follows it.
    cfg = _config(tmp_path / "run", evaluator_options=options)
    assert cfg.trial_epochs == expected
    pruner = make_pruner("hyperband", {}, cfg.trial_epochs)
    assert pruner._max_resource == expected

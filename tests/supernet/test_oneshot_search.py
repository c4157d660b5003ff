"""``nasengine search --strategy spos|enas`` end to end on digits, with interruptions."""

from __future__ import annotations

import json

import pytest
import torch

import nasengine
from nasengine.cli.main import main
from supernet.enas import STATE_FILE, EnasEvaluator
from supernet.evaluator import SupernetEvaluator
from supernet.sampling import PathSampler
from tests.supernet.oneshot_helpers import TINY, TINY_ARGS

SPOS = ["--strategy", "spos", "--pretrain-epochs", "3", "--pretrain-set", "batch_size=32", "--top-k", "2",
        "--quiet"]
ENAS = ["--strategy", "enas", "--evaluator-set", "train_steps=4", "--evaluator-set", "warmup_steps=8", "--top-k", "2",
        "--quiet"]


def _search(out, *extra):
    return main(["search", "--space", "shufflenet", *TINY_ARGS, "--out", str(out), *extra])


def _limit():
    low, high = nasengine.get_space("shufflenet", **TINY).cost_bounds()
    return str(int((low.macs + high.macs) / 2))


def _result(out):
    return json.loads((out / "result.json").read_text())


class _InterruptAt:
    """Patches ``owner.name`` to raise KeyboardInterrupt on its ``at``-th call (1-based)."""

    def __init__(self, monkeypatch, owner, name, at):
        self.calls, original = 0, getattr(owner, name)

        def patched(*args, **kwargs):
            self.calls += 1
            if self.calls == at:
                raise KeyboardInterrupt
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, patched)


@pytest.fixture(scope="module")
def spos_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("spos") / "run"
    assert _search(out, *SPOS, "--max-macs", _limit(), "--trials", "6") == 0
    return out


def test_spos_search_trains_a_supernet_and_exports_inherited_weights(spos_run):
    result = _result(spos_run)
    assert result["strategy"] == "spos" and result["controller"] == "evolution" and result["evaluator"] == "supernet"
    assert result["completed"] == 6 and all(r["cost"]["macs"] <= float(_limit()) for r in result["trials"])
    assert result["best"]["metrics"]["acc"] > 0.3  # chance is 0.1
    assert (spos_run / "supernet.pt").exists() and list((spos_run / "tb" / "pretrain").iterdir())
    exports = sorted((spos_run / "exports").iterdir())
    assert len(exports) == 2 and all((e / "weights.pt").exists() for e in exports)
    doc = json.loads((exports[0] / "arch.json").read_text())
    assert 0 < doc["metrics"]["test_acc"] <= 1
    # The exported weights are the supernet's for that path, BN recalibrated.
    space = nasengine.get_space("shufflenet", **TINY)
    arch = space.arch(doc["choices"])
    weights = torch.load(exports[0] / "weights.pt")
    expected = SupernetEvaluator(space, checkpoint=spos_run / "supernet.pt").evaluate(arch).model.state_dict()
    assert all(torch.equal(weights[k], v) for k, v in expected.items())


def test_spos_resume_continues_without_retraining(spos_run):
    stamp = (spos_run / "supernet.pt").stat().st_mtime_ns
    assert _search(spos_run, *SPOS, "--max-macs", _limit(), "--trials", "8", "--resume") == 0
    assert _result(spos_run)["completed"] == 8 and (spos_run / "supernet.pt").stat().st_mtime_ns == stamp


def test_spos_interrupted_in_pretraining_and_in_the_search_resumes(spos_run, tmp_path, monkeypatch):
    out = tmp_path / "run"
    patch = _InterruptAt(monkeypatch, PathSampler, "__call__", at=40)  # inside epoch 2 of 3
    assert _search(out, *SPOS, "--max-macs", _limit(), "--trials", "6") == 130
    assert (out / "supernet_train.pt").exists() and not (out / "supernet.pt").exists()
    monkeypatch.undo()
    patch = _InterruptAt(monkeypatch, SupernetEvaluator, "evaluate", at=3)  # the third trial
    assert _search(out, *SPOS, "--max-macs", _limit(), "--trials", "6", "--resume") == 130
    assert patch.calls == 3 and _result(out)["completed"] == 2
    # Pretraining resumed exactly: the same supernet as the uninterrupted run's.
    resumed, straight = (torch.load(p / "supernet.pt", weights_only=False) for p in (out, spos_run))
    assert resumed["identity"] == straight["identity"]
    assert all(torch.equal(v, straight["model"][k]) for k, v in resumed["model"].items())
    monkeypatch.undo()
    assert _search(out, *SPOS, "--max-macs", _limit(), "--trials", "6", "--resume") == 0
    result = _result(out)
    assert result["completed"] == 6 and len({r["arch_id"] for r in result["trials"] if r["state"] == "COMPLETE"}) == 6


def test_enas_search_trains_shared_weights_and_resumes(tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert _search(out, *ENAS, "--trials", "5") == 0
    result = _result(out)
    assert result["strategy"] == "enas" and result["controller"] == "rl" and result["evaluator"] == "enas"
    state = torch.load(out / STATE_FILE, weights_only=False)
    assert state["evals"] == 5 and state["step"] == 8 + 5 * 4
    assert [r["metrics"]["shared_steps"] for r in result["trials"]] == [8 + 4 * i for i in range(1, 6)]
    assert len(list((out / "exports").iterdir())) == 2
    patch = _InterruptAt(monkeypatch, EnasEvaluator, "_reward", at=2)  # trial 7's reward, after its training
    assert _search(out, *ENAS, "--trials", "8", "--resume") == 130
    assert patch.calls == 2 and torch.load(out / STATE_FILE, weights_only=False)["evals"] == 6
    monkeypatch.undo()
    assert _search(out, *ENAS, "--trials", "8", "--resume") == 0
    done = [r for r in _result(out)["trials"] if r["state"] == "COMPLETE"]
    # The interrupted trial's training was not saved: steps continue from the last saved state.
    assert len(done) == 8 and torch.load(out / STATE_FILE, weights_only=False)["step"] == 8 + 8 * 4
    assert [r["metrics"]["shared_steps"] for r in done] == [8 + 4 * i for i in range(1, 9)]


@pytest.mark.parametrize("argv, message", [
    (["--strategy", "spos", "--evaluator", "train"], "disagree"),
    (["--strategy", "enas", "--controller", "evolution"], "disagree"),
    (["--strategy", "spos", "--pretrain-set", "sampling=fair"], "mode must be one of"),
    (["--strategy", "spos", "--pretrain-set", "bogus=1"], "unknown SPOS pretraining option(s) ['bogus']"),
    (["--strategy", "enas", "--evaluator-set", "train_steps=0"], "train_steps must be a positive integer"),
    (["--strategy", "spos", "--pretrain-epochs", "0"], "pretrain_epochs must be >= 1"),
])
def test_bad_one_shot_input_is_one_line_exit_2(argv, message, tmp_path, capsys):
    assert _search(tmp_path / "bad", "--quiet", "--trials", "2", *argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err

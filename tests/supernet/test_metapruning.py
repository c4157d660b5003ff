"""Tests of MetaPruning's pretraining (resumable) and the ``pruningnet`` evaluator."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import nasengine
from nasengine.data import load_space_data
from nasengine.registry import EVALUATORS
from supernet.metapruning import (
    CHECKPOINT,
    TRAIN_STATE,
    PruningNetEvaluator,
    split_options,
    train_pruningnet,
)
from supernet.pruningnet import PruningNet
from supernet.pruningnet_blocks import ChoiceBatchNorm2d
from supernet.trainer import load_history

SPACE = dict(backbone="small", input_size=8, in_channels=1, num_classes=10, rounding="floor")


@pytest.fixture(scope="module")
def space():
    return nasengine.get_space("channel_width", **SPACE)


@pytest.fixture(scope="module")
def data(space):
    return load_space_data(space, "digits")


def _train(space, data, out: Path, epochs: int = 2) -> Path:
    net_config, train_config = split_options({"hidden": 8}, epochs=epochs, seed=0)
    return train_pruningnet(space, data, net_config, train_config, out, progress=False)


@pytest.fixture(scope="module")
def trained(space, data, tmp_path_factory) -> Path:
    return _train(space, data, tmp_path_factory.mktemp("pruningnet"), epochs=3)


def test_training_lowers_the_loss_and_saves_the_net(trained: Path) -> None:
    history = load_history(trained.parent / TRAIN_STATE)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["train_loss"] < 0.8 * history[0]["train_loss"]
    assert trained.name == CHECKPOINT and trained.is_file()


def test_evaluator_scores_the_standalone_network_with_generated_weights(space, trained: Path) -> None:
    evaluator = EVALUATORS.create("pruningnet", space, checkpoint=str(trained))
    assert isinstance(evaluator, PruningNetEvaluator)
    arch = space.sample(4)
    result = evaluator.evaluate(arch)
    assert 0.3 < result.metrics["acc"] <= 1.0  # far above chance (0.1) after 3 epochs
    assert result.metrics["val_loss"] > 0
    model = result.model
    reference = space.build(arch).state_dict()
    state = model.state_dict()
    assert state.keys() == reference.keys() and all(state[k].shape == reference[k].shape for k in state)
    generated = evaluator.net.weights_for(arch)
    convs = [k for k in state if k.endswith("weight") and state[k].dim() == 4]
    assert convs and all(torch.equal(state[k], generated[k]) for k in convs)
    # BatchNorm statistics were re-estimated on training batches for this architecture.
    assert not torch.allclose(state["bn1.running_mean"], generated["bn1.running_mean"])
    assert evaluator.evaluate(arch).metrics == result.metrics  # deterministic
    test_acc = evaluator.test_accuracy(arch, model)
    assert 0.3 < test_acc <= 1.0


def test_without_recalibration_the_per_width_statistics_are_used(space, trained: Path) -> None:
    evaluator = PruningNetEvaluator(space, checkpoint=str(trained), bn_batches=0)
    arch = space.sample(2)
    state = evaluator.evaluate(arch).model.state_dict()
    stem_bn = evaluator.net.net.get_submodule("bn1")
    assert isinstance(stem_bn, ChoiceBatchNorm2d)
    own = stem_bn.norm_for(state["bn1.running_mean"].numel())
    assert torch.equal(state["bn1.running_mean"], own.running_mean)


def test_bad_evaluator_options_are_rejected(space, trained: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bn_batches"):
        PruningNetEvaluator(space, checkpoint=str(trained), bn_batches=-1)
    with pytest.raises(ValueError, match="does not exist"):
        PruningNetEvaluator(space, checkpoint=str(tmp_path / "none.pt"))
    other = nasengine.get_space("channel_width", **{**SPACE, "stem_width": 8})
    with pytest.raises(ValueError, match="was trained for space"):
        PruningNetEvaluator(other, checkpoint=str(trained))
    with pytest.raises(ValueError, match="no option"):
        EVALUATORS.create("pruningnet", space, checkpoint=str(trained), epochs=3)


def test_options_split_into_generator_and_training_settings() -> None:
    net, train = split_options({"hidden": 16, "lr": 0.2}, epochs=7, seed=3)
    assert net.hidden == 16 and (train.lr, train.epochs, train.seed) == (0.2, 7, 3)
    with pytest.raises(ValueError, match="unknown MetaPruning pretraining option.*'hiden'.*allowed"):
        split_options({"hiden": 16})


def test_interrupted_training_resumes_to_the_same_weights(space, data, tmp_path: Path, monkeypatch) -> None:
    full = _train(space, data, tmp_path / "full")
    calls = {"n": 0, "stop_at": 21}  # inside the second epoch (16 steps each)
    original = PruningNet.set_arch

    def counting(self, arch):
        calls["n"] += 1
        if calls["n"] == calls["stop_at"]:
            raise KeyboardInterrupt
        original(self, arch)

    monkeypatch.setattr(PruningNet, "set_arch", counting)
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        _train(space, data, out)
    assert (out / TRAIN_STATE).is_file() and not (out / CHECKPOINT).exists()
    assert len(load_history(out / TRAIN_STATE)) == 1
    calls.update(n=0, stop_at=None)
    resumed = _train(space, data, out)
    assert calls["n"] == 32 - 20  # continued from the interrupted step, not from scratch
    monkeypatch.undo()
    a = torch.load(full, weights_only=False)["model"]
    b = torch.load(resumed, weights_only=False)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # A finished run is reused as is; other settings in the same folder are an error.
    stamp = resumed.stat().st_mtime_ns
    assert _train(space, data, out) == resumed and resumed.stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="holds a PruningNet trained with"):
        _train(space, data, out, epochs=3)

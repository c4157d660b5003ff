from __future__ import annotations

import pytest
import torch
from torch import nn

from nasengine.data import load_dataset
from nasengine.train.loop import TrainConfig, evaluate, fit, recalibrate_bn


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10))


def test_training_on_digits_learns():
    data = load_dataset("digits")
    train, val, test = data.loaders(64, seed=0)
    model = _mlp()
    before = evaluate(model, val)["acc"]
    history = fit(model, train, val, TrainConfig(epochs=4, lr=0.1), progress=False)
    assert len(history) == 4 and history[-1]["val_acc"] > 0.85 > before
    assert history[-1]["lr"] < 0.1 * 0.2  # cosine schedule decays


def test_adamw_and_max_steps():
    data = load_dataset("digits")
    train, val, _ = data.loaders(32)
    history = fit(_mlp(), train, val, TrainConfig(epochs=5, optimizer="adamw", lr=3e-3, max_steps=10), progress=False)
    assert history[-1]["step"] == 10 and len(history) == 1


def test_interrupted_training_resumes_from_checkpoint(tmp_path):
    data = load_dataset("digits")
    train, val, _ = data.loaders(64, seed=0)
    cfg = TrainConfig(epochs=3, lr=0.1)
    torch.manual_seed(0)
    init = _mlp().state_dict()
    full, first, resumed = _mlp(), _mlp(), _mlp()
    for m in (full, first, resumed):
        m.load_state_dict(init)
    fit(full, train, val, cfg, progress=False)

    class Stop(Exception):
        pass

    def stop_after_two(record):
        if record["epoch"] == 2:
            raise Stop

    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(Stop):
        fit(first, train, val, cfg, checkpoint=ckpt, progress=False, on_epoch=stop_after_two)
    history = fit(resumed, *data.loaders(64, seed=0)[:2], cfg, checkpoint=ckpt, progress=False)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b)  # the resumed run is the uninterrupted run


def test_bn_recalibration_replaces_stale_statistics():
    data = load_dataset("digits")
    train, val, _ = data.loaders(64)
    model = _mlp()
    fit(model, train, val, TrainConfig(epochs=2, lr=0.1), progress=False)
    good = evaluate(model, val)["acc"]
    bn = model[2]
    bn.running_mean.fill_(5.0)
    bn.running_var.fill_(0.01)
    assert evaluate(model, val)["acc"] < good - 0.2
    recalibrate_bn(model, train, batches=10)
    assert evaluate(model, val)["acc"] > good - 0.05
    assert bn.momentum == 0.1 and not model.training


@pytest.mark.parametrize("kwargs", [{"epochs": 0}, {"optimizer": "adam"}, {"lr": 0}, {"label_smoothing": 1.0}])
def test_train_config_validation(kwargs):
    with pytest.raises(ValueError):
        TrainConfig(**kwargs)


def test_train_arch_writes_a_run_folder(tmp_path):
    import json

    import yaml

    from nasengine.train.run import train_arch
    from tests.toy_space import ToySpace

    space = ToySpace()
    arch = space.arch({"kernel": "k3", "width": 8})
    epochs = []
    metrics = train_arch(space, arch, TrainConfig(epochs=2, lr=0.1), tmp_path / "run", progress=False,
                         on_epoch=lambda r: epochs.append(r["epoch"]))
    assert epochs == [1, 2] and metrics["arch_id"] == arch.id and metrics["val_acc"] > 0.2  # chance is 0.1
    assert metrics == json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["cost"] == space.cost(arch).to_dict() and len(metrics["history"]) == 2
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["space"] == "toy" and config["dataset"] == {"name": "digits", "data_root": None, "augment": False}
    model = space.build(arch)
    model.load_state_dict(torch.load(tmp_path / "run" / "weights.pt"))
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_train_arch_refuses_a_class_count_mismatch_before_writing(tmp_path):
    from nasengine.train.run import train_arch
    from tests.toy_space import ToySpace

    space = ToySpace(num_classes=5)
    with pytest.raises(ValueError, match="digits has 10 classes .* add --set num_classes=10"):
        train_arch(space, space.arch({"kernel": "k3", "width": 4}), TrainConfig(epochs=1), tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("field,value", [
    ("weight_decay", "5e-4"), ("lr", "0.1"), ("momentum", 1.5), ("label_smoothing", 1.0), ("warmup_epochs", -1),
])
def test_train_config_refuses_values_that_are_not_numbers_in_range(field, value):
    with pytest.raises(ValueError, match=f"{field} must be a finite number.*got {value!r}"):
        TrainConfig(**{field: value})


def test_one_shot_config_refuses_a_text_weight_decay():
    from supernet.trainer import OneShotConfig

    with pytest.raises(ValueError, match="weight_decay must be a finite number"):
        OneShotConfig(weight_decay="5e-4")

from __future__ import annotations

import pytest
import torch

import nasengine
from nasengine.data import load_space_data
from supernet.sampling import PathSampler
from supernet.spos import PathSelector
from supernet.trainer import OneShotConfig, load_history, train_one_shot
from tests.supernet.oneshot_helpers import TINY, TINY_CELL


@pytest.fixture(scope="module")
def space():
    return nasengine.get_space("shufflenet", **TINY)


@pytest.fixture(scope="module")
def data(space):
    return load_space_data(space, "digits")


def _train(space, data, path, sampler=None, tb_dir=None, **config):
    torch.manual_seed(0)
    net = space.network()
    train_one_shot(net, sampler or PathSampler(space), PathSelector(net), data, OneShotConfig(**config), path,
                   progress=False, tb_dir=tb_dir)
    return net


# The NASNet cell supernet learns more slowly (a few hundred steps are only a start).
@pytest.mark.parametrize("name, config, lr, drop, acc", [("shufflenet", TINY, 0.1, 0.3, 0.4),
                                                         ("nas_cell", TINY_CELL, 0.05, 0.1, 0.18)])
def test_the_supernet_learns(name, config, lr, drop, acc, tmp_path):
    space = nasengine.get_space(name, **config)
    data = load_space_data(space, "digits")
    _train(space, data, tmp_path / "ck.pt", epochs=5, batch_size=32, lr=lr, tb_dir=tmp_path / "tb")
    history = load_history(tmp_path / "ck.pt")
    assert len(history) == 5 and history[-1]["step"] == 5 * (len(data.train) // 32)
    assert history[-1]["train_loss"] < history[0]["train_loss"] - drop
    assert history[-1]["train_acc"] > acc  # sampled paths; chance is 0.1
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


class _Interrupt:
    """A sampler that raises KeyboardInterrupt once, when asked for the path of ``at``."""

    def __init__(self, sampler, at: int):
        self.sampler, self.at, self.calls = sampler, at, 0

    def __call__(self, rng):
        self.calls += 1
        if self.calls == self.at + 1:
            raise KeyboardInterrupt
        return self.sampler(rng)


def test_interrupted_training_resumes_to_the_same_weights(space, data, tmp_path):
    config = dict(epochs=3, batch_size=64)  # 16 steps per epoch; dropout is on (random state matters)
    straight = _train(space, data, tmp_path / "a.pt", **config)
    done = 0
    for stop in (5, 21):  # inside epochs 1 and 2; the second run resumes the first
        with pytest.raises(KeyboardInterrupt):
            _train(space, data, tmp_path / "b.pt", _Interrupt(PathSampler(space), stop - done), **config)
        assert torch.load(tmp_path / "b.pt", weights_only=False)["step"] == stop
        done = stop
    resumed = _train(space, data, tmp_path / "b.pt", **config)
    for (key, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), key
    assert load_history(tmp_path / "a.pt") != [] and len(load_history(tmp_path / "b.pt")) == 3


def test_resuming_with_other_settings_is_an_error(space, data, tmp_path):
    _train(space, data, tmp_path / "c.pt", epochs=1, max_steps=2)
    with pytest.raises(ValueError, match=r"other settings \(lr 0.1 -> 0.2\)"):
        _train(space, data, tmp_path / "c.pt", epochs=1, max_steps=2, lr=0.2)


def test_unsampled_candidates_are_left_untouched(space, data, tmp_path):
    torch.manual_seed(0)
    net = space.network()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    arch = space.sample(0)
    train_one_shot(net, lambda rng: arch, PathSelector(net), data, OneShotConfig(epochs=1, max_steps=3),
                   tmp_path / "d.pt", progress=False)
    after = net.state_dict()
    chosen = {f"features.{i}.candidates.{arch.choices[f'block{i}']}." for i in range(sum(TINY["stage_repeats"]))}
    changed = {True: [], False: []}
    for key, value in after.items():
        if ".candidates." in key and not key.endswith("num_batches_tracked"):
            changed[any(key.startswith(prefix) for prefix in chosen)].append(not torch.equal(before[key], value))
    assert not any(changed[False]) and len(changed[False]) > len(changed[True])
    assert sum(changed[True]) > 0.9 * len(changed[True])  # a few tiny updates round away in float32


@pytest.mark.parametrize("bad, match", [(dict(epochs=0), "epochs"), (dict(sync="allreduce"), "sync"),
                                        (dict(accumulate=0), "accumulate"), (dict(lr=0), "lr"),
                                        (dict(warmup_epochs=-1), "warmup_epochs")])
def test_bad_settings_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        OneShotConfig(**bad)


def test_batch_must_split_across_micro_batches(space, data, tmp_path):
    with pytest.raises(ValueError, match="divisible by world size x accumulate"):
        _train(space, data, tmp_path / "e.pt", epochs=1, batch_size=30, accumulate=4)


def test_progress_logs_one_line_per_epoch_without_a_terminal(space, data, tmp_path, capsys):
    torch.manual_seed(0)
    config = OneShotConfig(epochs=2, batch_size=512)  # two steps per epoch
    for progress, folder in ((True, "loud"), (False, "quiet")):
        net = space.network()
        train_one_shot(net, PathSampler(space), PathSelector(net), data, config, tmp_path / folder / "state.pt",
                       progress=progress)
        lines = [line for line in capsys.readouterr().err.splitlines() if "epoch" in line]
        if progress:  # pytest's stderr is not a terminal: lines, no bar
            assert [line.split("  ")[0] for line in lines] == ["supernet epoch 1/2", "supernet epoch 2/2"]
            assert all("train loss" in line and "train acc" in line and " lr " in line for line in lines)
        else:
            assert lines == []

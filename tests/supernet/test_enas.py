from __future__ import annotations

import pytest
import torch
from torch import nn

import nasengine
from supernet.enas import STATE_FILE, EnasEvaluator
from tests.supernet.oneshot_helpers import TINY


@pytest.fixture(scope="module")
def space():
    return nasengine.get_space("shufflenet", **TINY)


def test_shared_weights_train_along_each_path_and_reload_exactly(space, tmp_path):
    evaluator = EnasEvaluator(space, run_dir=tmp_path, train_steps=3, warmup_steps=2)
    initial = {k: v.clone() for k, v in evaluator.net.state_dict().items()}
    first = evaluator.evaluate(space.sample(0))
    assert evaluator.step == 2 + 3 and evaluator.evals == 1 and 0 <= first.metrics["acc"] <= 1
    evaluator.evaluate(space.sample(1))
    reloaded = EnasEvaluator(space, run_dir=tmp_path, train_steps=3, warmup_steps=2)
    assert (reloaded.step, reloaded.evals) == (8, 2)
    for key, value in evaluator.net.state_dict().items():
        assert torch.equal(value, reloaded.net.state_dict()[key]), key
    assert any(not torch.equal(v, initial[k]) for k, v in reloaded.net.state_dict().items())
    # The next evaluation continues identically in both.
    arch = space.sample(2)
    assert evaluator.evaluate(arch).metrics == reloaded.evaluate(arch).metrics
    assert set(first.model.state_dict()) < set(evaluator.net.state_dict())  # the standalone network


def test_rewards_leave_the_running_statistics_alone(space):
    evaluator = EnasEvaluator(space, train_steps=1)
    evaluator.evaluate(space.sample(0))
    buffers = {k: v.clone() for k, v in evaluator.net.named_buffers()}
    acc, loss = evaluator._reward(space.sample(3))
    assert all(torch.equal(v, buffers[k]) for k, v in evaluator.net.named_buffers())
    assert (acc, loss) == evaluator._reward(space.sample(3))  # same minibatch, dropout off
    assert evaluator.net.training and all(m.training for m in evaluator.net.modules() if isinstance(m, nn.Dropout))


def test_state_of_other_settings_is_refused(space, tmp_path):
    EnasEvaluator(space, run_dir=tmp_path, train_steps=1).evaluate(space.sample(0))
    assert (tmp_path / STATE_FILE).exists()
    with pytest.raises(ValueError, match="shared weights trained with"):
        EnasEvaluator(space, run_dir=tmp_path, lr=0.2)
    for bad, match in [(dict(train_steps=0), "train_steps"), (dict(warmup_steps=-1), "warmup_steps"),
                       (dict(bn_batches=1.5), "bn_batches")]:
        with pytest.raises(ValueError, match=match):
            EnasEvaluator(space, **bad)

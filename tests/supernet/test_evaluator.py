from __future__ import annotations

import pytest
import torch
from torch import nn

import nasengine
from nasengine.constraints import Constraints
from nasengine.data import load_space_data
from nasengine.nn import select_path
from nasengine.registry import EVALUATORS
from supernet.evaluator import SupernetEvaluator
from supernet.sampling import SamplingConfig
from supernet.spos import train_supernet
from supernet.trainer import OneShotConfig
from tests.supernet.oneshot_helpers import TINY, TINY_CELL, TINY_LAYERS

CASES = {
    "shufflenet": ("shufflenet", TINY),
    "shufflenet_channels": ("shufflenet", dict(TINY, channel_search=True, channel_scales=(0.5, 1.0, 1.5))),
    "nas_cell": ("nas_cell", TINY_CELL),
    "layers": ("layers", TINY_LAYERS),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def trained(request, tmp_path_factory):
    name, config = CASES[request.param]
    space = nasengine.get_space(name, **config)
    out = tmp_path_factory.mktemp(request.param)
    path = train_supernet(space, load_space_data(space, "digits"), Constraints(), SamplingConfig(),
                          OneShotConfig(epochs=1, max_steps=15), out, progress=False)
    return space, path


def test_candidates_inherit_exactly_the_supernet_path(trained):
    space, path = trained
    evaluator = EVALUATORS.create("supernet", space, checkpoint=str(path), bn_batches=0)
    x = torch.randn(space.input_shape(16))
    for seed in range(4):
        arch = space.sample(seed)
        model = evaluator.inherit(arch)
        select_path(evaluator.net, arch)
        with torch.no_grad():
            expected = evaluator.net.eval()(x)
            assert torch.allclose(model(x), expected, rtol=1e-5, atol=1e-6)
        # Every tensor is the leading slice of the supernet's (BN statistics included).
        source = evaluator.net.state_dict()
        for key, value in model.state_dict().items():
            assert torch.equal(value, source[key][tuple(slice(0, n) for n in value.shape)]), key


def test_bn_recalibration_re_estimates_the_statistics_on_training_batches(trained):
    space, path = trained
    evaluator = SupernetEvaluator(space, checkpoint=path, bn_batches=3, batch_size=32)
    model = evaluator.inherit(space.sample(7))
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    before = [m.running_mean.clone() for m in norms]
    evaluator.recalibrate(model)
    assert all(not torch.equal(b, m.running_mean) for b, m in zip(before, norms))
    # The first BN sees the stem conv's output: its new mean is the mean of 3 batch means.
    stem_conv, stem_bn = model.stem[0], model.stem[1]
    batches = [x for _, (x, _) in zip(range(3), evaluator.train_loader)]
    with torch.no_grad():
        means = torch.stack([stem_conv(x).mean((0, 2, 3)) for x in batches])
    assert torch.allclose(stem_bn.running_mean, means.mean(0), atol=1e-6)


def test_evaluation_scores_the_recalibrated_standalone_model(trained):
    space, path = trained
    evaluator = SupernetEvaluator(space, checkpoint=path, bn_batches=2)
    arch = space.sample(1)
    result = evaluator.evaluate(arch)
    assert 0 <= result.metrics["acc"] <= 1 and result.metrics["val_loss"] > 0
    assert set(result.model.state_dict()) < set(evaluator.net.state_dict())
    assert evaluator.evaluate(arch).metrics == result.metrics  # same arch, same batches, same score
    assert 0 <= evaluator.test_accuracy(arch, result.model) <= 1


def test_a_missing_or_foreign_supernet_is_a_clear_error(trained, tmp_path):
    space, path = trained
    with pytest.raises(ValueError, match="--strategy spos"):
        SupernetEvaluator(space)
    with pytest.raises(ValueError, match="does not exist"):
        SupernetEvaluator(space, checkpoint=tmp_path / "none.pt")
    other = nasengine.get_space("shufflenet", **dict(TINY, last_channels=32))
    with pytest.raises(ValueError, match="was trained for space"):
        SupernetEvaluator(other, checkpoint=path)
    with pytest.raises(ValueError, match="bn_batches"):
        SupernetEvaluator(space, checkpoint=path, bn_batches=-1)

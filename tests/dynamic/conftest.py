from __future__ import annotations

import pytest
import torch

from nasengine.dynamic import BackboneConfig, GatedConfig, GatedNetwork, RNPConfig, RNPNetwork


def randomize(net: torch.nn.Module, seed: int = 0, gate_scale: float = 3.0) -> torch.nn.Module:
    """Non-trivial BN statistics and strongly input-dependent decisions, in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
        decision = net.decision if isinstance(net, RNPNetwork) else net.gates if isinstance(net, GatedNetwork) \
            else net.decisions
        for p in decision.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * gate_scale)
    return net.eval()


class Stop(Exception):
    """Raised by the ``stop_after`` callback: an interrupted training."""


def stop_after(epoch: int):
    """An ``on_epoch`` callback interrupting the training after ``epoch``."""

    def on_epoch(record: dict) -> None:
        if record["epoch"] == epoch:
            raise Stop

    return on_epoch


def images(n: int, channels: int = 1, size: int = 8, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    scale = torch.linspace(-3, 3, n).view(n, 1, 1, 1)
    return torch.randn(n, channels, size, size, generator=gen) * scale


def tiny_backbone(kind: str) -> BackboneConfig:
    if kind == "vgg":
        return BackboneConfig(kind="vgg", widths=(8, 16), depths=(2, 2), in_channels=1, input_size=8)
    return BackboneConfig(kind="resnet", widths=(8, 16), depths=(3, 2), in_channels=1, input_size=8)


def tiny_rnp(kind: str = "vgg", cell: str = "gru", seed: int = 0) -> RNPNetwork:
    torch.manual_seed(seed)
    return randomize(RNPNetwork(RNPConfig(tiny_backbone(kind), groups=4, hidden=8, cell=cell)), seed)


def tiny_gated(method: str = "skipnet", gate: str = "feedforward", seed: int = 0) -> GatedNetwork:
    torch.manual_seed(seed)
    net = GatedNetwork(GatedConfig(tiny_backbone("resnet"), method=method, gate=gate, hidden=8))
    return randomize(net, seed)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def diverse(build, x: torch.Tensor, *, routes: int = 3, **kwargs):
    """The first seed's network whose decisions give at least ``routes`` distinct routes on
    ``x``, so that bucketing really splits batches in the tests."""
    for seed in range(40):
        net = build(seed=seed, **kwargs)
        _, route = net.execute(x, return_route=True)
        if len({tuple(r) for r in route.tolist()}) >= routes:
            return net
    raise AssertionError("no seed gives diverse routes")


def assert_bucketing_preserves_order(net, x: torch.Tensor) -> None:
    """Bucketed batches give each image the logits and route it gets alone (the batch-1
    path), and permuting the batch permutes the results."""
    logits, route = net.execute(x, return_route=True)
    singles = [net.execute(x[i: i + 1], return_route=True) for i in range(x.shape[0])]
    torch.testing.assert_close(torch.cat([s[0] for s in singles]), logits, rtol=1e-4, atol=1e-5)
    assert torch.equal(torch.cat([s[1] for s in singles]), route)
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))
    logits_p, route_p = net.execute(x[perm], return_route=True)
    torch.testing.assert_close(logits_p, logits[perm], rtol=1e-4, atol=1e-5)
    assert torch.equal(route_p, route[perm])

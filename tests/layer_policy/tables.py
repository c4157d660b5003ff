"""Random tables of prunable layers for the layer-policy tests."""

from __future__ import annotations

import random

from nasengine.layer_policy import ChannelCost, PrunableLayer


def random_layers(rng: random.Random, n: int | None = None) -> list[PrunableLayer]:
    """A chain of convolutions and a last linear layer, with random widths, some layers
    reading the unpruned network input or an earlier (not the previous) layer, and
    depthwise MACs following some of them."""
    n = n or rng.randint(1, 12)
    layers = []
    size = rng.choice([32, 16, 8])
    for k in range(n):
        cin = 3 if k == 0 else layers[-1].out_channels
        cout = rng.choice([8, 10, 16, 24, 32, 64, 100])
        kernel = rng.choice([1, 3]) if k < n - 1 else 1
        stride = rng.choice([1, 1, 2]) if k < n - 1 else 1
        source = None if k == 0 or rng.random() < 0.15 else rng.choice([k - 1, k - 1, rng.randrange(k)])
        macs = float(cin * cout * kernel * kernel * size * size)
        follow = float(cout * 9 * size * size) if rng.random() < 0.3 else 0.0
        layers.append(PrunableLayer(index=k, in_channels=cin, out_channels=cout, kernel=kernel, stride=stride,
                                    feature_size=size * size, macs=macs, params=float(cin * cout * kernel**2),
                                    input_from=source, follow_macs=follow))
        size = max(1, size // stride)
    return layers


def random_cost(rng: random.Random, n: int | None = None) -> ChannelCost:
    layers = random_layers(rng, n)
    return ChannelCost(layers, fixed_macs=rng.choice([0.0, 0.05 * sum(layer.macs for layer in layers)]))

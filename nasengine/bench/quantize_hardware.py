"""``bench quantize``'s hardware section: where HAQ spends bits on a depthwise-separable
network under the modelled latency of an edge and of a cloud accelerator.

HAQ (Wang et al., CVPR 2019, Section 4.2) reports that its policies for MobileNet differ by
hardware: on the edge accelerator, where depthwise layers are memory bound, they get fewer
(activation) bits; on the cloud one, where the network is compute bound, depthwise layers
get more bits and pointwise layers fewer. Here the two accelerators are the roofline models
``bismo-edge`` and ``bismo-cloud`` (:mod:`nasengine.quantize.hardware`: models, not
measurements), the network a small MobileNetV1-style digits backbone
(:func:`mobile_backbone`), and the limit each seed's uniform policy's modelled latency on
that hardware. The search is HAQ's as published (``reference=0``): the question is where
the agent puts bits, which a kept uniform reference episode would hide. A row
(:class:`nasengine.records.bench_quantize.QuantizeHardwareRow`) gives the mean bits HAQ chose
for the depthwise and the pointwise layers, and the accuracies.
"""

from __future__ import annotations

import statistics
from typing import Callable, Sequence

import torch
from torch import nn

from nasengine.bench.base import mean_std
from nasengine.compress.source import SourceModel
from nasengine.quantize.hardware import ROOFLINES, analytic_table
from nasengine.quantize.layers import quantizable_layers
from nasengine.records.bench_quantize import Bits, QuantizeHardwareRow, QuantizeRun

MOBILE_STEM = 16
#: ``(output channels, stride)`` of each depthwise-separable block.
MOBILE_BLOCKS = ((32, 1), (64, 2), (64, 1), (128, 2), (128, 1))
#: ``(epochs, learning rate)`` that train it (15 epochs at 0.02 end near 0.96 on the validation split).
MOBILE_TRAINING = (30, 0.05)
Runner = Callable[..., QuantizeRun]  #: ``run(key, **QuantizeConfig settings)``, logged and resumed


def _conv(cin: int, cout: int, kernel: int, stride: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def mobile_backbone(width_mult: float = 1.0, *, image_channels: int = 3, num_classes: int = 10) -> nn.Sequential:
    """A MobileNetV1-style network for 32x32 images: a 3x3 stem, then each block of
    :data:`MOBILE_BLOCKS` as a 3x3 depthwise and a 1x1 pointwise convolution (each with
    BatchNorm and ReLU), global pooling and a linear classifier; freshly initialised."""
    def scaled(width: int) -> int:
        return max(2, int(round(width * width_mult)))

    cin = scaled(MOBILE_STEM)
    layers: list[nn.Module] = [_conv(image_channels, cin, 3, 1)]
    for width, stride in MOBILE_BLOCKS:
        cout = scaled(width)
        layers += [_conv(cin, cin, 3, stride, groups=cin), _conv(cin, cout, 1, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)


def _mean_bits(policies: Sequence[Bits], names: Sequence[str], which: int) -> list[float]:
    """Per policy, the mean bits (``which`` 0: weights, 1: activations) of the layers ``names``."""
    return [round(statistics.fmean(bits[name][which] for name in names), 3) for bits in policies]


def latency_model(source: SourceModel, hardware: str) -> Callable[[Bits], float]:
    """The modelled latency of a policy of ``source`` on accelerator ``hardware`` (ms per batch
    of its table)."""
    layers = quantizable_layers(source.model, torch.zeros(2, *source.input_shape))
    cost = analytic_table(hardware, layers).cost(layers)
    return lambda bits: float(cost([tuple(bits[layer.name]) for layer in layers]))


def hardware_rows(source: SourceModel, run: Runner, *, bits: int, seeds: int, hardware: Sequence[str],
                  settings: dict, notes: list[str]) -> list[QuantizeHardwareRow]:
    """For each of ``hardware`` (roofline models), HAQ at each seed's uniform ``bits``-bit
    modelled latency on it, with ``settings`` (fine-tuning, search); one row per hardware."""
    layers = quantizable_layers(source.model, torch.zeros(2, *source.input_shape))
    inner = layers[1:-1]  # the first and last stay at 8 bits
    depthwise = [layer.name for layer in inner if layer.depthwise]
    pointwise = [layer.name for layer in inner if not layer.depthwise and layer.kernel == 1]
    common = {k: v for k, v in settings.items() if k != "options"}
    # HAQ's search as published (no uniform reference episode): the question here is where the
    # agent puts bits on each hardware, which a kept uniform reference would not show
    published = {**settings, "options": {**settings["options"], "reference": 0}}
    uniform = [run(f"mobilenet/uniform{bits}/s{seed}", method="uniform", bits=bits, seed=seed, **common)
               for seed in range(seeds)]
    rows = []
    for name in hardware:
        latency = latency_model(source, name)
        found = [run(f"mobilenet/haq-{name}{bits}/s{seed}", method="haq", hardware=name,
                     max_latency_ms=latency(u.policy), seed=seed, **published)
                 for seed, u in enumerate(uniform)]
        rows.append(_row(name, bits, found, uniform, depthwise, pointwise, latency, notes))
    return rows


def _row(name: str, bits: int, found: list[QuantizeRun], uniform: list[QuantizeRun], depthwise: list[str],
         pointwise: list[str], latency: Callable[[Bits], float], notes: list[str]) -> QuantizeHardwareRow:
    policies = [r.policy for r in found]
    stats = {f"{kind}_{what}_bits_per_seed": _mean_bits(policies, names, which)
             for kind, names in (("depthwise", depthwise), ("pointwise", pointwise))
             for what, which in (("w", 0), ("a", 1))}
    means = {key.removesuffix("_per_seed"): round(statistics.fmean(values), 3) for key, values in stats.items()}
    return QuantizeHardwareRow(
        kind="hardware", backbone="mobilenet", hardware=name, hardware_model=ROOFLINES[name].description,
        policy=f"haq @ modelled {name} latency of uniform {bits}", seeds=len(found), **means, **stats,
        acc_before=mean_std([r.quantized_val_acc for r in found])[0],
        acc_after=mean_std([r.finetuned_val_acc or 0.0 for r in found])[0],
        test_before=mean_std([r.quantized_test_acc for r in found])[0],
        test_after=mean_std([r.test_acc for r in found])[0],
        uniform_test_before=mean_std([r.quantized_test_acc for r in uniform])[0],
        uniform_test_after=mean_std([r.test_acc for r in uniform])[0],
        latency_ms_per_seed=[float(f"{latency(r.policy):.6g}") for r in found],
        uniform_latency_ms=float(f"{latency(uniform[0].policy):.6g}"),
        bits_per_seed=policies, best_episode_per_seed=[r.best_episode for r in found], depthwise_layers=depthwise,
        pointwise_layers=pointwise, notes=notes)

"""``nasengine bench supernet``: what a one-shot training step costs over a standalone one.

For sampled architectures of each case, one supernet step (choose the path, forward,
backward, SGD step on the whole supernet's optimizer) and one step of the standalone
network of the same architecture (same batch, same loss, its own optimizer) are timed
alternately; the ratio of their medians is the one-shot overhead (target <= 1.15). Both
run the one-shot trainer's update function, so the figure is the trainer's real cost.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch

from nasengine.bench.base import BenchSuite, Rows
from nasengine.registry import get_space
from nasengine.train.loop import make_optimizer
from nasengine.utils.timing import time_calls
from supernet.distributed import World
from supernet.spos import PathSelector
from supernet.trainer import OneShotConfig, update_step

#: (name, space, config, batch size): the digits setting, a CIFAR-size SPOS supernet,
#: channel search (elastic slicing) and the ENAS micro space.
CASES: list[tuple[str, str, dict[str, Any], int]] = [
    ("shufflenet_digits", "shufflenet", dict(input_size=8, num_classes=10, in_channels=1, stem_channels=8,
                                             stem_stride=1, stage_repeats=(1, 1, 2, 1),
                                             stage_channels=(16, 24, 32, 48), last_channels=64), 64),
    ("shufflenet_32px", "shufflenet", dict(input_size=32, num_classes=10, stem_stride=1,
                                           stage_channels=(48, 96, 192, 384), last_channels=512), 32),
    ("shufflenet_channels_32px", "shufflenet", dict(input_size=32, num_classes=10, stem_stride=1,
                                                    stage_repeats=(2, 2, 4, 2), stage_channels=(48, 96, 192, 384),
                                                    last_channels=512, channel_search=True), 32),
    ("nas_cell_enas_32px", "nas_cell", dict(stem="cifar", input_size=32, filters=16, cells_per_stage=1,
                                            num_classes=10, blocks=3, output_choices=False,
                                            ops=("identity", "sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3",
                                                 "max_pool_3x3")), 32),
]


def step_ratio(space: Any, arch_seed: int, batch: int, repeats: int) -> dict[str, float]:
    """Median milliseconds of a supernet step and a standalone step for one sampled arch."""
    config = OneShotConfig(batch_size=batch)
    torch.manual_seed(arch_seed)
    net = space.network()
    select = PathSelector(net)
    arch = space.sample(arch_seed)
    alone = space.build(arch, from_supernet=net)
    opt_net = make_optimizer(net, config.optimizer_config())
    opt_alone = make_optimizer(alone, config.optimizer_config())
    x = torch.randn(space.input_shape(batch))
    y = torch.randint(0, space.config.num_classes, (batch,))
    w = World()
    net.train()
    alone.train()

    def supernet_step() -> None:
        select(net, arch)
        update_step(net, net, opt_net, x, y, config, w)

    def standalone_step() -> None:
        update_step(alone, alone, opt_alone, x, y, config, w)

    # Round 0 runs the standalone step first; the order alternates after that.
    alone_ms, super_ms = time_calls([standalone_step, supernet_step], warmup=3, repeats=repeats, alternate=True)
    return {"supernet_ms": super_ms, "standalone_ms": alone_ms, "ratio": super_ms / alone_ms}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--archs", type=int, default=8, help="sampled architectures per case")
    parser.add_argument("--repeats", type=int, default=20, help="timed steps per architecture")


def bench_supernet(args: argparse.Namespace) -> Rows:
    """Supernet-step / standalone-step ratio per case (median over sampled archs)."""
    archs, repeats = args.archs, args.repeats
    if archs < 1 or repeats < 1:
        raise ValueError(f"--archs and --repeats must be >= 1, got {archs} and {repeats}")
    rows = []
    for name, space_name, config, batch in CASES:
        space = get_space(space_name, **config)
        per_arch = [step_ratio(space, seed, batch, repeats) for seed in range(archs)]
        ratios = [r["ratio"] for r in per_arch]
        t0 = time.perf_counter()
        for seed in range(200):
            space.sample(seed)
        rows.append({"case": name, "space": space_name, "batch": batch, "archs": archs, "repeats": repeats,
                     "median_ratio": round(statistics.median(ratios), 3), "max_ratio": round(max(ratios), 3),
                     "supernet_ms": round(statistics.median(r["supernet_ms"] for r in per_arch), 3),
                     "standalone_ms": round(statistics.median(r["standalone_ms"] for r in per_arch), 3),
                     "sample_ms": round((time.perf_counter() - t0) / 200 * 1e3, 3),
                     "per_arch_ratio": [round(r, 3) for r in ratios]})
    return rows


#: ``nasengine bench supernet`` (entry point ``supernet`` of ``nasengine.bench``).
SUITE = BenchSuite(help="one-shot training step cost over a standalone step (target <= 1.15)",
                   add_arguments=add_arguments, run=bench_supernet)

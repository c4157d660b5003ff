"""``nasengine bench metapruning``: MetaPruning against uniform width multipliers at equal MACs.

On digits with the small channel-width backbone: train a PruningNet, run the evolutionary
search under a MACs limit with PruningNet-generated weights, then train from scratch, with
the same budget and seeds, the best architecture found and the uniform-width network with
the most MACs within the limit (what MetaPruning's paper compares against). Test accuracy
is reported as mean and standard deviation over the seeds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
import torch

from nasengine.arch import Arch
from nasengine.bench.base import BenchSuite, Rows
from nasengine.constraints import Constraints
from nasengine.controller import suggest_arch
from nasengine.cost import human, parse_amount
from nasengine.data import DataSplits, load_space_data
from nasengine.registry import CONTROLLERS, get_space
from nasengine.space import SearchSpace
from nasengine.train.loop import TrainConfig, evaluate, fit
from supernet.metapruning import PruningNetEvaluator, split_options, train_pruningnet

#: The benchmark's space: the small residual CNN on native 8x8 digits, two blocks per
#: stage (10 width decisions), MetaPruning's floor rounding so every width option differs.
SPACE_CONFIG: dict[str, Any] = {"backbone": "small", "input_size": 8, "in_channels": 1, "num_classes": 10,
                                "rounding": "floor", "stage_repeats": (2, 2, 2)}
#: Without --max-macs the limit is the MACs of the uniform network at this multiplier.
DEFAULT_WIDTH = 0.5


def uniform_arch(space: SearchSpace, limit: float) -> Arch:
    """The uniform-width network (one multiplier everywhere) with the most MACs <= ``limit``."""
    options = space.decisions()[0].options
    archs = [space.arch({d.name: w for d in space.decisions()}) for w in options]
    fitting = [a for a in archs if space.cost(a).macs <= limit]
    if not fitting:
        raise ValueError(f"no uniform-width network fits within {human(limit)} MACs; the narrowest needs "
                         f"{human(min(space.cost(a).macs for a in archs))}")
    return max(fitting, key=lambda a: space.cost(a).macs)


def evolution_search(space: SearchSpace, evaluator: PruningNetEvaluator, limit: float, trials: int,
                     seed: int) -> tuple[Arch, float]:
    """Best architecture (and its PruningNet validation accuracy) of an evolutionary search."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    limits = Constraints(max_macs=limit)
    sampler = CONTROLLERS.create("evolution", space, seed=seed)
    sampler.set_constraint(lambda arch: limits.feasible(space, arch))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(lambda t: evaluator.evaluate(suggest_arch(t, space)).metrics["acc"], n_trials=trials)
    best = study.best_trial
    return space.arch(best.params), float(best.value)


def retrain(space: SearchSpace, arch: Arch, data: DataSplits, epochs: int, seed: int) -> dict[str, float]:
    """Train ``arch`` from scratch; validation and test accuracy."""
    torch.manual_seed(seed)
    model = space.build(arch)
    train_loader, val_loader, test_loader = data.loaders(64, seed=seed)
    history = fit(model, train_loader, val_loader, TrainConfig(epochs=epochs, seed=seed), progress=False)
    return {"val_acc": history[-1]["val_acc"], "test_acc": evaluate(model, test_loader)["acc"]}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", type=int, default=10, help="seeds per retrained network")
    parser.add_argument("--trials", type=int, default=50, help="trials of the evolutionary search")
    parser.add_argument("--pretrain-epochs", type=int, default=30, help="PruningNet training epochs")
    parser.add_argument("--retrain-epochs", type=int, default=30, help="from-scratch training epochs")
    parser.add_argument("--max-macs", help="MACs limit, e.g. 400K (default: the uniform 0.5x net's)")


def bench_metapruning(args: argparse.Namespace) -> Rows:
    """MetaPruning's best architecture and the uniform-width one, retrained over seeds."""
    for name in ("seeds", "trials", "pretrain_epochs", "retrain_epochs"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    space = get_space("channel_width", **SPACE_CONFIG)
    data = load_space_data(space, "digits")
    if args.max_macs is None:
        limit = float(space.cost(space.arch({d.name: DEFAULT_WIDTH for d in space.decisions()})).macs)
    else:
        limit = parse_amount(args.max_macs)
    Constraints(max_macs=limit).check_satisfiable(space)
    uniform = uniform_arch(space, limit)

    with tempfile.TemporaryDirectory() as work:
        net_config, train_config = split_options({}, epochs=args.pretrain_epochs, seed=0)
        t0 = time.perf_counter()
        checkpoint = train_pruningnet(space, data, net_config, train_config, Path(work), progress=True)
        pretrain_s = time.perf_counter() - t0
        evaluator = PruningNetEvaluator(space, checkpoint=str(checkpoint))
        t0 = time.perf_counter()
        best, best_predicted = evolution_search(space, evaluator, limit, args.trials, seed=0)
        search_s = time.perf_counter() - t0
        uniform_predicted = evaluator.evaluate(uniform).metrics["acc"]

    rows = []
    for method, arch, predicted in (("metapruning", best, best_predicted), ("uniform", uniform, uniform_predicted)):
        runs = [retrain(space, arch, data, args.retrain_epochs, seed) for seed in range(args.seeds)]
        test = [r["test_acc"] for r in runs]
        cost = space.cost(arch)
        rows.append({
            "method": method, "max_macs": int(limit), "macs": cost.macs, "params": cost.params,
            "test_acc_mean": round(statistics.fmean(test), 4),
            "test_acc_std": round(statistics.stdev(test), 4) if len(test) > 1 else 0.0,
            "val_acc_mean": round(statistics.fmean(r["val_acc"] for r in runs), 4),
            "pruningnet_val_acc": round(predicted, 4), "seeds": args.seeds, "epochs": args.retrain_epochs,
            "test_accs": [round(a, 4) for a in test], "choices": dict(arch.choices),
        })
    rows[0].update({"pretrain_epochs": args.pretrain_epochs, "trials": args.trials,
                    "pretrain_s": round(pretrain_s, 1), "search_s": round(search_s, 1)})
    return rows


#: ``nasengine bench metapruning`` (entry point ``metapruning`` of ``nasengine.bench``).
SUITE = BenchSuite(help="MetaPruning against uniform width multipliers at equal MACs",
                   add_arguments=add_arguments, run=bench_metapruning)

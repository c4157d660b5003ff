"""``nasengine bench compress-latency``: the compression methods under a latency limit
(AMC's "50% time" setting), predicted against measured.

On the plain digits backbones of ``bench compress`` (the same trained source networks, saved
in ``--runs``), each seed's source gets a latency table (``build_network_table``: every
layer timed over a grid of kept channel fractions, the rest of the network fitted); every
method then prunes it to ``--max-latency`` of its predicted latency, with no MACs limit. A
row holds the limit, the predicted and the measured milliseconds of the source and of the
result (the source and every method's result timed together with the table's timing, in the
same rounds, after all methods ran), the prediction's error, the uniform-width networks the
table's rest term was fitted on as timed then and now (``fitted_networks``: the machine's
drift between the two sessions), the
measured speedup, the MAC reduction, and the test accuracy before and after the same short
fine-tuning.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path
from typing import Any

from nasengine.bench.base import BenchSuite, comma_names
from nasengine.bench.compress import (
    SOURCE_SETTINGS,
    add_shared_arguments,
    amc_options,
    check_arguments,
    require_same_settings,
    trained_source,
)
from nasengine.bench.compress_measures import BACKBONE_WIDTHS
from nasengine.compress.graph import prunable_layers
from nasengine.compress.latency import LatencyLimit, PlanLatency, parse_latency_limit
from nasengine.compress.latency_build import build_network_table
from nasengine.compress.method import MethodInput
from nasengine.compress.methods import METHODS
from nasengine.compress.prune import prune_to_ratios
from nasengine.compress.run import calibration_batches
from nasengine.cost import count_cost
from nasengine.data import load_dataset
from nasengine.train.loop import TrainConfig, evaluate, fit
from nasengine.utils.timing import CLOCKS, Timing, pinned_threads


def bench_compress_latency(args: argparse.Namespace) -> list[dict[str, Any]]:
    check_arguments(args)
    parse_latency_limit(args.max_latency, 1.0)  # a bad limit fails before any training
    backbones = comma_names(args.backbones, tuple(BACKBONE_WIDTHS), "--backbones")
    methods = comma_names(args.methods, tuple(METHODS), "--methods")
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    require_same_settings(runs, "sources.json", args, SOURCE_SETTINGS)
    data = load_dataset("digits", image_size=32, channels=3)
    rows = []
    with pinned_threads(args.threads):
        for seed in range(args.seeds):
            for kind in backbones:
                rows += _one_source(kind, seed, args, data, runs, methods)
    return rows


def _one_source(kind: str, seed: int, args: argparse.Namespace, data: Any, runs: Path,
                methods: list[str]) -> list[dict[str, Any]]:
    source = trained_source(kind, seed, args, data, runs)
    train, val, test = data.loaders(64, seed=seed)
    calibration = calibration_batches(data, args.calibration_images)
    example = calibration[0][:2]
    shape = tuple(example.shape[1:])
    timing = Timing(batch=1, threads=args.threads, warmup=args.warmup, repeats=args.repeats, clock=args.clock)
    t0 = time.perf_counter()
    table = build_network_table(source, shape, timing)
    table_seconds = time.perf_counter() - t0
    predict = PlanLatency(source, example, table)
    latency = LatencyLimit(predict, parse_latency_limit(args.max_latency, predict({})))
    source_macs = count_cost(source, (1, *shape)).macs
    source_acc = evaluate(source, test)["acc"]
    layers = prunable_layers(source, example)
    rows, results = [], []
    for method in methods:
        t0 = time.perf_counter()
        task = MethodInput(source, example, source_macs, layers, calibration, seed,
                           score=lambda net: evaluate(net, val)["acc"],
                           options=amc_options(args) if method == "amc" else {}, latency=latency)
        pruned = METHODS[method].run(task)
        seconds = time.perf_counter() - t0
        predicted = predict(pruned.ratios)
        acc_pruned = evaluate(pruned.model, test)["acc"]
        results.append(copy.deepcopy(pruned.model))
        fit(pruned.model, train, None, TrainConfig(epochs=args.finetune_epochs, lr=args.finetune_lr, seed=seed),
            progress=False)
        rows.append({"backbone": kind, "seed": seed, "method": method, "limit": args.max_latency,
                     "limit_ms": round(latency.limit_ms, 4), "source_predicted_ms": round(predict({}), 4),
                     "predicted_ms": round(predicted, 4), "within_limit": predicted <= latency.limit_ms,
                     "mac_reduction": round(source_macs / count_cost(pruned.model, (1, *shape)).macs, 3),
                     "source_acc": round(source_acc, 4), "acc_pruned": round(acc_pruned, 4),
                     "acc_finetuned": round(evaluate(pruned.model.eval(), test)["acc"], 4),
                     "method_seconds": round(seconds, 1), "table_seconds": round(table_seconds, 1),
                     "table_calibration": table.calibration, "ratios": pruned.ratios})
    # The source, every result and the networks the rest term was fitted on, timed in the
    # same rounds with the table's timing: how far those networks moved since the table was
    # made tells the machine's drift between sessions from the table's own error.
    widths = table.calibration["widths"]
    fitted = [prune_to_ratios(source, example, {info.name: w for info in layers}, selection="first") for w in widths]
    source_ms, *measured = timing.time_modules([(m, shape) for m in (copy.deepcopy(source), *results, *fitted)])
    measured, again = measured[:len(results)], measured[len(results):]
    drift = {"widths": widths, "table_ms": [round(v, 4) for v in table.calibration["network_ms"]],
             "predicted_ms": [round(predict({info.name: w for info in layers}), 4) for w in widths],
             "now_ms": [round(v, 4) for v in again]}
    for row, ms in zip(rows, measured):
        row.update(source_measured_ms=round(source_ms, 4), measured_ms=round(ms, 4), fitted_networks=drift,
                   prediction_error=round(row["predicted_ms"] / ms - 1, 4), measured_within_limit=ms <= row["limit_ms"],
                   measured_speedup=round(source_ms / ms, 3))
        print(f"compress-latency {kind} seed {seed} {row['method']}: limit {row['limit_ms']:.3f} ms, predicted "
              f"{row['predicted_ms']:.3f}, measured {ms:.3f} (source {source_ms:.3f}); "
              f"acc {row['acc_pruned']:.3f} -> {row['acc_finetuned']:.3f}", file=sys.stderr, flush=True)
    return rows


def _arguments(p: argparse.ArgumentParser) -> None:
    add_shared_arguments(p, backbones="vgg", seeds=1, amc_episodes=30)
    p.add_argument("--max-latency", default="50%", help="latency limit: of the source's predicted latency (50%%) "
                                                        "or milliseconds (3ms)")
    p.add_argument("--warmup", type=int, default=10, help="untimed calls per module (table and measurement)")
    p.add_argument("--repeats", type=int, default=30, help="timed rounds per module (the median is kept)")
    p.add_argument("--clock", default="wall", choices=CLOCKS, help="wall time, or CPU time of the calling thread "
                                                                  "(thread: 1 thread; for busy machines)")


COMPRESS_LATENCY_SUITE = BenchSuite(help="uniform, l1, lasso, amc under a latency limit on the digits backbones: "
                                         "predicted against measured latency, accuracy",
                                    add_arguments=_arguments, run=bench_compress_latency)

"""``nasengine latency build|check|predict``: latency lookup tables of a search space, and
``latency build --model``: the table of one trained network that ``nasengine compress
--max-latency-ms`` prunes to."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace

from nasengine.cli.common import UsageError, add_force_option, make_space, parse_sets, read_arch_text, resolve_arch
from nasengine.latency.table import LatencyTable, build_table, check_table
from nasengine.utils.devices import resolve_device
from nasengine.utils.run_folder import refuse_existing
from nasengine.utils.timing import CLOCKS, Timing
from nasengine.utils.validation import output_path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("latency", help="latency lookup tables: build, check, predict")
    lat = p.add_subparsers(dest="latency_command", required=True)

    build = lat.add_parser("build", help="time every candidate op of a space (--space), or every layer of a "
                                         "network at reduced widths (--model), on a device")
    build.add_argument("--space")
    build.add_argument("--set", action="append", metavar="KEY=VALUE", help="space config value (repeatable)")
    build.add_argument("--model", help="a network to compress: export folder, arch JSON (with --weights), "
                                       "torchvision:NAME or timm:NAME (with --weights)")
    build.add_argument("--weights", help="local state dict file for --model (as nasengine compress)")
    build.add_argument("--image-size", type=int, help="input size of a torchvision / timm --model (default 224)")
    build.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    build.add_argument("--batch", type=int, default=1, help="batch size the table is for")
    build.add_argument("--threads", type=int, default=1, help="torch threads (pinned while timing)")
    build.add_argument("--warmup", type=int, default=10, help="untimed calls per module")
    build.add_argument("--repeats", type=int, default=30, help="timed calls per module (the median is kept)")
    build.add_argument("--clock", default="wall", choices=CLOCKS,
                       help="wall time, or CPU time of the calling thread (cpu, 1 thread; for busy machines)")
    build.add_argument("--calibrate", type=int, default=10, help="random archs timed end to end to measure the glue")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--out", required=True, help="table file (JSON; an existing one is refused)")
    add_force_option(build, "an existing table file --out")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    build.set_defaults(func=cmd_build)

    check = lat.add_parser("check", help="time random archs end to end and report the predictor's error")
    check.add_argument("table")
    check.add_argument("--samples", type=int, default=20)
    check.add_argument("--seed", type=int, default=0)
    check.add_argument("--json", help="also write the report (every arch) to this JSON file")
    check.add_argument("--quiet", action="store_true", help="no progress bar")
    check.set_defaults(func=cmd_check)

    predict = lat.add_parser("predict", help="predicted latency of one architecture")
    predict.add_argument("table")
    predict.add_argument("--arch", required=True, help="arch JSON file, export folder, inline JSON, or preset name")
    predict.set_defaults(func=cmd_predict)


def cmd_build(args: argparse.Namespace) -> int:
    from nasengine.bench.suites import machine_info

    if (args.space is None) == (args.model is None):
        raise UsageError("give one of --space (a search space's table) or --model (a network's table)")
    resolve_device(args.device)
    output_path("--out", args.out, folder=False)
    timing = Timing(device=args.device, batch=args.batch, threads=args.threads, warmup=args.warmup,
                    repeats=args.repeats, clock=args.clock)
    if args.model is not None:
        return _build_network(args, timing, machine_info())
    space = make_space(args.space, parse_sets(args.set))
    refuse_existing(args.out, force=args.force)  # before minutes of timing, not after
    try:
        table = build_table(space, timing, calibrate=args.calibrate, seed=args.seed, machine=machine_info(),
                            progress=not args.quiet)
    except NotImplementedError as exc:
        raise UsageError(str(exc)) from None
    path = table.save(args.out)
    print(f"{len(table.entries)} units of {args.space} timed on {args.device} (batch {args.batch}, "
          f"{args.threads} thread{'s' * (args.threads > 1)}); overhead {table.overhead_ms:.3f} ms "
          f"(fixed {table.fixed_ms:.3f} + glue {table.glue_ms:.3f}) -> {path}")
    return 0


def _build_network(args: argparse.Namespace, timing: Timing, machine: dict) -> int:
    from nasengine.compress.latency_build import build_network_table
    from nasengine.compress.layers import PruningError
    from nasengine.compress.source import load_source

    if args.set:
        raise UsageError("--set configures a space; with --model there is nothing to set")
    try:
        source = load_source(args.model, weights=args.weights, image_size=args.image_size)
        refuse_existing(args.out, force=args.force)
        table = build_network_table(source.model, source.input_shape, timing, source=source.description,
                                    machine=machine, progress=not args.quiet)
    except PruningError as exc:
        raise UsageError(str(exc)) from None
    path = table.save(args.out)
    cal = table.calibration
    print(f"{len(table.layers)} layers of {args.model} timed at reduced widths on {args.device} (batch {args.batch}, "
          f"{args.threads} thread{'s' * (args.threads > 1)}); whole network {cal['network_ms'][-1]:.3f} ms, "
          f"rest {table.rest_ms:.3f} + {table.rest_slope_ms:.3f} * kept ms -> {path}")
    return 0


def _table_and_space(path: str):
    table = LatencyTable.load(path)
    space = make_space(table.space, table.config)
    table.check_space(space, path)  # every unit of the space has a time
    return table, space


def cmd_check(args: argparse.Namespace) -> int:
    from nasengine.bench.suites import machine_info

    if args.json:
        output_path("--json", args.json, folder=False)
    table, space = _table_and_space(args.table)
    here = machine_info()
    if any(table.machine.get(k) != here[k] for k in ("processor", "cuda")) and table.machine:
        print(f"note: the table was measured on {table.machine.get('processor')} / {table.machine.get('cuda')}, "
              f"this is {here['processor']} / {here['cuda']}", file=sys.stderr)
    report = check_table(table, space, samples=args.samples, seed=args.seed, progress=not args.quiet)
    t = table.timing
    print(f"{args.samples} random {table.space} archs on {t.device} (batch {t.batch}, threads {t.threads}, "
          f"{t.clock} clock)")
    print(f"  mean relative error {report.mean_rel_error:.2%}  max {report.max_rel_error:.2%}  "
          f"(without glue: mean {report.mean_rel_error_without_glue:.2%})")
    print(f"  Kendall tau {report.kendall_tau:.3f}  Spearman rho {report.spearman_rho:.3f}")
    measured = [r.measured_ms for r in report.rows]
    print(f"  measured {min(measured):.3f} .. {max(measured):.3f} ms")
    if args.json:
        replace(report, table=str(args.table), machine=here).save(args.json)
        print(f"  report: {args.json}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    table, space = _table_and_space(args.table)
    # resolve_arch lets the given config override the arch's own; an arch that carries a config must
    # keep it, or check_space would compare the table's config with itself and never refuse.
    sets = {} if _carries_config(args.arch) else table.config
    arch_space, arch = resolve_arch(args.arch, table.space, sets)
    table.check_space(arch_space)
    print(f"arch {arch.id}: {table.predict(space, arch):.3f} ms predicted on {table.timing.device} "
          f"(batch {table.timing.batch}, threads {table.timing.threads})")
    return 0


def _carries_config(arch_arg: str) -> bool:
    """Whether ``--arch`` is a full arch document (``choices`` with its own ``config``)."""
    text = read_arch_text(arch_arg)
    if text is None:  # a preset name: built under the table's config
        return False
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return False  # resolve_arch reports the bad JSON
    return isinstance(data, dict) and "choices" in data and "config" in data

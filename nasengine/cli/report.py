"""``nasengine report``: compare search runs with retrained hand-designed baselines."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Callable

from nasengine.cli.common import UsageError, add_threads_option, apply_threads, deprecated_alias
from nasengine.data import DATASETS
from nasengine.utils.validation import finite_number, output_path

DEFAULTS = {"seeds": 3, "epochs": 10, "top_k": 1, "random": 0, "batch_size": 64, "lr": 0.05, "warmup_epochs": 0.0,
            "baseline_size": 32, "latency_runs": 50}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="compare runs with retrained baselines: report.md, report.html, figures")
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="search run folders (each holds result.json), compress or quantize output folders "
                        "(compress.json, quantize.json), or bench quantize result files (quantize.json)")
    p.add_argument("--baselines", default="",
                   help="comma-separated torchvision:NAME / timm:NAME, e.g. "
                        "torchvision:shufflenet_v2_x0_5,timm:mobilenetv3_small_050")
    p.add_argument("--seeds", type=int, default=DEFAULTS["seeds"], help="trainings per network (mean +- std)")
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"], help="epochs per training, same for all")
    p.add_argument("--top-k", type=int, default=DEFAULTS["top_k"], help="best architectures retrained per run")
    deprecated_alias(p, "--top", "--top-k", type=int)
    p.add_argument("--random", type=int, default=DEFAULTS["random"],
                   help="random architectures under each run's limits retrained beside the found ones (same budget)")
    p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    p.add_argument("--warmup-epochs", type=float, default=DEFAULTS["warmup_epochs"],
                   help="linear learning-rate warm-up before the cosine decay")
    p.add_argument("--baseline-size", type=int, default=DEFAULTS["baseline_size"],
                   help="square input size of the baselines (images are resized, grey repeated to 3 channels)")
    p.add_argument("--latency-runs", type=int, default=DEFAULTS["latency_runs"],
                   help="timed batch-1 CPU passes per network (median reported)")
    p.add_argument("--dataset", choices=DATASETS, help="data to retrain on (default: the runs' dataset)")
    p.add_argument("--data-root", help="folder of a local dataset (cifar10, cifar100, imagefolder)")
    p.add_argument("--out", required=True, help="output folder (finished trainings cached there; reruns resume)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_threads_option(p)
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from nasengine.report.baselines import RetrainConfig, parse_baselines
    from nasengine.report.compressed import compress_report, is_compress_folder
    from nasengine.report.quantize_bench import is_quantize_bench, quantize_bench_report
    from nasengine.report.quantized import is_quantize_folder, quantize_report

    compressed = [run for run in args.runs if is_compress_folder(run)]
    if compressed:
        return _records_report(args, compressed, "compress", compress_report)
    quantized = [run for run in args.runs if is_quantize_folder(run)]
    if quantized:
        return _records_report(args, quantized, "quantize", quantize_report)
    benches = [run for run in args.runs if is_quantize_bench(run)]
    if benches:
        return _records_report(args, benches, "bench quantize", quantize_bench_report)
    specs = parse_baselines(args.baselines)  # unknown prefixes / models fail before any work
    for run in args.runs:
        if not (Path(run) / "result.json").is_file():
            raise UsageError(f"RUN {run!r} has no result.json (pass folders written by `nasengine search --out`, "
                             "or by `nasengine compress --out` or `nasengine quantize --out`: they hold compress.json "
                             "or quantize.json)")
    for name in ("seeds", "epochs", "top_k", "batch_size", "baseline_size", "latency_runs"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.random < 0:
        raise UsageError(f"--random must be >= 0, got {args.random}")
    finite_number("--lr", args.lr, low=0, low_open=True, high=None)
    finite_number("--warmup-epochs", args.warmup_epochs, low=0, high=None)
    output_path("--out", args.out, folder=True)
    apply_threads(args.threads)  # the report's machine info records the count
    from nasengine.report import ReportConfig, make_report

    retrain = RetrainConfig(epochs=args.epochs, seeds=args.seeds, batch_size=args.batch_size, lr=args.lr,
                            warmup_epochs=args.warmup_epochs, baseline_size=args.baseline_size, latency_runs=args.latency_runs)
    cfg = ReportConfig(runs=tuple(args.runs), baselines=tuple(str(s) for s in specs), retrain=retrain, top=args.top_k,
                       random=args.random, dataset=args.dataset, data_root=args.data_root, out=args.out,
                       command=command_line(args))
    files = make_report(cfg, progress=not args.quiet)
    print(files["summary"].read_text(encoding="utf-8"), end="")
    print(f"wrote {files['markdown']}, {files['html']} and {len(files) - 3} figures in {args.out}/")
    return 0


def _records_report(args: argparse.Namespace, folders: list[str], kind: str,
                    make: Callable[..., dict[str, Path]]) -> int:
    """Compress or quantize runs only (``kind``): their records, tables and figures; nothing
    is retrained."""
    others = [run for run in args.runs if run not in folders]
    if others:
        what = "is not a bench quantize result file" if kind == "bench quantize" else f"has no {kind}.json"
        raise UsageError(f"RUN {others[0]!r} {what}; a report compares either search runs, compress output "
                         "folders, quantize output folders or bench quantize result files, not a mix")
    if args.baselines:
        raise UsageError(f"--baselines retrains networks beside search runs; a report of {kind} results "
                         "compares their records only")
    output_path("--out", args.out, folder=True)
    try:
        files = make(folders, args.out, command=shlex.join(["nasengine", "report", *args.runs, "--out", args.out]))
    except ValueError as exc:  # a record that is not what its writer writes
        raise UsageError(str(exc)) from None
    print(files["summary"].read_text(encoding="utf-8"), end="")
    figures = [path.name for name, path in files.items() if name not in ("markdown", "html", "summary")]
    print(f"wrote {files['markdown']}, {files['html']} and {', '.join(figures)} in {args.out}/")
    return 0


def command_line(args: argparse.Namespace) -> str:
    """The ``nasengine report`` command that ``args`` stand for (the budget always, other
    options when not at their default)."""
    parts = ["nasengine", "report", *args.runs]
    if args.baselines:
        parts += ["--baselines", args.baselines]
    for name, default in DEFAULTS.items():
        if name in ("seeds", "epochs", "top_k") or getattr(args, name) != default:
            parts += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    for name in ("dataset", "data_root"):
        if getattr(args, name) is not None:
            parts += [f"--{name.replace('_', '-')}", getattr(args, name)]
    return shlex.join(parts + ["--out", args.out])

"""The ``nasengine`` command line. Bad input prints one line and exits with code 2."""

from __future__ import annotations

import argparse
import sys

from nasengine import __version__
from nasengine.bench import controllers as _bc, dynamic as _bd, kernels as _bk  # noqa: F401
from nasengine.bench import suites as bench
from nasengine.cli import dynamic as cli_dynamic, export as cli_export, latency as cli_latency, report as cli_report
from nasengine.cli import search as cli_search, space as cli_space, train as cli_train
from nasengine.search import rankcheck, tabulate
from nasengine.arch import ArchError
from nasengine.cli.common import UsageError
from nasengine.data.datasets import DataError
from nasengine.registry import PluginLoadError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nasengine", description="Neural architecture search and dynamic networks for PyTorch.")
    parser.add_argument("--version", action="version", version=f"nasengine {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    cli_space.add_parsers(sub)
    cli_train.add_parser(sub)
    cli_search.add_parser(sub)
    cli_latency.add_parser(sub)
    cli_export.add_parser(sub)
    cli_dynamic.add_parser(sub)
    tabulate.add_parser(sub)
    rankcheck.add_parser(sub)
    cli_report.add_parser(sub)
    bench.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UsageError, ArchError, DataError, PluginLoadError, ValueError, KeyError, FileNotFoundError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"nasengine: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nasengine: interrupted; finished work is saved (run the same command to resume)", file=sys.stderr)
        return 130



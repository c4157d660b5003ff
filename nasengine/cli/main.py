"""The ``nasengine`` command line. Bad input prints one line and exits with code 2; an
interrupt (Ctrl-C, exit 130) or SIGTERM (exit 143) saves finished work and exits.

Each subcommand lives in its own ``nasengine.cli`` module, which parses arguments and calls
the library; ``--help`` of every subcommand shows the defaults.
"""

from __future__ import annotations

import argparse
import signal
import sys

from nasengine import __version__
from nasengine.arch import ArchError
from nasengine.cli import bench as cli_bench
from nasengine.cli import compress as cli_compress
from nasengine.cli import dynamic as cli_dynamic
from nasengine.cli import export as cli_export
from nasengine.cli import latency as cli_latency
from nasengine.cli import quantize as cli_quantize
from nasengine.cli import rankcheck as cli_rankcheck
from nasengine.cli import report as cli_report
from nasengine.cli import search as cli_search
from nasengine.cli import show as cli_show
from nasengine.cli import space as cli_space
from nasengine.cli import tabulate as cli_tabulate
from nasengine.cli import train as cli_train
from nasengine.cli.common import Parser, UsageError
from nasengine.data import DataError
from nasengine.registry import PluginLoadError
from nasengine.utils.signals import Terminated, terminate_as_interrupt


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="nasengine", description="Neural architecture search and dynamic networks for PyTorch.")
    parser.add_argument("--version", action="version", version=f"nasengine {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    cli_space.add_parsers(sub)
    cli_train.add_parser(sub)
    cli_search.add_parser(sub)
    cli_show.add_parser(sub)
    cli_latency.add_parser(sub)
    cli_export.add_parser(sub)
    cli_compress.add_parser(sub)
    cli_quantize.add_parser(sub)
    cli_dynamic.add_parser(sub)
    cli_tabulate.add_parser(sub)
    cli_rankcheck.add_parser(sub)
    cli_report.add_parser(sub)
    cli_bench.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the files that record their command
    try:
        with terminate_as_interrupt():  # a scheduler's SIGTERM saves and exits like Ctrl-C
            return int(args.func(args) or 0)
    except (UsageError, ArchError, DataError, PluginLoadError, ValueError, KeyError, FileNotFoundError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"nasengine: error: {message}", file=sys.stderr)
        return 2
    except PermissionError as exc:  # a read-only file or folder inside a run (its top folder is checked up front)
        print(f"nasengine: error: {exc.filename!r}: permission denied", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        # 128 + the signal's number, as a shell reports a process the signal ended: 130 for
        # Ctrl-C (SIGINT), 143 for SIGTERM.
        signum = exc.signum if isinstance(exc, Terminated) else signal.SIGINT
        how = str(exc) if isinstance(exc, Terminated) else "interrupted"
        print(f"nasengine: {how}; finished work is saved (run the same command to resume)", file=sys.stderr)
        return 128 + int(signum)
    except BrokenPipeError:  # output piped into a reader that stopped early (`| head`): not an error
        sys.stderr.close()
        return 0

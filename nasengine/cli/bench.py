"""``nasengine bench SUITE``: one subcommand per registered bench suite, with its own options.

Each suite's rows are printed as a table and written as JSON (``--out``, by default
``bench-SUITE.json`` in the current directory; the reference reports under the project's
``reports/bench/`` are written only when ``--out`` names them).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nasengine.bench.base import BENCH_SUITES, BenchSuite
from nasengine.bench.suites import write_report
from nasengine.cli.common import add_threads_option, apply_threads, invoked_command
from nasengine.registry import PluginLoadError
from nasengine.utils.validation import output_path


def default_out(name: str) -> Path:
    """Where ``nasengine bench NAME`` writes without ``--out``: ``bench-NAME.json`` in the
    current directory (never into a project's ``reports/bench/`` unless asked)."""
    return Path(f"bench-{name}.json")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run a benchmark suite; rows printed and written as JSON",
                       description="Run a benchmark suite. Each suite has its own options: nasengine bench SUITE --help.")
    suites = p.add_subparsers(dest="suite", required=True, metavar="SUITE")
    for name in BENCH_SUITES.names():
        try:
            suite = BENCH_SUITES.get(name)
        except PluginLoadError as exc:  # a broken plug-in must not take the other suites down
            broken = suites.add_parser(name, help=f"(cannot load: {exc})")
            broken.set_defaults(func=_broken(exc))
            continue
        s = suites.add_parser(name, help=suite.help, description=suite.help)
        s.add_argument("--out", default=str(default_out(name)),
                       help=f"JSON report (default: {default_out(name)} in the current directory; the "
                            "project's reports/bench/ only when --out names it)")
        suite.add_arguments(s)
        own_threads = "--threads" in s._option_string_actions  # a suite that times pins its own
        if not own_threads:
            add_threads_option(s)
        s.set_defaults(func=cmd_bench, bench_suite=suite, suite_threads=own_threads)


def cmd_bench(args: argparse.Namespace) -> int:
    suite: BenchSuite = args.bench_suite
    if not args.suite_threads:
        apply_threads(args.threads)  # recorded in the report's machine info (torch_threads)
    output_path("--out", args.out, folder=False)  # before the suite runs, which may take hours
    rows = suite.run(args)
    print_table(rows)
    path = write_report(args.suite, rows, args.out, command=invoked_command(args))
    print(f"wrote {path.resolve()}")
    return 0


def print_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    keys = [k for k in rows[0] if not isinstance(rows[0][k], (list, dict))]  # curves go to JSON only
    cells = [[_fmt(r.get(k)) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    print("  ".join(k.ljust(w) for k, w in zip(keys, widths)))
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths)))


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _broken(exc: Exception) -> Any:
    def fail(args: argparse.Namespace) -> int:
        raise exc

    return fail

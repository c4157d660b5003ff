"""``nasengine rankcheck RUN``: rank correlation of a one-shot run's scores with standalone
training (``nasengine.search.rankcheck``)."""

from __future__ import annotations

import argparse
import sys

from nasengine.bench.suites import write_report
from nasengine.cli.common import add_threads_option, apply_threads, invoked_command
from nasengine.search.rankcheck import rank_check
from nasengine.utils.validation import output_path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rankcheck", help="rank correlation of a one-shot run's scores with standalone training")
    p.add_argument("run", help="run folder of a spos / enas / metapruning search")
    p.add_argument("--samples", type=int, default=20, help="architectures to train standalone (K)")
    p.add_argument("--epochs", type=int, default=10, help="standalone training epochs per architecture")
    p.add_argument("--seed", type=int, default=0, help="seeds the sample and the standalone training")
    p.add_argument("--seeds", type=int, default=1, help="standalone trainings per architecture, averaged")
    p.add_argument("--table", help="benchmark table of the run's space and data (`nasengine tabulate`): compare "
                                   "every table arch under the run's limits, train nothing")
    p.add_argument("--report", help="also write a benchmark JSON here (e.g. reports/bench/rankcheck.json)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_threads_option(p)
    p.set_defaults(func=cmd_rankcheck)


def cmd_rankcheck(args: argparse.Namespace) -> int:
    command = invoked_command(args)
    apply_threads(args.threads)  # recorded with the machine in --report
    if args.report:
        output_path("--report", args.report, folder=False)
    check = rank_check(args.run, samples=args.samples, epochs=args.epochs, seed=args.seed, seeds=args.seeds,
                       table=args.table,
                       progress=not args.quiet, command=command)
    for r in check.rows:
        print(f"{r.arch_id}  {r.macs:>12,} MACs  one-shot {r.oneshot_acc:.4f}  standalone {r.standalone_acc:.4f}")
    print(f"Kendall tau-b {check.kendall_tau:.3f}  Spearman rho {check.spearman_rho:.3f}  "
          f"(K={check.samples}, {check.epochs} epochs standalone x {check.seeds} seeds)")
    if check.seed_to_seed_tau is not None:
        print(f"standalone seed-to-seed Kendall tau-b {check.seed_to_seed_tau:.3f} "
              "(how far training agrees with itself)")
    if args.report:
        path = write_report("rankcheck", [check.to_dict()], args.report, command=command)
        print(f"wrote {path}", file=sys.stderr)
    return 0

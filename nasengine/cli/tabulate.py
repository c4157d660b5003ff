"""``nasengine tabulate``: a benchmark table of every architecture of a small space
(``nasengine.search.tabulate``); controllers are then compared by replay
(``--evaluator table:FILE``, ``nasengine bench controllers``)."""

from __future__ import annotations

import argparse

from nasengine.cli.common import UsageError, add_force_option, add_threads_option, deprecated_alias, make_space, parse_sets
from nasengine.cost import parse_amount
from nasengine.data import DATASETS
from nasengine.search.tabulate import tabulate
from nasengine.utils.threads import default_threads


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tabulate", help="train every architecture of a small space, or a random sample (benchmark table)")
    p.add_argument("--space", required=True)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="space config value (repeatable)")
    p.add_argument("--dataset", default="digits", choices=DATASETS)
    p.add_argument("--data-root", help="folder of a local dataset (cifar10, cifar100, imagefolder)")
    p.add_argument("--epochs", type=int, default=3, help="training epochs per architecture")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--warmup-epochs", type=float, default=0.0, help="linear learning-rate warm-up before the cosine decay")
    p.add_argument("--seed", type=int, default=0, help="first training seed")
    p.add_argument("--seeds", type=int, default=1, help="trainings per architecture, seeds SEED.. (mean accuracy is stored)")
    deprecated_alias(p, "--repeats", "--seeds", type=int)
    p.add_argument("--samples", type=int, help="train this many distinct random archs (seeded by --seed) instead of all")
    p.add_argument("--max-macs", type=parse_amount, metavar="N", help="only archs with at most N MACs (accepts 40K, 1.5M)")
    p.add_argument("--workers", type=int, default=1, help="processes training at once (one thread each)")
    p.add_argument("--out", required=True, help="table JSON file (an interrupted run resumes from FILE.partial.jsonl; "
                                                "other settings are refused)")
    add_force_option(p, "the table in --out and its partial file: train anew")
    add_threads_option(p, "OMP_NUM_THREADS if set, else this host's cores divided among --workers")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_tabulate)


def cmd_tabulate(args: argparse.Namespace) -> int:
    space = make_space(args.space, parse_sets(args.set))
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be an integer >= 1, got {args.threads}")
    table = tabulate(space, args.out, seeds=args.seeds, samples=args.samples, max_macs=args.max_macs,
                     workers=args.workers, progress=not args.quiet, force=args.force,
                     threads=default_threads(args.workers) if args.threads is None else args.threads, dataset=args.dataset,
                     data_root=args.data_root, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                     warmup_epochs=args.warmup_epochs, val_every=args.epochs, seed=args.seed)
    accs = sorted(e["acc"] for e in table["entries"])
    print(f"{len(accs)} architectures: acc min {accs[0]:.4f}  median {accs[len(accs) // 2]:.4f}  max {accs[-1]:.4f}")
    print(f"wrote {args.out}")
    return 0

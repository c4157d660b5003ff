"""``nasengine search``: a constrained architecture search, resumable and shareable."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
from typing import Any

import yaml

from nasengine.arch import choices_line
from nasengine.cli.common import UsageError, add_force_option, add_threads_option, apply_threads, parse_sets
from nasengine.cost import human, parse_amount
from nasengine.data import DATASETS
from nasengine.evaluators.base import parse_evaluator
from nasengine.registry import CONTROLLERS, EVALUATORS, PluginLoadError, Registry
from nasengine.search.config import STRATEGIES, SearchConfig
from nasengine.search.pruning import PRUNERS
from nasengine.search.tune import parse_pairs
from nasengine.utils.files import jsonable
from nasengine.utils.threads import registered_worker


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="search a space under hard cost limits")
    p.add_argument("--config", help="YAML file of search options (command-line values win)")
    p.add_argument("--space")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="space config value (repeatable)")
    p.add_argument("--strategy", help=f"one of {', '.join(STRATEGIES.names())}")
    p.add_argument("--controller", help="controller name (instead of --strategy)")
    p.add_argument("--controller-set", action="append", metavar="KEY=VALUE",
                   help=f"controller option (repeatable); keys: {options_help(CONTROLLERS, skip=('seed',))}")
    p.add_argument("--evaluator", help="train (default) or table:FILE")
    p.add_argument("--evaluator-set", action="append", metavar="KEY=VALUE",
                   help=f"evaluator option (repeatable); keys: {options_help(EVALUATORS, skip=_FROM_SEARCH)}")
    p.add_argument("--pretrain-epochs", type=int, help="supernet / PruningNet training epochs (spos, metapruning)")
    p.add_argument("--pretrain-set", action="append", metavar="KEY=VALUE",
                   help="pretraining option, e.g. sampling=binned, batch_size=32 (repeatable)")
    p.add_argument("--fix", action="append", metavar="NAME=OPTION",
                   help="pin a decision of the space to one option in every trial (repeatable)")
    p.add_argument("--tune", action="append", metavar="NAME=SPEC",
                   help="search a training setting too (repeatable): SPEC is log:LOW:HIGH, float:LOW:HIGH, "
                        "int:LOW:HIGH or a comma list, e.g. lr=log:1e-4:1e-1, optimizer=sgd,adamw")
    p.add_argument("--pruner", choices=tuple(PRUNERS),
                   help="stop poor candidates early from their per-epoch accuracy (default none)")
    p.add_argument("--pruner-set", action="append", metavar="KEY=VALUE",
                   help="pruner option (repeatable), e.g. n_startup_trials=2 (median), reduction_factor=2 (hyperband)")
    p.add_argument("--dataset", choices=DATASETS)
    p.add_argument("--data-root")
    p.add_argument("--epochs", type=int, help="proxy training epochs per candidate (evaluator train)")
    p.add_argument("--max-macs", help="hard limit, e.g. 300M")
    p.add_argument("--max-params", help="hard limit, e.g. 3.5M")
    p.add_argument("--max-latency-ms", type=float, help="hard limit on the latency predicted by --latency-table")
    p.add_argument("--latency-table", help="latency table of this space and config (nasengine latency build)")
    p.add_argument("--trials", type=int, help="trials to finish, complete or pruned (all workers together)")
    p.add_argument("--seed", type=int)
    p.add_argument("--objectives", help="acc, or acc,macs / acc,params / acc,latency for a Pareto search")
    p.add_argument("--top-k", type=int, help="architectures to export")
    p.add_argument("--out", help="run folder (default runs/search)")
    p.add_argument("--storage", help="Optuna storage URL shared by workers (default OUT/study.db)")
    p.add_argument("--study", help="study name inside the storage")
    p.add_argument("--weights-dir", help="the study's folder of trained weights, one for all its workers (default "
                                         "OUT/weights, or NAME-weights/STUDY beside a --storage SQLite file; needed "
                                         "with a database server)")
    p.add_argument("--heartbeat-interval", type=int, metavar="SECONDS",
                   help="seconds between a running trial's heartbeats (default 10; fixed by the study's first worker)")
    p.add_argument("--heartbeat-grace", type=int, metavar="SECONDS",
                   help="seconds without a heartbeat before another worker re-runs the trial (default 60)")
    p.add_argument("--timeout", type=float, help="stop starting new trials after this many seconds")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted search in --out (options that change results must stay the same)")
    add_force_option(p, "the run in --out: empty it and start over")
    add_threads_option(p, "OMP_NUM_THREADS if set, else this host's cores divided among the workers of "
                          "the study running on it, counted when this one starts")
    p.add_argument("--device", help="where candidates train and are scored: cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved options as YAML (every key, with defaults; usable as --config) and exit")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_search)


#: Evaluator options the search fills in itself (from --dataset, --epochs, --seed, --out, --device).
_FROM_SEARCH = ("dataset", "data_root", "epochs", "seed", "run_dir", "device")


def options_help(registry: Registry[Any], *, skip: tuple[str, ...] = ()) -> str:
    """``name: key=default, ...`` for every registered factory (for --help)."""
    parts = []
    for name in registry.names():
        try:
            options = registry.options(name)
        except PluginLoadError:
            parts.append(f"{name}: (failed to load)")
            continue
        if options is None:
            parts.append(f"{name}: any")
            continue
        keys = [f"{k}={v!r}" if v is not inspect.Parameter.empty else k for k, v in options.items() if k not in skip]
        parts.append(f"{name}: {', '.join(keys) or '-'}")
    return "; ".join(parts)


def config_from_args(args: argparse.Namespace) -> SearchConfig:
    controller = args.controller
    if args.strategy is not None and args.strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy {args.strategy!r}; choose one of {', '.join(STRATEGIES.names())}")
    if controller is not None and controller not in CONTROLLERS:
        raise UsageError(f"unknown controller {controller!r}; available: {', '.join(CONTROLLERS.names())}")
    evaluator, evaluator_options = (None, None)
    if args.evaluator is not None:
        evaluator, evaluator_options = parse_evaluator(args.evaluator)
        if evaluator not in EVALUATORS:
            raise UsageError(f"unknown evaluator {evaluator!r}; available: {', '.join(EVALUATORS.names())}")
    evaluator_options = {**(evaluator_options or {}), **parse_sets(args.evaluator_set)} or None
    return SearchConfig.resolve(
        args.config,
        space=args.space,
        space_config=parse_sets(args.set) or None,
        strategy=args.strategy,
        controller=controller,
        controller_options=parse_sets(args.controller_set) or None,
        evaluator=evaluator,
        evaluator_options=evaluator_options,
        dataset=args.dataset,
        data_root=args.data_root,
        epochs=args.epochs,
        pretrain_epochs=args.pretrain_epochs,
        pretrain_options=parse_sets(args.pretrain_set) or None,
        max_macs=None if args.max_macs is None else parse_amount(args.max_macs),
        max_params=None if args.max_params is None else parse_amount(args.max_params),
        max_latency_ms=args.max_latency_ms,
        latency_table=args.latency_table,
        trials=args.trials,
        seed=args.seed,
        objectives=None if args.objectives is None else tuple(o.strip() for o in args.objectives.split(",")),
        top_k=args.top_k,
        out=args.out,
        storage=args.storage,
        study=args.study,
        weights_dir=args.weights_dir,
        heartbeat_interval=args.heartbeat_interval,
        heartbeat_grace=args.heartbeat_grace,
        timeout=args.timeout,
        device=args.device,
        fix=parse_pairs(args.fix, "--fix", typed=True) or None,
        tune=parse_pairs(args.tune, "--tune") or None,
        pruner=args.pruner,
        pruner_options=parse_sets(args.pruner_set) or None,
        threads=args.threads,
    )


def cmd_search(args: argparse.Namespace) -> int:
    from nasengine.search.runner import run_search

    cfg = config_from_args(args)
    if args.print_config:
        print(yaml.safe_dump(jsonable(cfg.to_dict()), sort_keys=False), end="")
        return 0
    import sqlalchemy.exc

    # Workers of one study on this host share its cores; the count used goes into config.yaml.
    with registered_worker(f"{cfg.storage_url} {cfg.study}") as workers:
        cfg = dataclasses.replace(cfg, threads=apply_threads(cfg.threads, workers=workers))
        try:
            result = run_search(cfg, resume=args.resume, progress=not args.quiet, force=args.force)
        except sqlalchemy.exc.SQLAlchemyError as exc:  # e.g. a study.db that is not an SQLite database
            cause = getattr(exc, "orig", None) or exc
            raise UsageError(f"storage {cfg.storage_url} cannot be used: {str(cause).splitlines()[0]}") from None
    if not result:  # a torchrun rank > 0: it helped pretrain; rank 0 runs the search
        return 0
    best = result["best"]
    if best is None:
        print("no trial completed")
        return 1
    print(f"best: acc {best['metrics']['acc']:.4f}  {human(best['cost']['macs'])} MACs  "
          f"{human(best['cost']['params'])} params  "
          f"{'%.3f ms  ' % best['cost']['latency_ms'] if 'latency_ms' in best['cost'] else ''}"
          f"arch {best['arch_id']} (trial {best['number']})")
    pruned = f" ({result['pruned']} more pruned)" if result.get("pruned") is not None else ""
    hparams = best.get("hparams")
    if hparams:
        print(f"best training settings: {choices_line(hparams)}")
    print(f"{result['completed']} trials{pruned}; results: {cfg.out}/result.json, exports: {cfg.out}/exports/, "
          f"TensorBoard: {cfg.out}/tb/, config: {cfg.out}/config.yaml")
    return 0

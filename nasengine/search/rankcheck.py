"""Rank check of a one-shot run (``nasengine rankcheck RUN``): does the one-shot score rank
architectures like training does?

Trains K sampled feasible architectures of a one-shot run's space from scratch (the
``train`` evaluator, same data and seed) and compares their accuracies with the run's
one-shot scores (inherited weights, BN recalibrated) by Kendall's tau-b and Spearman's
rho. Standalone results are cached per architecture in ``RUN/rankcheck/``, so an
interrupted check resumes; the record (``nasengine.records.RankCheck``) goes into
``RUN/rankcheck.json`` and ``RUN/result.json`` under ``"rankcheck"``.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from nasengine.constraints import Constraints
from nasengine.evaluators.train import TrainEvaluator
from nasengine.records import RankCheck, RankCheckRow, SearchResult, StandaloneAcc, read_json
from nasengine.registry import EVALUATORS, get_space
from nasengine.search.config import SearchConfig, search_limits
from nasengine.search.runner import make_evaluator, run_pretrain
from nasengine.utils.progress import progress_bar
from nasengine.utils.stats import kendall_tau, spearman_rho


def one_shot_evaluator(cfg: SearchConfig, space: Any, run: Path) -> Any:
    """The run's one-shot evaluator; an ENAS run's shared weights are scored like a supernet's."""
    if cfg.evaluator == "enas":
        state = run / "enas_shared.pt"
        if not state.is_file():
            raise ValueError(f"{run} has no ENAS shared weights ({state.name}); run the search first")
        return EVALUATORS.create("supernet", space, checkpoint=str(state), dataset=cfg.dataset,
                                 data_root=cfg.data_root, seed=cfg.seed)
    if cfg.pretrain is None:
        raise ValueError(f"run {str(run)!r} used evaluator {cfg.evaluator!r}, not a one-shot method; rankcheck "
                         "compares one-shot scores (--strategy spos, enas, metapruning) with standalone training")
    return make_evaluator(cfg, space, run_pretrain(cfg, space, run, progress=False))


def sample_archs(space: Any, limits: Constraints, k: int, seed: int) -> list[Any]:
    """``k`` distinct feasible architectures drawn uniformly (seeded)."""
    import random

    from nasengine.controller import distinct_random

    return distinct_random(space, lambda a: limits.feasible(space, a), k, random.Random(f"rankcheck:{seed}"))


def rank_check(run: str | Path, *, samples: int = 20, epochs: int = 10, seed: int = 0, seeds: int = 1,
               table: str | Path | None = None, progress: bool = True, command: str | None = None) -> RankCheck:
    """Run the check on ``run`` and record it; returns the record (see the module docstring).

    ``seeds`` > 1 averages each standalone accuracy over training seeds ``seed, seed + 1, ...``:
    on small data, seed-to-seed noise alone keeps two rankings of one set of architectures apart.
    The record keeps ``run`` relative to the current directory (a committed record must not
    name one machine's absolute paths) and the ``command`` that asked for it. With ``table``
    (made by ``nasengine tabulate`` for the run's space and data) nothing is trained: every
    table arch under the run's limits is compared, and the table's training (epochs, seeds)
    is the standalone training.
    """
    if table is not None:
        return _table_check(Path(run), Path(table), progress=progress, command=command)
    run = Path(run)
    if not (run / "config.yaml").is_file():
        raise ValueError(f"{str(run)!r} is not a search run folder (no config.yaml)")
    if samples < 2 or epochs < 1 or seeds < 1:
        raise ValueError(f"--samples must be >= 2, --epochs and --seeds >= 1; got {samples}, {epochs}, {seeds}")
    cfg = SearchConfig.resolve(run / "config.yaml")
    space = get_space(cfg.space, **cfg.space_config)
    limits = search_limits(cfg, space)
    archs = sample_archs(space, limits, samples, seed)
    oneshot = one_shot_evaluator(cfg, space, run)
    trainers = [TrainEvaluator(space, dataset=cfg.dataset, data_root=cfg.data_root, epochs=epochs, seed=s)
                for s in range(seed, seed + seeds)]
    cache = run / "rankcheck"
    cache.mkdir(exist_ok=True)
    t0, rows = time.perf_counter(), []
    for arch in progress_bar(archs, enabled=progress, desc="rankcheck"):
        accs = tuple(_standalone(trainer, arch, cache) for trainer in trainers)
        rows.append(RankCheckRow(arch_id=arch.id, macs=space.cost(arch).macs,
                                 oneshot_acc=oneshot.evaluate(arch).metrics["acc"],
                                 standalone_acc=sum(accs) / len(accs), standalone_seeds=accs))
    check = summarize_check(rows, epochs=epochs, seed=seed, seeds=seeds, evaluator=cfg.evaluator,
                            seconds=time.perf_counter() - t0)
    check = replace(check, run=os.path.relpath(run), command=command)
    record_check(run, check)
    return check


def _table_check(run: Path, path: Path, *, progress: bool, command: str | None) -> RankCheck:
    from nasengine.evaluators.table import TableEvaluator, read_table

    if not (run / "config.yaml").is_file():
        raise ValueError(f"{str(run)!r} is not a search run folder (no config.yaml)")
    cfg = SearchConfig.resolve(run / "config.yaml")
    space = get_space(cfg.space, **cfg.space_config)
    limits = search_limits(cfg, space)
    table = TableEvaluator(space, path=path)  # refuses a table of another space or config
    if any("choices" not in e for e in table.entries.values()):
        raise ValueError(f"table {str(path)!r} has entries without 'choices'; rankcheck scores each arch's choices")
    entries = [e for e in table.entries.values() if limits.feasible(space, space.arch(e["choices"]))]
    if len(entries) < 2:
        raise ValueError(f"table {str(path)!r} holds {len(entries)} archs under the run's limits; need >= 2")
    oneshot = one_shot_evaluator(cfg, space, run)
    t0, rows = time.perf_counter(), []
    for e in progress_bar(entries, enabled=progress, desc="rankcheck"):
        accs = tuple(e.get("accs") or (e["acc"],))
        rows.append(RankCheckRow(arch_id=e["id"], macs=e["macs"],
                                 oneshot_acc=oneshot.evaluate(space.arch(e["choices"])).metrics["acc"],
                                 standalone_acc=e["acc"], standalone_seeds=accs))
    train = read_table(path).get("train", {})
    check = summarize_check(rows, epochs=train.get("epochs", 0), seed=train.get("seed", 0),
                            seeds=len(rows[0].standalone_seeds), evaluator=cfg.evaluator,
                            seconds=time.perf_counter() - t0)
    check = replace(check, run=os.path.relpath(run), command=command)
    record_check(run, check)
    return check


def summarize_check(rows: Sequence[RankCheckRow], *, epochs: int, seed: int, seeds: int, evaluator: str,
                    seconds: float) -> RankCheck:
    """The rank check record of measured ``rows``: Kendall tau-b and Spearman rho between
    one-shot and standalone accuracies, and the standalone seed-to-seed tau."""
    x, y = [r.oneshot_acc for r in rows], [r.standalone_acc for r in rows]
    return RankCheck(samples=len(rows), epochs=epochs, seed=seed, seeds=seeds, evaluator=evaluator,
                     kendall_tau=kendall_tau(x, y), spearman_rho=spearman_rho(x, y),
                     seed_to_seed_tau=_seed_to_seed_tau(rows), seconds=seconds, rows=tuple(rows))


def record_check(run: Path, check: RankCheck) -> None:
    """Write ``RUN/rankcheck.json`` and store the check in ``RUN/result.json`` (when there is one)."""
    check.save(run / "rankcheck.json")
    result_path = run / "result.json"
    if result_path.is_file():
        # An earlier check is replaced unread: it may predate the record's keys.
        stored = read_json(result_path)
        result = SearchResult.from_dict({**stored, "rankcheck": None} if isinstance(stored, dict) else stored,
                                        str(result_path))
        replace(result, rankcheck=check).save(result_path)


def _seed_to_seed_tau(rows: Sequence[RankCheckRow]) -> float | None:
    """Mean Kendall tau-b between the standalone rankings of two training seeds: how well
    training agrees with itself, a ceiling for any proxy (``None`` with one seed)."""
    seeds = len(rows[0].standalone_seeds)
    taus = [kendall_tau([r.standalone_seeds[i] for r in rows], [r.standalone_seeds[j] for r in rows])
            for i in range(seeds) for j in range(i + 1, seeds)]
    return sum(taus) / len(taus) if taus else None


def _standalone(trainer: TrainEvaluator, arch: Any, cache: Path) -> float:
    """Validation accuracy of ``arch`` trained from scratch (cached per arch, epochs and seed)."""
    epochs, seed = trainer.config.epochs, trainer.config.seed
    entry = cache / f"{arch.id}_e{epochs}_s{seed}.json"
    if entry.is_file():
        return StandaloneAcc.load(entry).standalone_acc
    acc = trainer.evaluate(arch).metrics["acc"]
    StandaloneAcc(arch_id=arch.id, epochs=epochs, seed=seed, standalone_acc=acc).save(entry)
    return acc

"""``nasengine report``: searches compared with hand-designed baselines and published results.

Reads run folders written by ``nasengine search`` (``nasengine.report.runs``), retrains the
best architectures of every run and each baseline from scratch with the same budget (cached
in ``OUT/cache``, resumable), and writes ``report.md``, a self-contained ``report.html``
(``nasengine.report.document``) and the PNG figures to ``OUT``. A simple baseline
(``nasengine.report.simple``: logistic regression on the raw pixels) is fitted on the same
split. Optional parts (latency in the trials' cost, an RL controller log, a rank check in
``result.json``) appear when present and are skipped otherwise.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nasengine.bench.suites import machine_info
from nasengine.cost import count_cost
from nasengine.data import DataSplits, load_dataset
from nasengine.pareto import pareto_front
from nasengine.records import RankCheck
from nasengine.registry import get_space
from nasengine.report import figures as plots
from nasengine.report.baselines import (
    SPACE_REFERENCES,
    BaselineSpec,
    Candidate,
    Published,
    RetrainConfig,
    build_baseline,
    check_baseline_input,
    parse_baseline,
    published_baseline,
    retrain_all,
)
from nasengine.report.document import report_blocks, summary_table
from nasengine.report.render import to_html, to_markdown
from nasengine.report.runs import (
    Run,
    load_run,
    pareto_series,
    progress_curve,
    scored_by,
    search_limits,
    top_archs,
)
from nasengine.report.simple import logistic_baseline


@dataclass(frozen=True)
class ReportConfig:
    """What one report compares and how.

    Args:
        runs: Search run folders (each holds a ``result.json``).
        baselines: ``torchvision:NAME`` / ``timm:NAME`` specs.
        retrain: Retraining budget, input size of the baselines, latency repeats.
        top: Best architectures retrained per run.
        random: Random architectures under each run's limits retrained beside them (the
            reference a search must beat: what a random pick under the same limits gets).
        dataset, data_root: Data to retrain on (default: the runs' dataset).
        out: Output folder.
        command: The command line recorded in the report.
    """

    runs: tuple[str, ...]
    baselines: tuple[str, ...] = ()
    retrain: RetrainConfig = field(default_factory=RetrainConfig)
    top: int = 1
    random: int = 0
    dataset: str | None = None
    data_root: str | None = None
    out: str = "report"
    command: str = ""

    def __post_init__(self) -> None:
        if not self.runs:
            raise ValueError("a report needs at least one RUN folder")
        if not isinstance(self.top, int) or self.top < 1:
            raise ValueError(f"top must be a positive integer, got {self.top!r}")
        if not isinstance(self.random, int) or self.random < 0:
            raise ValueError(f"random must be an integer >= 0, got {self.random!r}")


def make_report(cfg: ReportConfig, *, progress: bool = True) -> dict[str, Path]:
    """Gather, retrain (cached), plot and write the report; returns the written files."""
    out = Path(cfg.out)
    labels = _labels([Path(p) for p in cfg.runs])
    runs = [load_run(p, label) for p, label in zip(cfg.runs, labels)]
    specs = [parse_baseline(s) for s in cfg.baselines]
    dataset, data_root = _dataset(runs, cfg)
    data_cache: dict[tuple[int | None, int | None], DataSplits] = {}

    def data(size: int | None, channels: int | None) -> DataSplits:  # None: the dataset's native size
        if (size, channels) not in data_cache:
            data_cache[size, channels] = load_dataset(dataset, data_root=data_root, image_size=size, channels=channels)
        return data_cache[size, channels]

    num_classes = data(cfg.retrain.baseline_size, 3).num_classes
    for spec in specs:
        check_baseline_input(spec, num_classes, cfg.retrain.baseline_size)
    candidates = (_found(runs, cfg.top, num_classes) + _random(runs, cfg.random)
                  + [_baseline(s, num_classes, cfg.retrain) for s in specs])
    out.mkdir(parents=True, exist_ok=True)
    retrain_all(candidates, cfg.retrain, data, out / "cache", progress=progress)
    for c in candidates:  # the split sizes behind a single seed's (Wilson) interval
        splits = data(c.input_shape[1], c.input_shape[0])
        c.stats["n_val"], c.stats["n_test"] = len(splits.val), len(splits.test)  # type: ignore[arg-type]
    simple = logistic_baseline(data(None, None), out / "cache")
    figures = _figures(runs, candidates, cfg.retrain, out)
    context = {"cfg": cfg, "runs": runs, "candidates": candidates, "simple": simple, "specs": specs, "dataset": dataset,
               "num_classes": num_classes, "figures": figures, "rankchecks": rankchecks(runs),
               "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine_info(),
               "versions": _versions()}
    document = report_blocks(context, _references(runs, specs))
    (out / "report.md").write_text(to_markdown(document), encoding="utf-8")
    (out / "report.html").write_text(to_html(document), encoding="utf-8")
    (out / "summary.txt").write_text(summary_table(candidates, simple, cfg.retrain), encoding="utf-8")
    return {"markdown": out / "report.md", "html": out / "report.html", "summary": out / "summary.txt", **figures}


def rankchecks(runs: list[Run]) -> list[tuple[Run, RankCheck]]:
    """The runs that hold a one-shot rank check, with it."""
    return [(r, r.result.rankcheck) for r in runs if r.result.rankcheck is not None]


def _labels(paths: list[Path]) -> list[str]:
    names = [p.resolve().name for p in paths]
    return [n if names.count(n) == 1 else f"{p.resolve().parent.name}/{n}" for p, n in zip(paths, names)]


def _dataset(runs: list[Run], cfg: ReportConfig) -> tuple[str, str | None]:
    if cfg.dataset is not None:
        return cfg.dataset, cfg.data_root
    found = {(r.config.get("dataset", "digits"), r.config.get("data_root")) for r in runs}
    if len(found) > 1:
        raise ValueError(f"the runs were searched on different data {sorted(map(str, found))}; pass --dataset")
    name, root = found.pop()
    return name, cfg.data_root or root


def _found(runs: list[Run], top: int, num_classes: int) -> list[Candidate]:
    by_key: dict[str, Candidate] = {}
    for run in runs:
        for d in top_archs(run, top):
            space = get_space(d.space, **d.config)
            arch = space.arch(d.choices)
            if space.config.num_classes != num_classes:
                raise ValueError(f"run {run.label}: architecture {arch.id} has num_classes="
                                 f"{space.config.num_classes} but the data has {num_classes}")
            key = f"{arch.space}-{arch.id}"
            origin = f"run {run.label}, trial {'?' if d.trial is None else d.trial}"
            if key in by_key:
                by_key[key].origin += f"; {origin}"
                continue
            by_key[key] = Candidate(key, f"{arch.space} {arch.id}", origin, lambda s=space, a=arch: s.build(a),
                                    tuple(space.input_shape(1)[1:]), False, d.val_acc, run=run.label,
                                    choices=dict(arch.choices), hparams=d.hparams)
    return list(by_key.values())


def _random(runs: list[Run], count: int) -> list[Candidate]:
    """``count`` distinct random archs under each run's hard limits (seeded: a rerun draws the same)."""
    from nasengine.search.config import SearchConfig
    from nasengine.search.config import search_limits as run_limits
    from nasengine.search.rankcheck import sample_archs

    picked: list[Candidate] = []
    for run in runs if count else []:
        cfg = SearchConfig.resolve(run.path / "config.yaml")
        space = get_space(cfg.space, **cfg.space_config)
        for i, arch in enumerate(sample_archs(space, run_limits(cfg, space), count, seed=0)):
            picked.append(Candidate(f"{arch.space}-{arch.id}", f"{arch.space} {arch.id}",
                                    f"random #{i + 1} under run {run.label}'s limits", lambda s=space, a=arch: s.build(a),
                                    tuple(space.input_shape(1)[1:]), False, run=run.label, choices=dict(arch.choices)))
    return picked


def _baseline(spec: BaselineSpec, num_classes: int, cfg: RetrainConfig) -> Candidate:
    return Candidate(spec.key, str(spec), f"hand-designed ({spec.source})",
                     lambda: build_baseline(spec, num_classes), (3, cfg.baseline_size, cfg.baseline_size), True)


def _figures(runs: list[Run], candidates: list[Candidate], cfg: RetrainConfig, out: Path) -> dict[str, Path]:
    colors = {r.label: plots.color(i) for i, r in enumerate(runs)}
    baseline_colors = iter(plots.color(len(runs) + i) for i in range(len(candidates)))
    retrained = [{"label": c.label if c.baseline else f"{c.label.split()[-1]} ({c.origin})",
                  "mean": c.stats["val_acc"][0], "std": c.stats["val_acc"][1], "baseline": c.baseline,
                  "color": next(baseline_colors) if c.run is None else colors[c.run]} for c in candidates]
    # Each limit keeps one style across figures, so a MACs and a latency limit never look alike.
    limits = [(limit.key, plots.LimitLine(limit.value, limit.label, i)) for i, limit in enumerate(search_limits(runs))]
    retrain_note = f"val accuracy, mean ± std over {cfg.seeds} seeds × {cfg.epochs} epochs"
    figures = {}
    for key, name, xlabel, log_x in (("macs", "pareto_macs", "MACs per image", True),
                                     ("latency_ms", "pareto_latency", "latency (ms, batch 1, CPU)", False)):
        series = [{"label": r.label, "color": colors[r.label], **pareto_series(r, key)} for r in runs]
        points = [{**m, "x": c.stats["cost"].macs if key == "macs" else c.stats["latency_ms"]}
                  for m, c in zip(retrained, candidates)]
        front_idx = pareto_front([(p["mean"], p["x"]) for p in points], (True, False))
        front = sorted((points[i]["x"], points[i]["mean"]) for i in front_idx)
        figures[name] = plots.pareto_figure(out / f"{name}.png", runs=series, retrained=points, retrained_front=front,
                                            xlabel=xlabel, title=f"accuracy vs {xlabel.split(' (')[0]}",
                                            search_note=_score_note(runs), retrain_note=retrain_note, log_x=log_x,
                                            limits=[line for k, line in limits if k == key])
    figures["progress"] = plots.progress_figure(out / "progress.png", [
        {"label": r.label, "color": colors[r.label], **progress_curve(r)} for r in runs])
    rl = [{"label": r.label, "color": colors[r.label], "log": r.rl_log} for r in runs if r.rl_log]
    if rl:
        figures["rl_reward"] = plots.reward_figure(out / "rl_reward.png", rl)
    for i, (run, check) in enumerate(rankchecks(runs)):
        figures[f"rankcheck_{i}"] = plots.rankcheck_figure(out / f"rankcheck_{i}.png", run.label, check)
    return figures


def _score_note(runs: list[Run]) -> str:
    """What scored the trials on a figure: once when every run agrees, else per run."""
    how = {scored_by(r) for r in runs}
    if len(how) == 1:
        return f"trials scored by {how.pop()}"
    return "\n".join(f"{r.label}: {scored_by(r)}" for r in runs)


def _references(runs: list[Run], specs: list[BaselineSpec]) -> list[dict[str, Any]]:
    """Published figures next to nasengine's own count of the same network at 224x224."""
    rows = []
    used = {r.result.space for r in runs}
    for space_name, preset, config, published in SPACE_REFERENCES:
        if space_name in used:
            space = get_space(space_name, **config)
            rows.append(_reference_row(f"{space_name} preset `{preset}`", published,
                                       space.cost(space.presets()[preset]), "`space.cost` (analytic)"))
    for spec in specs:
        published = published_baseline(spec)
        if published is not None:
            rows.append(_reference_row(str(spec), published, count_cost(build_baseline(spec, 1000), (3, 224, 224)),
                                       "`count_cost` (fvcore), 1000 classes"))
    return rows


def _reference_row(name: str, published: Published, ours: Any, how: str) -> dict[str, Any]:
    return {"name": name, "published": published, "macs": ours.macs, "params": ours.params, "how": how}


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    names = ("nasengine", "torch", "torchvision", "timm", "fvcore", "optuna", "numpy", "scikit-learn", "matplotlib")
    found = {}
    for name in names:
        try:
            found[name] = md.version(name)
        except md.PackageNotFoundError:
            found[name] = "not installed"
    found["python"] = sys.version.split()[0]
    return found

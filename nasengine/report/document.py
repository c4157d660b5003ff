"""``nasengine report``: searches compared with hand-designed baselines and published results.

Reads run folders written by ``nasengine search`` (``result.json``, ``config.yaml``,
``exports/``, ``controller.pt``), retrains the best architectures of every run and each
baseline from scratch with the same budget (cached in ``OUT/cache``, resumable), and
writes ``report.md``, a self-contained ``report.html`` and the PNG figures to ``OUT``.
Optional parts (latency in the trials' cost, an RL controller log, a ``rankcheck`` entry
in ``result.json``) appear when present and are skipped otherwise.
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import yaml

from nasengine.report import figures as plots
from nasengine.report.baselines import (
    SPACE_REFERENCES, BaselineSpec, Candidate, Published, RetrainConfig, build_baseline, check_baseline_input,
    parse_baseline, published_baseline, retrain_all,
)
from nasengine.bench.suites import machine_info
from nasengine.cost import count_cost, human
from nasengine.data.datasets import DataSplits, load_dataset
from nasengine.pareto import pareto_front
from nasengine.registry import get_space
from nasengine.search.config import SearchConfig


@dataclass(frozen=True)
class ReportConfig:
    """What one report compares and how.

    Args:
        runs: Search run folders (each holds a ``result.json``).
        baselines: ``torchvision:NAME`` / ``timm:NAME`` specs.
        retrain: Retraining budget, input size of the baselines, latency repeats.
        top: Best architectures retrained per run.
        dataset, data_root: Data to retrain on (default: the runs' dataset).
        out: Output folder.
        command: The command line recorded in the report.
    """

    runs: tuple[str, ...]
    baselines: tuple[str, ...] = ()
    retrain: RetrainConfig = field(default_factory=RetrainConfig)
    top: int = 1
    dataset: str | None = None
    data_root: str | None = None
    out: str = "report"
    command: str = ""

    def __post_init__(self) -> None:
        if not self.runs:
            raise ValueError("a report needs at least one RUN folder")
        if not isinstance(self.top, int) or self.top < 1:
            raise ValueError(f"top must be a positive integer, got {self.top!r}")


@dataclass
class Run:
    """One search run folder, read."""

    path: Path
    label: str
    result: dict[str, Any]
    config: dict[str, Any]
    exports: list[dict[str, Any]]
    rl_log: list[dict[str, Any]]

    @property
    def completed(self) -> list[dict[str, Any]]:
        return [r for r in self.result.get("trials", []) if r.get("state") == "COMPLETE" and r.get("metrics")]


def load_run(path: str | Path, label: str | None = None) -> Run:
    """Read a run folder; ``ValueError`` when it holds no readable ``result.json``."""
    path = Path(path)
    result_file = path / "result.json"
    if not result_file.is_file():
        raise ValueError(f"run {str(path)!r} has no result.json (is it a `nasengine search --out` folder?)")
    try:
        result = json.loads(result_file.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{result_file}: invalid JSON ({exc})") from None
    config_file = path / "config.yaml"
    config = (yaml.safe_load(config_file.read_text()) or {}) if config_file.is_file() else {}
    exports = [json.loads(f.read_text()) for f in sorted(path.glob("exports/*/arch.json"))]
    return Run(path, label or path.name, result, config, exports, read_rl_log(path / "controller.pt"))


def read_rl_log(path: Path) -> list[dict[str, Any]]:
    """Learned-trial entries (``trial``, ``reward``, ``baseline``) of a saved controller
    state; empty when there is none or the controller keeps no such log."""
    if not path.is_file():
        return []
    state = torch.load(path, map_location="cpu", weights_only=False)
    log = state.get("log") if isinstance(state, dict) else None
    return [e for e in log or [] if isinstance(e, dict) and "reward" in e and "baseline" in e]


def read_rankcheck(result: dict[str, Any]) -> dict[str, Any] | None:
    """The one-shot ranking check stored under ``result["rankcheck"]``, normalised:
    ``{"rows": [{"arch_id", "macs", "oneshot_acc", "standalone_acc"}], "kendall_tau",
    "spearman_rho", "samples", "epochs"}``; ``None`` when absent or unusable."""
    raw = result.get("rankcheck")
    if not isinstance(raw, dict):
        return None
    rows = []
    for r in raw.get("rows") or []:
        one = _first(r, "oneshot_acc", "oneshot_score", "oneshot")
        alone = _first(r, "standalone_acc", "standalone")
        if one is not None and alone is not None:
            rows.append({"arch_id": r.get("arch_id"), "macs": r.get("macs"), "oneshot_acc": float(one),
                         "standalone_acc": float(alone)})
    if len(rows) < 2:
        return None
    tau = raw.get("kendall_tau")
    if tau is None:
        from scipy.stats import kendalltau

        tau = float(kendalltau([r["oneshot_acc"] for r in rows], [r["standalone_acc"] for r in rows]).statistic)
    return {"rows": rows, "kendall_tau": float(tau), "spearman_rho": raw.get("spearman_rho"),
            "samples": raw.get("samples", len(rows)), "epochs": raw.get("epochs")}


def _first(row: dict[str, Any], *keys: str) -> Any:
    return next((row[k] for k in keys if row.get(k) is not None), None)


def pareto_series(run: Run, key: str) -> dict[str, list[tuple[float, float]]]:
    """Every completed trial as ``(cost[key], acc)`` and the accuracy-vs-cost Pareto
    front (``nasengine.pareto``), sorted by cost; trials without ``key`` are left out."""
    rows = [r for r in run.completed if (r.get("cost") or {}).get(key) is not None]
    points = [(float(r["cost"][key]), float(r["metrics"]["acc"])) for r in rows]
    front = [points[i] for i in pareto_front([(acc, cost) for cost, acc in points], (True, False))]
    return {"points": points, "front": sorted(set(front))}


def progress_curve(run: Run) -> dict[str, list[tuple[int, float]]]:
    """Each completed trial's accuracy and the best so far, in trial order."""
    trials = sorted((r["number"], float(r["metrics"]["acc"])) for r in run.completed)
    best, running = [], float("-inf")
    for number, acc in trials:
        running = max(running, acc)
        best.append((number, running))
    return {"trials": trials, "best": best}


def top_archs(run: Run, k: int) -> list[dict[str, Any]]:
    """The run's ``k`` best architectures: its exports by validation accuracy, else its best trial."""
    docs = sorted(run.exports, key=lambda d: -d.get("metrics", {}).get("val_acc", 0.0))
    if not docs and run.result.get("best"):
        best = run.result["best"]
        docs = [{"space": run.result["space"], "config": run.result["space_config"], "choices": best["choices"],
                 "id": best["arch_id"], "metrics": {"val_acc": best["metrics"]["acc"]}, "trial": best["number"]}]
    return docs[:k]


def search_command(config: dict[str, Any]) -> str:
    """A ``nasengine search`` command line equivalent to a run's ``config.yaml``.

    Every config key that ``nasengine search`` has an option for is written out (``*_options``
    and ``space_config`` as repeated ``--*-set`` / ``--set``), so new search options carry over.
    """
    import argparse

    from nasengine.cli import search as cli_search  # its parser is the reference for option names

    sub = argparse.ArgumentParser(prog="nasengine").add_subparsers()
    cli_search.add_parser(sub)
    flags = {a.dest: a.option_strings[-1] for a in sub.choices["search"]._actions if a.option_strings}
    defaults = SearchConfig().to_dict()
    options = dict(config.get("evaluator_options") or {})
    parts = ["nasengine", "search"]
    for key, value in config.items():
        derived = key == "controller" and config.get("strategy")  # the strategy names it
        if key == "evaluator_options" or value is None or value == {} or derived:
            continue
        if key == "evaluator":
            if value != "train":
                path = options.pop("path", None) if value == "table" else None
                parts += ["--evaluator", f"{value}:{path}" if path else str(value)]
            continue
        if isinstance(value, dict):
            flag = flags.get("set" if key == "space_config" else key.replace("_options", "_set"))
            if flag is None:
                raise ValueError(f"config key {key!r} has no `nasengine search` option")
            parts += [item for k, v in value.items() for item in (flag, f"{k}={_flow(v)}")]
            continue
        if key not in flags or (value == defaults.get(key) and key not in _ALWAYS):
            continue
        if isinstance(value, (list, tuple)):
            value = ",".join(map(str, value))
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        parts += [flags[key], str(value)]
    parts += [item for k, v in options.items() for item in (flags.get("evaluator_set", "--evaluator-set"),
                                                             f"{k}={_flow(v)}")]
    return shlex.join(parts)


#: Search options written even at their default value: they say what the run was.
_ALWAYS = ("space", "strategy", "controller", "dataset", "epochs", "trials", "seed", "out")


def _flow(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def make_report(cfg: ReportConfig, *, progress: bool = True) -> dict[str, Path]:
    """Gather, retrain (cached), plot and write the report; returns the written files."""
    out = Path(cfg.out)
    labels = _labels([Path(p) for p in cfg.runs])
    runs = [load_run(p, label) for p, label in zip(cfg.runs, labels)]
    specs = [parse_baseline(s) for s in cfg.baselines]
    dataset, data_root = _dataset(runs, cfg)
    data_cache: dict[tuple[int, int], DataSplits] = {}

    def data(size: int, channels: int) -> DataSplits:
        if (size, channels) not in data_cache:
            data_cache[size, channels] = load_dataset(dataset, data_root=data_root, image_size=size, channels=channels)
        return data_cache[size, channels]

    num_classes = data(cfg.retrain.baseline_size, 3).num_classes
    for spec in specs:
        check_baseline_input(spec, num_classes, cfg.retrain.baseline_size)
    candidates = _found(runs, cfg.top, num_classes) + [_baseline(s, num_classes, cfg.retrain) for s in specs]
    out.mkdir(parents=True, exist_ok=True)
    retrain_all(candidates, cfg.retrain, data, out / "cache", progress=progress)
    figures = _figures(runs, candidates, cfg.retrain, out)
    context = {"cfg": cfg, "runs": runs, "candidates": candidates, "specs": specs, "dataset": dataset,
               "num_classes": num_classes, "figures": figures, "rankchecks": _rankchecks(runs),
               "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine_info(),
               "versions": _versions()}
    blocks = _blocks(context, _references(runs, specs))
    (out / "report.md").write_text(to_markdown(blocks), encoding="utf-8")
    (out / "report.html").write_text(to_html(blocks), encoding="utf-8")
    return {"markdown": out / "report.md", "html": out / "report.html", **figures}


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
            space = get_space(d["space"], **d["config"])
            arch = space.arch(d["choices"])
            if space.config.num_classes != num_classes:
                raise ValueError(f"run {run.label}: architecture {arch.id} has num_classes="
                                 f"{space.config.num_classes} but the data has {num_classes}")
            key = f"{arch.space}-{arch.id}"
            origin = f"run {run.label}, trial {d.get('trial', '?')}"
            if key in by_key:
                by_key[key].origin += f"; {origin}"
                continue
            by_key[key] = Candidate(key, f"{arch.space} {arch.id}", origin, lambda s=space, a=arch: s.build(a),
                                    tuple(space.input_shape(1)[1:]), False, d.get("metrics", {}).get("val_acc"),
                                    run=run.label)
    return list(by_key.values())


def _baseline(spec: BaselineSpec, num_classes: int, cfg: RetrainConfig) -> Candidate:
    return Candidate(spec.key, str(spec), f"hand-designed ({spec.source})",
                     lambda: build_baseline(spec, num_classes), (3, cfg.baseline_size, cfg.baseline_size), True)


def _figures(runs: list[Run], candidates: list[Candidate], cfg: RetrainConfig, out: Path) -> dict[str, Path]:
    colors = {r.label: plots.color(i) for i, r in enumerate(runs)}
    baseline_colors = iter(plots.color(len(runs) + i) for i in range(len(candidates)))
    retrained = [{"label": c.label if c.baseline else f"{c.label.split()[-1]} ({c.origin})",
                  "mean": c.stats["val_acc"][0], "std": c.stats["val_acc"][1], "baseline": c.baseline,
                  "color": next(baseline_colors) if c.run is None else colors[c.run]} for c in candidates]
    limits = sorted({r.result.get("constraints", {}).get("max_macs") for r in runs} - {None})
    retrain_note = f"val accuracy, mean ± std over {cfg.seeds} seeds × {cfg.epochs} epochs"
    figures = {}
    for key, name, xlabel, log_x in (("macs", "pareto_macs", "MACs per image", True),
                                     ("latency_ms", "pareto_latency", "latency (ms, batch 1, CPU)", False)):
        series = [{"label": r.label, "color": colors[r.label], **pareto_series(r, key)} for r in runs]
        points = [{**m, "x": c.stats["cost"].macs if key == "macs" else c.stats["latency_ms"]}
                  for m, c in zip(retrained, candidates)]
        front_idx = pareto_front([(p["mean"], p["x"]) for p in points], (True, False))
        front = sorted((points[i]["x"], points[i]["mean"]) for i in front_idx)
        epochs = sorted({r.config.get("epochs") for r in runs if r.config.get("epochs")})
        note = f"{'/'.join(map(str, epochs))}-epoch proxy training per trial" if epochs else "proxy accuracy"
        figures[name] = plots.pareto_figure(out / f"{name}.png", runs=series, retrained=points, retrained_front=front,
                                            xlabel=xlabel, title=f"accuracy vs {xlabel.split(' (')[0]}",
                                            search_note=note, retrain_note=retrain_note, log_x=log_x,
                                            limits=limits if key == "macs" else [])
    figures["progress"] = plots.progress_figure(out / "progress.png", [
        {"label": r.label, "color": colors[r.label], **progress_curve(r)} for r in runs])
    rl = [{"label": r.label, "color": colors[r.label], "log": r.rl_log} for r in runs if r.rl_log]
    if rl:
        figures["rl_reward"] = plots.reward_figure(out / "rl_reward.png", rl)
    for i, (run, check) in enumerate(_rankchecks(runs)):
        figures[f"rankcheck_{i}"] = plots.rankcheck_figure(out / f"rankcheck_{i}.png", run.label, check)
    return figures


def _rankchecks(runs: list[Run]) -> list[tuple[Run, dict[str, Any]]]:
    return [(r, check) for r in runs if (check := read_rankcheck(r.result)) is not None]


def _references(runs: list[Run], specs: list[BaselineSpec]) -> list[dict[str, Any]]:
    """Published figures next to nasengine's own count of the same network at 224x224."""
    rows = []
    used = {r.result.get("space") for r in runs}
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


# --- the document ------------------------------------------------------------------------------
# A report is a list of blocks rendered twice (Markdown, HTML): ("h1" | "h2" | "h3" | "p", text),
# ("table", headers, rows), ("img", path, caption), ("code", text), ("details", summary, text).
# Text may hold `code`, **bold** and [links](https://...).

def _blocks(ctx: dict[str, Any], references: list[dict[str, Any]]) -> list[tuple]:
    cfg, runs, cands, figures = ctx["cfg"], ctx["runs"], ctx["candidates"], ctx["figures"]
    r = cfg.retrain
    blocks: list[tuple] = [
        ("h1", "nasengine report"),
        ("p", f"Generated {ctx['date']} on `{ctx['dataset']}` ({ctx['num_classes']} classes): "
              f"{len(runs)} search run(s), {len(ctx['specs'])} hand-designed baseline(s), every network retrained "
              f"from scratch with {r.seeds} seed(s) × {r.epochs} epoch(s). Command:"),
        ("code", cfg.command or "(made through the Python API: nasengine.report.document.make_report)"),
        ("h2", "Searches"),
        ("table", ["run", "strategy", "evaluator", "space", "trials", "proxy epochs", "best proxy val acc",
                   "best arch", "MACs", "params", "search time"], [_run_row(run) for run in runs]),
        ("h2", "Found architectures vs hand-designed baselines"),
        ("p", f"Top {cfg.top} architecture(s) per run (exports ranked by validation accuracy) and each baseline, "
              f"retrained from scratch with the same budget: {r.seeds} seed(s) × {r.epochs} epoch(s). Accuracy "
              "is mean ± std over seeds on the validation split and on the held-out test split (never used by "
              "the search). MACs and params: fvcore count (`nasengine.cost.count_cost`) at the input each "
              "network is trained on. Latency: median of a batch-1 forward pass on the CPU, one thread."),
        ("table", ["network", "origin", "input", "MACs", "params", "latency (ms)", "val acc", "test acc",
                   "search proxy val acc"], [_candidate_row(c) for c in cands]),
        ("h2", "Accuracy vs cost"),
        ("img", figures["pareto_macs"], "Accuracy vs MACs. Left: every search trial (dots) and each run's Pareto "
                                        "front (line). Right: retrained networks, mean ± std (stars: baselines)."),
    ]
    with_latency = any(pareto_series(run, "latency_ms")["points"] for run in runs)
    blocks += [("img", figures["pareto_latency"], "Accuracy vs latency. Right: retrained networks, CPU latency "
                "measured at batch 1 on one thread." + (
        " Left: search trials, latency predicted by the search's latency table (its device and batch)."
        if with_latency else " The search trials carry no `latency_ms` in their cost, so only the retrained "
                             "networks are shown."))]
    blocks += [("h2", "Search progress"),
               ("img", figures["progress"], "Best-so-far validation accuracy per trial (dots: each trial).")]
    if "rl_reward" in figures:
        blocks += [("h2", "RL controller"),
                   ("img", figures["rl_reward"], "Reward of each learned trial and the controller's moving-average "
                                                 "baseline; the advantage is their difference.")]
    if ctx["rankchecks"]:
        blocks += [("h2", "One-shot ranking"), ("table", ["run", "archs", "standalone epochs", "Kendall tau",
                                                          "Spearman rho"], [
            [run.label, str(c["samples"]), str(c["epochs"] or "?"), f"{c['kendall_tau']:.3f}",
             "—" if c["spearman_rho"] is None else f"{c['spearman_rho']:.3f}"] for run, c in ctx["rankchecks"]])]
        blocks += [("img", figures[f"rankcheck_{i}"], f"{run.label}: one-shot score vs standalone accuracy.")
                   for i, (run, _) in enumerate(ctx["rankchecks"])]
    if references:
        blocks += [("h2", "Published reference figures"),
                   ("p", "ImageNet figures as published (FLOPs in these sources are multiply-adds), next to "
                         "nasengine's own count of the same network at 224×224 with 1,000 classes."),
                   ("table", ["network", "published MACs", "published params", "published top-1", "nasengine MACs",
                              "nasengine params", "counted by", "source"], [_reference_cells(x) for x in references])]
    blocks += _setup_blocks(ctx) + _command_blocks(ctx) + [
        ("h2", "Machine and versions"),
        ("table", ["item", "value"], [[k, str(v)] for k, v in {**ctx["machine"], **ctx["versions"]}.items()])]
    return blocks


def _run_row(run: Run) -> list[str]:
    res, best = run.result, run.result.get("best")
    seconds = sum(t.get("seconds") or 0.0 for t in run.completed)
    strategy = res.get("strategy") or res.get("controller", "?")  # older results name only the controller
    cells = [run.label, str(strategy), str(res.get("evaluator", "?")), str(res.get("space", "?")),
             str(len(run.completed)), str(run.config.get("epochs", "?"))]
    if best is None:
        return cells + ["—"] * 4 + [f"{seconds:.0f} s"]
    return cells + [f"{best['metrics']['acc']:.2%}", f"`{best['arch_id']}`", human(best["cost"]["macs"]),
                    human(best["cost"]["params"]), f"{seconds:.0f} s"]


def _candidate_row(c: Candidate) -> list[str]:
    cost, s = c.stats["cost"], c.stats
    return [c.label, c.origin, "×".join(map(str, c.input_shape)), human(cost.macs), human(cost.params),
            f"{s['latency_ms']:.2f}", _pm(s["val_acc"]), _pm(s["test_acc"]),
            "—" if c.search_acc is None else f"{c.search_acc:.2%}"]


def _pm(mean_std: tuple[float, float]) -> str:
    return f"{mean_std[0]:.2%} ± {mean_std[1]:.2%}"


def _reference_cells(row: dict[str, Any]) -> list[str]:
    p = row["published"]
    return [row["name"], "—" if p.macs is None else human(p.macs), "—" if p.params is None else human(p.params),
            "—" if p.top1 is None else f"{p.top1:.1f}%", human(row["macs"]), human(row["params"]), row["how"],
            p.source]


def _setup_blocks(ctx: dict[str, Any]) -> list[tuple]:
    r = ctx["cfg"].retrain
    train = r.train_config(0)
    found_inputs = sorted({"×".join(map(str, c.input_shape)) for c in ctx["candidates"] if not c.baseline})
    return [
        ("h2", "Setup"),
        ("p", f"**Data.** `{ctx['dataset']}` with nasengine's fixed 60/20/20 train/validation/test split. Found "
              f"architectures train on the input of their search space ({', '.join(found_inputs) or 'none'}). "
              f"Baselines are the unmodified torchvision / timm networks with a {ctx['num_classes']}-way "
              f"classifier and no pretrained weights; the data is adapted to them: images resized (bilinear) to "
              f"{r.baseline_size}×{r.baseline_size} and grey images repeated to 3 channels."),
        ("p", f"**Training** (identical for every network): SGD with Nesterov momentum {train.momentum}, lr "
              f"{train.lr}, cosine schedule, weight decay {train.weight_decay} (not on BN and biases), label "
              f"smoothing {train.label_smoothing}, batch {train.batch_size}, {r.epochs} epoch(s); seeds "
              f"0..{r.seeds - 1}. Test accuracy is measured once, after the last epoch."),
        ("p", f"**Latency.** `nasengine.latency.table.Timing`: batch 1 on the CPU, one thread, 10 warm-up passes, median "
              f"of {r.latency_runs} passes; all networks timed together, round-robin. **Cache.** Finished "
              "trainings and latencies are kept in `cache/`; running the same command again reuses them, and an "
              "interrupted training resumes from its last epoch."),
    ]


def _command_blocks(ctx: dict[str, Any]) -> list[tuple]:
    blocks: list[tuple] = [("h2", "Reproduce"), ("p", "The report:"),
                           ("code", ctx["cfg"].command or "(Python API)")]
    for run in ctx["runs"]:
        blocks.append(("h3", f"Run {run.label}"))
        if run.config:
            blocks += [("p", "An equivalent search command, rebuilt from the run's `config.yaml`:"),
                       ("code", search_command(run.config)),
                       ("details", "config.yaml", yaml.safe_dump(run.config, sort_keys=False).strip())]
        else:
            blocks.append(("p", f"`{run.path}` has no `config.yaml`; its command is unknown."))
    return blocks


def to_markdown(blocks: list[tuple]) -> str:
    """Render report blocks as Markdown (images referenced by file name)."""
    lines: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + block[1], ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "code":
            lines += ["```", block[1], "```", ""]
        elif kind == "details":
            lines += [f"<details><summary>{block[1]}</summary>", "", "```yaml", block[2], "```", "", "</details>", ""]
        elif kind == "img":
            lines += [f"![{block[2]}]({Path(block[1]).name})", "", f"*{block[2]}*", ""]
        elif kind == "table":
            headers, rows = block[1], block[2]
            lines.append("| " + " | ".join(headers) + " |")
            lines.append("|" + "|".join("---" for _ in headers) + "|")
            lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
            lines.append("")
    return "\n".join(lines)


def to_html(blocks: list[tuple], title: str = "nasengine report") -> str:
    """Render report blocks as one self-contained HTML page (PNGs embedded as data URIs)."""
    import base64
    import html

    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body>"]
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3", "p"):
            parts.append(f"<{kind}>{_inline(block[1])}</{kind}>")
        elif kind == "code":
            parts.append(f"<pre><code>{html.escape(block[1])}</code></pre>")
        elif kind == "details":
            parts.append(f"<details><summary>{html.escape(block[1])}</summary><pre><code>{html.escape(block[2])}"
                         "</code></pre></details>")
        elif kind == "img":
            data = base64.b64encode(Path(block[1]).read_bytes()).decode("ascii")
            parts.append(f"<figure><img src=\"data:image/png;base64,{data}\" alt=\"{html.escape(block[2])}\">"
                         f"<figcaption>{_inline(block[2])}</figcaption></figure>")
        elif kind == "table":
            head = "".join(f"<th>{_inline(h)}</th>" for h in block[1])
            body = "".join("<tr>" + "".join(f"<td>{_inline(str(c))}</td>" for c in row) + "</tr>" for row in block[2])
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _inline(text: str) -> str:
    import html
    import re

    text = html.escape(text, quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r'<a href="\2">\1</a>', text)


_CSS = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}th,td{border:1px solid #ccc;padding:4px 8px;"
        "text-align:left;vertical-align:top}th{background:#f3f3f3}pre{background:#f6f8fa;padding:0.8em;"
        "overflow-x:auto;white-space:pre-wrap}code{font-size:0.92em}figure{margin:1.5em 0}img{max-width:100%}"
        "figcaption{color:#555;font-size:0.9em}")

"""The figures of ``nasengine report`` (matplotlib, Agg backend: no display needed).

Each function takes plain data (lists and dicts gathered by ``nasengine.report.make``, or a
record), writes one PNG and returns its path. Every axis that carries an accuracy (or the RL
reward, which is an accuracy scaled by a cost factor) is labelled in percent, like the
report's tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; never open a window
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter  # noqa: E402

from nasengine.cost import human  # noqa: E402
from nasengine.records import RankCheck  # noqa: E402

_DPI = 130
_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "h")


def color(index: int) -> str:
    """The colour of run ``index`` in every figure (tab10)."""
    return f"C{index % 10}"


@dataclass(frozen=True)
class LimitLine:
    """A hard limit drawn on a cost axis: its value, its legend label ("MACs limit 40K")
    and its style index (``LIMIT_STYLES``), fixed per limit for the whole report."""

    value: float
    label: str
    style: int


#: (colour, line style) of limit lines, by ``LimitLine.style``; none matches a run's line.
LIMIT_STYLES: tuple[tuple[str, Any], ...] = (("black", ":"), ("firebrick", "--"), ("purple", "-."),
                                             ("teal", (0, (5, 2, 1, 2, 1, 2))), ("saddlebrown", (0, (1, 4))))


def draw_limits(ax: Any, limits: Sequence[LimitLine]) -> None:
    """Vertical lines at ``limits``, each in its own style and named in the legend."""
    for limit in limits:
        colour, style = LIMIT_STYLES[limit.style % len(LIMIT_STYLES)]
        ax.axvline(limit.value, color=colour, linestyle=style, linewidth=1.4, label=limit.label)


def pareto_figure(path: Path, *, runs: Sequence[dict[str, Any]], retrained: Sequence[dict[str, Any]],
                  retrained_front: Sequence[tuple[float, float]], xlabel: str, title: str, search_note: str,
                  retrain_note: str, log_x: bool = True, limits: Sequence[LimitLine] = ()) -> Path:
    """Accuracy vs a cost: search trials and their fronts (left, when ``runs`` have points)
    and retrained architectures and baselines with mean +- std (right).

    Args:
        runs: ``{"label", "color", "points": [(x, acc)], "front": [(x, acc)]}`` per run.
        retrained: ``{"label", "x", "mean", "std", "baseline": bool, "color"}`` per model.
        retrained_front: Pareto front of the retrained means, sorted by x.
        limits: Hard limits of the searches on this cost, drawn as vertical lines on the left.
    """
    with_search = any(r["points"] for r in runs)
    fig, axes = plt.subplots(1, 2 if with_search else 1, figsize=(12, 5.6) if with_search else (7, 5.6),
                             squeeze=False, dpi=_DPI)
    if with_search:
        ax = axes[0][0]
        for r in runs:
            if not r["points"]:
                continue
            xs, ys = zip(*r["points"])
            ax.scatter(xs, ys, s=14, alpha=0.35, color=r["color"], linewidths=0)
            fx, fy = zip(*r["front"])
            ax.plot(fx, fy, "-o", color=r["color"], drawstyle="steps-post", markersize=5,
                    label=f"{r['label']} ({len(r['points'])} trials, {len(r['front'])} on front)")
        draw_limits(ax, limits)
        xs = [x for r in runs for x, _ in r["points"]]
        _style(ax, xlabel, "validation accuracy (search score)", f"search trials and Pareto fronts\n{search_note}",
               log_x and _wide(xs))
    ax = axes[0][-1]
    for i, m in enumerate(retrained):
        marker = "*" if m["baseline"] else _MARKERS[i % len(_MARKERS)]
        ax.errorbar([m["x"]], [m["mean"]], yerr=[m["std"]], fmt=marker, color=m["color"], capsize=3,
                    markersize=13 if m["baseline"] else 8, markeredgecolor="black", markeredgewidth=0.6,
                    label=m["label"])
    if len(retrained_front) > 1:
        fx, fy = zip(*retrained_front)
        ax.plot(fx, fy, "--", color="grey", linewidth=1, drawstyle="steps-post", label="Pareto front", zorder=0)
    _style(ax, xlabel, "validation accuracy (retrained)", f"retrained from scratch\n{retrain_note}",
           log_x and _wide([m["x"] for m in retrained]), legend=False)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    fig.suptitle(title, fontsize=12)
    return _save(fig, path)


def progress_figure(path: Path, runs: Sequence[dict[str, Any]]) -> Path:
    """Best-so-far validation accuracy per trial, one line per run (each trial as a dot).

    Args:
        runs: ``{"label", "color", "trials": [(number, acc)], "best": [(number, best)]}``.
    """
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=_DPI)
    for r in runs:
        if not r["trials"]:
            continue
        xs, ys = zip(*r["trials"])
        ax.scatter(xs, ys, s=12, alpha=0.35, color=r["color"], linewidths=0)
        bx, by = zip(*r["best"])
        ax.plot(bx, by, drawstyle="steps-post", color=r["color"], linewidth=2, label=f"{r['label']} (best so far)")
    _style(ax, "trial", "validation accuracy (search score)", "search progress", log_x=False)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _save(fig, path)


def reward_figure(path: Path, runs: Sequence[dict[str, Any]]) -> Path:
    """The RL controller's reward per learned trial and its moving-average baseline.

    Args:
        runs: ``{"label", "color", "log": [{"trial", "reward", "baseline"}...]}``.
    """
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=_DPI)
    for r in runs:
        trials = [e["trial"] for e in r["log"]]
        ax.scatter(trials, [e["reward"] for e in r["log"]], s=16, color=r["color"], alpha=0.6,
                   label=f"{r['label']}: reward")
        ax.plot(trials, [e["baseline"] for e in r["log"]], color=r["color"], linewidth=2,
                label=f"{r['label']}: baseline (EMA)")
    _style(ax, "trial", "reward (accuracy × cost factor)", "RL controller (REINFORCE): reward and baseline",
           log_x=False)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _save(fig, path)


def rankcheck_figure(path: Path, label: str, rankcheck: RankCheck) -> Path:
    """One-shot score vs standalone accuracy of sampled architectures, with Kendall tau and Spearman rho."""
    fig, ax = plt.subplots(figsize=(5.6, 4.6), dpi=_DPI)
    rows = rankcheck.rows
    sc = ax.scatter([r.oneshot_acc for r in rows], [r.standalone_acc for r in rows],
                    c=[r.macs for r in rows], cmap="viridis", s=30, edgecolors="black", linewidths=0.4)
    bar = fig.colorbar(sc, ax=ax)
    bar.set_label("MACs")
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: human(v)))
    stats = f"Kendall tau = {_stat(rankcheck.kendall_tau)}, Spearman rho = {_stat(rankcheck.spearman_rho)}"
    if rankcheck.seed_to_seed_tau is not None:
        stats += f", seed-to-seed tau = {rankcheck.seed_to_seed_tau:.3f}"
    _style(ax, "one-shot score (val accuracy, inherited weights)", "standalone val accuracy",
           f"{label}: one-shot ranking ({len(rows)} archs)\n{stats}", log_x=False, legend=False)
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0))  # both axes are accuracies
    return _save(fig, path)


def _wide(values: Sequence[float]) -> bool:
    """Whether ``values`` span enough decades for a log axis to help (and to have ticks)."""
    positive = [v for v in values if v > 0]
    return bool(positive) and max(positive) >= 20 * min(positive)


def _style(ax: Any, xlabel: str, ylabel: str, title: str, log_x: bool, legend: bool = True) -> None:
    if log_x:
        ax.set_xscale("log")
    if "MACs" in xlabel or "params" in xlabel:
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: human(v)))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))  # every y axis is an accuracy
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best", framealpha=0.85)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _stat(value: float | None) -> str:
    """A rank correlation to 3 decimals; ``n/a`` where it is undefined (a constant ranking)."""
    return "n/a" if value is None or value != value else f"{value:.3f}"

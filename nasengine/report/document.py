"""The report document: a list of blocks, rendered by ``nasengine.report.render`` as
Markdown and as one self-contained HTML page.

Blocks: ``("h1" | "h2" | "h3" | "p", text)``, ``("table", headers, rows)``, ``("img", path,
caption)``, ``("code", text)``, ``("details", summary, text)``. Text may hold `code`,
**bold** and [links](https://...). Every accuracy is written in percent (``pct``), in the
tables as on the figures' axes, so a report never mixes percentages and fractions.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import yaml

from nasengine.arch import choices_line
from nasengine.cost import human
from nasengine.records import RankCheck
from nasengine.report.baselines import Candidate
from nasengine.report.render import to_html, to_markdown
from nasengine.report.runs import Run, pareto_series, scored_by, search_command, search_time
from nasengine.report.simple import SimpleBaseline
from nasengine.report.stats import accuracy_interval, interval_method

__all__ = ["report_blocks", "to_html", "to_markdown", "pct", "rankcheck_table", "summary_table"]


def pct(value: float) -> str:
    """An accuracy (a fraction 0..1) as the report writes every accuracy: in percent."""
    return f"{value:.2%}"


def report_blocks(ctx: dict[str, Any], references: list[dict[str, Any]]) -> list[tuple]:
    """The report's blocks from what ``make_report`` gathered (``ctx``) and the published
    reference rows."""
    cfg, runs, figures = ctx["cfg"], ctx["runs"], ctx["figures"]
    r = cfg.retrain
    blocks: list[tuple] = [
        ("h1", "nasengine report"),
        ("p", f"Generated {ctx['date']} on `{ctx['dataset']}` ({ctx['num_classes']} classes): "
              f"{len(runs)} search run(s), {len(ctx['specs'])} hand-designed baseline(s), every network retrained "
              f"from scratch with {r.seeds} seed(s) × {r.epochs} epoch(s). All accuracies are in percent. Command:"),
        ("code", cfg.command or "(made through the Python API: nasengine.report.make_report)"),
        ("h2", "Searches"),
        ("p", "**Scored by**: what gave each trial its accuracy (one-shot runs score candidates with shared "
              "weights and train none of them). **Search time** = pretraining (supernet / PruningNet training, "
              "0 s for strategies without one) + the trials' evaluation time."),
        ("table", ["run", "strategy", "evaluator", "scored by", "space", "trials", "best search val acc", "best arch",
                   "MACs", "params", "pretraining", "trials time", "search time"], [_run_row(run) for run in runs]),
        *_found_blocks(ctx),
        ("h2", "Accuracy vs cost"),
        ("img", figures["pareto_macs"], "Accuracy vs MACs. Left: every search trial (dots) and each run's Pareto "
                                        "front (line); vertical lines: the searches' hard limits. Right: retrained "
                                        "networks, mean ± std (stars: baselines)."),
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
        headers, rows = rankcheck_table(ctx["rankchecks"])
        blocks += [("h2", "One-shot ranking"), ("table", headers, rows)]
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


def _found_blocks(ctx: dict[str, Any]) -> list[tuple]:
    cfg, cands, simple = ctx["cfg"], ctx["candidates"], ctx.get("simple")
    r = cfg.retrain
    rows = [_candidate_row(c) for c in cands] + ([_simple_row(simple)] if simple is not None else [])
    found = [c for c in cands if not c.baseline]
    return [
        ("h2", "Found architectures vs baselines"),
        ("p", f"Top {cfg.top} architecture(s) per run (exports ranked by validation accuracy) and each baseline, "
              f"retrained from scratch with the same budget: {r.seeds} seed(s) × {r.epochs} epoch(s). Accuracy "
              "is mean ± std over seeds on the validation split and on the held-out test split (never used by "
              f"the search); 95% CI: {interval_method(r.seeds)}. MACs and params: fvcore count "
              "(`nasengine.cost.count_cost`) at the input each network is trained on. Latency: median of a "
              "batch-1 forward pass on the CPU, one thread." + (
                  " The simple baseline is scikit-learn's logistic regression on the raw pixels, fitted once on "
                  "the same train split (deterministic, so its interval is the Wilson interval over the "
                  "evaluated images)." if simple is not None else "")),
        ("table", ["network", "origin", "input", "MACs", "params", "latency (ms)", "val acc", "val 95% CI",
                   "test acc", "test 95% CI", "search val acc"], rows),
        ("p", "Choices of each found architecture" + (" and the training settings its search tuned for it "
                                                         "(`--tune`; the retraining above keeps the common budget)"
                                                         if any(c.hparams for c in found) else "") + ":"),
        ("table", ["network", "choices"] + (["tuned training"] if any(c.hparams for c in found) else []),
         [[c.label, f"`{choices_line(c.choices)}`" if c.choices else "—"]
          + ([f"`{choices_line(c.hparams)}`" if c.hparams else "—"] if any(f.hparams for f in found) else [])
          for c in found]),
    ]


def _run_row(run: Run) -> list[str]:
    res, best, spent = run.result, run.result.best, search_time(run)
    strategy = res.strategy or res.controller  # a search without a strategy names only its controller
    cells = [run.label, strategy, res.evaluator, scored_by(run), res.space, str(len(run.completed))]
    times = ["not recorded" if spent.pretrain is None else f"{spent.pretrain:.0f} s", f"{spent.trials:.0f} s",
             "unknown (pretraining not recorded)" if spent.total is None else f"{spent.total:.0f} s"]
    if best is None:
        return cells + ["—"] * 4 + times
    return cells + [pct(best.acc), f"`{best.arch_id}`", human(best.cost["macs"]), human(best.cost["params"])] + times


def _candidate_row(c: Candidate) -> list[str]:
    cost, s = c.stats["cost"], c.stats
    return [c.label, c.origin, "×".join(map(str, c.input_shape)), human(cost.macs), human(cost.params),
            f"{s['latency_ms']:.2f}", _pm(s["val_acc"]), _ci(s.get("val_accs", ()), s.get("n_val")),
            _pm(s["test_acc"]), _ci(s.get("test_accs", ()), s.get("n_test")),
            "—" if c.search_acc is None else pct(c.search_acc)]


def _simple_row(b: SimpleBaseline) -> list[str]:
    return [b.label, b.origin, "×".join(map(str, b.input_shape)), human(b.macs), human(b.params), "—",
            pct(b.val_acc), _ci([b.val_acc], b.n_val), pct(b.test_acc), _ci([b.test_acc], b.n_test), "—"]


def _pm(mean_std: tuple[float, float]) -> str:
    return f"{pct(mean_std[0])} ± {pct(mean_std[1])}"


def _ci(values: Sequence[float], n_images: int | None) -> str:
    interval = accuracy_interval(list(values), n_images)
    return "—" if interval is None else f"{pct(interval[0])} – {pct(interval[1])}"


#: Column names of the rank check's fields; any field not named here shows under its own name.
_RANKCHECK_COLUMNS = {"samples": "archs", "epochs": "standalone epochs", "seed": "seed",
                      "seeds": "standalone seeds", "evaluator": "one-shot evaluator", "kendall_tau": "Kendall tau",
                      "spearman_rho": "Spearman rho", "seed_to_seed_tau": "seed-to-seed tau",
                      "seconds": "check time", "run": "run folder", "command": "command"}


def rankcheck_table(checks: list[tuple[Run, RankCheck]]) -> tuple[list[str], list[list[str]]]:
    """Every figure the rank check records hold (all fields but the per-arch ``rows``, which
    the scatter plots show), one row per run."""
    names = [f.name for f in dataclasses.fields(RankCheck) if f.name != "rows"]
    headers = ["run"] + [_RANKCHECK_COLUMNS.get(n, n) for n in names]
    return headers, [[run.label] + [_rankcheck_cell(n, getattr(c, n)) for n in names] for run, c in checks]


def _rankcheck_cell(name: str, value: Any) -> str:
    if value is None:
        return "—" if name != "seed_to_seed_tau" else "— (one seed)"
    if name == "seconds":
        return f"{value:.0f} s"
    if name == "command":
        return f"`{value}`"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


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
        ("p", f"**Latency.** `nasengine.utils.timing.Timing`: batch 1 on the CPU, one thread, 10 warm-up passes, median "
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


def summary_table(candidates: Sequence[Candidate], simple: SimpleBaseline | None, retrain: Any) -> str:
    """The retrained networks as one plain-text table (what ``nasengine report`` prints):
    test accuracy mean ± std over seeds, MACs and params, best first."""
    rows = [(c.stats["test_acc"][0], [c.label.split()[-1] if not c.baseline else c.label, c.origin,
                                      f"{pct(c.stats['test_acc'][0])} ± {pct(c.stats['test_acc'][1])}",
                                      pct(c.stats["val_acc"][0]), human(c.stats["cost"].macs),
                                      human(c.stats["cost"].params)]) for c in candidates]
    if simple is not None:
        rows.append((simple.test_acc, [simple.label, simple.origin, pct(simple.test_acc), pct(simple.val_acc),
                                       human(simple.macs), human(simple.params)]))
    table = [["network", "origin", f"test acc (± std, {retrain.seeds} seeds)", "val acc", "MACs", "params"]]
    table += [cells for _, cells in sorted(rows, key=lambda r: -r[0])]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return (f"retrained from scratch, {retrain.seeds} seed(s) x {retrain.epochs} epoch(s) each:\n"
            + "\n".join(lines) + "\n")

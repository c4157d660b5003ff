"""The report document: a list of blocks rendered twice, as Markdown and as one
self-contained HTML page.

Blocks: ``("h1" | "h2" | "h3" | "p", text)``, ``("table", headers, rows)``, ``("img", path,
caption)``, ``("code", text)``, ``("details", summary, text)``. Text may hold `code`,
**bold** and [links](https://...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from nasengine.cost import human
from nasengine.report.baselines import Candidate
from nasengine.report.runs import Run, pareto_series, search_command


def report_blocks(ctx: dict[str, Any], references: list[dict[str, Any]]) -> list[tuple]:
    """The report's blocks from what ``make_report`` gathered (``ctx``) and the published
    reference rows."""
    cfg, runs, cands, figures = ctx["cfg"], ctx["runs"], ctx["candidates"], ctx["figures"]
    r = cfg.retrain
    blocks: list[tuple] = [
        ("h1", "nasengine report"),
        ("p", f"Generated {ctx['date']} on `{ctx['dataset']}` ({ctx['num_classes']} classes): "
              f"{len(runs)} search run(s), {len(ctx['specs'])} hand-designed baseline(s), every network retrained "
              f"from scratch with {r.seeds} seed(s) × {r.epochs} epoch(s). Command:"),
        ("code", cfg.command or "(made through the Python API: nasengine.report.make_report)"),
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
            [run.label, str(c.samples), str(c.epochs), f"{c.kendall_tau:.3f}", f"{c.spearman_rho:.3f}"]
            for run, c in ctx["rankchecks"]])]
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
    res, best = run.result, run.result.best
    seconds = sum(t.seconds or 0.0 for t in run.completed)
    strategy = res.strategy or res.controller  # a search without a strategy names only its controller
    cells = [run.label, strategy, res.evaluator, res.space, str(len(run.completed)), str(run.config.get("epochs", "?"))]
    if best is None:
        return cells + ["—"] * 4 + [f"{seconds:.0f} s"]
    return cells + [f"{best.acc:.2%}", f"`{best.arch_id}`", human(best.cost["macs"]), human(best.cost["params"]),
                    f"{seconds:.0f} s"]


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

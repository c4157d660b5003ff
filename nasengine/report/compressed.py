"""``nasengine report`` of compression runs: folders written by ``nasengine compress`` (each
holds ``compress.json``) compared with each other and with the network they were pruned from.

Nothing is retrained: every number comes from the records (MACs and parameters counted by
fvcore, validation accuracy of the source, of the pruned network and after fine-tuning, test
accuracy of the result, and the channels each layer kept). Runs of the same source (same
origin and MACs) share one source point in the figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from nasengine.cost import human
from nasengine.records.compress import CompressRecord
from nasengine.report.make import _labels
from nasengine.report.render import records_tail, write_documents

FIGURE = "compress_accuracy_macs.png"


def is_compress_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder written by ``nasengine compress``."""
    return (Path(path) / CompressRecord.FILE).is_file()


def compress_report(folders: Sequence[str | Path], out: str | Path, *, command: str = "") -> dict[str, Path]:
    """Write ``report.md``, ``report.html``, ``summary.txt`` and the accuracy-vs-MACs figure
    for the compression runs in ``folders``; returns the written files."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    labels = _labels([Path(f) for f in folders])
    records = [CompressRecord.load(Path(f) / CompressRecord.FILE) for f in folders]
    figure = accuracy_macs_figure(out / FIGURE, labels, records)
    headers, rows = results_table(labels, records)
    blocks: list[tuple] = [
        ("h1", "nasengine report: compressed networks"),
        ("p", f"{len(records)} compression run(s) of {len(_sources(records))} source network(s). Accuracies are "
              "those recorded by `nasengine compress` (validation split unless marked test); nothing is retrained."),
        ("h2", "Results"), ("table", headers, rows),
        ("img", str(figure), "Validation accuracy vs MACs: each source (star), each run pruned (hollow) and "
                             "after fine-tuning (filled)."),
        ("h2", "Channels kept per layer"), ("table", *ratios_table(labels, records)),
        *records_tail(labels, [r.command for r in records], command),
    ]
    files = write_documents(out, blocks, "nasengine report: compressed networks", (headers, rows))
    return {**files, "accuracy_macs": figure}


def results_table(labels: Sequence[str], records: Sequence[CompressRecord]) -> tuple[list[str], list[list[str]]]:
    """One row per source, then one per run: MACs and parameters (with their ratio to the
    source), accuracies and fine-tuning epochs."""
    headers = ["network", "method", "MACs limit", "MACs", "params", "val acc source", "val acc pruned",
               "val acc fine-tuned", "test acc", "epochs"]
    rows: list[list[str]] = []
    for name, first in _sources(records).items():
        src = first.source_cost
        rows.append([f"source: {name}", "-", "-", human(src["macs"]), human(src["params"]),
                     _pct(first.source_val_acc), "-", "-", "-", "-"])
    for label, r in zip(labels, records):
        src, new = r.source_cost, r.cost
        rows.append([label, r.method, human(r.limit_macs), f"{human(new['macs'])} ({new['macs'] / src['macs']:.1%})",
                     f"{human(new['params'])} ({new['params'] / src['params']:.1%})", _pct(r.source_val_acc),
                     _pct(r.pruned_val_acc), _pct(r.finetuned_val_acc), _pct(r.test_acc), str(r.epochs)])
    return headers, rows


def ratios_table(labels: Sequence[str], records: Sequence[CompressRecord]) -> tuple[list[str], list[list[str]]]:
    """Kept / source channels of every prunable layer (rows, in the first record's order)
    for every run (columns); ``-`` where a run's source has no such layer."""
    layers: list[str] = []
    for r in records:
        layers += [name for name in r.source_channels if name not in layers]
    rows = []
    for name in layers:
        cells = [f"{r.channels[name]}/{r.source_channels[name]}" if name in r.channels else "-" for r in records]
        rows.append([f"`{name}`", *cells])
    return ["layer", *labels], rows


def accuracy_macs_figure(path: Path, labels: Sequence[str], records: Sequence[CompressRecord]) -> Path:
    """Validation accuracy vs MACs: sources as stars, every run pruned (hollow) and after
    fine-tuning (filled, joined to its pruned point)."""
    from nasengine.report import figures as plots

    plt = plots.plt
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=plots._DPI)
    for name, first in _sources(records).items():
        ax.scatter([first.source_cost["macs"]], [first.source_val_acc], marker="*", s=180, color="black",
                   zorder=3, label=f"source {name}")
    for i, (label, r) in enumerate(zip(labels, records)):
        colour, macs = plots.color(i), r.cost["macs"]
        name = label if label == r.method else f"{label} ({r.method})"
        ax.scatter([macs], [r.pruned_val_acc], marker=plots._MARKERS[i % len(plots._MARKERS)], s=60,
                   facecolors="none", edgecolors=colour, zorder=3, label=f"{name} pruned")
        if r.finetuned_val_acc is not None:
            ax.plot([macs, macs], [r.pruned_val_acc, r.finetuned_val_acc], color=colour, linewidth=1, alpha=0.6)
            ax.scatter([macs], [r.finetuned_val_acc], marker=plots._MARKERS[i % len(plots._MARKERS)], s=60,
                       color=colour, zorder=3, label=f"{label} fine-tuned")
    everything = [r.cost["macs"] for r in records] + [r.source_cost["macs"] for r in records]
    plots._style(ax, "MACs per image", "validation accuracy", "compressed networks and their source",
                 log_x=plots._wide(everything))
    return plots._save(fig, path)


def _sources(records: Sequence[CompressRecord]) -> dict[str, CompressRecord]:
    """The first record of each distinct source, by a readable name."""
    found: dict[str, CompressRecord] = {}
    keys: dict[Any, str] = {}
    for r in records:
        key = (repr(sorted(r.source.items())), r.source_cost["macs"])
        if key not in keys:
            keys[key] = _source_name(r.source)
            if keys[key] in found:  # two different sources of one kind: tell them apart
                keys[key] = f"{keys[key]} #{len(found) + 1}"
            found[keys[key]] = r
    return found


def _source_name(source: dict[str, Any]) -> str:
    if "name" in source:
        return f"{source.get('kind', '')}:{source['name']}"
    return str(source.get("kind", "source"))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"

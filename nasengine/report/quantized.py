"""``nasengine report`` of quantization runs: folders written by ``nasengine quantize`` (each
holds ``quantize.json``) side by side, with the bits each run gave each layer.

Nothing is retrained or re-measured: sizes, BitOps, latencies (modelled or measured, as the
run's hardware table says) and accuracies come from the records. Each run's per-layer
policy is drawn as a bar chart, one group of two bars (weight bits, activation bits) per
layer in forward order: HAQ's figure of the bits it chose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from nasengine.cost import human
from nasengine.records.base import read_json
from nasengine.report.compressed import _pct
from nasengine.report.make import _labels
from nasengine.report.render import records_tail, write_documents

RECORD = "quantize.json"


def is_quantize_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder written by ``nasengine quantize``."""
    return (Path(path) / RECORD).is_file()


def quantize_report(folders: Sequence[str | Path], out: str | Path, *, command: str = "") -> dict[str, Path]:
    """Write ``report.md``, ``report.html``, ``summary.txt`` and one per-layer bits figure per
    run for the quantization runs in ``folders``; returns the written files."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    labels = _labels([Path(f) for f in folders])
    records = [_load(Path(f) / RECORD) for f in folders]
    headers, rows = results_table(labels, records)
    figures = {f"bits_{i}": bits_figure(out / f"quantize_bits_{i}.png", label, record["policy"])
               for i, (label, record) in enumerate(zip(labels, records))}
    blocks: list[tuple] = [
        ("h1", "nasengine report: quantized networks"),
        ("p", f"{len(records)} quantization run(s). Accuracies are those recorded by `nasengine quantize` "
              "(validation split unless marked test); sizes are exact, latencies as the run's hardware table "
              "gives them (modelled or measured, as marked); nothing is retrained."),
        ("h2", "Results"), ("table", headers, rows),
        ("h2", "Bits per layer"),
        *[("img", str(path), f"{label}: weight and activation bits of every layer, in forward order.")
          for label, path in zip(labels, figures.values())],
        ("table", *bits_table(labels, records)),
        *records_tail(labels, [r.get("command") for r in records], command),
    ]
    files = write_documents(out, blocks, "nasengine report: quantized networks", (headers, rows))
    return {**files, **figures}


def _load(path: Path) -> dict[str, Any]:
    record = read_json(path)
    missing = [k for k in ("method", "policy", "size_bits", "float_size_bits", "bitops", "float_val_acc",
                           "quantized_val_acc", "test_acc") if not isinstance(record, dict) or k not in record]
    if missing:
        raise ValueError(f"{path}: bad key {missing[0]!r}: missing (not a record written by nasengine quantize)")
    return record


def results_table(labels: Sequence[str], records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """One row per run: method, limit, exact size and BitOps (with their ratio to the float
    network), latency on the run's hardware, and the accuracies."""
    headers = ["run", "method", "limit", "size (bits)", "BitOps", "latency", "val acc float", "val acc quantized",
               "val acc fine-tuned", "test acc"]
    rows = []
    for label, r in zip(labels, records):
        limit = r.get("limit")
        hardware = r.get("hardware")
        latency = ("-" if hardware is None else f"{hardware['latency_ms']:.4g} ms on {hardware['name']} "
                   f"({'modelled' if hardware['kind'] == 'model' else hardware['kind']})")
        size = f"{human(r['size_bits'])} ({r['size_bits'] / r['float_size_bits']:.1%})"
        ops = f"{human(r['bitops'])} ({r['bitops'] / r['float_bitops']:.1%})" if r.get("float_bitops") else human(
            r["bitops"])
        rows.append([label, r["method"], "-" if limit is None else f"{limit['kind']} {human(limit['value'])}", size,
                     ops, latency, _pct(r["float_val_acc"]), _pct(r["quantized_val_acc"]),
                     _pct(r.get("finetuned_val_acc")), _pct(r["test_acc"])])
    return headers, rows


def bits_table(labels: Sequence[str], records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """``weight/activation`` bits of every layer (rows, first record's order) per run (columns)."""
    layers: list[str] = []
    for r in records:
        layers += [name for name in r["policy"] if name not in layers]
    rows = [[f"`{name}`", *("{}/{}".format(*r["policy"][name]) if name in r["policy"] else "-" for r in records)]
            for name in layers]
    return ["layer (weight/activation bits)", *labels], rows


def draw_bits(ax: Any, policy: dict[str, Sequence[int]]) -> list[Any]:
    """Bars of ``policy`` on ``ax``: per layer, its weight bits and its activation bits side by
    side; returns the two bar containers (weights, activations)."""
    names = list(policy)
    x = range(len(names))
    width = 0.4
    bars = [ax.bar([i - width / 2 for i in x], [policy[n][0] for n in names], width, label="weight bits",
                   color="C0"),
            ax.bar([i + width / 2 for i in x], [policy[n][1] for n in names], width, label="activation bits",
                   color="C1")]
    ax.set_xticks(list(x))
    ax.set_xticklabels(names, rotation=90, fontsize=7)
    ax.set_ylim(0, 8.5)
    ax.set_yticks(range(0, 9))
    ax.set_ylabel("bits")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left", framealpha=0.85)
    return bars


def bits_figure(path: Path, label: str, policy: dict[str, Sequence[int]]) -> Path:
    """One run's per-layer bits (``draw_bits``) as a PNG."""
    from nasengine.report import figures as plots

    fig, ax = plots.plt.subplots(figsize=(max(6.0, 2.0 + 0.32 * len(policy)), 4.2), dpi=plots._DPI)
    draw_bits(ax, policy)
    ax.set_title(f"{label}: bits per layer", fontsize=10)
    return plots._save(fig, path)

"""``nasengine report`` of a ``bench quantize`` result file (``reports/bench/quantize.json``):
its accuracy tables and the per-layer bits HAQ chose, drawn per policy.

Nothing is re-measured. Each HAQ row's figure shows, per layer in forward order, the weight
and activation bits averaged over the seeds; in the hardware section's figures the
depthwise layers are marked ``(dw)``, which is where HAQ's edge and cloud policies differ.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Collection, Sequence

from nasengine.records.bench_quantize import QuantizeHardwareRow, QuantizePolicyRow
from nasengine.report.quantized import bits_figure
from nasengine.report.render import records_tail, write_documents

SUITE = "quantize"


def is_quantize_bench(path: str | Path) -> bool:
    """Whether ``path`` is a JSON file written by ``nasengine bench quantize``."""
    path = Path(path)
    if not path.is_file() or path.suffix != ".json":
        return False
    try:
        return json.loads(path.read_text()).get("suite") == SUITE
    except (ValueError, AttributeError, OSError):
        return False


def _mean_policy(policies: Sequence[dict[str, list[int]]],
                 depthwise: Collection[str] = ()) -> dict[str, list[float]]:
    return {f"{name} (dw)" if name in depthwise else name: [statistics.fmean(p[name][i] for p in policies)
                                                           for i in (0, 1)] for name in policies[0]}


def _pm(mean: float, std: float | None = None) -> str:
    return f"{mean:.2%}" if std is None else f"{mean:.2%} ± {std:.2%}"


def _kept(episodes: Sequence[int | None]) -> str:
    """In how many seeds the search kept its first episode, the uniform reference policy."""
    return f"{sum(e == 0 for e in episodes)} of {len(episodes)}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def quantize_bench_report(files: Sequence[str | Path], out: str | Path, *, command: str = "") -> dict[str, Path]:
    """Write ``report.md``, ``report.html``, ``summary.txt`` and one bits figure per HAQ row
    for the ``bench quantize`` result files ``files``; returns the written files."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = [json.loads(Path(f).read_text()) for f in files]
    policy_rows = [QuantizePolicyRow.from_dict(r, str(f)) for f, res in zip(files, results)
                   for r in res["rows"] if r["kind"] == "policy"]
    hardware_rows = [QuantizeHardwareRow.from_dict(r, str(f)) for f, res in zip(files, results)
                     for r in res["rows"] if r["kind"] == "hardware"]
    headers = ["backbone", "policy", "seeds", "size", "modelled latency", "val before", "val after", "test before",
               "test after", "test after - uniform", "uniform kept"]
    rows = [[r.backbone, r.policy, str(r.seeds), f"{r.size_ratio:.2%}", f"{r.latency_ms:.4g} ms",
             _pm(r.acc_before, r.acc_before_std), _pm(r.acc_after, r.acc_after_std),
             _pm(r.test_before, r.test_before_std), _pm(r.test_after, r.test_after_std),
             "-" if r.vs_uniform_test_after is None else f"{r.vs_uniform_test_after:+.2%}",
             "-" if r.compared_with is None else _kept(r.best_episode_per_seed)] for r in policy_rows]
    figures: dict[str, Path] = {}
    blocks: list[tuple] = [
        ("h1", "nasengine report: bench quantize"),
        ("p", "HAQ against uniform bit widths at equal exact size and at equal modelled latency. Validation "
              "accuracy is what HAQ selects its policy by; test accuracy is held out. 'uniform kept': seeds in "
              "which the search returned its first episode, the uniform reference policy. Figures show each HAQ "
              "policy's bits per layer, averaged over the seeds."),
        ("h2", "Policies"), ("table", headers, rows)]
    for r in policy_rows:
        if r.compared_with is not None:
            label = f"{r.backbone}: {r.policy}"
            figures[f"bits_{_slug(label)}"] = bits_figure(out / f"bits_{_slug(label)}.png", label,
                                                          _mean_policy(r.bits_per_seed))
    if hardware_rows:
        hw_headers = ["hardware", "depthwise w/a bits", "pointwise w/a bits", "test before", "test after",
                      "uniform test after", "uniform kept", "model"]
        hw_rows = [[r.hardware, f"{r.depthwise_w_bits:.2f} / {r.depthwise_a_bits:.2f}",
                    f"{r.pointwise_w_bits:.2f} / {r.pointwise_a_bits:.2f}", _pm(r.test_before), _pm(r.test_after),
                    _pm(r.uniform_test_after), _kept(r.best_episode_per_seed), r.hardware_model] for r in hardware_rows]
        blocks += [("h2", "Bits by hardware (depthwise-separable backbone)"), ("table", hw_headers, hw_rows)]
        for r in hardware_rows:
            label = f"{r.backbone}: {r.policy}"
            figures[f"bits_{_slug(label)}"] = bits_figure(out / f"bits_{_slug(label)}.png", label,
                                                          _mean_policy(r.bits_per_seed, r.depthwise_layers))
    blocks += [("h2", "Bits per layer"),
               *[("img", str(path), path.stem.removeprefix("bits_").replace("_", " ")) for path in figures.values()],
               *records_tail([str(f) for f in files], [res.get("command") for res in results], command)]
    files_out = write_documents(out, blocks, "nasengine report: bench quantize", (headers, rows))
    return {**files_out, **figures}


"""The rows of ``bench quantize``: its finished runs summarised per backbone and policy."""

from __future__ import annotations

import dataclasses
import statistics
from typing import Callable

from nasengine.bench.base import mean_std
from nasengine.records.bench_quantize import Bits, QuantizeClipRow, QuantizePolicyRow, QuantizeRun

__all__ = ["LabelledRun", "clip_rows", "policy_rows"]

#: A finished run with the policy name it stands for (``uniform 4``, ``haq @ size of uniform 4``),
#: the uniform policy it is compared with and the limit it was held to (both ``None`` for uniform).
LabelledRun = tuple[str, QuantizeRun, str | None, str | None]


def policy_rows(runs: list[LabelledRun], latency: Callable[[Bits], float], latency_model: str,
                notes: list[str]) -> list[QuantizePolicyRow]:
    """One row per policy name over its seeds (of one backbone); ``latency(bits)`` is the
    modelled latency of a policy, ``latency_model`` names the model."""
    rows: list[QuantizePolicyRow] = []
    for name in dict.fromkeys(label for label, *_ in runs):
        mine = [r for label, r, _, _ in runs if label == name]
        _, _, compared_with, limit = next(run for run in runs if run[0] == name)
        before = [r.quantized_val_acc for r in mine]
        after = [r.finetuned_val_acc or 0.0 for r in mine]
        latencies = [latency(r.policy) for r in mine]
        test_before = [r.quantized_test_acc for r in mine]
        test_after = [r.test_acc for r in mine]
        rows.append(QuantizePolicyRow(
            kind="policy", backbone=mine[0].backbone, policy=name, seeds=len(mine),
            size_ratio=round(statistics.fmean(r.size_bits / r.float_size_bits for r in mine), 4),
            acc_before=mean_std(before)[0], acc_before_std=mean_std(before)[1],
            acc_after=mean_std(after)[0], acc_after_std=mean_std(after)[1],
            float_acc=round(mine[0].float_val_acc, 4), size_bits=[r.size_bits for r in mine],
            float_size_bits=mine[0].float_size_bits, acc_before_per_seed=[round(a, 4) for a in before],
            acc_after_per_seed=[round(a, 4) for a in after], bits_per_seed=[r.policy for r in mine],
            limit=limit, compared_with=compared_with, latency_model=latency_model,
            latency_ms=float(f"{statistics.fmean(latencies):.6g}"),
            latency_ms_per_seed=[float(f"{t:.6g}") for t in latencies],
            vs_uniform_before=None, vs_uniform_after=None, float_test_acc=round(mine[0].float_test_acc, 4),
            test_before=mean_std(test_before)[0], test_before_std=mean_std(test_before)[1],
            test_after=mean_std(test_after)[0], test_after_std=mean_std(test_after)[1],
            test_before_per_seed=[round(a, 4) for a in test_before], test_after_per_seed=[round(a, 4) for a in test_after],
            vs_uniform_test_before=None, vs_uniform_test_after=None,
            best_episode_per_seed=[r.best_episode for r in mine], notes=notes))
    return [_against_uniform(row, rows) for row in rows]


def _against_uniform(row: QuantizePolicyRow, rows: list[QuantizePolicyRow]) -> QuantizePolicyRow:
    """``row`` with its accuracy differences from the uniform policy it is compared with."""
    base = next((r for r in rows if (r.backbone, r.policy) == (row.backbone, row.compared_with)), None)
    if base is None:
        return row
    return dataclasses.replace(row, vs_uniform_before=round(row.acc_before - base.acc_before, 4),
                               vs_uniform_after=round(row.acc_after - base.acc_after, 4),
                               vs_uniform_test_before=round(row.test_before - base.test_before, 4),
                               vs_uniform_test_after=round(row.test_after - base.test_after, 4))


def clip_rows(runs: list[tuple[str, QuantizeRun]]) -> list[QuantizeClipRow]:
    """One row per (clipping, bits) run, before fine-tuning."""
    return [QuantizeClipRow(kind="clip", backbone=r.backbone, policy=name, seeds=1,
                            size_ratio=round(r.size_bits / r.float_size_bits, 4),
                            acc_before=round(r.quantized_val_acc, 4), float_acc=round(r.float_val_acc, 4))
            for name, r in runs]

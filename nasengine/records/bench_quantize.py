"""``nasengine bench quantize``'s records: one finished quantization (a line of the runs
folder's records file) and the report's rows (``kind`` ``policy``, ``clip``, ``speed``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from nasengine.records.base import Record

Bits = dict[str, list[int]]  #: ``{layer: [weight bits, activation bits]}``


@dataclass(frozen=True)
class QuantizeRun(Record):
    """One quantization of a backbone, as the bench keeps it to resume.

    Attributes:
        key: ``backbone/policy/seed`` (what a rerun looks up).
        backbone: ``vgg`` or ``resnet``.
        policy: The bits chosen per layer.
        size_bits: Exact size of the quantized network.
        float_size_bits: Of the float network.
        bitops: ``MACs x weight bits x activation bits`` summed over the layers.
        float_val_acc: Validation accuracy of the float network.
        quantized_val_acc: Right after quantization.
        finetuned_val_acc: After fine-tuning (``None`` without).
        test_acc: Test accuracy of the result.
        best_episode: HAQ's best episode (``None`` for a uniform policy).
    """

    FILE: ClassVar[str] = "bench quantize records"

    key: str
    backbone: str
    policy: Bits
    size_bits: int
    float_size_bits: int
    bitops: int
    float_val_acc: float
    quantized_val_acc: float
    finetuned_val_acc: float | None
    test_acc: float
    best_episode: int | None


@dataclass(frozen=True)
class QuantizeClipRow(Record):
    """A uniform policy with one activation clipping, before fine-tuning (one run); the
    fields every ``bench quantize`` accuracy row has."""

    FILE: ClassVar[str] = "bench quantize row"

    kind: str
    backbone: str
    policy: str
    seeds: int
    size_ratio: float
    acc_before: float
    float_acc: float


@dataclass(frozen=True)
class QuantizePolicyRow(QuantizeClipRow):
    """A policy on one backbone over the seeds: accuracies as mean, population std and per seed.

    Attributes:
        limit: What HAQ was held to (``size`` or ``latency``, equal to the uniform policy
            ``compared_with``); ``None`` for a uniform policy.
        compared_with: The uniform policy whose size or latency is the limit.
        latency_model: The accelerator whose analytic model gives ``latency_ms``: a model, not a
            measurement.
        latency_ms: Mean modelled latency per image (``latency_ms_per_seed`` per seed).
        vs_uniform_before: ``acc_before`` minus ``compared_with``'s (``None`` for uniform).
        vs_uniform_after: The same after fine-tuning.
        bits_per_seed: Each seed's policy.
    """

    acc_before_std: float
    acc_after: float
    acc_after_std: float
    size_bits: list[int]
    float_size_bits: int
    acc_before_per_seed: list[float]
    acc_after_per_seed: list[float]
    bits_per_seed: list[Bits]
    limit: str | None
    compared_with: str | None
    latency_model: str
    latency_ms: float
    latency_ms_per_seed: list[float]
    vs_uniform_before: float | None
    vs_uniform_after: float | None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class QuantizeSpeedRow(Record):
    """The 8-bit network on PyTorch's int8 x86 kernels against the float one at one batch
    size: milliseconds per batch, timed interleaved, median."""

    FILE: ClassVar[str] = "bench quantize row"

    kind: str
    backbone: str
    policy: str
    batch: int
    threads: int
    fp32_ms: float
    int8_ms: float
    speedup: float
    int8_val_acc: float
    float_acc: float

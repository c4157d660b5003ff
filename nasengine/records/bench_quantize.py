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
        float_test_acc: Test accuracy of the float network.
        quantized_test_acc: Test accuracy right after quantization (the search scores on the
            validation split only, so this one is held out from it).
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
    float_test_acc: float
    quantized_test_acc: float
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
        test_before, test_after: Test accuracy before and after fine-tuning (mean; ``_std``,
            ``_per_seed`` as for the validation accuracies). HAQ picks its policy by
            validation accuracy, so these are the unbiased comparison.
        vs_uniform_test_before, vs_uniform_test_after: Their differences from ``compared_with``.
        best_episode_per_seed: The search episode each seed's policy comes from (0: the
            uniform reference episode kept; ``None`` for a uniform policy).
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
    float_test_acc: float
    test_before: float
    test_before_std: float
    test_after: float
    test_after_std: float
    test_before_per_seed: list[float]
    test_after_per_seed: list[float]
    vs_uniform_test_before: float | None
    vs_uniform_test_after: float | None
    best_episode_per_seed: list[int | None]
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


@dataclass(frozen=True)
class QuantizeHardwareRow(Record):
    """HAQ's bits on the depthwise-separable backbone under one roofline-modelled
    accelerator's latency (``nasengine.bench.quantize_hardware``), over the seeds.

    Attributes:
        hardware: The accelerator (``bismo-edge``, ``bismo-cloud``); ``hardware_model`` says
            what its model assumes.
        depthwise_w_bits, depthwise_a_bits, pointwise_w_bits, pointwise_a_bits: Mean weight
            and activation bits of the depthwise and the pointwise layers, over layers and
            seeds (``_per_seed``: over layers, per seed).
        acc_before, acc_after: Validation accuracy before and after fine-tuning (mean).
        test_before, test_after: Test accuracy before and after fine-tuning (mean), next to
            the uniform policy's ``uniform_test_before`` and ``uniform_test_after``.
        latency_ms_per_seed: Modelled latency of each seed's policy, per batch; the limit is
            ``uniform_latency_ms``, the uniform policy's.
        bits_per_seed: Each seed's policy; ``best_episode_per_seed`` the search episode it
            comes from (0: the uniform reference episode kept).
        depthwise_layers, pointwise_layers: The layers each mean is over.
    """

    FILE: ClassVar[str] = "bench quantize row"

    kind: str
    backbone: str
    hardware: str
    hardware_model: str
    policy: str
    seeds: int
    depthwise_w_bits: float
    depthwise_a_bits: float
    pointwise_w_bits: float
    pointwise_a_bits: float
    depthwise_w_bits_per_seed: list[float]
    depthwise_a_bits_per_seed: list[float]
    pointwise_w_bits_per_seed: list[float]
    pointwise_a_bits_per_seed: list[float]
    acc_before: float
    acc_after: float
    test_before: float
    test_after: float
    uniform_test_before: float
    uniform_test_after: float
    latency_ms_per_seed: list[float]
    uniform_latency_ms: float
    bits_per_seed: list[Bits]
    best_episode_per_seed: list[int | None]
    depthwise_layers: list[str]
    pointwise_layers: list[str]
    notes: list[str] = field(default_factory=list)

"""``quantize``: choose per-layer bits for a trained network (a uniform width, or HAQ's
search under a size or BitOps limit), quantize it with fake quantization, and fine-tune it
with quantization in the loop (``nasengine quantize``).

Calibration images come from the training split, policies are scored on the validation
split, and the result is tested on the test split. Every step is deterministic for a
seed, so an interrupted search or fine-tune resumes from its checkpoint and ends as an
uninterrupted run would.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from nasengine.compress.limits import parse_limit
from nasengine.compress.run import calibration_batches
from nasengine.compress.source import SourceModel
from nasengine.cost import human
from nasengine.data import DataSplits
from nasengine.layer_policy import BitBudget, BitCost
from nasengine.quantize.calibrate import CLIPS, activation_stats
from nasengine.quantize.haq import HaqSettings, haq_search
from nasengine.quantize.hardware import MEASURED, MODELLED, HardwareTable, analytic_table, load_table
from nasengine.quantize.layers import QuantizableLayer, QuantizeError, apply_policy, quantizable_layers, quantized_copy
from nasengine.quantize.size import bitops, float_size_bits, quantized_size_bits, size_parts
from nasengine.train.finetune import finetune
from nasengine.train.loop import TrainConfig, evaluate

__all__ = ["BITS", "METHODS", "QuantizeConfig", "quantize"]

METHODS = ("uniform", "haq")
BITS = (2, 8)  #: the bit widths a policy may take, as HAQ's search space
FLOAT_BITS = 32


@dataclass(frozen=True)
class QuantizeConfig:
    """Settings of one quantization.

    Attributes:
        method: ``uniform`` (every layer at ``bits``) or ``haq`` (HAQ's search).
        bits: Weight and activation bits of ``uniform``.
        max_size: ``haq``'s size limit in bits: absolute (``2M``) or of the float network's
            size (``25%``, ``0.25``); with ``uniform``, a limit it must meet.
        max_bitops: The same for BitOps (of the float network's ``MACs * 32 * 32``).
        max_latency_ms: A latency limit in milliseconds on ``hardware``.
        hardware: A latency table: ``bitfusion`` / ``bismo`` / ``bismo-edge`` / ``bismo-cloud``
            (modelled, :mod:`nasengine.quantize.hardware`), ``cpu-fp32`` /
            ``cpu-int8`` (measured here at ``calibration`` batch 1), or a table JSON file.
        act_bits: Bits of every activation but the first and last layers' (``uniform``:
            instead of ``bits``; ``haq``: the search then decides weight bits only). Under a
            size limit, which activation bits do not change, ``haq`` holds them at
            ``max_bits`` when this is not given, as HAQ's size experiments quantize weights only.
        min_bits: Fewest bits ``haq`` gives a weight or an activation.
        max_bits: Most bits ``haq`` gives.
        first_last_bits: Bits of the first and last layers, weights and activations (HAQ
            keeps them at 8); 0 treats them as the others.
        act_clip: How activation ranges are clipped below 5 bits (``kl``: HAQ's KL
            divergence; ``mse``: least squared error; ``max``: not at all).
        finetune_epochs: Epochs of quantization-aware fine-tuning (0: none).
        lr: Fine-tuning learning rate (cosine schedule).
        batch_size: Fine-tuning batch size.
        calibration_images: Training images that calibrate the activation ranges.
        seed: Seeds the search and fine-tuning.
        options: ``haq``'s settings (``episodes``, ``warmup``, ``sigma_decay``).
    """

    method: str = "haq"
    bits: int = 8
    act_bits: int | None = None
    max_size: str | None = None
    max_bitops: str | None = None
    max_latency_ms: float | None = None
    hardware: str | None = None
    min_bits: int = 2
    max_bits: int = 8
    first_last_bits: int = 8
    act_clip: str = "kl"
    finetune_epochs: int = 0
    lr: float = 0.001
    batch_size: int = 64
    calibration_images: int = 256
    seed: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise QuantizeError(f"unknown method {self.method!r}; choose from {', '.join(METHODS)}")
        low, high = BITS
        for name in ("bits", "min_bits", "max_bits"):
            if not low <= getattr(self, name) <= high:
                raise QuantizeError(f"--{name.replace('_', '-')} {getattr(self, name)} is outside {low}..{high}")
        if self.act_bits is not None and not low <= self.act_bits <= high:
            raise QuantizeError(f"--act-bits {self.act_bits} is outside {low}..{high}")
        if self.first_last_bits and not low <= self.first_last_bits <= high:
            raise QuantizeError(f"--first-last-bits {self.first_last_bits} is neither 0 nor in {low}..{high}")
        if self.act_clip not in CLIPS:
            raise QuantizeError(f"--act-clip {self.act_clip!r} is not one of {', '.join(CLIPS)}")
        if self.min_bits > self.max_bits:
            raise QuantizeError(f"--min-bits {self.min_bits} is above --max-bits {self.max_bits}")
        limits = [self.max_size, self.max_bitops, self.max_latency_ms]
        if sum(limit is not None for limit in limits) > 1:
            raise QuantizeError("give one limit: --max-size, --max-bitops or --max-latency-ms")
        if (self.max_latency_ms is None) != (self.hardware is None):
            raise QuantizeError("--max-latency-ms and --hardware go together")
        if self.max_latency_ms is not None and not 0 < self.max_latency_ms < float("inf"):
            raise QuantizeError(f"--max-latency-ms must be a number of milliseconds > 0, got {self.max_latency_ms}")
        for option, text in (("--max-size", self.max_size), ("--max-bitops", self.max_bitops)):
            if text is not None:  # the form now; the amount once the network is known
                parse_limit(text, 2 ** 62, option=option, unit="bits" if option == "--max-size" else "BitOps",
                            error=QuantizeError)
        if self.method == "haq" and all(limit is None for limit in limits):
            raise QuantizeError("--method haq needs a limit: --max-size, --max-bitops or --max-latency-ms")
        if self.method == "haq":
            HaqSettings.from_options(self.options)
        elif self.options:
            raise QuantizeError(f"method {self.method!r} has no setting(s) {sorted(self.options)}; it has none")
        if self.finetune_epochs < 0:
            raise QuantizeError(f"--finetune-epochs must be >= 0, got {self.finetune_epochs}")
        if self.calibration_images < 1:
            raise QuantizeError(f"--calibration-images must be >= 1, got {self.calibration_images}")


def _bounds(cfg: QuantizeConfig, count: int, kind: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    act_bits = cfg.max_bits if cfg.act_bits is None and kind == "size" else cfg.act_bits
    acts = (cfg.min_bits, cfg.max_bits) if act_bits is None else (act_bits, act_bits)
    free = ((cfg.min_bits, cfg.max_bits), acts)
    fixed = ((cfg.first_last_bits,) * 2,) * 2
    return [fixed if cfg.first_last_bits and k in (0, count - 1) else free for k in range(count)]  # type: ignore[misc]


def _hardware_table(cfg: QuantizeConfig, model: nn.Module, layers: list[QuantizableLayer], stats: Any,
                    image: torch.Tensor) -> HardwareTable | None:
    """The latency table ``cfg.hardware`` names: modelled, measured now, or read from a file."""
    if cfg.hardware is None:
        return None
    if cfg.hardware in MODELLED:
        return analytic_table(cfg.hardware, layers)
    if cfg.hardware in MEASURED:
        from nasengine.quantize.hardware_measure import measure_table

        return measure_table(cfg.hardware, model, layers, stats, image[:1])
    return load_table(cfg.hardware)


def _budget(cfg: QuantizeConfig, model: nn.Module, layers: list[QuantizableLayer],
            table: HardwareTable | None = None) -> tuple[BitBudget, str]:
    """The cost model and limit of ``cfg`` (size when no limit is given), and the cost's name."""
    if table is not None:
        limit: float | int | None = cfg.max_latency_ms
        cost = table.cost(layers)
        kind = "latency"
    elif cfg.max_bitops is not None:
        reference = sum(layer.macs for layer in layers) * FLOAT_BITS * FLOAT_BITS
        limit = parse_limit(cfg.max_bitops, reference, option="--max-bitops", unit="BitOps",
                                        error=QuantizeError)
        cost = BitCost.from_function(len(layers), lambda k, w, a: layers[k].macs * w * a, max_bits=BITS[1])
        kind = "bitops"
    else:
        fixed, weights = size_parts(model, layers)
        limit = None if cfg.max_size is None else parse_limit(cfg.max_size, float_size_bits(model),
                                                              option="--max-size", unit="bits", error=QuantizeError)
        cost = BitCost.from_function(len(layers), lambda k, w, a: weights[k] * w, fixed=fixed, max_bits=BITS[1])
        kind = "size"
    try:
        return BitBudget(cost, limit, _bounds(cfg, len(layers), kind)), kind
    except ValueError as exc:
        raise QuantizeError(f"--max-{ {'size': 'size', 'bitops': 'bitops'}.get(kind, 'latency-ms')}: {exc}") from None


def quantize(source: SourceModel, data: DataSplits, cfg: QuantizeConfig, *, workdir: str | Path | None = None,
             checkpoint: str | Path | None = None, tensorboard: str | Path | None = None, progress: bool = False,
             command: str | None = None, table_out: str | Path | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Quantize ``source`` as ``cfg`` says (see the module).

    Args:
        source: The network.
        data: The dataset it was trained on.
        cfg: The settings.
        workdir: Folder of the search's checkpoint.
        checkpoint: Fine-tuning checkpoint file.
        tensorboard: Folder for TensorBoard logs of the fine-tuning.
        progress: Report progress.
        command: The command line, for the record.
        table_out: Where to write the hardware latency table (with a latency limit).

    Returns:
        The fake-quantized network and its record (``quantize.json``).

    Raises:
        QuantizeError: No quantizable layer, a limit that cannot be met, a wrong setting.
    """
    model = source.model.eval()
    calibration = calibration_batches(data, cfg.calibration_images)
    layers = quantizable_layers(model, calibration[0][:2])
    stats = activation_stats(model, [layer.name for layer in layers], calibration)
    train, val, test = data.loaders(cfg.batch_size, seed=cfg.seed)
    float_acc = evaluate(model, val)["acc"]
    float_test_acc = evaluate(model, test)["acc"]
    table = _hardware_table(cfg, model, layers, stats, calibration[0])
    if table is not None and table_out is not None:
        table.save(table_out)
    budget, kind = _budget(cfg, model, layers, table)
    qmodel = quantized_copy(model, layers)

    def score(policy: list[tuple[int, int]]) -> float:
        return evaluate(apply_policy(qmodel, layers, policy, stats, cfg.act_clip), val)["acc"]

    search: dict[str, Any] | None = None
    if cfg.method == "uniform":
        edge = cfg.first_last_bits
        inner = (cfg.bits, cfg.bits if cfg.act_bits is None else cfg.act_bits)
        policy = [(edge, edge) if edge and k in (0, len(layers) - 1) else inner for k in range(len(layers))]
        if budget.limit is not None and budget.cost(policy) > budget.limit:
            raise QuantizeError(f"uniform {cfg.bits}-bit costs {human(budget.cost(policy))} {kind}, above the limit "
                                f"{human(budget.limit)}; lower --bits or raise the limit")
    else:
        result = haq_search(layers, budget, score, options=cfg.options, seed=cfg.seed,
                            workdir=Path(workdir) if workdir is not None else None, progress=progress,
                            describe=lambda info: _describe(kind, info["cost"], model, layers))
        policy = result.policy
        search = {k: v for k, v in asdict(result).items() if k != "policy"}
    quantized_acc = score(policy)
    quantized_test_acc = evaluate(qmodel, test)["acc"]  # held out: the search never saw it
    history: list[dict[str, Any]] = []
    if cfg.finetune_epochs:
        train_cfg = TrainConfig(epochs=cfg.finetune_epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed)
        history = finetune(qmodel, train, val, train_cfg, checkpoint=checkpoint, tensorboard=tensorboard,
                           progress=progress)
    qmodel.eval()
    int8 = _int8_record(qmodel, policy, [layer.name for layer in layers], calibration, val)
    macs = sum(layer.macs for layer in layers)
    record = {
        "method": cfg.method, "config": {**asdict(cfg), "options": dict(cfg.options)}, "source": source.description,
        "input_shape": list(source.input_shape),
        "limit": None if budget.limit is None else {"kind": kind, "value": budget.limit},
        "policy": {layer.name: [w, a] for layer, (w, a) in zip(layers, policy)},
        "layers": [asdict(layer) for layer in layers],
        "size_bits": quantized_size_bits(model, layers, policy), "float_size_bits": float_size_bits(model),
        "bitops": bitops(layers, policy), "float_bitops": macs * FLOAT_BITS * FLOAT_BITS,
        "float_val_acc": float_acc, "float_test_acc": float_test_acc, "quantized_val_acc": quantized_acc,
        "quantized_test_acc": quantized_test_acc,
        "finetuned_val_acc": evaluate(qmodel, val)["acc"] if cfg.finetune_epochs else None,
        "test_acc": evaluate(qmodel, test)["acc"] if cfg.finetune_epochs else quantized_test_acc,
        "epochs": len(history), "search": search, "int8": int8,
        "hardware": None if table is None else {
            "name": table.hardware, "kind": table.kind, "description": table.description, "batch": table.batch,
            "latency_ms": budget.cost(policy), "max_latency_ms": cfg.max_latency_ms},
        "command": command,
    }
    return qmodel, record


def _describe(kind: str, cost: float, model: nn.Module, layers: list[QuantizableLayer]) -> str:
    if kind == "latency":
        return f"latency {cost:.4g} ms"
    reference = float_size_bits(model) if kind == "size" else sum(lr.macs for lr in layers) * FLOAT_BITS ** 2
    return f"{kind} {cost / reference:.3f} of the float network"


def _int8_record(model: nn.Module, policy: list[tuple[int, int]], names: list[str], calibration: list,
                 val: Any) -> dict[str, Any] | None:
    """With every layer at 8 bits, the int8 network's output ranges (what rebuilds it), its
    validation accuracy and its largest output difference from ``model``; else ``None``."""
    if any((w, a) != (8, 8) for w, a in policy):
        return None
    from nasengine.quantize.int8 import int8_model, output_ranges

    ranges = output_ranges(model, names, calibration)
    int8 = int8_model(model, ranges)
    x = calibration[0]
    with torch.no_grad():
        diff = float((int8(x) - model(x)).abs().max())
    return {"output_ranges": ranges, "val_acc": evaluate(int8, val)["acc"], "max_abs_diff": diff}

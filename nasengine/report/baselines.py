"""Hand-designed baselines (torchvision / timm models by name), retraining with a cache,
and the published reference figures a report puts next to its own numbers.

Baselines are built untrained (no weights are ever downloaded) with the data's number
of classes. Their input is adapted on the data side, not by editing the network: images
are resized to ``RetrainConfig.baseline_size`` and grey images repeated to 3 channels, so
each baseline runs exactly as published apart from its classifier width.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from nasengine.cost import count_cost
from nasengine.data import DataSplits
from nasengine.train.loop import TrainConfig, evaluate, fit
from nasengine.utils.files import save_json_atomic
from nasengine.utils.progress import progress_bar
from nasengine.utils.timing import Timing
from nasengine.utils.validation import positive_int

#: Model sources a baseline spec may name, as ``SOURCE:MODEL``.
BASELINE_PREFIXES = ("torchvision:", "timm:")


@dataclass(frozen=True)
class BaselineSpec:
    """A hand-designed network named ``torchvision:NAME`` or ``timm:NAME``."""

    source: str
    name: str

    def __str__(self) -> str:
        return f"{self.source}:{self.name}"

    @property
    def key(self) -> str:
        return f"{self.source}-{self.name}"


def parse_baseline(spec: str) -> BaselineSpec:
    """``"timm:mobilenetv3_small_050"`` -> ``BaselineSpec``; unknown prefixes or models raise."""
    source, sep, name = spec.strip().partition(":")
    if not sep or f"{source}:" not in BASELINE_PREFIXES or not name:
        raise ValueError(f"unknown baseline {spec!r}; allowed prefixes: {', '.join(BASELINE_PREFIXES)} "
                         "(e.g. torchvision:shufflenet_v2_x0_5, timm:mobilenetv3_small_050)")
    if source == "torchvision":
        import torchvision

        if name not in torchvision.models.list_models(module=torchvision.models):
            raise ValueError(f"torchvision has no classification model {name!r}; "
                             "see torchvision.models.list_models()")
    else:
        import timm

        if not timm.is_model(name):
            raise ValueError(f"timm has no model {name!r}; see timm.list_models()")
    return BaselineSpec(source, name)


def parse_baselines(text: str | None) -> list[BaselineSpec]:
    """A comma-separated list of specs (empty or ``None``: no baselines)."""
    return [parse_baseline(s) for s in (text or "").split(",") if s.strip()]


def build_baseline(spec: BaselineSpec, num_classes: int) -> nn.Module:
    """An untrained baseline with a ``num_classes``-way classifier (3-channel input)."""
    positive_int("num_classes", num_classes)
    if spec.source == "torchvision":
        import torchvision

        return torchvision.models.get_model(spec.name, weights=None, num_classes=num_classes)
    import timm

    return timm.create_model(spec.name, pretrained=False, num_classes=num_classes)


def check_baseline_input(spec: BaselineSpec, num_classes: int, size: int) -> None:
    """Fail early, with the fix, if ``spec`` cannot take ``3 x size x size`` images."""
    model = build_baseline(spec, num_classes).eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(2, 3, size, size))
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"baseline {spec} cannot take 3x{size}x{size} inputs ({str(exc).splitlines()[0]}); "
                         "try a larger --baseline-size") from None
    if tuple(out.shape) != (2, num_classes):
        raise ValueError(f"baseline {spec} returns {tuple(out.shape)} for a batch of 2, not (2, {num_classes})")


@dataclass(frozen=True)
class RetrainConfig:
    """How every architecture in a report is retrained from scratch and timed.

    Args:
        epochs: Training epochs per seed (same budget for found archs and baselines).
        seeds: Independent trainings per architecture (mean +- std are reported).
        batch_size, lr, warmup_epochs: SGD settings (``nasengine.train.loop`` defaults otherwise).
        baseline_size: Square input size the baselines' data is resized to.
        latency_runs: Timed batch-1 single-thread CPU forward passes (the median is reported).
    """

    epochs: int = 10
    seeds: int = 3
    batch_size: int = 64
    lr: float = 0.05
    warmup_epochs: float = 0.0
    baseline_size: int = 32
    latency_runs: int = 50

    def __post_init__(self) -> None:
        for name in ("epochs", "seeds", "batch_size", "baseline_size", "latency_runs"):
            positive_int(name, getattr(self, name))
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")

    def train_config(self, seed: int) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                           warmup_epochs=self.warmup_epochs, seed=seed)


def train_seed(build: Callable[[], nn.Module], data: DataSplits, cfg: RetrainConfig, seed: int,
               folder: Path) -> dict[str, Any]:
    """Train a fresh ``build()`` with ``seed``: val / test accuracy and seconds.

    The finished record is cached as JSON under ``folder`` (keyed by the training
    settings and the data); an unfinished training resumes from its epoch checkpoint.
    """
    train_cfg = cfg.train_config(seed)
    tag = _digest({"train": {**train_cfg.to_dict(), "seed": None}, "data": data.name, "size": data.image_size,
                   "channels": data.in_channels})
    done = folder / tag / f"seed{seed}.json"
    if done.is_file():
        return json.loads(done.read_text())
    return _train_one(build, data, train_cfg, done)


def _train_one(build: Callable[[], nn.Module], data: DataSplits, cfg: TrainConfig, done: Path) -> dict[str, Any]:
    torch.manual_seed(cfg.seed)
    model = build()
    train, val, test = data.loaders(cfg.batch_size, seed=cfg.seed)
    checkpoint = done.with_suffix(".ckpt")
    t0 = time.perf_counter()
    history = fit(model, train, val, cfg, checkpoint=checkpoint, progress=False)
    record = {"seed": cfg.seed, "val_acc": history[-1]["val_acc"], "test_acc": evaluate(model, test)["acc"],
              "epochs": cfg.epochs, "seconds": time.perf_counter() - t0, "train": cfg.to_dict()}
    save_json_atomic(record, done)
    checkpoint.unlink(missing_ok=True)
    return record


@dataclass
class Candidate:
    """A network a report retrains and times: a found architecture or a baseline.

    ``retrain_all`` fills ``stats``: ``cost`` (fvcore count at ``input_shape``), ``latency_ms``,
    ``val_acc`` and ``test_acc`` as (mean, std) over seeds, their per-seed values
    ``val_accs`` and ``test_accs``, and training ``seconds``. ``choices`` are a found
    architecture's (``None`` for a baseline), ``hparams`` the training settings its search
    tuned for it (``--tune``; ``None`` when it tuned none).
    """

    key: str
    label: str
    origin: str
    build: Callable[[], nn.Module]
    input_shape: tuple[int, int, int]
    baseline: bool
    search_acc: float | None = None
    run: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    choices: dict[str, Any] | None = None
    hparams: dict[str, Any] | None = None


def retrain_all(candidates: list[Candidate], cfg: RetrainConfig, data: Callable[[int, int], DataSplits],
                cache: Path, *, progress: bool = True) -> None:
    """Cost, single-thread batch-1 CPU latency and ``cfg.seeds`` trainings of every candidate.

    Latencies not cached yet are measured together, round-robin (``Timing.time_modules``),
    so that load from other processes affects every network alike.
    """
    timing = Timing(device="cpu", batch=1, threads=1, warmup=10, repeats=cfg.latency_runs)
    untimed = []
    for c in candidates:
        c.stats["cost"] = count_cost(c.build(), c.input_shape)
        latency_file = _latency_file(cache, c, timing)
        if latency_file.is_file():
            c.stats["latency_ms"] = json.loads(latency_file.read_text())["median_ms"]
        else:
            untimed.append(c)
    measured = timing.time_modules([(c.build(), c.input_shape) for c in untimed], progress=progress, desc="latency")
    for c, ms in zip(untimed, measured):
        c.stats["latency_ms"] = ms
        save_json_atomic({"median_ms": ms, "timing": asdict(timing), "input_shape": list(c.input_shape)},
                         _latency_file(cache, c, timing))
    jobs = [(c, seed) for c in candidates for seed in range(cfg.seeds)]
    records: dict[str, list[dict[str, Any]]] = {c.key: [] for c in candidates}
    for c, seed in progress_bar(jobs, enabled=progress, desc="retrain", total=len(jobs)):
        channels, size = c.input_shape[0], c.input_shape[1]
        records[c.key].append(train_seed(c.build, data(size, channels), cfg, seed, cache / c.key))
    for c in candidates:
        for metric in ("val_acc", "test_acc"):
            values = torch.tensor([r[metric] for r in records[c.key]], dtype=torch.float64)
            c.stats[metric] = (float(values.mean()), float(values.std()) if len(values) > 1 else 0.0)
            c.stats[f"{metric}s"] = values.tolist()  # the confidence intervals need every seed
        c.stats["seconds"] = sum(r["seconds"] for r in records[c.key])


def _digest(value: Any) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:10]


def _latency_file(cache: Path, c: Candidate, timing: Timing) -> Path:
    # Keyed like the training records: another input size (--baseline-size) or other timing
    # settings must be timed again, not read from a stale file of the same network.
    tag = _digest({"timing": asdict(timing), "input_shape": list(c.input_shape)})
    return cache / c.key / f"latency-{tag}.json"


# --- published reference figures -----------------------------------------------------------

@dataclass(frozen=True)
class Published:
    """Figures a paper or an official release reports (ImageNet, 224x224)."""

    macs: float | None
    params: float | None
    top1: float | None
    source: str


_SHUFFLENET_SERIES = "https://github.com/megvii-model/ShuffleNet-Series"
#: Published architectures of the built-in spaces: (space, preset, ImageNet config, figures).
SPACE_REFERENCES: list[tuple[str, str, dict[str, Any], Published]] = [
    ("shufflenet", "spos_block_search", {},
     Published(323e6, 3.5e6, 74.4, "[megvii-model/SinglePathOneShot README](https://github.com/megvii-model/"
               "SinglePathOneShot#evaluation): released block-search arch, 323M FLOPs, 3.5M params, "
               "top-1 err 25.6%")),
    ("shufflenet", "spos_block_channel_search", {"channel_search": True},
     Published(328e6, 3.4e6, 74.6, f"[ShuffleNet-Series OneShot README]({_SHUFFLENET_SERIES}/tree/master/OneShot): "
               "328M FLOPs, 3.4M params, top-1 err 25.4%; the SPOS paper (Guo et al., "
               "[arXiv:1904.00420](https://arxiv.org/abs/1904.00420)) reports 74.7% at 328M")),
    ("nas_cell", "nasnet_a", {"cells_per_stage": 4, "filters": 44, "stem": "imagenet", "input_size": 224,
                              "num_classes": 1000},
     Published(564e6, 5.3e6, 74.0, f"NASNet-A Mobile (Zoph et al., [arXiv:1707.07012](https://arxiv.org/abs/"
               f"1707.07012)), as tabulated in the [ShuffleNet-Series README]({_SHUFFLENET_SERIES}): "
               "564M FLOPs, 5.3M params, top-1 err 26.0%")),
]

#: timm publishes its ImageNet results as a CSV in its repository (not in the package).
_TIMM_RESULTS = ("[timm results-imagenet.csv](https://github.com/huggingface/pytorch-image-models/blob/main/"
                 "results/results-imagenet.csv)")
TIMM_REFERENCES: dict[str, Published] = {
    "mobilenetv3_small_050": Published(None, 1.59e6, 57.91, f"{_TIMM_RESULTS}: mobilenetv3_small_050.lamb_in1k"),
    "mobilenetv3_small_075": Published(None, 2.04e6, 65.234, f"{_TIMM_RESULTS}: mobilenetv3_small_075.lamb_in1k"),
    "mobilenetv3_small_100": Published(None, 2.54e6, 67.656, f"{_TIMM_RESULTS}: mobilenetv3_small_100.lamb_in1k"),
}


def published_baseline(spec: BaselineSpec) -> Published | None:
    """Published ImageNet figures of a baseline: torchvision ships them with its weight
    metadata (read locally, nothing downloaded); timm's come from ``TIMM_REFERENCES``."""
    if spec.source == "timm":
        return TIMM_REFERENCES.get(spec.name)
    import torchvision

    try:
        weights = torchvision.models.get_model_weights(spec.name).DEFAULT
    except (ValueError, KeyError, AttributeError):
        return None
    meta = weights.meta
    top1 = meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@1")
    ops = meta.get("_ops")
    return Published(None if ops is None else ops * 1e9, meta.get("num_params"), top1,
                     f"torchvision weight metadata `{weights}` (`_ops` {ops} G, acc@1)")

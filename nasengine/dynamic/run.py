"""Run folders of dynamic networks: train one (resumable), evaluate it, export it.

``train_run`` writes ``config.yaml``, ``checkpoint.pt`` while running, ``model/`` and
``metrics.json`` at the end; called again with the same settings it resumes or, when done,
does nothing. ``evaluate_run`` measures accuracy, MACs and wall-clock speed against the
dense backbone; ``export_run`` copies the trained network to a folder ``load_dynamic`` reads.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import yaml

from nasengine.data import DataSplits, load_dataset
from nasengine.data.video_folder import VIDEO_DATASETS, load_video_dataset
from nasengine.dynamic.backbones import BackboneConfig
from nasengine.dynamic.io import build_dynamic, load_dynamic, model_folder, save_dynamic, saved_dataset, saved_dense_accuracy
from nasengine.dynamic.methods import DYNAMIC_METHODS
from nasengine.dynamic.metrics import dense_reference, evaluate_dynamic, evaluate_full_path
from nasengine.dynamic.timing import speed_report
from nasengine.dynamic.trainer import DynamicTrainConfig, train_dynamic
from nasengine.utils.devices import resolve_device
from nasengine.utils.files import jsonable, save_json_atomic
from nasengine.utils.run_folder import CONFIG, claim, refuse_existing, require_same
from nasengine.utils.validation import output_path

#: Settings a resumed run may change: they do not change what is trained.
RESUMABLE = ("kind", "threads", "train.device", "dataset.data_root")


def model_config(method: str, *, backbone: str | None = None, widths: Sequence[int] | None = None,
                 depths: Sequence[int] | None = None, channels: int = 1, image_size: int = 32,
                 **options: Any) -> dict[str, Any]:
    """The network config dict of ``method`` (checked when the network is built).

    Args:
        method: A name in ``DYNAMIC_METHODS``.
        backbone: Backbone kind; default the method's.
        widths, depths: Stage widths and convs / blocks per stage; default the backbone's.
        channels, image_size: Input images.
        **options: Method options (``groups``, ``cell``, ``gate``, ``hidden``...); each method
            takes its own and ignores the others.
    """
    entry = DYNAMIC_METHODS.get(method)
    overrides: dict[str, Any] = {"in_channels": channels, "input_size": image_size}
    overrides.update({k: tuple(v) for k, v in (("widths", widths), ("depths", depths)) if v is not None})
    layout = BackboneConfig.default(backbone or entry.default_backbone, **overrides)
    return entry.make_config(layout.to_dict(), **options)


def _load(dataset: dict[str, Any]) -> DataSplits:
    """The splits a run's ``dataset`` settings name (images, or clips for video datasets)."""
    common = {"data_root": dataset.get("data_root"), "image_size": dataset["image_size"],
              "channels": dataset["channels"]}
    if dataset["name"] in VIDEO_DATASETS:
        return load_video_dataset(dataset["name"], frames=dataset.get("frames"), **common)
    return load_dataset(dataset["name"], **common)


@dataclass
class TrainedRun:
    """What ``train_run`` did: ``metrics`` as in ``metrics.json``; ``resumed_done`` when the
    folder already held the finished run (nothing was trained)."""

    out: Path
    metrics: dict[str, Any] = field(default_factory=dict)
    resumed_done: bool = False


def train_run(method: str, config: dict[str, Any], cfg: DynamicTrainConfig, dataset: dict[str, Any],
              out: str | Path, *, progress: bool = True, on_epoch: Callable[[dict[str, Any]], None] | None = None,
              on_dense: Callable[[float], None] | None = None, force: bool = False) -> TrainedRun:
    """Train a dynamic network into the run folder ``out`` (resuming an unfinished run).

    Args:
        method: A name in ``DYNAMIC_METHODS``; ``config`` its network config (``model_config``).
        cfg: Training schedule; its seed also seeds the initial weights.
        dataset: ``name``, ``data_root``, ``image_size``, ``channels`` of the data.
        out: Run folder. One holding a run with other settings, or another command's run,
            is refused (the differences named) unless ``force`` empties it first.
        on_epoch: Called with each epoch record; ``on_dense`` with the dense backbone's test
            accuracy after pre-training.
    """
    resolve_device(cfg.device)
    out = output_path("--out", out, folder=True)
    torch.manual_seed(cfg.seed)  # initial weights follow the seed
    model = build_dynamic(method, config)  # validates before any data is read
    resolved = {"kind": "dynamic", "method": method, "model": config, "train": cfg.to_dict(), "dataset": dataset,
                "threads": torch.get_num_threads()}
    out = Path(out)
    stored = claim(out, "dynamic", force=force)
    if stored is not None:
        require_same(str(out), stored, jsonable(resolved), ignore=RESUMABLE)
        if (out / "metrics.json").is_file():
            return TrainedRun(out, json.loads((out / "metrics.json").read_text()), resumed_done=True)
    data = _load(dataset)
    if data.num_classes != model.config.backbone.num_classes:
        torch.manual_seed(cfg.seed)
        model = build_dynamic(method, {**config, "backbone": {**config["backbone"], "num_classes": data.num_classes}})
        resolved["model"] = model.config.to_dict()
    out.mkdir(parents=True, exist_ok=True)
    (out / CONFIG).write_text(yaml.safe_dump(jsonable(resolved), sort_keys=False))
    torch.manual_seed(cfg.seed)
    train_loader, val_loader, test_loader = data.loaders(cfg.batch_size, seed=cfg.seed)
    t0 = time.perf_counter()

    def measure_dense(net: torch.nn.Module) -> dict[str, float]:
        acc = dense_reference(net, train_loader, test_loader, device=cfg.device)
        if on_dense is not None:
            on_dense(acc)
        return {"dense_test_acc": acc}

    history = train_dynamic(model, DYNAMIC_METHODS.get(method).recipe(), train_loader, val_loader, cfg,
                            checkpoint=out / "checkpoint.pt", progress=progress, on_epoch=on_epoch,
                            after_pretrain=measure_dense)
    test = evaluate_dynamic(model, test_loader, device=cfg.device)
    dense_acc = next((r["dense_test_acc"] for r in history if "dense_test_acc" in r), None)
    metrics = {"method": method, "test_acc": test["acc"], "dense_test_acc": dense_acc,
               **{k: v for k, v in test.items() if k not in ("acc", "macs", "mac_reduction")}, "macs": test["macs"],
               "dense_macs": model.dense_macs(), "mac_reduction": test["mac_reduction"],
               "full_path_acc": evaluate_full_path(model, test_loader, device=cfg.device),
               "history": history, "seconds": time.perf_counter() - t0}
    save_dynamic(model.cpu(), out / "model", extra={"dataset": dataset})
    save_json_atomic(metrics, out / "metrics.json", indent=2)
    (out / "checkpoint.pt").unlink(missing_ok=True)
    return TrainedRun(out, metrics)


def evaluate_run(run: str | Path, *, batches: Sequence[int] = (1, 64), images: int = 128, repeats: int = 5,
                 threads: int | None = None, device: str = "cpu", data_root: str | None = None,
                 out: str | Path | None = None) -> tuple[dict[str, Any], Path]:
    """Accuracy, MACs and measured speedup of a trained run (or exported network) on its test
    split; written to ``out`` (default ``RUN/eval.json``). Returns the result and its path.

    Args:
        batches: Batch sizes to time. ``images``: test images timed per batch size (at least
            the largest batch). ``repeats``: timed calls per measurement.
        threads: Torch threads while timing (default: as is).
        data_root: Folder of a local dataset, when the run used one elsewhere.
    """
    batches = tuple(batches) or (1,)
    if min(batches) < 1 or (threads is not None and threads < 1):
        raise ValueError(f"--batches and --threads must be positive integers, got {','.join(map(str, batches))} "
                         f"and {threads}")
    if images < max(batches) or repeats < 1:
        raise ValueError(f"--images must be >= the largest batch ({max(batches)}) and --repeats >= 1")
    resolve_device(device)
    if out:
        output_path("--out", out, folder=False)
    model = load_dynamic(run, device=device)
    folder = model_folder(run)
    dataset = saved_dataset(folder)
    if dataset is None:
        raise ValueError(f"{run} does not record its dataset; evaluate the run folder instead")
    data = _load({**dataset, "data_root": data_root or dataset.get("data_root")})
    _, _, test_loader = data.loaders(64)
    if threads:
        torch.set_num_threads(threads)
    result = {"run": str(run), "method": model.method, **evaluate_dynamic(model, test_loader, device=device),
              "full_path_acc": evaluate_full_path(model, test_loader, device=device),
              "dense_macs": model.dense_macs(), "device": device, "threads": torch.get_num_threads()}
    dense_acc = saved_dense_accuracy(folder)
    if dense_acc is not None:
        result["dense_test_acc"] = dense_acc
    timed = torch.cat([x for x, _ in test_loader])[:images].to(device)
    result["speed"] = [speed_report(model, timed, b, repeats=repeats) for b in batches]
    path = Path(out) if out else folder.parent / "eval.json" if folder.name == "model" else folder / "eval.json"
    save_json_atomic(result, path, indent=2)
    return result, path


def export_run(run: str | Path, out: str | Path, *, force: bool = False) -> Path:
    """Copy the trained network of run folder ``run`` (and its metrics, without the history)
    to ``out``, a folder ``load_dynamic`` reads; an existing ``out`` that is not empty is
    refused unless ``force``. Returns ``out``."""
    run = Path(run)
    source = run / "model"
    if not (source / "dynamic.json").is_file():
        raise ValueError(f"{run} has no trained network (no model/dynamic.json); finish `nasengine dynamic train` first")
    load_dynamic(source)  # refuses a damaged folder before anything is copied
    out = output_path("--out", out, folder=True)
    refuse_existing(out, force=force)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("dynamic.json", "weights.pt"):
        shutil.copyfile(source / name, out / name)
    if (run / "metrics.json").is_file():
        metrics = json.loads((run / "metrics.json").read_text())
        save_json_atomic({k: v for k, v in metrics.items() if k != "history"}, out / "metrics.json", indent=2)
    return out

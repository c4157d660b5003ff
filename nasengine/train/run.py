"""Train one architecture standalone into a folder: ``arch.json``, ``config.yaml``,
``checkpoint.pt`` while running (an unfinished run in the folder resumes), then
``weights.pt`` and ``metrics.json``.

A rerun with the same settings resumes an unfinished run or, when it is finished, returns
its metrics; other settings, or a folder another command made, are refused unless ``force``
starts over."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch
import yaml

from nasengine.arch import Arch
from nasengine.data import load_space_data
from nasengine.space import SearchSpace
from nasengine.train.loop import TrainConfig, evaluate, fit
from nasengine.utils.devices import resolve_device
from nasengine.utils.files import jsonable, save_json_atomic
from nasengine.utils.run_folder import CONFIG, claim, require_same
from nasengine.utils.validation import output_path

#: Settings a resumed run may change: they do not change what is trained.
RESUMABLE = ("kind", "threads", "train.device", "dataset.data_root")


def train_arch(space: SearchSpace, arch: Arch, cfg: TrainConfig, out: str | Path, *, dataset: str = "digits",
               data_root: str | None = None, augment: bool = False, progress: bool = True,
               on_epoch: Callable[[dict[str, Any]], None] | None = None, force: bool = False) -> dict[str, Any]:
    """Train ``arch`` of ``space`` from scratch on ``dataset`` and save the run in ``out``.

    Args:
        cfg: Training schedule; its seed also seeds the initial weights and the data order.
        dataset, data_root, augment: The data (see ``load_dataset``); its classes must match
            the space's ``num_classes``.
        on_epoch: Called with each epoch record (``epoch``, ``train_loss``, ``val_acc``...).
        force: Start over in ``out`` even if it holds another run (its files are removed).

    Returns:
        The metrics written to ``metrics.json`` (``val_acc``, ``test_acc``, ``cost``, ``history``...).
    """
    resolve_device(cfg.device)
    out = output_path("--out", out, folder=True)
    data = load_space_data(space, dataset, data_root, augment=augment)
    out = Path(out)
    resolved = jsonable({"kind": "train", "space": arch.space, "space_config": space.config.to_dict(),
                         "choices": dict(arch.choices), "train": cfg.to_dict(),
                         "dataset": {"name": dataset, "data_root": data_root, "augment": augment},
                         "threads": torch.get_num_threads()})
    stored = claim(out, "train", force=force)
    if stored is not None:
        arch_file = out / "arch.json"
        if "choices" not in stored and arch_file.is_file():  # folders from before choices were recorded
            stored = {**stored, "choices": json.loads(arch_file.read_text()).get("choices")}
        require_same(str(out), stored, resolved, ignore=RESUMABLE)
        if (out / "metrics.json").is_file():
            print(f"{out} already holds this finished run; nothing to train (--force trains again)", file=sys.stderr)
            return json.loads((out / "metrics.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    # The architecture with its data's preprocessing: what `nasengine export` and timm read.
    save_json_atomic({**arch.to_dict(), "preprocessing": data.preprocessing()}, out / "arch.json", indent=2)
    (out / CONFIG).write_text(yaml.safe_dump(resolved, sort_keys=False))

    torch.manual_seed(cfg.seed)
    model = space.build(arch)
    train_loader, val_loader, test_loader = data.loaders(cfg.batch_size, seed=cfg.seed)
    t0 = time.perf_counter()
    history = fit(model, train_loader, val_loader, cfg, checkpoint=out / "checkpoint.pt", progress=progress,
                  on_epoch=on_epoch)
    test = evaluate(model, test_loader, device=cfg.device)
    torch.save(model.state_dict(), out / "weights.pt")
    metrics = {"arch_id": arch.id, "cost": space.cost(arch).to_dict(), "val_acc": history[-1]["val_acc"],
               "test_acc": test["acc"], "history": history, "seconds": time.perf_counter() - t0}
    save_json_atomic(metrics, out / "metrics.json", indent=2)
    (out / "checkpoint.pt").unlink(missing_ok=True)
    return metrics

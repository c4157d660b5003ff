"""The simple baseline of a report: multinomial logistic regression (scikit-learn) on the
raw pixels, fitted on the same train split the networks train on.

It says how much of a found network's accuracy a linear model already gets; on easy data
(8x8 digits) that is most of it. The fit is deterministic, so it runs once and its result
is cached next to the retrained networks'.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import DataLoader, Dataset

from nasengine.data import DataSplits
from nasengine.utils.files import save_json_atomic

#: scikit-learn settings of the fit (part of the cache key).
SETTINGS = {"model": "LogisticRegression", "max_iter": 2000, "C": 1.0}


@dataclass(frozen=True)
class SimpleBaseline:
    """A fitted simple baseline: its accuracies and the split sizes they were measured on."""

    label: str
    origin: str
    input_shape: tuple[int, int, int]
    macs: int
    params: int
    val_acc: float
    test_acc: float
    n_val: int
    n_test: int
    seconds: float


def logistic_baseline(data: DataSplits, cache: Path) -> SimpleBaseline:
    """Fit (or read from ``cache``) logistic regression on ``data``'s raw pixels."""
    key = {"data": data.name, "size": data.image_size, "channels": data.in_channels, **SETTINGS}
    tag = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    path = cache / "logreg-raw-pixels" / f"{tag}.json"
    if path.is_file():
        stored = json.loads(path.read_text())
        return SimpleBaseline(**{**stored, "input_shape": tuple(stored["input_shape"])})
    baseline = _fit(data)
    save_json_atomic(asdict(baseline), path)
    return baseline


def _fit(data: DataSplits) -> SimpleBaseline:
    from sklearn.linear_model import LogisticRegression

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (_arrays(s) for s in (data.train, data.val, data.test))
    t0 = time.perf_counter()
    model = LogisticRegression(max_iter=SETTINGS["max_iter"], C=SETTINGS["C"]).fit(x_train, y_train)
    seconds = time.perf_counter() - t0
    features, classes = x_train.shape[1], data.num_classes
    return SimpleBaseline(
        label="logistic regression (raw pixels)", origin="simple baseline (scikit-learn)",
        input_shape=(data.in_channels, data.image_size, data.image_size),
        macs=features * classes, params=(features + 1) * classes,
        val_acc=float(model.score(x_val, y_val)), test_acc=float(model.score(x_test, y_test)),
        n_val=len(y_val), n_test=len(y_test), seconds=seconds)


def _arrays(split: Dataset[Any]) -> tuple[np.ndarray, np.ndarray]:
    """A split as (flattened images, labels), loaded in one batch."""
    images, labels = next(iter(DataLoader(split, batch_size=len(split))))  # type: ignore[arg-type]
    return images.flatten(1).numpy(), labels.numpy()

"""Progress on stderr: tqdm bars on a terminal, one plain line per step of work elsewhere
(a log file, a job scheduler), nothing when asked to be quiet."""

from __future__ import annotations

import sys
from typing import Any, Iterable, Mapping, TypeVar

T = TypeVar("T")

#: What an epoch line shows of an epoch record, in order: (key, label, format).
EPOCH_FIELDS = (("phase", "", ""), ("train_loss", "train loss", ".4f"), ("loss", "loss", ".4f"),
                ("train_acc", "train acc", ".4f"), ("val_acc", "val acc", ".4f"),
                ("val_mac_reduction", "MAC reduction", ".2f"), ("lr", "lr", ".4g"))


def progress_bar(items: Iterable[T], *, enabled: bool = True, desc: str = "", total: int | None = None) -> Iterable[T]:
    """Wrap ``items`` in a tqdm bar when ``enabled`` and stderr is a terminal."""
    if not enabled or not sys.stderr.isatty():
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, total=total, leave=False, dynamic_ncols=True)


def log_lines(enabled: bool = True) -> bool:
    """Whether progress goes out as lines instead of a bar: ``enabled`` and stderr is not
    a terminal (where a bar would fill a log file with redraws)."""
    return enabled and not sys.stderr.isatty()


def log_line(text: str) -> None:
    """One progress line on stderr, flushed at once so that a log file follows the run."""
    print(text, file=sys.stderr, flush=True)


def epoch_line(record: Mapping[str, Any], total: int | None = None, *, prefix: str = "") -> str:
    """``epoch 3/10  train loss 0.4123  val acc 0.8812  lr 0.0123  4.2s`` from an epoch
    record (``epoch``, ``seconds`` and whichever of ``EPOCH_FIELDS`` it has)."""
    parts = [f"{prefix}epoch {record['epoch']}" + (f"/{total}" if total is not None else "")]
    parts += [f"{label} {record[key]:{fmt}}".strip() for key, label, fmt in EPOCH_FIELDS if key in record]
    if "seconds" in record:
        parts.append(f"{record['seconds']:.1f}s")
    return "  ".join(parts)


class EpochLog:
    """An ``on_epoch`` callback that logs one ``epoch_line`` per epoch on stderr.

    Unlike the search's per-trial lines it also writes on a terminal: training bars close
    at the end of every epoch, so the line is the lasting record there too.

    Args:
        total: Epochs in the run (``None``: not shown).
        enabled: ``False`` (``--quiet``) logs nothing.
        prefix: Names the training (``"supernet "``).
    """

    def __init__(self, total: int | None = None, *, enabled: bool = True, prefix: str = "") -> None:
        self.total, self.enabled, self.prefix = total, enabled, prefix

    def __call__(self, record: Mapping[str, Any]) -> None:
        if self.enabled:
            log_line(epoch_line(record, self.total, prefix=self.prefix))

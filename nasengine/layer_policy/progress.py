"""Progress of a per-layer policy search: a bar on a terminal, else a line every tenth
episode (and the last), with the best accuracy so far; and, given a folder, every episode's
reward, accuracy, cost and agent losses as TensorBoard scalars."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Mapping

from nasengine.layer_policy.episodes import EpisodeResult
from nasengine.utils.progress import log_line

__all__ = ["EpisodeProgress"]


class EpisodeProgress:
    """``run_episodes``' ``on_episode`` that reports progress; call :meth:`close` at the end.

    Args:
        name: The method's name, first on every line.
        total: Episodes of the search.
        enabled: Report at all.
        detail: Text about an episode's ``info`` for its line (its cost).
        tensorboard: Folder for TensorBoard scalars under ``NAME/`` (``None``: none), written
            whether or not progress is shown.
    """

    def __init__(self, name: str, total: int, enabled: bool, detail: Callable[[Mapping[str, Any]], str], *,
                 tensorboard: Path | None = None) -> None:
        self.name, self.total, self.enabled, self.detail = name, total, enabled, detail
        self.best: float | None = None  # accuracy of the best episode seen (a resumed run saw none yet)
        self.bar: Any = None
        self.tensorboard = tensorboard
        self.writer: Any = None  # a SummaryWriter once the first episode is logged

    def __call__(self, result: EpisodeResult) -> None:
        if result.best:
            self.best = float(result.info["accuracy"])
        if self.tensorboard is not None:
            self._log(result)
        if not self.enabled:
            return
        best = "-" if self.best is None else f"{self.best:.4f}"
        done = result.episode + 1
        if sys.stderr.isatty():
            if self.bar is None:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=self.total, initial=result.episode, desc=self.name, leave=False,
                                dynamic_ncols=True)
            self.bar.update(1)
            self.bar.set_postfix(best_acc=best)
        elif done % 10 == 0 or done == self.total:
            log_line(f"{self.name} episode {done}/{self.total}  acc {result.info['accuracy']:.4f}  "
                     f"{self.detail(result.info)}  best acc {best}")

    def _log(self, result: EpisodeResult) -> None:
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter  # imported only when logging

            self.writer = SummaryWriter(str(self.tensorboard))
        scalars = {"reward": result.reward, **{f"loss_{k}": v for k, v in result.losses.items()},
                   **{k: v for k, v in result.info.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}}
        if self.best is not None:
            scalars["best_accuracy"] = self.best
        for key, value in scalars.items():
            self.writer.add_scalar(f"{self.name}/{key}", float(value), result.episode)
        self.writer.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.writer.close()

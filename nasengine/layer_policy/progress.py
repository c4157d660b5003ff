"""Progress of a per-layer policy search: a bar on a terminal, else a line every tenth
episode (and the last), with the best accuracy so far."""

from __future__ import annotations

import sys
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
    """

    def __init__(self, name: str, total: int, enabled: bool, detail: Callable[[Mapping[str, Any]], str]) -> None:
        self.name, self.total, self.enabled, self.detail = name, total, enabled, detail
        self.best: float | None = None  # accuracy of the best episode seen (a resumed run saw none yet)
        self.bar: Any = None

    def __call__(self, result: EpisodeResult) -> None:
        if not self.enabled:
            return
        if result.best:
            self.best = float(result.info["accuracy"])
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

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

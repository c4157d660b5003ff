"""Checks a search makes before anything runs that need the space, the controller or the
evaluator: the pinned decisions (``--fix``) and the training search (``--tune``, ``--pruner``)."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from nasengine.controller import ArchSampler, InfeasibleError, constrained_random
from nasengine.registry import EVALUATORS
from nasengine.search.config import SearchConfig, SearchError
from nasengine.search.tune import TuneSpec, parse_tune

if TYPE_CHECKING:
    from nasengine.space import SearchSpace


def check_training_search(cfg: SearchConfig, space: SearchSpace) -> dict[str, TuneSpec]:
    """The ``--tune`` specs, checked against the evaluator (it must train candidates and take
    the settings) and the space (a tuned name may not be a decision); a pruner also needs
    an evaluator that trains and reports per epoch."""
    tunable = getattr(EVALUATORS.get(cfg.evaluator), "TUNABLE", ())
    for option, used in (("--tune", bool(cfg.tune)), (f"--pruner {cfg.pruner}", cfg.pruner != "none")):
        if used and not tunable:
            raise SearchError(f"{option} needs an evaluator that trains each candidate (train); evaluator "
                              f"{cfg.evaluator!r} does not")
    clash = sorted(set(cfg.tune) & {d.name for d in space.decisions()})
    if clash:
        raise SearchError(f"--tune {clash[0]}: the space has a decision of that name; pin it with --fix instead")
    return parse_tune(cfg.tune, tuple(tunable))


def check_fix(cfg: SearchConfig, sampler: ArchSampler) -> None:
    """Pin ``cfg.fix`` on the controller; ``ValueError`` for a name that is not a decision or
    an option it does not have, ``SearchError`` when no pinned architecture meets the limits."""
    sampler.fix(cfg.fix)
    if not cfg.fix:
        return
    try:
        constrained_random(sampler.space, sampler.feasible, random.Random(cfg.seed), fixed=sampler.fixed)
    except InfeasibleError as exc:
        raise SearchError(f"--fix: {exc}") from None

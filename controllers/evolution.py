"""Constrained evolutionary search in the style of Single Path One-Shot (Guo et al. 2019).

SPOS evolves a population of 50 for 20 generations: the top 10 architectures found so far
are the parents, half of each generation comes from crossover and half from mutation
(probability 0.1 per decision), the hard constraint is checked before evaluation and
duplicates are dropped. Optuna asks for one trial at a time, possibly from several workers
sharing one storage, so this controller runs the same loop *steady state*: each new trial
is one child of the top-k completed trials at the moment it is asked for. Everything is
read back from the study, so the controller has no state of its own to checkpoint.

A single worker replays exactly (proposals depend on seed, trial number and the trials
before it). With several workers, de-duplication also sees the others' running trials, and
the random phase lasts until ``population_size`` trials have *completed*: both depend on
timing, which is the price of never evaluating one architecture twice.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from nasengine.arch import ArchError
from nasengine.controller import ArchSampler, completed_trials, oriented_values
from nasengine.pareto import crowding_distance, nondominated_fronts
from nasengine.space import SearchSpace
from nasengine.utils.validation import boolean, positive_int, probability

Key = tuple[int, ...]  # option indices in decisions() order: the arch's identity in its space

#: Spaces up to this size are enumerated to find an unseen arch when random draws fail.
ENUMERATE_LIMIT = 100_000


@dataclass
class _Context:
    """What one trial's proposals are derived from, read once per trial."""

    number: int
    seen: set[Key]
    parents: list[Key]
    rejected: set[Key] = field(default_factory=set)


class EvolutionController(ArchSampler):
    """Steady-state SPOS evolution: random population first, then children of the top-k.

    Args:
        space: The search space.
        seed: Base seed; each trial's randomness comes from ``(seed, trial.number)``.
        max_tries: Proposals the base class tries per trial (see ``ArchSampler``).
        population_size: Completed trials drawn uniformly at random before evolving. SPOS
            uses 50 for 1,000 evaluations; the default 20 suits proxy searches of 50-200
            trials: it gives ``top_k`` a pool twice its size while leaving most of the
            budget to evolution.
        top_k: Parents: the best ``top_k`` completed trials so far (SPOS: 10).
        mutation_prob: Chance that a mutation changes each decision to another option
            (SPOS: 0.1); at least one decision always changes.
        crossover_prob: Fraction of children made by uniform crossover of two parents; the
            rest are mutants of one parent (SPOS: half and half).
        dedup: Reject candidates whose architecture is already a trial of the study (any
            state, other workers' running trials included).
        max_retries: Candidates tried per proposal before falling back to random new ones.
        independent_sampler: Samples the parameters that are not decisions (see ``ArchSampler``).
    """

    def __init__(self, space: SearchSpace, *, seed: int | None = None, max_tries: int = 200,
                 population_size: int = 20, top_k: int = 10, mutation_prob: float = 0.1,
                 crossover_prob: float = 0.5, dedup: bool = True, max_retries: int = 100,
                 independent_sampler: optuna.samplers.BaseSampler | None = None) -> None:
        super().__init__(space, seed=seed, max_tries=positive_int("max_tries", max_tries),
                         independent_sampler=independent_sampler)
        self.population_size = positive_int("population_size", population_size)
        self.top_k = positive_int("top_k", top_k)
        self.mutation_prob = probability("mutation_prob", mutation_prob)
        self.crossover_prob = probability("crossover_prob", crossover_prob)
        self.dedup = boolean("dedup", dedup)
        self.max_retries = positive_int("max_retries", max_retries)
        self._decisions = space.decisions()
        self._sizes = tuple(len(d.options) for d in self._decisions)
        self._context: _Context | None = None

    # --- the proposal -------------------------------------------------------------------
    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        super().before_trial(study, trial)
        self._context = None  # a new trial: the study may have changed since the last one

    def propose(self, study: optuna.Study, trial: FrozenTrial, rng: random.Random) -> Mapping[str, Any]:
        ctx = self._context
        if ctx is None or ctx.number != trial.number:
            ctx = self._context = self._read_study(study, trial)
        last: Key | None = None
        for _ in range(self.max_retries):
            key = self._pin(self.child(ctx.parents, rng) if ctx.parents else self._random_key(rng))
            last = key if key is not None else last
            if key is not None and self._acceptable(key, ctx):
                return self._choices(key)
        # Children keep landing on seen or infeasible archs: try any new random one.
        for _ in range(self.max_retries):
            key = self._pin(self._random_key(rng))
            if key is not None and self._acceptable(key, ctx):
                return self._choices(key)
        key = self._enumerate_unseen(ctx, rng)
        if key is None:
            # The feasible space looks exhausted: a repeat is unavoidable; the base class
            # keeps rejecting infeasible ones and finally samples at random.
            key = last if last is not None else self._random_key(rng)
        return self._choices(key) if key is not None else dict(self.space.sample(rng).choices)

    def child(self, parents: Sequence[Key], rng: random.Random) -> Key:
        """One child of ``parents``: a crossover of two (``crossover_prob``) or a mutant."""
        if len(parents) >= 2 and rng.random() < self.crossover_prob:
            a, b = rng.sample(list(parents), 2)
            return crossover(a, b, rng)
        return mutate(rng.choice(list(parents)), self.free_option_counts(), self.mutation_prob, rng)

    def select_parents(self, study: optuna.Study) -> list[FrozenTrial]:
        """The top-k completed trials of this space (empty while the population fills)."""
        done = [t for t in completed_trials(study) if self.key_of(t) is not None]
        if len(done) < self.population_size:
            return []
        return rank_trials(done, study.directions)[: self.top_k]

    def key_of(self, trial: FrozenTrial) -> Key | None:
        """The trial's option indices, or ``None`` if its params are not an arch of the space
        (other parameters of the trial are ignored)."""
        try:
            key = tuple(d.index(trial.params[d.name]) for d in self._decisions)
            self.space.check(self._choices(key))
        except (KeyError, ArchError):
            return None  # e.g. another worker's trial caught between two suggest calls
        return key

    # --- helpers ------------------------------------------------------------------------
    def _read_study(self, study: optuna.Study, trial: FrozenTrial) -> _Context:
        seen: set[Key] = set()
        if self.dedup:
            for other in study.get_trials(deepcopy=False):
                key = self.key_of(other) if other.number != trial.number else None
                if key is not None:
                    seen.add(key)
        parents = [self.key_of(t) for t in self.select_parents(study)]
        return _Context(trial.number, seen, [k for k in parents if k is not None])

    def _acceptable(self, key: Key, ctx: _Context) -> bool:
        """New (when deduplicating), valid and feasible; rejections are remembered."""
        if key in ctx.rejected or (self.dedup and key in ctx.seen):
            return False
        try:
            ok = self.feasible(self.space.arch(self._choices(key)))
        except ArchError:  # a cross-decision rule of the space (SearchSpace.check)
            ok = False
        if not ok:
            ctx.rejected.add(key)
        return ok

    def _random_key(self, rng: random.Random) -> Key | None:
        try:
            arch = self.space.sample(rng)
        except ArchError:
            return None
        return tuple(d.index(arch.choices[d.name]) for d in self._decisions)

    def _enumerate_unseen(self, ctx: _Context, rng: random.Random) -> Key | None:
        """A uniformly chosen unseen feasible arch of a small space, else ``None``."""
        if not self.dedup or self.space.size() > ENUMERATE_LIMIT:
            return None
        unseen = [k for k in itertools.product(*(range(n) for n in self._sizes))
                  if k not in ctx.seen and k == self._pin(k) and self._acceptable(k, ctx)]
        return rng.choice(unseen) if unseen else None

    def _pin(self, key: Key | None) -> Key | None:
        """``key`` with the fixed decisions at their options (see ``ArchSampler.fix``)."""
        if key is None or not self.fixed:
            return key
        return tuple(d.index(self.fixed[d.name]) if d.name in self.fixed else i for d, i in zip(self._decisions, key))

    def _choices(self, key: Key) -> dict[str, Any]:
        return {d.name: d.options[i] for d, i in zip(self._decisions, key)}


# --- variation operators (on option indices) ------------------------------------------------
def crossover(a: Key, b: Key, rng: random.Random) -> Key:
    """Uniform crossover: each decision from either parent with equal chance."""
    return tuple(x if rng.random() < 0.5 else y for x, y in zip(a, b))


def mutate(parent: Key, sizes: Sequence[int], prob: float, rng: random.Random) -> Key:
    """Move each decision to another of its ``sizes[i]`` options with chance ``prob``;
    if none moved, move one chosen at random (a mutant must differ from its parent)."""
    child = list(parent)
    mutable = [i for i, n in enumerate(sizes) if n > 1]
    for i in mutable:
        if rng.random() < prob:
            child[i] = _other_option(child[i], sizes[i], rng)
    if mutable and tuple(child) == tuple(parent):
        i = rng.choice(mutable)
        child[i] = _other_option(child[i], sizes[i], rng)
    return tuple(child)


def _other_option(current: int, n: int, rng: random.Random) -> int:
    new = rng.randrange(n - 1)  # uniform over the n - 1 other options
    return new + 1 if new >= current else new


# --- parent ranking -------------------------------------------------------------------------
def rank_trials(trials: Sequence[FrozenTrial], directions: Sequence[StudyDirection]) -> list[FrozenTrial]:
    """Best first. One objective: by value, ties by trial number. Several: NSGA-II order,
    i.e. by non-dominated front, then by crowding distance (larger first) inside a front,
    then by trial number. Written out here because Optuna keeps its versions private."""
    trials = sorted(trials, key=lambda t: t.number)
    points = [oriented_values(t, directions) for t in trials]  # larger is better in each
    if len(directions) == 1:
        return [t for _, t in sorted(zip(points, trials), key=lambda p: (-p[0][0], p[1].number))]
    ranked: list[FrozenTrial] = []
    for front in nondominated_fronts(points, [True] * len(directions)):
        crowd = crowding_distance([points[i] for i in front])
        order = sorted(range(len(front)), key=lambda j: (-crowd[j], trials[front[j]].number))
        ranked.extend(trials[front[j]] for j in order)
    return ranked

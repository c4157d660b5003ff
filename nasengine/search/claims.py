"""One evaluation per architecture in a study, however many workers propose it.

Before a trial evaluates an architecture (with its tuned settings, if any) it claims it: a
row ``(study, key) -> trial number`` in the table ``nasengine_claims`` of the study's own
database. The primary key makes the claim atomic on SQLite and PostgreSQL alike: of two
workers that propose one architecture at the same moment, one inserts the row and
evaluates, the other waits for that trial and reuses its result. A claim whose trial
failed (its worker died, or the evaluation raised) is taken over by a conditional update,
again by exactly one trial.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Callable

import optuna
import sqlalchemy
from optuna.trial import FrozenTrial, TrialState

_METADATA = sqlalchemy.MetaData()
CLAIMS = sqlalchemy.Table(
    "nasengine_claims", _METADATA,
    sqlalchemy.Column("study_id", sqlalchemy.Integer, primary_key=True),
    sqlalchemy.Column("key", sqlalchemy.String(128), primary_key=True),
    sqlalchemy.Column("trial_number", sqlalchemy.Integer, nullable=False),
)


def claim_key(arch_id: str, hparams: dict[str, Any] | None) -> str:
    """What one evaluation is of: the arch id, plus a digest of its tuned training settings."""
    if not hparams:
        return arch_id
    digest = hashlib.sha256(json.dumps(hparams, sort_keys=True).encode()).hexdigest()[:16]
    return f"{arch_id}:{digest}"


def _retrying(action: Callable[[], Any], attempts: int = 20,
              errors: tuple[type[Exception], ...] = (sqlalchemy.exc.OperationalError,)) -> Any:
    """``action``, retried while the database is busy (SQLite's lock, a dropped connection)
    or, with more ``errors``, while another worker does the same thing."""
    for attempt in range(attempts):
        try:
            return action()
        except errors:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


class Claims:
    """The claims of one study, in the storage's database."""

    def __init__(self, storage: optuna.storages.RDBStorage, study_id: int) -> None:
        self.engine, self.study_id = storage.engine, study_id
        # Workers started together race to create the table: PostgreSQL then refuses the
        # second CREATE with an integrity error on its catalog; the retry finds the table.
        _retrying(lambda: _METADATA.create_all(self.engine, checkfirst=True),
                  errors=(sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError,
                          sqlalchemy.exc.ProgrammingError))

    def claim(self, key: str, number: int) -> int:
        """Claim ``key`` for trial ``number``; returns the trial number that holds it now."""
        return number if self.first(key, number) else self.holder(key)

    def first(self, key: str, number: int) -> bool:
        """Claim ``key`` for trial ``number`` if nobody has: ``True`` for the one call that
        inserts the row, ``False`` for every later one (whatever number it gives)."""
        def insert() -> bool:
            try:
                with self.engine.begin() as db:
                    db.execute(CLAIMS.insert().values(study_id=self.study_id, key=key, trial_number=number))
                return True
            except sqlalchemy.exc.IntegrityError:
                return False
        return bool(_retrying(insert))

    def holder(self, key: str) -> int:
        query = sqlalchemy.select(CLAIMS.c.trial_number).where(CLAIMS.c.study_id == self.study_id, CLAIMS.c.key == key)

        def select() -> int:
            with self.engine.connect() as db:
                return int(db.execute(query).scalar_one())
        return int(_retrying(select))

    def take_over(self, key: str, old: int, new: int) -> bool:
        """Move ``key`` from trial ``old`` to ``new``; ``False`` if another trial moved it first."""
        update = (CLAIMS.update().where(CLAIMS.c.study_id == self.study_id, CLAIMS.c.key == key,
                                        CLAIMS.c.trial_number == old).values(trial_number=new))

        def run() -> bool:
            with self.engine.begin() as db:
                return db.execute(update).rowcount == 1
        return bool(_retrying(run))


def evaluation_to_reuse(study: optuna.Study, claims: Claims, trial: optuna.Trial, key: str, *,
                        wait: Callable[[], None]) -> FrozenTrial | None:
    """``None`` when ``trial`` is to evaluate ``key`` itself; else the finished trial (complete
    or pruned) that evaluated it. While another live trial evaluates it, calls ``wait``
    (which sleeps and fails dead workers' trials) and looks again."""
    while True:
        holder = claims.claim(key, trial.number)
        if holder == trial.number:
            return None
        owner = next((t for t in study.get_trials(deepcopy=False) if t.number == holder), None)
        # A holder of another key: a claim left by a deleted study whose id was reused.
        stray = owner is None or claim_key(owner.user_attrs.get("arch_id", ""), owner.user_attrs.get("hparams")) != key
        if not stray and owner.state in (TrialState.COMPLETE, TrialState.PRUNED):
            return owner
        if stray or owner.state == TrialState.FAIL:
            if claims.take_over(key, holder, trial.number):
                return None
            continue
        wait()

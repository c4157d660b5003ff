"""The plain strategies: one controller each, scored by the ``train`` evaluator. Declared as
``nasengine.strategies`` entry points, like the one-shot strategies of the plug-ins."""

from __future__ import annotations

from nasengine.search.config import Strategy

RL = Strategy("rl")
EVOLUTION = Strategy("evolution")
AGING = Strategy("aging")
RANDOM = Strategy("random")
TPE = Strategy("tpe")
NSGA2 = Strategy("nsga2")

"""Conformance kits for plug-ins: run the same checks on your space, controller or
evaluator as on the built-ins (see each module's docstring for the pattern)."""

from __future__ import annotations

from nasengine.testing.controllers import CONTROLLER_CHECKS
from nasengine.testing.evaluators import EVALUATOR_CHECKS, EvaluatorCase
from nasengine.testing.spaces import SPACE_CHECKS

__all__ = ["CONTROLLER_CHECKS", "EVALUATOR_CHECKS", "SPACE_CHECKS", "EvaluatorCase"]

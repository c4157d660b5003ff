"""Evaluators: the contract (``Evaluator``, ``Evaluation``) and the built-in ``train`` and
``table`` evaluators."""

from nasengine.evaluators.base import Evaluation, Evaluator, Report, parse_evaluator

__all__ = ["Evaluation", "Evaluator", "Report", "parse_evaluator"]

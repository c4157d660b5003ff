"""Training: the loop (``fit``, ``evaluate``, ``recalibrate_bn``) and a whole training run
of one architecture saved to a folder (``train_arch``)."""

from __future__ import annotations

from nasengine.train.loop import TrainConfig, cosine_schedule, evaluate, fit, make_optimizer, recalibrate_bn
from nasengine.train.run import train_arch

__all__ = ["TrainConfig", "cosine_schedule", "evaluate", "fit", "make_optimizer", "recalibrate_bn", "train_arch"]

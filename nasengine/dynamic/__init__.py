"""Input-adaptive networks that really run faster.

* Runtime neural pruning (``RNPNetwork``): nested channel groups per layer, chosen per input
  by a recurrent decision network trained with Q-learning.
* SkipNet and runtime routing (``GatedNetwork``): gates before residual blocks pick
  "skip" / "execute" or one of several paths, trained with relaxed gates then REINFORCE.
* Progressive frame pruning (``FramesNetwork``, ``nasengine.dynamic.frames``): decision
  modules between the stages of a video network drop frames, trained with REINFORCE.

At inference only the chosen work runs: leading weight slices, batches bucketed by route,
skipped blocks never called. ``load_dynamic(folder)`` returns a trained network.
"""

from __future__ import annotations

from nasengine.dynamic.backbones import BACKBONES, BackboneConfig
from nasengine.dynamic.gated import GATES, GatedConfig, GatedNetwork
from nasengine.dynamic.gated_training import GatedRecipe
from nasengine.dynamic.io import build_dynamic, load_dynamic, save_dynamic
from nasengine.dynamic.methods import DYNAMIC_METHODS, DynamicMethod
from nasengine.dynamic.metrics import dense_reference, evaluate_dynamic, evaluate_full_path
from nasengine.dynamic.rnp import RNPConfig, RNPNetwork
from nasengine.dynamic.rnp_training import RNPRecipe
from nasengine.dynamic.timing import compare_speed, speed_report
from nasengine.dynamic.trainer import DynamicTrainConfig, Recipe, train_dynamic


def recipe_for(method: str) -> Recipe:
    """The training recipe of ``method`` (a name in ``DYNAMIC_METHODS``)."""
    if method not in DYNAMIC_METHODS:
        raise ValueError(f"unknown dynamic method {method!r}; choose one of {', '.join(DYNAMIC_METHODS.names())}")
    return DYNAMIC_METHODS.get(method).recipe()


__all__ = ["BACKBONES", "DYNAMIC_METHODS", "GATES", "BackboneConfig", "DynamicMethod", "DynamicTrainConfig",
           "GatedConfig", "GatedNetwork",
           "GatedRecipe", "RNPConfig", "RNPNetwork", "RNPRecipe", "build_dynamic", "compare_speed", "dense_reference",
           "evaluate_dynamic", "evaluate_full_path", "load_dynamic", "recipe_for", "save_dynamic", "speed_report",
           "train_dynamic"]

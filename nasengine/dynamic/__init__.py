"""Input-adaptive networks that really run faster.

* Runtime neural pruning (``RNPNetwork``): nested channel groups per layer, chosen per input
  by a recurrent decision network trained with Q-learning.
* SkipNet and runtime routing (``GatedNetwork``): gates before residual blocks pick
  "skip" / "execute" or one of several paths, trained with relaxed gates then REINFORCE.

At inference only the chosen work runs: leading weight slices, batches bucketed by route,
skipped blocks never called. ``load_dynamic(folder)`` returns a trained network.
"""

from __future__ import annotations

from nasengine.dynamic.backbones import BACKBONES, BackboneConfig
from nasengine.dynamic.gated import GATED_METHODS, GATES, GatedConfig, GatedNetwork
from nasengine.dynamic.gated_training import GatedRecipe
from nasengine.dynamic.io import METHODS, build_dynamic, load_dynamic, save_dynamic
from nasengine.dynamic.metrics import dense_reference, evaluate_dynamic, evaluate_full_path
from nasengine.dynamic.rnp import RNPConfig, RNPNetwork
from nasengine.dynamic.rnp_training import RNPRecipe
from nasengine.dynamic.timing import compare_speed, speed_report
from nasengine.dynamic.trainer import DynamicTrainConfig, train_dynamic


def recipe_for(method: str) -> RNPRecipe | GatedRecipe:
    """The training recipe of ``method``."""
    if method == "rnp":
        return RNPRecipe()
    if method in GATED_METHODS:
        return GatedRecipe()
    raise ValueError(f"unknown dynamic method {method!r}; choose one of {', '.join(METHODS)}")


__all__ = ["BACKBONES", "GATES", "METHODS", "BackboneConfig", "DynamicTrainConfig", "GatedConfig", "GatedNetwork",
           "GatedRecipe", "RNPConfig", "RNPNetwork", "RNPRecipe", "build_dynamic", "compare_speed", "dense_reference",
           "evaluate_dynamic", "evaluate_full_path", "load_dynamic", "recipe_for", "save_dynamic", "speed_report",
           "train_dynamic"]

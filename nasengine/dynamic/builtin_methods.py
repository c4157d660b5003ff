"""The built-in dynamic methods, declared as entry points in ``pyproject.toml``:
runtime neural pruning (``rnp``), SkipNet (``skipnet``), runtime routing (``routing``) and
progressive frame pruning of video networks (``frames``)."""

from __future__ import annotations

from typing import Any, Sequence

from torch import nn

from nasengine.dynamic.frames import FramesConfig, FramesNetwork
from nasengine.dynamic.frames_training import FramesRecipe
from nasengine.dynamic.gated import GatedConfig, GatedNetwork
from nasengine.dynamic.gated_training import GatedRecipe
from nasengine.dynamic.methods import DynamicMethod
from nasengine.dynamic.rnp import RNPConfig, RNPNetwork
from nasengine.dynamic.rnp_training import RNPRecipe


def _rnp_config(backbone: dict[str, Any], *, groups: int = 4, cell: str = "gru", hidden: int | None = None,
                **_other_methods: Any) -> dict[str, Any]:
    # An explicit 0 is refused by the config, not replaced by the default.
    return {"backbone": backbone, "groups": groups, "cell": cell, "hidden": 32 if hidden is None else hidden}


def _gated_config(backbone: dict[str, Any], *, gate: str = "feedforward", hidden: int | None = None,
                  branches: Sequence[float] = (0.0, 0.5, 1.0), gate_norm: bool = True,
                  **_other_methods: Any) -> dict[str, Any]:
    return {"backbone": backbone, "gate": gate, "hidden": 16 if hidden is None else hidden,
            "branches": list(branches), "gate_norm": gate_norm}


def _frames_config(backbone: dict[str, Any], *, frames: int = 8, shift: bool = False, hidden: int | None = None,
                   gate_norm: bool = True, min_frames: int = 1, **_other_methods: Any) -> dict[str, Any]:
    return {"backbone": backbone, "frames": frames, "shift": shift, "hidden": 16 if hidden is None else hidden,
            "gate_norm": gate_norm, "min_frames": min_frames}


def _gated(method: str) -> Any:
    def build(config: dict[str, Any]) -> nn.Module:
        return GatedNetwork(GatedConfig.from_dict({**config, "method": method}))

    return build


RNP = DynamicMethod(help="runtime neural pruning: nested channel groups chosen per input",
                    default_backbone="vgg", make_config=_rnp_config,
                    build=lambda config: RNPNetwork(RNPConfig.from_dict(config)), recipe=RNPRecipe)
SKIPNET = DynamicMethod(help="SkipNet: gates skip or execute residual blocks", default_backbone="resnet",
                        make_config=_gated_config, build=_gated("skipnet"), recipe=GatedRecipe)
ROUTING = DynamicMethod(help="runtime routing: gates pick one of several paths per block", default_backbone="resnet",
                        make_config=_gated_config, build=_gated("routing"), recipe=GatedRecipe)
FRAMES = DynamicMethod(help="progressive frame pruning: per-stage decisions drop video frames",
                       default_backbone="resnet", make_config=_frames_config,
                       build=lambda config: FramesNetwork(FramesConfig.from_dict(config)), recipe=FramesRecipe)

"""Register an exported architecture as a timm model, so that ``timm.create_model(name, ...)``
builds it: with timm's classifier API (``forward_features``, ``forward_head``,
``reset_classifier``, ``num_classes=0`` for features) and a ``pretrained_cfg`` that carries
the export's preprocessing (input size, mean, std, interpolation), which
``timm.data.resolve_data_config`` turns into the matching eval transform."""

from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path
from typing import Any

from torch import nn

from nasengine.arch import Arch
from nasengine.export.load import arch_space, read_arch
from nasengine.head import ClassifierNet
from nasengine.records import preprocessing_in, read_json
from nasengine.space import SearchSpace
from nasengine.utils.safe_load import load_checkpoint

__all__ = ["register_timm"]

#: Pretrained configs of the models ``register_timm`` registered (timm reads
#: ``default_cfgs`` of the module an entrypoint lives in).
default_cfgs: dict[str, dict[str, Any]] = {}


def register_timm(path: str | Path, name: str, *, overwrite: bool = False) -> str:
    """Register the architecture exported in ``path`` as timm model ``name``.

    ``timm.create_model(name, pretrained=False, num_classes=..., in_chans=...)`` then builds
    it with fresh weights; ``pretrained=True`` loads the exported ``weights.pt`` (with a
    different ``num_classes`` the classifier is left freshly initialised, as timm does;
    ``num_classes=0`` removes it, so the model returns pooled features).
    ``timm.models.get_pretrained_cfg(name)`` and the model's ``pretrained_cfg`` record the
    weights file, the input size and, where the export knows its data, mean, std and
    interpolation (else timm's defaults stand, as nothing is known to replace them).

    Args:
        path: Export folder with ``arch.json`` (and ``weights.pt`` for pretrained use).
        name: timm model name: letters, digits and underscores (timm reserves ``.``).
        overwrite: Replace a timm model of that name; by default a name timm already
            knows is refused (timm itself would silently overwrite it with a warning).

    Returns:
        ``name``.
    """
    from timm.models import is_model, register_model

    folder = Path(path).parent if Path(path).is_file() else Path(path)
    if not (folder / "arch.json").is_file():
        raise FileNotFoundError(f"{str(folder)!r} has no arch.json; export the run with `nasengine export RUN`")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"timm model name {name!r} must be letters, digits and underscores, not starting with a digit")
    if is_model(name) and not overwrite:
        raise ValueError(f"timm already has a model named {name!r}; choose another name or pass overwrite=True")
    arch = read_arch(folder)
    weights = folder / "weights.pt"
    config = dict(arch.config)

    def entrypoint(pretrained: bool = False, *, num_classes: int | None = None, in_chans: int | None = None,
                   pretrained_cfg: Any = None, pretrained_cfg_overlay: Any = None, cache_dir: Any = None,
                   **kwargs: Any) -> nn.Module:
        if kwargs:
            raise TypeError(f"timm model {name!r} takes num_classes and in_chans only, not {sorted(kwargs)}")
        # num_classes=0 (timm's "features only") builds the exported head and then drops it.
        classes = None if num_classes == 0 else num_classes
        overrides = {k: v for k, v in (("num_classes", classes), ("in_channels", in_chans)) if v is not None}
        space = arch_space(arch, **overrides)
        model = space.build(space.arch(arch.choices))
        if pretrained:
            _load_pretrained(model, weights, name, in_chans_changed=config.get("in_channels") != space.config.in_channels)
        if num_classes == 0:
            _classifier_net(model, name).reset_classifier(0)
        model.num_classes = num_classes if num_classes == 0 else space.config.num_classes
        model.pretrained_cfg = model.default_cfg = _model_cfg(default_cfgs[name], model.num_classes,
                                                              space.config.in_channels)
        return model

    entrypoint.__name__ = entrypoint.__qualname__ = name
    entrypoint.__module__ = __name__
    entrypoint.__doc__ = f"nasengine architecture {arch.id} ({arch.space}) exported in {folder}."
    default_cfgs[name] = _pretrained_cfg(name, folder, arch, arch_space(arch))
    setattr(sys.modules[__name__], name, entrypoint)  # timm expects entrypoints to live in their module
    with warnings.catch_warnings():  # timm warns on overwrite; unwanted ones were refused above
        warnings.filterwarnings("ignore", message="Overwriting")
        register_model(entrypoint)
    return name


def _classifier_net(model: nn.Module, name: str) -> ClassifierNet:
    if not isinstance(model, ClassifierNet):
        raise ValueError(f"timm model {name!r}: num_classes=0 needs timm's classifier API, which "
                         f"{type(model).__name__} lacks (build the network on nasengine.head.ClassifierNet)")
    return model


def _pretrained_cfg(name: str, folder: Path, arch: Arch, space: SearchSpace) -> dict[str, Any]:
    """timm's pretrained config of ``arch`` of ``space`` exported in ``folder`` (a network
    without timm's classifier API has no ``classifier`` entry)."""
    weights, model, config = folder / "weights.pt", space.build(arch), space.config
    first_conv = next((n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)
    cfg: dict[str, Any] = {
        "file": str(weights) if weights.is_file() else None, "architecture": name,
        "num_classes": config.num_classes,
        "input_size": (config.in_channels, config.input_size, config.input_size), "fixed_input_size": True,
        "crop_pct": 1.0,  # the data readers resize to the input size and crop nothing
        "first_conv": first_conv, "classifier": getattr(model, "classifier_path", None),
        "description": f"nasengine {arch.space} architecture {arch.id}"}
    preprocessing = preprocessing_in(read_json(folder / "arch.json"), str(folder / "arch.json"))
    if preprocessing is not None:
        cfg["input_size"] = (preprocessing.channels, preprocessing.input_size, preprocessing.input_size)
        known = {"mean": preprocessing.mean, "std": preprocessing.std, "interpolation": preprocessing.interpolation}
        cfg.update({k: v for k, v in known.items() if v is not None})
    return cfg


def _model_cfg(registered: dict[str, Any], num_classes: int, channels: int) -> dict[str, Any]:
    """The registered config for a model built with ``num_classes`` and ``channels``; mean
    and std stay only while they fit the channels (other channels: the export cannot tell)."""
    cfg = {**registered, "num_classes": num_classes, "input_size": (channels, *registered["input_size"][1:])}
    for key in ("mean", "std"):
        if key in cfg and len(cfg[key]) != channels:
            del cfg[key]
    return cfg


def _load_pretrained(model: nn.Module, weights: Path, name: str, *, in_chans_changed: bool) -> None:
    if not weights.is_file():
        raise FileNotFoundError(f"timm model {name!r}: pretrained=True needs {weights}, which does not exist")
    if in_chans_changed:
        raise ValueError(f"timm model {name!r}: the exported weights are for another in_chans; "
                         "use pretrained=False to build it with other input channels")
    state = load_checkpoint(weights, what="weights")
    own = model.state_dict()
    # A new num_classes changes only the classifier's shapes: keep it fresh, load the rest.
    mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    missing, unexpected = model.load_state_dict({k: v for k, v in state.items() if k not in mismatched}, strict=False)
    if unexpected or set(missing) - set(mismatched):
        raise ValueError(f"timm model {name!r}: {weights} does not fit the architecture "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")

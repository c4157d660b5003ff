"""Register an exported architecture as a timm model, so that ``timm.create_model(name, ...)``
builds it."""

from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nasengine.export.load import arch_space, read_arch

__all__ = ["register_timm"]

#: Pretrained configs of the models ``register_timm`` registered (timm reads
#: ``default_cfgs`` of the module an entrypoint lives in).
default_cfgs: dict[str, dict[str, Any]] = {}


def register_timm(path: str | Path, name: str, *, overwrite: bool = False) -> str:
    """Register the architecture exported in ``path`` as timm model ``name``.

    ``timm.create_model(name, pretrained=False, num_classes=..., in_chans=...)`` then builds
    it with fresh weights; ``pretrained=True`` loads the exported ``weights.pt`` (with a
    different ``num_classes`` the classifier is left freshly initialised, as timm does).
    ``timm.models.get_pretrained_cfg(name)`` records the weights file and input size.

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
        overrides = {k: v for k, v in (("num_classes", num_classes), ("in_channels", in_chans)) if v is not None}
        space = arch_space(arch, **overrides)
        model = space.build(space.arch(arch.choices))
        if pretrained:
            _load_pretrained(model, weights, name, in_chans_changed=config.get("in_channels") != space.config.in_channels)
        model.pretrained_cfg = model.default_cfg = {**default_cfgs[name], "num_classes": space.config.num_classes}
        model.num_classes = space.config.num_classes
        return model

    entrypoint.__name__ = entrypoint.__qualname__ = name
    entrypoint.__module__ = __name__
    entrypoint.__doc__ = f"nasengine architecture {arch.id} ({arch.space}) exported in {folder}."
    size = config.get("input_size", 224)
    default_cfgs[name] = {"file": str(weights) if weights.is_file() else None, "architecture": name,
                          "num_classes": config.get("num_classes", 1000),
                          "input_size": (config.get("in_channels", 3), size, size), "fixed_input_size": True,
                          "description": f"nasengine {arch.space} architecture {arch.id}"}
    setattr(sys.modules[__name__], name, entrypoint)  # timm expects entrypoints to live in their module
    with warnings.catch_warnings():  # timm warns on overwrite; unwanted ones were refused above
        warnings.filterwarnings("ignore", message="Overwriting")
        register_model(entrypoint)
    return name


def _load_pretrained(model: nn.Module, weights: Path, name: str, *, in_chans_changed: bool) -> None:
    if not weights.is_file():
        raise FileNotFoundError(f"timm model {name!r}: pretrained=True needs {weights}, which does not exist")
    if in_chans_changed:
        raise ValueError(f"timm model {name!r}: the exported weights are for another in_chans; "
                         "use pretrained=False to build it with other input channels")
    state = torch.load(weights, map_location="cpu", weights_only=True)
    own = model.state_dict()
    # A new num_classes changes only the classifier's shapes: keep it fresh, load the rest.
    mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    missing, unexpected = model.load_state_dict({k: v for k, v in state.items() if k not in mismatched}, strict=False)
    if unexpected or set(missing) - set(mismatched):
        raise ValueError(f"timm model {name!r}: {weights} does not fit the architecture "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")

"""The networks ``nasengine compress`` accepts, as ``(module, input shape, description)``:

* an export folder of ours (``arch.json`` + ``weights.pt``, what ``nasengine.load`` reads);
* an architecture of a built-in space (arch JSON file or inline JSON) with ``--weights``;
* ``torchvision:NAME`` or ``timm:NAME`` with a local ``--weights`` file (nothing is downloaded);
* from Python, any ``nn.Module`` with an example input (``SourceModel`` directly).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from torch import nn

from nasengine.compress.layers import PruningError
from nasengine.utils.safe_load import CheckpointError, load_checkpoint

#: Prefixes of model-zoo names and the libraries they build with.
ZOOS = ("torchvision", "timm")


@dataclass
class SourceModel:
    """A network to compress.

    Attributes:
        model: The module (eval mode).
        input_shape: One image's shape ``(C, H, W)``.
        num_classes: Outputs of the classifier.
        description: JSON-able account of where it came from (recorded in results).
    """

    model: nn.Module
    input_shape: tuple[int, int, int]
    num_classes: int
    description: dict[str, Any] = field(default_factory=dict)


def load_source(spec: str, *, weights: str | Path | None = None, image_size: int | None = None) -> SourceModel:
    """The network ``--model spec`` names, with ``--weights`` where it needs them.

    Args:
        spec: An export folder, an arch JSON (file or inline), or ``torchvision:NAME`` / ``timm:NAME``.
        weights: State dict file (required for model-zoo names and bare archs).
        image_size: Input size for model-zoo networks (default 224); ignored for ours.

    Raises:
        PruningError: An unknown spec, missing or unfitting weights.
    """
    zoo, sep, name = spec.partition(":")
    if sep and zoo in ZOOS:
        return _zoo(zoo, name, weights, image_size or 224)
    path = Path(spec)
    if path.is_dir() and (path / "weights.pt").is_file() and weights is None:
        return _export(path)
    if path.is_file() or spec.strip().startswith("{") or (path.is_dir() and (path / "arch.json").is_file()):
        return _arch(spec, weights)
    raise PruningError(f"--model {spec!r} is neither an export folder (arch.json + weights.pt), an arch JSON, "
                       f"nor {' / '.join(z + ':NAME' for z in ZOOS)}")


def _export(folder: Path) -> SourceModel:
    """An export folder, read as ``nasengine.load`` reads it (which lives a floor above)."""
    from nasengine.arch import Arch, ArchError
    from nasengine.records.base import read_json
    from nasengine.registry import get_space

    data = read_json(folder / "arch.json")
    try:
        arch = Arch.from_dict(data)
    except (TypeError, ValueError, AttributeError) as exc:
        raise ArchError(f"{folder / 'arch.json'}: {exc}") from None
    space = get_space(arch.space, **dict(arch.config))
    model = space.build(arch)
    _load_weights(model, folder / "weights.pt", f"arch {arch.id}")
    c = space.config
    return SourceModel(model.eval(), (c.in_channels, c.input_size, c.input_size), c.num_classes,
                       {"kind": "export", "path": str(folder), "arch": arch.to_dict()})


def _arch(spec: str, weights: str | Path | None) -> SourceModel:
    from nasengine.cli.common import resolve_arch

    if weights is None:
        raise PruningError(f"--model {spec!r} is an architecture without weights; give --weights FILE")
    space, arch = resolve_arch(spec, None, {})
    model = space.build(arch)
    _load_weights(model, weights, f"arch {arch.id}")
    c = space.config
    return SourceModel(model.eval(), (c.in_channels, c.input_size, c.input_size), c.num_classes,
                       {"kind": "arch", "arch": arch.to_dict(), "weights": str(weights)})


def _zoo(zoo: str, name: str, weights: str | Path | None, image_size: int) -> SourceModel:
    if weights is None:
        raise PruningError(f"--model {zoo}:{name} needs --weights FILE (a local state dict; nothing is downloaded)")
    build = zoo_builder(zoo, name)
    state = _state(weights)
    probe = build(None)
    classifier = _last_linear(probe)
    classes = state.get(f"{classifier}.weight").shape[0] if classifier and f"{classifier}.weight" in state else None
    model = build(classes) if classes is not None else probe
    _load_weights(model, weights, f"{zoo}:{name}", state=state)
    out = _last_linear(model)
    num_classes = dict(model.named_modules())[out].out_features if out else 0
    return SourceModel(model.eval(), (3, image_size, image_size), num_classes,
                       {"kind": zoo, "name": name, "weights": str(weights), "num_classes": num_classes})


def zoo_builder(zoo: str, name: str) -> Callable[[int | None], nn.Module]:
    """``build(num_classes or None)`` of model-zoo network ``name`` (no weights are downloaded)."""
    if zoo == "torchvision":
        import torchvision

        if name not in torchvision.models.list_models():
            raise PruningError(f"--model torchvision:{name}: no such torchvision model")
        return lambda classes: torchvision.models.get_model(name, weights=None,
                                                            **({} if classes is None else {"num_classes": classes}))
    import timm

    if not timm.is_model(name):
        raise PruningError(f"--model timm:{name}: no such timm model")
    return lambda classes: timm.create_model(name, pretrained=False, **({} if classes is None else {"num_classes": classes}))


def _last_linear(model: nn.Module) -> str | None:
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    return names[-1] if names else None


def _state(weights: str | Path) -> dict[str, Any]:
    try:
        state = load_checkpoint(weights, what="weights")
    except FileNotFoundError:
        raise PruningError(f"--weights {str(weights)!r} does not exist") from None
    except CheckpointError as exc:
        raise PruningError(str(exc)) from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):  # a training checkpoint
        state = state["model"]
    if not isinstance(state, dict):
        raise PruningError(f"--weights {str(weights)!r} is not a state dict")
    return state


def _load_weights(model: nn.Module, weights: str | Path, what: str, state: dict[str, Any] | None = None) -> None:
    state = _state(weights) if state is None else state
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).replace("\n", " ").replace("\t", " ")
        raise PruningError(f"--weights {str(weights)!r} do not fit {what}: {first[:300]}") from None

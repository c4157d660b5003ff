"""The dynamic-method contract: how a method builds its network, its config and its training.

Methods are registered like every other extension: entry points in the group
``nasengine.dynamic_methods`` (the built-in ``rnp``, ``skipnet`` and ``routing`` too, in
``pyproject.toml``) or ``DYNAMIC_METHODS.register``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from nasengine.registry import Registry


@dataclass(frozen=True)
class DynamicMethod:
    """One dynamic-network method.

    Args:
        help: One line for ``--help``.
        default_backbone: Backbone kind used when none is given ("vgg", "resnet").
        make_config: ``(backbone dict, **options) -> config dict`` of the network; takes the
            method's own options (``groups``, ``gate``...) and ignores the others.
        build: A fresh network from its config dict (as ``save_dynamic`` writes it).
        recipe: A fresh training recipe (phases and steps) for ``train_dynamic``.
    """

    help: str
    default_backbone: str
    make_config: Callable[..., dict[str, Any]]
    build: Callable[[dict[str, Any]], nn.Module]
    recipe: Callable[[], Any]


DYNAMIC_METHODS: Registry[DynamicMethod] = Registry("dynamic method", "nasengine.dynamic_methods")

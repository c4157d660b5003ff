"""Compression of trained networks into physically smaller ones: channel pruning of any
torchvision, timm or nasengine network, with limits on MACs.

``prunable_layers`` lists what can be pruned; ``prune_to_ratios`` / ``prune_to_channels``
remove channels layer by layer; ``compress`` (``nasengine compress``) finds per-layer ratios
that meet a limit with one of the ``METHODS`` and fine-tunes the result.

Names are imported on first use: the pruning code imports torch-pruning, which imports timm,
and the command line should not pay for that to list the methods.
"""

from __future__ import annotations

from nasengine.compress.layers import LayerInfo, PruningError, kept_channels
from nasengine.utils.lazy import lazy_getattr

_LAZY = {
    "prunable_layers": "nasengine.compress.graph",
    "prune_to_ratios": "nasengine.compress.prune",
    "prune_to_channels": "nasengine.compress.prune",
    "pruned_cost": "nasengine.compress.prune",
    "SELECTIONS": "nasengine.compress.prune",
    "METHODS": "nasengine.compress.methods",
    "compress": "nasengine.compress.run",
    "CompressConfig": "nasengine.compress.run",
    "load_source": "nasengine.compress.source",
    "SourceModel": "nasengine.compress.source",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())

__all__ = ["LayerInfo", "PruningError", "kept_channels", *_LAZY]

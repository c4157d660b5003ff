"""Compression of trained networks into physically smaller ones: channel pruning of any
torchvision, timm or nasengine network, with limits on MACs.

``prunable_layers`` lists what can be pruned; ``prune_to_ratios`` removes channels layer
by layer; ``compress`` (``nasengine compress``) finds per-layer ratios that meet a limit
with one of the ``METHODS`` and fine-tunes the result.
"""

from __future__ import annotations

from nasengine.compress.graph import PruningError, prunable_layers
from nasengine.compress.layers import LayerInfo, kept_channels
from nasengine.compress.prune import SELECTIONS, prune_to_ratios

__all__ = ["LayerInfo", "PruningError", "SELECTIONS", "kept_channels", "prunable_layers", "prune_to_ratios"]

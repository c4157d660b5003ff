"""timm's classifier API for the networks of the search spaces.

Every built-in network is a feature extractor (a feature map), global pooling, optional
dropout and a linear classifier. ``ClassifierNet`` splits ``forward`` at those seams the
way timm models do (``forward_features``, ``forward_head``) and lets the classifier be
replaced (``reset_classifier``), so an exported architecture serves as a timm backbone.
The classifier stays where each network keeps it, so ``state_dict`` keys do not change.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["POOLS", "ClassifierNet", "global_pool"]

#: Global pooling kinds ``reset_classifier`` accepts (``""``: none, keep the feature map).
POOLS = ("avg", "max", "")


def global_pool(x: torch.Tensor, kind: str) -> torch.Tensor:
    """``x`` (N, C, H, W) pooled to (N, C) by ``kind`` (``""``: returned as it is)."""
    if kind == "avg":
        return F.adaptive_avg_pool2d(x, 1).flatten(1)
    if kind == "max":
        return F.adaptive_max_pool2d(x, 1).flatten(1)
    return x


class ClassifierNet(nn.Module):
    """Base of networks ending in global pooling, dropout and a linear classifier.

    Subclasses implement ``forward_features`` (input -> feature map), name where their
    modules are and call ``init_head`` once the classifier exists.

    Attributes:
        classifier_path: Dotted name of the classifier (``nn.Linear``) in the network.
        dropout_path: Dotted name of the dropout before it, ``None`` without one.
        num_features: Channels of the pooled features (the classifier's input).
        num_classes: Classifier outputs (0 after ``reset_classifier(0)``).
        global_pool: The pooling kind, one of ``POOLS``.
    """

    classifier_path: ClassVar[str] = "classifier"
    dropout_path: ClassVar[str | None] = "dropout"

    num_features: int
    num_classes: int
    global_pool: str

    def init_head(self) -> None:
        """Read ``num_features`` and ``num_classes`` off the classifier; average pooling."""
        classifier = self.get_classifier()
        if not isinstance(classifier, nn.Linear):
            raise TypeError(f"{type(self).__name__}.{self.classifier_path} must be nn.Linear, got {type(classifier)}")
        self.num_features, self.num_classes = classifier.in_features, classifier.out_features
        self.global_pool = "avg"

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature map before global pooling (N, num_features, H', W')."""
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pooling, dropout and classifier on a feature map; ``pre_logits``: stop before the
        classifier (timm's order: dropout comes first, so it matters in training only)."""
        x = global_pool(x, self.global_pool)
        if self.dropout_path is not None:
            x = self.get_submodule(self.dropout_path)(x)
        return x if pre_logits else self.get_classifier()(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        """The classifier (``nn.Identity`` after ``reset_classifier(0)``)."""
        return self.get_submodule(self.classifier_path)

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """A fresh classifier with ``num_classes`` outputs; 0 removes it, so that ``forward``
        returns the pooled features. ``global_pool`` (one of ``POOLS``; ``None`` keeps the
        current one) sets the pooling; ``""`` with 0 classes returns the feature map."""
        if global_pool is not None:
            if global_pool not in POOLS:
                raise ValueError(f"global_pool must be one of {POOLS}, got {global_pool!r}")
            self.global_pool = global_pool
        old = self.get_classifier()
        new: nn.Module = nn.Identity()
        if num_classes > 0:
            # The same layer type (elastic in a supernet) and bias as before, on the same device.
            kind = type(old) if isinstance(old, nn.Linear) else nn.Linear
            bias = not isinstance(old, nn.Linear) or old.bias is not None
            new = kind(self.num_features, num_classes, bias=bias)
            reference = next(self.parameters(), None)
            if reference is not None:
                new.to(device=reference.device, dtype=reference.dtype)
        parent, _, name = self.classifier_path.rpartition(".")
        setattr(self.get_submodule(parent), name, new.train(self.training))
        self.num_classes = num_classes

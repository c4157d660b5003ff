"""MetaPruning's PruningNet (Liu et al., ICCV 2019, arXiv 1903.10258) for width spaces.

The PruningNet has the module tree of the space's weight-sharing network, with every conv
replaced by a ``GeneratedConv2d`` (weights generated from the encoding of its input and
output widths, cropped to them) and every BatchNorm by a ``ChoiceBatchNorm2d`` (one per
channel count). Trained with a random encoding per step, it produces weights for any
architecture of the space: ``export(arch)`` is the space's standalone network for
``arch`` carrying the generated weights, computing exactly what the PruningNet computes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import torch
from torch import nn

from nasengine.arch import Arch
from nasengine.nn import ElasticBatchNorm2d, ElasticConv2d, option_key
from nasengine.space import SearchSpace
from nasengine.utils.validation import positive_int
from supernet.pruningnet_blocks import ChoiceBatchNorm2d, GeneratedConv2d


@dataclass(frozen=True)
class PruningNetConfig:
    """Configuration of a PruningNet.

    Args:
        hidden: Hidden width of each layer's weight generator (FC -> ReLU -> FC). The
            generators hold about ``hidden`` times the network's conv weights, so keep it
            small for large backbones (MetaPruning uses 32).
    """

    hidden: int = 32

    def __post_init__(self) -> None:
        positive_int("hidden", self.hidden)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PruningNet(nn.Module):
    """Weights of every architecture of a width space, generated from its encoding.

    Args:
        space: A space whose decisions are all channel widths (kind ``"width"``) and
            whose ``network()`` is made of ``ElasticConv2d`` / ``ElasticBatchNorm2d``,
            each BatchNorm following the conv it normalises (e.g. ``channel_width``).
        config: Generator settings; keyword overrides are accepted instead.
    """

    def __init__(self, space: SearchSpace, config: PruningNetConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        not_widths = [d.name for d in space.decisions() if d.kind != "width"]
        if not_widths:
            raise ValueError(f"a PruningNet needs a space whose decisions are all widths; space {space.name!r} "
                             f"has other decisions: {not_widths}")
        self.space = space
        self.config = config or PruningNetConfig(**overrides)
        self.net = space.network()
        self._replace_layers()
        self.arch: Arch | None = None

    def _replace_layers(self) -> None:
        """Swap convs and BatchNorms for generated / per-width ones, in module order: a
        BatchNorm takes the widths of the conv before it, a depthwise conv those of the
        conv feeding it (its input)."""
        replacements: dict[str, nn.Module] = {}
        conv_widths: tuple[int, ...] | None = None  # channel counts of the last conv's output
        feeding: tuple[int, ...] | None = None  # same, for the last non-depthwise conv
        for name, module in self.net.named_modules():
            if isinstance(module, ElasticConv2d):
                depthwise = module.groups > 1 and module.groups == module.in_channels
                if not depthwise and module.groups != 1:
                    raise ValueError(f"{name}: grouped convs are not supported (groups={module.groups})")
                if depthwise:
                    if feeding is None or max(feeding) != module.in_channels:
                        raise ValueError(f"{name}: cannot tell which widths feed this depthwise conv")
                    conv_widths = feeding
                else:
                    conv_widths = tuple(sorted(set(module.widths.values()))) if module.decision else (module.out_channels,)
                    feeding = conv_widths
                k, s, p = module.kernel_size[0], module.stride[0], module.padding[0]
                replacements[name] = GeneratedConv2d(
                    module.in_channels, module.out_channels, k, s, p, depthwise=depthwise, hidden=self.config.hidden,
                    decision=module.decision, widths=module.widths)
            elif isinstance(module, ElasticBatchNorm2d):
                if conv_widths is None or max(conv_widths) != module.num_features:
                    raise ValueError(f"{name}: this BatchNorm does not follow a conv of its width")
                replacements[name] = ChoiceBatchNorm2d(conv_widths)
            elif isinstance(module, nn.Conv2d) or isinstance(module, nn.modules.batchnorm._BatchNorm):
                raise ValueError(f"{name}: {type(module).__name__} is not an elastic layer; cannot generate it")
        if not replacements:
            raise ValueError(f"space {self.space.name!r} has no elastic convs to generate")
        for name, module in replacements.items():
            parent, _, child = name.rpartition(".")
            setattr(self.net.get_submodule(parent) if parent else self.net, child, module)

    # --- the encoding -----------------------------------------------------------------------
    def set_arch(self, arch: Arch | Mapping[str, Any]) -> None:
        """Use the widths of ``arch`` (validated) from the next forward on."""
        arch = self.space.arch(getattr(arch, "choices", arch))
        for m in self.generated():
            if m.decision:
                m.select(arch.choices[m.decision])
        self.arch = arch

    def encoding(self, arch: Arch | Mapping[str, Any] | None = None) -> torch.Tensor:
        """The network encoding vector: each decision's channels over its widest option,
        in ``decisions()`` order (of ``arch``, by default the one set)."""
        arch = self.arch if arch is None else self.space.arch(getattr(arch, "choices", arch))
        if arch is None:
            raise RuntimeError("no architecture set; call set_arch(arch) first")
        widest = {m.decision: m.out_channels for m in self.generated() if m.decision}
        chosen = {m.decision: m.widths for m in self.generated() if m.decision}
        return torch.tensor([chosen[d.name][option_key(arch.choices[d.name])] / widest[d.name]
                             for d in self.space.decisions()])

    def generated(self) -> list[GeneratedConv2d]:
        return [m for m in self.net.modules() if isinstance(m, GeneratedConv2d)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    # --- standalone networks ---------------------------------------------------------------
    @torch.no_grad()
    def export(self, arch: Arch | Mapping[str, Any]) -> nn.Module:
        """``space.build(arch)`` holding the generated (cropped) conv weights, the
        BatchNorm of each layer's chosen width, and the shared classifier sliced; on the
        PruningNet's device, in the PruningNet's train/eval mode."""
        arch = self.space.arch(getattr(arch, "choices", arch))
        device = next(self.parameters()).device
        model = self.space.build(arch).to(device)
        for name, target in model.named_modules():
            source = self.net.get_submodule(name)
            if isinstance(source, GeneratedConv2d):
                target.weight.copy_(source.weight_for(target.in_channels, target.out_channels))
            elif isinstance(source, ChoiceBatchNorm2d):
                target.load_state_dict(source.norm_for(target.num_features).state_dict())
            else:
                _copy_sliced(target, source, name)
        return model.train(self.training)

    def weights_for(self, arch: Arch | Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """The ``state_dict`` of ``space.build(arch)`` with the generated weights."""
        return self.export(arch).state_dict()


def _copy_sliced(target: nn.Module, source: nn.Module, name: str) -> None:
    """Copy a layer shared by all widths (the classifier): the leading slice of each of
    its own tensors."""
    own = dict(source.named_parameters(recurse=False)) | dict(source.named_buffers(recurse=False))
    for key, tensor in list(target.named_parameters(recurse=False)) + list(target.named_buffers(recurse=False)):
        if key not in own:
            raise KeyError(f"the PruningNet has no tensor {name}.{key}")
        tensor.copy_(own[key][tuple(slice(0, n) for n in tensor.shape)])


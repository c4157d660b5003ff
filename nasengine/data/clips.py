"""Digit clips: a generated video benchmark where only some frames carry the label.

Each clip has ``frames`` frames. Between ``min_informative`` and ``max_informative`` of
them, at random positions, show the clip's digit (one of scikit-learn's real 8x8 digits,
large and at full contrast, placed, scaled and rotated as in ``nasengine.data.cluttered``).
Every other frame is, with equal chance, a distractor (a small, dim digit of another
class), Gaussian noise, or a blank frame with faint noise. Averaging every frame therefore
mixes the class evidence with distractors; a model that finds the informative frames can
classify from those alone.

The source digits are split 60/20/20 (seeded) before rendering, so no digit appears in two
splits; the same parameters always give the same tensors (the name carries them all).
Clips are ``[T, C, H, W]`` tensors; nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch.utils.data import TensorDataset

from nasengine.data.cluttered import ClutterConfig, render, source_splits
from nasengine.data.splits import DataError, DataSplits, per_channel
from nasengine.utils.validation import finite_number, positive_int

__all__ = ["ClipConfig", "digit_clips"]

#: What a non-informative frame shows.
FILLERS = ("distractor", "noise", "blank")


@dataclass(frozen=True)
class ClipConfig:
    """Parameters of the generator (all of them appear in the dataset's name).

    Args:
        frames: Frames per clip.
        size: Side of the square frames in pixels.
        min_informative, max_informative: Range of the number of frames showing the class.
        noise: Standard deviation of the noise added to every frame (ink is 0..1).
        distractor_contrast: Ink level of distractor digits (the class's digit has 1).
        copies: Clips made from every training digit.
        eval_copies: Clips made from every validation and test digit.
    """

    frames: int = 8
    size: int = 32
    min_informative: int = 1
    max_informative: int = 3
    noise: float = 0.1
    distractor_contrast: float = 0.5
    copies: int = 2
    eval_copies: int = 2

    def __post_init__(self) -> None:
        for name in ("frames", "size", "min_informative", "max_informative", "copies", "eval_copies"):
            positive_int(name, getattr(self, name))
        if not self.min_informative <= self.max_informative <= self.frames:
            raise DataError(f"need 1 <= min_informative <= max_informative <= frames, got {self.min_informative}, "
                            f"{self.max_informative}, frames {self.frames}")
        if self.size < 12:
            raise DataError(f"clip frames need size >= 12 pixels to draw a digit, got {self.size}")
        finite_number("noise", self.noise, low=0, high=None)
        finite_number("distractor_contrast", self.distractor_contrast, low=0, high=1, high_open=False)

    def tag(self) -> str:
        """The parameters as a name suffix, e.g. ``t8-s32-i1-3-n0.1-d0.5-x2-v2``."""
        return (f"t{self.frames}-s{self.size}-i{self.min_informative}-{self.max_informative}-n{self.noise:g}-"
                f"d{self.distractor_contrast:g}-x{self.copies}-v{self.eval_copies}")

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def render_clips(digits: torch.Tensor, labels: torch.Tensor, cfg: ClipConfig,
                 gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One clip per digit of ``digits`` (N,1,8,8 ink in 0..1): ``[N, T, 1, S, S]`` frames in
    0..1 and the ``[N, T]`` mask of informative frames."""
    n, t, s = digits.shape[0], cfg.frames, cfg.size
    big = ClutterConfig(canvas=s, min_scale=0.55 * s, max_scale=0.8 * s, rotation=15, fragments=0, noise=0.0)
    small = ClutterConfig(canvas=s, min_scale=0.3 * s, max_scale=0.45 * s, rotation=15, fragments=0, noise=0.0)
    # Informative positions: a random subset of random size per clip.
    count = torch.randint(cfg.min_informative, cfg.max_informative + 1, (n,), generator=gen)
    ranks = torch.rand(n, t, generator=gen).argsort(1).argsort(1)
    informative = ranks < count[:, None]
    filler = torch.randint(0, len(FILLERS), (n, t), generator=gen)
    # Distractors: a digit of another class from the same split.
    other = torch.randint(0, n, (n, t), generator=gen)
    for _ in range(8):  # redraw clashes; a clash left after that is rare and merely easier
        clash = labels[other] == labels[:, None]
        if not clash.any():
            break
        other[clash] = torch.randint(0, n, (int(clash.sum()),), generator=gen)
    main = render(digits.repeat_interleave(t, 0), big, gen).view(n, t, 1, s, s)
    distract = render(digits[other.flatten()], small, gen).view(n, t, 1, s, s) * cfg.distractor_contrast
    noise = (0.5 + 0.25 * torch.randn(n, t, 1, s, s, generator=gen)).clamp(0, 1)
    blank = torch.zeros(n, t, 1, s, s)
    fill = torch.where((filler == 0)[..., None, None, None], distract,
                       torch.where((filler == 1)[..., None, None, None], noise, blank))
    clips = torch.where(informative[..., None, None, None], main, fill)
    clips = (clips + cfg.noise * torch.randn(clips.shape, generator=gen)).clamp(0, 1)
    return clips, informative


def digit_clips(cfg: ClipConfig, *, channels: int = 1, split_seed: int = 0,
                fractions: tuple[float, float] = (0.6, 0.2)) -> DataSplits:
    """Render the train / val / test clips; pixels normalised with the training split's
    mean and std, grey frames repeated to ``channels``."""
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels}")
    digits, labels, parts = source_splits(split_seed, fractions)
    rendered = {}
    for i, (name, index) in enumerate(parts.items()):
        gen = torch.Generator().manual_seed(split_seed * 1_000 + 500 + i)
        copies = cfg.copies if name == "train" else cfg.eval_copies
        clips = [render_clips(digits[index], labels[index], cfg, gen)[0] for _ in range(copies)]
        rendered[name] = (torch.cat(clips), labels[index].repeat(copies))
    mean, std = rendered["train"][0].mean(), rendered["train"][0].std()
    sets = {name: TensorDataset(((x - mean) / std).repeat(1, 1, channels, 1, 1), y) for name, (x, y) in rendered.items()}
    return DataSplits(f"clips-{cfg.tag()}", sets["train"], sets["val"], sets["test"], 10, channels, cfg.size,
                      mean=per_channel(mean, channels), std=per_channel(std, channels), interpolation="bilinear")

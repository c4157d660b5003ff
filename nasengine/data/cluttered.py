"""Cluttered digits: a harder task generated deterministically from scikit-learn's real digits.

In the spirit of cluttered MNIST (Mnih et al. 2014, "Recurrent models of visual attention"):
each image places one real 8x8 digit at a random position, scale and rotation on a larger
canvas, adds fragments cut from other digits of the same split and Gaussian noise. The
1,797 source digits are split first (60/20/20, seeded), so no writer's digit appears in two
splits, and every split is rendered ``copies`` times with fresh placements. Nothing is
downloaded; the same parameters always give the same tensors.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from nasengine.data.splits import DataSplits, per_channel, split_order
from nasengine.utils.validation import finite_number, positive_int

__all__ = ["ClutterConfig", "cluttered_digits", "render", "source_splits"]


@dataclass(frozen=True)
class ClutterConfig:
    """Parameters of the generator (all of them appear in the dataset's name).

    Args:
        canvas: Side of the square image in pixels.
        min_scale, max_scale: Side in pixels of the digit's 8x8 box on the canvas.
        rotation: Largest rotation in degrees (uniform in +-rotation).
        fragments: Fragments of other digits per image.
        fragment_size: Side in pixels of each square fragment.
        noise: Standard deviation of the added Gaussian noise (digit ink is 0..1).
        copies: Renderings of every training digit (the train split has 0.6 * 1797 * copies images).
        eval_copies: Renderings of every validation and test digit. Two trainings of one
            network err on different images, so a small evaluation split adds its own noise
            to every accuracy; 64 renderings (22,976 images) cut the seed-to-seed noise of
            the task's table by a fifth against 16 (docs/default-task.md).
    """

    canvas: int = 32
    min_scale: float = 12.0
    max_scale: float = 20.0
    rotation: float = 20.0
    fragments: int = 4
    fragment_size: int = 8
    noise: float = 0.1
    copies: int = 4
    eval_copies: int = 64

    def __post_init__(self) -> None:
        positive_int("canvas", self.canvas)
        positive_int("copies", self.copies)
        positive_int("eval_copies", self.eval_copies)
        positive_int("fragment_size", self.fragment_size)
        if not isinstance(self.fragments, int) or isinstance(self.fragments, bool) or self.fragments < 0:
            raise ValueError(f"fragments must be an integer >= 0, got {self.fragments!r}")
        for name in ("min_scale", "max_scale", "rotation", "noise"):
            finite_number(name, getattr(self, name))
        if not 0 < self.min_scale <= self.max_scale <= self.canvas:
            raise ValueError(f"need 0 < min_scale <= max_scale <= canvas, got {self.min_scale}, "
                             f"{self.max_scale}, canvas {self.canvas}")
        if self.noise < 0 or self.rotation < 0:
            raise ValueError(f"noise and rotation must be >= 0, got {self.noise}, {self.rotation}")

    def tag(self) -> str:
        """The parameters as a name suffix, e.g. ``c32-s12-20-r20-f4x8-n0.1-x4-v64``."""
        return (f"c{self.canvas}-s{self.min_scale:g}-{self.max_scale:g}-r{self.rotation:g}-"
                f"f{self.fragments}x{self.fragment_size}-n{self.noise:g}-x{self.copies}-v{self.eval_copies}")

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _place(digits: torch.Tensor, scale: torch.Tensor, angle: torch.Tensor, centre: torch.Tensor, canvas: int) -> torch.Tensor:
    """Render 8x8 ``digits`` (N,1,8,8) onto an empty canvas: side ``scale`` px, rotated by
    ``angle`` radians, centred at ``centre`` (N,2) in canvas pixels."""
    n = digits.shape[0]
    # affine_grid maps output coordinates in [-1, 1] to input coordinates in [-1, 1].
    ratio = canvas / scale
    cos, sin = torch.cos(angle) * ratio, torch.sin(angle) * ratio
    shift = (centre / canvas) * 2 - 1  # the digit's centre in output coordinates
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin
    theta[:, 1, 0], theta[:, 1, 1] = sin, cos
    theta[:, :, 2] = -torch.einsum("nij,nj->ni", theta[:, :, :2], shift)
    grid = F.affine_grid(theta, [n, 1, canvas, canvas], align_corners=False)
    return F.grid_sample(digits, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def render(digits: torch.Tensor, cfg: ClutterConfig, gen: torch.Generator) -> torch.Tensor:
    """One cluttered image per digit of ``digits`` (N,1,8,8 ink in 0..1), drawn with ``gen``."""
    n, size = digits.shape[0], cfg.canvas

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(*shape, generator=gen)

    scale = uniform(cfg.min_scale, cfg.max_scale, n)
    half = scale / 2
    centre = torch.stack([uniform(0, 1, n), uniform(0, 1, n)], 1) * (size - scale)[:, None] + half[:, None]
    image = _place(digits, scale, uniform(-1, 1, n) * math.radians(cfg.rotation), centre, size)
    for _ in range(cfg.fragments):
        others = digits[torch.randint(0, n, (n,), generator=gen)]
        s = uniform(cfg.min_scale, cfg.max_scale, n)
        placed = _place(others, s, uniform(-math.pi, math.pi, n), uniform(0, size, n, 2), size)
        corner = torch.randint(0, size - cfg.fragment_size + 1, (n, 2), generator=gen)
        rows, cols = torch.arange(size)[None, :], torch.arange(size)[None, :]
        inside_r = (rows >= corner[:, :1]) & (rows < corner[:, :1] + cfg.fragment_size)
        inside_c = (cols >= corner[:, 1:]) & (cols < corner[:, 1:] + cfg.fragment_size)
        window = (inside_r[:, :, None] & inside_c[:, None, :]).unsqueeze(1)
        image = torch.maximum(image, placed * window)
    image = image + cfg.noise * torch.randn(image.shape, generator=gen)
    return image.clamp(0, 1)


def source_splits(split_seed: int, fractions: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor,
                                                                        dict[str, torch.Tensor]]:
    """scikit-learn's real digits (N,1,8,8 ink in 0..1), their labels, and the indices of
    the train / val / test digits (split by ``split_seed``)."""
    from sklearn.datasets import load_digits  # ships its data: works offline

    bunch = load_digits()
    digits = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(bunch.target, dtype=torch.long)
    order = torch.tensor(split_order(len(labels), split_seed))
    n_train, n_val = int(len(order) * fractions[0]), int(len(order) * fractions[1])
    return digits, labels, {"train": order[:n_train], "val": order[n_train:n_train + n_val],
                            "test": order[n_train + n_val:]}


def cluttered_digits(cfg: ClutterConfig, split_seed: int = 0, fractions: tuple[float, float] = (0.6, 0.2)) -> DataSplits:
    """Render the splits (source digits split by ``split_seed`` first, then each rendered
    ``cfg.copies`` or ``cfg.eval_copies`` times); pixels normalised with the training split's mean and std."""
    digits, labels, parts = source_splits(split_seed, fractions)
    rendered = {}
    for i, (name, index) in enumerate(parts.items()):
        gen = torch.Generator().manual_seed(split_seed * 1_000 + i)
        copies = cfg.copies if name == "train" else cfg.eval_copies
        images = torch.cat([render(digits[index], cfg, gen) for _ in range(copies)])
        rendered[name] = (images, labels[index].repeat(copies))
    mean, std = rendered["train"][0].mean(), rendered["train"][0].std()
    sets = {name: TensorDataset((x - mean) / std, y) for name, (x, y) in rendered.items()}
    return DataSplits(f"cluttered-{cfg.tag()}", sets["train"], sets["val"], sets["test"], 10, 1, cfg.canvas,
                      mean=per_channel(mean, 1), std=per_channel(std, 1), interpolation="bilinear")

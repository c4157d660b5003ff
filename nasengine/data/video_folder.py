"""Videos stored as folders of frames, and the entry point of every video dataset.

Layout under ``--data-root``::

    labels.txt          one line per video: "<folder> <label>" or "<folder> <label> <split>"
    <folder>/           the video's frames as image files, in name order
        00001.png ...

Labels are integers from 0 or class names (sorted, then numbered); the optional split is
``train``, ``val`` or ``test`` (without it the videos are split 60/20/20, seeded). Each
video is sampled at ``frames`` evenly spaced frames, resized to ``image_size`` and
normalised with the training split's mean and std.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from nasengine.data.clips import ClipConfig, digit_clips
from nasengine.data.splits import DataError, DataSplits, per_channel, split_order

__all__ = ["VIDEO_DATASETS", "load_video_dataset", "read_video_folder"]

VIDEO_DATASETS = ("clips", "videofolder")
LABELS_FILE = "labels.txt"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
SPLITS = ("train", "val", "test")


def load_video_dataset(name: str, *, data_root: str | Path | None = None, image_size: int | None = None,
                       channels: int | None = None, frames: int | None = None, split_seed: int = 0) -> DataSplits:
    """Clips ``[T, C, H, W]`` with deterministic splits: ``clips`` (generated from the real
    digits, ``nasengine.data.clips``) or ``videofolder`` (frames on disk under ``data_root``)."""
    if name not in VIDEO_DATASETS:
        raise DataError(f"unknown video dataset {name!r}; choose one of {', '.join(VIDEO_DATASETS)}")
    if channels not in (None, 1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels}")
    if frames is not None and frames < 1 or image_size is not None and image_size < 1:
        raise DataError(f"frames and image_size must be >= 1, got {frames} and {image_size}")
    if name == "clips":
        return digit_clips(ClipConfig(frames=frames or 8, size=image_size or 32), channels=channels or 1,
                           split_seed=split_seed)
    if data_root is None:
        raise DataError("dataset 'videofolder' needs --data-root: a folder with labels.txt and one folder of frames "
                        "per video")
    return read_video_folder(Path(data_root), frames=frames or 8, image_size=image_size or 32,
                             channels=channels or 3, split_seed=split_seed)


def _parse_labels(root: Path) -> list[tuple[str, str, str | None]]:
    path = root / LABELS_FILE
    if not path.is_file():
        raise DataError(f"{str(path)!r} not found: videofolder data needs a {LABELS_FILE} with lines "
                        "'<folder> <label> [train|val|test]'")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) not in (2, 3) or (len(fields) == 3 and fields[2] not in SPLITS):
            raise DataError(f"{path}:{number}: expected '<folder> <label> [train|val|test]', got {line.strip()!r}")
        rows.append((fields[0], fields[1], fields[2] if len(fields) == 3 else None))
    if not rows:
        raise DataError(f"{path} lists no videos")
    if len({r[2] is None for r in rows}) > 1:
        raise DataError(f"{path}: give a split on every line or on none")
    return rows


def _read_frames(folder: Path, frames: int, image_size: int, channels: int) -> torch.Tensor:
    from PIL import Image

    if not folder.is_dir():
        raise DataError(f"video folder {str(folder)!r} (named in {LABELS_FILE}) does not exist")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"video folder {str(folder)!r} holds no frames ({', '.join(IMAGE_SUFFIXES)} files)")
    picks = torch.linspace(0, len(files) - 1, frames).round().long().tolist()
    out = []
    for i in picks:
        try:
            with Image.open(files[i]) as image:
                pixels = image.convert("L" if channels == 1 else "RGB")
                data = torch.frombuffer(bytearray(pixels.tobytes()), dtype=torch.uint8)
                out.append(data.view(pixels.height, pixels.width, channels).permute(2, 0, 1).float() / 255)
        except OSError as exc:
            raise DataError(f"cannot read frame {str(files[i])!r}: {exc}") from None
    return torch.stack([F.interpolate(f[None], size=(image_size, image_size), mode="bilinear",
                                      align_corners=False)[0] for f in out])


def read_video_folder(root: Path, *, frames: int, image_size: int, channels: int, split_seed: int = 0) -> DataSplits:
    """Read every video listed in ``root/labels.txt`` (see the module docstring)."""
    if not root.is_dir():
        raise DataError(f"--data-root {str(root)!r} is not a directory")
    rows = _parse_labels(root)
    names = [r[1] for r in rows]
    if all(n.isdigit() for n in names):
        label_ids = [int(n) for n in names]
    else:
        classes = sorted(set(names))
        label_ids = [classes.index(n) for n in names]
    clips = torch.stack([_read_frames(root / r[0], frames, image_size, channels) for r in rows])
    labels = torch.tensor(label_ids)
    if rows[0][2] is None:
        order = split_order(len(rows), split_seed)
        n_train, n_val = int(len(rows) * 0.6), int(len(rows) * 0.2)
        assigned = {"train": order[:n_train], "val": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}
    else:
        assigned = {s: [i for i, r in enumerate(rows) if r[2] == s] for s in SPLITS}
    empty = [s for s, idx in assigned.items() if not idx]
    if empty:
        raise DataError(f"{root / LABELS_FILE}: no videos in the {' and '.join(empty)} split; "
                        "list more videos or assign splits")
    train = clips[assigned["train"]]
    mean, std = train.mean(), train.std().clamp_min(1e-6)
    sets = {s: TensorDataset((clips[idx] - mean) / std, labels[idx]) for s, idx in assigned.items()}
    return DataSplits(f"videofolder-t{frames}-s{image_size}", sets["train"], sets["val"], sets["test"],
                      int(labels.max()) + 1, channels, image_size, mean=per_channel(mean, channels),
                      std=per_channel(std, channels), interpolation="bilinear")

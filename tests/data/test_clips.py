from __future__ import annotations

import pytest
import torch
from PIL import Image

from nasengine.data import DataError
from nasengine.data.clips import ClipConfig, digit_clips, render_clips
from nasengine.data.video_folder import load_video_dataset
from tests.cli_helpers import run_cli


def test_clips_show_the_class_on_a_varying_subset_of_frames():
    cfg = ClipConfig(frames=6, size=16, min_informative=1, max_informative=3)
    digits = torch.rand(40, 1, 8, 8)
    labels = torch.arange(40) % 10
    clips, informative = render_clips(digits, labels, cfg, torch.Generator().manual_seed(0))
    assert clips.shape == (40, 6, 1, 16, 16) and 0 <= clips.min() and clips.max() <= 1
    counts = informative.sum(1)
    assert counts.min() >= 1 and counts.max() <= 3 and len(set(counts.tolist())) == 3
    assert len({tuple(row) for row in informative.int().tolist()}) > 10  # positions vary


def test_generated_splits_are_fixed_and_named_by_their_parameters():
    cfg = ClipConfig(frames=4, size=12, copies=1, eval_copies=1)
    a, b = digit_clips(cfg), digit_clips(cfg)
    assert a.name == "clips-t4-s12-i1-3-n0.1-d0.5-x1-v1"
    assert torch.equal(a.test.tensors[0], b.test.tensors[0])
    assert a.train.tensors[0].shape[1:] == (4, 1, 12, 12)
    assert len(a.train) + len(a.val) + len(a.test) == 1797
    three = digit_clips(cfg, channels=3)
    assert three.train.tensors[0].shape[2] == 3 and three.in_channels == 3
    with pytest.raises(DataError, match="max_informative"):
        ClipConfig(frames=2, max_informative=3)


def _video(folder, frames: int, value: int) -> None:
    folder.mkdir()
    for i in range(frames):
        Image.new("L", (10, 10), color=value + i).save(folder / f"{i:03d}.png")


def test_video_folders_are_read_with_their_labels_and_splits(tmp_path):
    lines = []
    for v, split in enumerate(["train"] * 4 + ["val", "test"]):
        _video(tmp_path / f"v{v}", 5 + v, 20 * v)
        lines.append(f"v{v} {'cat' if v % 2 else 'dog'} {split}")
    (tmp_path / "labels.txt").write_text("\n".join(lines) + "\n")
    data = load_video_dataset("videofolder", data_root=tmp_path, frames=3, image_size=8, channels=1)
    assert data.name == "videofolder-t3-s8" and data.num_classes == 2
    assert len(data.train) == 4 and len(data.val) == 1 and len(data.test) == 1
    x, y = data.train[1]
    assert x.shape == (3, 1, 8, 8) and int(y) == 0  # "cat" < "dog"
    # Evenly spaced frames: the first and the last of the video are sampled.
    raw = x * data.std[0] + data.mean[0]
    assert raw[0].mean().item() == pytest.approx(20 / 255, abs=1e-4)
    assert raw[-1].mean().item() == pytest.approx((20 + 5) / 255, abs=1e-4)


@pytest.mark.parametrize("layout,message", [
    ("none", "labels.txt"),
    ("bad line", "expected '<folder> <label>"),
    ("missing folder", "does not exist"),
    ("empty folder", "holds no frames"),
    ("mixed splits", "every line or on none"),
])
def test_bad_video_folder_layouts_are_named(tmp_path, layout, message):
    _video(tmp_path / "a", 2, 0)
    (tmp_path / "empty").mkdir()
    labels = {"bad line": "a", "missing folder": "a 0\nb 1", "empty folder": "a 0\nempty 1",
              "mixed splits": "a 0 train\na 1"}.get(layout)
    if labels is not None:
        (tmp_path / "labels.txt").write_text(labels + "\n")
    with pytest.raises(DataError, match=message):
        load_video_dataset("videofolder", data_root=tmp_path, frames=2, image_size=8)


def test_cli_refuses_image_data_for_frames(tmp_path, capsys):
    code, out, err = run_cli(capsys, "dynamic", "train", "--method", "frames", "--dataset", "digits", "--out",
                             str(tmp_path / "run"))
    assert code == 2 and "nasengine: error: --dataset digits does not fit --method frames" in err
    code, out, err = run_cli(capsys, "dynamic", "train", "--method", "frames", "--dataset", "videofolder",
                             "--data-root", str(tmp_path), "--out", str(tmp_path / "run"))
    assert code == 2 and "labels.txt" in err and "Traceback" not in err

from __future__ import annotations

import pytest
import torch

from nasengine.data import DataError, load_dataset


def test_digits_are_real_and_split_deterministically():
    a = load_dataset("digits")
    b = load_dataset("digits")
    assert (len(a.train), len(a.val), len(a.test)) == (1078, 359, 360)
    assert a.num_classes == 10 and a.in_channels == 1 and a.image_size == 8
    assert torch.equal(a.val[0][0], b.val[0][0]) and a.val[0][1] == b.val[0][1]
    labels = {int(a.train[i][1]) for i in range(len(a.train))}
    assert labels == set(range(10))
    train_idx, test_idx = set(a.train.indices), set(a.test.indices)
    assert not train_idx & test_idx


def test_digits_adapt_to_the_model_input():
    s = load_dataset("digits", image_size=32, channels=3)
    x, _ = s.train[0]
    assert x.shape == (3, 32, 32) and torch.equal(x[0], x[2])


def test_fake_data_shapes():
    s = load_dataset("fake", image_size=16, channels=3)
    assert s.train[0][0].shape == (3, 16, 16) and s.num_classes == 10


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "mnist"}, "unknown dataset 'mnist'"),
        ({"name": "cifar10"}, "needs --data-root"),
        ({"name": "cifar10", "data_root": "/no/such/dir"}, "is not a directory"),
        ({"name": "digits", "channels": 2}, "channels must be 1 or 3"),
    ],
)
def test_bad_requests_are_clear(kwargs, message):
    with pytest.raises(DataError, match=message):
        load_dataset(**kwargs)


def test_missing_cifar_files_are_reported_not_downloaded(tmp_path):
    with pytest.raises(DataError, match="cifar10 not found"):
        load_dataset("cifar10", data_root=tmp_path)
    assert not any(tmp_path.iterdir())


def test_imagefolder_reads_a_local_tree(tmp_path):
    from PIL import Image

    for cls in ("cat", "dog"):
        (tmp_path / "train" / cls).mkdir(parents=True)
        for i in range(5):
            Image.new("RGB", (12, 10), color=(i * 40, 0, 0)).save(tmp_path / "train" / cls / f"{i}.png")
    s = load_dataset("imagefolder", data_root=tmp_path, image_size=8)
    assert s.num_classes == 2 and s.train[0][0].shape == (3, 8, 8)
    assert len(s.train) + len(s.val) + len(s.test) == 10


def test_splits_record_the_normalisation_of_raw_pixels():
    from sklearn.datasets import load_digits

    grey, rgb = load_dataset("digits"), load_dataset("digits", channels=3, image_size=16)
    raw = torch.tensor(load_digits().images, dtype=torch.float32) / 16.0  # pixel values in [0, 1]
    assert grey.mean == pytest.approx((float(raw.mean()),)) and grey.std == pytest.approx((float(raw.std()),))
    assert rgb.mean == grey.mean * 3 and rgb.std == grey.std * 3 and rgb.interpolation == "bilinear"
    image, _ = grey.train[0]
    assert torch.allclose(image * grey.std[0] + grey.mean[0], raw[grey.train.indices[0]].unsqueeze(0), atol=1e-5)
    assert load_dataset("fake").mean is None and load_dataset("fake").preprocessing()["std"] is None
    assert rgb.preprocessing() == {"dataset": "digits", "input_size": 16, "channels": 3, "mean": list(rgb.mean),
                                   "std": list(rgb.std), "interpolation": "bilinear"}

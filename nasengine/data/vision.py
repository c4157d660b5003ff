"""torchvision-backed readers for local CIFAR and ImageFolder data (never downloaded).

torchvision is imported inside the readers, so importing this module stays cheap.
"""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import Subset

from nasengine.data.splits import DataError, DataSplits, split_order

_CIFAR_STATS = {"cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
                "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))}
_IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
_INTERPOLATION = "bilinear"  # torchvision's Resize default, used by ``_transforms``


def _transforms(size: int, mean, std, augment: bool, native: int):
    from torchvision import transforms as T

    base = [T.Resize(size)] if size != native else []
    eval_t = T.Compose(base + [T.CenterCrop(size), T.ToTensor(), T.Normalize(mean, std)])
    if not augment:
        return eval_t, eval_t
    train_t = T.Compose(base + [T.RandomCrop(size, padding=size // 8), T.RandomHorizontalFlip(), T.ToTensor(),
                                T.Normalize(mean, std)])
    return train_t, eval_t


def cifar(name: str, root: Path, image_size: int | None, augment: bool, split_seed: int, val_size: int = 5000) -> DataSplits:
    from torchvision import datasets

    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    size = image_size or 32
    train_t, eval_t = _transforms(size, *_CIFAR_STATS[name], augment, 32)
    try:
        train_full = cls(str(root), train=True, download=False, transform=train_t)
        train_eval = cls(str(root), train=True, download=False, transform=eval_t)
        test = cls(str(root), train=False, download=False, transform=eval_t)
    except RuntimeError as exc:
        raise DataError(f"{name} not found under {str(root)!r} ({exc}); put the python-version archive's folder there") from None
    order = split_order(len(train_full), split_seed)
    classes = 10 if name == "cifar10" else 100
    return DataSplits(name, Subset(train_full, order[val_size:]), Subset(train_eval, order[:val_size]), test, classes, 3, size,
                      *_CIFAR_STATS[name], interpolation=_INTERPOLATION)


def imagefolder(root: Path, image_size: int | None, augment: bool, split_seed: int) -> DataSplits:
    from torchvision import datasets

    if not (root / "train").is_dir():
        raise DataError(f"ImageFolder data needs {str(root / 'train')!r} with one folder per class")
    size = image_size or 224
    train_t, eval_t = _transforms(size, *_IMAGENET_STATS, augment, -1)
    train_full = datasets.ImageFolder(str(root / "train"), transform=train_t)
    classes = len(train_full.classes)
    if (root / "val").is_dir():
        val = datasets.ImageFolder(str(root / "val"), transform=eval_t)
        test = datasets.ImageFolder(str(root / "test"), transform=eval_t) if (root / "test").is_dir() else val
        return DataSplits("imagefolder", train_full, val, test, classes, 3, size, *_IMAGENET_STATS,
                          interpolation=_INTERPOLATION)
    train_eval = datasets.ImageFolder(str(root / "train"), transform=eval_t)
    order = split_order(len(train_full), split_seed)
    n_val = max(1, len(order) // 10)
    return DataSplits("imagefolder", Subset(train_full, order[2 * n_val :]), Subset(train_eval, order[:n_val]),
                      Subset(train_eval, order[n_val : 2 * n_val]), classes, 3, size, *_IMAGENET_STATS,
                      interpolation=_INTERPOLATION)

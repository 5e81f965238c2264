"""Data for the experiments: a synthetic dense-prediction task, and CIFAR-10 from disk.

``dots_and_boxes`` makes images with structure at two scales, so a network needs both a
large receptive field and every pixel near the centre of it:

* coarse: a few large, faint boxes, buried in noise, so that a single pixel cannot tell
  box from background (the model must average over a wide window);
* fine: single bright dots; the pixels within one step (the 3 x 3 square) of a dot form
  their own class, so the model must see the pixels right next to each output.

``load_cifar10`` reads the CIFAR-10 "python version" batches (``data_batch_1`` ...
``data_batch_5``, ``test_batch``: pickled dicts with ``b'data'``, a uint8 array of shape
(N, 3072) holding the red, green and blue 32 x 32 planes of each image, and
``b'labels'``) from a folder the user names. Nothing is downloaded. ``synthetic_cifar``
stands in when no folder is given.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .shapes import check_int

__all__ = [
    "BACKGROUND", "BOX", "DOT",
    "dots_and_boxes",
    "CIFAR10_CLASSES",
    "load_cifar10",
    "write_cifar_batch",
    "synthetic_cifar",
]

BACKGROUND, BOX, DOT = 0, 1, 2


def dots_and_boxes(n: int, size: int = 32, *, boxes: int = 2, dots: int = 6, box_level: float = 0.6,
                   noise: float = 0.7, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images (n, 1, size, size) float32 and their labels (n, size, size) int64.

    Labels: ``DOT`` within one pixel (Chebyshev distance <= 1) of a dot, else ``BOX``
    inside a box, else ``BACKGROUND``. Boxes are 8 to size/2 pixels wide and add
    ``box_level`` to the image (less than the noise's standard deviation); dots add 3.
    """
    n = check_int(n, "n", 1)
    size = check_int(size, "size", 12)
    gen = torch.Generator().manual_seed(seed)
    images = noise * torch.randn(n, 1, size, size, generator=gen)
    labels = torch.zeros(n, size, size, dtype=torch.int64)
    for i in range(n):
        for _ in range(boxes):
            h, w = (int(v) for v in torch.randint(8, size // 2 + 1, (2,), generator=gen))
            top = int(torch.randint(0, size - h + 1, (1,), generator=gen))
            left = int(torch.randint(0, size - w + 1, (1,), generator=gen))
            images[i, 0, top:top + h, left:left + w] += box_level
            labels[i, top:top + h, left:left + w] = BOX
    centres = torch.zeros(n, 1, size, size)
    flat = torch.rand(n, size * size, generator=gen).argsort(dim=1)[:, :dots]
    centres.view(n, -1).scatter_(1, flat, 1.0)
    images += 3.0 * centres
    near = F.max_pool2d(centres, 3, stride=1, padding=1)[:, 0] > 0
    labels[near] = DOT
    return images, labels


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
_TEST = ["test_batch"]


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")  # the batches were pickled by Python 2
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{path} is not a CIFAR-10 python batch (a dict with b'data' and b'labels')")
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise ValueError(f"{path}: expected b'data' of shape (N, 3072) and N labels, "
                         f"got {data.shape} and {len(labels)} labels")
    return data, labels


def load_cifar10(folder, train: bool = True, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 images (N, 3, 32, 32) float32 in [0, 1] and labels (N,) int64 from ``folder``.

    ``folder`` holds the python batches (the ``cifar-10-batches-py`` folder of the official
    archive); ``train`` picks ``data_batch_1`` ... ``data_batch_5`` (those present, at least
    one) or ``test_batch``; ``limit`` keeps the first images only.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    names = _TRAIN if train else _TEST
    paths = [folder / name for name in names if (folder / name).is_file()]
    if not paths:
        raise ValueError(f"no CIFAR-10 batch ({', '.join(names)}) in {folder}")
    datas, labels = [], []
    for path in paths:
        data, label = _read_batch(path)
        datas.append(data)
        labels.append(label)
        if limit is not None and sum(len(d) for d in datas) >= limit:
            break
    data, label = np.concatenate(datas), np.concatenate(labels)
    if limit is not None:
        data, label = data[:limit], label[:limit]
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)
    return images, torch.from_numpy(label)


def write_cifar_batch(path, images: torch.Tensor, labels) -> None:
    """Write ``images`` (N, 3, 32, 32) in [0, 1] and ``labels`` as a CIFAR-10 python batch."""
    data = (images.clamp(0, 1) * 255).round().to(torch.uint8).reshape(len(images), -1).numpy()
    batch = {b"batch_label": b"written by convlab", b"data": data,
             b"labels": [int(v) for v in labels], b"filenames": [b"%d.png" % i for i in range(len(data))]}
    with open(path, "wb") as f:
        pickle.dump(batch, f)


def synthetic_cifar(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A CIFAR-shaped stand-in: class c is a noisy sinusoidal grating of orientation and
    colour given by c, so a small CNN can learn it in seconds."""
    n = check_int(n, "n", 1)
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=gen)
    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    angle = labels.float() * (np.pi / 10)
    freq = 0.25 + 0.1 * (labels % 3).float()
    phase = 2 * np.pi * torch.rand(n, generator=gen)
    wave = torch.sin(freq[:, None, None] * (xs * torch.cos(angle)[:, None, None]
                                            + ys * torch.sin(angle)[:, None, None]) + phase[:, None, None])
    colour = torch.stack([(labels % 2).float(), ((labels // 2) % 2).float(), (labels >= 5).float()], 1)
    images = 0.5 + 0.25 * wave[:, None] * (0.5 + colour[:, :, None, None])
    images = images + 0.1 * torch.randn(n, 3, 32, 32, generator=gen)
    return images.clamp(0, 1), labels

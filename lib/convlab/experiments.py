"""Small, seeded training runs the notebooks show (fast enough for 2 CPU cores).

``compare_schedules`` trains one ``DilatedSegmenter`` per dilation schedule on the same
``dots_and_boxes`` data, from the same seed, and reports per-pixel accuracy (overall and
per class) on held-out images. ``train_classifier`` is the plain loop for the CIFAR-10
CNN. Every run fixes torch's seed and restores the caller's random state afterwards.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .data import dots_and_boxes
from .models import DilatedSegmenter
from .shapes import check_int

__all__ = ["torch_threads", "ScheduleResult", "compare_schedules", "train_segmenter", "pixel_accuracy",
           "train_classifier", "accuracy"]


@contextmanager
def torch_threads(threads: int | None):
    """torch's intra-op thread count set to ``threads`` inside the block (None: unchanged).

    Convs this small do not gain from more than one thread, and on a busy machine the
    extra threads only spin and wait."""
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(check_int(threads, "threads", 1))
    try:
        yield
    finally:
        torch.set_num_threads(old)


@dataclass
class ScheduleResult:
    rates: list[int]
    model: torch.nn.Module
    parameters: int
    accuracy: float                  # per-pixel, held-out images
    class_accuracy: list[float]      # per class: background, box, dot
    losses: list[float] = field(default_factory=list)
    prediction: torch.Tensor | None = None  # (n, H, W) labels on the held-out images
    test_images: torch.Tensor | None = None  # (n, 1, H, W): what ``prediction`` is for
    test_labels: torch.Tensor | None = None  # (n, H, W)
    seconds: float = 0.0


def pixel_accuracy(prediction: torch.Tensor, labels: torch.Tensor, num_classes: int = 3):
    """(overall, [per class]) fraction of pixels whose label is right."""
    right = prediction == labels
    per_class = [right[labels == c].float().mean().item() if (labels == c).any() else float("nan")
                 for c in range(num_classes)]
    return right.float().mean().item(), per_class


def train_segmenter(model, images, labels, steps: int = 150, batch: int = 16, lr: float = 0.01,
                    seed: int = 0) -> list[float]:
    """Adam on per-pixel cross-entropy; the dot class is rare, so it is weighted up."""
    steps = check_int(steps, "steps", 1)
    counts = torch.bincount(labels.flatten(), minlength=int(labels.max()) + 1).float()
    weight = (counts.sum() / counts.clamp(min=1)).sqrt()  # sqrt: balanced, not overturned
    gen = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    model.train()
    for _ in range(steps):
        pick = torch.randint(0, len(images), (batch,), generator=gen)
        loss = F.cross_entropy(model(images[pick]), labels[pick], weight=weight / weight.mean())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return losses


def compare_schedules(schedules, *, channels: int = 12, train_images: int = 256, test_images: int = 32,
                      size: int = 32, steps: int = 150, batch: int = 8, seed: int = 0,
                      threads: int | None = 1) -> dict[str, ScheduleResult]:
    """Train a ``DilatedSegmenter`` per schedule (name -> rates) on the same data and seed;
    ``threads`` as in ``torch_threads``."""
    train_x, train_y = dots_and_boxes(train_images, size, seed=seed)
    test_x, test_y = dots_and_boxes(test_images, size, seed=seed + 1)
    results = {}
    with torch_threads(threads):
        _train_all(schedules, results, channels, train_x, train_y, test_x, test_y, steps, batch, seed)
    return results


def _train_all(schedules, results, channels, train_x, train_y, test_x, test_y, steps, batch, seed):
    with torch.random.fork_rng(devices=[]):
        for name, rates in schedules.items():
            torch.manual_seed(seed)  # same initial draws for every schedule
            start = time.perf_counter()
            model = DilatedSegmenter(rates, channels=channels)
            losses = train_segmenter(model, train_x, train_y, steps=steps, batch=batch, seed=seed)
            model.eval()
            with torch.no_grad():
                prediction = model(test_x).argmax(1)
            overall, per_class = pixel_accuracy(prediction, test_y)
            results[name] = ScheduleResult(
                list(rates), model, sum(p.numel() for p in model.parameters()), overall, per_class,
                losses, prediction, test_x, test_y, time.perf_counter() - start)


def accuracy(model, images, labels, batch: int = 256) -> float:
    """Fraction of images classified right (eval mode, no gradients)."""
    model.eval()
    right = 0
    with torch.no_grad():
        for i in range(0, len(images), batch):
            right += (model(images[i:i + batch]).argmax(1) == labels[i:i + batch]).sum().item()
    return right / len(images)


def train_classifier(model, images, labels, epochs: int = 1, batch: int = 64, lr: float = 5e-3,
                     seed: int = 0, threads: int | None = 1) -> list[float]:
    """Adam on cross-entropy, shuffled mini-batches; returns the loss of every step."""
    epochs = check_int(epochs, "epochs", 1)
    with torch_threads(threads):
        return _train_classifier(model, images, labels, epochs, batch, lr, seed)


def _train_classifier(model, images, labels, epochs, batch, lr, seed):
    gen = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=gen)
        for i in range(0, len(images), batch):
            pick = order[i:i + batch]
            loss = F.cross_entropy(model(images[pick]), labels[pick])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
    return losses

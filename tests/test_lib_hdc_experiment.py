"""The data, models, training loops and figures behind notebook 05's experiments (fast)."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch import nn

from convlab import figures
from convlab.data import (
    BACKGROUND, BOX, DOT, dots_and_boxes, load_cifar10, synthetic_cifar, write_cifar_batch,
)
from convlab.experiments import (
    accuracy, compare_schedules, pixel_accuracy, torch_threads, train_classifier,
)
from convlab.models import AtrousCifarNet, DilatedSegmenter


# --- CIFAR-10 python batches -----------------------------------------------------------------

def _write_raw_batch(path, count, seed, key_labels=b"labels"):
    """A batch in the official format, written by hand (not by write_cifar_batch)."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(count, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=count)]
    with open(path, "wb") as f:
        pickle.dump({b"batch_label": b"testing batch", key_labels: labels, b"data": data,
                     b"filenames": [b"x.png"] * count}, f, protocol=2)
    return data, labels


def test_load_cifar10_reads_the_python_batches(tmp_path):
    d1, l1 = _write_raw_batch(tmp_path / "data_batch_1", 5, 0)
    d2, l2 = _write_raw_batch(tmp_path / "data_batch_2", 3, 1)
    dt, lt = _write_raw_batch(tmp_path / "test_batch", 4, 2)
    images, labels = load_cifar10(tmp_path)
    assert images.shape == (8, 3, 32, 32) and images.dtype == torch.float32
    assert labels.tolist() == l1 + l2 and labels.dtype == torch.int64
    # Row-major: the first 1024 bytes are the red plane, row by row.
    expected = torch.from_numpy(np.concatenate([d1, d2]).reshape(8, 3, 32, 32).astype(np.float32) / 255)
    torch.testing.assert_close(images, expected)
    assert images[0, 0, 0, 1].item() == pytest.approx(d1[0, 1] / 255)
    assert images[0, 1, 0, 0].item() == pytest.approx(d1[0, 1024] / 255)  # green starts at 1024
    test_images, test_labels = load_cifar10(tmp_path, train=False)
    assert test_images.shape == (4, 3, 32, 32) and test_labels.tolist() == lt
    limited, limited_labels = load_cifar10(tmp_path, limit=6)
    assert limited.shape[0] == 6 and limited_labels.tolist() == (l1 + l2)[:6]


def test_write_cifar_batch_round_trips(tmp_path):
    images = torch.randint(0, 256, (3, 3, 32, 32)).float() / 255
    write_cifar_batch(tmp_path / "test_batch", images, [1, 2, 3])
    back, labels = load_cifar10(tmp_path, train=False)
    torch.testing.assert_close(back, images)
    assert labels.tolist() == [1, 2, 3]


def test_load_cifar10_errors(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        load_cifar10(tmp_path / "missing")
    with pytest.raises(ValueError, match="no CIFAR-10 batch"):
        load_cifar10(tmp_path)
    with open(tmp_path / "data_batch_1", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(ValueError, match="3072"):
        load_cifar10(tmp_path)
    _write_raw_batch(tmp_path / "data_batch_1", 2, 0, key_labels=b"fine_labels")
    with pytest.raises(ValueError, match="not a CIFAR-10 python batch"):
        load_cifar10(tmp_path)


def test_synthetic_cifar_is_seeded_and_learnable_shape():
    a, la = synthetic_cifar(20, seed=3)
    b, lb = synthetic_cifar(20, seed=3)
    assert a.shape == (20, 3, 32, 32) and torch.equal(a, b) and torch.equal(la, lb)
    assert 0 <= a.min() and a.max() <= 1 and la.max() < 10


def test_atrous_cifar_net_trains_on_a_written_batch(tmp_path):
    images, labels = synthetic_cifar(64, seed=0)
    write_cifar_batch(tmp_path / "data_batch_1", images, labels)
    x, y = load_cifar10(tmp_path)
    torch.manual_seed(0)
    net = AtrousCifarNet(width=8, rate=2)
    dilated = [m for m in net.modules() if isinstance(m, nn.Conv2d) and m.dilation != (1, 1)]
    assert [m.dilation for m in dilated] == [(2, 2)] and dilated[0].padding == (2, 2)
    assert net(x[:2]).shape == (2, 10)
    losses = train_classifier(net, x, y, epochs=2, batch=32)
    assert len(losses) == 4 and all(np.isfinite(losses))
    assert 0 <= accuracy(net, x, y) <= 1
    with pytest.raises(ValueError):
        net(torch.zeros(1, 1, 32, 32))


# --- the synthetic segmentation task -----------------------------------------------------------

def test_dots_and_boxes_labels_follow_their_definition():
    images, labels = dots_and_boxes(4, 24, seed=5)
    assert images.shape == (4, 1, 24, 24) and labels.shape == (4, 24, 24)
    assert set(labels.unique().tolist()) <= {BACKGROUND, BOX, DOT}
    again, _ = dots_and_boxes(4, 24, seed=5)
    assert torch.equal(images, again)
    # Without noise the image is box level + 3 at dots: DOT is exactly the 3x3 squares
    # around the dots, BOX exactly the rest of the boxes.
    clean, clean_labels = dots_and_boxes(4, 24, noise=0.0, seed=5)
    assert torch.equal(clean_labels, labels)  # the noise level does not move anything
    for n in range(4):
        centres = clean[n, 0] >= 3.0
        assert 1 <= centres.sum() <= 6
        near = torch.nn.functional.max_pool2d(centres[None].float(), 3, stride=1, padding=1)[0] > 0
        assert torch.equal(labels[n] == DOT, near)
        box = (clean[n, 0] % 3.0) > 0.3
        assert torch.equal(labels[n] == BOX, box & ~near)


def test_pixel_accuracy():
    labels = torch.tensor([[0, 1, 2, 2]])
    overall, per_class = pixel_accuracy(torch.tensor([[0, 1, 2, 0]]), labels)
    assert overall == 0.75 and per_class == [1.0, 1.0, 0.5]


def test_segmenters_of_equal_depth_have_equal_parameters():
    counts = {tuple(r): sum(p.numel() for p in DilatedSegmenter(r).parameters())
              for r in ([2, 4, 8], [1, 3, 9], [1, 1, 1])}
    assert len(set(counts.values())) == 1
    model = DilatedSegmenter([2, 4, 8]).eval()
    assert model(torch.zeros(1, 1, 20, 17)).shape == (1, 3, 20, 17)


def test_compare_schedules_is_seeded_and_restores_threads():
    threads = torch.get_num_threads()
    schedules = {"grid": [2, 4], "hdc": [1, 2]}
    a = compare_schedules(schedules, train_images=8, test_images=2, size=16, steps=3, batch=4, channels=4)
    b = compare_schedules(schedules, train_images=8, test_images=2, size=16, steps=3, batch=4, channels=4)
    assert torch.get_num_threads() == threads
    for name in schedules:
        assert a[name].losses == b[name].losses and torch.equal(a[name].prediction, b[name].prediction)
        assert a[name].prediction.shape == (2, 16, 16) and a[name].test_images.shape == (2, 1, 16, 16)
    assert a["grid"].parameters == a["hdc"].parameters
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == threads


def test_hdc_figures_draw():
    import matplotlib.pyplot as plt

    results = compare_schedules({"grid": [2, 4], "hdc": [1, 2]}, train_images=8, test_images=2,
                                size=16, steps=2, batch=4, channels=4)
    for fig in (figures.plot_max_distances([[1, 2, 5], [1, 2, 9]]),
                figures.plot_rule_vs_holes([[2, 2, 2], [1, 2, 5]]),
                figures.plot_segmentation_outputs(results, count=2, crop=8),
                figures.plot_losses(results)):
        assert fig.axes
        plt.close(fig)

"""The figures of 03_atrous draw what they claim, and the U-Net's receptive fields are
read from the model itself."""
from __future__ import annotations

import pytest
import torch

import convlab
from convlab import figures
from convlab.models import UNet
from figure_helpers import assert_texts_fit_and_do_not_overlap


def test_seed_image_is_the_seed_example():
    image = figures.seed_image()
    assert image.shape == (1, 4, 4, 2)
    assert (image == torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 1, 4, 1)).all()


def test_plot_seed_example_draws_the_seed_rows_and_the_error():
    fig = figures.plot_seed_example()
    axes = fig.axes
    texts = [[t.get_text() for t in ax.texts] for ax in axes]
    assert texts[3][:4] == ["16", "24", "16", "24"]  # rate 2 SAME, first row
    assert texts[2] == ["36", "54", "36", "54"]  # rate 1 VALID
    assert any("ValueError" in t and "does not fit" in t.replace("\n", " ") for t in texts[4])


def test_plot_seed_example_draws_the_function_it_is_given():
    calls = []

    def mine(value, filters, rate, padding):
        calls.append((rate, padding))
        return convlab.atrous_conv2d(value, filters, rate, padding)

    figures.plot_seed_example(atrous_fn=mine)
    assert calls == [(1, "SAME"), (1, "VALID"), (2, "SAME"), (2, "VALID")]


def test_plot_dilated_kernels_writes_the_taps_and_leaves_the_holes_blank():
    kernel = torch.arange(1.0, 10.0).reshape(3, 3)
    fig = figures.plot_dilated_kernels(kernel, rates=(1, 3))
    written = [[t.get_text() for t in ax.texts if t.get_text()] for ax in fig.axes]
    assert written == [[str(v) for v in range(1, 10)]] * 2
    assert len(fig.axes[1].patches) == 7 * 7


def test_plot_space_to_batch_titles_follow_tensorflow_order():
    x = torch.arange(16.0).reshape(4, 4)
    fig = figures.plot_space_to_batch(x, 2)
    titles = [ax.get_title() for ax in fig.axes[1:]]
    assert titles == ["batch 0: phase (0, 0)", "batch 1: phase (0, 1)", "batch 2: phase (1, 0)",
                      "batch 3: phase (1, 1)"]
    assert [t.get_text() for t in fig.axes[2].texts] == ["1", "3", "9", "11"]  # x[0::2, 1::2]


def test_layers_of_a_unet_stage_and_its_receptive_fields():
    dilated, plain = UNet(width=2, dilation=2), UNet(width=2, dilation=1)
    stages = figures.unet_stage_layers(dilated)
    assert stages["enc1"] == [(3, 1, 1), (3, 1, 1)]
    assert stages["enc5"][-4:] == [(3, 1, 2), (3, 1, 2), (3, 1, 4), (3, 1, 4)]
    assert [convlab.receptive_field(v) for v in stages.values()] == [5, 14, 32, 100, 228]
    assert convlab.receptive_field(figures.unet_stage_layers(plain)["enc5"]) == 100
    assert all(layer[2] == 1 for layer in figures.layers_of(plain))
    assert sum(p.numel() for p in dilated.parameters()) == sum(p.numel() for p in plain.parameters())


def test_unet_bottleneck_field_matches_autograd_with_average_pooling():
    """An independent check of 228: swap max pooling for average pooling (every input of a
    window gets gradient), set every conv to positive weights so no ReLU is off, and look
    where the gradient of one bottleneck unit reaches."""
    model = UNet(width=1, dilation=2).double()
    model.pool = torch.nn.AvgPool2d(2)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.weight.fill_(0.1)
                module.bias.fill_(0.1)
    x = torch.ones(1, 1, 256, 256, dtype=torch.float64, requires_grad=True)
    e = model.enc1(x)
    for name in ("enc2", "enc3", "enc4"):  # a pool before each of them, as in UNet.forward
        e = getattr(model, name)(model.pool(e))
    e = model.enc5(e)
    (grad,) = torch.autograd.grad(e[0, 0, 16, 16], x)
    rows = grad[0, 0].abs().sum(1).nonzero().flatten()
    assert rows[-1] - rows[0] + 1 == 228


def test_plot_unet_receptive_fields_annotates_each_stage():
    fig = figures.plot_unet_receptive_fields({"d": UNet(width=1), "p": UNet(width=1, dilation=1)}, image_size=128)
    labels = {(round(t.xy[0]), t.get_text()) for t in fig.axes[0].texts if hasattr(t, "xy")}
    # Every model's field at every stage is printed there, equal ones once.
    for sizes in (["5", "14", "32", "100", "228"], ["5", "14", "32", "68", "100"]):
        assert {(x, size) for x, size in enumerate(sizes, 1)} <= labels, labels
    assert len([t for t in fig.axes[0].texts if t.get_text() == "32"]) == 1


def test_plot_unet_receptive_fields_labels_fit_and_do_not_overlap():
    # The notebook's figure: "228" was cut at the right edge, the enc1-enc3 labels of the
    # two models (equal fields) printed on top of each other.
    models = {"dilated (4th block d=2, 5th d=4)": UNet(width=1, dilation=2),
              "no dilation": UNet(width=1, dilation=1)}
    assert_texts_fit_and_do_not_overlap(figures.plot_unet_receptive_fields(models, image_size=128))


@pytest.mark.parametrize("bad", [lambda: figures.plot_space_to_batch(torch.zeros(4, 4), 5),
                                 lambda: figures.plot_space_to_batch(torch.zeros(1, 4, 4), 2),
                                 lambda: figures.plot_dilated_kernels(torch.zeros(3, 3), rates=(0,))])
def test_bad_arguments_raise_value_error(bad):
    with pytest.raises(ValueError):
        bad()


def test_unet_dilation_one_has_no_dilated_conv():
    model = UNet(width=2, dilation=1)
    assert all(m.dilation == (1, 1) for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    with pytest.raises(ValueError):
        UNet(dilation=0)
    out = model(torch.randn(1, 1, 16, 24))
    assert out.shape == (1, 1, 16, 24)

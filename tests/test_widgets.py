"""The notebooks' explorers (convlab.widgets): moving a control redraws the figure and
the label for the new values, an exercise not done yet is a note and never an error,
and without ipywidgets each still draws its figure once, saying why there are no sliders."""
from __future__ import annotations

import sys

import pytest
import torch

import convlab
from convlab import figures, widgets
from figure_helpers import is_empty


def _cells(ax) -> int:
    """Grid cells drawn on an explorer's axes (one PatchCollection per kind of cell)."""
    return sum(len(c.get_paths()) for c in ax.collections)


def _no_empty_axes(explorer):
    assert explorer.figure.axes and not any(is_empty(ax) for ax in explorer.figure.axes)


def test_the_convolution_explorer_redraws_frame_and_output_size_as_sliders_move():
    explorer = widgets.explore_convolution(i=5, k=3, s=2, p=1)
    assert set(explorer.controls) == {"i", "k", "s", "p", "step"}
    assert explorer.label.startswith("output 3 × 3:") and "floor((5 + 2·1 - 3) / 2) + 1 = 3" in explorer.label
    ax_in, ax_out = explorer.figure.axes
    assert (_cells(ax_in), _cells(ax_out)) == (7 * 7, 3 * 3)
    explorer.controls["i"].value = 9
    ax_in, ax_out = explorer.figure.axes
    assert explorer.label.startswith("output 5 × 5:")
    assert (_cells(ax_in), _cells(ax_out)) == (11 * 11, 5 * 5)
    assert explorer.controls["step"].max == 24  # the frame slider follows the outputs
    explorer.controls["step"].value = 24  # the last output: its window is the bottom-right one
    window = next(p for p in explorer.figure.axes[0].patches if p.get_gid() == "window")
    assert window.get_xy() == (8, 8) and window.get_width() == 3
    explorer.controls["s"].value = 1
    assert explorer.label.startswith("output 9 × 9:") and explorer.values["step"] == 24
    for size, (k, s, p) in {3: (3, 1, 0), 1: (5, 4, 1)}.items():
        explorer.controls["k"].value, explorer.controls["s"].value = k, s
        explorer.controls["p"].value, explorer.controls["i"].value = p, 5
        assert explorer.label.startswith(f"output {size} × {size}:"), explorer.label
        assert convlab.conv_output_size(5, k, s, p) == size
    _no_empty_axes(explorer)


def test_the_explorers_say_when_a_setting_has_no_output_and_draw_no_empty_axes():
    explorer = widgets.explore_convolution(i=3, k=3, s=1, p=0)
    explorer.controls["k"].value = 7
    assert explorer.label.startswith("no output:") and "larger than the padded input" in explorer.label
    _no_empty_axes(explorer)
    assert "larger than the padded input" in explorer.figure.axes[0].texts[0].get_text()
    transposed = widgets.explore_transposed(i=3, k=3, s=2, p=1, output_padding=1)
    assert transposed.label.startswith("output 6 × 6:")
    transposed.controls["op"].value = 2
    assert transposed.label.startswith("no output:") and "output_padding" in transposed.label
    _no_empty_axes(transposed)


@pytest.mark.parametrize("s,p,op", [(2, 1, 1), (3, 0, 2), (1, 0, 0)])
def test_the_transposed_explorer_gives_torchs_output_size(s, p, op):
    explorer = widgets.explore_transposed(i=4, k=3, s=2, p=1, output_padding=1)
    explorer.controls["s"].value, explorer.controls["p"].value = s, p
    explorer.controls["op"].value = op
    size = torch.nn.functional.conv_transpose2d(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 3, 3), stride=s,
                                                padding=p, output_padding=op).shape[-1]
    assert explorer.label.startswith(f"output {size} × {size}:"), explorer.label
    assert _cells(explorer.figure.axes[1]) == size * size


def test_the_dilation_explorer_spreads_the_taps():
    explorer = widgets.explore_dilation(i=7, k=3, s=1, p=0, d=2)
    assert explorer.label.startswith("output 3 × 3:") and "= 5" in explorer.label
    explorer.controls["d"].value = 3
    assert explorer.label.startswith("output 1 × 1:") and "3·2+1 = 7" in explorer.label
    taps = [p for p in explorer.figure.axes[0].patches if p.get_gid() == "tap"]
    assert sorted(p.get_xy() for p in taps) == sorted((float(c), float(r)) for r in (0, 3, 6) for c in (0, 3, 6))


def test_the_dilation_explorer_redraws_the_dependency_map_of_two_such_layers():
    explorer = widgets.explore_dilation(i=7, k=3, s=1, p=0, d=2)
    image = explorer.figure.axes[2].images[0].get_array()
    assert torch.equal(torch.from_numpy(image.filled(0)), convlab.dependency_map([2, 2], 3))
    assert "two such layers stacked: rates [2, 2], k=3: R = 9" in explorer.label
    explorer.controls["d"].value = 1  # no dilation: no holes
    image = explorer.figure.axes[2].images[0].get_array()
    assert torch.equal(torch.from_numpy(image.filled(0)), convlab.dependency_map([1, 1], 3))
    assert explorer.label.endswith("no holes")
    explorer.controls["k"].value = 2  # the map follows the kernel slider too
    assert torch.equal(torch.from_numpy(explorer.figure.axes[2].images[0].get_array().filled(0)),
                       convlab.dependency_map([1, 1], 2))
    # The frame's axes stay left of the map, none overlapping it.
    frame_right = max(ax.get_position().x1 for ax in explorer.figure.axes[:2])
    assert frame_right < explorer.figure.axes[2].get_position().x0


def test_the_gridding_explorer_draws_the_map_of_the_chosen_rates_from_the_given_function():
    calls = []

    def mine(rates, kernel_size=3):
        calls.append(list(rates))
        return convlab.dependency_map(rates, kernel_size)

    explorer = widgets.explore_gridding(dependency_map_fn=mine)
    assert "rates [2, 2, 2], k=3: R = 13, coverage 29.0%, 120 holes" in explorer.label
    explorer.controls["r1"].value = 1
    explorer.controls["r3"].value = 0  # no third layer
    assert calls[-1] == [1, 2]
    image = explorer.figure.axes[0].images[0].get_array()
    assert image.shape == (7, 7) and torch.equal(torch.from_numpy(image.filled(0)),
                                                 convlab.dependency_map([1, 2]))
    assert "no holes" in explorer.label


def test_an_exercise_not_done_is_a_note_in_the_explorer_not_an_error():
    def stub(rates, kernel_size=3):
        raise NotImplementedError()

    explorer = widgets.explore_gridding(dependency_map_fn=stub)
    assert explorer.label.startswith("Not drawn yet: your dependency_map still raises NotImplementedError")
    _no_empty_axes(explorer)
    hdc = widgets.explore_hdc(distances_fn=stub, rule_fn=lambda r, k=3: True, dependency_map_fn=stub)
    assert "Not drawn yet" in hdc.label and "HDC rule M_2 <= K = 3: satisfied" in hdc.label
    _no_empty_axes(hdc)


def test_the_hdc_explorer_redraws_verdict_and_coverage_for_a_typed_schedule():
    explorer = widgets.explore_hdc()
    assert "M = [1, 2, 5]" in explorer.label and "satisfied" in explorer.label and "no holes" in explorer.label
    explorer.controls["rates"].value = "1, 2, 9"
    assert "M = [3, 5, 9]" in explorer.label and "NOT satisfied" in explorer.label
    assert "coverage 70.6%" in explorer.label
    assert explorer.figure.axes[0].images[0].get_array().shape == (25, 25)
    explorer.controls["rates"].value = "2 2 2"  # the rule passes, the map has holes
    assert "HDC rule M_2 <= K = 3: satisfied" in explorer.label and "holes (red)" in explorer.label
    explorer.controls["k"].value = 1
    assert "NOT satisfied" in explorer.label
    explorer.controls["rates"].value = "1, 0"
    assert explorer.label == "rates must be >= 1, got [1, 0]"
    _no_empty_axes(explorer)


@pytest.mark.parametrize("name", ["explore_convolution", "explore_transposed", "explore_dilation",
                                  "explore_gridding", "explore_hdc"])
def test_without_ipywidgets_each_explorer_draws_its_figure_once_and_says_why(name, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import ipywidgets -> ImportError
    assert not widgets.have_ipywidgets()
    explorer = getattr(widgets, name)()
    assert explorer.controls == {} and explorer.widget is None
    assert "ipywidgets is not installed" in capsys.readouterr().out
    _no_empty_axes(explorer)
    assert explorer.label


def test_each_notebook_calls_its_explorer():
    import nbformat

    from convlab.cli import repo_root

    wanted = {"01_convolution": "explore_convolution", "02_transposed": "explore_transposed",
              "03_atrous": "explore_dilation", "04_gridding": "explore_gridding", "05_hdc": "explore_hdc"}
    for assignment, name in wanted.items():
        for folder in ("solutions", "notebooks"):
            nb = nbformat.read(repo_root() / folder / assignment / f"{assignment}.ipynb", as_version=4)
            calls = [c for c in nb.cells if c.cell_type == "code" and f"widgets.{name}(" in c.source]
            assert len(calls) == 1, (folder, assignment)

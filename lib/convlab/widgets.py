"""Explorers: sliders that redraw a notebook's figure as they move (ipywidgets).

One function per notebook, each returning an ``Explorer`` that a notebook cell shows:

* ``explore_convolution()``  (01) input size, kernel, stride, padding: one frame of the
  conv-arithmetic animation and the output size with its formula;
* ``explore_transposed()``   (02) the same with output padding, for a transposed conv;
* ``explore_dilation()``     (03) the same with dilation: the taps spread, the effective
  kernel size, the output size and the dependency map of two such layers stacked;
* ``explore_gridding()``     (04) up to three rates and the kernel size: the dependency
  map, its coverage and holes;
* ``explore_hdc()``          (05) a schedule typed in a box: the M_i recursion, the HDC
  verdict (M_2 <= K) and the coverage the brute-force map finds.

Where ipywidgets cannot be imported each draws its figure once, for its starting values,
and prints a note saying how to get the sliders. The exercises a figure needs come in as
arguments (``dependency_map_fn=my_dependency_map``): before one is done the explorer
writes which exercise to finish where its picture would be, and raises nothing.
"""
from __future__ import annotations

import re
import textwrap

__all__ = ["Explorer", "explore_convolution", "explore_transposed", "explore_dilation",
           "explore_gridding", "explore_hdc", "have_ipywidgets"]

NO_WIDGETS = ("(No sliders: ipywidgets is not installed here. `pip install ipywidgets` in this "
              "environment, restart the kernel and run this cell again. This is the figure for the "
              "starting values.)")


def have_ipywidgets() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _figure():
    # Not a pyplot figure: the explorer shows it itself, once per redraw, so the inline
    # backend must not show it a second time at the end of the cell.
    from matplotlib.figure import Figure

    return Figure()


def _note(fig, text: str) -> None:
    """The figure holds only ``text``: what is wrong, or which exercise to finish."""
    fig.clear()
    fig.set_size_inches(7.5, 1.6)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.axis("off")
    ax.text(0.5, 0.5, textwrap.fill(text, 90), ha="center", va="center", fontsize=10,
            color="#555555", transform=ax.transAxes)


def _not_done_text(error: BaseException, what: str) -> str:
    text = str(error).strip() or f"your {what} still raises NotImplementedError."
    return f"Not drawn yet: {text}"


class Explorer:
    """An explorer: ``figure`` (matplotlib), ``controls`` (name -> ipywidgets control;
    empty without ipywidgets), ``label`` (the text under the figure: output size,
    verdict) and ``values`` (what the figure shows now). Setting a control's ``value``
    redraws; ``redraw()`` does it by hand."""

    def __init__(self, draw, start: dict, controls=None):
        self.figure = _figure()
        self._draw = draw
        self.values = dict(start)
        self.controls = controls or {}
        self.label = ""
        self.widget = None
        self._drawing = False
        self._label_widget = self._output = None
        if self.controls:
            import ipywidgets as w

            self._label_widget = w.HTML()
            self._output = w.Output()
            for control in self.controls.values():
                control.observe(lambda change: self.redraw(), names="value")
            self.widget = w.VBox([w.HBox(list(self.controls.values()),
                                         layout=w.Layout(flex_flow="row wrap")),
                                  self._label_widget, self._output])
        self.redraw()

    def redraw(self) -> str:
        """Draw the figure for the controls' values; return the label."""
        if self._drawing:  # a control the drawing itself adjusts (the frame's range)
            return self.label
        self._drawing = True
        try:
            for name, control in self.controls.items():
                self.values[name] = control.value
            self.figure.clear()
            self.label = self._draw(self.figure, self.values, self.controls)
        finally:
            self._drawing = False
        if self._label_widget is not None:
            import html

            self._label_widget.value = f"<pre style='margin:0'>{html.escape(self.label)}</pre>"
        if self._output is not None and _in_notebook():
            from IPython.display import display

            self._output.clear_output(wait=True)
            with self._output:
                display(self.figure)
        return self.label

    def _ipython_display_(self):
        from IPython.display import display

        if self.widget is not None:
            display(self.widget)
            self.redraw()  # into the Output now on screen
        else:
            display(self.figure)
            print(self.label)

    def __repr__(self) -> str:
        return f"Explorer({self.values}): {self.label}"


def _explorer(draw, start: dict, sliders: dict) -> Explorer:
    """``sliders``: name -> (description, min, max) for an IntSlider; a str value is a
    Text box's description instead."""
    if not have_ipywidgets():
        explorer = Explorer(draw, start)
        print(NO_WIDGETS)
        return explorer
    import ipywidgets as w

    style = {"description_width": "initial"}
    controls = {}
    for name, spec in sliders.items():
        if isinstance(spec, str):
            controls[name] = w.Text(value=str(start[name]), description=spec, style=style,
                                    continuous_update=False)
        else:
            text, low, high = spec
            controls[name] = w.IntSlider(value=start[name], min=low, max=high, description=text,
                                         style=style, continuous_update=True)
    return Explorer(draw, start, controls)


# --- conv arithmetic: 01, 02, 03 -----------------------------------------------------------

def _frame_step(values: dict, controls: dict, geometry) -> int:
    """The frame slider's range follows the number of outputs; the step stays inside it."""
    last = geometry.num_outputs - 1
    step = min(values.get("step", 0), last)
    if "step" in controls:
        slider = controls["step"]
        if slider.max != last or slider.value != step:
            with slider.hold_trait_notifications():
                slider.max = max(last, 0)
                slider.value = step
    values["step"] = step
    return step


def _draw_geometry(fig, geometry, step) -> None:
    from .figures.arithmetic import _side_by_side, _Stage

    ax_in, ax_out = _side_by_side(fig, geometry)
    stage = _Stage(ax_in, ax_out, geometry, False, None, None)
    stage.draw_static()
    stage.show(step)


def _conv_label(v: dict, geometry) -> str:
    i, k, s, p, d = (v[n] for n in ("i", "k", "s", "p", "d"))
    ho, wo = geometry.output_shape
    extent = d * (k - 1) + 1
    kernel = f"{k}" if d == 1 else f"d(k-1)+1 = {d}·{k - 1}+1 = {extent}"
    return (f"output {ho} × {wo}: floor((i + 2p - {'k' if d == 1 else 'd(k-1)-1'}) / s) + 1 = "
            f"floor(({i} + 2·{p} - {extent}) / {s}) + 1 = {ho}   (kernel extent {kernel})")


def _draw_conv(fig, v: dict, controls: dict) -> str:
    from .figures.arithmetic import conv_geometry

    try:
        geometry = conv_geometry(v["i"], v["k"], v["s"], v["p"], v["d"])
    except ValueError as error:
        _note(fig, f"No output: {error}")
        return f"no output: {error}"
    step = _frame_step(v, controls, geometry)
    _draw_geometry(fig, geometry, step)
    return _conv_label(v, geometry)


def explore_convolution(i: int = 5, k: int = 3, s: int = 2, p: int = 1) -> Explorer:
    """Sliders for input size, kernel size, stride and padding (and which output is being
    computed): a frame of the conv-arithmetic animation and the output size."""
    start = {"i": i, "k": k, "s": s, "p": p, "d": 1, "step": 0}
    return _explorer(_draw_conv, start, {
        "i": ("input size i", 1, 12), "k": ("kernel k", 1, 7), "s": ("stride s", 1, 4),
        "p": ("padding p", 0, 4), "step": ("output #", 0, 200)})


# The dependency map beside the dilation explorer's frame: inches it takes on the right.
_MAP_INCHES = 2.6


def _draw_dilated(fig, v: dict, controls: dict) -> str:
    """The conv frame, and on its right the dependency map of two such layers stacked
    (rates [d, d], kernel k): where the taps of one layer leave holes, the next layer's
    sees them too, the gridding notebook 04 is about."""
    from .receptive import dependency_map

    label = _draw_conv(fig, v, controls)
    if not fig.axes:  # no output for these values: the note says why
        return label
    width, height = fig.get_size_inches()
    total, tall = width + _MAP_INCHES, max(height, _MAP_INCHES + 0.9)
    fig.set_size_inches(total, tall)
    for ax in fig.axes:  # the frame keeps its size in inches, at the left
        x0, y0, w, h = ax.get_position().bounds
        ax.set_position([x0 * width / total, y0 * height / tall, w * width / total, h * height / tall])
    ax_map = fig.add_axes([(width + 0.2) / total, 0.35 / tall, (_MAP_INCHES - 0.4) / total,
                           (_MAP_INCHES - 0.4) / tall])
    summary, _ = _draw_map(ax_map, [v["d"], v["d"]], v["k"], dependency_map)
    return f"{label}\ntwo such layers stacked: {summary}"


def explore_dilation(i: int = 7, k: int = 3, s: int = 1, p: int = 0, d: int = 2) -> Explorer:
    """``explore_convolution`` with a dilation slider: the taps spread d apart, the kernel
    spans d(k-1)+1 pixels, the output shrinks accordingly, and beside it the dependency
    map of two such layers stacked shows the holes that dilation leaves."""
    start = {"i": i, "k": k, "s": s, "p": p, "d": d, "step": 0}
    return _explorer(_draw_dilated, start, {
        "i": ("input size i", 1, 15), "k": ("kernel k", 1, 5), "s": ("stride s", 1, 3),
        "p": ("padding p", 0, 6), "d": ("dilation d", 1, 5), "step": ("output #", 0, 200)})


def _draw_transposed(fig, v: dict, controls: dict) -> str:
    from .figures.arithmetic import transposed_geometry

    i, k, s, p, op = (v[n] for n in ("i", "k", "s", "p", "op"))
    try:
        geometry = transposed_geometry(i, k, s, p, op)
    except ValueError as error:
        _note(fig, f"No output: {error}")
        return f"no output: {error}"
    step = _frame_step(v, controls, geometry)
    _draw_geometry(fig, geometry, step)
    ho, _ = geometry.output_shape
    return (f"output {ho} × {geometry.output_shape[1]}: (i - 1)s - 2p + (k - 1) + output_padding + 1 "
            f"= ({i} - 1)·{s} - 2·{p} + {k - 1} + {op} + 1 = {ho}")


def explore_transposed(i: int = 3, k: int = 3, s: int = 2, p: int = 1, output_padding: int = 1) -> Explorer:
    """Sliders for a transposed convolution (input size, kernel, stride, padding, output
    padding): the equivalent direct convolution over the stretched input, frame by
    frame, and the output size."""
    start = {"i": i, "k": k, "s": s, "p": p, "op": output_padding, "step": 0}
    return _explorer(_draw_transposed, start, {
        "i": ("input size i", 1, 8), "k": ("kernel k", 1, 5), "s": ("stride s", 1, 4),
        "p": ("padding p", 0, 4), "op": ("output padding", 0, 3), "step": ("output #", 0, 400)})


# --- gridding and HDC: 04, 05 ---------------------------------------------------------------

def _rates_of(v: dict) -> list[int]:
    return [v[n] for n in ("r1", "r2", "r3") if v.get(n, 0) > 0]


def _draw_map(ax, rates, k, dependency_map_fn) -> tuple[str, object]:
    """The dependency map on ``ax``; (summary, counts) or (what stopped it, None)."""
    from .figures.gridding import _draw_counts

    try:
        counts = dependency_map_fn(rates, k).cpu().numpy()
    except NotImplementedError as error:
        return _not_done_text(error, "dependency_map"), None
    holes = int((counts == 0).sum())
    coverage = 1 - holes / counts.size
    summary = (f"rates {rates}, k={k}: R = {counts.shape[0]}, coverage {coverage:.1%}, "
               + (f"{holes} holes (red)" if holes else "no holes"))
    _draw_counts(ax, counts, summary.replace(": ", ":\n", 1), counts.shape[0] <= 15)
    return summary, counts


def _map_figure(fig, rates, k, dependency_map_fn) -> tuple[str, object]:
    fig.set_size_inches(5.2, 5.4)
    ax = fig.add_subplot(1, 1, 1)
    summary, counts = _draw_map(ax, rates, k, dependency_map_fn)
    if counts is None:
        _note(fig, summary)
    return summary, counts


def explore_gridding(dependency_map_fn=None, rates=(2, 2, 2), kernel_size: int = 3) -> Explorer:
    """Sliders for up to three rates (0: no layer) and the kernel size: the dependency map
    of the stack, drawn from ``dependency_map_fn`` (yours; the library's when None), with
    its coverage and holes."""
    if dependency_map_fn is None:
        from .receptive import dependency_map as dependency_map_fn
    rates = list(rates)[:3] + [0] * (3 - len(list(rates)[:3]))
    start = {"r1": rates[0], "r2": rates[1], "r3": rates[2], "k": kernel_size}

    def draw(fig, v, controls):
        chosen = _rates_of(v)
        if not chosen:
            _note(fig, "Give at least one rate above 0.")
            return "no layers"
        summary, _ = _map_figure(fig, chosen, v["k"], dependency_map_fn)
        return summary

    return _explorer(draw, start, {"r1": ("rate 1", 0, 9), "r2": ("rate 2", 0, 9),
                                   "r3": ("rate 3", 0, 9), "k": ("kernel k", 1, 5)})


def _parse_rates(text: str) -> list[int]:
    found = [int(t) for t in re.findall(r"-?\d+", str(text))]
    if not found:
        raise ValueError("type the rates as numbers, e.g. 1, 2, 5")
    if min(found) < 1:
        raise ValueError(f"rates must be >= 1, got {found}")
    if len(found) > 8 or max(found) > 30:
        raise ValueError("at most 8 rates, each at most 30 (the map grows as their sum)")
    return found


def explore_hdc(distances_fn=None, rule_fn=None, dependency_map_fn=None, schedule="1, 2, 5",
                kernel_size: int = 3) -> Explorer:
    """A box for a schedule of rates and a kernel-size slider: the maximum distances M_i
    (``distances_fn``), the HDC verdict M_2 <= K (``rule_fn``) and the dependency map with
    its coverage and holes (``dependency_map_fn``), so the rule and the brute-force test
    can be compared as you type. None: the library's functions."""
    from . import hdc, receptive

    distances_fn = distances_fn or hdc.hdc_max_distances
    rule_fn = rule_fn or hdc.satisfies_hdc
    dependency_map_fn = dependency_map_fn or receptive.dependency_map
    start = {"rates": schedule, "k": kernel_size}

    def draw(fig, v, controls):
        try:
            rates = _parse_rates(v["rates"])
        except ValueError as error:
            _note(fig, str(error))
            return str(error)
        k = v["k"]
        lines = []
        try:
            m = distances_fn(rates)
            lines.append(f"M = {list(m)}" + (f"  (M_2 = {m[1]})" if len(m) > 1 else ""))
        except NotImplementedError as error:
            lines.append(_not_done_text(error, "hdc_max_distances"))
        if len(rates) < 2:
            lines.append("HDC rule: needs at least 2 rates")
        else:
            try:
                ok = rule_fn(rates, k)
                lines.append(f"HDC rule M_2 <= K = {k}: " + ("satisfied" if ok else "NOT satisfied"))
            except NotImplementedError as error:
                lines.append(_not_done_text(error, "satisfies_hdc"))
        summary, counts = _map_figure(fig, rates, k, dependency_map_fn)
        lines.append(("brute force: " + summary) if counts is not None else summary)
        return "\n".join(lines)

    return _explorer(draw, start, {"rates": "rates", "k": ("kernel K", 1, 7)})

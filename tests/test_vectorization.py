"""The vectorization check (autograder/sandbox/measure.py, host.Sandbox._judge_work,
grader._scales): work is counted where every loop leaves it, at sizes drawn per student,
and an answer that hides a loop or stops the counters gets no credit for vectorization.

Each attack here is also an example student where it makes sense
(autograder/examples/students/padded_loop.py, scripted_loop.py).
"""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
import torch

import convlab
from autograder.judge import grader, hidden_cases
from autograder.sandbox import Cell, Limits, Sandbox, draw_scales, host
from convlab.checks import REGISTRY

pytestmark = pytest.mark.slow

LIMITS = Limits(cell_seconds=5, case_seconds=5, memory_mb=600, max_hangs=2, startup_seconds=120)
SCALES = draw_scales(20261207)

ANSWERS = '''
def honest(x, stride):
    n, c, h, w = x.shape
    z = x.new_zeros(n, c, (h - 1) * stride + 1, (w - 1) * stride + 1)
    z[:, :, ::stride, ::stride] = x
    return z

def padded(x, stride):
    n, c, h, w = x.shape
    z = x.new_zeros(n, c, (h - 1) * stride + 1, (w - 1) * stride + 1)
    for t in range(1280):  # more rows than any size the grader draws
        i = min(t, h - 1)
        z[:, :, i * stride, ::stride] = x[:, :, i, :]
    return z

def padded_short(x, stride):
    n, c, h, w = x.shape
    z = x.new_zeros(n, c, (h - 1) * stride + 1, (w - 1) * stride + 1)
    for t in range(64):  # covered both sizes when they were fixed
        i = min(t, h - 1)
        z[:, :, i * stride, ::stride] = x[:, :, i, :]
    return z

def rows_in_c(x, stride):
    # A loop over rows with no Python line per row: map() calls torch from C.
    n, c, h, w = x.shape
    z = x.new_zeros(n, c, (h - 1) * stride + 1, (w - 1) * stride + 1)
    z[:, :, ::stride, ::stride] = torch.stack(list(map(torch.Tensor.clone, x.unbind(2))), 2)
    return z

def rows_unseen_by_modes(x, stride):
    # What blinded a dispatch mode: the Python dispatch key excluded around the loop.
    with torch._C._ExcludeDispatchKeyGuard(torch._C.DispatchKeySet(torch._C.DispatchKey.Python)):
        with torch._C._DisableTorchDispatch():
            return padded_free_loop(x, stride)

def padded_free_loop(x, stride):
    n, c, h, w = x.shape
    z = x.new_zeros(n, c, (h - 1) * stride + 1, (w - 1) * stride + 1)
    for i in range(h):
        z[:, :, i * stride, ::stride] = x[:, :, i, :]
    return z

def taps_and_channels(x, weight, bias=None, stride=1, padding=0, dilation=1):
    # Honest: loops over output channels and kernel taps, nested; nothing over N, H or W.
    c_out, _, kh, kw = weight.shape
    xp = F.pad(x, (padding,) * 4)
    h, w = xp.shape[2:]
    ho = (h - dilation * (kh - 1) - 1) // stride + 1
    wo = (w - dilation * (kw - 1) - 1) // stride + 1
    out = x.new_zeros(x.shape[0], c_out, ho, wo)
    for o in range(c_out):
        for i in range(kh):
            for j in range(kw):
                tap = xp[:, :, i * dilation:i * dilation + stride * (ho - 1) + 1:stride,
                         j * dilation:j * dilation + stride * (wo - 1) + 1:stride]
                out[:, o] += torch.einsum("nchw,c->nhw", tap, weight[o, :, i, j])
    if bias is not None:
        out += bias.view(1, -1, 1, 1)
    return out
'''


@pytest.fixture(scope="module")
def sb():
    """One sandbox for the module: every answer and attempt is a function of its cells."""
    attempts = [f"SRC = {SCRIPT!r}\n"]
    for routes in (TORCHSCRIPT, METER):
        for route, body in routes.items():
            attempts.append(f"def {_attempt(route)}(x, *rest):\n{textwrap.indent(body, '    ')}\n    return x\n")
    cells = [textwrap.dedent(ANSWERS), "\n".join(attempts)]
    with Sandbox([Cell(i, f"#{i}", source) for i, source in enumerate(cells)], LIMITS) as sandbox:
        yield sandbox


def _attempt(route: str) -> str:
    return "attempt_" + "".join(c if c.isalnum() else "_" for c in route)


def _scaling(exercise: str, scales=SCALES) -> dict:
    make = REGISTRY[exercise].scaling_case
    return {s: (make(s).args, make(s).kwargs) for s in scales}


def _measured(sb, name, exercise="insert_zeros", scales=SCALES):
    small = REGISTRY[exercise].scaling_case(scales[0])
    return sb.run(name, [(small.args, small.kwargs)], (), _scaling(exercise, scales))


# --- the sizes -------------------------------------------------------------------------------

def test_the_sizes_are_drawn_per_student_one_axis_at_a_time():
    key = hidden_cases.SeedKey(b"s" * 16, "03_atrous", "ada")
    scales, seed = grader._scales("conv2d_dilated", key)
    assert (scales, seed) == grader._scales("conv2d_dilated", key)  # regrading sees the same
    other = hidden_cases.SeedKey(b"s" * 16, "03_atrous", "bob")
    assert grader._scales("conv2d_dilated", other)[0] != scales
    (s, s2, s3), medium, *large = scales
    assert s == s2 == s3 and host.SMALL_SCALES[0] <= s <= host.SMALL_SCALES[1]
    assert medium == (s + 3,) * 3 and len(large) == 3
    for axis, scale in enumerate(large):
        assert [v for k, v in enumerate(scale) if k != axis] == [s, s]
        assert host.LARGE_SCALES[0] <= scale[axis] <= host.LARGE_SCALES[1]


def _growth(exercise: str, axis: int) -> int:
    """How far the longest-growing argument axis of ``exercise``'s scaling case reaches at
    the smallest large draw on ``axis``, in rows, images or channels (or the length, for
    an int argument)."""
    make = REGISTRY[exercise].scaling_case
    small = (host.SMALL_SCALES[0],) * 3
    large = list(small)
    large[axis] = host.LARGE_SCALES[0]
    grown = 0
    for a, b in zip(make(small).args, make(tuple(large)).args):
        if isinstance(a, torch.Tensor):
            grown = max([grown] + [y for x, y in zip(a.shape, b.shape) if y != x])
        elif isinstance(a, int) and a != b:
            grown = max(grown, b)
    return grown


@pytest.mark.parametrize("exercise", sorted(n for n, e in REGISTRY.items() if e.vectorized and e.scaling_case))
def test_a_loop_padded_past_every_drawn_size_exceeds_the_bound(exercise):
    # Each trip of a padded Python loop costs a line: whatever trip count covers every draw
    # exceeds the line bound, at every size. (From C, each trip costs dispatcher calls: at
    # most 6 per trip are needed to exceed the call bound, on every axis.)
    ops, lines = host.WORK_BOUND
    axes = [_growth(exercise, axis) for axis in range(3)]
    assert any(axes), exercise
    for length in filter(None, axes):
        assert length > lines and 6 * length > ops, (exercise, axes)


# --- honest answers ------------------------------------------------------------------------

def test_a_vectorized_answer_passes_at_the_drawn_sizes(sb):
    run = _measured(sb, "honest")
    assert run.not_vectorized is None and run.vector_error is None, run
    for scale in SCALES:
        case = REGISTRY["insert_zeros"].scaling_case(scale)
        torch.testing.assert_close(run.scaling[scale].value, convlab.insert_zeros(*case.args))
    ops = [o.work[0] for o in run.scaling.values()]
    assert max(ops) - min(ops) <= host._SLACK  # a copy's layout may cost one more call


def test_loops_over_channels_and_kernel_taps_stay_within_the_bound(sb):
    run = _measured(sb, "taps_and_channels", "conv2d_dilated")
    assert run.not_vectorized is None and run.vector_error is None, run
    ops, lines = run.scaling[SCALES[0]].work
    assert ops <= host.WORK_BOUND[0] and lines <= host.WORK_BOUND[1]
    case = REGISTRY["conv2d_dilated"].scaling_case(SCALES[1])
    torch.testing.assert_close(run.scaling[SCALES[1]].value, convlab.conv2d_dilated(*case.args, **case.kwargs))


# --- loops that hid ------------------------------------------------------------------------

def test_a_loop_padded_past_every_drawn_size_is_not_vectorized(sb, monkeypatch):
    run = _measured(sb, "padded")
    assert "padded to a fixed trip count" in run.not_vectorized, run
    ops = [o.work[0] for o in run.scaling.values()]
    lines = {o.work[1] for o in run.scaling.values()}
    assert max(ops) - min(ops) <= host._SLACK and len(lines) == 1  # growth alone would miss it
    assert lines.pop() > host.WORK_BOUND[1]
    # The bound is what decides: without it the same counts pass.
    monkeypatch.setattr(host, "WORK_BOUND", (10**9, 10**9))
    run.not_vectorized = None
    sb._judge_work(run, SCALES)
    assert run.not_vectorized is None


def test_a_loop_padded_to_the_old_fixed_sizes_is_wrong_at_the_drawn_ones(sb):
    run = _measured(sb, "padded_short")
    exercise = REGISTRY["insert_zeros"]
    assert grader._scaling_problem(exercise, run, (), SCALES, 1) == "its result on the size-scaling input is wrong"
    # ... and right at the sizes the check used to compare: that is how it kept full marks.
    fixed = sb.run("padded_short", [], (), _scaling("insert_zeros", host.SCALES))
    assert fixed.not_vectorized is None and fixed.vector_error is None
    assert grader._scaling_problem(exercise, fixed, (), host.SCALES) is None


def test_a_plain_loop_is_not_run_at_the_large_sizes(sb):
    # The medium size shows it: the large calls, which a loop would spend seconds on, are not made.
    run = _measured(sb, "padded_free_loop")
    assert "grows with the input" in run.not_vectorized
    assert sorted(run.scaling) == sorted(SCALES[:2])


@pytest.mark.parametrize("name", ["rows_in_c", "rows_unseen_by_modes"])
def test_loops_no_mode_or_trace_sees_are_counted_at_the_dispatcher(sb, name):
    run = _measured(sb, name)
    assert "grows with the input" in (run.not_vectorized or ""), run
    assert run.vector_error is None


# --- TorchScript ---------------------------------------------------------------------------

SCRIPT = "def f(x):\n    for i in range(x.shape[2]):\n        x = x + 1\n    return x\n"
TORCHSCRIPT = {
    "jit.CompilationUnit": f"torch.jit.CompilationUnit({SCRIPT!r}).f(x)",
    "_C.CompilationUnit": f"torch._C.CompilationUnit({SCRIPT!r}).f(x)",
    "jit._script.CompilationUnit": f"torch.jit._script.CompilationUnit({SCRIPT!r})",
    "jit.script from linecache": (
        "import linecache\nlinecache.cache['<s>'] = (len(SRC), None, SRC.splitlines(True), '<s>')\n"
        "ns = {'__name__': 'scripted'}\nexec(compile(SRC, '<s>', 'exec'), ns)\ntorch.jit.script(ns['f'])(x)"),
    "_jit_script_compile by its module": "torch.jit._script.torch._C._jit_script_compile('f', None, None, None)",
    "jit.trace": "torch.jit.trace(lambda t: t * 2, (x,))(x)",
    "interpret a graph": "torch._C._jit_interpret_graph(torch._C.parse_ir('graph(%a : Tensor):\\n  return (%a)'), (x,))",
    "function from graph": "torch._C._create_function_from_graph('f', torch._C.parse_ir('graph(%a : Tensor):\\n  return (%a)'))",
    "load a module": "torch.jit.load(__import__('io').BytesIO(b'PK'))",
    "ScriptFunction.__call__": "torch._C.ScriptFunction.__call__(None, x)",
    "jit.fork": "torch.jit.wait(torch.jit.fork(lambda t: t, x))",
}


@pytest.mark.parametrize("route", sorted(TORCHSCRIPT))
def test_torchscript_is_refused_by_every_name(sb, route):
    run = sb.run(_attempt(route), [((torch.ones(1, 1, 3, 3),), {})], ())
    assert "TorchScript" in (run.outcomes[0].tampered or ""), (route, run.outcomes[0])


def test_no_module_keeps_a_way_to_the_compiler():
    # What the sandbox's supervisor does (measure.prepare), in a fresh interpreter: no
    # module's namespace holds an original TorchScript or profiler entry point afterwards.
    import subprocess

    here = Path(__file__).resolve().parents[1] / "autograder" / "sandbox"
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(here)!r})
        import torch, torch._dynamo, measure
        originals = {{id(getattr(torch._C, n)) for n in ("_jit_script_compile", "CompilationUnit",
                      "_create_function_from_trace", "_jit_interpret_graph", "import_ir_module_from_buffer")}}
        originals |= {{id(getattr(torch._C._autograd, n)) for n in ("_disable_profiler", "_enable_profiler",
                       "_enable_record_function", "_clear_callbacks")}}
        measure.prepare()
        found = [(m, k) for m, mod in list(sys.modules.items()) for k, v in list(getattr(mod, "__dict__", {{}}).items())
                 if id(v) in originals]
        print(found)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


# --- the meter's own machinery ---------------------------------------------------------------

METER = {
    "stop the profiler": "torch.autograd._disable_profiler()",
    "a profiler of its own": "torch.profiler.profile().__enter__()",
    "record functions off": "torch._C._autograd._enable_record_function(False)",
    "callbacks cleared": "torch._C._autograd._clear_callbacks()",
    "redispatch": "torch.ops.aten.mul.Tensor.redispatch(torch._C.DispatchKeySet(torch._C.DispatchKey.CPU), x, x)",
    "_op_dk": "torch.ops.aten.mul.Tensor._op_dk(torch._C.DispatchKey.CPU, x, x)",
    "_op_dk of a new overload": "torch.ops.aten.lgamma.out._op_dk(torch._C.DispatchKey.CPU, x, out=x)",
    "_op_dk from the C side": "torch._C._get_operation_overload('aten::mul', 'Tensor')[1](torch._C.DispatchKey.CPU, x, x)",
    "a kernel by its key": ("torch._C._dispatch_get_computed_kernel_for_dispatch_key('aten::mul.Tensor', "
                            "torch._C.DispatchKey.CPU).call_boxed(torch._C.DispatchKeySet(torch._C.DispatchKey.CPU), x, x)"),
}


@pytest.mark.parametrize("route", sorted(METER))
def test_the_counters_cannot_be_stopped_or_passed_by(sb, route):
    run = sb.run(_attempt(route), [((torch.ones(1, 1, 3, 3),), {})], (), _scaling("insert_zeros", host.SCALES))
    for outcome in [run.outcomes[0], *run.scaling.values()]:  # the size-scaling calls too
        assert "profiler" in (outcome.tampered or ""), (route, outcome)


def test_the_meter_fails_closed_when_its_session_or_tracer_changes():
    # measure.Meter in this process, with torch's real profiler (measure.prepare is not run
    # here: it would take the entry points away from the rest of the tests).
    from torch._C import _autograd

    measure, private = _measure_module(), _private()
    old = sys.gettrace()
    meter = measure.Meter(private)  # installs its tracer
    x = torch.ones(3)

    def measured(body):
        meter.start()
        try:
            body()
        finally:
            work = meter.stop()
        return work

    try:
        def body():
            y = x * 2
            return y.sum()

        ops, lines = measured(body)
        assert ops >= 2 and lines - measured(lambda: None)[1] == 1  # two lines where the lambda has one

        def restart():  # a fresh session, as if the student stopped ours and started another
            _autograd._disable_profiler()
            _autograd._prepare_profiler(private["config"], private["activities"])
            _autograd._enable_profiler(private["config"], private["activities"])

        assert measured(restart) is None
        assert measured(lambda: _autograd._disable_profiler()) is None
        tracer = sys.gettrace()
        assert measured(lambda: sys.settrace(lambda *a: None)) is None
        sys.settrace(tracer)
        assert measured(body) == (ops, lines)  # intact again: counts again
    finally:
        sys.settrace(old)


def test_large_size_scaling_results_are_compared_at_sampled_positions():
    from autograder.sandbox.host import Outcome

    exercise = REGISTRY["insert_zeros"]
    case = exercise.scaling_case((2, 300, 2))
    right = convlab.insert_zeros(*case.args)
    assert right.numel() > grader._SAMPLED
    assert grader._sampled_match(exercise, case, Outcome(value=right.clone()), 5)
    wrong = right.clone()
    wrong[..., 1::2, :] = 7.0  # every other row wrong: no sample of this size misses them all
    assert not grader._sampled_match(exercise, case, Outcome(value=wrong), 5)
    assert not grader._sampled_match(exercise, case, Outcome(value=right[:1]), 5)  # shape: judged in full
    assert not grader._sampled_match(exercise, case, Outcome(value=right.float()), 5)  # dtype likewise
    assert grader._scaling_problem(exercise, _run_with({(2, 300, 2): wrong}), (), [(2, 300, 2)], 5,
                                   {(2, 300, 2): case}) == "its result on the size-scaling input is wrong"


def _run_with(values: dict):
    from autograder.sandbox.host import ExerciseRun, Outcome

    run = ExerciseRun("insert_zeros", [])
    run.scaling = {scale: Outcome(value=value, work=(1, 1)) for scale, value in values.items()}
    return run


def test_lines_of_code_equal_to_torchs_but_compiled_by_the_answer_are_counted():
    import types

    measure = _measure_module()
    source = "def f():\n    x = 1\n    return x\n"
    own = compile(source, "torch/functional.py", "exec").co_consts[0]  # "torch's"
    twin = compile(source, "elsewhere.py", "exec").co_consts[0]  # the answer's
    assert own == twin and own is not twin  # code objects compare by value, not by file
    private = _private()
    private["library"] = {own: own}
    old = sys.gettrace()
    meter = measure.Meter(private)
    try:
        counted = []
        for code in (own, twin):
            meter.start()
            types.FunctionType(code, {})()
            counted.append(meter.stop()[1])
    finally:
        sys.settrace(old)
    assert counted[1] - counted[0] == 2  # the twin's two lines; none of torch's own
    assert measure._library_code(("json",)).get(_json_dumps_code()) is _json_dumps_code()


def _json_dumps_code():
    import json

    return json.dumps.__code__


def _measure_module():
    sys.path.insert(0, str(Path(host.__file__).parent))
    try:
        import measure
    finally:
        sys.path.pop(0)
    return measure


def _private() -> dict:
    """What measure.prepare returns, without taking torch's entry points away from this
    process (the rest of the tests need them)."""
    from torch._C import _autograd, _profiler

    private = {name: getattr(_autograd, name) for name in ("_prepare_profiler", "_enable_profiler",
                                                           "_disable_profiler", "_profiler_enabled")}
    private["config"] = _profiler.ProfilerConfig(_profiler.ProfilerState.KINETO, False, False, False, False,
                                                 False, _profiler._ExperimentalConfig())
    private["activities"] = {_profiler.ProfilerActivity.CPU}
    private["record"] = (_autograd._record_function_with_args_enter, _autograd._record_function_with_args_exit)
    private["settrace"], private["gettrace"] = sys.settrace, sys.gettrace
    return private

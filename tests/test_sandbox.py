"""The sandbox survives hostile answer cells; each costs only the calls it touches.

Every test builds a ``Sandbox`` over its own cells; all of them share one zygote (one
torch import), and each run is a cheap fork of it.
"""
from __future__ import annotations

import io
import os
import pickle
import textwrap
import time

import pytest
import torch

import convlab
from autograder.sandbox import (
    Cell,
    Limits,
    Opaque,
    Sandbox,
    _decode,
    _encode,
    _HEADER,
    scan_source,
)
from convlab.checks import REGISTRY

pytestmark = pytest.mark.slow

LIMITS = Limits(cell_seconds=2, case_seconds=1.5, memory_mb=300, max_hangs=2)
CONV = ("conv", "unfold")

GOOD = '''
def corr2d(x, kernel):
    h, w = kernel.shape
    out = x.new_zeros((x.shape[0] - h + 1, x.shape[1] - w + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (x[i:i + h, j:j + w] * kernel).sum()
    return out
'''


def _calls(count=3):
    gen = torch.Generator().manual_seed(7)
    return [((torch.randn(5, 6, generator=gen, dtype=torch.float64),
              torch.randn(2, 3, generator=gen, dtype=torch.float64)), {}) for _ in range(count)]


CALLS = _calls()


def sandbox(*sources: str, limits: Limits = LIMITS) -> Sandbox:
    return Sandbox([Cell(i, f"#{i}", textwrap.dedent(s)) for i, s in enumerate(sources)], limits)


def run(sources, name="corr2d", calls=CALLS, families=CONV, **kwargs):
    sources = (sources,) if isinstance(sources, str) else sources
    with sandbox(*sources, **kwargs) as sb:
        return sb.run(name, calls, families), sb


def assert_correct(result, calls=CALLS):
    assert len(result.outcomes) == len(calls)
    for outcome, (args, _) in zip(result.outcomes, calls):
        assert outcome is not None and outcome.error is None and outcome.forbidden is None, outcome
        torch.testing.assert_close(outcome.value, convlab.corr2d(*args))


# --- ordinary answers ------------------------------------------------------------------

def test_correct_answer_comes_back_exactly():
    result, _ = run(GOOD)
    assert_correct(result)
    assert result.missing is None and result.tampered is None and result.imported is None


def test_stderr_prints_and_warnings_do_not_reach_the_grader(capfd):
    noisy = GOOD.replace("    return out", """    import sys, warnings
    print("debugging", out.shape)
    print("to stderr", file=sys.stderr)
    warnings.warn("a warning from a correct answer")
    return out""")
    result, _ = run(("import sys\nprint('top level', file=sys.stderr)", noisy))
    assert_correct(result)
    assert "to stderr" in result.output and "a warning from a correct answer" in result.output
    captured = capfd.readouterr()
    assert "to stderr" not in captured.err + captured.out


def test_ipython_magics_run_as_no_ops():
    result, _ = run(("get_ipython().run_line_magic('timeit', 'corr2d(x, k)')", GOOD))
    assert_correct(result)


def test_syntax_error_costs_only_its_cell():
    broken = "def helper(:\n    pass\n"
    result, sb = run((broken, GOOD))
    assert_correct(result)
    assert "SyntaxError" in result.cell_errors[0]
    other, _ = run((broken, GOOD), name="helper")
    assert other.missing == "is not defined"


@pytest.mark.parametrize("source, missing", [
    ("def corr2D(x, kernel):\n    return x\n", "is not defined"),
    ("corr2d = 3\n", "is a int, not a function"),
])
def test_missing_or_uncallable_function(source, missing):
    result, _ = run(source)
    assert result.missing == missing
    assert result.outcomes == [None] * len(CALLS)


def test_wrong_signature_is_the_students_error():
    result, _ = run("def corr2d(x):\n    return x\n")
    assert all(o.error.startswith("TypeError") for o in result.outcomes)


def test_returned_values_keep_type_dtype_device_and_nan():
    source = '''
    import numpy as np

    class Mine(torch.Tensor):
        pass

    def corr2d(x, kernel):
        if x.shape == (1, 1):
            return np.zeros(2)
        if x.shape == (1, 2):
            return np.int64(4), [torch.ones(1)], None, "text"
        if x.shape == (1, 3):
            return torch.full((2, 2), float("nan"), dtype=torch.float32)
        return torch.zeros(3).as_subclass(Mine).requires_grad_()
    '''
    calls = [((torch.zeros(1, n), torch.ones(1, 1)), {}) for n in (1, 2, 3, 4)]
    result, _ = run(source, calls=calls)
    array, mixed, nan, sub = (o.value for o in result.outcomes)
    assert isinstance(array, Opaque) and type(array).__name__ == "ndarray"
    assert "array([0., 0.])" in repr(array)
    assert mixed[0] == 4 and type(mixed[0]) is int and mixed[2:] == (None, "text")
    torch.testing.assert_close(mixed[1], [torch.ones(1)])
    assert nan.dtype == torch.float32 and torch.isnan(nan).all()
    assert type(sub) is torch.Tensor and not sub.requires_grad


# --- hangs, crashes, memory ------------------------------------------------------------

def test_infinite_loop_in_the_function_times_out_and_gives_up():
    start = time.monotonic()
    result, _ = run("def corr2d(x, kernel):\n    while True:\n        pass\n")
    assert "did not finish within 1.5 s" in result.outcomes[0].failure
    assert "did not finish" in result.outcomes[1].failure
    assert result.outcomes[2] is None  # given up after max_hangs
    assert time.monotonic() - start < 15


def test_infinite_loop_only_on_some_inputs_costs_only_those_calls():
    source = GOOD.replace("    h, w = kernel.shape", "    while x[0, 0] > 100:\n        pass\n    h, w = kernel.shape")
    calls = list(CALLS)
    calls[1] = ((torch.full((5, 6), 101.0, dtype=torch.float64), calls[1][0][1]), {})
    result, _ = run(source, calls=calls)
    assert "did not finish" in result.outcomes[1].failure
    for k in (0, 2):
        torch.testing.assert_close(result.outcomes[k].value, convlab.corr2d(*calls[k][0]))


def test_top_level_infinite_loop_that_catches_everything_is_left_out():
    hang = """
    while True:
        try:
            pass
        except BaseException:
            pass
    """
    after = "def later(x, kernel):\n    return x.sum()\n"
    with sandbox(GOOD, hang, after) as sb:
        assert_correct(sb.run("corr2d", CALLS, CONV))
        assert "did not finish within 2 s" in sb.cell_problems[1]
        start = time.monotonic()
        result = sb.run("later", CALLS, CONV)
        assert time.monotonic() - start < 1.5  # the hanging cell is not run again
        assert [o.value.item() for o in result.outcomes] == [args[0].sum().item() for args, _ in CALLS]


@pytest.mark.parametrize("body, expect", [
    ("import os\n    os._exit(3)", "exit status 3"),
    ("import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)", "SIGKILL"),
    ("import os, signal\n    os.kill(os.getpid(), signal.SIGSEGV)", "SIGSEGV"),
])
def test_function_that_ends_the_process(body, expect):
    result, _ = run(f"def corr2d(x, kernel):\n    {body}\n")
    assert all(expect in o.failure for o in result.outcomes), result.outcomes


def test_sys_exit_is_an_error_not_an_ending():
    result, _ = run(("import sys\nsys.exit('top level')", "import sys\ndef corr2d(x, kernel):\n    sys.exit(1)\n"))
    assert "SystemExit" in result.cell_errors[0]
    assert all(o.error.startswith("SystemExit") for o in result.outcomes)


def test_top_level_os_exit_is_left_out():
    with sandbox("import os\nos._exit(0)", GOOD) as sb:
        assert_correct(sb.run("corr2d", CALLS, CONV))
        assert "ended the process" in sb.cell_problems[0]


@pytest.mark.parametrize("body, expect", [
    ("return torch.empty(10**11)", "can't allocate memory"),
    ("hoard = []\n    while True:\n        hoard.append(bytearray(10**6))", "MemoryError"),
    ("hoard = []\n    while True:\n        hoard.append(list(range(1000)))", "MemoryError"),
])
def test_memory_bomb(body, expect):
    result, _ = run(f"def corr2d(x, kernel):\n    {body}\n", calls=CALLS[:1])
    assert expect in result.outcomes[0].error


def test_killing_the_sandbox_costs_only_that_call():
    killer = "import os, signal\ndef corr2d(x, kernel):\n    os.kill(os.getppid(), signal.SIGKILL)\n    return x\n"
    with sandbox(killer, GOOD.replace("corr2d", "good")) as sb:
        result = sb.run("corr2d", CALLS[:1], CONV)
        outcome = result.outcomes[0]
        # With Landlock's signal scope the kill is refused; without it the zygote dies.
        assert (outcome.error or "").startswith("PermissionError") or "ended the sandbox" in outcome.failure
        good = sb.run("good", CALLS, CONV)
    assert all(o.error is None for o in good.outcomes)


# --- what may not cross into the grader ------------------------------------------------

class _Exploit:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_grader_never_unpickles_arbitrary_objects(tmp_path):
    buffer = io.BytesIO()
    pickle.dump(("case_done", 0, "value", _Exploit(str(tmp_path / "pwned"))), buffer)
    with pytest.raises(Exception):
        _decode(buffer.getvalue())
    assert not (tmp_path / "pwned").exists()
    assert _decode(_encode(("ok", torch.ones(2)))[_HEADER.size:])[0] == "ok"


def test_a_forged_message_in_the_channel_costs_only_that_call(tmp_path):
    marker = tmp_path / "pwned"
    forger = f'''
    import os, pickle, struct

    class Exploit:
        def __reduce__(self):
            return (os.mkdir, ({str(marker)!r},))

    def corr2d(x, kernel):
        data = pickle.dumps(("case_done", 0, "value", Exploit()))
        frame = struct.pack("<Q", len(data)) + data
        for fd in range(3, 40):
            try:
                os.write(fd, frame)
            except OSError:
                pass
        return x
    '''
    with sandbox(forger, GOOD.replace("corr2d", "good")) as sb:
        result = sb.run("corr2d", CALLS[:1], CONV)
        assert "garbage" in result.outcomes[0].failure
        good = sb.run("good", CALLS, CONV)
    assert not marker.exists()
    assert all(o.error is None for o in good.outcomes)


@pytest.mark.parametrize("forgery", [
    '("exit", os.getpid(), 0)',  # the zygote's word, on the children's channel
    '("case_done",)',  # malformed
    '("end", "done early")',  # a well-formed lie: the run is over
])
def test_forged_frames_cannot_end_a_run_early_or_leak_into_the_next(forgery):
    forger = f"""
    import io, os, struct

    def corr2d(x, kernel):
        buffer = io.BytesIO()
        torch.save({forgery}, buffer)
        frame = struct.pack("<Q", len(buffer.getvalue())) + buffer.getvalue()
        half = struct.pack("<Q", 10**8) + b"xx"  # a frame that never completes
        for fd in range(3, 40):
            try:
                os.write(fd, frame + half)
            except OSError:
                pass
        return x
    """
    with sandbox(forger, GOOD.replace("corr2d", "good")) as sb:
        result = sb.run("corr2d", CALLS[:2], CONV)
        good = sb.run("good", CALLS, CONV)
    assert all(o is None or o.value is None for o in result.outcomes)
    assert all(o.error is None for o in good.outcomes)
    torch.testing.assert_close(good.outcomes[0].value, convlab.corr2d(*CALLS[0][0]))


def test_writes_outside_the_scratch_folder_do_not_matter(tmp_path):
    outside = tmp_path / "escape.txt"
    writer = GOOD.replace("    return out", f'''    for path in ({str(outside)!r}, "../escape.txt", "scratch_is_fine.txt"):
        try:
            with open(path, "w") as f:
                f.write("hello")
        except OSError as exc:
            print("refused", path, exc)
    return out''')
    result, _ = run(writer)
    assert_correct(result)
    if result.landlocked:
        assert not outside.exists()
        assert "refused" in result.output and "scratch_is_fine" not in result.output


def test_monkeypatching_torch_changes_nothing_outside_the_child():
    patcher = '''
    torch.allclose = lambda *args, **kwargs: True
    torch.testing.assert_close = lambda *args, **kwargs: None
    torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)
    def corr2d(x, kernel):
        return torch.zeros(x.shape[0] - kernel.shape[0] + 1, x.shape[1] - kernel.shape[1] + 1, dtype=x.dtype)
    '''
    result, _ = run(patcher)
    assert not torch.allclose(result.outcomes[0].value, convlab.corr2d(*CALLS[0][0]))
    again, _ = run(GOOD)  # a new child forked from the same zygote: no patch left
    assert_correct(again)


# --- forbidden calls and tampering -------------------------------------------------------

@pytest.mark.parametrize("source, found", [
    ("def corr2d(x, kernel):\n    return F.conv2d(x[None, None], kernel[None, None])[0, 0]\n", "convolution"),
    ("from torch.nn.functional import conv2d as smooth\n"
     "def corr2d(x, kernel):\n    return smooth(x[None, None], kernel[None, None])[0, 0]\n", "convolution"),
    ("def corr2d(x, kernel):\n    f = getattr(F, 'con' + 'v2d')\n    return f(x[None, None], kernel[None, None])[0, 0]\n",
     "convolution"),
    ("def corr2d(x, kernel):\n    m = nn.Conv2d(1, 1, tuple(kernel.shape), bias=False).double()\n"
     "    return m(x[None, None])[0, 0].detach()\n", "convolution"),
    ("def corr2d(x, kernel):\n    return torch.ops.aten.convolution(x[None, None], kernel[None, None], None,"
     " [1, 1], [0, 0], [1, 1], False, [0, 0], 1)[0, 0]\n", "convolution"),
    ("def corr2d(x, kernel):\n    cols = getattr(F, 'un' + 'fold')(x[None, None], tuple(kernel.shape))\n"
     "    return (kernel.flatten() @ cols)[0]\n", "im2col"),
])
def test_forbidden_calls_are_seen_however_they_are_reached(source, found):
    result, _ = run(source)
    assert all(o.forbidden and found in o.forbidden for o in result.outcomes), result.outcomes


def test_plain_stride_one_conv_allowed_only_where_the_exercise_allows_it():
    source = "def corr2d(x, kernel):\n    return F.conv2d(x[None, None], kernel[None, None])[0, 0]\n"
    result, _ = run(source, families=("conv_except_plain", "unfold"))
    assert_correct(result)


@pytest.mark.parametrize("source, word", [
    ("import convlab\n", "convlab"),
    ("from convlab import corr2d\n", "convlab"),
    ("import importlib\nref = importlib.import_module('conv' + 'lab')\n", "importlib"),
    ("x = 'CONVLAB'\n", "CONVLAB"),
    ("from torch.utils._python_dispatch import _pop_mode\n", "_python_dispatch"),
    ("from torch.utils import _python_dispatch as d\n", "_python_dispatch"),
    ("class M(torch.utils._python_dispatch.TorchDispatchMode):\n    pass\n", "TorchDispatchMode"),
    ("def __torch_dispatch__(*a):\n    pass\n", "__torch_dispatch__"),
    ("import sys\nsys.settrace(None)\n", "settrace"),
    ("import threading\n", "threading"),
    ("import subprocess\n", "subprocess"),
    ("exec('x = 1')\n", "exec"),
    ("torch._C._set_dispatch_mode(None)\n", "dispatch"),
    ("guard = torch._C\n", "_C"),
])
def test_static_scan_flags_the_guards_machinery(source, word):
    problem = scan_source(source)
    assert problem is not None and word in problem


@pytest.mark.parametrize("source", [
    '"""Unlike convlab.corr2d, this docstring may mention the library."""\n',
    "def f(x):\n    '''Same as convlab.conv2d.'''\n    # convlab's version is faster\n    return x\n",
    "import math\nimport torch.nn.functional as F\nout = F.pad(torch.ones(2, 2), (1, 1)).unfold(0, 2, 1)\n",
    "def broken(:\n",  # judged when it runs, not here
])
def test_static_scan_leaves_ordinary_code_alone(source):
    assert scan_source(source) is None


def test_flagged_cells_never_run():
    flagged = "import convlab\ncorr2d = convlab.corr2d\n"
    with sandbox(flagged, GOOD.replace("corr2d", "good")) as sb:
        assert "convlab" in sb.cell_problems[0]
        assert sb.run("corr2d", CALLS, CONV).missing == "is not defined"
        assert all(o.error is None for o in sb.run("good", CALLS, CONV).outcomes)


def test_reference_library_cannot_be_imported_at_run_time():
    sneaky = ("import builtins\ndef corr2d(x, kernel):\n"
              "    ref = builtins.__dict__['__imp' + 'ort__']('conv' + 'lab')\n    return ref.corr2d(x, kernel)\n")
    result, _ = run(sneaky)
    assert all(o.error.startswith("ImportError") and "convlab" in o.error for o in result.outcomes)


def test_popping_the_guard_off_the_stack_is_seen():
    sneaky = '''
    def corr2d(x, kernel):
        tools = getattr(torch.utils, "_python_" + "dis" + "patch")
        getattr(tools, "_pop_" + "mode")()
        return F.conv2d(x[None, None], kernel[None, None])[0, 0]
    '''
    result, _ = run(sneaky)
    assert "took the forbidden-call guard off" in result.tampered


def test_replacing_the_guard_is_seen():
    sneaky = '''
    import sys
    guards = sys.modules["_sandbox_" + "guards"]
    setattr(guards.ForbiddenCalls, "__torch_" + "dis" + "patch__",
            lambda self, func, types, args=(), kwargs=None: func(*args, **(kwargs or {})))

    def corr2d(x, kernel):
        return F.conv2d(x[None, None], kernel[None, None])[0, 0]
    '''
    result, _ = run(sneaky)
    assert "ForbiddenCalls.__torch_dispatch__" in result.tampered


# --- the vectorization check ---------------------------------------------------------------

def test_vectorization_check_runs_in_the_sandbox():
    exercise = REGISTRY["insert_zeros"]
    small = exercise.scaling_case(1)
    scaling = {scale: (case.args, case.kwargs) for scale, case in
               ((s, exercise.scaling_case(s)) for s in range(1, 9))}
    vectorized = '''
    def insert_zeros(x, stride):
        n, c, h, w = x.shape
        out = x.new_zeros((n, c, (h - 1) * stride + 1, (w - 1) * stride + 1))
        out[:, :, ::stride, ::stride] = x
        return out
    '''
    loops = '''
    def insert_zeros(x, stride):
        n, c, h, w = x.shape
        out = x.new_zeros((n, c, (h - 1) * stride + 1, (w - 1) * stride + 1))
        for i in range(h):
            for j in range(w):
                out[:, :, i * stride, j * stride] = x[:, :, i, j]
        return out
    '''
    calls = [(small.args, small.kwargs)]
    with sandbox(vectorized, limits=LIMITS) as sb:
        good = sb.run("insert_zeros", calls, (), scaling)
    with sandbox(loops, limits=LIMITS) as sb:
        slow = sb.run("insert_zeros", calls, (), scaling)
    assert good.not_vectorized is None and good.vector_error is None
    assert "grows with the input" in slow.not_vectorized
    torch.testing.assert_close(slow.outcomes[0].value, convlab.insert_zeros(*small.args))

"""The sandbox (autograder/sandbox): answers run in bubblewrap, values come back sealed,
and every attack a student might try on the machinery costs only that student's exercise.

Each test is an attack or a failure a submission can cause; the grader-level versions of
the same attacks are example students (autograder/examples/students/sandbox_breaker.py).
"""
from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest
import torch

import convlab
from autograder.sandbox import Cell, IsolationUnavailable, Limits, Opaque, Sandbox, launcher, scan_source, wire
from convlab.checks import REGISTRY

pytestmark = pytest.mark.slow

LIMITS = Limits(cell_seconds=3, case_seconds=3, memory_mb=300, max_hangs=2, startup_seconds=120)
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
    assert result.missing is None and result.tampered is None and result.forged == 0
    assert result.isolated


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


def test_modules_not_yet_imported_import_inside_the_sandbox():
    # The standard library and torch's lazily imported parts are readable by the sandbox's
    # own user: a correct answer may import what it likes (fractions, torch.fx, ...).
    lazy = GOOD.replace("    return out", """    import fractions, statistics
    assert fractions.Fraction(1, 2) == statistics.mean([0, 1])
    t = x.detach().clone().requires_grad_(True)
    y = t * 2
    (g,) = torch.autograd.grad(y, t, grad_outputs=torch.ones_like(y))  # imports sympy, lazily
    y = t * 3
    y.backward(torch.ones_like(y))
    assert torch.equal(torch.func.grad(lambda v: (v * g).sum())(t.detach()), g)
    return out""")
    result, _ = run(("import torch", lazy))
    assert_correct(result)


def test_numpy_scalars_cross_as_python_numbers():
    import numpy as np

    sent = [np.bool_(True), np.False_, np.int64(7), np.float32(0.5), np.array(3)[()]]
    assert wire.from_plain(wire.to_plain(sent), lambda device: True) == [True, False, 7, 0.5, 3]
    assert [type(v) for v in wire.from_plain(wire.to_plain(sent), lambda d: True)] == [bool, bool, int, float, int]


def test_tensors_keep_a_transposed_or_channels_last_layout_across():
    import marshal

    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    for sent in (x, x.transpose(2, 3), x.to(memory_format=torch.channels_last), torch.randn(4, 6).t(),
                 x[:, :, ::2]):
        back = wire.from_plain(marshal.loads(marshal.dumps(wire.to_plain(sent))), lambda d: True)
        assert torch.equal(back, sent)
        assert back.stride() == (sent.stride() if wire.memory_order(sent) is not None or sent.is_contiguous()
                                 else sent.contiguous().stride())
        assert torch.equal(wire.from_json(wire.to_json(sent)), sent)
    bad = wire.to_plain(x.transpose(2, 3))
    bad[wire._TENSOR] = (*bad[wire._TENSOR][:4], (0, 0, 1, 2))  # not a permutation: refused
    with pytest.raises(ValueError):
        wire.from_plain(bad)


_STEAL_FRAMES = """
import sys
import torch
from torch._dynamo.types import ConvertFrameReturn

def _spy(frame, *rest):
    try:
        SEEN.append(frame.f_code.co_name + ":" + ",".join(sorted(frame.f_locals)))
    except BaseException as exc:
        SEEN.append(repr(exc))
    return ConvertFrameReturn()

SEEN = []

def corr2d(x, kernel):
    HOOK
    return x[:1, :1] * 0 + len(SEEN)
"""


@pytest.mark.parametrize("hook, refused", [
    ("torch._C._dynamo.eval_frame.set_eval_frame(_spy)", "frame hooks"),  # every later frame
    ("torch._dynamo.eval_frame.set_eval_frame(_spy)", "frame hooks"),  # imported elsewhere
    ("getattr(torch._C._dynamo.eval_frame, 'set_bytecode_debugger_callback')(_spy)", "frame hooks"),
    ("getattr(torch._C._dynamo.eval_frame, 'set_guard_error_hook')(_spy)", "frame hooks"),
    ("getattr(torch._C._dynamo.eval_frame, '_get_frame_value_stack_with_depth')(2)", "frame hooks"),
    ("torch.compile(lambda v: v + 1)(x)", "__defaults__"),  # its lazy imports are refused first
])
def test_torchs_frame_hooks_are_refused(hook, refused):
    result, _ = run(_STEAL_FRAMES.replace("HOOK", hook))
    outcome = result.outcomes[0]
    assert outcome.value is None and refused in (outcome.tampered or ""), outcome


def test_disabling_dynamo_still_works_in_the_sandbox():
    # torch.func and torch.compiler.disable clear the callback: nothing to refuse.
    calm = GOOD.replace("    return out", """    import torch
    torch.compiler.disable(lambda: None)()
    assert torch.equal(torch.func.grad(lambda v: (v * v).sum())(x[0]), 2 * x[0])
    return out""")
    result, _ = run(calm)
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
    assert f"did not finish within {LIMITS.case_seconds:g} s" in result.outcomes[0].failure
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
        assert f"did not finish within {LIMITS.cell_seconds:g} s" in sb.cell_problems[1]
        start = time.monotonic()
        result = sb.run("later", CALLS, CONV)
        assert time.monotonic() - start < 3  # the hanging cell is not run again
        assert [o.value.item() for o in result.outcomes] == [args[0].sum().item() for args, _ in CALLS]


@pytest.mark.parametrize("body, expect", [
    ("import os\n    os._exit(3)", "exit status 3"),
    ("import ctypes\n    ctypes.string_at(0)", "ctypes"),  # refused before it can crash
])
def test_function_that_ends_the_process(body, expect):
    result, _ = run(f"def corr2d(x, kernel):\n    {body}\n", calls=CALLS[:2])
    assert all(expect in (o.failure or o.error or o.tampered or "") for o in result.outcomes), result.outcomes


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




# --- what the sandbox can see and reach ---------------------------------------------------

PEEK = '''
import os

def corr2d(x, kernel):
    seen = []
    for path in (bytes.fromhex(h).decode() for h in PATHS):  # hex: the source scan is a courtesy, not a wall
        try:
            if os.path.isdir(path):
                seen.append((path, sorted(os.listdir(path))[:20]))
            else:
                with open(path, "rb") as f:
                    seen.append((path, f.read(200)))
        except Exception as exc:
            seen.append((path, type(exc).__name__))
    return seen
'''


def test_the_course_and_the_machine_are_not_there(tmp_path):
    root = Path(convlab.__file__).resolve().parents[2]
    other = tmp_path / "other_student.ipynb"
    other.write_text("the other student's answers")
    hidden = [str(root), str(root / "solutions"), str(root / "autograder" / "hidden_cases" / "__init__.py"),
              str(Path(convlab.__file__)), str(other), str(tmp_path), "/etc/passwd"]
    refused = ["/proc/1/cmdline", "/proc/self/mem", "/proc/1/environ"]
    result, _ = run(f"PATHS = {[p.encode().hex() for p in hidden + refused]!r}\n" + PEEK, calls=CALLS[:1])
    outcome = result.outcomes[0]
    # Reading /proc is refused (an attempt: the exercise scores 0); the rest is simply absent.
    assert outcome.tampered and "opening /proc" in outcome.tampered
    result, _ = run(f"PATHS = {[p.encode().hex() for p in hidden]!r}\n" + PEEK, calls=CALLS[:1])
    seen = dict(result.outcomes[0].value)
    binds = launcher._python_dirs() + launcher.package_dirs()
    for path in hidden:
        if isinstance(seen[path], list):
            # A folder above a bind (the repository above the venv) lists that way in alone.
            assert all(any(b == f"{path}/{e}" or b.startswith(f"{path}/{e}/") for b in binds)
                       for e in seen[path]), (path, seen[path])
        else:
            assert seen[path] in ("FileNotFoundError", "PermissionError"), (path, seen[path])


def test_no_network():
    probe = '''
    def corr2d(x, kernel):
        import urllib.request
        urllib.request.urlopen("http://127.0.0.1:1", timeout=2)
        return x
    '''
    result, _ = run(probe, calls=CALLS[:1])
    outcome = result.outcomes[0]
    assert outcome.value is None and (outcome.tampered or outcome.error), outcome


def test_sandboxes_share_nothing():
    writer = '''
    def corr2d(x, kernel):
        with open("/tmp/left_behind.txt", "w") as f:
            f.write("from the first student")
        return [1]
    '''
    reader = '''
    import os
    def corr2d(x, kernel):
        return [os.path.exists("/tmp/left_behind.txt")]
    '''
    first, _ = run(writer, calls=CALLS[:1])
    second, _ = run(reader, calls=CALLS[:1])
    assert first.outcomes[0].value == [1] and second.outcomes[0].value == [False]


def test_scratch_space_is_capped_and_the_run_goes_on():
    filler = GOOD.replace("    return out", '''    import os
    n = 0
    try:
        while True:
            with open(f"/tmp/fill{n}", "wb") as f:
                f.write(b"x" * 2**20)
            n += 1
    except OSError as exc:
        for k in range(n + 1):  # make room for the output file, then say how far it got
            if os.path.exists(f"/tmp/fill{k}"):
                os.remove(f"/tmp/fill{k}")
        print("full after", n, "MiB:", type(exc).__name__)
    return out''')
    result, _ = run(filler, calls=CALLS[:1])
    assert_correct(result, CALLS[:1])
    written = int(result.output.split("full after")[1].split()[0])
    assert written <= LIMITS.scratch_mb


# --- forbidden ops, however they are reached ---------------------------------------------

@pytest.mark.parametrize("source, found", [
    ("def corr2d(x, kernel):\n    return F.conv2d(x[None, None], kernel[None, None])[0, 0]\n", "conv2d"),
    ("from torch.nn.functional import conv2d as smooth\n"
     "def corr2d(x, kernel):\n    return smooth(x[None, None], kernel[None, None])[0, 0]\n", "conv2d"),
    ("def corr2d(x, kernel):\n    f = getattr(F, 'con' + 'v2d')\n    return f(x[None, None], kernel[None, None])[0, 0]\n",
     "conv2d"),
    ("def corr2d(x, kernel):\n    m = nn.Conv2d(1, 1, tuple(kernel.shape), bias=False).double()\n"
     "    return m(x[None, None])[0, 0].detach()\n", "conv2d"),
    ("def corr2d(x, kernel):\n    return torch.ops.aten.convolution(x[None, None], kernel[None, None], None,"
     " [1, 1], [0, 0], [1, 1], False, [0, 0], 1)[0, 0]\n", "convolution"),
    ("def corr2d(x, kernel):\n    return torch.ops.aten._convolution(x[None, None], kernel[None, None], None,"
     " [1, 1], [0, 0], [1, 1], False, [0, 0], 1, False, False, True, True)[0, 0]\n", "_convolution"),
    ("def corr2d(x, kernel):\n    return torch.ops.aten.mkldnn_convolution(x[None, None].float(), "
     "kernel[None, None].float(), None, [0, 0], [1, 1], [1, 1], 1)[0, 0].double()\n", "mkldnn_convolution"),
    ("def corr2d(x, kernel):\n    return torch._C._nn.thnn_conv2d(x[None, None], kernel[None, None], "
     "list(kernel.shape))[0, 0]\n", "thnn_conv2d"),
    ("def corr2d(x, kernel):\n    with torch._C._DisableTorchDispatch():\n"
     "        return F.conv2d(x[None, None], kernel[None, None])[0, 0]\n", "conv2d"),
    ("import threading\n"
     "def corr2d(x, kernel):\n    box = []\n"
     "    def work():\n        try:\n            box.append(F.conv2d(x[None, None], kernel[None, None])[0, 0])\n"
     "        except Exception as exc:\n            box.append(exc)\n"
     "    t = threading.Thread(target=work)\n    t.start()\n    t.join()\n"
     "    if isinstance(box[0], Exception):\n        raise box[0]\n    return box[0]\n", "conv2d"),
    ("def corr2d(x, kernel):\n    cols = getattr(F, 'un' + 'fold')(x[None, None], tuple(kernel.shape))\n"
     "    return (kernel.flatten() @ cols)[0]\n", "im2col"),
])
def test_forbidden_ops_fail_however_they_are_reached(source, found):
    result, _ = run(source, calls=CALLS[:1])
    outcome = result.outcomes[0]
    assert outcome.value is None, "a forbidden op gave a value"
    assert (outcome.forbidden and found in outcome.forbidden) or outcome.tampered or outcome.error, outcome


_CORR_BY_AUTOGRAD = (
    "def corr2d(x, kernel):\n"
    "    h, w = x.shape[0] - kernel.shape[0] + 1, x.shape[1] - kernel.shape[1] + 1\n"
    "    probe = torch.zeros(h, w, dtype=x.dtype, requires_grad=True)\n"
    "    def tap_sum(p):\n"
    "        return sum((p * x[i:i + h, j:j + w]).sum() * kernel[i, j]\n"
    "                   for i in range(kernel.shape[0]) for j in range(kernel.shape[1]))\n"
    "    {route}\n")


@pytest.mark.parametrize("route", [
    "return torch.autograd.grad(tap_sum(probe), probe)[0]",
    "tap_sum(probe).backward()\n    return probe.grad",
    "return torch.func.grad(tap_sum)(probe.detach())",
    "return torch.func.vjp(tap_sum, probe.detach())[1](torch.ones((), dtype=x.dtype))[0]",
    "return torch.func.jacfwd(tap_sum)(probe.detach())",
    "import torch.autograd.forward_ad as ad\n"
    "    with ad.dual_level():\n"
    "        d = ad.make_dual(probe.detach(), torch.ones_like(probe))\n"
    "        return ad.unpack_dual(tap_sum(d)).tangent.expand(h, w)",
    "engine = type(torch.autograd.Variable._execution_engine)()\n"
    "    out = tap_sum(probe)\n"
    "    return engine.run_backward((out,), (torch.ones_like(out),), False, False, (probe,), False, False)[0]",
], ids=["autograd.grad", "backward", "func.grad", "func.vjp", "jacfwd", "forward_ad", "new engine"])
def test_autograd_is_refused_where_the_exercise_forbids_it(route):
    # corr2d's values are the gradient of sum(p * corr2d) w.r.t. p: autograd computes them.
    source = _CORR_BY_AUTOGRAD.format(route=route)
    result, _ = run(source, calls=CALLS[:1], families=("autograd",))
    outcome = result.outcomes[0]
    if "jacfwd" in route or "dual" in route:
        # Forward AD reaches torch.jit for its decompositions, which the sandbox refuses
        # (measure.prepare: TorchScript); the dual ops are refused too (forbid.DUAL_OP).
        assert outcome.value is None and (outcome.forbidden or outcome.error or outcome.tampered), outcome
        return
    assert outcome.value is None and outcome.forbidden and "torch.autograd" in outcome.forbidden, outcome
    if "jacfwd" not in route and "dual" not in route:  # forward AD's answers differ in shape
        result, _ = run(source, calls=CALLS[:1], families=CONV)
        torch.testing.assert_close(result.outcomes[0].value, convlab.corr2d(*CALLS[0][0]))


def test_the_sandboxs_plain_conv_raises_as_torch_does_where_the_kernel_is_larger_than_the_input():
    # The plain conv computed at the dispatcher replaces torch's kernel, and its shape check
    # with it: an answer (atrous_conv2d with a SAME padding too small for the dilated
    # filter) must crash as in the notebook, where its catalogued mistake is named by the
    # sizes in torch's message, not return an empty tensor.
    source = "def corr2d(x, kernel):\n    return F.conv2d(x[None, None], kernel[None, None])[0, 0]\n"
    x, kernel = torch.randn(3, 5, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    with pytest.raises(RuntimeError) as torch_error:
        torch.nn.functional.conv2d(x[None, None], kernel[None, None])
    result, _ = run(source, calls=[((x, kernel), {})], families=("conv_except_plain", "unfold"))
    outcome = result.outcomes[0]
    assert outcome.value is None and outcome.error.startswith(f"RuntimeError: {torch_error.value} (line "), outcome


def test_plain_stride_one_conv_allowed_only_where_the_exercise_allows_it():
    plain = "def corr2d(x, kernel):\n    return F.conv2d(x[None, None], kernel[None, None])[0, 0]\n"
    result, _ = run(plain, families=("conv_except_plain", "unfold"))
    assert_correct(result)
    padded = plain.replace("kernel[None, None])", "kernel[None, None], padding=1)")
    result, _ = run(padded, families=("conv_except_plain", "unfold"), calls=CALLS[:1])
    assert "padding=[1, 1]" in result.outcomes[0].forbidden
    dilated = plain.replace("kernel[None, None])", "kernel[None, None], dilation=2)")
    result, _ = run(dilated, families=("dilated_conv", "unfold"), calls=CALLS[:1])
    assert "dilation=[2, 2]" in result.outcomes[0].forbidden
    result, _ = run(padded, families=("dilated_conv", "unfold"), calls=CALLS[:1])
    torch.testing.assert_close(result.outcomes[0].value,
                               torch.nn.functional.conv2d(CALLS[0][0][0][None, None], CALLS[0][0][1][None, None],
                                                          padding=1)[0, 0])


# --- the machinery is out of reach ----------------------------------------------------------

@pytest.mark.parametrize("attack, refused", [
    ("import gc\n    return [len(gc.get_objects())]", "gc.get_objects"),
    ("try:\n        raise ValueError\n    except ValueError as e:\n        return [e.__traceback__.tb_frame]",
     "tb_frame"),
    ("def g():\n        yield 1\n    return [g().gi_frame]", "gi_frame"),
    ("import os\n    return [os.fork()]", "os.fork"),
    ("import subprocess\n    return [subprocess.run(['true']).returncode]", "subprocess"),
    ("import os\n    os.kill(1, 9)\n    return [1]", "os.kill"),
    ("import ctypes\n    return [ctypes.string_at(id(x), 8)]", "ctypes"),
    ("import sys\n    sys.settrace(None)\n    return [1]", None),
    ("f = lambda: 0\n    f.__code__ = (lambda: 1).__code__\n    return [f()]", "__code__"),
    ("import signal\n    signal.signal(signal.SIGALRM, print)\n    return [1]", None),
    ("import os\n    os.chdir('/proc')\n    return [1]", "os.chdir"),
    ("import socket\n    return [socket.socket()]", "socket"),
])
def test_reaching_for_the_machinery_is_refused_and_costs_the_exercise(attack, refused):
    result, _ = run(f"def corr2d(x, kernel):\n    {attack}\n", calls=CALLS[:1])
    outcome = result.outcomes[0]
    assert outcome.value is None, outcome
    if refused is None:
        assert outcome.error or outcome.tampered, outcome
    else:
        assert outcome.tampered and refused in outcome.tampered, outcome


def test_library_code_that_asks_for_frames_still_works():
    # torch.manual_seed formats a stack; namedtuple asks for its caller's module.
    source = GOOD.replace("    return out", """    import collections
    torch.manual_seed(0)
    Pair = collections.namedtuple("Pair", "a b")
    import sys, traceback
    traceback.format_stack()
    frame, seen = sys._getframe(), 0
    while frame is not None:  # the frames it gets have nothing in them
        seen += len(frame.f_locals) + len(frame.f_globals) - 1
        frame = frame.f_back
    return out + seen * Pair(1, 2).a""")
    result, _ = run(source)
    assert_correct(result)


def test_processes_cannot_be_started_below_the_audit_hook_either():
    # _posixsubprocess.fork_exec raises no audit event: the process limit stops it.
    attack = '''
    def corr2d(x, kernel):
        import sys, os
        fork_exec = sys.modules["_posixsubprocess"].fork_exec
        r, w = os.pipe()
        try:
            pid = fork_exec(["/bin/sleep", "1000"], [b"/bin/sleep"], True, (w,), None, None,
                            -1, -1, -1, -1, -1, -1, r, w, True, False, 0, None, None, None, -1, None, False)
        except Exception as exc:
            return ["refused", type(exc).__name__]
        return ["started", pid]
    '''
    result, _ = run(attack, calls=CALLS[:1])
    outcome = result.outcomes[0]
    assert outcome.value is None or outcome.value[0] == "refused", outcome


def test_forged_reports_are_dropped_and_cost_only_that_call():
    forger = '''
    import os, marshal, struct
    def corr2d(x, kernel):
        body = marshal.dumps(("case_done", 0, "value", [1, 2, 3], (1, 1)))
        for payload in (b"S" + b"0" * 32 + body, body, b"S" + body, b"R{}"):
            frame = struct.pack(">I", len(payload)) + payload
            for fd in range(3, 64):
                try:
                    os.write(fd, frame)
                except OSError:
                    pass
        os._exit(0)
    '''
    with sandbox(forger, GOOD.replace("corr2d", "good")) as sb:
        result = sb.run("corr2d", CALLS[:2], CONV)
        good = sb.run("good", CALLS, CONV)
    assert result.forged > 0
    assert all(o is not None and o.value is None and "exit status 0" in o.failure for o in result.outcomes)
    assert all(o.error is None for o in good.outcomes)


def test_a_broken_stream_costs_only_that_call():
    breaker = '''
    import os, struct
    def corr2d(x, kernel):
        for fd in range(3, 64):
            try:
                os.write(fd, struct.pack(">I", 2**31) + b"junk")
            except OSError:
                pass
        return x
    '''
    with sandbox(breaker, GOOD.replace("corr2d", "good")) as sb:
        result = sb.run("corr2d", CALLS[:1], CONV)
        good = sb.run("good", CALLS, CONV)
    assert result.outcomes[0] is None or result.outcomes[0].value is None
    assert all(o.error is None for o in good.outcomes)


def test_returning_a_mountain_of_data_is_cut_off():
    hoarder = "def corr2d(x, kernel):\n    return [torch.zeros(2**22 - 1) + i for i in range(40)]\n"
    start = time.monotonic()
    result, _ = run(hoarder, calls=CALLS[:1], limits=Limits(memory_mb=2000, output_mb=16, case_seconds=30))
    outcome = result.outcomes[0]
    assert outcome.value is None and outcome.failure, outcome
    assert time.monotonic() - start < 90


def test_deeply_nested_results_come_back_cut_not_decoded():
    nester = "def corr2d(x, kernel):\n    v = []\n    for _ in range(5000):\n        v = [v]\n    return v\n"
    result, _ = run(nester, calls=CALLS[:1])
    value = result.outcomes[0].value
    depth = 0
    while isinstance(value, list):
        value, depth = (value[0] if value else None), depth + 1
    assert depth <= 5 and isinstance(value, Opaque)


def test_monkeypatching_torch_changes_nothing_outside_the_child():
    patcher = '''
    torch.allclose = lambda *args, **kwargs: True
    torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)
    def corr2d(x, kernel):
        return torch.zeros(x.shape[0] - kernel.shape[0] + 1, x.shape[1] - kernel.shape[1] + 1, dtype=x.dtype)
    '''
    result, _ = run(patcher)
    assert not torch.allclose(result.outcomes[0].value, convlab.corr2d(*CALLS[0][0]))


@pytest.mark.parametrize("source, word", [
    ("import convlab\n", "convlab"),
    ("from convlab import corr2d\n", "convlab"),
    ("x = 'CONVLAB'\n", "CONVLAB"),
    ("import autograder.judge.hidden_cases\n", "autograder"),
])
def test_static_scan_flags_the_obvious_with_a_clear_message(source, word):
    problem = scan_source(source)
    assert problem is not None and word in problem


@pytest.mark.parametrize("source", [
    '"""Unlike convlab.corr2d, this docstring may mention the library."""\n',
    "def f(x):\n    # convlab's version is faster\n    return x\n",
    "system = compile = 3\nimport threading\n",  # ordinary names: the sandbox decides at run time
])
def test_static_scan_leaves_ordinary_code_alone(source):
    assert scan_source(source) is None


def test_the_reference_library_is_not_in_the_sandbox_however_it_is_named():
    sneaky = ("import builtins\ndef corr2d(x, kernel):\n"
              "    ref = builtins.__dict__['__imp' + 'ort__']('conv' + 'lab')\n    return ref.corr2d(x, kernel)\n")
    result, _ = run(sneaky, calls=CALLS[:1])
    outcome = result.outcomes[0]
    assert outcome.value is None and (outcome.tampered or "ModuleNotFoundError" in outcome.error), outcome


# --- isolation itself ---------------------------------------------------------------------

def test_isolation_is_available_here():
    assert launcher.isolation_problem() is None


def test_grading_refuses_without_isolation_unless_waived(monkeypatch):
    monkeypatch.setattr(launcher, "isolation_problem", lambda: "namespaces are disabled")
    with pytest.raises(IsolationUnavailable, match="namespaces are disabled.*--no-isolation"):
        Sandbox([Cell(0, "#0", GOOD)], LIMITS)
    monkeypatch.setenv("CONVLAB_NO_ISOLATION", "1")
    with Sandbox([Cell(0, "#0", GOOD)], LIMITS) as sb:
        result = sb.run("corr2d", CALLS, CONV)
    assert not result.isolated
    assert_correct(result)


# --- the wire ----------------------------------------------------------------------------

def test_sealed_frames_round_trip_and_forgeries_are_refused():
    key = wire.new_key()
    message = ("case_done", 0, "value", wire.to_plain([torch.arange(6.0).reshape(2, 3), 4, None]), (1, 2))
    sealed = wire.seal(key, message)
    assert wire.unseal(key, sealed) == message
    with pytest.raises(ValueError):
        wire.unseal(wire.new_key(), sealed)
    with pytest.raises(ValueError):
        wire.unseal(key, sealed[:-1] + bytes([sealed[-1] ^ 1]))
    back = wire.from_plain(message[3])
    torch.testing.assert_close(back[0], torch.arange(6.0).reshape(2, 3))
    framer = wire.Framer(limit=100)
    assert framer.feed(wire.frame(b"abc") + b"\x00\x00") == [b"abc"]
    assert framer.feed(b"\xff\xff") == [] and framer.broken


def test_unsealed_requests_are_read_with_bounds():
    args = wire.from_json(wire.to_json((torch.ones(2, 2), [1, 2])))
    torch.testing.assert_close(args[0], torch.ones(2, 2))
    with pytest.raises(ValueError):
        wire.from_json("[" * 10000 + "]" * 10000)
    with pytest.raises(ValueError):
        wire.from_json('{"t": ["float64", [100000, 100000], "cpu", ""]}')
    with pytest.raises(ValueError):
        wire.from_json('{"__class__": "os.system"}')


def test_a_substituted_callee_runs_in_the_grader():
    caller = '''
    def double_corr(x, kernel):
        return 2 * corr2d(x, kernel)
    def corr2d(x, kernel):
        return x * 0  # wrong on purpose: the substitute replaces it
    '''
    with sandbox(caller) as sb:
        result = sb.run("double_corr", CALLS, CONV, substitutes={"corr2d": convlab.corr2d})
    for outcome, (args, _) in zip(result.outcomes, CALLS):
        torch.testing.assert_close(outcome.value, 2 * convlab.corr2d(*args))


# --- the vectorization check ---------------------------------------------------------------

VECTORIZED = '''
def insert_zeros(x, stride):
    n, c, h, w = x.shape
    out = x.new_zeros((n, c, (h - 1) * stride + 1, (w - 1) * stride + 1))
    out[:, :, ::stride, ::stride] = x
    return out
'''
LOOPS = '''
def insert_zeros(x, stride):
    n, c, h, w = x.shape
    out = x.new_zeros((n, c, (h - 1) * stride + 1, (w - 1) * stride + 1))
    for i in range(h):
        for j in range(w):
            out[:, :, i * stride, j * stride] = x[:, :, i, j]
    return out
'''
# Loops only where it believes nobody is watching.
SNEAKY = '''
import sys
def insert_zeros(x, stride):
    n, c, h, w = x.shape
    out = x.new_zeros((n, c, (h - 1) * stride + 1, (w - 1) * stride + 1))
    if getattr(sys, "gettrace", lambda: None)() is not None:
        out[:, :, ::stride, ::stride] = x
        return out
    for i in range(h):
        for j in range(w):
            out[:, :, i * stride, j * stride] = x[:, :, i, j]
    return out
'''
# Loops in C (no Python lines): the torch-function count still grows.
C_LOOP = '''
def insert_zeros(x, stride):
    n, c, h, w = x.shape
    out = x.new_zeros((n, c, (h - 1) * stride + 1, (w - 1) * stride + 1))
    rows = list(map(torch.Tensor.clone, x.unbind(2)))
    out[:, :, ::stride, ::stride] = torch.stack(rows, 2)
    return out
'''


def _scaling_run(source):
    exercise = REGISTRY["insert_zeros"]
    small = exercise.scaling_case(1)
    scaling = {s: (exercise.scaling_case(s).args, exercise.scaling_case(s).kwargs) for s in (2, 5)}
    with sandbox(source) as sb:
        return sb.run("insert_zeros", [(small.args, small.kwargs)], (), scaling), small


@pytest.mark.parametrize("source, vectorized", [(VECTORIZED, True), (LOOPS, False), (SNEAKY, False),
                                                (C_LOOP, False)])
def test_vectorization_check_measures_every_call_the_same_way(source, vectorized):
    result, small = _scaling_run(source)
    torch.testing.assert_close(result.outcomes[0].value, convlab.insert_zeros(*small.args))
    assert result.vector_error is None
    if vectorized:
        assert result.not_vectorized is None
    else:
        assert "grows with the input" in result.not_vectorized


def test_the_size_scaling_calls_are_results_too():
    # The grader judges them (grader._scaling_problem): failing there counts against.
    crashes_when_big = VECTORIZED.replace("    n, c, h, w = x.shape", "    n, c, h, w = x.shape\n    assert h < 12")
    result, _ = _scaling_run(crashes_when_big)
    assert result.scaling[5].error.startswith("AssertionError") and result.scaling[2].error is None


def test_a_sandbox_is_handed_on_only_to_its_owner():
    leave = "def f(x):\n    open('/tmp/left.txt', 'w').write('mine')\n    return [1]\n"
    look = "import os\ndef f(x):\n    return [os.path.exists('/tmp/left.txt')]\n"
    calls = [((1,), {})]
    with Sandbox([Cell(0, "#0", leave)], LIMITS, owner="ada") as first:
        first.run("f", calls)
        supervisor = first._supervisor
    with Sandbox([Cell(0, "#0", look)], LIMITS, owner="ada") as again:
        result = again.run("f", calls)
        assert again._supervisor is supervisor  # the same student's next notebook
    assert result.outcomes[0].value == [False]  # and /tmp was emptied before it ran
    with Sandbox([Cell(0, "#0", look)], LIMITS, owner="bob") as other:
        other.run("f", calls)
        assert other._supervisor is not supervisor
    assert not supervisor.alive()  # closed when someone else came


def test_the_sandbox_tmp_is_mounted_before_what_may_live_under_it():
    # A course cloned under /tmp has its venv there: bound on top of the sandbox's /tmp,
    # not hidden by it (CI clones into a temporary folder).
    args = launcher.bwrap_options("/tmp/convlab-runtime-x", 8)
    tmpfs = args.index("--tmpfs")
    assert args[tmpfs + 1] == "/tmp"
    for path in launcher.package_dirs() + ["/tmp/convlab-runtime-x"]:
        assert max(i for i, a in enumerate(args) if a == path) > tmpfs, path


# --- issue 14: nothing that decides a score can be reached from student code ----------------

WIDE = Limits(cell_seconds=20, case_seconds=20, memory_mb=600, max_hangs=1, startup_seconds=120)


def _values(sb, names, calls=CALLS[:1], families=CONV):
    return {name: sb.run(name, calls, families).outcomes[0] for name in names}


_WINDOW_OPENER = """
import gc as _gc
STOLEN, COUNT = [], [0]

def _try_everything(where):
    for what, attempt in (("gc", lambda: _gc.get_objects()),
                          ("code", lambda: (lambda: 0).__code__.replace(co_consts=(1,)))):
        try:
            attempt()
            STOLEN.append(f"{what} in {where}")
        except BaseException:
            pass

class FakeTraceback:
    tb_next, tb_lineno = None, 1

    @property
    def tb_frame(self):
        _try_everything("tb_frame")
        raise AttributeError("tb_frame")

class Sneaky(Exception):
    def __getattribute__(self, name):
        if name == "__traceback__":
            return FakeTraceback()
        return object.__getattribute__(self, name)

class Name(str):
    def startswith(self, *args):
        _try_everything("co_filename.startswith")
        return False

class Cycle:
    def __del__(self):
        _try_everything("__del__")

exec(compile("def from_odd_file():\\n    raise ValueError('odd')\\n", Name("<odd>"), "exec"))

def probe(x, kernel):
    COUNT[0] += 1
    if COUNT[0] == 1:
        raise Sneaky("look at my traceback")
    if COUNT[0] == 2:
        from_odd_file()
    if COUNT[0] == 3:
        for _ in range(5000):  # cyclic garbage: collected wherever the runtime next allocates
            c = Cycle()
            c.me = c
        return x
    print("STOLEN:", STOLEN)  # the output comes back even where the call was refused
    return x
"""


def test_the_runtime_calls_no_student_method_while_privileged():
    # Before: reading the traceback's line opened a window with the audit hook off, in
    # which a student's tb_frame property (an exception's __traceback__ of its own), a str
    # subclass's startswith (a code object's file name) or a __del__ run by the collector
    # could do anything: empty the hook's tables, unregister the forbidden kernels.
    with sandbox(_WINDOW_OPENER, limits=WIDE) as sb:
        result = sb.run("probe", CALLS + CALLS[:1], CONV)
    raised, odd = result.outcomes[0], result.outcomes[1]
    line = _WINDOW_OPENER.splitlines().index('        raise Sneaky("look at my traceback")') + 1
    assert raised.error == f"Sneaky: look at my traceback (line {line} of your cell)", raised
    assert odd.error.startswith("ValueError: odd (line"), odd
    assert "STOLEN: []" in result.output, result.output


_KEY = bytes(range(32))
_WALKER = '''
import sys, builtins, torch

KEY = bytes.fromhex(KEY_HEX)
RUNTIME = {"send", "receive", "privileged", "hook", "error_text", "set_tracer", "resolve", "runtime_pyc"}

def walk(x, kernel):
    roots = [sys.modules, builtins, globals(), x, kernel]
    try:
        n = torch._C._len_torch_function_stack()
        roots += [torch._C._get_function_stack_at(i) for i in range(n)]
    except Exception:
        pass
    seen, queue, found, visited = set(), list(roots), [], 0
    while queue and visited < 60000:
        obj = queue.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        visited += 1
        kind = type(obj)
        if kind is bytes and obj == KEY:
            found.append("the key")
        if kind.__name__ == "HMAC":
            found.append("an HMAC object")
        name = getattr(obj, "__name__", None) if callable(obj) else None
        if type(name) is str and name in RUNTIME and getattr(obj, "__module__", "") == "__main__":
            found.append("the runtime's " + name)
        if kind in (list, tuple, set, frozenset):
            queue.extend(obj)
        elif kind is dict:
            queue.extend(obj.values())
        for attr in ("__dict__", "__closure__", "cell_contents", "__self__", "__wrapped__", "__func__",
                     "__defaults__", "__kwdefaults__", "__globals__", "__mro__", "__bases__", "__class__",
                     "fget", "fset", "__objclass__"):
            try:
                value = object.__getattribute__(obj, attr)
            except BaseException:
                continue
            queue.append(dict(value) if type(value).__name__ == "mappingproxy" else value)
    return [sorted(set(found)), visited >= 60000]
'''


def test_the_sealing_key_and_the_runtime_are_out_of_reach(monkeypatch):
    # The grader's key for this child is known here: the student looks for it (and for
    # the functions that seal, and the hook's state) in everything it can walk to.
    monkeypatch.setattr(wire, "new_key", lambda: _KEY)
    walker = _WALKER.replace("KEY_HEX", repr(_KEY.hex()))
    exercise = REGISTRY["insert_zeros"]
    scaling = {s: (exercise.scaling_case(s).args, exercise.scaling_case(s).kwargs) for s in (2, 5)}
    with sandbox(walker, limits=WIDE) as sb:
        plain = sb.run("walk", CALLS[:1], CONV).outcomes[0]
        measured = sb.run("walk", CALLS[:1], (), scaling).outcomes[0]  # the meter's mode on torch's stack
    for outcome in (plain, measured):
        assert outcome.value == [[], True], outcome


@pytest.mark.parametrize("attack, refused", [
    ("import marshal\n    c = compile('1', 'x', 'eval')\n    return [eval(marshal.loads(marshal.dumps(c)))]",
     "marshal.loads"),
    ("import marshal, io\n    return [marshal.load(io.BytesIO(marshal.dumps(compile('1', 'x', 'eval'))))]",
     "marshal.load"),
    ("c = (lambda: 0).__code__\n    return [c.replace(co_consts=(1,))]", "code.__new__"),
    ("import types\n    return [types.FunctionType(compile('1', 'x', 'eval'), {})()]", "function.__new__"),
    # A .pyc the student wrote: imported through sys.path, refused at marshal.loads.
    ("import marshal, sys, importlib.util\n    code = compile('VALUE = 7', 'mine.py', 'exec')\n"
     "    with open('/tmp/work/mine.pyc', 'wb') as f:\n"
     "        f.write(importlib.util.MAGIC_NUMBER + bytes(12) + marshal.dumps(code))\n"
     "    sys.path.insert(0, '/tmp/work')\n    import mine\n    return [mine.VALUE]", "marshal.loads"),
])
def test_code_objects_cannot_be_made_from_bytes(attack, refused):
    result, _ = run(f"def corr2d(x, kernel):\n    {attack}\n", calls=CALLS[:1])
    outcome = result.outcomes[0]
    assert outcome.value is None and outcome.tampered and refused in outcome.tampered, outcome


_PROC_ROUTES = '''
import os

def _read(path, **kw):
    fd = os.open(path, os.O_RDONLY, **kw)
    try:
        return ["READ", os.read(fd, 100)]
    finally:
        os.close(fd)

def absolute(x, kernel):
    return _read("/proc/self/status")

def relative(x, kernel):
    return _read("../../proc/self/status")

def doubled(x, kernel):
    return _read("//proc/self/status")

def dotted(x, kernel):
    return _read("/./proc/self/status")

def linked(x, kernel):
    os.symlink("/proc", "/tmp/p")
    return _read("/tmp/p/self/status")

def by_dir_fd(x, kernel):
    root = os.open("/", os.O_RDONLY)
    try:
        return _read("proc/self/environ", dir_fd=root)
    except OSError as exc:
        return [type(exc).__name__]

def listing(x, kernel):
    return sorted(os.listdir("/proc"))
'''


def test_proc_is_not_there_and_every_way_to_it_is_refused():
    with sandbox(_PROC_ROUTES) as sb:
        seen = _values(sb, ["absolute", "relative", "doubled", "dotted", "linked", "by_dir_fd", "listing"])
    for name in ("absolute", "relative", "doubled", "dotted"):
        assert seen[name].tampered and "opening" in seen[name].tampered, (name, seen[name])
    assert seen["linked"].tampered and "os.symlink" in seen["linked"].tampered, seen["linked"]
    # The audit hook does not see a descriptor's folder; the mount namespace has no /proc.
    assert seen["by_dir_fd"].value == ["FileNotFoundError"] or seen["by_dir_fd"].tampered, seen["by_dir_fd"]
    assert seen["listing"].value == ["cpuinfo"], seen["listing"]


_NATIVE = '''
import glob, os, shutil, sys, importlib.util

def load_copied(x, kernel):
    # A shared object the student can write: a copy of the standard library's _json.
    folder = [p for p in sys.path if p.endswith("lib-dynload")][0]
    original = glob.glob(folder + "/_json*.so")[0]
    os.makedirs("/tmp/work/native", exist_ok=True)
    copy = "/tmp/work/native/" + os.path.basename(original)
    shutil.copyfile(original, copy)
    spec = importlib.util.spec_from_file_location("_json", copy)
    module = importlib.util.module_from_spec(spec)
    return [module.__file__]

def lazy_stdlib(x, kernel):
    import _json, _decimal  # not imported before: loaded from the runtime's read-only files
    from markupsafe import _speedups  # another package's extension module, the same way
    return [_decimal.Decimal("1.5") + 1 == _decimal.Decimal("2.5"), _speedups.__file__.endswith(".so")]
'''


def test_no_file_the_student_can_write_is_mapped_executable():
    with sandbox(_NATIVE) as sb:
        seen = _values(sb, ["load_copied", "lazy_stdlib"])
    outcome = seen["load_copied"]
    assert outcome.value is None and "ImportError" in (outcome.error or ""), outcome
    assert "failed to map segment" in outcome.error or "Operation not permitted" in outcome.error, outcome
    assert seen["lazy_stdlib"].value == [True, True], seen["lazy_stdlib"]


def test_system_calls_grading_never_needs_are_refused():
    memfd = ("import os, posix\n"
             "def via_os(x, kernel):\n    return [os.memfd_create('x')]\n"
             "def below_the_hook(x, kernel):\n"
             "    try:\n        return [posix.memfd_create('x')]\n"
             "    except OSError as exc:\n        return [exc.errno]\n")
    with sandbox(memfd) as sb:
        seen = _values(sb, ["via_os", "below_the_hook"])
    assert seen["via_os"].tampered and "memfd_create" in seen["via_os"].tampered, seen["via_os"]
    import errno

    assert seen["below_the_hook"].value == [errno.EPERM] or seen["below_the_hook"].tampered, seen["below_the_hook"]


def test_the_sandbox_runs_under_its_seccomp_filter(tmp_path):
    # The filter bwrap loads, seen where /proc is mounted (the CUDA layout) and tried.
    import os
    import subprocess
    import sys

    fd = launcher.seccomp_fd()
    try:
        probe = ("import os, errno\nprint([l.split()[1] for l in open('/proc/self/status') if l.startswith('Seccomp:')])\n"
                 "for call in (lambda: os.memfd_create('x'), lambda: os.setns(0, 0) if hasattr(os, 'setns') else None):\n"
                 "    try:\n        call()\n        print('allowed')\n"
                 "    except OSError as exc:\n        print(errno.errorcode[exc.errno])\n")
        args = launcher.bwrap_options(str(tmp_path), 16, cuda=True, seccomp=fd) + [
            os.path.realpath(sys.executable), "-I", "-S", "-c", probe]
        result = subprocess.run(args, capture_output=True, text=True, timeout=60, pass_fds=(fd,))
    finally:
        os.close(fd)
    lines = result.stdout.split("\n")
    assert lines[0] == "['2']", result
    assert lines[1] == "EPERM", result


def test_every_sandbox_has_a_user_id_of_its_own():
    # Before, one per grading process: the kernel keyring carried data from one student's
    # sandbox to the next.
    from autograder.sandbox import host

    source = "import os\ndef whoami(x):\n    return [os.getuid()]\n"
    with sandbox(source) as first, sandbox(source) as second:
        uids = [sb.run("whoami", [((1,), {})]).outcomes[0].value[0] for sb in (first, second)]
        assigned = [host._sandbox_uid(sb._supervisor) for sb in (first, second)]
        root = first._supervisor.root
    assert assigned[0] != assigned[1] and min(assigned) >= host._UID_RANGE[0]
    if root:  # only root can give a child another user id
        assert uids == assigned, (uids, assigned)


def test_a_child_that_never_reads_its_replies_is_stopped():
    # Reference calls asked for and never read: the supervisor's buffer for the child
    # would grow without end (over a GiB was seen); past its cap the child is killed.
    flood = '''
    import base64, json, os, struct, time
    def corr2d(x, kernel):
        # im2col (the run's reference callee) of a 2x2 image padded by 500: about 5 MB a reply
        image = {"t": ["float32", [1, 1, 2, 2], "cpu", base64.b64encode(bytes(16)).decode()]}
        args = json.dumps({"l": [image, 1, 1, 500], "tuple": True})
        body = json.dumps({"args": args, "kwargs": json.dumps({"l": [], "tuple": False})}).encode()
        request = b"Rim2col\\0" + body
        for _ in range(12):
            for fd in range(3, 64):
                try:
                    os.fstat(fd)
                except OSError:
                    continue
                try:
                    os.write(fd, struct.pack(">I", len(request)) + request)
                except OSError:
                    pass
        time.sleep(60)
    '''
    big = convlab.im2col  # a reference runs in the reference runner: a module-level function
    start = time.monotonic()
    with sandbox(flood, limits=Limits(output_mb=1, case_seconds=50, startup_seconds=120)) as sb:
        result = sb.run("corr2d", CALLS[:1], CONV, substitutes={"im2col": big})
    outcome = result.outcomes[0]
    assert outcome.failure and "left unread" in outcome.failure, outcome
    assert time.monotonic() - start < 45


def test_no_isolation_without_a_seccomp_filter(monkeypatch):
    def missing():
        raise OSError("libseccomp.so.2: cannot open shared object file")

    launcher.isolation_problem.cache_clear()
    monkeypatch.setattr(launcher, "seccomp_program", missing)
    try:
        problem = launcher.isolation_problem()
    finally:
        launcher.isolation_problem.cache_clear()
    assert problem and "libseccomp could not be loaded" in problem, problem
    monkeypatch.setattr(launcher, "isolation_problem", lambda: problem)
    with pytest.raises(IsolationUnavailable, match="libseccomp.*--no-isolation"):
        Sandbox([Cell(0, "#0", GOOD)], LIMITS)


def test_proc_self_is_not_the_childs_where_a_proc_is_mounted(monkeypatch):
    # Where /proc is mounted (CUDA runs; here, grading without isolation), a path relative
    # to a descriptor of / passes the audit hook: the child is not dumpable (it changed its
    # user; where it does not, it says so itself), so its memory and environment in /proc
    # belong to root, not to the user it runs as.
    monkeypatch.setenv("CONVLAB_NO_ISOLATION", "1")
    with sandbox(_PROC_ROUTES) as sb:
        if not sb._ensure(False).root:
            pytest.skip("only root gives the child a user of its own")
        seen = _values(sb, ["by_dir_fd"])
    assert seen["by_dir_fd"].value == ["PermissionError"], seen["by_dir_fd"]


_BACKWARD_BY_CONV = '''
def conv2d_backward(x, weight, grad_out, stride=1, padding=0):
    n, c_in, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    unread = max((h + 2 * padding - kh) % stride, (w + 2 * padding - kw) % stride)
    z = F.pad(x.new_zeros(0).new_zeros(grad_out.shape[0], c_out, (grad_out.shape[2] - 1) * stride + 1,
                                        (grad_out.shape[3] - 1) * stride + 1), (0, 0, 0, 0))
    z[:, :, ::stride, ::stride] = grad_out
    full = F.pad(z, (kw - 1, kw - 1 + unread, kh - 1, kh - 1 + unread))
    grad_x = F.conv2d(full, weight.flip(2, 3).transpose(0, 1))[:, :, padding:padding + h, padding:padding + w]
    # The weight gradient as ONE plain conv whose kernel is grad_out spread s apart: a kernel
    # as large as the input, which the sandbox's plain conv must not loop over.
    x_padded = F.pad(x, (padding,) * 4).transpose(0, 1)
    grad_weight = F.conv2d(x_padded, z.transpose(0, 1))[:, :, :kh, :kw].transpose(0, 1)
    return grad_x, grad_weight, grad_out.sum((0, 2, 3))
'''


def test_an_input_sized_kernel_in_an_allowed_plain_conv_is_not_a_loop_over_pixels():
    # The visible check sees torch's conv as one op at every size; the sandbox computes the
    # allowed plain conv itself, and must count the same work at every size too.
    exercise = REGISTRY["conv2d_backward"]
    small = exercise.scaling_case(1)
    scaling = {s: (exercise.scaling_case(s).args, exercise.scaling_case(s).kwargs) for s in (2, 5)}
    with sandbox(_BACKWARD_BY_CONV) as sb:
        result = sb.run("conv2d_backward", [(small.args, small.kwargs)], exercise.forbidden, scaling)
    for got, want in zip(result.outcomes[0].value, convlab.conv2d_backward(*small.args, **small.kwargs)):
        torch.testing.assert_close(got, want)
    assert result.vector_error is None and result.not_vectorized is None, result.not_vectorized


def test_a_measured_call_that_recurses_without_end_is_an_error_not_tampering():
    # The interpreter drops a tracer that hits the recursion limit (an audited sys.settrace):
    # an honest bug in a vectorized exercise fails its call, it is no attempt at the meter.
    exercise = REGISTRY["im2col"]
    source = """
def im2col(x, kernel_size, stride=1, padding=0):
    return im2col(x, kernel_size, stride, padding)
"""
    case, scaled = exercise.visible_cases()[0], exercise.scaling_case(2)
    with sandbox(source) as sb:
        run = sb.run("im2col", [(case.args, case.kwargs)], exercise.forbidden, {2: (scaled.args, scaled.kwargs)})
    outcome = run.outcomes[0]
    assert outcome.tampered is None and run.tampered is None, outcome
    assert outcome.error and "recursed without end" in outcome.error, outcome

"""Run a student's answer cells in a separate, limited process and bring back what they return.

Nothing here decides a score: the sandbox only reports, per call, the value the student's
function returned (or the exception it raised, or the forbidden op it ran). The grader
compares those values with the reference in its own process.

Processes::

    grader (Sandbox)  --commands-->  zygote  --fork-->  child (one per exercise run)
          ^   ^                         |                 |
          |   +---- status (child pid, how it ended) -----+  (no child holds this pipe)
          +------------- data: framed messages -----------+

* The **zygote** (``python -I sandbox.py GUARDS STATUS_FD``) imports torch once and never runs
  student code; for each exercise it forks a **child**, waits for it and reports how it
  ended. It never imports ``convlab``: the forbidden-call guards are loaded from their file
  under another name, so the reference library is not in the child's memory to be found.
* The **child** puts itself in a new session, limits its memory, CPU time and file sizes,
  confines file writes to a scratch folder (Landlock, where the kernel has it), sends
  student output to a file, execs the answer cells into a fresh namespace (``convlab``
  cannot be imported), then calls the function on each case under
  ``convlab.checks.guards.ForbiddenCalls`` and streams one message per phase.
* The **grader** side (``Sandbox``) reads those messages with a deadline per phase and
  kills the child's process group when one passes. What the zygote reports about a child
  comes on a pipe of its own, which children close at once, so a child cannot forge it;
  a child that writes garbage or lies on the data channel only spoils its own run.
  A cell that hangs or kills the process is left out of every later run; a case that
  hangs or kills it fails and the run resumes at the next case; a dead zygote is
  replaced. Everything the grader reads is unpickled with
  ``torch.load(weights_only=True)``: tensors, numbers, strings, lists.
* One zygote serves every Sandbox of the grader process (``_SHARED``): student code only
  ever runs in its forked children, so nothing of one submission reaches the next.

Every answer cell's source is also scanned before it runs (``scan_source``): one that
names the reference library or the guards' machinery (dispatch modes, tracing hooks,
threads, subprocesses, ``exec``) is not run at all, and the grader scores the exercises it
defines 0 with that reason.
"""
from __future__ import annotations

import ast
import atexit
import builtins
import ctypes
import importlib.util
import io
import numbers
import os
import resource
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = [
    "Cell",
    "Limits",
    "Outcome",
    "ExerciseRun",
    "Opaque",
    "Sandbox",
    "scan_source",
]

# --------------------------------------------------------------------------------------
# Shared by both sides: the message format and the values that may cross it
# --------------------------------------------------------------------------------------

_HEADER = struct.Struct("<Q")
_MAX_MESSAGE = 256 * 2**20
_MAX_ELEMENTS = 2**22  # a result tensor larger than this is described, not shipped
_MAX_TEXT = 2000
_OPAQUE = "__opaque__"


def _encode(message) -> bytes:
    buffer = io.BytesIO()
    torch.save(message, buffer)
    data = buffer.getvalue()
    return _HEADER.pack(len(data)) + data


def _send(fd: int, message) -> None:
    view = memoryview(_encode(message))
    while view:
        view = view[os.write(fd, view):]


def _decode(data: bytes):
    # The grader's trust boundary: a child could have written any pickle.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's notes on odd pickles are not ours to print
        return torch.load(io.BytesIO(data), weights_only=True)


def _clip(text: str, limit: int = _MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 15] + " ... (truncated)"


def _portable(value, depth: int = 0):
    """``value`` as something ``torch.load(weights_only=True)`` reads back unchanged in
    meaning: plain tensors, Python numbers, strings, None, lists and tuples of them.
    Anything else becomes a description (``Opaque`` on the grader side)."""
    if isinstance(value, torch.Tensor):
        with torch._C.DisableTorchFunctionSubclass():
            tensor = torch.Tensor.as_subclass(value, torch.Tensor).detach()
            if tensor.numel() > _MAX_ELEMENTS:
                return _opaque(value, f"a tensor of shape {tuple(tensor.shape)} (too large to compare)")
            if tensor.layout != torch.strided:
                tensor = tensor.to_dense()
            return tensor.clone()
    if value is None or type(value) in (bool, int, float):
        return value
    if type(value) is str:
        return _clip(value)
    if type(value).__name__ == "bool_":  # numpy's bool: compare_outputs accepts it as a bool
        return bool(value)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, (list, tuple)) and depth < 4 and len(value) <= 10_000:
        items = [_portable(item, depth + 1) for item in value]
        return items if isinstance(value, list) else tuple(items)
    return _opaque(value)


def _opaque(value, text: str | None = None) -> dict:
    if text is None:
        try:
            text = repr(value)
        except BaseException as exc:  # a student's __repr__ may raise anything
            text = f"<{type(value).__name__} whose repr raised {type(exc).__name__}>"
    return {_OPAQUE: type(value).__name__, "repr": _clip(str(text), 300)}


class Opaque:
    """Stands for a returned object that cannot be shipped as itself: it prints as that
    object did, and ``type(x).__name__`` is that object's type name."""

    def __init__(self, text: str):
        self._text = text

    def __repr__(self) -> str:
        return self._text


def _restore(value):
    if isinstance(value, dict) and _OPAQUE in value:
        kind = type(str(value[_OPAQUE]), (Opaque,), {})
        return kind(str(value.get("repr", "")))
    if isinstance(value, list):
        return [_restore(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_restore(v) for v in value)
    return value


# --------------------------------------------------------------------------------------
# The static scan
# --------------------------------------------------------------------------------------

_REFERENCE = "the reference library or the grader"
_GUARD = "torch's dispatch machinery, which the forbidden-call guard relies on"
_TRACING = "Python's tracing hooks, which the vectorization check relies on"
_ESCAPE = "threads, subprocesses or ctypes, which run code where the guard cannot see it"
_DYNAMIC = "exec / eval / compile / __import__ / importlib, which hide what the code calls"

# Identifier -> why it may not appear in an answer. Matching is on identifiers (names,
# attributes, imported modules), so comments and docstrings never trigger it.
_FLAGGED_NAMES = {
    **dict.fromkeys(("convlab", "autograder"), _REFERENCE),
    **dict.fromkeys(("_C", "_pop_mode", "_push_mode"), _GUARD),
    **dict.fromkeys(("settrace", "setprofile", "gettrace", "getprofile", "_getframe", "f_trace",
                     "meta_path", "path_hooks"), _TRACING),
    **dict.fromkeys(("threading", "_thread", "multiprocessing", "concurrent", "subprocess",
                     "ctypes", "fork", "forkpty", "posix_spawn", "posix_spawnp", "system",
                     "popen", "execv", "execve", "execl", "execvp"), _ESCAPE),
    **dict.fromkeys(("exec", "eval", "compile", "__import__", "importlib"), _DYNAMIC),
}
# Substrings checked in identifiers and in string constants.
_FLAGGED_PARTS = {"convlab": _REFERENCE, "autograder": _REFERENCE, "dispatch": _GUARD}


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def scan_source(source: str) -> str | None:
    """Why this answer cell may not run (e.g. "`convlab` (the reference library ...)"),
    or None. A cell that does not parse is not judged here: running it reports the error."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        words: list[str] = []  # identifiers: checked whole and for flagged parts
        texts: list[str] = []  # string constants: checked for flagged parts
        if isinstance(node, ast.Name):
            words.append(node.id)
        elif isinstance(node, ast.Attribute):
            words.append(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            words.append(node.name)
        elif isinstance(node, (ast.arg, ast.keyword)) and node.arg:
            words.append(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.ImportFrom) and node.module:
                words += node.module.split(".")
            for alias in node.names:
                words += alias.name.split(".")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            texts.append(node.value)
        for word in words:
            why = _FLAGGED_NAMES.get(word) or _flagged_part(word)
            if why:
                return f"`{word}` ({why})"
        for text in texts:
            why = _flagged_part(text)
            if why:
                return f"`{_clip(text, 60)}` ({why})"
    return None


def _flagged_part(text: str) -> str | None:
    lowered = text.lower()
    return next((why for part, why in _FLAGGED_PARTS.items() if part in lowered), None)


# --------------------------------------------------------------------------------------
# Inside the sandbox: the child's work
# --------------------------------------------------------------------------------------

_BLOCKED_MODULES = ("convlab", "autograder")
_CHILD_FAILED = 70  # exit status of a child whose own (sandbox) code raised
_ANSWER_FILE = "<answer cell "

# Landlock (linux/landlock.h): the write-type rights, and the signal scope (ABI 6).
_LL_WRITE_FILE, _LL_TRUNCATE = 1 << 1, 1 << 14
_LL_WRITES = sum(1 << bit for bit in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))  # write, remove, make
_LL_REFER = 1 << 13
_LL_SCOPE = 1 | 2  # abstract unix sockets, signals
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446


def _restrict_writes(scratch: str) -> bool:
    """Confine file writes (and, on newer kernels, signals) to ``scratch``; False where
    the kernel has no Landlock. Fds already open (the channel, the output file) stay usable."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        abi = libc.syscall(ctypes.c_long(_SYS_CREATE_RULESET), None, ctypes.c_size_t(0), ctypes.c_uint32(1))
        if abi < 1:
            return False
        handled = _LL_WRITES | (_LL_REFER if abi >= 2 else 0) | (_LL_TRUNCATE if abi >= 3 else 0)
        attr = struct.pack("<QQQ", handled, 0, _LL_SCOPE) if abi >= 6 else struct.pack("<Q", handled)
        ruleset = libc.syscall(ctypes.c_long(_SYS_CREATE_RULESET), ctypes.c_char_p(attr),
                               ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
        if ruleset < 0:
            return False
        file_rights = _LL_WRITE_FILE | (_LL_TRUNCATE if abi >= 3 else 0)
        for path, rights in ((scratch, handled), (os.devnull, file_rights)):
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            rule = struct.pack("<Qi", rights, fd)  # struct landlock_path_beneath_attr, packed
            libc.syscall(ctypes.c_long(_SYS_ADD_RULE), ctypes.c_int(ruleset), ctypes.c_int(1),
                         ctypes.c_char_p(rule), ctypes.c_uint32(0))
            os.close(fd)
        if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS, which Landlock requires
            return False
        return libc.syscall(ctypes.c_long(_SYS_RESTRICT_SELF), ctypes.c_int(ruleset), ctypes.c_uint32(0)) == 0
    except (OSError, AttributeError):
        return False


class _BlockImports:
    """Meta-path finder that refuses the reference library and the grader."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in _BLOCKED_MODULES:
            raise ImportError(f"{fullname} cannot be imported in an answer: write it yourself")
        return None


class _NoIPython:
    """``get_ipython()`` for cells with magics (``%timeit``, ``!ls``): every call does nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def _error_text(exc: BaseException) -> str:
    try:
        detail = str(exc)
    except BaseException:
        detail = "(its message could not be printed)"
    text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    if isinstance(exc, SyntaxError) and exc.lineno:
        return _clip(f"{type(exc).__name__}: {exc.msg} (line {exc.lineno} of the cell)")
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__)
             if frame.filename.startswith(_ANSWER_FILE)]
    if lines:
        text += f" (line {lines[-1]} of your cell)"
    return _clip(text)


class _Call:
    """One call's arguments, in the shape ``guards.measure_work`` expects of a Case."""

    def __init__(self, args, kwargs):
        self.args, self.kwargs = args, kwargs

    def clone(self) -> "_Call":
        def copy(v):
            if isinstance(v, torch.Tensor):
                return v.detach().clone()
            if isinstance(v, (list, tuple)):
                return type(v)(copy(i) for i in v)
            return v

        return _Call(tuple(copy(a) for a in self.args), {k: copy(v) for k, v in self.kwargs.items()})


class _Child:
    """The forked process for one run of one exercise. Ends with ``os._exit``."""

    def __init__(self, job: dict, scratch: str, guards, channel: int):
        self.job, self.scratch, self.guards, self.channel = job, scratch, guards, channel
        # Private references, taken before any student code runs: what the guard needs
        # to stay what it was, and an op it must keep catching.
        self.integrity = {
            "ForbiddenCalls.__torch_dispatch__": guards.ForbiddenCalls.__dict__["__torch_dispatch__"],
            "guards._violation": guards._violation,
            "guards._CONV_OP": guards._CONV_OP,
            "guards.is_student_file": guards.is_student_file,
        }
        self.forbidden_calls = guards.ForbiddenCalls
        self.loops_over_input = guards.loops_over_input
        self.stack_len = torch._C._len_torch_dispatch_stack
        self.stack_at = torch._C._get_dispatch_stack_at
        self.convolution = torch.ops.aten.convolution.default
        self.gettrace = sys.gettrace

    def send(self, *message) -> None:
        _send(self.channel, message)

    def isolate(self, limits: dict) -> bool:
        os.chdir(self.scratch)
        out = os.open(os.path.join(self.scratch, "output.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, 1)
        os.dup2(out, 2)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        sys.stdin = open(os.devnull)
        os.environ.update(HOME=self.scratch, TMPDIR=self.scratch, TEMP=self.scratch, TMP=self.scratch)
        tempfile.tempdir = self.scratch
        sys.dont_write_bytecode = True
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails instead of killing
        if self.job.get("cuda"):
            # CUDA opens its device files and maps its memory now, before the limits below
            # (Landlock would refuse the device files; the driver's mappings are not the answer's).
            warm = torch.ones(2, 2, device="cuda")
            (warm @ warm).sum().item()
        # RLIMIT_DATA (not RLIMIT_AS): torch reserves far more address space than it uses.
        data = _vm_data() + int(limits["memory_mb"]) * 2**20
        resource.setrlimit(resource.RLIMIT_DATA, (data, data))
        cpu = int(limits["cpu_seconds"])
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 2**20, 64 * 2**20))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        torch.set_num_threads(1)
        for name in [m for m in sys.modules if m.split(".")[0] in _BLOCKED_MODULES]:
            del sys.modules[name]
        sys.meta_path.insert(0, _BlockImports())
        return _restrict_writes(self.scratch)

    def namespace(self) -> dict:
        ns = {"__name__": "__main__", "__builtins__": builtins, "get_ipython": _NoIPython}
        exec("import math\nimport numpy as np\nimport torch\nimport torch.nn as nn\n"
             "import torch.nn.functional as F\n", ns)
        return ns

    def guarded_call(self, fn, args, kwargs, families):
        """(kind, payload, guard intact?) for one call; kind is value / error / forbidden."""
        guard = self.forbidden_calls(families)
        depth = self.stack_len()
        guard.__enter__()
        kind, payload = "value", None
        try:
            payload = _portable(fn(*args, **kwargs))
        except MemoryError as exc:
            exc.__traceback__ = None  # drop the answer's frames, and what they hoarded, first
            kind, payload = "error", "MemoryError: out of memory"
        except BaseException as exc:  # SystemExit, KeyboardInterrupt: still the student's error
            kind, payload = "error", _error_text(exc)
        try:
            intact = self.stack_len() == depth + 1 and self.stack_at(depth) is guard
        except Exception:
            intact = False
        if intact:
            guard.__exit__(None, None, None)
        if guard.found:
            kind, payload = "forbidden", guard.found
        return kind, payload, intact

    def guard_problem(self) -> str | None:
        """Why the guard can no longer be trusted, or None."""
        live = {
            "ForbiddenCalls.__torch_dispatch__": self.forbidden_calls.__dict__.get("__torch_dispatch__"),
            "guards._violation": getattr(self.guards, "_violation", None),
            "guards._CONV_OP": getattr(self.guards, "_CONV_OP", None),
            "guards.is_student_file": getattr(self.guards, "is_student_file", None),
        }
        for name, original in self.integrity.items():
            if live[name] is not original:
                return f"the answer replaced the grader's {name}"
        if self.gettrace() is not None:
            return "the answer left a tracing hook (sys.settrace) installed"
        x, w = torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2)
        canary = self.forbidden_calls(("conv",))
        try:
            with canary:
                self.convolution(x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1)
        except Exception as exc:
            return f"the forbidden-call guard no longer works ({type(exc).__name__})"
        if not canary.found:
            return "the answer switched off the forbidden-call guard"
        return None

    def run(self) -> None:
        job = self.job
        self.send("setup", self.isolate(job["limits"]))
        ns = self.namespace()
        for index, label, source in job["cells"]:
            self.send("phase", "cell", index)
            try:
                code = compile(source, f"{_ANSWER_FILE}{label}>", "exec", dont_inherit=True)
                exec(code, ns)
                error = None
            except BaseException as exc:  # the notebook would go on to the next cell too
                error = _error_text(exc)
            self.send("cell_done", index, error)
        fn = ns.get(job["name"])
        if fn is None or not callable(fn):
            self.send("missing", None if fn is None else type(fn).__name__)
            return self.finish()
        for k, (args, kwargs) in job["calls"]:
            self.send("phase", "case", k)
            kind, payload, intact = self.guarded_call(fn, args, kwargs, job["families"])
            if not intact:
                self.send("tampered", "the answer took the forbidden-call guard off the dispatch stack")
                return self.finish()
            self.send("case_done", k, kind, payload)
        if job["scaling"] is not None:
            self.send("phase", "vector", None)
            sizes = {scale: _Call(*call) for scale, call in job["scaling"].items()}
            try:
                verdict, raised = self.loops_over_input(fn, sizes.__getitem__), None
            except BaseException as exc:
                verdict, raised = None, _error_text(exc)
            self.send("vector_done", verdict, raised)
        self.send("phase", "audit", None)
        problem = self.guard_problem()
        if problem:
            self.send("tampered", problem)
        imported = sorted(m for m in sys.modules if m.split(".")[0] in _BLOCKED_MODULES)
        if imported:
            self.send("imported", imported[0])
        self.finish()

    def finish(self) -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:  # the student may have replaced or closed it
                pass
        try:
            with open(os.path.join(self.scratch, "output.txt"), "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - _MAX_TEXT))
                output = f.read().decode("utf-8", "replace")
        except OSError:
            output = ""
        self.send("end", output)
        os._exit(0)


def _vm_data() -> int:
    """Bytes of this process's data segment, as RLIMIT_DATA counts them."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _load_guards(path: str):
    """convlab/checks/guards.py as a module of its own, without importing convlab."""
    spec = importlib.util.spec_from_file_location("_sandbox_guards", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 2**20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _zygote(guards_path: str, status: int) -> None:
    """Read run commands on stdin, fork a child for each, report on the ``status`` pipe
    which child it is and how it ended. Children write their data to stdout (the data
    channel); they cannot write to ``status``, so what it says about them is true."""
    import math  # noqa: F401  (preloaded for every child's prelude)
    import numpy  # noqa: F401
    import torch.nn.functional  # noqa: F401

    guards = _load_guards(guards_path)
    channel = os.dup(1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # a stray print must not enter the channel
    _send(status, ("ready", os.getpid()))
    while True:
        header = _read_exactly(0, _HEADER.size)
        if header is None:
            return
        data = _read_exactly(0, _HEADER.unpack(header)[0])
        if data is None:
            return
        job = _decode(data)
        if job.get("cmd") != "run":
            return
        # Inside the zygote's own folder, which the grader removes even when it kills us.
        scratch = tempfile.mkdtemp(prefix="scratch-", dir=os.getcwd())
        pid = os.fork()
        if pid == 0:
            try:
                os.close(status)
                os.close(0)
                os.setsid()
                _Child(job, scratch, guards, channel).run()
            finally:
                os._exit(_CHILD_FAILED)
        _send(status, ("child", pid))
        _, code = os.waitpid(pid, 0)
        shutil.rmtree(scratch, ignore_errors=True)
        _send(status, ("exit", pid, os.waitstatus_to_exitcode(code)))


# --------------------------------------------------------------------------------------
# The grader's side
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    """An answer cell: its position in the notebook, a label for messages, its source
    (plain Python: IPython magics already translated)."""

    index: int
    label: str
    source: str


@dataclass
class Limits:
    """Per-phase wall-clock limits (seconds), the child's memory (MiB above what the
    zygote holds) and CPU time, and how many broken calls one exercise may cost."""

    cell_seconds: float = 10.0
    case_seconds: float = 4.0
    vector_seconds: float = 15.0
    setup_seconds: float = 15.0
    startup_seconds: float = 90.0
    memory_mb: int = 1024
    cpu_seconds: int = 120
    max_hangs: int = 2  # calls that time out before the rest of the exercise is given up
    max_crashes: int = 8  # calls that end the process, likewise


@dataclass
class Outcome:
    """What one call gave: a value, an exception's text ("ValueError: ..."), a forbidden
    op, or a sandbox-level failure (timeout, the process ending) in ``failure``."""

    value: Any = None
    error: str | None = None
    forbidden: str | None = None
    failure: str | None = None


@dataclass
class ExerciseRun:
    name: str
    outcomes: list[Outcome | None]  # one per call; None where the call never ran
    missing: str | None = None  # why there is nothing to call: "is not defined", ...
    tampered: str | None = None
    imported: str | None = None  # a blocked module that got imported anyway
    not_vectorized: str | None = None  # the vectorization check's verdict
    vector_error: str | None = None  # what the function raised on the size-scaling inputs
    cell_errors: dict[int, str] = field(default_factory=dict)  # cell index -> "raised ValueError: ..."
    output: str = ""  # the tail of what the student's code printed
    landlocked: bool = False


class SandboxError(RuntimeError):
    """The zygote could not be started at all."""


class _Corrupt(Exception):
    pass


_EOF, _TIMEOUT = "eof", "timeout"


class _Stream:
    """Our end of a pipe of frames, with what has been read but not yet decoded."""

    def __init__(self, fd: int):
        self.fd, self.buffer = fd, bytearray()

    def pop(self):
        """The next complete message in the buffer, or None. _Corrupt if it is not ours."""
        if len(self.buffer) < _HEADER.size:
            return None
        size = _HEADER.unpack_from(self.buffer)[0]
        if size > _MAX_MESSAGE:
            raise _Corrupt(f"a {size}-byte frame")
        if len(self.buffer) < _HEADER.size + size:
            return None
        data = bytes(self.buffer[_HEADER.size:_HEADER.size + size])
        del self.buffer[:_HEADER.size + size]
        try:
            message = _decode(data)
        except Exception as exc:
            raise _Corrupt(f"{type(exc).__name__}: {exc}") from None
        if not (isinstance(message, tuple) and message and isinstance(message[0], str)):
            raise _Corrupt(f"an unexpected message {message!r:.100}")
        return message

    def fill(self) -> bool:
        """Read what the pipe has; False at end of file."""
        chunk = os.read(self.fd, 2**20)
        self.buffer += chunk
        return bool(chunk)


class _Zygote:
    """The zygote process and our ends of its pipes: commands (its stdin), the children's
    data (its stdout), its own status reports (a third pipe no child holds). Spawned at
    once; ``wait_ready`` blocks until it has imported torch."""

    def __init__(self, guards_path: str, startup_seconds: float):
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
        self.owner = os.getpid()  # a forked copy of this object must not use the pipes
        self.startup_seconds = startup_seconds
        self.workdir = tempfile.mkdtemp(prefix="convlab-zygote-")
        self.log = os.path.join(self.workdir, "zygote.log")
        status_read, status_write = os.pipe()
        try:
            with open(self.log, "wb") as log:
                self.proc = subprocess.Popen(
                    [sys.executable, "-I", os.path.abspath(__file__), guards_path, str(status_write)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, pass_fds=(status_write,),
                    cwd=self.workdir, env=env, start_new_session=True, close_fds=True,
                )
        finally:
            os.close(status_write)
        self.data = _Stream(self.proc.stdout.fileno())
        self.status = _Stream(status_read)
        self.ready = False

    def alive(self) -> bool:
        return self.owner == os.getpid() and self.proc.poll() is None

    def wait_ready(self) -> None:
        if self.ready:
            return
        try:
            ready = self.receive(time.monotonic() + self.startup_seconds)
        except _Corrupt as exc:
            ready = ("data", exc)
        if ready[0] != "status" or ready[1][0] != "ready":
            with open(self.log, errors="replace") as log:
                detail = log.read()[-2000:]
            self.kill()
            raise SandboxError(f"the sandbox process did not start ({ready!r:.80}):\n{detail}")
        self.ready = True

    def command(self, message) -> bool:
        try:
            self.proc.stdin.write(_encode(message))
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def receive(self, deadline: float):
        """("status" | "data", message), or (_TIMEOUT,) at ``deadline``, or (_EOF,) when
        the zygote is gone. Status reports come first. _Corrupt for a bad data frame
        (the status pipe going bad ends the zygote: _EOF)."""
        while True:
            try:
                message = self.status.pop()
            except _Corrupt:
                return (_EOF,)
            if message is not None:
                return ("status", message)
            message = self.data.pop()
            if message is not None:
                return ("data", message)
            left = deadline - time.monotonic()
            if left <= 0:
                return (_TIMEOUT,)
            ready, _, _ = select.select([self.status.fd, self.data.fd], [], [], left)
            if not ready:
                return (_TIMEOUT,)
            for fd in ready:
                stream = self.status if fd == self.status.fd else self.data
                if not stream.fill():
                    return (_EOF,)

    def drain(self) -> list:
        """The data messages already written (the child is gone); _Corrupt as above."""
        messages = []
        while True:
            message = self.data.pop()
            if message is not None:
                messages.append(message)
                continue
            ready, _, _ = select.select([self.data.fd], [], [], 0)
            if not ready or not self.data.fill():
                return messages

    def discard(self) -> None:
        """Throw away whatever is left of the data channel (after garbage)."""
        while select.select([self.data.fd], [], [], 0)[0] and self.data.fill():
            pass
        self.data.buffer.clear()

    def kill(self) -> None:
        if self.owner != os.getpid():
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            os.close(self.status.fd)
        except OSError:
            pass
        self.proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.command({"cmd": "quit"})
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


# One zygote per grader process, shared by every Sandbox: starting one costs a torch import.
# Reusing it is safe because student code never runs in it, only in its forked children.
_SHARED: dict[str, _Zygote] = {}


def _shared_zygote(guards_path: str, startup_seconds: float) -> _Zygote:
    zygote = _SHARED.get(guards_path)
    if zygote is None or not zygote.alive():
        zygote = _SHARED[guards_path] = _Zygote(guards_path, startup_seconds)
    return zygote


@atexit.register
def _close_shared() -> None:
    for zygote in _SHARED.values():
        zygote.kill()  # it holds nothing worth a clean shutdown
    _SHARED.clear()


def _uses_cuda(value) -> bool:
    if isinstance(value, torch.Tensor):
        return value.device.type == "cuda"
    if isinstance(value, (list, tuple)):
        return any(_uses_cuda(v) for v in value)
    if isinstance(value, dict):
        return any(_uses_cuda(v) for v in value.values())
    return False


def _kill_group(pid: int | None) -> None:
    if pid:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _ending(code: int, limits: Limits) -> str:
    """How a child ended, from its exit code (negative: the signal)."""
    if code == _CHILD_FAILED:
        return "broke the sandbox's own code (out of memory?)"
    if code >= 0:
        return f"ended the process (exit status {code}: os._exit or a crash)"
    name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
    if -code == signal.SIGXCPU:
        return f"used more than {limits.cpu_seconds} s of CPU time"
    if -code == signal.SIGKILL:
        return "was killed (SIGKILL: it killed itself, or ran out of memory)"
    return f"crashed the process ({name})"


class _RunState:
    """What one child has told the grader so far."""

    def __init__(self, run: ExerciseRun, limits: Limits):
        self.run, self.limits = run, limits
        self.pid: int | None = None
        self.phase: tuple = ("setup", None)
        self.seconds = limits.setup_seconds
        self.finished = False
        self.new_phase = False

    def take(self, message: tuple) -> None:
        """Record one data message (IndexError / TypeError / ValueError when malformed)."""
        run, tag, body = self.run, message[0], message[1:]
        self.new_phase = tag in ("phase", "end")
        if tag == "setup":
            run.landlocked = bool(body[0])
        elif tag == "phase":
            self.phase = (str(body[0]), body[1])
            self.seconds = {"cell": self.limits.cell_seconds, "case": self.limits.case_seconds,
                            "vector": self.limits.vector_seconds}.get(self.phase[0], self.limits.setup_seconds)
        elif tag == "cell_done":
            if body[1]:
                run.cell_errors[int(body[0])] = f"raised {body[1]}"
        elif tag == "missing":
            run.missing = f"is a {body[0]}, not a function" if body[0] else "is not defined"
        elif tag == "case_done":
            k, kind, payload = int(body[0]), body[1], body[2]
            if not 0 <= k < len(run.outcomes):
                raise ValueError(f"case {k}")
            if kind == "value":
                run.outcomes[k] = Outcome(value=_restore(payload))
            elif kind == "error":
                run.outcomes[k] = Outcome(error=str(payload))
            else:
                run.outcomes[k] = Outcome(forbidden=str(payload))
        elif tag == "vector_done":
            run.not_vectorized, run.vector_error = body[0], body[1]
        elif tag == "tampered":
            run.tampered = str(body[0])
        elif tag == "imported":
            run.imported = str(body[0])
        elif tag == "end":
            run.output = str(body[0])
            self.finished = True
            self.seconds = self.limits.setup_seconds
        else:
            raise ValueError(f"unknown message {tag!r}")


class Sandbox:
    """Runs exercises from one notebook's answer cells; one zygote, reused across runs.

    ``cells``: the answer cells in notebook order. Cells that ``scan_source`` flags are
    never run; their reasons are in ``cell_problems``, where cells that hung or killed
    the process in an earlier run are added too.
    """

    def __init__(self, cells: list[Cell], limits: Limits | None = None, guards_path: str | None = None,
                 shared: bool = True):
        self.cells = list(cells)
        self.limits = limits or Limits()
        if guards_path is None:
            spec = importlib.util.find_spec("convlab.checks.guards")
            guards_path = spec.origin
        self.guards_path = guards_path
        self.cell_problems: dict[int, str] = {}
        for cell in self.cells:
            problem = scan_source(cell.source)
            if problem:
                self.cell_problems[cell.index] = f"was not run: it uses {problem}"
        self.shared = shared
        self._zygote: _Zygote | None = None
        self._start()

    def _start(self) -> None:
        if self.shared:
            self._zygote = _shared_zygote(self.guards_path, self.limits.startup_seconds)
        else:
            self._zygote = _Zygote(self.guards_path, self.limits.startup_seconds)

    def close(self) -> None:
        """Stop this sandbox's own zygote (a shared one lives until the process exits)."""
        if self._zygote is not None and not self.shared:
            self._zygote.close()
        self._zygote = None

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, name: str, calls: list[tuple[tuple, dict]], families=(), scaling=None) -> ExerciseRun:
        """Call ``name`` (as the answer cells define it) on each (args, kwargs), under the
        forbidden-call guard for ``families``; with ``scaling`` = {scale: (args, kwargs)}
        (the exercise's scaling_case at the scales ``loops_over_input`` asks for), also run
        the vectorization check."""
        run = ExerciseRun(name, [None] * len(calls))
        first, hangs, crashes = 0, 0, 0
        while True:
            stop = self._attempt(run, calls, first, tuple(families), scaling)
            if stop is None:
                return run
            kind, index, reason = stop
            if kind == "cell":
                self.cell_problems[index] = reason
                continue
            if kind == "case":
                run.outcomes[index] = Outcome(failure=f"the call {reason}")
                if "did not finish" in reason:
                    hangs += 1
                else:
                    crashes += 1
                if hangs >= self.limits.max_hangs or crashes >= self.limits.max_crashes:
                    return run
                first = index + 1
                if first >= len(calls) and scaling is None:
                    return run
                continue
            if kind == "vector":
                run.not_vectorized = f"the vectorization check {reason}"
                return run
            if kind == "audit":
                run.tampered = f"the grader's checks {reason} after the answer ran"
                return run
            # Before any student code ran: the sandbox itself failed. Retry once.
            crashes += 1
            if crashes > 1:
                run.missing = f"could not be run: the sandbox failed ({reason})"
                return run

    def _attempt(self, run: ExerciseRun, calls, first: int, families, scaling):
        """One child from ``first`` on. None when it finished; else (phase, index, reason)
        for where it stopped (the phase being cell / case / vector / audit / setup)."""
        if self._zygote is None or not self._zygote.alive():
            self._start()
        zygote = self._zygote
        zygote.wait_ready()
        zygote.discard()  # whatever an earlier child left half-written
        cells = [(c.index, c.label, c.source) for c in self.cells if c.index not in self.cell_problems]
        job = {
            "cmd": "run", "name": run.name, "cells": cells,
            "calls": [(k, calls[k]) for k in range(first, len(calls))],
            "families": families, "scaling": scaling, "cuda": _uses_cuda(calls),
            "limits": {"memory_mb": self.limits.memory_mb, "cpu_seconds": self.limits.cpu_seconds},
        }
        if not zygote.command(job):
            self._restart()
            return ("setup", None, "could not send the job")
        state = _RunState(run, self.limits)
        deadline = time.monotonic() + self.limits.setup_seconds
        while True:
            try:
                received = zygote.receive(deadline)
            except _Corrupt as exc:
                return self._stop(state, f"wrote garbage into the grader's channel ({exc})", garbage=True)
            if received[0] == _TIMEOUT:
                if state.finished:  # the child said all it had to; its exit report is late
                    self._stop(state, "")
                    return None
                return self._stop(state, f"did not finish within {state.seconds:g} s (an infinite loop?)")
            if received[0] == _EOF:
                _kill_group(state.pid)
                self._restart()
                return (*state.phase, "ended the sandbox (its parent process was killed)")
            source, message = received
            if source == "status":
                if message[0] == "child":
                    state.pid = int(message[1])
                elif message[0] == "exit":
                    return self._ended(state, int(message[2]))
                continue
            try:
                state.take(message)
            except (IndexError, TypeError, ValueError) as exc:
                return self._stop(state, f"wrote garbage into the grader's channel ({exc!r:.80})", garbage=True)
            if state.new_phase:
                deadline = time.monotonic() + state.seconds

    def _ended(self, state: "_RunState", code: int):
        """The zygote says the child is gone: read what it wrote last, then judge."""
        _kill_group(state.pid)  # anything it left behind in its process group
        try:
            for message in self._zygote.drain():
                state.take(message)
        except (_Corrupt, IndexError, TypeError, ValueError) as exc:
            self._zygote.discard()
            return (*state.phase, f"wrote garbage into the grader's channel ({exc!r:.80})")
        if state.finished:
            return None
        return (*state.phase, _ending(code, self.limits))

    def _stop(self, state: "_RunState", reason: str, garbage: bool = False):
        """Kill the child, wait for the zygote to report it, and leave the channel clean."""
        _kill_group(state.pid)
        deadline = time.monotonic() + 10
        while True:
            try:
                received = self._zygote.receive(deadline)
            except _Corrupt:
                garbage = True
                continue
            if received[0] in (_TIMEOUT, _EOF):
                self._restart()
                break
            if received[0] == "status" and received[1][0] == "child" and state.pid is None:
                state.pid = int(received[1][1])
                _kill_group(state.pid)
            elif received[0] == "status" and received[1][0] == "exit":
                break
        if self._zygote is not None and not garbage:
            try:
                for message in self._zygote.drain():
                    state.take(message)
            except (_Corrupt, IndexError, TypeError, ValueError):
                pass  # the next attempt starts from a clean channel anyway
        return (*state.phase, reason)

    def _restart(self) -> None:
        if self._zygote is not None:
            self._zygote.kill()
            for key, zygote in list(_SHARED.items()):
                if zygote is self._zygote:
                    del _SHARED[key]
        self._zygote = None  # started again on the next attempt


if __name__ == "__main__":
    _zygote(sys.argv[1], int(sys.argv[2]))

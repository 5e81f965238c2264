"""A regrade's reference calls, run in a process of their own: never in the grader's.

When the grader regrades a caller with the reference of a callee it is built on
(``Exercise.uses``), the caller's sandboxed child asks for each call of that callee
(``inside._reference_proxy``); the grader's side (``host.py``) hands the request to this
module's ``ReferenceRunner``: one small Python process per Sandbox, started on the first
request, that imports convlab and runs the reference on the arguments the student chose,
under

* a **deadline per call**: what is left of the calling case's time (the case's own limit
  at most); past it the runner is killed, and started again for the next request;
* a **memory cap**: RLIMIT_AS, set by the runner itself once its imports are done
  (``memory_mb`` above what they use);
* a **result cap**: ``RESULT_ELEMENTS`` values in all, ``REPLY_BYTES`` on the wire;
* one thread, CPU only.

Past a cap the reply is an error that the caller's case fails with ("the reference im2col
ran past its limit ... on the arguments your conv2d_im2col passed it"). The grader never
parses what the student sent: it checks the callee's name and passes bytes on; the runner
reads them with the wire's bounds (``wire.from_json``). The runner is a child of the
grading process, so a grading worker's budget (workers.py) ends it with the worker; the
Sandbox kills it when it closes; it dies with its parent (PR_SET_PDEATHSIG) and at the end
of its input.
"""
from __future__ import annotations

import json
import marshal
import os
import select
import signal
import subprocess
import sys
import time

# Already loaded with this package (host.py imports convlab.checks): no cost at start-up.
from convlab.checks.values import tensors_in

from . import wire

__all__ = ["ReferenceRunner", "limit_message", "error_reply", "ARG_ELEMENTS", "RESULT_ELEMENTS",
           "REPLY_BYTES", "REQUEST_BYTES", "serve"]

ARG_ELEMENTS = 2**20      # values of one tensor argument
RESULT_ELEMENTS = 2**20   # values of every tensor of a result together
REPLY_BYTES = 16 * 2**20  # a reply's JSON (RESULT_ELEMENTS float64, base64, fit)
REQUEST_BYTES = 32 * 2**20
_MARGIN = 0.25  # seconds the child keeps, after a reply, to finish its case and report it
_READY = b"ready"
# The runner's program: bound to die with the grader before its slow imports (Linux's
# PR_SET_PDEATHSIG; the grader may already be gone by then), then ``serve``.
_RUNNER = ("import ctypes, os, sys\n"
           "try:\n"
           "    ctypes.CDLL(None).prctl(1, 9)\n"
           "except Exception:\n"
           "    pass\n"
           "if os.getppid() != int(sys.argv[1]):\n"
           "    os._exit(0)\n"
           "from autograder.sandbox.references import serve\n"
           "serve()\n")


def limit_message(callee: str, caller: str, what: str) -> str:
    return (f"the reference {callee} ran past its limit ({what}) on the arguments your "
            f"{caller} passed it")


def error_reply(text: str) -> bytes:
    """A reply that the proxy raises as ``text`` says (ValueError, else RuntimeError)."""
    return json.dumps({"kind": "error", "text": wire.clip(text, 400)}).encode()


class ReferenceRunner:
    """The reference-runner process of one Sandbox (see the module's docstring)."""

    def __init__(self, memory_mb: int, startup_seconds: float = 90.0):
        self.memory_mb = memory_mb
        self.startup_seconds = startup_seconds
        self.proc: subprocess.Popen | None = None
        self.starts = 0  # processes started, for tests and reports

    # -- the process --------------------------------------------------------------------

    def _start(self, until: float) -> bool:
        """Start the runner and wait for it to be ready, at most until ``until``."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in sys.path if p)  # our imports
        env["CUDA_VISIBLE_DEVICES"] = ""  # CPU only: no driver memory, nothing shared
        env["OMP_NUM_THREADS"] = "1"
        # -P, and / as its folder: no file of the folder the grader runs in is importable
        # (a submission's torch.py) but through the grader's own sys.path.
        command = [sys.executable, "-P", "-c", _RUNNER, str(os.getpid()), str(int(self.memory_mb))]
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
                                     env=env, cwd="/")
        self.starts += 1
        os.set_blocking(self.proc.stdin.fileno(), False)
        self.framer = wire.Framer(REPLY_BYTES + 4096)
        if self._read(until) != _READY:  # a torch import that hangs, or a broken install
            self.kill()
            return False
        return True

    def kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        proc.wait()

    close = kill

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _write(self, data: bytes, until: float) -> bool:
        fd, view = self.proc.stdin.fileno(), memoryview(data)
        while view:
            left = until - time.monotonic()
            if left <= 0:
                return False
            _, ready, _ = select.select([], [fd], [], left)
            if ready:
                try:
                    view = view[os.write(fd, view):]
                except BlockingIOError:
                    continue
                except OSError:
                    return False
        return True

    def _read(self, until: float) -> bytes | str:
        """The runner's next reply, or why there is none: "time" at ``until``, "ended"
        when the runner is gone, "size" past the reply cap."""
        fd = self.proc.stdout.fileno()
        while True:
            left = until - time.monotonic()
            if left <= 0:
                return "time"
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return "time"
            data = os.read(fd, 1 << 20)
            if not data:
                return "ended"
            replies = self.framer.feed(data)
            if self.framer.broken:
                return "size"
            if replies:
                return replies[0]  # one request at a time: never more than one reply

    # -- one call -----------------------------------------------------------------------

    def call(self, target: tuple[str, str], callee: str, caller: str, request: bytes,
             until: float, hard_stop: float) -> tuple[bytes, float]:
        """The reply to one request of ``caller``'s child for ``callee`` (the reference at
        ``target``, (module, qualname)), and the seconds spent starting the runner (the
        caller's case does not pay for those). ``until``: the calling case's deadline;
        ``hard_stop``: the exercise's, which nothing passes."""
        started = 0.0
        if not self.alive():
            self.kill()
            began = time.monotonic()
            ready = self._start(min(began + self.startup_seconds, hard_stop))
            started = time.monotonic() - began
            if not ready:
                return error_reply(f"RuntimeError: the grader could not start the reference {callee} "
                                   f"that your {caller} calls (in time)"), started
            until = min(until + started, hard_stop)
        if len(request) > REQUEST_BYTES:
            return error_reply(f"RuntimeError: the arguments your {caller} passed the reference {callee} "
                               f"are over the grader's limit ({REQUEST_BYTES // 2**20} MiB)"), started
        begin = time.monotonic()
        deadline = until - _MARGIN
        if deadline <= begin:
            what = "no time left in this case"
            return error_reply("RuntimeError: " + limit_message(callee, caller, what)), started
        message = wire.frame(marshal.dumps((target[0], target[1], callee, caller, request)))
        reply = self._read(deadline) if self._write(message, deadline) else "time"
        if isinstance(reply, bytes):
            return reply, started
        if reply == "time" and self.proc.poll() is not None:
            reply = "ended"
        self.kill()  # past a limit: the next call starts another runner
        what = {"time": f"{deadline - begin:.1f} s, what was left of this case's time",
                "size": f"a reply over {REPLY_BYTES // 2**20} MiB",
                "ended": f"it was ended; its memory limit is {self.memory_mb} MiB"}[reply]
        return error_reply("RuntimeError: " + limit_message(callee, caller, what)), started


# --- the runner process ------------------------------------------------------------------

def _cap_memory(memory_mb: int) -> None:
    """RLIMIT_AS: what the imports mapped, plus ``memory_mb``."""
    import resource

    with open("/proc/self/status") as status:
        size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    cap = size + memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _elements(value) -> int:
    """How many values the tensors of a reference's result hold (a reference's value is
    never nested past the walk's limit: if it were, the ValueError is its reply)."""
    return sum(t.numel() for t in tensors_in(value))


def _answer(module: str, qualname: str, callee: str, caller: str, request: bytes, memory_mb: int) -> bytes:
    import importlib

    try:
        message = json.loads(request)
        args = wire.from_json(message["args"], ARG_ELEMENTS)
        kwargs = dict(wire.from_json(message["kwargs"], ARG_ELEMENTS))
        if not all(isinstance(k, str) for k in kwargs):
            raise ValueError("keyword names must be strings")
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        return error_reply(f"RuntimeError: the grader could not read the arguments your {caller} passed "
                      f"the reference {callee} ({exc!s:.100}; at most {ARG_ELEMENTS} values a tensor)")
    except MemoryError:
        return error_reply("RuntimeError: " + limit_message(callee, caller, f"{memory_mb} MiB of memory"))
    try:
        reference = importlib.import_module(module)
        for part in qualname.split("."):
            reference = getattr(reference, part)
        value = reference(*args, **kwargs)
        del args, kwargs
        count = _elements(value)
        if count > RESULT_ELEMENTS:
            return error_reply("RuntimeError: " + limit_message(
                callee, caller, f"a result of {count} values; the limit is {RESULT_ELEMENTS}"))
        reply = json.dumps({"kind": "value", "value": wire.to_json(value)}).encode()
    except MemoryError:
        return error_reply("RuntimeError: " + limit_message(callee, caller, f"{memory_mb} MiB of memory"))
    except Exception as exc:  # the reference refusing the student's arguments
        text = f"{type(exc).__name__}: {exc}"
        if "can't allocate memory" in text or "not enough memory" in text:  # torch's allocator
            return error_reply("RuntimeError: " + limit_message(callee, caller, f"{memory_mb} MiB of memory"))
        return error_reply(wire.clip(text, 300))
    if len(reply) > REPLY_BYTES:
        what = f"a reply over {REPLY_BYTES // 2**20} MiB"
        return error_reply("RuntimeError: " + limit_message(callee, caller, what))
    return reply


def serve() -> None:
    """The runner's main loop (``_RUNNER``, argv: the grader's pid, MEMORY_MB)."""
    memory_mb = int(sys.argv[2])
    import torch

    torch.set_num_threads(1)
    import convlab  # noqa: F401  (every reference, imported before the cap)

    _cap_memory(memory_mb)
    framer = wire.Framer(REQUEST_BYTES + 4096)

    def send(payload: bytes) -> None:
        data = memoryview(wire.frame(payload))
        while data:
            data = data[os.write(1, data):]

    send(_READY)
    while True:
        data = os.read(0, 1 << 20)
        if not data or framer.broken:
            os._exit(0)
        for payload in framer.feed(data):
            module, qualname, callee, caller, request = marshal.loads(payload)  # the grader's: trusted
            send(_answer(module, qualname, callee, caller, request, memory_mb))

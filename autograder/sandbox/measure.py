"""How much work one call does: dispatcher calls and Python lines (runs inside the sandbox).

Every call of a vectorized exercise is measured the same way, hidden cases included, so
code that behaves differently when it notices the measurement behaves that way when it
is graded too. The grader compares calls whose inputs differ only in N, H or W, at
sizes drawn from the student's seed, and bounds the work of the smallest one (host.py):
a loop over pixels or the batch grows with the input, a loop padded to a fixed trip count
that covers every size the grader may draw costs a line or dispatcher calls per trip at
every size, and a loop over kernel taps or channels does neither.

Two counters, each seeing what the other cannot:

* torch's profiler (RecordFunction, in C++): one event for every op that enters the
  dispatcher, from Python, from C (``map(torch.Tensor.select, ...)``), from a tensor
  subclass's handler, from autograd and from TorchScript's interpreter, whatever dispatch
  keys, modes or guards are in force. The ways to call a kernel past that entry
  (``OpOverload.redispatch``, ``_op_dk``, ``_SafeKernelFunction.call_boxed``) and the
  ways to stop, restart or clear the profiler are replaced, in the supervisor before any
  child exists, by stand-ins that raise ``METER_EVENT`` (the child's audit hook refuses it:
  the exercise scores 0), everywhere they are referenced, as ``_disarm_frame_hooks`` in
  inside.py does for TorchDynamo's hooks.
* a trace function: one per Python line run in code that is not torch's, numpy's or the
  runtime's own (code objects that existed in their modules when the sandbox started: an
  answer cannot make one, whatever file name it compiles under), so that an honest loop
  over kernel taps is not charged for the lines of ``torch.einsum``'s Python wrapper.
  It is installed once, before the child's audit hook, and counts only between ``start``
  and ``stop``.

TorchScript (``torch.jit.script``/``trace``/``load``, ``CompilationUnit``, ``fork``) is
refused the same way (``JIT_EVENT``): its interpreter runs a scripted loop's ops through
the dispatcher, where the profiler counts them, but its fusers may run a loop body as one
kernel. ``torch.compile`` needs TorchDynamo's frame hooks, which inside.py refuses.

After each call the meter checks that its profiling session (opened under a random name)
and its tracer are still the ones it started; if not, the call's work is None and the
grader counts that against the exercise (it fails closed). The private originals live
only in the supervisor's and the child's frames (``prepare`` returns them; the runtime
keeps them in a local and hands them to ``Meter``), and in the closures of ``Meter``'s
functions, which only the runtime's locals hold.
"""
from __future__ import annotations

import sys

__all__ = ["Meter", "prepare", "METER_EVENT", "JIT_EVENT", "REFUSED_EVENTS"]

METER_EVENT = "torch's profiler controls or redispatch (the counters of the vectorization check)"
JIT_EVENT = "TorchScript (torch.jit: its compiled loops run where the vectorization check cannot count them)"
REFUSED_EVENTS = (METER_EVENT, JIT_EVENT)

# torch._C._autograd: what starts, stops or silences the profiler's callbacks.
_PROFILER_CONTROLS = ("_prepare_profiler", "_enable_profiler", "_disable_profiler", "_enable_profiler_legacy",
                      "_disable_profiler_legacy", "_enable_record_function", "_clear_callbacks",
                      "_set_empty_test_observer", "_kineto_step", "_toggle_collection_dynamic")
# torch._C._profiler: execution-trace observers add and remove RecordFunction callbacks.
_TRACE_OBSERVERS = ("_add_execution_trace_observer", "_remove_execution_trace_observer",
                    "_enable_execution_trace_observer", "_disable_execution_trace_observer")
# torch._C: what compiles, loads or runs TorchScript.
_JIT_FUNCTIONS = ("_jit_script_compile", "_jit_script_compile_overload", "_jit_script_class_compile",
                  "_jit_script_interface_compile", "_create_function_from_graph", "_create_function_from_trace",
                  "_create_function_from_trace_with_dict", "_create_method_from_trace",
                  "_create_method_from_trace_with_dict", "_jit_interpret_graph", "_jit_trace_graph",
                  "_jit_trace_module", "import_ir_module", "import_ir_module_from_buffer",
                  "_import_ir_module_from_package", "_load_for_lite_interpreter",
                  "_load_for_lite_interpreter_from_buffer", "_load_jit_module_from_bytes",
                  "_load_jit_module_from_file", "_load_mobile_module_from_bytes", "_load_mobile_module_from_file",
                  "fork", "wait", "_awaitable", "_awaitable_wait", "_awaitable_nowait", "CompilationUnit")
# (torch._C class, method): running scripted code, or a kernel past the dispatcher's entry.
_JIT_METHODS = (("ScriptFunction", "__call__"), ("ScriptMethod", "__call__"), ("ScriptClass", "__call__"),
                ("ScriptClassFunction", "__call__"), ("LiteScriptModule", "__call__"),
                ("LiteScriptModule", "forward"), ("LiteScriptModule", "run_method"),
                ("CompilationUnit", "define"), ("CompilationUnit", "create_function"))
_KERNEL_METHODS = (("_DispatchOperatorHandle", "redispatch_boxed"), ("_SafeKernelFunction", "call_boxed"))


def _stand_in(event: str, name: str):
    def refused(*args, **kwargs):
        sys.audit(event, name)
        raise PermissionError(f"the grading sandbox does not allow {name}: {event}")

    refused.__name__ = refused.__qualname__ = name.rsplit(".", 1)[-1]
    return refused


class _NoKernelAccess:
    """``OpOverload._op_dk`` (calls one dispatch key's kernel, past the profiler): reading
    it is refused, and an overload made later drops the one it is given."""

    def __get__(self, obj, owner=None):
        sys.audit(METER_EVENT, "OpOverload._op_dk")
        raise PermissionError(f"the grading sandbox does not allow OpOverload._op_dk: {METER_EVENT}")

    def __set__(self, obj, value):
        pass


def _boxed_overloads(original):
    """``torch._C._get_operation_overload`` without the kernel caller in what it returns.
    The original lives in a generator's frame: no attribute a student may read leads
    there (the child's audit hook refuses ``gi_frame``)."""

    def keeper():
        request = yield
        while True:
            found = original(*request[0], **request[1])
            if isinstance(found, tuple) and len(found) == 3:
                found = (found[0], _stand_in(METER_EVENT, "OpOverload._op_dk"), found[2])
            request = yield found

    box = keeper()
    next(box)
    send = box.send

    def _get_operation_overload(*args, **kwargs):
        return send((args, kwargs))

    return _get_operation_overload


def _library_code(packages=("torch", "numpy", "json", "wire", "values", "__main__")) -> dict:
    """The code objects of the functions and methods of ``packages``' modules loaded now
    (torch, numpy, and the runtime's own: inside.py is ``__main__``, its reference-callee
    proxy writes JSON and moves the reply to the caller's device with ``values``). Lines
    run there are not the answer's: its loops show as the dispatcher calls they make, and
    an answer cannot make a code object of theirs (exec makes new ones)."""
    import types

    codes, seen = set(), set()

    def add(code) -> None:
        if code not in codes:
            codes.add(code)
            for const in code.co_consts:
                if type(const) is types.CodeType:
                    add(const)

    def visit(value, depth: int) -> None:
        if id(value) in seen:
            return
        seen.add(id(value))
        kind = type(value)  # never getattr: some module attributes compute on access
        if kind is staticmethod or kind is classmethod:
            value = value.__func__
            kind = type(value)
        if kind is property:
            for accessor in (value.fget, value.fset, value.fdel):
                if accessor is not None:
                    visit(accessor, depth)
        elif kind is types.FunctionType:
            add(value.__code__)
        elif issubclass(kind, type) and depth < 3:
            for member in list(vars(value).values()):
                visit(member, depth + 1)

    for name, module in list(sys.modules.items()):
        if name.split(".")[0] in packages and module is not None:
            for value in list(getattr(module, "__dict__", {}).values()):
                visit(value, 0)
    # Keyed by the code object, looked up by identity (the tracer checks ``is``): code
    # objects compare equal by value, and an answer may compile one equal to torch's.
    return {code: code for code in codes}


def prepare():
    """In the supervisor, once, before any child: the profiler's controls (kept for the
    meter) and every refused entry point replaced by its stand-in wherever a module
    refers to it. Returns the private originals: keep them in a local, pass them to
    ``Meter``; nothing else may hold them."""
    import torch
    import torch._ops
    from torch._C import _autograd, _profiler

    private = {name: getattr(_autograd, name) for name in ("_prepare_profiler", "_enable_profiler",
                                                           "_disable_profiler", "_profiler_enabled")}
    private["config"] = _profiler.ProfilerConfig(_profiler.ProfilerState.KINETO, False, False, False, False,
                                                 False, _profiler._ExperimentalConfig())
    private["activities"] = {_profiler.ProfilerActivity.CPU}
    private["record"] = (_autograd._record_function_with_args_enter, _autograd._record_function_with_args_exit)
    private["settrace"], private["gettrace"] = sys.settrace, sys.gettrace
    private["library"] = _library_code()
    # One session here: the profiler's first start sets up state that a child, under its
    # limits, could not (and that would cost each child its own start-up).
    private["_prepare_profiler"](private["config"], private["activities"])
    private["_enable_profiler"](private["config"], private["activities"])
    private["_disable_profiler"]()

    originals = {}
    for module, names, event in ((_autograd, _PROFILER_CONTROLS, METER_EVENT),
                                 (_profiler, _TRACE_OBSERVERS, METER_EVENT),
                                 (torch._C, _JIT_FUNCTIONS, JIT_EVENT)):
        for name in names:
            if hasattr(module, name):
                originals[name] = (getattr(module, name), _stand_in(event, f"{module.__name__}.{name}"))
    kept = [original for original, _ in originals.values()]  # their ids stay theirs meanwhile
    stand_ins = {id(original): stand_in for original, stand_in in originals.values()}
    overloads = torch._C._get_operation_overload
    stand_ins[id(overloads)] = _boxed_overloads(overloads)
    kept.append(overloads)
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for key, value in list(namespace.items()):
            stand_in = stand_ins.get(id(value))
            if stand_in is not None and any(value is original for original in kept):
                namespace[key] = stand_in
    for methods, event in ((_JIT_METHODS, JIT_EVENT), (_KERNEL_METHODS, METER_EVENT)):
        for cls_name, method in methods:
            cls = getattr(torch._C, cls_name, None)
            if cls is not None and hasattr(cls, method):
                setattr(cls, method, _stand_in(event, f"torch._C.{cls_name}.{method}"))
    # The overloads made so far keep their kernel callers in their own __dict__.
    torch._ops.OpOverload._op_dk = _NoKernelAccess()
    for namespace in list(torch.ops.__dict__.values()):
        for packet in list(getattr(namespace, "__dict__", {}).values()):
            for overload in list(getattr(packet, "__dict__", {}).values()):
                if isinstance(overload, torch._ops.OpOverload):
                    overload.__dict__.pop("_op_dk", None)
    return private


class Meter:
    """Made in the child before its audit hook (it installs its tracer then, the one audited
    call it makes); afterwards ``start()`` before a call and ``stop()`` after it make no
    audited call: ``stop`` returns (dispatcher calls, Python lines) of the call, or None
    where the call moved the meter. ``private``: what ``prepare`` returned. (``start`` and
    ``stop`` take a ``settrace`` argument that they ignore, for the runtime's old calls.)"""

    def __init__(self, private: dict):
        import os

        lines, counting = [0], [False]
        prepare_profiler, enable, disable = (private["_prepare_profiler"], private["_enable_profiler"],
                                             private["_disable_profiler"])
        enabled = private["_profiler_enabled"]
        config, activities = private["config"], private["activities"]
        enter, leave = private["record"]
        gettrace = private["gettrace"]
        library = private.get("library", {})
        len_ = len
        marker = [""]
        hex_ = bytes.hex
        urandom = os.urandom

        def tracer(frame, event, arg):
            if event == "call":
                # Between calls nothing is traced; torch's, numpy's and the runtime's own
                # lines are not counted (their dispatcher calls are).
                code = frame.f_code
                return tracer if counting[0] and library.get(code) is not code else None
            if event == "line" and counting[0]:
                lines[0] += 1
            return tracer

        def start(settrace=None) -> None:
            lines[0] = 0
            # A name nobody else knows opens the session: stop checks that the session it
            # ends is this one, not one a student started after ending it.
            marker[0] = "convlab-meter-" + hex_(urandom(8))
            prepare_profiler(config, activities)
            enable(config, activities)
            leave(enter(marker[0], None))
            counting[0] = True

        def stop(settrace=None):
            counting[0] = False
            intact = gettrace() is tracer
            if not enabled():
                return None
            events = disable().events()
            intact = intact and len_(events) > 0 and events[0].name() == marker[0]
            return (len_(events) - 1, lines[0]) if intact else None

        private["settrace"](tracer)
        self.start, self.stop = start, stop

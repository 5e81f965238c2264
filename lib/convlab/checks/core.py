"""What a check is: cases, a reference, named mistakes, and one comparison.

The visible checks in the notebooks and the trusted grader share this module, so a
student sees the same diagnosis in the notebook as in the feedback:

* ``Case``      one call (args, kwargs), or one call that must raise ValueError;
* ``Mistake``   a function with the exercise's signature that computes what a known
                wrong implementation returns; if the student's output matches it, the
                message names the mistake;
* ``Exercise``  reference + mistakes + visible cases + rules (vectorized, forbidden);
* ``evaluate``  compares one output with the reference's and writes the message.

``evaluate`` never calls student code: the grader runs that in a sandbox and passes
only the returned value here.
"""
from __future__ import annotations

import hashlib
import math
import numbers
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .values import map_tensors, tensors_in

__all__ = [
    "error_type",
    "Case",
    "Mistake",
    "Exercise",
    "CaseResult",
    "REGISTRY",
    "register",
    "describe_value",
    "compare_outputs",
    "evaluate",
    "first_failure",
    "credit",
    "matching_error_mistakes",
    "TEST_PREFIX",
    "test_id",
    "exercise_of",
    "digits",
]

# A test cell's grade_id is the exercise's name after this prefix (COURSE.md).
TEST_PREFIX = "test_"


def test_id(name: str) -> str:
    """The grade_id of exercise ``name``'s test cell: ``corr2d`` -> ``test_corr2d``."""
    return f"{TEST_PREFIX}{name}"


test_id.__test__ = False  # not a pytest test, whatever its name


def error_type(text: str) -> str:
    """The exception's type name in an error reported as text, as the sandbox does:
    "ValueError: ...", "NotImplementedError (line 8 of your cell)"."""
    found = re.match(r"\s*([A-Za-z_][\w.]*)", text)
    return found[1] if found else ""


def exercise_of(grade_id: str) -> str | None:
    """``test_corr2d`` -> ``corr2d``; None for a grade_id that is not an exercise's test."""
    if grade_id.startswith(TEST_PREFIX) and len(grade_id) > len(TEST_PREFIX):
        return grade_id[len(TEST_PREFIX):]
    return None


def digits(expected: float, got: float) -> tuple[str, str]:
    """Both numbers printed with the fewest significant digits (at least 6) that tell
    them apart, so a message never reads "expected 1.0, got 1.0"."""
    for places in range(6, 18):
        a, b = f"{expected:.{places}g}", f"{got:.{places}g}"
        if a != b:
            return a, b
    return repr(expected), repr(got)


def describe_value(value) -> str:
    """Short, readable description of an argument or a result."""
    if isinstance(value, torch.Tensor):
        device = "" if value.device.type == "cpu" else f" on {value.device}"
        dtype = str(value.dtype).replace("torch.", "")
        if value.numel() <= 6 and value.dim() <= 1:
            return f"tensor({value.tolist()}, {dtype}{device})"
        return f"{dtype} tensor of shape {tuple(value.shape)}{device}"
    if isinstance(value, (list, tuple)) and len(value) > 8:
        return f"{type(value).__name__} of {len(value)} items, starting {list(value[:4])!r}"
    if isinstance(value, (list, tuple)) and _holds_tensor(value):
        # e.g. a model's weights for an adapter: shapes, not every number
        inner = ", ".join(describe_value(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    return repr(value)


def _holds_tensor(value) -> bool:
    try:
        return next(tensors_in(value), None) is not None
    except ValueError:  # nested too deeply to walk: described by its repr
        return False


@dataclass
class Case:
    """One call of an exercise. ``raises`` names the exception a correct answer raises."""

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    raises: type[BaseException] | None = None
    note: str = ""  # why the case is there, e.g. "padding larger than the kernel"

    def describe(self, name: str) -> str:
        parts = [describe_value(a) for a in self.args]
        parts += [f"{k}={describe_value(v)}" for k, v in self.kwargs.items()]
        text = f"{name}({', '.join(parts)})"
        return f"{text}  [{self.note}]" if self.note else text

    def to(self, device) -> "Case":
        """The same case with every tensor argument moved to ``device``, those in lists,
        tuples and dicts too (``values``' one walk, as every other mover of a value)."""
        args, kwargs = map_tensors((tuple(self.args), dict(self.kwargs)), lambda t: t.to(device))
        return Case(args, kwargs, self.raises, self.note)

    def clone(self) -> "Case":
        """A deep copy of the tensors, so a function that writes into its inputs cannot
        change what the reference sees."""
        args, kwargs = map_tensors((tuple(self.args), dict(self.kwargs)), lambda t: t.detach().clone())
        return Case(args, kwargs, self.raises, self.note)


@dataclass
class Mistake:
    """A known wrong answer: ``produce`` has the exercise's signature and returns what
    the mistaken code would (or raises if the mistake does not apply to the case)."""

    name: str
    hint: str
    produce: Callable[..., Any]
    # For a mistake that makes the code crash instead of return (an output sized wrongly
    # that a slice assignment then refuses): a regex whose matches in an error message
    # identify it, e.g. the sizes in torch's "The size of tensor a (9) must match ...".
    # ``produce`` raises what the mistaken code raises; a student's error of the same type
    # whose message holds the same matches is this mistake.
    error_pattern: str | None = None


@dataclass
class CaseResult:
    passed: bool
    message: str = ""
    mistake: str | None = None  # name of the matched Mistake, if any
    # Every named mistake whose output matches, and the message without the mistake line:
    # ``first_failure`` uses them to name the mistake that explains all failing cases.
    candidates: tuple[str, ...] = ()
    detail: str = ""
    # The mistakes the message names: more than one where their outputs are the same.
    named: tuple[str, ...] = ()
    raised: bool = False  # the answer raised on a valid input (no output to name a mistake by)
    error_type: str = ""  # with ``raised``: the exception's type name ("MemoryError")
    not_implemented: bool = False  # the answer is still the stub (raises NotImplementedError)
    # A valid case the answer returned a value for: that value as ``credit`` compares answers
    # (``answer_key``, None where unreadable), its kind and how to show it, and the kind of
    # the expected value (see ``answer_key``).
    answer_key: str | None = None
    answer_kind: str = ""
    answer_text: str = ""
    expected_kind: str = ""


def scale_axes(scale) -> tuple[int, int, int]:
    """(n, h, w) of a ``scaling_case`` scale: an int grows the three axes together."""
    if isinstance(scale, int):
        return scale, scale, scale
    n, h, w = scale
    return int(n), int(h), int(w)


@dataclass
class Exercise:
    """Everything the checks and the grader know about one exercise."""

    name: str
    assignment: str
    reference: Callable[..., Any]
    visible_cases: Callable[[], list[Case]]
    mistakes: list[Mistake] = field(default_factory=list)
    vectorized: bool = False
    # Forbidden op families, checked at the aten level by guards.ForbiddenCalls:
    # "conv", "unfold", or "conv_except_plain" (conv2d only with stride 1, padding 0,
    # dilation 1), "dilated_conv" (conv with dilation > 1).
    forbidden: tuple[str, ...] = ()
    # Makes a case at size ``scale`` (N, H and W grow with it, nothing else changes),
    # for the vectorization check; None where "vectorized" does not apply. ``scale`` is
    # an int (every growing axis at that scale: the visible check) or (n, h, w), one
    # scale per axis (the grader's, drawn per student); read it with ``scale_axes``.
    scaling_case: Callable[[int | tuple[int, int, int]], Case] | None = None
    rtol: float = 1e-5
    atol: float = 1e-6
    # The result's kind: "tensor", "int", "float", "bool", "int_list", "tuple_list", "module".
    returns: str = "tensor"
    # How a case calls the answer, where not plainly ``fn(*args, **kwargs)``: a function of
    # ``convlab.checks.adapters`` (by name), called as ``adapter(fn, *args, **kwargs)``. The
    # sandbox loads that file on its own, so a case's arguments stay plain data (tensors,
    # numbers, lists) and the adapter builds what cannot cross a process boundary (a model
    # from its description, a module from a class). The reference and the mistakes are
    # called through the same adapter.
    adapter: str | None = None
    # The course's designed decomposition: the other exercises of this assignment that this
    # one is built on (conv2d_im2col on im2col), each doing work this one does not ask for.
    # Where the answer fails cases, the grader regrades it with these callees' references
    # and keeps the better score, so a mistake in a callee is not charged twice. Only these:
    # a call to any other exercise runs the student's own function. Acyclic (tests pin it).
    uses: tuple[str, ...] = ()
    # Every ValueError the exercise must raise, in the words of the notebook's
    # instructions (its answer's docstring lists each); the visible and the hidden raising
    # cases carry these as their ``note``, one case at least for each (tests pin it).
    errors: tuple[str, ...] = ()

    def callees(self) -> tuple[str, ...]:
        """The exercises this one may be regraded with the reference of: its declared
        ``uses``, never the other exercises its answer happens to name (exercises calling
        each other in a circle would each be graded with the other's reference and earn
        credit for nothing they wrote). The grader's regrade and the visible check's blame
        both follow this one rule, so what passes a visible check passes at grading."""
        return tuple(self.uses)

    def call(self, fn, case: "Case"):
        """``fn`` called on a fresh copy of ``case``, through the exercise's adapter."""
        case = case.clone()
        if self.adapter is None:
            return fn(*case.args, **case.kwargs)
        from . import adapters

        return getattr(adapters, self.adapter)(fn, *case.args, **case.kwargs)


REGISTRY: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    if exercise.name in REGISTRY:
        raise ValueError(f"exercise {exercise.name!r} registered twice")
    REGISTRY[exercise.name] = exercise
    return exercise


def _first_difference(expected: torch.Tensor, got: torch.Tensor, rtol, atol) -> str:
    exp = expected.detach().to("cpu", torch.float64)
    val = got.detach().to("cpu", torch.float64)
    bad = ~torch.isclose(val, exp, rtol=rtol, atol=atol, equal_nan=False)
    count = int(bad.sum())
    index = tuple(int(i) for i in bad.nonzero()[0])
    worst = (val - exp).abs().nan_to_num(nan=math.inf).max().item()
    want, have = digits(exp[index].item(), val[index].item())
    return (
        f"values differ at {count} of {exp.numel()} positions; first at index {index}: "
        f"expected {want}, got {have} (largest difference {worst:.3g})"
    )


ROUNDING_ULPS = 32  # see compare_outputs: float32 FFT answers stay within 2 of these


def compare_outputs(expected, got, rtol: float = 1e-5, atol: float = 1e-6) -> str | None:
    """None when ``got`` equals ``expected``; otherwise what differs, shape first."""
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return f"expected a torch.Tensor, got {type(got).__name__}: {describe_value(got)}"
        if tuple(got.shape) != tuple(expected.shape):
            return f"shape: expected {tuple(expected.shape)}, got {tuple(got.shape)}"
        if got.dtype != expected.dtype:
            if expected.is_floating_point():
                why = "return the input's dtype: create new tensors with dtype=x.dtype"
            else:
                why = f"the result holds integers: create it with dtype={expected.dtype}"
            return f"dtype: expected {expected.dtype}, got {got.dtype} ({why})"
        if got.device != expected.device:
            return f"device: expected {expected.device}, got {got.device} (keep the input's device)"
        if got.is_floating_point() and not torch.isfinite(got).all() and torch.isfinite(expected).all():
            return "the output contains NaN or inf where the reference is finite"
        if expected.is_floating_point() and expected.numel():
            # A correct answer that sums in another order (an FFT, a matrix product) differs
            # by rounding that grows with the size of the values: in float32 that can pass
            # a fixed atol at an exact zero, so allow a few ulps of the largest value too.
            scale = expected.detach().abs().max().item()
            atol = max(atol, ROUNDING_ULPS * torch.finfo(expected.dtype).eps * scale)
        if not torch.allclose(got.detach(), expected.detach(), rtol=rtol, atol=atol):
            return _first_difference(expected, got, rtol, atol)
        return None
    if isinstance(expected, bool):
        # numpy's bool is ``numpy.bool_`` (named "bool" since numpy 2).
        if not isinstance(got, (bool,)) and not (type(got).__module__ == "numpy"
                                                 and type(got).__name__ in ("bool_", "bool")):
            return f"expected a bool, got {type(got).__name__}: {got!r}"
        return None if bool(got) == expected else f"expected {expected}, got {bool(got)}"
    if isinstance(expected, numbers.Integral):
        if isinstance(got, bool) or not isinstance(got, numbers.Integral):
            return f"expected an int, got {type(got).__name__}: {describe_value(got)}"
        return None if int(got) == int(expected) else f"expected {expected}, got {got}"
    if isinstance(expected, numbers.Real):
        if isinstance(got, bool) or not isinstance(got, numbers.Real):
            return f"expected a number, got {type(got).__name__}: {describe_value(got)}"
        if math.isclose(float(got), float(expected), rel_tol=rtol, abs_tol=atol):
            return None
        want, have = digits(float(expected), float(got))
        return f"expected {want}, got {have}"
    if isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)):
            return f"expected a {type(expected).__name__}, got {type(got).__name__}: {describe_value(got)}"
        if len(got) != len(expected):
            return f"expected {len(expected)} items, got {len(got)}: {describe_value(got)}"
        for i, (e, g) in enumerate(zip(expected, got)):
            if isinstance(e, tuple) and isinstance(g, list):
                g = tuple(g)
            diff = compare_outputs(e, g, rtol, atol)
            if diff:
                # Nested lists give one path, "item [1][0]: ...", not "item 1: item 0: ...".
                inner = re.match(r"item (\d+|(?:\[\d+\])+): ", diff)
                if inner:
                    path = inner[1] if inner[1].startswith("[") else f"[{inner[1]}]"
                    return f"item [{i}]{path}: {diff[inner.end():]}"
                return f"item {i}: {diff}"
        return None
    if expected is None:
        return None if got is None else f"expected None, got {describe_value(got)}"
    return None if got == expected else f"expected {expected!r}, got {got!r}"


def _is_zeros_like(expected, got) -> bool:
    return (
        isinstance(expected, torch.Tensor)
        and isinstance(got, torch.Tensor)
        and got.shape == expected.shape
        and got.device == expected.device  # a meta tensor has no values to look at
        and bool((got == 0).all())
        and bool((expected != 0).any())
    )


def matching_mistakes(exercise: Exercise, case: Case, got) -> list[Mistake]:
    """Every named mistake whose output on ``case`` equals ``got``, in catalogue order."""
    found = []
    for mistake in exercise.mistakes:
        try:
            wrong = exercise.call(mistake.produce, case)
        except Exception:  # the mistake does not apply to this case
            continue
        if compare_outputs(wrong, got, exercise.rtol, exercise.atol) is None:
            found.append(mistake)
    return found


def _error_text(error: BaseException | str) -> tuple[str, str]:
    """(type name, message) of an error, raised here or reported as text by the sandbox."""
    if isinstance(error, BaseException):
        return type(error).__name__, str(error)
    return error_type(error), error


def matching_error_mistakes(exercise: Exercise, case: Case, error: BaseException | str) -> list[Mistake]:
    """Every named mistake that crashes on ``case`` as the student's code did: the same
    exception type, and a match of its ``error_pattern`` in the student's message that the
    mistake's own message has too (a size that only the mistake gives, where the code's
    loop order decides which of its wrong sizes torch reports first)."""
    kind, text = _error_text(error)
    found = []
    for mistake in exercise.mistakes:
        if not mistake.error_pattern:
            continue
        try:
            exercise.call(mistake.produce, case)
        except Exception as exc:
            theirs = set(re.findall(mistake.error_pattern, str(exc)))
            if (type(exc).__name__ == kind.rsplit(".", 1)[-1]
                    and theirs & set(re.findall(mistake.error_pattern, text))):
                found.append(mistake)
    return found


def _with_mistake(detail: str, mistake: Mistake, *others: Mistake) -> str:
    text = f"{detail}\n  Likely mistake: {mistake.name}. {mistake.hint}"
    for other in others:
        text += f"\n  Or (same output here): {other.name}. {other.hint}"
    return text


def _named(exercise: Exercise, names) -> list[Mistake]:
    return [m for m in exercise.mistakes if m.name in names]


def first_failure(exercise: Exercise, results: list[CaseResult]) -> CaseResult | None:
    """The first failing result, naming the mistake that matches the most failing cases.

    A mistake can also crash on some inputs (a negative size from a wrong padding): where
    the first failing case raised, the case shown is the first whose output reveals which
    mistake it is, if one does, which teaches more than the crash. One case can fit two mistakes (a symmetric kernel hides a flip,
    equal channel counts hide swapped weight axes); across all failing cases usually only
    one fits every time.
    """
    failing = [r for r in results if not r.passed]
    if not failing:
        return None
    first = failing[0]
    if first.raised:
        first = next((r for r in failing if r.candidates), first)
    if not first.candidates:
        return first
    votes = {name: sum(name in r.candidates for r in failing) for name in first.candidates}
    top = max(votes.values())
    # Every mistake that explains as many failing cases as the best one: where two give
    # the same outputs, naming one would be a guess.
    best = _named(exercise, [name for name in first.candidates if votes[name] == top])
    return CaseResult(False, _with_mistake(first.detail, *best), best[0].name, first.candidates,
                      first.detail, tuple(m.name for m in best))


def _canonical(value):
    """What makes two answers "the same value" for ``credit``: a tensor whose entries are all
    equal is that one number, whatever its shape, dtype or device (``zeros_like`` of every
    expected output is one constant); anything else is its full content. Raises on what it
    cannot read (a meta tensor): such a value is left out of the comparison."""
    if isinstance(value, torch.Tensor):
        flat = value.detach().reshape(-1).cpu()
        if flat.numel() and bool((flat == flat[0]).all()):
            return ("filled with", flat[0].item())
        return ("tensor", str(flat.dtype), tuple(value.shape), flat.tolist())
    if isinstance(value, (list, tuple)):
        return ("list", tuple(_canonical(v) for v in value))
    kind = _kind(value)
    if kind == "bool":
        return (kind, bool(value))
    if kind == "number":
        return (kind, int(value) if isinstance(value, numbers.Integral) else float(value))
    if value is None or isinstance(value, str):
        return (kind, value)
    raise TypeError(f"no canonical form for {kind}")


def _kind(value) -> str:
    if isinstance(value, torch.Tensor):
        return "tensor"
    if isinstance(value, bool) or (type(value).__module__ == "numpy" and type(value).__name__ in ("bool_", "bool")):
        return "bool"
    if isinstance(value, numbers.Real):
        return "number"  # an int passes where a float is expected
    if isinstance(value, (list, tuple)):
        return "list"
    return type(value).__name__


def answer_key(got) -> dict:
    """The fields of ``CaseResult`` by which ``credit`` tells a constant: equal
    ``answer_key``s for the same answer, None for a value it cannot read (left out)."""
    try:
        canonical = _canonical(got)
    except Exception:  # an unreadable value is left out, never an error of the grader
        return {}
    text = (f"a tensor filled with {canonical[1]:g}" if canonical[0] == "filled with"
            else describe_value(got))
    return {"answer_key": hashlib.sha256(repr(canonical).encode()).hexdigest(),
            "answer_kind": _kind(got), "answer_text": text[:80]}


def credit(cases: list[Case], results: list[CaseResult]) -> tuple[float, str]:
    """(cases earned, a note when fewer than passed).

    * A constant earns nothing: where the answer returned one and the same value for every
      valid case it returned a value for, and that value is wrong for at least one of them,
      every case it passes is luck. Values of a kind no valid case expects (None now and
      then where ints are expected) are left out, so they do not hide a constant. An honest
      answer differs somewhere; one that returns the right value where it returns at all,
      and raises elsewhere, keeps what it passes.
    * The invalid-input cases (those that must raise) count in proportion to the valid
      cases passed, so raising ValueError alone earns nothing."""
    kinds = {r.expected_kind for c, r in zip(cases, results) if c.raises is None}
    returned = [r for c, r in zip(cases, results)
                if c.raises is None and r.answer_key is not None and r.answer_kind in kinds]
    if returned and len({r.answer_key for r in returned}) == 1 and not all(r.passed for r in returned):
        return 0.0, (f"It returns the same value ({returned[0].answer_text}) for every valid case, "
                     "although the expected values differ: a constant earns nothing.")
    valid = [r.passed for c, r in zip(cases, results) if c.raises is None]
    invalid = [r.passed for c, r in zip(cases, results) if c.raises is not None]
    if not valid or not any(invalid) or all(valid):
        return float(sum(valid) + sum(invalid)), ""
    share = sum(valid) / len(valid)
    earned = sum(valid) + sum(invalid) * share
    return earned, (f"The {sum(invalid)} invalid-input cases it passes count in proportion to the "
                    f"valid cases it gets right ({sum(valid)} of {len(valid)}): raising ValueError "
                    "alone earns nothing.")


def evaluate(exercise: Exercise, case: Case, got=None, error: BaseException | str | None = None,
             expected=None) -> CaseResult:
    """Judge one returned value (or raised error) against the reference on ``case``.

    ``error`` is the exception the student's function raised (or its text, from the
    sandbox); ``expected`` may be passed when already computed.
    """
    call = case.describe(exercise.name)
    if case.raises is not None:
        if error is None:
            return CaseResult(False, f"{call}\n  should raise {case.raises.__name__} (invalid input), "
                                     f"but returned {describe_value(got)}")
        if isinstance(error, BaseException) and not isinstance(error, case.raises):
            return CaseResult(False, f"{call}\n  should raise {case.raises.__name__}, "
                                     f"raised {type(error).__name__}: {error}")
        if isinstance(error, str) and not error.startswith(case.raises.__name__):
            return CaseResult(False, f"{call}\n  should raise {case.raises.__name__}, raised {error}")
        return CaseResult(True)
    if error is not None:
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        kind = error_type(error) if isinstance(error, str) else type(error).__name__
        if kind == "NotImplementedError":
            return CaseResult(False, f"{exercise.name} is not implemented yet (it raises NotImplementedError)",
                              not_implemented=True)
        if expected is None:
            try:
                expected = exercise.call(exercise.reference, case)
            except Exception:  # the reference cannot say either: show the error alone
                return CaseResult(False, f"{call}\n  raised {text}", raised=True, error_type=kind)
        message = f"{call}\n  raised {text}\n  expected {describe_value(expected)} (this input is valid)"
        found = matching_error_mistakes(exercise, case, error)
        if found:
            return CaseResult(False, _with_mistake(message, *found), found[0].name,
                              tuple(m.name for m in found), message, tuple(m.name for m in found),
                              raised=True, error_type=kind)
        return CaseResult(False, message, raised=True, error_type=kind)
    if expected is None:
        expected = exercise.call(exercise.reference, case)
    answer = dict(answer_key(got), expected_kind=_kind(expected))
    diff = compare_outputs(expected, got, exercise.rtol, exercise.atol)
    if diff is None:
        return CaseResult(True, **answer)
    message = f"{call}\n  {diff}"
    found = matching_mistakes(exercise, case, got)
    if found:
        return CaseResult(False, _with_mistake(message, *found), found[0].name,
                          tuple(m.name for m in found), message, tuple(m.name for m in found), **answer)
    shown = message
    if _is_zeros_like(expected, got):
        shown += ("\n  Every value of your output is 0 (the expected one has non-zero values): are "
                  "the results written into the tensor you return?")
    return CaseResult(False, shown, detail=message, **answer)

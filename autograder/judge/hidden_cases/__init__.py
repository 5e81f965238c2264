"""The trusted grader's hidden cases: many random calls per exercise, never shown in full.

Each exercise has a generator (public code); its seed is secret and each student's own:
HMAC-SHA256 of the course secret (``autograder.secret``, kept outside the repository) with
the assignment, the exercise, the student and the attempt (``SeedKey``). So the cases cannot
be known before grading, a lookup table made for one student or one attempt is worth nothing
for another, regrading the same submission (``nbgrader autograde``, ``convlab grade``) sees
the same cases and gives the same score, and the first failing case that feedback shows is
the student's alone. The cases are random draws, not the handful the notebooks show: an
answer fitted to the visible cases fails here.

The draws vary everything the contract lets vary: batch size, channels, non-square inputs
and kernels, stride, padding, output_padding, with and without bias, arguments passed by
position or by keyword or left at their defaults, float64 and float32 (float32 inputs are
small integers, so every correct order of summation gives the same result exactly), and a
few invalid calls that must raise ValueError. Shapes stay small (up to 2x4x12x12) so that
a correct loop-based answer runs each case in milliseconds.

Every draw is as good as every other (tests/test_draws.py): each catalogued mistake fails a
valid case of every draw and is named by it (generators put the cases a mistake needs in
fixed places, with random values: ``catching``); the draws are stratified (``Draw``), so two
students with the same mistake earn about the same; and no valid case expects all zeros
(or a list of all ones), which a constant would pass.

CUDA: where a GPU is present, every case with tensor arguments is repeated on it.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import random
import sys
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import torch

from convlab.checks.core import Case
from convlab.checks.values import leaves, map_tensors, tensors_in

__all__ = ["HIDDEN", "Draw", "SeedKey", "SeedTable", "seed_labels", "call", "catching", "generator", "cases", "cpu_cases",
           "default_devices"]


class Draw:
    """Random ints, choices and tensors from one seed.

    Stratified: each place in a generator that draws an int from a small range, a choice
    or a chance deals from its own shuffled deck (every value once before any repeats; a
    chance p is round(20 p) "yes" cards of 20) instead of drawing independently. So every
    student's cases hold each kind of case (padding or not, stride 1 or more, a bias or
    none) in about the same numbers, and two students with the same mistake fail about as
    many cases; which case gets which value stays random and secret."""

    _DECK_LIMIT = 64  # wider ranges (seeds, lengths up to 10 000) are drawn plainly

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.gen = torch.Generator().manual_seed(seed)
        self._decks: dict[tuple, list] = {}

    def _deal(self, key: tuple, cards: list):
        # The place in the generator's code, told apart to the bytecode: two draws on one
        # line (n, c_in, c_out) keep their own decks.
        caller = sys._getframe(2)
        key = (caller.f_code, caller.f_lasti, *key)
        deck = self._decks.get(key)
        if not deck:
            deck = self._decks[key] = list(cards)
            self.rng.shuffle(deck)
        return deck.pop()

    def int(self, low: int, high: int) -> int:
        if high - low + 1 > self._DECK_LIMIT or high < low:
            return self.rng.randint(low, high)
        return self._deal(("int", low, high), range(low, high + 1))

    def chance(self, p: float) -> bool:
        yes = round(20 * p)
        return self._deal(("chance", yes), [True] * yes + [False] * (20 - yes))

    def choice(self, options):
        return options[self._deal(("choice", len(options)), range(len(options)))]

    def dtype(self) -> torch.dtype:
        return torch.float32 if self.chance(0.25) else torch.float64

    def tensor(self, *shape: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        if dtype == torch.float64:
            return torch.randn(*shape, generator=self.gen, dtype=dtype)
        # Small integers: sums of products are exact in float32, whatever the order.
        return torch.randint(-3, 4, shape, generator=self.gen).to(dtype)


def call(draw: Draw, required: tuple, optional: list[tuple[str, object, object]], **case) -> Case:
    """A Case calling with ``required`` positionally, then each optional (name, value,
    default): positional while the previous ones were, else by keyword, and left out now
    and then when it equals its default."""
    args, kwargs = list(required), {}
    positional = draw.chance(0.3)
    for name, value, default in optional:
        if value is default or (isinstance(value, int) and not isinstance(value, bool) and value == default):
            if draw.chance(0.6):
                positional = False  # skipped: later arguments must be keywords
                continue
        if positional:
            args.append(value)
        else:
            kwargs[name] = value
    return Case(tuple(args), kwargs, **case)


def catching(draw: Draw, name: str, mistake: str, make: Callable[[], Case], tries: int = 1000) -> Case:
    """A valid case from ``make()`` (random values) on which the catalogued mistake
    ``mistake`` of exercise ``name`` returns a wrong value: a generator puts one such case in
    a fixed place of every draw, so that the mistake fails, and is named (by its output,
    not by an error), whatever the student's seed."""
    from convlab.checks import REGISTRY
    from convlab.checks.core import compare_outputs

    exercise = REGISTRY[name]
    produce = next(m.produce for m in exercise.mistakes if m.name == mistake)
    for _ in range(tries):
        case = make()
        try:
            right, wrong = exercise.call(exercise.reference, case), exercise.call(produce, case)
        except Exception:  # invalid here, or the mistake crashes: no output to name it by
            continue
        # Wrong, and equal to itself (no NaN): the feedback names a mistake whose output matches.
        if (compare_outputs(right, wrong, exercise.rtol, exercise.atol) is not None
                and compare_outputs(wrong, wrong, exercise.rtol, exercise.atol) is None):
            return case
    raise RuntimeError(f"{name}: no case of this kind catches {mistake!r}")


# name -> case generator; each is seeded with its own name, so adding one changes no other.
# One module per assignment (convolution.py, transposed.py, ...) registers its own.
_GENERATORS: dict[str, Callable[[Draw], list[Case]]] = {}


def generator(name: str):
    """Register the decorated function as the hidden-case generator of exercise ``name``."""

    def register(fn: Callable[[Draw], list[Case]]):
        if name in _GENERATORS:
            raise ValueError(f"two hidden-case generators for {name!r}")
        _GENERATORS[name] = fn
        return fn

    return register


@dataclass(frozen=True)
class SeedKey:
    """Whose hidden cases: the course secret with the assignment, the student and the
    attempt (the submission's timestamp, "" where none is known). Each exercise's seed is
    HMAC-SHA256(secret, [assignment, exercise, student, attempt]); the fields are encoded
    as a JSON list, so no two different keys give the same message."""

    secret: bytes = field(repr=False)
    assignment: str = ""
    student: str = ""
    attempt: str = ""

    def __post_init__(self):
        if not isinstance(self.secret, bytes) or len(self.secret) < 16:
            raise ValueError("SeedKey needs a course secret of at least 128 bits (16 bytes)")

    @classmethod
    def for_submission(cls, assignment: str = "", student: str = "", attempt: str = "",
                       secret_file=None) -> "SeedKey":
        """The key of one submission, with the course secret (created on first use)."""
        from ...secret import course_secret

        return cls(course_secret(secret_file), str(assignment), str(student), str(attempt))

    def seed(self, exercise: str) -> int:
        message = json.dumps([self.assignment, exercise, self.student, self.attempt]).encode()
        digest = hmac.new(self.secret, message, hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") >> 1  # 63 bits: any torch Generator takes it

    def table(self, exercises) -> "SeedTable":
        """Every seed grading ``exercises`` may draw for this submission, without the
        secret: what a grading worker receives (autograder.run.job)."""
        labels = [label for name in exercises for label in seed_labels(name)]
        return SeedTable(self.assignment, self.student, self.attempt,
                         tuple((label, self.seed(label)) for label in labels))


def seed_labels(exercise: str) -> tuple[str, ...]:
    """Every label a seed is drawn for while grading ``exercise``: its cases and their
    redraws (``cpu_cases``), the vectorization check's sizes and sample (grader._scales)."""
    return (exercise, *(f"{exercise}#{i}" for i in range(1, _RETRIES + 1)),
            f"{exercise}#more", f"{exercise}#scaling", f"{exercise}#sampled")


@dataclass(frozen=True)
class SeedTable:
    """The seeds of one submission, computed from its ``SeedKey`` where the course secret
    is: a worker that grades the submission gets these numbers and never the secret, so a
    worker (or a student who owns one) learns no other student's or attempt's cases.
    Same ``seed`` as the key it came from; a label outside the table is a KeyError."""

    assignment: str
    student: str
    attempt: str
    seeds: tuple[tuple[str, int], ...] = field(repr=False)

    def seed(self, exercise: str) -> int:
        for label, value in self.seeds:
            if label == exercise:
                return value
        raise KeyError(f"no seed for {exercise!r} in the submission's seed table "
                       "(hidden_cases.seed_labels must name every label grading draws)")


def cpu_cases(name: str, key: SeedKey | None = None) -> list[Case]:
    """The hidden cases of exercise ``name`` on the CPU for ``key``, the same on every call.
    No key: the course secret's cases for no student in particular (the instructor's
    check that the reference passes; grading always passes the submission's key)."""
    if name not in _GENERATORS:
        raise KeyError(f"no hidden cases for {name!r}")
    key = key if key is not None else SeedKey.for_submission()
    _REFERENCE.clear()
    drawn = _GENERATORS[name](Draw(key.seed(name)))
    # A valid call that is one of the notebook's visible cases (small integer arguments
    # make that likely for some seeds) is no hidden case: a lookup table of the visible
    # answers must earn nothing here, whatever the student's seed. Nor is one whose
    # expected value is all zeros (tiny float32 inputs of small integers can give that):
    # an answer that returns zeros would pass it. Such a case is replaced by the case in
    # the same place of further draws from the same key: each generator puts every kind of
    # case (the boundary cases that its catalogued mistakes need) in a fixed place, so
    # every draw keeps every kind.
    kept, seen, others = [], set(), []
    for index, case in enumerate(drawn):
        tries = 0
        while not _usable(name, case, seen) and tries < _RETRIES:
            if tries == len(others):
                others.append(_GENERATORS[name](Draw(key.seed(f"{name}#{tries + 1}"))))
            if len(others[tries]) == len(drawn):
                case = others[tries][index]
            tries += 1
        if _usable(name, case, seen):
            kept.append(case)
            seen.add(_fingerprint(case))
    if len(kept) < len(drawn):  # a generator whose draws differ in length: any valid case
        for case in _GENERATORS[name](Draw(key.seed(name + "#more"))):
            if len(kept) == len(drawn):
                break
            if case.raises is None and _usable(name, case, seen):
                kept.append(case)
                seen.add(_fingerprint(case))
    return kept


_RETRIES = 20


def _usable(name: str, case: Case, seen) -> bool:
    if case.raises is not None:
        return True
    fingerprint = _fingerprint(case)
    return fingerprint not in seen and fingerprint not in _visible(name) and not _degenerate(name, case)


def _numbers(value) -> list | None:
    """The numbers of a (nested) list of numbers; None for anything else."""
    if not isinstance(value, (list, tuple)) or not value:
        return None
    found = list(leaves(value))
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in found):
        return None
    return found


def _degenerate(name: str, case: Case) -> bool:
    """Whether the reference's value on ``case`` is made of tensors that are all zeros, or
    is a list of numbers all 0 or all 1: zeros or ones of the right shape would pass it."""
    from convlab.checks import REGISTRY

    exercise = REGISTRY.get(name)
    if exercise is None:
        return False
    try:
        value = _reference_value(exercise, case)
    except Exception:  # the tests of the generators catch a reference that fails a case
        return False
    numbers = _numbers(value)
    if numbers:
        return set(numbers) in ({0}, {1})
    tensors = list(tensors_in(value))
    return bool(tensors) and all(t.numel() and not bool(t.detach().ne(0).any()) for t in tensors)


# The reference's value on the cases of the exercise drawn last, computed once: cpu_cases
# needs it (_degenerate, asked again for the same case), and so does the grader's judging
# of every answer on the same cases (``expected``). Keyed by the case object itself (held
# here, so its id is not reused): a case that is not this very object is computed afresh.
# Each exercise's draw empties it, so a worker holds one exercise's values at most.
_REFERENCE: dict[int, tuple[Case, object]] = {}


def _reference_value(exercise, case: Case):
    held = _REFERENCE.get(id(case))
    if held is not None and held[0] is case:
        return held[1]
    value = exercise.call(exercise.reference, case)  # a fresh copy of the case's arguments
    _REFERENCE[id(case)] = (case, value)
    return value


def expected(case: Case):
    """The reference's value on ``case`` if ``cpu_cases`` computed it (this very case
    object, of the exercise drawn last), else None (the caller computes it)."""
    held = _REFERENCE.get(id(case))
    return held[1] if held is not None and held[0] is case else None


class _Tensor(NamedTuple):
    """A tensor argument by value, for ``_fingerprint``: its repr names it, so it cannot be
    mistaken for a tuple argument."""

    dtype: str
    shape: tuple
    values: list


def _plain(value):
    return map_tensors(value, lambda t: _Tensor(str(t.dtype), tuple(t.shape), t.detach().cpu().tolist()))


def _fingerprint(case: Case) -> str:
    """What a case is made of (arguments, values, expected error), comparable across draws."""
    return repr(([_plain(a) for a in case.args], sorted((k, _plain(v)) for k, v in case.kwargs.items()),
                 getattr(case.raises, "__name__", None)))


_VISIBLE: dict[str, frozenset[str]] = {}


def _visible(name: str) -> frozenset[str]:
    """The fingerprints of exercise ``name``'s visible cases (those the notebook checks)."""
    if name not in _VISIBLE:
        from convlab.checks import REGISTRY

        exercise = REGISTRY.get(name)
        cases = exercise.visible_cases() if exercise is not None else []
        _VISIBLE[name] = frozenset(_fingerprint(case) for case in cases)
    return _VISIBLE[name]


def default_devices() -> list[str]:
    """Where hidden cases run: the CPU, and the GPU when there is one."""
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def _has_tensor(case: Case) -> bool:
    # Whatever Case.to moves (a model's weights in a list, for an adapter, too): one walk.
    return next(tensors_in(case.args, case.kwargs), None) is not None


def cases(name: str, devices=None, key: SeedKey | None = None) -> list[Case]:
    """The CPU cases for ``key``, then each case with tensor arguments again on every other
    device."""
    base = cpu_cases(name, key)
    result = list(base)
    for device in devices if devices is not None else default_devices():
        if device != "cpu":
            result += [case.to(device) for case in base if _has_tensor(case)]
    return result


# The generators, one module per assignment; HIDDEN is every exercise they cover.
from . import atrous, convolution, gridding, hdc, transposed  # noqa: E402,F401

HIDDEN = frozenset(_GENERATORS)

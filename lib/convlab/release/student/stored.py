"""The student build's exercises: cases and expected outputs stored when the course was built.

``convlab release`` ran every visible case through the course's reference (and through
each named mistake) and saved the results in ``expected.pt``. Here each exercise gets an
``Exercise`` record whose reference and mistakes look those results up instead of
computing them, so ``check_<name>`` runs exactly as in the course repository: the same
cases, messages, named mistakes, forbidden-call and vectorization rules.
"""
from __future__ import annotations

import builtins
import hashlib
from pathlib import Path

import torch

from .core import Case, Exercise, Mistake, register
from .values import map_tensors, tensors_in

__all__ = ["StoredOutput", "StoredExercise", "case_key", "load"]

DATA = Path(__file__).with_name("expected.pt")


def _encode(value, out: list) -> None:
    """A canonical byte string of a case's plain data (tensors by value, on the CPU)."""
    if isinstance(value, torch.Tensor):
        t = value.detach().to("cpu").contiguous()
        out.append(f"T{t.dtype}{tuple(t.shape)}".encode())
        out.append(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(value, (list, tuple)):
        out.append(f"{type(value).__name__}{len(value)}[".encode())
        for item in value:
            _encode(item, out)
        out.append(b"]")
    elif isinstance(value, dict):
        out.append(f"dict{len(value)}{{".encode())
        for key in sorted(value, key=str):
            out.append(repr(key).encode())
            _encode(value[key], out)
        out.append(b"}")
    else:
        out.append(f"{type(value).__name__}:{value!r};".encode())


def case_key(case: Case) -> str:
    parts: list = []
    _encode(case.args, parts)
    _encode(case.kwargs, parts)
    parts.append(case.note.encode())
    return hashlib.sha256(b"".join(parts)).hexdigest()


class StoredOutput:
    """Stands for the reference (or one named mistake) of an exercise: what it returned on
    each stored case. It cannot be called on anything else."""

    def __init__(self, exercise: str, outputs: dict, what: str):
        self.exercise, self.outputs, self.what = exercise, outputs, what
        self.__name__ = f"stored {what} of {exercise}"

    def lookup(self, case: Case):
        key = case_key(case.to("cpu"))
        if key not in self.outputs:
            raise LookupError(f"the student build has no stored output of {self.what} of "
                              f"{self.exercise} for this case")
        kind, value = self.outputs[key]
        if kind == "raised":
            exc = getattr(builtins, value[0], RuntimeError)
            raise exc(value[1])
        first = next(tensors_in(case.args, case.kwargs), None)  # where the case's tensors are
        return map_tensors(value, lambda t: t.to(first.device)) if first is not None else value

    def __call__(self, *args, **kwargs):
        raise NotImplementedError(
            f"The student build of convlab has no implementation of {self.exercise}: "
            "only the expected outputs of its visible cases.")


class StoredExercise(Exercise):
    def call(self, fn, case: Case):
        if isinstance(fn, StoredOutput):
            return fn.lookup(case)
        return super().call(fn, case)


def _case(record: dict) -> Case:
    raises = getattr(builtins, record["raises"]) if record["raises"] else None
    return Case(tuple(record["args"]), dict(record["kwargs"]), raises, record["note"])


def _fresh(records):
    return lambda: [_case(r).clone() for r in records]


def load(path: Path = DATA) -> None:
    """Register every stored exercise (in course order)."""
    data = torch.load(path, weights_only=True)
    for name, record in data["exercises"].items():
        scaling = record["scaling_cases"]

        def scaling_case(scale, _scaling=scaling, _name=name):
            if scale not in _scaling:
                raise ValueError(f"no stored scaling case of size {scale} for {_name}")
            return _case(_scaling[scale]).clone()

        register(StoredExercise(
            name=name,
            assignment=record["assignment"],
            reference=StoredOutput(name, record["reference"], "the reference"),
            visible_cases=_fresh(record["cases"]),
            mistakes=[Mistake(m["name"], m["hint"], StoredOutput(name, m["outputs"], m["name"]),
                              m.get("error_pattern"))
                      for m in record["mistakes"]],
            vectorized=record["vectorized"],
            forbidden=tuple(record["forbidden"]),
            scaling_case=scaling_case if scaling else None,
            rtol=record["rtol"],
            atol=record["atol"],
            returns=record["returns"],
            adapter=record["adapter"],
        ))

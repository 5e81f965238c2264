"""Adapters: how a case calls an exercise that is not a plain function of plain data.

An ``Exercise`` with ``adapter="name"`` is called as ``name(fn, *case.args, **case.kwargs)``
(``Exercise.call``), by the visible checks, by the grader for the reference and the named
mistakes, and inside the grading sandbox for the student's answer. The sandbox loads this
file by itself, without the ``convlab`` package, so:

* import nothing but the standard library, ``torch`` and ``numpy`` here;
* take only plain data (tensors, numbers, strings, lists, tuples, dicts of them) and
  build anything else (a model from its description, a module from the student's class)
  inside the adapter;
* return plain data too (tensors, numbers, lists), which the grader compares.

Nothing here may compute an exercise's answer: this file is given to students.
"""
from __future__ import annotations

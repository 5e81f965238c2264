"""Which of a student's own top-level definitions an answer needs, found by reading code.

The grader runs each answer cell in a sandbox, not the whole notebook: a notebook's other
cells draw figures, time things, print. What an answer uses from those cells (a helper
function, a class, an import, a constant) must still come with it, or a function that
passes its visible check would fail at grading with a NameError. This module finds those
definitions statically, the same way for the grader (over the submitted notebook's cells)
and for the visible checks (over the IPython history of the student's kernel), so the two
agree:

* the names an answer reads from the module scope (``symtable``: a local variable that
  happens to share a name with a notebook variable is not a dependency);
* for each, the last top-level statement of another cell that binds it: a ``def``, a
  ``class``, an ``import``, or an assignment of a value computed without side effects
  (literals, arithmetic, attribute access, lambdas, calls of builtins and of imported
  modules such as ``torch.tensor``); then, transitively, what those statements read;
* a name bound only by other top-level code (a loop, a ``with``, a call of the student's
  own function, ``+=``) cannot be taken without running that code: it is reported, and the
  visible check says so before the student submits.

Work is bounded: only cells whose text mentions a needed name are transformed (IPython
magics) and parsed, a cell over ``CELL_LIMIT`` characters is never read, and reading stops
after ``TOTAL_LIMIT`` characters.
"""
from __future__ import annotations

import ast
import re
import symtable
from dataclasses import dataclass, field

__all__ = ["PREIMPORTS", "CELL_LIMIT", "TOTAL_LIMIT", "Binding", "Resolver", "python_source",
           "global_names"]

# The names every answer may use without importing them: the grader's sandbox defines
# them, and each notebook's first code cell imports them (tests pin both).
PREIMPORTS = {
    "math": "import math",
    "np": "import numpy as np",
    "torch": "import torch",
    "nn": "import torch.nn as nn",
    "F": "import torch.nn.functional as F",
}

CELL_LIMIT = 200_000    # characters of one cell; a larger cell is never parsed or run
TOTAL_LIMIT = 2_000_000  # characters parsed for one notebook, all cells together

# Calls that compute a value and do nothing else, when a constant is assigned from them.
_PURE_BUILTINS = frozenset({
    "abs", "all", "any", "bool", "bytes", "complex", "dict", "divmod", "enumerate", "filter",
    "float", "frozenset", "int", "isinstance", "len", "list", "map", "max", "min", "pow",
    "range", "reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple", "zip",
})


def python_source(source: str) -> str:
    """The cell as plain Python: IPython magics (``%timeit``, ``!ls``) become calls."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # without IPython, magics stay syntax errors of their own cell
        return source
    try:
        return TransformerManager().transform_cell(source)
    except Exception:
        return source


def _scope_globals(table) -> set[str]:
    """Module-scope names read inside a function, class, lambda or comprehension."""
    names = set()
    for child in table.get_children():
        for sym in child.get_symbols():
            if sym.is_global() and sym.is_referenced():
                names.add(sym.get_name())
        names |= _scope_globals(child)
    return names


def global_names(source: str) -> set[str]:
    """The module-scope names ``source`` reads and does not bind itself."""
    table = symtable.symtable(source, "<cell>", "exec")
    top = {s.get_name(): s for s in table.get_symbols()}
    bound = {name for name, s in top.items() if s.is_assigned() or s.is_imported()}
    read = {name for name, s in top.items() if s.is_referenced()}
    return (read | _scope_globals(table)) - bound


def _segment(lines: list[str], node: ast.stmt) -> str:
    """The statement's text, decorators included (top-level statements start a line)."""
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    if node.end_lineno is None:
        return ast.unparse(node)
    chunk = lines[start - 1:node.end_lineno]
    if not chunk:
        return ast.unparse(node)
    text = "".join(chunk)
    # Another statement on the same line (``a = 1; print(a)``): keep only this one.
    return text if not _shares_line(node, lines) else ast.unparse(node)


def _shares_line(node, lines) -> bool:
    # ast's column offsets count UTF-8 bytes, not characters.
    first = (lines[node.lineno - 1] if node.lineno - 1 < len(lines) else "").encode()
    last = (lines[node.end_lineno - 1] if node.end_lineno - 1 < len(lines) else "").encode()
    before = first[:node.col_offset].decode(errors="replace")
    after = last[node.end_col_offset:].decode(errors="replace").strip().lstrip(";").strip()
    return before.strip() != "" or (after != "" and not after.startswith("#"))


def _call_root(func: ast.expr) -> str | None:
    while isinstance(func, ast.Attribute):
        func = func.value
    return func.id if isinstance(func, ast.Name) else None


def _impurity(value: ast.expr) -> tuple[str | None, set[str]]:
    """(why the expression may have side effects, or None; the names its calls start from)."""
    roots = set()
    todo = [value]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Lambda):
            continue  # its body runs when called, not when the constant is assigned
        todo.extend(ast.iter_child_nodes(node))
        if isinstance(node, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
            return f"a {type(node).__name__.lower()} expression", roots
        if isinstance(node, ast.Call):
            root = _call_root(node.func)
            if root is None:
                return "the result of a call", roots
            roots.add(root)
    return None, roots


def _bound_names(target: ast.expr) -> list[str] | None:
    """Names a plain assignment target binds; None for an attribute or subscript target."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        names = []
        for elt in target.elts:
            inner = _bound_names(elt.value if isinstance(elt, ast.Starred) else elt)
            if inner is None:
                return None
            names += inner
        return names
    return None


def _stored_names(node: ast.AST) -> set[str]:
    """Every module-scope name a compound statement binds somewhere inside it."""
    names = set()
    for sub in ast.walk(node):
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(sub.name)
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            names.add(sub.id)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in sub.names}
    return names


_KIND = {ast.For: "a for loop", ast.AsyncFor: "a for loop", ast.While: "a while loop",
         ast.With: "a with block", ast.AsyncWith: "a with block", ast.If: "an if block",
         ast.Try: "a try block", ast.AugAssign: "an augmented assignment (+= ...)",
         ast.Match: "a match block"}


_COURSE_MODULES = frozenset({"convlab", "autograder", "nbgrader"})


def _course_import(node) -> bool:
    modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
    return any(m.split(".")[0] in _COURSE_MODULES for m in modules)


@dataclass
class Binding:
    """One top-level statement that binds ``name``: takeable (``why`` is None) or not."""

    name: str
    cell: int
    position: int          # the statement's place in its cell
    text: str              # its source
    why: str | None = None  # why it cannot be taken without running other code
    reads: frozenset = frozenset()  # module-scope names it reads
    call_roots: frozenset = frozenset()  # names its calls start from (must be pure)

    def is_definition(self) -> bool:
        """A ``def`` or ``class`` statement (decorated or not)."""
        try:
            node = ast.parse(self.text).body[0]
        except (SyntaxError, IndexError):
            return False
        return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))

    def first_line(self) -> str:
        line = self.text.strip().splitlines()[0] if self.text.strip() else ""
        return line if len(line) <= 60 else line[:57] + "..."


def _bindings(index: int, source: str) -> list[Binding]:
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    found = []
    for position, node in enumerate(tree.body):
        text = _segment(lines, node)

        def add(names, why=None, value=None):
            try:
                reads = frozenset(global_names(text)) if why is None else frozenset()
            except SyntaxError:
                reads = frozenset()
            roots = frozenset()
            if why is None and value is not None:
                why, roots = _impurity(value)
            for name in names:
                found.append(Binding(name, index, position, text, why, reads, roots))

        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            add([node.name])
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if _course_import(node):
                # The checks and the reference are not the answer's to take: a cell that ends
                # with check_<name>(<name>) must not pull the course's library into grading.
                continue
            names = [(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"]
            add(names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = []
            for target in targets:
                bound = _bound_names(target)
                names += bound or []
            if names and node.value is not None:
                add(names, value=node.value)
        elif isinstance(node, ast.Expr):
            continue
        else:
            names = sorted(_stored_names(node))
            if names:
                kind = _KIND.get(type(node), f"a {type(node).__name__} statement")
                add(names, why=kind)
    return found


@dataclass
class Resolution:
    """What a set of answer cells needs from the rest of the notebook."""

    taken: list[Binding] = field(default_factory=list)      # statements to run with them
    blocked: dict[str, Binding] = field(default_factory=dict)  # needed, bound only by other code
    unread: dict[str, str] = field(default_factory=dict)     # needed, in a cell not read (why)

    def cells(self) -> dict[int, str]:
        """cell index -> the taken statements of that cell, in order, as one source."""
        by_cell: dict[int, list[Binding]] = {}
        for b in sorted(self.taken, key=lambda b: (b.cell, b.position)):
            if all(b.position != other.position for other in by_cell.get(b.cell, [])):
                by_cell.setdefault(b.cell, []).append(b)
        return {cell: "\n".join(b.text.rstrip("\n") + "\n" for b in stmts)
                for cell, stmts in by_cell.items()}


class Resolver:
    """Finds definitions in a notebook's code cells (``sources``: index -> raw source, in
    notebook or execution order), reading only the cells that mention a needed name."""

    def __init__(self, sources: dict[int, str], cell_limit: int = CELL_LIMIT,
                 total_limit: int = TOTAL_LIMIT):
        self.sources = dict(sources)
        self.cell_limit = cell_limit
        self.budget = total_limit
        self._python: dict[int, str | None] = {}
        self._bindings: dict[int, list[Binding]] = {}
        self.problems: dict[int, str] = {}  # cell index -> why it was not read

    def python(self, index: int) -> str | None:
        """The cell as Python, or None where it is too large (or over the notebook's budget)."""
        if index not in self._python:
            raw = self.sources[index]
            if len(raw) > self.cell_limit:
                self.problems[index] = (f"is {len(raw) // 1000} KB, over the {self.cell_limit // 1000} KB "
                                        "a cell may have: it was not run")
                self._python[index] = None
            elif len(raw) > self.budget:
                self.problems[index] = "was not read: the notebook's cells together are too large"
                self._python[index] = None
            else:
                self.budget -= len(raw)
                self._python[index] = python_source(raw)
        return self._python[index]

    def bindings(self, index: int) -> list[Binding]:
        if index not in self._bindings:
            source = self.python(index)
            try:
                self._bindings[index] = _bindings(index, source) if source is not None else []
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                self._bindings[index] = []
        return self._bindings[index]

    def needs_of(self, index: int) -> set[str]:
        """The module-scope names cell ``index`` reads and does not bind."""
        source = self.python(index)
        if source is None:
            return set()
        try:
            return global_names(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return set()

    def _candidates(self, name: str, skip) -> list[int]:
        word = re.compile(rf"(?<![\w.]){re.escape(name)}\b")
        return [i for i, raw in self.sources.items() if i not in skip and word.search(raw)]

    def find(self, name: str, skip=()) -> Binding | str | None:
        """The last binding of ``name`` outside the cells in ``skip``; a str where the only
        cells that could bind it were not read; None where nothing binds it (a builtin)."""
        last, unread = None, None
        for index in self._candidates(name, set(skip)):
            if len(self.sources[index]) > self.cell_limit or index in self.problems:
                self.python(index)
                unread = f"cell #{index + 1} {self.problems.get(index, 'was not read')}"
                continue
            for binding in self.bindings(index):
                if binding.name == name:
                    last = binding
        if last is None and unread:
            return unread
        return last

    def find_definition(self, name: str, skip=()) -> Binding | None:
        """The last ``def name`` / ``class name`` outside the cells in ``skip``."""
        last = None
        for index in self._candidates(name, set(skip)):
            for binding in self.bindings(index):
                if binding.name == name and binding.is_definition():
                    last = binding
        return last

    def resolve(self, whole: set[int], start: set[str] | None = None) -> Resolution:
        """What the cells in ``whole`` (run in full) need, or, with ``start``, what those
        names need; found in the other cells, transitively."""
        result = Resolution()
        bound_by_whole = set()
        for index in whole:
            bound_by_whole |= {b.name for b in self.bindings(index)}
        todo = set(start) if start is not None else set().union(*(self.needs_of(i) for i in whole)) \
            if whole else set()
        seen: set[str] = set()
        while todo:
            name = todo.pop()
            if name in seen or name in bound_by_whole:
                continue
            seen.add(name)
            found = self.find(name, whole)
            if found is None:
                continue
            if isinstance(found, str):
                result.unread[name] = found
                continue
            why = found.why
            if why is None:
                impure = [r for r in found.call_roots if not self._pure_root(r, whole)]
                if impure:
                    why = f"the result of calling {impure[0]}(...)"
            if why is not None:
                result.blocked[name] = Binding(found.name, found.cell, found.position, found.text, why)
                continue
            result.taken.append(found)
            todo |= set(found.reads)
        return result

    def _pure_root(self, root: str, whole) -> bool:
        if root in _PURE_BUILTINS or root in PREIMPORTS:
            return True
        binding = self.find(root, whole)
        return isinstance(binding, Binding) and binding.text.lstrip().startswith(("import ", "from "))


def blocked_message(owner: str, blocked: dict[str, Binding], where=lambda b: f"cell #{b.cell + 1}") -> str:
    """What to tell a student whose answer needs names the grader cannot take."""
    parts = [f"`{name}` (set by {b.why} in {where(b)}: {b.first_line()})" for name, b in sorted(blocked.items())]
    return (f"{owner} uses {', '.join(parts)}. The grader runs your answer with your own functions, "
            "classes, imports and constants from other cells, but not with other top-level code: "
            "compute it inside the function, or define it with a plain def, import or constant "
            "assignment.")

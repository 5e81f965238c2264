"""Copy detection: how alike two students' answers to the same exercise are.

Each answer cell is first normalised with ``ast`` (student code is parsed, never run), so
the usual disguises change nothing:

* comments, docstrings and formatting: gone (the code is re-printed by ``ast.unparse``);
* names: every local name (arguments, variables, helpers) becomes ``v`` (torch's API,
  attributes, keywords and builtins stay: they are what makes solutions differ);
* order of independent statements: each run of statements is put in a canonical
  topological order (a statement only moves past statements it shares no name with);
* comprehensions: ``y = [e for x in xs if c]`` becomes the loop that appends to ``y``,
  and ``y = []; for ...: y.append(e)`` is what both spellings end up as;
* ``a += b`` is ``a = a + b``.

The normalised code's tokens are then fingerprinted by winnowing (the MOSS algorithm, as
implemented by the ``copydetect`` package), with the stub every student was given as
boilerplate, so the signature and the ``raise NotImplementedError()`` count for nothing.
A pair's score is the share of the shorter answer's tokens covered by fingerprints the
two share. Pairs at or above the threshold are listed for an instructor to review: the
score decides nothing.
"""
from __future__ import annotations

import ast
import builtins
import io
import re
import tokenize
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..safe_text import csv_cell

__all__ = ["Pair", "DEFAULT_THRESHOLD", "normalise", "similarity", "find_similar",
           "collect_answers", "course_answers", "similar_pairs", "write_csv", "CSV_COLUMNS"]

DEFAULT_THRESHOLD = 0.8
K = 10            # tokens per fingerprinted k-gram
WINDOW = 4        # winnowing window
# Tokens an answer must have beyond the stub to be compared: shorter ones (a size formula)
# are written the same way by everyone, so sameness says nothing.
MIN_TOKENS = 60
MAX_SOURCE = 50_000  # characters of one answer cell that are looked at
MAX_REORDER = 200    # statements of one block that are put in canonical order
MAX_CELLS = 500      # code cells of one notebook that are looked at
MAX_NOTEBOOK_SECONDS = 10.0  # time spent reading one notebook's answers, at most
REFERENCE = "reference"
CSV_COLUMNS = ("student_a", "student_b", "assignment", "exercise", "score")


@dataclass(frozen=True)
class Pair:
    student_a: str
    student_b: str          # another student, or "reference"
    assignment: str
    exercise: str
    score: float            # 0..1


# --- normalisation -------------------------------------------------------------------

_BUILTINS = set(dir(builtins))


class _StripDocstrings(ast.NodeTransformer):
    def _strip(self, node):
        self.generic_visit(node)
        body = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                             and isinstance(s.value.value, str))]
        node.body = body or [ast.Pass()]
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Module = _strip

    def visit_For(self, node):
        return self._strip(node)

    visit_While = visit_If = visit_With = visit_For


class _Hoist(ast.NodeTransformer):
    """Collects the comprehensions of one expression, replacing each with a fresh name."""

    def __init__(self, owner: "_Canonical"):
        self.owner = owner
        self.loops: list[ast.stmt] = []

    def visit_Lambda(self, node):
        return node  # its comprehensions run later, maybe never: leave them

    def _hoist(self, node, kind: str):
        self.generic_visit(node)  # inner comprehensions first: they run first
        name = self.owner.fresh_name()
        self.loops += self.owner.loop(name, node, kind)
        return ast.Name(name, ast.Load())

    def visit_ListComp(self, node):
        return self._hoist(node, "list")

    def visit_SetComp(self, node):
        return self._hoist(node, "set")

    def visit_DictComp(self, node):
        return self._hoist(node, "dict")

    def visit_Call(self, node):
        # sum(e for ...) / sum([e for ...]) is the loop that adds e up.
        if (isinstance(node.func, ast.Name) and node.func.id == "sum" and len(node.args) == 1
                and not node.keywords and isinstance(node.args[0], (ast.GeneratorExp, ast.ListComp))):
            return self._hoist(node.args[0], "sum")
        return self.generic_visit(node)


class _Canonical(ast.NodeTransformer):
    """Comprehensions become the loops they stand for (hoisted before their statement);
    ``a op= b`` becomes ``a = a op b``."""

    def __init__(self):
        self.fresh = 0

    def fresh_name(self) -> str:
        self.fresh += 1
        return f"_comprehension{self.fresh}"

    def loop(self, target: str, comp, kind: str) -> list[ast.stmt]:
        ref = ast.Name(target, ast.Load())
        if kind == "list":
            init = ast.List([], ast.Load())
            add = ast.Expr(ast.Call(ast.Attribute(ref, "append", ast.Load()), [comp.elt], []))
        elif kind == "set":
            init = ast.Call(ast.Name("set", ast.Load()), [], [])
            add = ast.Expr(ast.Call(ast.Attribute(ref, "add", ast.Load()), [comp.elt], []))
        elif kind == "dict":
            init = ast.Dict([], [])
            add = ast.Assign([ast.Subscript(ast.Name(target, ast.Load()), comp.key, ast.Store())], comp.value)
        else:  # sum
            init = ast.Constant(0)
            add = ast.Assign([ast.Name(target, ast.Store())], ast.BinOp(ref, ast.Add(), comp.elt))
        body: ast.stmt = add
        for generator in reversed(comp.generators):
            for condition in reversed(generator.ifs):
                body = ast.If(condition, [body], [])
            body = ast.For(generator.target, generator.iter, [body], [])
        return [ast.Assign([ast.Name(target, ast.Store())], init), body]

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        if isinstance(node.target, ast.Name):
            load = ast.Name(node.target.id, ast.Load())
            return self.visit_Assign(ast.Assign([node.target], ast.BinOp(load, node.op, node.value)))
        return node

    def _expression_statement(self, node, field: str):
        value = getattr(node, field)
        if value is None:
            return node
        hoist = _Hoist(self)
        setattr(node, field, hoist.visit(value))
        # The loops' own bodies may hold comprehensions too.
        loops = [self.visit(s) for s in hoist.loops]
        flat = []
        for item in loops:
            flat += item if isinstance(item, list) else [item]
        return flat + [node] if flat else node

    def visit_Assign(self, node):
        if (len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, (ast.ListComp, ast.SetComp, ast.DictComp))):
            # y = [e for ...] is the loop that fills y itself (no temporary).
            kind = {ast.ListComp: "list", ast.SetComp: "set", ast.DictComp: "dict"}[type(node.value)]
            out = []
            for stmt in self.loop(node.targets[0].id, node.value, kind):
                visited = self.visit(stmt)
                out += visited if isinstance(visited, list) else [visited]
            return out
        return self._expression_statement(node, "value")

    def visit_Return(self, node):
        return self._expression_statement(node, "value")

    def visit_Expr(self, node):
        return self._expression_statement(node, "value")

    def visit_AnnAssign(self, node):
        return self._expression_statement(node, "value")


def _names(node) -> tuple[set[str], set[str]]:
    """(names read, names written) anywhere in ``node``."""
    reads, writes = set(), set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            (writes if isinstance(sub.ctx, (ast.Store, ast.Del)) else reads).add(sub.id)
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            writes.add(sub.name)
        elif isinstance(sub, (ast.Subscript, ast.Attribute)) and isinstance(sub.ctx, ast.Store):
            base = sub.value
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                base = base.value
            if isinstance(base, ast.Name):
                writes.add(base.id)  # out[i] = ... changes out
        elif isinstance(sub, ast.Call):
            func = sub.func
            if isinstance(func, ast.Attribute):  # y.append(e), x.add_(1): may change y, x
                base = func.value
                while isinstance(base, (ast.Subscript, ast.Attribute)):
                    base = base.value
                if isinstance(base, ast.Name):
                    writes.add(base.id)
    return reads, writes


_BARRIERS = (ast.Return, ast.Raise, ast.Break, ast.Continue, ast.Global, ast.Nonlocal,
             ast.Import, ast.ImportFrom, ast.Try, ast.With, ast.AsyncWith, ast.Assert, ast.Delete,
             ast.Yield, ast.YieldFrom, ast.Await)


def _is_barrier(stmt: ast.stmt) -> bool:
    """A statement that may leave the block (or has effects no name shows): nothing moves
    past it. ``if bad: raise ValueError`` is one."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return False
    return any(isinstance(node, _BARRIERS) for node in ast.walk(stmt))


def _shape(node) -> str:
    """A statement's dump with every name blanked: the order key that renaming cannot change."""
    text = ast.dump(node, annotate_fields=False)
    return re.sub(r"Name\('[^']*'", "Name(_", text)


def _order(stmts: list[ast.stmt]) -> list[ast.stmt]:
    """Independent statements in a canonical order; dependent ones keep theirs."""
    for stmt in stmts:
        for field in ("body", "orelse", "finalbody"):
            if isinstance(getattr(stmt, field, None), list) and getattr(stmt, field):
                setattr(stmt, field, _order(getattr(stmt, field)))
        for handler in getattr(stmt, "handlers", []):
            handler.body = _order(handler.body)
    if len(stmts) > MAX_REORDER:
        return stmts  # (quadratic below) no real answer has blocks this long
    effects = [_names(s) for s in stmts]
    barrier = [_is_barrier(s) for s in stmts]
    n = len(stmts)
    after = {i: set() for i in range(n)}  # i must come after these
    for i in range(n):
        for j in range(i):
            ri, wi = effects[i]
            rj, wj = effects[j]
            if (barrier[i] or barrier[j]
                    or wi & (rj | wj) or wj & ri):
                after[i].add(j)
    keys = [_shape(s) for s in stmts]
    done: list[int] = []
    left = set(range(n))
    while left:
        ready = [i for i in left if after[i] <= set(done)]
        pick = min(ready, key=lambda i: (keys[i], i))
        done.append(pick)
        left.remove(pick)
    return [stmts[i] for i in done]


class _Rename(ast.NodeTransformer):
    """Every local name becomes ``v``; builtins and imported names stay."""

    def __init__(self, keep: set[str]):
        self.keep = keep

    def _new(self, name: str) -> str:
        # One name for all: which local is which cannot be matched across two answers
        # whose independent statements were written in another order, so none is told apart.
        if name in self.keep or name.startswith("__"):
            return name
        return "v"

    def visit_Name(self, node):
        node.id = self._new(node.id)
        return node

    def visit_arg(self, node):
        node.arg = self._new(node.arg)
        node.annotation = None
        return node

    def _def(self, node):
        node.name = self._new(node.name)
        node.returns = None
        node.decorator_list = [self.visit(d) for d in node.decorator_list]
        self.visit(node.args)
        node.body = [self.visit(s) for s in node.body]
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = _def

    def visit_ClassDef(self, node):
        node.name = self._new(node.name)
        self.generic_visit(node)
        return node


def _imported(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {a.asname or a.name for a in node.names}
    return names


def _without_magics(source: str) -> str:
    # IPython lines (%timeit, !ls, ?obj) are not Python; they carry no answer either.
    return "\n".join("" if line.lstrip().startswith(("%", "!", "?")) else line
                     for line in source.splitlines())


# Names a notebook's setup cell imports that an answer cell uses without importing.
NOTEBOOK_GLOBALS = {"torch", "F", "nn", "np", "math", "plt", "convlab", "figures", "time"}


def _text(source) -> str:
    """``source`` as text every later step can encode: a notebook's JSON may hold lone
    surrogates (``"\\ud800"``), which UTF-8 cannot encode; they become U+FFFD."""
    text = str(source)[:MAX_SOURCE]
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def normalise(source: str) -> str:
    """The answer as canonical Python, or its comment-free tokens if it does not parse."""
    source = _without_magics(_text(source))
    try:
        tree = ast.parse(source)
        tree = _StripDocstrings().visit(tree)
        tree = _Canonical().visit(tree)
        ast.fix_missing_locations(tree)
        tree.body = _order(tree.body)
        keep = _BUILTINS | _imported(tree) | NOTEBOOK_GLOBALS
        tree = _Rename(keep).visit(tree)
        ast.fix_missing_locations(tree)
        return ast.unparse(tree)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return " ".join(_raw_tokens(source))


def _raw_tokens(source: str) -> list[str]:
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                                tokenize.DEDENT, tokenize.ENDMARKER) and tok.string.strip():
                out.append(tok.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        out = source.split()
    return out


def _token_stream(normalised: str) -> str:
    """One character per token, so copydetect's k-grams are k tokens long."""
    return "".join(chr(0xE000 + zlib.crc32(t.encode("utf-8", "replace")) % 6000)
                   for t in _raw_tokens(_text(normalised)))


# --- fingerprints ----------------------------------------------------------------------

class _Fingerprints:
    def __init__(self, boilerplate_source: str | None = None):
        self.boilerplate = []
        if boilerplate_source:
            self.boilerplate = list(self._print(boilerplate_source, []).hashes)

    @staticmethod
    def _print(source: str, boilerplate):
        from copydetect import CodeFingerprint

        _stable_kgram_hashes()

        stream = _token_stream(normalise(source))
        return CodeFingerprint("answer.py", K, WINDOW, boilerplate=boilerplate, filter=False,
                               fp=io.StringIO(stream))

    def of(self, source: str):
        return self._print(source, self.boilerplate)


def _stable_kgram_hashes() -> None:
    """copydetect hashes k-grams with Python's hash(), which is salted per process
    (PYTHONHASHSEED): the same two answers would score differently in two runs, and a
    regrade would change similarity.csv. Its module gets a stable hash of its own."""
    from copydetect import utils

    if getattr(utils, "hash", None) is not _stable_hash:
        utils.hash = _stable_hash


def _stable_hash(text: str) -> int:
    import hashlib

    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                          "little", signed=True)


def _score(a, b) -> float:
    from copydetect import compare_files

    if min(a.token_coverage, b.token_coverage) < MIN_TOKENS:
        return 0.0  # a one-line formula is written the same way by everyone
    _, (share_a, share_b), _ = compare_files(a, b)
    return float(max(share_a, share_b))


def similarity(a: str, b: str, stub: str | None = None) -> float:
    """Similarity in [0, 1] of two answers to one exercise (``stub``: what both were given)."""
    prints = _Fingerprints(stub)
    return _score(prints.of(a), prints.of(b))


def find_similar(answers: dict[str, str], reference: str | None, stub: str | None,
                 assignment: str, exercise: str, threshold: float = DEFAULT_THRESHOLD) -> list[Pair]:
    """Pairs of students (and student-reference) whose answers score at least ``threshold``.
    An answer that cannot be fingerprinted is left out; it never stops the others."""
    prints = _Fingerprints(stub)
    done = {}
    for student in sorted(answers):
        try:
            done[student] = prints.of(answers[student])
        except Exception:  # noqa: BLE001  (one hostile answer never costs the class)
            continue
    students = sorted(done)
    ref = prints.of(reference) if reference is not None else None
    pairs = []
    for i, a in enumerate(students):
        for b in students[i + 1:]:
            score = _score(done[a], done[b])
            if score >= threshold:
                pairs.append(Pair(a, b, assignment, exercise, round(score, 3)))
        if ref is not None:
            score = _score(done[a], ref)
            if score >= threshold:
                pairs.append(Pair(a, REFERENCE, assignment, exercise, round(score, 3)))
    return pairs


# --- answers from notebooks --------------------------------------------------------------

def _definitions(source: str) -> set[str]:
    """The functions and classes a cell defines at its top level."""
    try:
        tree = ast.parse(_without_magics(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set(re.findall(r"^(?:def|class)\s+(\w+)", source, re.M))
    return {n.name for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _defines(source: str, name: str) -> bool:
    try:
        tree = ast.parse(_without_magics(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return bool(re.search(rf"^(def|class)\s+{re.escape(name)}\b", source, re.M))
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == name
               for n in tree.body)


def _answer_sources(path: Path, names) -> dict[str, str]:
    """The answer cell of each exercise, as the grader picks it: the nbgrader solution cell
    whose grade_id is the name, else the last code cell that defines the name. Bounded:
    the first MAX_CELLS code cells, MAX_SOURCE characters of each, MAX_NOTEBOOK_SECONDS."""
    import time

    import nbformat

    try:
        deadline = time.monotonic() + MAX_NOTEBOOK_SECONDS
        nb = nbformat.read(path, as_version=4)
        cells = [_text(c.get("source", "")) for c in nb.cells
                 if c.get("cell_type") == "code"][:MAX_CELLS]
        metas = [c.get("metadata", {}).get("nbgrader", {}) or {} for c in nb.cells
                 if c.get("cell_type") == "code"][:MAX_CELLS]
        found = {}
        for source, meta in zip(cells, metas):
            if isinstance(meta, dict) and meta.get("solution") and meta.get("grade_id") in names:
                found[meta["grade_id"]] = source
        missing = [name for name in names if name not in found]
        if missing:
            defined = []  # per cell, the top-level names it defines (each cell parsed once)
            for source in cells:
                if time.monotonic() > deadline:
                    break
                defined.append(_definitions(source))
            for name in missing:
                defining = [cells[i] for i, names_here in enumerate(defined) if name in names_here]
                if defining:
                    found[name] = defining[-1]
        return found
    except Exception:  # an unreadable notebook has no answer to compare; grading says why
        return {}


def _stubbed(source: str) -> bool:
    """The cell still is the stub (only a docstring and ``raise NotImplementedError``)."""
    return bool(re.search(r"raise\s+NotImplementedError", source)) and normalise(source).count("\n") <= 2


def collect_answers(root: Path, students, assignment: str, names,
                    notebooks=None) -> dict[str, dict[str, str]]:
    """exercise -> student -> answer cell source, from the notebooks the grader grades:
    ``root/<student>/<assignment>/<notebook>.ipynb`` for each of ``notebooks`` (default:
    the one named for the assignment). Other notebooks in the folder are not the answer."""
    out: dict[str, dict[str, str]] = {name: {} for name in names}
    for student in students:
        folder = Path(root) / student / assignment
        if not folder.is_dir():
            continue
        for notebook in notebooks or (assignment,):
            path = folder / f"{notebook}.ipynb"
            if not path.is_file() or path.is_symlink():
                continue
            for name, source in _answer_sources(path, names).items():
                try:
                    if not _stubbed(source):
                        out[name].setdefault(student, source)
                except Exception:  # noqa: BLE001  (one answer never stops the class)
                    continue
    return out


def course_answers(course_root: Path, assignment: str, names) -> tuple[dict[str, str], dict[str, str]]:
    """(reference answers from solutions/, stubs from notebooks/) by exercise."""
    refs, stubs = {}, {}
    for kind, into in (("solutions", refs), ("notebooks", stubs)):
        for path in sorted((Path(course_root) / kind / assignment).glob("*.ipynb")):
            for name, source in _answer_sources(path, names).items():
                into.setdefault(name, source)
    return refs, stubs


def similar_pairs(root: Path, students, assignments, course_root: Path,
                  threshold: float = DEFAULT_THRESHOLD, notebooks=None) -> list[Pair]:
    """Every flagged pair of a graded batch, by assignment and exercise. ``notebooks``:
    assignment -> the notebook names the grader grades (default: the assignment's id)."""
    import convlab

    pairs = []
    for assignment in assignments:
        names = convlab.EXERCISES.get(assignment, [])
        answers = collect_answers(root, students, assignment, names,
                                  (notebooks or {}).get(assignment))
        if not any(answers[name] for name in names):
            continue  # no answer, no pair: the course's notebooks need not be read
        refs, stubs = course_answers(course_root, assignment, names)
        for name in names:
            if not answers[name]:
                continue
            pairs += find_similar(answers[name], refs.get(name), stubs.get(name), assignment, name,
                                  threshold)
    return sorted(pairs, key=lambda p: (-p.score, p.assignment, p.exercise, p.student_a, p.student_b))


def write_csv(pairs: list[Pair], path: Path) -> None:
    from .grades import write_table

    # A student id is student-controlled: no spreadsheet may read it as a formula.
    write_table(path, CSV_COLUMNS, ([csv_cell(p.student_a), csv_cell(p.student_b), p.assignment,
                                     p.exercise, f"{p.score:.3f}"] for p in pairs))

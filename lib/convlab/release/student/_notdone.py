"""Cells that need an exercise you have not done yet: a note, not an error.

The student build has no reference to fall back on: a figure or demo that needs your
``dependency_map`` before its check passes cannot run. Raising there would paint the cell
red and stop Run All in the middle of the notebook's explanations, so in a notebook
(IPython) every cell runs under a guard instead:

* where the cell meets ``ExerciseNotDone``, it stops there and prints which exercise to
  finish; a figure it had begun loses its empty axes and shows the same note, so no blank
  frame is left behind;
* a later cell that uses a name such a cell did not get to set (``results``, ``maps``)
  stops with a note too, saying which exercise it waits for;
* every other error is raised as usual, with its own traceback.

The guard is an AST transformer (``install``): the cell's statements run inside
``try: ... except (ExerciseNotDone, NameError)``, the value of a last expression is kept
and shown as IPython would show it. Nothing changes outside a notebook.
"""
from __future__ import annotations

import ast
import sys
import textwrap

__all__ = ["CellGuard", "install"]

NAME = "__convlab_cell__"
_VALUE = "__convlab_value__"
_ERROR = "__convlab_error__"


def _assigned(tree: ast.AST) -> set[str]:
    """Names a cell binds at its top level (assignments, imports, defs, for targets)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def _unsafe(tree: ast.Module) -> bool:
    """Cells the guard leaves alone: top-level await, ``from __future__``, or nothing."""
    if not tree.body:
        return True
    for node in ast.walk(tree):
        if isinstance(node, (ast.Await, ast.AsyncFor, ast.AsyncWith)):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            return True
    return False


class _Transformer(ast.NodeTransformer):
    def visit_Module(self, tree: ast.Module) -> ast.Module:
        if _unsafe(tree):
            return tree
        body = list(tree.body)
        last = body[-1] if isinstance(body[-1], ast.Expr) else None
        if last is not None:
            # The last expression's value is kept and shown after the guard, as IPython
            # shows a cell's last expression.
            body[-1] = ast.copy_location(ast.Assign(targets=[ast.Name(_VALUE, ast.Store())],
                                                    value=last.value), last)
        names = sorted(_assigned(tree))
        guard = ast.Name(NAME, ast.Load())
        handler = ast.ExceptHandler(
            type=ast.Tuple([ast.Attribute(guard, "NotDone", ast.Load()), ast.Name("NameError", ast.Load())],
                           ast.Load()),
            name=_ERROR,
            body=[ast.If(test=ast.UnaryOp(ast.Not(), ast.Call(ast.Attribute(guard, "stopped", ast.Load()),
                                                              [ast.Name(_ERROR, ast.Load())], [])),
                         body=[ast.Raise()], orelse=[])])
        begin = ast.Expr(ast.Call(ast.Attribute(guard, "begin", ast.Load()),
                                  [ast.Constant(tuple(names))], []))
        new = [begin, ast.Try(body=body, handlers=[handler], orelse=[], finalbody=[])]
        if last is not None:
            new.append(ast.Expr(ast.Call(ast.Attribute(guard, "value", ast.Load()), [], [])))
        line = tree.body[0]
        for node in new:
            ast.copy_location(node, line)
        tree.body = new
        return ast.fix_missing_locations(tree)


class CellGuard:
    """The state the transformed cells share: lives in the notebook's namespace.
    ``NotDone`` is the exception that means "an exercise is not done yet"."""

    def __init__(self, namespace: dict, not_done: type[BaseException]):
        self.NotDone = not_done
        self.namespace = namespace
        self.waiting: dict[str, str] = {}  # a name a stopped cell did not set -> why
        self.names: tuple[str, ...] = ()
        self.figures: set[int] = set()
        self.stopped_note: str | None = None

    def begin(self, names) -> None:
        self.names = tuple(names)
        self.stopped_note = None
        self.namespace.pop(_VALUE, None)
        pyplot = sys.modules.get("matplotlib.pyplot")
        self.figures = set(pyplot.get_fignums()) if pyplot is not None else set()

    def value(self):
        """The cell's last expression, or None where the cell stopped before it."""
        return None if self.stopped_note else self.namespace.pop(_VALUE, None)

    def stopped(self, error: BaseException) -> bool:
        """True (and a note) where ``error`` means "an exercise is not done yet"; False
        for any other error, which the cell then raises as usual."""
        if isinstance(error, self.NotDone):
            note = str(error)
        elif isinstance(error, NameError) and getattr(error, "name", None) in self.waiting:
            note = (f"This cell needs `{error.name}`, which an earlier cell could not make: "
                    f"{self.waiting[error.name]}")
        else:
            return False
        self.stopped_note = note
        for name in self.names:
            if name not in self.namespace:
                self.waiting[name] = note
        print(f"\N{DOUBLE VERTICAL BAR} Not run yet. {note}")
        self._tidy_figures(note)
        return True

    def _tidy_figures(self, note: str) -> None:
        """Figures the cell began: empty axes hidden, and where nothing is left the note
        itself, so no blank frame is shown."""
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is None:
            return
        for number in sorted(set(pyplot.get_fignums()) - self.figures):
            fig = pyplot.figure(number)
            for ax in fig.axes:
                if not (ax.images or ax.lines or ax.collections or ax.patches or ax.texts
                        or ax.tables or ax.artists):
                    ax.set_visible(False)
            if not any(ax.get_visible() for ax in fig.axes):
                fig.set_size_inches(8, 1.4)
                fig.text(0.5, 0.5, textwrap.fill(note, 100), ha="center", va="center", fontsize=10,
                         color="#555555", wrap=True)


def install(shell=None, not_done: type[BaseException] | None = None) -> bool:
    """Run every later cell of this IPython kernel under the guard; False outside IPython.
    ``not_done``: the exception to stop a cell with a note (``ExerciseNotDone``)."""
    if not_done is None:
        from ._standins import ExerciseNotDone as not_done
    if shell is None:
        ipython = sys.modules.get("IPython")
        shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or not hasattr(shell, "ast_transformers"):
        return False
    if not any(isinstance(t, _Transformer) for t in shell.ast_transformers):
        shell.ast_transformers.append(_Transformer())
    if not isinstance(shell.user_ns.get(NAME), CellGuard):
        shell.user_ns[NAME] = CellGuard(shell.user_ns, not_done)
    return True

"""A first look at an answer cell's source, before anything runs: clear messages for
answers that name the reference library or the grader's machinery.

This is a courtesy, not a boundary: a name built from pieces passes it. What enforces
the rules is the sandbox (no course files mounted, forbidden kernels refused at the
dispatcher, the audit hook).
"""
from __future__ import annotations

import ast

__all__ = ["scan_source"]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 15] + " ... (truncated)"


# --------------------------------------------------------------------------------------
# The static scan
# --------------------------------------------------------------------------------------

_REFERENCE = "the reference library or the grader"

# Identifier -> why it may not appear in an answer. Matching is on identifiers (names,
# attributes, imported modules), so comments and docstrings never trigger it.
_FLAGGED_NAMES = dict.fromkeys(("convlab", "autograder"), _REFERENCE)
# Substrings checked in identifiers and in string constants.
_FLAGGED_PARTS = {"convlab": _REFERENCE, "autograder": _REFERENCE}


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

"""TeX formulas as MathML that we built, so math renders with no script and no file.

``nbgrader release_feedback`` hands back only the ``*.html`` files of a student's feedback
folder: a page that loaded MathJax from beside itself would show raw TeX. Browsers render
MathML Core themselves (Chrome 109+, Firefox, Safari), so the formulas are converted when
the page is written, by ``latex2mathml`` (pure Python).

The TeX is the student's (their reflection answers) or the course's; latex2mathml's output
is not trusted either: it turns ``\\href{javascript:..}`` into an ``href`` attribute and
``\\style``/``\\color`` into styling, and copies ``\\text{<img ...>}`` into the markup as is.
So its output is parsed as XML and rebuilt element by element through an allow-list:
MathML presentation elements only (no ``semantics``/``annotation-xml``/``mglyph``: where
HTML and MathML meet is where mutation XSS lives), a few attributes with checked values
(never ``href``, ``style``, ``class``, ``id``, ``on*``, ``xlink:*``; ``mathcolor`` neither:
a student could hide or recolour text), text escaped by our serializer. An unknown element,
markup latex2mathml leaves malformed, or a conversion error: ``None``, and the caller keeps
the TeX as escaped text (one bad formula never fails a page).
"""
from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

__all__ = ["to_mathml", "ELEMENTS", "ATTRIBUTES", "MAX_TEX_CHARS"]

_NS = "{http://www.w3.org/1998/Math/MathML}"

ELEMENTS = frozenset({
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup", "msubsup",
    "mfrac", "msqrt", "mroot", "mover", "munder", "munderover", "mtable", "mtr", "mtd",
    "mstyle", "mpadded", "mphantom", "menclose",
})

_BOOLEAN = re.compile(r"^(?:true|false)$")
_LENGTH = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:em|ex|px|pt|mu|%)?$")
_LENGTHS = re.compile(r"^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:em|ex|px|pt|mu|%)?\s*)+$")
_MATHVARIANTS = frozenset({
    "normal", "bold", "italic", "bold-italic", "double-struck", "bold-fraktur", "script",
    "bold-script", "fraktur", "sans-serif", "bold-sans-serif", "sans-serif-italic",
    "sans-serif-bold-italic", "monospace", "initial", "tailed", "looped", "stretched",
})
_NOTATIONS = frozenset({
    "longdiv", "actuarial", "radical", "box", "roundedbox", "circle", "left", "right", "top",
    "bottom", "updiagonalstrike", "downdiagonalstrike", "verticalstrike", "horizontalstrike",
    "madruwb", "updiagonalarrow", "phasorangle",
})
_ALIGNS = frozenset({"left", "center", "right"})


def _words(allowed: frozenset):
    return lambda value: bool(value.split()) and all(w in allowed for w in value.split())


# Attribute -> check of its value. Anything else is dropped.
ATTRIBUTES = {
    "display": lambda v: v in ("inline", "block"),
    "mathvariant": lambda v: v in _MATHVARIANTS,
    "form": lambda v: v in ("prefix", "infix", "postfix"),
    "notation": _words(_NOTATIONS),
    "columnalign": _words(_ALIGNS),
    "scriptlevel": lambda v: re.fullmatch(r"[+-]?\d{1,2}", v) is not None,
    "rowspacing": _LENGTHS.match,
    "columnspacing": _LENGTHS.match,
    **{name: _BOOLEAN.match for name in (
        "stretchy", "fence", "separator", "accent", "accentunder", "displaystyle",
        "movablelimits", "symmetric", "largeop")},
    **{name: _LENGTH.match for name in (
        "lspace", "rspace", "width", "height", "depth", "linethickness", "minsize",
        "maxsize")},
}

# Longer formulas, or deeper ones, stay TeX: conversion time stays bounded on a page.
MAX_TEX_CHARS = 2000
_MAX_DEPTH = 60


class _Refused(ValueError):
    pass


def _rebuild(element: ET.Element, out: list[str], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise _Refused("nested too deep")
    tag = element.tag
    if not isinstance(tag, str) or not tag.startswith(_NS) or tag[len(_NS):] not in ELEMENTS:
        raise _Refused(f"element {tag!r}")
    name = tag[len(_NS):]
    attributes = "".join(
        f' {key}="{html.escape(value, quote=True)}"'
        for key, value in sorted(element.attrib.items())
        if key in ATTRIBUTES and ATTRIBUTES[key](value))
    out.append(f"<{name}{attributes}>")
    if element.text:
        out.append(html.escape(element.text, quote=False))
    for child in element:
        _rebuild(child, out, depth + 1)
        if child.tail:
            out.append(html.escape(child.tail, quote=False))
    out.append(f"</{name}>")


def to_mathml(tex: str, display: bool = False) -> str | None:
    """``tex`` as a ``<math>`` element under the allow-list, or None where it cannot be
    (the caller then shows the TeX itself)."""
    if len(tex) > MAX_TEX_CHARS or not tex.strip():
        return None
    from latex2mathml.converter import convert

    try:
        root = ET.fromstring(convert(tex, display="block" if display else "inline"))
        if root.tag != _NS + "math":
            return None
        out: list[str] = []
        _rebuild(root, out, 0)
    except (Exception, RecursionError):  # latex2mathml's errors are of many kinds
        return None
    return "".join(out)

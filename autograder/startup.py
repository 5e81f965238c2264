"""What a grading process (the ``convlab grade`` coordinator, the workers' fork server)
does first, so that it starts quicker: imported for that effect, before nbgrader.

nbgrader imports nbformat, which imports jsonschema, whose format checkers import the
optional ``rfc3987_syntax`` when it is installed (here it comes with jupyter_events'
extras) and build about forty Lark parsers at import: 1.3 s of CPU in every process that
imports nbgrader, for the "iri" and "iri-reference" formats, which nothing in grading
checks (nbformat validates notebooks without format checking; jsonschema only checks a
format when asked to with a format checker). Marking it unavailable makes jsonschema
leave those two formats unchecked, as it does where the package is not installed.
"""
from __future__ import annotations

import sys

__all__ = ["SKIPPED"]

# Optional imports of our dependencies that no grading process uses.
SKIPPED = ("rfc3987_syntax",)

for _name in SKIPPED:
    # None in sys.modules makes `import name` raise ImportError; one already imported
    # (a test run, the instructor's own session) is left as it is.
    sys.modules.setdefault(_name, None)

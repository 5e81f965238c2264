"""What one cell may put on a page: the formgrader and feedback pages render at most a
capped size per cell.

The autograded notebook keeps what the grader needs: a code cell's whole source (graded
as written) and the grader's outputs; CapSubmission (autograder/preprocessor.py) cuts
only pasted markdown and attachments. A 50 MB string literal in an answer cell, or an
output that slipped past (a future grader message, a notebook graded by another path),
would still reach the instructor's browser through the formgrader, whose page is the
whole notebook at once, and could stall it. ``CapRender`` runs in HTMLExporter (every
page nbgrader renders with the course config: the formgrader's submission page and
GenerateFeedback's), on the copy being rendered, never on the file:

* a cell's source over ``max_source_chars`` is cut there, with a note;
* a cell's outputs over ``max_output_bytes`` in all are replaced by one text output: the
  start of their text and a note saying how much was left out (images and HTML over the
  budget are not shown).
"""
from __future__ import annotations

import json

from nbconvert.preprocessors import Preprocessor
from nbformat import v4
from traitlets import Bool, Int

__all__ = ["CapRender", "output_size"]


def output_size(output) -> int:
    """Bytes an output puts in the page, about (its JSON)."""
    return len(json.dumps(output, default=str))


def _text(output) -> str:
    if output.get("output_type") == "stream":
        text = output.get("text", "")
    elif output.get("output_type") == "error":
        text = f"{output.get('ename', '')}: {output.get('evalue', '')}"
    else:
        text = output.get("data", {}).get("text/plain", "")
    return text if isinstance(text, str) else "".join(text)


class CapRender(Preprocessor):
    enabled = Bool(True).tag(config=True)
    max_source_chars = Int(100_000, help="Characters of one cell's source a page shows"
                           ).tag(config=True)
    max_output_bytes = Int(256 * 1024, help="Bytes of one cell's outputs a page shows"
                           ).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        source = cell.get("source", "")
        source = source if isinstance(source, str) else "".join(source)
        if len(source) > self.max_source_chars:
            note = (f"[The page shows the first {self.max_source_chars} of this cell's "
                    f"{len(source)} characters.]")
            if cell.get("cell_type") == "markdown":
                # Escaped: a cut markdown source may leave a fence or a tag open.
                cut = source[: self.max_source_chars].replace("<", "&lt;")
                cell.source = f"{cut}\n\n*{note}*"
            else:
                cell.source = f"{source[: self.max_source_chars]}\n# {note}"
        outputs = cell.get("outputs") or []
        total = sum(output_size(o) for o in outputs)
        if total > self.max_output_bytes:
            text = "".join(_text(o) for o in outputs)[: self.max_output_bytes // 2]
            cell.outputs = [v4.new_output(
                "stream", name="stdout",
                text=f"{text}\n[The page shows at most {self.max_output_bytes // 1024} KiB of "
                     f"a cell's outputs; this cell's were {total // 1024} KiB: the rest, "
                     f"images and HTML included, is left out.]\n")]
        return cell, resources

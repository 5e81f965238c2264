"""The formgrader's Generate Feedback button: nbgrader's API (NbGraderAPI.generate_feedback)
forces HTMLExporter.template_name = "feedback" over the course's "convlab"; with the
course's template folder the only extra base, that name must resolve there, to the
course's sanitised page, or the button fails ("No template sub-directory with name
'feedback'"). The whole button is driven in tests/browser/test_instructor.py."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json
from nbconvert import HTMLExporter
from nbgrader.apps.baseapp import NbGrader
app = NbGrader(); app.load_config_file()
config = app.config
config.HTMLExporter.template_name = "feedback"  # what NbGraderAPI.generate_feedback sets
exporter = HTMLExporter(config=config)
print(json.dumps([str(p) for p in exporter.template_paths]))
"""


def test_the_feedback_template_name_the_formgrader_forces_is_the_course_page():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True)
    paths = [Path(p) for p in json.loads(out.stdout.strip().splitlines()[-1])]
    # Its own folder first, then the course's convlab template it builds on: never
    # nbgrader's unsanitised feedback page.
    assert paths[0].parts[-2:] == ("templates", "feedback"), paths[:3]
    assert paths[1].parts[-2:] == ("templates", "convlab"), paths[:3]
    assert not any("nbgrader" in p.parts for p in paths[:2])

"""The README's commands are the product's front door: keep them true."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import convlab

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_makefile_has_the_three_commands_and_ci_runs_make_test():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("lab", "demo", "test"):
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile lacks `{target}`"
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    for command in ("make lab", "make demo", "make test"):
        assert command in readme


def test_every_contract_name_imports_from_convlab():
    for names in convlab.EXERCISES.values():
        for name in names:
            assert callable(getattr(convlab, name)), name


def test_convlab_command_is_installed():
    result = subprocess.run([BIN / "convlab", "--help"], capture_output=True, text=True, check=True)
    for sub in ("grade", "demo", "generate"):
        assert sub in result.stdout


def test_jupyterlab_has_nbgrader_enabled():
    result = subprocess.run([BIN / "jupyter", "server", "extension", "list"],
                            capture_output=True, text=True, check=True)
    listing = result.stdout + result.stderr
    assert re.search(r"nbgrader\.server_extensions\.formgrader\s.*enabled", listing)
    labext = subprocess.run([BIN / "jupyter", "labextension", "list"],
                            capture_output=True, text=True, check=True)
    assert re.search(r"@jupyter/nbgrader.*enabled", labext.stdout + labext.stderr)


def test_nbgrader_reads_the_course_config_from_the_repo_root():
    code = (
        "from nbgrader.apps import NbGraderAPI\n"
        "from traitlets.config import Config\n"
        "from nbgrader.coursedir import CourseDirectory\n"
        "from nbgrader.apps.baseapp import NbGrader\n"
        "app = NbGrader(); app.load_config_file(); cd = CourseDirectory(config=app.config)\n"
        "print(cd.source_directory, cd.release_directory, cd.course_id)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["solutions", "notebooks", "convlab"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_lab_serves_the_course_with_the_formgrader():
    import json
    import os
    import signal
    import time
    import urllib.request

    port = _free_port()
    args = f"--no-browser --port={port} --ServerApp.ip=127.0.0.1 --IdentityProvider.token=convlab"
    if os.geteuid() == 0:
        args += " --allow-root"
    server = subprocess.Popen(["make", "--no-print-directory", "lab", f"LAB_ARGS={args}"], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/contents/notebooks?token=convlab", timeout=5) as r:
                    listing = json.load(r)
                break
            except OSError:
                assert server.poll() is None, "make lab exited"
                assert time.monotonic() < deadline, "JupyterLab did not answer within 90 s"
                time.sleep(1)
        assert {"01_convolution", "02_transposed"} <= {item["name"] for item in listing["content"]}
        with urllib.request.urlopen(f"{base}/formgrader?token=convlab", timeout=10) as r:
            assert r.status == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

"""``convlab release``: the students' archive works on its own and holds no answer.

The archive is built once (module fixture), its wheel installed into a fresh virtual
environment that sees the course's dependencies (torch, ipykernel, ...) but not the
course: no repository on the path, no editable install. There every student notebook
runs twice: as handed out (each check fails saying the exercise is not implemented) and
with the solutions pasted into the answer cells (every cell runs, every check passes).
The archive's files, the installed sources and their bytecode are searched for any
reference implementation, solution, grader or hidden-case code.
"""
from __future__ import annotations

import ast
import compileall
import json
import marshal
import re
import shutil
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import convlab
from convlab import release
from convlab.cli import ASSIGNMENTS
from grading_once import once
from student_build import install_student_build

ROOT = Path(__file__).resolve().parents[1]
CELL_TIMEOUT = 120


# --- fast: the pieces ---------------------------------------------------------------

def test_expected_outputs_round_trip_through_a_safe_load(tmp_path):
    import torch

    data = release.expected_outputs(("01_convolution",))
    torch.save(data, tmp_path / "e.pt")
    back = torch.load(tmp_path / "e.pt", weights_only=True)
    assert set(back["exercises"]) == set(convlab.EXERCISES["01_convolution"])
    corr = back["exercises"]["corr2d"]
    # Every non-raising case has the reference output and one output per named mistake.
    plain = [c for c in corr["cases"] if c["raises"] is None]
    assert len(corr["reference"]) == len(plain)
    assert all(len(m["outputs"]) == len(plain) for m in corr["mistakes"])


def test_no_standin_passes_its_check():
    release.check_standins(ASSIGNMENTS)  # raises ReleaseError otherwise


def test_audit_finds_a_planted_reference_function(tmp_path):
    import inspect

    archive = tmp_path / "leaky.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("convlab-course/notes.py", inspect.getsource(convlab.conv2d_im2col))
        zf.writestr("convlab-course/solutions/x.txt", "nothing")
    problems = release.audit(archive, ASSIGNMENTS)
    assert any("notes.py" in p and "conv2d_im2col" in p for p in problems), problems
    assert any("solutions/x.txt" in p for p in problems), problems


def test_release_refuses_an_import_the_student_build_lacks():
    plan = release._Plan()
    with pytest.raises(release.ReleaseError, match="im2col_indices"):
        plan.resolve("convlab.standard", ["im2col_indices"], "convlab/figures/x.py", set())


# --- slow: the whole archive in a fresh environment -----------------------------------

def _build_bundle(tmp: Path) -> None:
    archive = release.build(tmp / "course.zip")
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp / "unpacked")
    course = tmp / "unpacked" / "convlab-course"
    python, site = install_student_build(course, tmp / "venv")
    kernels = tmp / "jupyter" / "kernels" / "student"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "student build", "language": "python"}))
    (tmp / "site").write_text(str(site))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """The archive, unpacked, its wheel installed in a fresh environment: built once per
    session, shared by the xdist workers (each notebook's run is a test of its own)."""
    tmp = once(tmp_path_factory, "release", _build_bundle)
    return types.SimpleNamespace(archive=tmp / "course.zip", course=tmp / "unpacked" / "convlab-course",
                                 python=tmp / "venv" / "bin" / "python", site=Path((tmp / "site").read_text()),
                                 jupyter=tmp / "jupyter")


@pytest.mark.slow
def test_the_fresh_environment_has_the_student_build_and_nothing_of_the_course(bundle):
    probe = ("import importlib.util, convlab, convlab.checks, convlab.figures;"
             "print(convlab.__file__); print(convlab.STUDENT_BUILD);"
             "print([m for m in ('autograder', 'convlab.release', 'convlab.cli', 'convlab.checks.standard')"
             " if importlib.util.find_spec(m)])")
    out = subprocess.run([str(bundle.python), "-c", probe], cwd=bundle.course, check=True,
                         capture_output=True, text=True).stdout.split("\n")
    assert out[0].startswith(str(bundle.site)), out
    assert out[1] == "True"
    assert out[2] == "[]"


def _execute(nb, bundle, monkeypatch, path: Path):
    monkeypatch.setenv("JUPYTER_PATH", str(bundle.jupyter))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="student", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return nb


def _errors(cell) -> list[dict]:
    return [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]


def _grade_id(cell) -> str:
    return cell.metadata.get("nbgrader", {}).get("grade_id", "")


def _solutions(assignment: str) -> dict[str, str]:
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    out = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id"):
            out[meta["grade_id"]] = "\n".join(
                line for line in cell.source.splitlines() if "### BEGIN SOLUTION" not in line
                and "### END SOLUTION" not in line)
    return out


def _assigned(source: str) -> set[str]:
    try:
        tree = ast.parse("\n".join(l for l in source.splitlines() if not l.lstrip().startswith(("%", "!"))))
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)} | {
        n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


# Runs first in each notebook (before its imports and ``%matplotlib inline``, whose
# flush closes the figures after each cell): after every cell, the axes of every open
# figure that has nothing drawn in it, by execution count; printed by the last cell.
_EMPTY_AXES_PROBE = """
import json as _json
import matplotlib.pyplot as _plt
_empty_axes = []
def _record_empty_axes():
    for _n in _plt.get_fignums():
        for _ax in _plt.figure(_n).axes:
            if _ax.get_visible() and _ax.axison and not (_ax.images or _ax.lines or _ax.collections
                    or _ax.patches or _ax.texts or _ax.tables or _ax.artists):
                _empty_axes.append(get_ipython().execution_count - 1)  # counted up already
get_ipython().events.register("post_execute", _record_empty_axes)
"""


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_student_notebooks_with_stubs_fail_their_checks_saying_so(bundle, monkeypatch, tmp_path, assignment):
    # Issue 16: every figure and demo cell runs before its exercise is done (a torch
    # stand-in, or a note naming the exercise: never an error, never an empty frame),
    # and each failing check says that Run All stopped there and what to do. A notebook
    # per test: the runs are independent (no stub passes, so none leaves an answer in
    # CONVLAB_HOME), and xdist spreads them over its workers.
    monkeypatch.setenv("CONVLAB_HOME", str(tmp_path / "home"))
    path = bundle.course / "notebooks" / assignment / f"{assignment}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(_EMPTY_AXES_PROBE))
    nb.cells.append(nbformat.v4.new_code_cell("print(_json.dumps(_empty_axes))"))
    nb = _execute(nb, bundle, monkeypatch, path)
    tests = [c for c in nb.cells if _grade_id(c).startswith("test_")]
    assert tests
    for cell in tests:
        errors = _errors(cell)
        assert errors and errors[0]["ename"] in ("AssertionError", "CheckFailed"), (
            assignment, _grade_id(cell), errors)
        assert "is not implemented yet" in errors[0]["evalue"], errors[0]["evalue"]
        name = _grade_id(cell).removeprefix("test_")
        assert errors[0]["traceback"][0] == (
            f"Run All stopped here: {name} is not done yet. Write it in the cell above, then "
            "run this cell again."), errors[0]["traceback"]
    for cell in nb.cells:
        if cell.cell_type == "code" and cell not in tests:
            assert not _errors(cell), (assignment, cell.source[:200], _errors(cell))
    empty = json.loads(nb.cells[-1].outputs[0]["text"])
    drawn = {c.get("execution_count"): c.source[:120] for c in nb.cells if c.cell_type == "code"}
    assert not empty, (assignment, [drawn.get(n) for n in empty])
    notes = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "Not run yet" in notes or assignment == "01_convolution", assignment


@pytest.mark.slow
def test_student_notebooks_with_the_solutions_pasted_run_and_pass(bundle, monkeypatch, tmp_path):
    # One student working through the course in order: a later notebook's demos use the
    # answers that passed in an earlier one (kept in CONVLAB_HOME).
    monkeypatch.setenv("CONVLAB_HOME", str(tmp_path / "home"))
    for assignment in ASSIGNMENTS:
        path = bundle.course / "notebooks" / assignment / f"{assignment}.ipynb"
        nb = nbformat.read(path, as_version=4)
        answers = _solutions(assignment)
        for cell in nb.cells:
            if _grade_id(cell) in answers:
                cell.source = answers[_grade_id(cell)]
        nb = _execute(nb, bundle, monkeypatch, path)
        for cell in nb.cells:
            assert not _errors(cell), (assignment, cell.source[:200], _errors(cell))
        passed = "\n".join(o.get("text", "") for c in nb.cells if _grade_id(c).startswith("test_")
                           for o in c.get("outputs", []))
        for name in convlab.EXERCISES[assignment]:
            assert f"{name}: all" in passed, (assignment, name, passed[-2000:])


def _code_objects(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _reference_code() -> dict[bytes, str]:
    """Bytecode of every function of the library's implementation modules that the student
    build does not vet (as compiled from the repository's sources)."""
    plan = release._Plan()
    found = {}
    for module, path in plan.implementation.items():
        tree = ast.parse(path.read_text())
        vetted = release.VETTED_HELPERS.get(module, ())
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name not in vetted:
                code = compile(ast.Module([node], []), str(path), "exec")
                for c in _code_objects(code):
                    if len(c.co_code) >= 40 and c.co_name != "<module>":
                        found[c.co_code] = f"convlab.{module}.{c.co_qualname}"
    return found


@pytest.mark.slow
def test_the_installed_package_holds_no_answer_in_source_or_bytecode(bundle):
    assert release.audit(bundle.archive, ASSIGNMENTS) == []
    package = bundle.site / "convlab"
    lines = release.answer_lines(ASSIGNMENTS)
    for path in package.rglob("*.py"):
        held = {line.strip() for line in path.read_text().splitlines()}
        for origin, (own, _) in lines.items():
            assert not own & held, (path, origin, sorted(own & held)[:3])
    assert compileall.compile_dir(str(package), quiet=1, force=True)
    reference = _reference_code()
    assert reference, "no reference bytecode to compare with"
    for pyc in package.rglob("*.pyc"):
        code = marshal.loads(pyc.read_bytes()[16:])
        for c in _code_objects(code):
            assert c.co_code not in reference, (pyc, c.co_qualname, reference.get(c.co_code))
    names = {p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file()}
    assert not [n for n in names if re.search(r"solution|hidden|autograder|release", n)], names


def test_make_release_and_the_command_line(tmp_path, capsys):
    assert re.search(r"^release:", (ROOT / "Makefile").read_text(), re.M)
    from convlab.cli import main

    assert main(["release", "--out", str(tmp_path / "course.tar")]) == 1
    assert "must name a .zip" in capsys.readouterr().err


# --- start.py, the archive's launcher ---------------------------------------------------------

def _start_module():
    import importlib.util

    path = Path(release.__file__).parent / "student" / "start.py"
    spec = importlib.util.spec_from_file_location("convlab_start", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_start_py_passes_allow_root_as_root_and_only_then():
    start = _start_module()
    as_root = start.jupyter_command(["--install-only", "--cpu", "--port=9999"], root=True)
    assert as_root[-2:] == ["--allow-root", "--port=9999"]
    assert "--allow-root" not in start.jupyter_command([], root=False)
    assert start.jupyter_command(["--allow-root"], root=True).count("--allow-root") == 1


def test_start_py_states_the_download_and_the_readme_says_the_same(tmp_path, monkeypatch, capsys):
    start = _start_module()
    readme = (Path(release.__file__).parent / "student" / "README.md").read_text()
    readme = " ".join(readme.split())
    for platform, words in (("darwin", "macOS about 0.2 GB"), ("win32", "Windows about 0.3 GB"),
                            ("linux", "Linux about 3 GB")):
        size = start.download_size(platform)
        assert size.split(" (")[0] in words and words in readme, (platform, size)
    assert start.download_size("linux", cpu=True).startswith("about 0.3 GB")
    assert "start.py --cpu" in readme and "about 1 GB" not in readme
    # What the first run prints before it downloads anything, on this machine.
    monkeypatch.setattr(start, "HERE", str(tmp_path))
    monkeypatch.setattr(start, "ENV", str(tmp_path / ".venv"))
    monkeypatch.setattr(start, "PYTHON", sys.executable)
    monkeypatch.setattr(start, "STAMP", str(tmp_path / ".venv" / "stamp"))
    (tmp_path / ".venv").mkdir()
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "convlab-0.1.0-py3-none-any.whl").write_text("")
    calls = []
    monkeypatch.setattr(start.subprocess, "check_call", calls.append)
    assert start.main(["--install-only"]) == 0
    assert f"the download is {start.download_size()}" in capsys.readouterr().out
    assert calls and calls[-1][-1].endswith(".whl")


# --- the student build's notebooks before an exercise is done (issue 16) -------------

@pytest.fixture
def guarded_shell():
    """An in-process IPython shell whose cells run under the student build's cell guard."""
    from IPython.core.interactiveshell import InteractiveShell

    guard = release._load_template("_notdone.py", "convlab_release_notdone_under_test")

    class NotDone(NotImplementedError):
        pass

    shell = InteractiveShell.instance()
    try:
        assert guard.install(shell, not_done=NotDone)

        def need():
            raise NotDone("This needs your dependency_map (an exercise of 04_gridding).")

        shell.user_ns["need"] = need
        yield shell
    finally:
        InteractiveShell.clear_instance()


def test_a_cell_needing_an_unfinished_exercise_prints_a_note_and_draws_no_empty_axes(guarded_shell, capsys):
    import matplotlib.pyplot as plt

    from figure_helpers import is_empty

    result = guarded_shell.run_cell("import matplotlib.pyplot as plt\n"
                                    "fig, axes = plt.subplots(1, 2)\n"
                                    "made = need()\n"
                                    "after = 1\n")
    assert result.success and result.error_in_exec is None
    out = capsys.readouterr().out
    assert "Not run yet. This needs your dependency_map (an exercise of 04_gridding)." in out
    assert "after" not in guarded_shell.user_ns  # the cell stopped where it needed the exercise
    fig = plt.figure(plt.get_fignums()[-1])
    assert not any(is_empty(ax) for ax in fig.axes)
    assert "dependency_map" in " ".join(t.get_text() for t in fig.texts)
    # A later cell that uses what the stopped cell did not make waits with a note too.
    later = guarded_shell.run_cell("print(made)")
    assert later.success
    assert "needs `made`, which an earlier cell could not make: This needs your dependency_map" in (
        capsys.readouterr().out)


def test_the_guard_keeps_every_other_error_and_the_last_value(guarded_shell, capsys):
    import inspect

    broken = guarded_shell.run_cell("x = 1\n1 / 0\n")
    assert isinstance(broken.error_in_exec, ZeroDivisionError)
    missing = guarded_shell.run_cell("print(never_defined)")
    assert isinstance(missing.error_in_exec, NameError)
    shown = guarded_shell.run_cell("y = 6\ny * 7")
    assert shown.result == 42
    assert guarded_shell.run_cell("y * 7;").success  # a trailing ';' still hides it
    defined = guarded_shell.run_cell("def double(v):\n    return 2 * v\n")
    assert defined.success and guarded_shell.user_ns["double"](4) == 8
    assert "return 2 * v" in inspect.getsource(guarded_shell.user_ns["double"])


def test_a_failing_check_says_where_run_all_stopped():
    from convlab.checks import CheckFailed, check

    def stub(n, k, stride=1, padding=0):
        raise NotImplementedError()

    with pytest.raises(CheckFailed) as stopped:
        check("conv_output_size", stub, quiet=True)
    shown = stopped.value._render_traceback_()
    assert shown[0] == ("Run All stopped here: conv_output_size is not done yet. Write it in the cell "
                        "above, then run this cell again.")
    assert "is not implemented yet" in shown[-1]
    with pytest.raises(CheckFailed) as wrong:
        check("conv_output_size", lambda n, k, stride=1, padding=0: 0, quiet=True)
    assert wrong.value._render_traceback_()[0].startswith(
        "Run All stopped here: conv_output_size does not pass its check yet. Fix it in the cell above")


# --- no JupyterLab news pop-up, in `make lab` and in the archive (issue 16) ----------

def _lab_settings_of(args: list[str]) -> tuple[object, Path]:
    """(news_url, app_settings_dir) that JupyterLab takes from these command-line args."""
    from jupyterlab.labapp import LabApp

    app = LabApp()
    app.parse_command_line([a for a in args if a.startswith("--LabApp.")])
    return app.news_url, Path(app.app_settings_dir)


def _no_news_settings(folder: Path) -> None:
    from jupyterlab_server.settings_utils import _get_overrides

    overrides, error = _get_overrides(str(folder))
    assert not error
    notification = overrides["@jupyterlab/apputils-extension:notification"]
    # "none" (the default) is what makes JupyterLab ask every new user about news.
    assert notification["fetchNews"] == "false" and notification["checkForUpdates"] is False
    import jupyterlab

    schema = json.loads((Path(jupyterlab.__file__).parent / "schemas" / "@jupyterlab" / "apputils-extension"
                         / "notification.json").read_text())
    allowed = {option["const"] for option in schema["properties"]["fetchNews"]["oneOf"]}
    assert "false" in allowed, allowed


def test_make_lab_opens_jupyterlab_without_the_news_pop_up():
    import shlex

    dry = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    command = shlex.split(dry.replace("\\\n", " ").split("jupyter lab", 1)[1].splitlines()[0])
    news_url, settings = _lab_settings_of(command)
    assert news_url is None
    assert settings == release.TEMPLATES / "lab"
    _no_news_settings(settings)


def test_the_archive_opens_jupyterlab_without_the_news_pop_up(monkeypatch, tmp_path):
    start = release._load_template("start.py", "convlab_release_start_under_test")
    course = tmp_path / "course"
    (course / "wheels").mkdir(parents=True)
    (course / "wheels" / "convlab-0-py3-none-any.whl").write_text("")
    shutil.copytree(release.TEMPLATES / "lab", course / release.LAB_SETTINGS)
    monkeypatch.setattr(start, "HERE", str(course))
    monkeypatch.setattr(start, "LAB_SETTINGS", str(course / release.LAB_SETTINGS))
    monkeypatch.setattr(start, "PYTHON", sys.executable)  # "installed" already:
    monkeypatch.setattr(start, "STAMP", str(tmp_path / "stamp"))
    (tmp_path / "stamp").write_text("")
    calls = []
    monkeypatch.setattr(start.subprocess, "call", lambda args: calls.append(args) or 0)
    assert start.main([]) == 0
    news_url, settings = _lab_settings_of(calls[0])
    assert news_url is None and settings == course / release.LAB_SETTINGS
    _no_news_settings(settings)


@pytest.mark.slow
def test_the_archive_holds_the_lab_settings_start_py_points_at(bundle):
    _no_news_settings(bundle.course / release.LAB_SETTINGS)
    assert f'LAB_SETTINGS = os.path.join(HERE, "{release.LAB_SETTINGS}")' in (
        bundle.course / "start.py").read_text()

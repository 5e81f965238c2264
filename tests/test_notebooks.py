"""Every assignment's notebooks, whatever the assignment (``convlab.cli.ASSIGNMENTS``):

* the solution notebook runs cleanly, fast, and its test cells print nothing on stderr;
* ``nbgrader generate_assignment`` reproduces the committed student notebook exactly;
* the student notebook runs with untouched stubs: its test cells fail saying so, every
  other cell (demos, figures) runs on the reference fallbacks;
* release hygiene: no solutions, hidden tests or outputs in notebooks/, and every
  contract exercise has its answer cell and its test cell.

Executing a notebook takes seconds, so each is executed once per module (fixtures) and
inspected by one test: under ``pytest -n 2`` two tests sharing an execution could land on
different workers and pay for it twice.
"""
from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import convlab
from convlab.cli import ASSIGNMENTS

ROOT = Path(__file__).resolve().parents[1]
CELL_TIMEOUT = 60  # seconds per cell
NOTEBOOK_BUDGET = 60  # CPU seconds of the kernel for a whole solution notebook
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "HIDDEN TESTS", "BEGIN MARK SCHEME")


def solution_path(assignment: str) -> Path:
    return ROOT / "solutions" / assignment / f"{assignment}.ipynb"


def release_path(assignment: str) -> Path:
    return ROOT / "notebooks" / assignment / f"{assignment}.ipynb"


def load(path: Path):
    if not path.exists():
        kind = "solution" if path.parts[-3] == "solutions" else "student"
        pytest.fail(
            f"the {kind} notebook {path.relative_to(ROOT)} is missing: write "
            f"solutions/<id>/<id>.ipynb, then run `make assignments` to generate notebooks/<id>/"
        )
    return nbformat.read(path, as_version=4)


def nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def is_test_cell(cell) -> bool:
    meta = nbgrader(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_answer_cell(cell) -> bool:
    return cell.cell_type == "code" and bool(nbgrader(cell).get("solution"))


def label(index: int, cell) -> str:
    grade_id = nbgrader(cell).get("grade_id")
    first_line = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
    return f"cell {index} ({grade_id or first_line[:60]!r})"


def errors(cell) -> list:
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


def stderr(cell) -> str:
    return "".join(o.text for o in cell.get("outputs", []) if o.output_type == "stream" and o.name == "stderr")


_CPU_PROBE = ("import resource as _resource\n"
              "print(sum(getattr(_resource.getrusage(who), field) for who in (_resource.RUSAGE_SELF, "
              "_resource.RUSAGE_CHILDREN) for field in ('ru_utime', 'ru_stime')))")


def execute(path: Path, allow_errors: bool):
    """Run a notebook in its own folder with the python3 kernel (this interpreter's); the
    seconds are the kernel's CPU time (its own and its children's), which other tests running
    beside it on a loaded machine do not inflate as they do the wall clock."""
    nb = load(path)
    nb.cells.append(nbformat.v4.new_code_cell(_CPU_PROBE))
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    probe = nb.cells.pop()
    seconds = float("".join(o.get("text", "") for o in probe.get("outputs", []) if o.output_type == "stream"))
    return nb, seconds


# --- executions (slow) -------------------------------------------------------------------------

@pytest.fixture(scope="module", params=ASSIGNMENTS)
def executed_solution(request):
    # allow_errors so one failing cell is reported with the others, not as a bare exception.
    nb, seconds = execute(solution_path(request.param), allow_errors=True)
    return request.param, nb, seconds


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def executed_student(request):
    nb, seconds = execute(release_path(request.param), allow_errors=True)
    return request.param, nb, seconds


@pytest.mark.slow
def test_solution_notebook_runs_cleanly_and_fast(executed_solution):
    assignment, nb, seconds = executed_solution
    failed = [f"{label(i, c)}: {e.ename}: {e.evalue}" for i, c in enumerate(nb.cells) for e in errors(c)]
    assert not failed, f"{assignment} solution notebook has cell errors:\n" + "\n".join(failed)
    noisy = [f"{label(i, c)}: {stderr(c)!r}" for i, c in enumerate(nb.cells) if is_test_cell(c) and stderr(c)]
    assert not noisy, f"{assignment}: test cells write to stderr (nbgrader would see it):\n" + "\n".join(noisy)
    assert seconds < NOTEBOOK_BUDGET, f"{assignment} solution notebook took {seconds:.1f} s (budget {NOTEBOOK_BUDGET} s)"
    assert any(is_test_cell(c) for c in nb.cells), f"{assignment} solution notebook has no test cells"


@pytest.mark.slow
def test_student_notebook_runs_with_untouched_stubs(executed_student):
    assignment, nb, _ = executed_student
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        found = errors(cell)
        if is_test_cell(cell):
            if not found:
                problems.append(f"{label(i, cell)}: the test cell passes on the stub")
            elif found[0].ename not in ("AssertionError", "CheckFailed", "NotImplementedError") or not (
                    "NotImplementedError" in found[0].evalue or "not implemented" in found[0].evalue):
                problems.append(f"{label(i, cell)}: expected a 'not implemented' AssertionError, got "
                                f"{found[0].ename}: {found[0].evalue}")
            if stderr(cell):
                problems.append(f"{label(i, cell)}: writes to stderr: {stderr(cell)!r}")
        elif found:
            problems.append(f"{label(i, cell)}: {found[0].ename}: {found[0].evalue} "
                            "(cells outside the test cells must run before the exercises are done)")
    assert not problems, f"{assignment} student notebook:\n" + "\n".join(problems)


# --- generation (slow) -------------------------------------------------------------------------

def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_generate_assignment_reproduces_the_committed_notebooks(assignment, tmp_path):
    load(solution_path(assignment))
    committed = ROOT / "notebooks" / assignment
    course = tmp_path / "course"
    shutil.copytree(ROOT / "solutions" / assignment, course / "solutions" / assignment)
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    (course / "autograder").mkdir()
    shutil.copy(ROOT / "autograder" / "nbgrader_config.py", course / "autograder" / "nbgrader_config.py")
    # The copied config puts the course root (and its work folders) in tmp_path.
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--no-db", "--force"],
        cwd=course, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"nbgrader generate_assignment failed:\n{result.stdout}\n{result.stderr}"
    generated = course / "notebooks" / assignment
    assert committed.exists(), f"notebooks/{assignment} is missing: run `make assignments`"
    assert _files(generated) == _files(committed), (
        f"notebooks/{assignment} does not hold what nbgrader generates; run `make assignments`")
    for name in _files(generated):
        if name.endswith(".ipynb"):
            fresh = json.loads((generated / name).read_text())
            stored = json.loads((committed / name).read_text())
            assert fresh == stored, (f"notebooks/{assignment}/{name} differs from what nbgrader generates "
                                     "from solutions/; run `make assignments`")
        else:
            assert (generated / name).read_bytes() == (committed / name).read_bytes(), name


# --- release hygiene (fast) --------------------------------------------------------------------

@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_folder_has_no_solutions_caches_or_outputs(assignment):
    folder = ROOT / "notebooks" / assignment
    load(release_path(assignment))
    for path in folder.rglob("*"):
        assert path.name not in ("__pycache__", ".ipynb_checkpoints"), f"{path.relative_to(ROOT)} is released"
        if path.is_file():
            text = path.read_text(errors="replace")
            for marker in SOLUTION_MARKERS:
                assert marker not in text, f"{path.relative_to(ROOT)} contains {marker!r}"


@pytest.mark.parametrize("kind", ["solutions", "notebooks"])
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_notebooks_are_saved_without_outputs(assignment, kind):
    path = solution_path(assignment) if kind == "solutions" else release_path(assignment)
    nb = load(path)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{path.name}: kernel must be python3"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs, f"{kind}/{assignment}: {label(i, cell)} has outputs"
            assert cell.execution_count is None, f"{kind}/{assignment}: {label(i, cell)} has an execution count"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_folder_holds_only_the_notebook(assignment):
    load(solution_path(assignment))
    folder = ROOT / "solutions" / assignment
    extra = [p for p in _files(folder) if p != f"{assignment}.ipynb"]
    assert not extra, f"solutions/{assignment} should hold only the notebook, also has {extra}"


def _solution_lines(nb) -> set[str]:
    """The substantial lines between BEGIN and END SOLUTION in a notebook."""
    lines, inside = set(), False
    for cell in nb.cells:
        for line in cell.source.splitlines():
            if "### BEGIN SOLUTION" in line:
                inside = True
            elif "### END SOLUTION" in line:
                inside = False
            elif inside and len(line.strip()) >= 20:
                lines.add(line.strip())
    return lines


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_solution_line_reaches_the_student_notebook(assignment):
    solutions = _solution_lines(load(solution_path(assignment)))
    assert solutions, f"solutions/{assignment} has no ### BEGIN SOLUTION blocks"
    released = {line.strip() for cell in load(release_path(assignment)).cells for line in cell.source.splitlines()}
    leaked = sorted(solutions & released)
    assert not leaked, f"notebooks/{assignment} contains solution lines:\n" + "\n".join(leaked)


def _definition(source: str, name: str):
    tree = ast.parse(source)
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert [d.name for d in defs] == [name], (
        f"the answer cell {name!r} should hold exactly the definition of {name}, found {[d.name for d in defs]}")
    return defs[0]


def _raises_not_implemented(node) -> bool:
    return any(isinstance(n, ast.Raise) and n.exc is not None and "NotImplementedError" in ast.unparse(n.exc)
               for n in ast.walk(node))


def _answer_cells(nb) -> dict:
    return {nbgrader(c)["grade_id"]: c for c in nb.cells if is_answer_cell(c)}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_stubs_keep_signature_and_docstring_and_raise(assignment):
    solution = _answer_cells(load(solution_path(assignment)))
    released = _answer_cells(load(release_path(assignment)))
    assert sorted(released) == sorted(solution), "answer cells differ between solutions/ and notebooks/"
    for grade_id, cell in released.items():
        stub = _definition(cell.source, grade_id)
        full = _definition(solution[grade_id].source, grade_id)
        assert ast.get_docstring(stub), f"{grade_id}: the stub has no docstring"
        assert ast.get_docstring(stub) == ast.get_docstring(full), f"{grade_id}: docstring changed"
        if isinstance(stub, ast.FunctionDef):
            assert ast.dump(stub.args) == ast.dump(full.args), f"{grade_id}: signature changed"
            body = stub.body[1:]  # after the docstring
            assert len(body) == 1 and _raises_not_implemented(body[0]), (
                f"{grade_id}: the stub's body should be only `raise NotImplementedError()`, got:\n{cell.source}")
        else:
            assert _raises_not_implemented(stub), f"{grade_id}: the stub raises no NotImplementedError"


def _calls_check(source: str, name: str) -> bool:
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == f"check_{name}"
                and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == name):
            return True
    return False


@pytest.mark.parametrize("kind", ["solutions", "notebooks"])
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_contract_exercise_has_an_answer_and_a_test_cell(assignment, kind):
    nb = load(solution_path(assignment) if kind == "solutions" else release_path(assignment))
    grade_ids = [nbgrader(c)["grade_id"] for c in nb.cells if "grade_id" in nbgrader(c)]
    duplicates = sorted({g for g in grade_ids if grade_ids.count(g) > 1})
    assert not duplicates, f"{kind}/{assignment}: grade_ids used twice: {duplicates}"
    cells = {nbgrader(c)["grade_id"]: c for c in nb.cells if "grade_id" in nbgrader(c)}
    order = []
    for name in convlab.EXERCISES[assignment]:
        answer, test = cells.get(name), cells.get(f"test_{name}")
        assert answer is not None and is_answer_cell(answer) and not nbgrader(answer).get("grade"), (
            f"{kind}/{assignment}: no autograded answer cell with grade_id {name!r}")
        assert test is not None and is_test_cell(test), f"{kind}/{assignment}: no test cell test_{name}"
        assert nbgrader(test).get("points", 0) > 0, f"{kind}/{assignment}: test_{name} has no points"
        assert nbgrader(test).get("locked"), f"{kind}/{assignment}: test_{name} is not locked"
        assert _calls_check(test.source, name), f"{kind}/{assignment}: test_{name} does not call check_{name}({name})"
        order.append(nb.cells.index(answer))
    assert order == sorted(order), f"{kind}/{assignment}: exercises are not in the contract's order"

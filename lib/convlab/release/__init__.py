"""``convlab release``: the archive students get, with no answer in it.

The archive (``convlab-course-<version>.zip``) holds

* ``notebooks/<id>/<id>.ipynb``: the generated student notebook of every assignment;
* ``wheels/convlab-<version>-py3-none-any.whl``: the student build of the library, a
  package also named ``convlab`` so the notebooks' imports work unchanged;
* ``README.md`` and ``start.py`` (``python3 start.py`` installs and opens the course).

The student build is generated from the library, never hand-kept, so a new assignment
is released as soon as its exercises are registered:

* ``checks/``: the checks' machinery (core, guards, runner, adapters) copied as it is;
  the per-assignment check modules, which build the cases and the named mistakes from
  the reference, are replaced by ``expected.pt``: every visible case with the
  reference's output and each named mistake's output, computed here;
* modules that implement a graded exercise (or a general op that would answer one, such
  as ``ops.conv2d``) are replaced by generated modules that keep only vetted helpers
  (``VETTED_HELPERS``) and give every other name a stand-in (``student/_standins.py``:
  torch's own op where the exercise forbids it, else the student's own function once its
  check passes);
* every other module (figures, models) is copied as it is, after checking that each
  name it imports from the library exists in the student build.

``audit`` then searches the archive (the wheel's files included) for any distinctive line
of a reference implementation, of a solution, of the grader or of the hidden cases, and
the build fails if it finds one.
"""
from __future__ import annotations

import ast
import base64
import csv
import hashlib
import importlib.util
import io
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

__all__ = ["ReleaseError", "build", "audit", "answer_lines", "VETTED_HELPERS"]

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "student"
LIB = HERE.parent                    # lib/convlab

# Helpers of implementation modules that the student build may copy: input validation
# and padding conventions that notebooks and figures use and no exercise asks for.
# A helper is copied with what it needs from its module; a graded name it calls becomes
# a stand-in. Anything else a figure or notebook imports from an implementation module
# fails the build until it is added here (after checking it answers no exercise).
VETTED_HELPERS: dict[str, tuple[str, ...]] = {
    "shapes": ("check_int", "check_rates", "as_pair", "same_padding", "tf_same_padding"),
    "ops": ("check_input", "check_bias"),
    "hdc": ("RELEASED_SCHEDULES",),  # the dilation rates of the paper's released model
}

# Where the archive keeps JupyterLab's settings defaults (release/student/lab: no news
# pop-up); start.py passes it as --LabApp.app_settings_dir.
LAB_SETTINGS = "lab-settings"

# Library modules never shipped: the instructor's command line and this builder.
NOT_SHIPPED = {"cli", "generate", "release"}  # the instructor's commands


class ReleaseError(RuntimeError):
    """The student build cannot be made without giving an answer away (or breaking)."""


def _load_template(name: str, module_name: str):
    spec = importlib.util.spec_from_file_location(module_name, TEMPLATES / name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _standins():
    return _load_template("_standins.py", "convlab._release_standins")


def _stored():
    # Named inside convlab.checks so its ``from .core import`` finds the course's core.
    return _load_template("stored.py", "convlab.checks._release_stored")


def graded_names() -> set[str]:
    import convlab

    return {name for names in convlab.EXERCISES.values() for name in names}


def answer_names() -> set[str]:
    """Names the student build never implements: the graded ones and torch-backed ops."""
    return graded_names() | set(_standins()._TORCH)


# --- the stored expected outputs ---------------------------------------------------

def _plain(value):
    """Tensors on the CPU, numpy scalars as Python numbers: what torch.load(weights_only) reads."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu").clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "item") and type(value).__module__ == "numpy":
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ReleaseError(f"cannot store a {type(value).__name__} as an expected output")


def _outcome(exercise, fn, case):
    try:
        return ("value", _plain(exercise.call(fn, case)))
    except ReleaseError:
        raise
    except Exception as exc:  # a mistake that does not apply to this case
        return ("raised", (type(exc).__name__, str(exc)))


def _case_record(case) -> dict:
    return {"args": _plain(tuple(case.args)), "kwargs": _plain(dict(case.kwargs)),
            "raises": case.raises.__name__ if case.raises else None, "note": case.note}


def _check_scales(exercise) -> list[int]:
    """The sizes of ``scaling_case`` the visible vectorization check asks for (found by
    running it on a function that does nothing)."""
    from convlab.checks.guards import loops_over_input

    asked = []

    def recorder(scale):
        asked.append(scale)
        return exercise.scaling_case(scale)

    loops_over_input(lambda *args, **kwargs: None, recorder)
    return sorted(set(asked))


def expected_outputs(assignments) -> dict:
    """Every visible case of the released exercises with the reference's and each named
    mistake's output (on the CPU), as ``student/stored.py`` reads them."""
    import builtins

    from convlab.checks import REGISTRY

    key = _stored().case_key
    exercises = {}
    for name, exercise in REGISTRY.items():
        if exercise.assignment not in assignments:
            continue
        cases = exercise.visible_cases()
        reference, mistakes = {}, [{"name": m.name, "hint": m.hint, "error_pattern": m.error_pattern,
                                    "outputs": {}} for m in exercise.mistakes]
        for case in cases:
            if case.raises is not None:
                if getattr(builtins, case.raises.__name__, None) is not case.raises:
                    raise ReleaseError(f"{name}: a case raises {case.raises!r}, not a builtin exception")
                continue
            k = key(case)
            reference[k] = _outcome(exercise, exercise.reference, case)
            for mistake, record in zip(exercise.mistakes, mistakes):
                record["outputs"][k] = _outcome(exercise, mistake.produce, case)
        scaling = {}
        if exercise.scaling_case is not None:
            scaling = {s: _case_record(exercise.scaling_case(s)) for s in _check_scales(exercise)}
        exercises[name] = {
            "assignment": exercise.assignment,
            "cases": [_case_record(c) for c in cases],
            "reference": reference,
            "mistakes": mistakes,
            "vectorized": exercise.vectorized,
            "forbidden": list(exercise.forbidden),
            "rtol": exercise.rtol,
            "atol": exercise.atol,
            "returns": exercise.returns,
            "adapter": exercise.adapter,
        } | {"scaling_cases": scaling}
    return {"format": 1, "exercises": exercises}


# --- the student package -----------------------------------------------------------

def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _top_level(tree: ast.Module) -> dict[str, ast.stmt]:
    found = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node
    return found


def _relative_imports(tree: ast.Module, package: str) -> list[tuple[str, list[str], ast.ImportFrom]]:
    """(absolute module, names, node) of every ``from .x import a`` / ``from convlab.x import a``."""
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package.split(".")
            base = base[: len(base) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
        elif node.module and (node.module == "convlab" or node.module.startswith("convlab.")):
            target = node.module
        else:
            continue
        out.append((target, [a.name for a in node.names], node))
    return out


def _segment(source_lines: list[str], node: ast.stmt) -> str:
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return "".join(source_lines[start - 1: node.end_lineno])


def _is_literal(node: ast.stmt) -> bool:
    try:
        ast.literal_eval(node.value)
        return True
    except Exception:
        return False


class _Plan:
    """Which library module becomes what in the student build."""

    def __init__(self):
        self.answers = answer_names()
        self.implementation: dict[str, Path] = {}   # module name -> path (replaced by a shim)
        self.copied: dict[str, Path] = {}           # module name -> path (copied as it is)
        for path in sorted(LIB.glob("*.py")):
            name = path.stem
            if name == "__init__" or name in NOT_SHIPPED:
                continue
            defined = set(_top_level(_parse(path)))
            (self.implementation if defined & self.answers else self.copied)[name] = path
        for sub in sorted(p for p in LIB.iterdir() if p.is_dir() and (p / "__init__.py").exists()):
            if sub.name in NOT_SHIPPED or sub.name == "checks":
                continue
            for path in sorted(sub.rglob("*.py")):
                rel = path.relative_to(LIB).with_suffix("")
                self.copied[".".join(rel.parts)] = path
        self.exports = {m: self._shim_exports(m, p) for m, p in self.implementation.items()}

    def _shim_exports(self, module: str, path: Path) -> set[str]:
        tree = _parse(path)
        names = set(_top_level(tree))
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                names |= {a.asname or a.name for a in node.names}
        vetted = set(VETTED_HELPERS.get(module, ()))
        missing = vetted - names
        if missing:
            raise ReleaseError(f"VETTED_HELPERS names {sorted(missing)} that convlab.{module} lacks")
        return {n for n in names if n in self.answers} | vetted

    def resolve(self, target: str, names: list[str], where: str, student_init: set[str]) -> None:
        """Fail unless every imported name exists in the student build."""
        short = target.removeprefix("convlab").lstrip(".")
        if short == "":
            have = student_init | set(self.copied) | set(self.implementation) | {"checks", "figures"}
        elif short in self.implementation:
            have = self.exports[short]
        elif short in self.copied or short.split(".")[0] in self.copied or short in ("_standins", "_notdone"):
            return
        elif short.startswith("checks"):
            rest = short.removeprefix("checks").lstrip(".")
            if rest and rest not in {p.stem for p in _check_machinery_files()} | {"stored"}:
                raise ReleaseError(f"{where} imports convlab.{short}, which the student build "
                                   "replaces by stored outputs")
            return
        elif short in NOT_SHIPPED:
            raise ReleaseError(f"{where} imports convlab.{short}, which is not given to students")
        else:
            # A subpackage's modules are copied under their dotted name.
            if any(m.startswith(short + ".") for m in self.copied):
                return
            raise ReleaseError(f"{where} imports convlab.{short}, unknown to the student build")
        lacking = [n for n in names if n != "*" and n not in have]
        if lacking:
            raise ReleaseError(
                f"{where} imports {lacking} from convlab.{short}: the student build has no such "
                "name (an exercise's answer, or a helper not in VETTED_HELPERS). Give the code "
                "the student's function, or vet the helper in convlab/release/__init__.py.")


def _shim_source(plan: _Plan, module: str, path: Path) -> str:
    """A student-build module: vetted helpers (with what they need) and stand-ins."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    tree = ast.parse(text)
    top = _top_level(tree)
    relative = {}
    for target, names, node in _relative_imports(tree, "convlab"):
        for alias in node.names:
            relative[alias.asname or alias.name] = (target, alias.name)
    keep: list[str] = []
    todo = list(VETTED_HELPERS.get(module, ()))
    imports_needed: dict[str, set[str]] = {}
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        keep.append(name)
        node = top[name]
        for ref in {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}:
            if ref == name or ref in keep:
                continue
            if ref in plan.answers:
                continue  # a stand-in, assigned below
            if ref in top:
                if ref in VETTED_HELPERS.get(module, ()) or (
                        isinstance(top[ref], (ast.Assign, ast.AnnAssign)) and _is_literal(top[ref])):
                    todo.append(ref)
                    continue
                raise ReleaseError(f"convlab.{module}.{name} uses {ref}, which is neither vetted "
                                   "nor a constant: vet it or stop using it there")
            if ref in relative:
                target, original = relative[ref]
                imports_needed.setdefault(target, set()).add(original)
    out = [f'"""Student build of convlab.{module}: vetted helpers, and stand-ins for what an\n'
           'exercise asks you to write (see convlab._standins). Generated by convlab release."""\n',
           "from __future__ import annotations\n\n"]
    for node in tree.body:
        if isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and not node.level
                                            and node.module != "__future__"
                                            and not (node.module or "").startswith("convlab")):
            out.append(_segment(lines, node))
    out.append("\nfrom ._standins import standin as _standin\n")
    for target, names in sorted(imports_needed.items()):
        short = target.removeprefix("convlab").lstrip(".")
        plan.resolve(target, sorted(names), f"convlab.{module}", set())
        out.append(f"from .{short} import {', '.join(sorted(names))}\n")
    stand = sorted(n for n in plan.exports[module] if n in plan.answers)
    out.append("\n")
    for name in stand:
        out.append(f'{name} = _standin("{name}")\n')
    for node in tree.body:  # the kept helpers and constants, in the module's own order
        names = [n for n, v in top.items() if v is node]
        if any(n in keep for n in names):
            out.append("\n\n" + _segment(lines, node))
    out.append(f"\n\n__all__ = {sorted(plan.exports[module])!r}\n")
    return "".join(out)


def _init_source(plan: _Plan) -> tuple[str, set[str]]:
    import convlab

    graded = graded_names()
    wanted = [n for n in convlab.__all__ if n not in graded and n != "EXERCISES"]
    lines = ['"""convlab, student build: the checks, figures and models of the course.\n\n'
             "It has no implementation of the exercises: the checks compare your functions with\n"
             "outputs stored when the course was built, and ``convlab.<exercise>`` is a stand-in\n"
             "(``convlab._standins``) that runs your own function once its check has passed.\n"
             'Generated by ``convlab release``."""\n',
             "from ._standins import standin as _standin\n"]
    have = set()
    for name in [n for n in convlab.__all__ if n in graded]:
        lines.append(f'{name} = _standin("{name}")\n')
        have.add(name)
    for name in wanted:
        module = next((m for m, names in plan.exports.items() if name in names), None)
        if module is None:
            module = next((m for m, p in plan.copied.items()
                           if "." not in m and name in _top_level(_parse(p))), None)
        if module is None:
            raise ReleaseError(f"convlab exports {name}, which the student build cannot provide: "
                               "vet it in VETTED_HELPERS or drop it from convlab.__all__")
        lines.append(f"from .{module} import {name}\n")
        have.add(name)
    lines.append(f"\n__version__ = {convlab.__version__!r}\n")
    lines.append(f"EXERCISES = {convlab.EXERCISES!r}\n")
    lines.append("STUDENT_BUILD = True\n")
    lines.append(f"\n__all__ = {sorted(have | {'EXERCISES'})!r}\n")
    return "".join(lines), have | {"EXERCISES", "__version__", "STUDENT_BUILD"}


def _is_exercise_module(path: Path) -> bool:
    """A checks module that registers exercises or reaches the reference library: its
    cases and mistakes are built from the answers, so the stored outputs replace it."""
    tree = _parse(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "register":
            return True
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "convlab" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "convlab":
            return True
    return False


def _check_machinery_files() -> list[Path]:
    """checks/ without its __init__ and the per-assignment exercise modules: the machinery
    (core, guards, runner, adapters, ...) that the student build copies as it is."""
    return [p for p in sorted((LIB / "checks").glob("*.py"))
            if p.name != "__init__.py" and not _is_exercise_module(p)]


def student_package(dest: Path, assignments, notebooks: list[Path]) -> Path:
    """Write the student build's ``convlab`` package into ``dest/convlab``."""
    import torch

    plan = _Plan()
    pkg = dest / "convlab"
    (pkg / "checks").mkdir(parents=True)
    init, init_names = _init_source(plan)
    (pkg / "__init__.py").write_text(init, encoding="utf-8")
    shutil.copy(TEMPLATES / "_standins.py", pkg / "_standins.py")
    shutil.copy(TEMPLATES / "_notdone.py", pkg / "_notdone.py")
    for module, path in plan.implementation.items():
        (pkg / f"{module}.py").write_text(_shim_source(plan, module, path), encoding="utf-8")
    for module, path in plan.copied.items():
        target = pkg.joinpath(*module.split(".")).with_suffix(".py")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
        package = "convlab." + module.rsplit(".", 1)[0] if "." in module else "convlab"
        if path.name == "__init__.py":
            package = "convlab." + module.rsplit(".", 1)[0]
        for target_mod, names, _ in _relative_imports(_parse(path), package):
            plan.resolve(target_mod, names, f"convlab/{path.relative_to(LIB)}", init_names)
    for path in _check_machinery_files():
        shutil.copy(path, pkg / "checks" / path.name)
        for target_mod, names, _ in _relative_imports(_parse(path), "convlab.checks"):
            plan.resolve(target_mod, names, f"convlab/checks/{path.name}", init_names)
    shutil.copy(TEMPLATES / "stored.py", pkg / "checks" / "stored.py")
    shutil.copy(TEMPLATES / "checks_init.py", pkg / "checks" / "__init__.py")
    torch.save(expected_outputs(assignments), pkg / "checks" / "expected.pt")
    _check_notebook_names(notebooks, init_names | set(plan.copied) | set(plan.implementation)
                          | {"checks", "figures"}, plan.exports)
    return pkg


_CONVLAB_ATTR = re.compile(r"\bconvlab\.([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?")


def _check_notebook_names(notebooks: list[Path], have: set[str], shims: dict[str, set[str]]) -> None:
    import nbformat

    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            used = set()
            for module, attribute in _CONVLAB_ATTR.findall(cell.source):
                used.add(module)
                if module in shims and attribute and attribute not in shims[module]:
                    used.add(f"{module}.{attribute}")
            try:
                for node in ast.walk(ast.parse(cell.source.replace("%", "#"))):
                    if isinstance(node, ast.ImportFrom) and node.module == "convlab":
                        used |= {a.name for a in node.names}
            except SyntaxError:
                pass
            lacking = sorted(used - have)
            if lacking:
                raise ReleaseError(f"{path.name} uses convlab.{', convlab.'.join(lacking)}, which "
                                   "the student build does not have")


def check_standins(assignments) -> None:
    """No stand-in may pass its exercise's visible check: it would be an answer."""
    from convlab.checks import REGISTRY, check

    standins = _standins()
    for name, exercise in REGISTRY.items():
        if exercise.assignment not in assignments or not standins.has_torch_op(name):
            continue
        try:
            check(name, standins.standin(name), quiet=True)
        except AssertionError:  # refused: the op it uses is forbidden, or its errors differ
            continue
        raise ReleaseError(f"the student build's stand-in for {name} passes its check: it would "
                           "give the answer away (make it use an op the exercise forbids)")


# --- the wheel ----------------------------------------------------------------------

def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


REQUIRES = ["torch>=2.2", "numpy>=1.24", "matplotlib>=3.7", "jupyterlab>=4.0,<5", "ipykernel>=6",
            "ipywidgets>=8"]


def build_wheel(pkg: Path, dist: Path, version: str) -> Path:
    """A pure-Python wheel of the package directory ``pkg`` (no build backend needed)."""
    dist.mkdir(parents=True, exist_ok=True)
    info = f"convlab-{version}.dist-info"
    wheel = dist / f"convlab-{version}-py3-none-any.whl"
    metadata = "\n".join([
        "Metadata-Version: 2.1", "Name: convlab", f"Version: {version}",
        "Summary: convlab course, student build: checks, figures and models (no answers)",
        "Requires-Python: >=3.11", *[f"Requires-Dist: {r}" for r in REQUIRES], "", ""])
    files: list[tuple[str, bytes]] = []
    for path in sorted(pkg.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files.append((path.relative_to(pkg.parent).as_posix(), path.read_bytes()))
    files += [(f"{info}/METADATA", metadata.encode()),
              (f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: convlab-release\n"
                                b"Root-Is-Purelib: true\nTag: py3-none-any\n\n"),
              (f"{info}/top_level.txt", b"convlab\n")]
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for name, data in files:
        writer.writerow([name, _record_hash(data), len(data)])
    writer.writerow([f"{info}/RECORD", "", ""])
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files + [(f"{info}/RECORD", record.getvalue().encode())]:
            zf.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data,
                        compress_type=zipfile.ZIP_DEFLATED)
    return wheel


# --- what must not be in the archive -------------------------------------------------

_BORING = re.compile(r"^(def |class |return \w+$|raise NotImplementedError|@|from |import |\"\"\"|'''|#)")


def _distinctive(source: str, known: set[str]) -> set[str]:
    out = set()
    for line in source.splitlines():
        text = line.strip()
        if len(text) >= 24 and not _BORING.match(text) and text not in known:
            out.add(text)
    return out


def answer_lines(assignments) -> dict[str, tuple[set[str], set[str]]]:
    """What betrays an answer, by where it comes from: the distinctive lines (24+
    characters, no signatures, imports or comments) of every function of the library's
    implementation modules that the student build does not vet, of the solutions' answer
    cells, and of the grader and its hidden cases; lines the student notebooks hold are
    not answers. Each origin maps to (lines no shipped file of the library holds, all of
    its lines): one line of the first set, or several of the second, is a leak."""
    import nbformat

    from convlab.course import repo_root

    root = repo_root()
    known: set[str] = set()
    for path in sorted((root / "notebooks").glob("*/*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            known |= {line.strip() for line in cell.source.splitlines()}
    plan = _Plan()
    # Files shipped on purpose (the check machinery, figures, models, the student
    # templates) are common ground: a line they share with an answer is generic code.
    templates = sorted(p for p in TEMPLATES.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    shipped = _check_machinery_files() + list(plan.copied.values()) + templates
    common: set[str] = set()
    for path in shipped:
        common |= {line.strip() for line in path.read_text(encoding="utf-8").splitlines()}
    for module, path in plan.implementation.items():
        # Vetted helpers are shipped on purpose.
        tree = _parse(path)
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        for name in VETTED_HELPERS.get(module, ()):
            known |= {line.strip() for line in _segment(lines, _top_level(tree)[name]).splitlines()}
    found: dict[str, set[str]] = {}
    for module, path in plan.implementation.items():
        tree = _parse(path)
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        for name, node in _top_level(tree).items():
            if name in VETTED_HELPERS.get(module, ()) or not isinstance(
                    node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            found[f"convlab.{module}.{name}"] = _distinctive(_segment(lines, node), known)
    for assignment in assignments:
        for path in sorted((root / "solutions" / assignment).glob("*.ipynb")):
            for cell in nbformat.read(path, as_version=4).cells:
                match = re.search(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cell.source, re.S)
                grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "?")
                if match:
                    found[f"solution {assignment}/{grade_id}"] = _distinctive(match.group(1), known)
    for path in sorted((root / "autograder").rglob("*.py")):
        if "examples" in path.parts:
            continue  # sample submissions, made up for the demo
        found[f"autograder/{path.relative_to(root / 'autograder')}"] = _distinctive(
            path.read_text(encoding="utf-8"), known)
    return {origin: (lines - common, lines) for origin, lines in found.items() if lines}


def _archive_texts(archive: Path):
    """(name, text) of every file in the archive, the wheel's members included."""
    def walk(zf: zipfile.ZipFile, prefix: str):
        for info in zf.infolist():
            data = zf.read(info)
            name = prefix + info.filename
            if info.filename.endswith((".whl", ".zip")):
                with zipfile.ZipFile(io.BytesIO(data)) as inner:
                    yield from walk(inner, name + "!")
            yield name, data.decode("utf-8", errors="replace")

    with zipfile.ZipFile(archive) as zf:
        yield from walk(zf, "")


# Lines of one answer (a reference function or a solution) that, even if each is generic
# code, make a copy of it.
BLOCK = 4
FORBIDDEN_PATHS = re.compile(r"(^|/)(solutions|autograder|hidden_cases)(/|$)|(^|/)source/|\.pyc$")


def audit(archive: Path, assignments) -> list[str]:
    """Every trace of an answer in ``archive``; empty when it is fit to hand out."""
    lines = answer_lines(assignments)
    problems = []
    for name, text in _archive_texts(archive):
        if FORBIDDEN_PATHS.search(name.split("!")[-1]):
            problems.append(f"{name}: a file students must not get")
        held = {line.strip() for line in text.splitlines()}
        for origin, (own, every) in lines.items():
            hits = sorted(own & held)
            block = not origin.startswith("autograder/") and len(every & held) >= BLOCK
            if hits or block:
                hits = hits or sorted(every & held)
                problems.append(f"{name}: holds {len(hits)} line(s) of {origin}, e.g. {hits[0]!r}")
    return problems


# --- the bundle ---------------------------------------------------------------------

def build(out: Path | None = None, assignments=None) -> Path:
    """Build the students' archive; return its path. Raises ReleaseError when it would
    hold an answer or miss something a notebook needs."""
    import convlab
    from convlab.course import ASSIGNMENTS, repo_root

    assignments = tuple(assignments or ASSIGNMENTS)
    root = repo_root()
    version = convlab.__version__
    out = Path(out) if out else root / "dist" / f"convlab-course-{version}.zip"
    if out.suffix != ".zip":
        raise ValueError(f"--out must name a .zip file, got {out}")
    notebooks = []
    for assignment in assignments:
        found = sorted((root / "notebooks" / assignment).glob("*.ipynb"))
        if not found:
            raise ReleaseError(f"no student notebook in notebooks/{assignment}: run `convlab generate`")
        notebooks += found
    check_standins(assignments)
    with tempfile.TemporaryDirectory(prefix="convlab-release-") as tmp:
        tmp = Path(tmp)
        top = tmp / "convlab-course"
        pkg = student_package(tmp / "build", assignments, notebooks)
        wheel = build_wheel(pkg, top / "wheels", version)
        for path in notebooks:
            target = top / "notebooks" / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
        readme = (TEMPLATES / "README.md").read_text(encoding="utf-8")
        listing = "\n".join(f"* `notebooks/{p.parent.name}/{p.name}`" for p in notebooks)
        (top / "README.md").write_text(readme.replace("{notebooks}", listing)
                                       .replace("{wheel}", wheel.name), encoding="utf-8")
        shutil.copy(TEMPLATES / "start.py", top / "start.py")
        # JupyterLab's settings defaults for the course (start.py points the lab at them).
        shutil.copytree(TEMPLATES / "lab", top / LAB_SETTINGS)
        staged = tmp / out.name
        with zipfile.ZipFile(staged, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(top.rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(tmp).as_posix())
        problems = audit(staged, assignments)
        if problems:
            raise ReleaseError("the student archive would give answers away:\n  " + "\n  ".join(problems))
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(staged, out)
    return out


def release_command(out: str | None = None) -> int:
    """``convlab release``: exit 0 with the archive written, 1 when it cannot be built safely."""
    try:
        path = build(out)
    except (ReleaseError, ValueError) as exc:
        print(f"convlab release: {exc}", file=sys.stderr)
        return 1
    print(f"student archive: {path}")
    return 0


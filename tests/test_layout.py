"""The package's layout: the library never imports the grader for the course's registry,
and no module of the grader needs the library's command line (no import circle between
convlab.cli and autograder): no grader source names it, and importing every grader module
in a fresh interpreter leaves it unloaded."""
from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import autograder

ROOT = Path(__file__).resolve().parents[1]

_PROBE = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
bad = sorted(m for m in sys.modules if m == "convlab.cli")
print(",".join(bad))
"""


def _grader_modules() -> list[str]:
    from autograder.sandbox.launcher import _RUNTIME_FILES

    # The sandbox's runtime files run only in its runtime folder (beside a copy of the
    # checks' op families), never as modules of the package.
    runtime = tuple(f"autograder.sandbox.{name[:-3]}" for name in _RUNTIME_FILES if name != "wire.py")
    skip = ("autograder.examples", "autograder.nbgrader_config", "autograder.jupyter_server_config",
            *runtime)
    return sorted(m.name for m in pkgutil.walk_packages(autograder.__path__, "autograder.")
                  if not m.name.startswith(skip))


def test_no_grader_source_names_the_library_command_line():
    # Function-local imports included: those are what hid the circle before.
    named = [str(p.relative_to(ROOT)) for p in (ROOT / "autograder").rglob("*.py")
             if "convlab.cli" in p.read_text(encoding="utf-8")]
    assert named == []


def test_no_grader_module_imports_the_library_command_line():
    modules = _grader_modules()
    assert "autograder.run.job" in modules and "autograder.pipeline" in modules
    done = subprocess.run([sys.executable, "-c", _PROBE, *modules], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == ""


def test_the_library_command_line_imports_no_grader_module_at_import_time():
    probe = "import sys, convlab.cli; print(sorted(m for m in sys.modules if m.startswith('autograder')))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_the_course_registry_is_one_table():
    import convlab
    import convlab.cli
    from convlab.course import ASSIGNMENTS, EXERCISES

    assert convlab.EXERCISES is EXERCISES and convlab.cli.ASSIGNMENTS is ASSIGNMENTS
    assert ASSIGNMENTS == tuple(EXERCISES)


def test_each_limit_is_declared_once_and_configurable_by_its_name():
    from dataclasses import fields

    from autograder.judge.preprocessor import TrustedGrade
    from autograder.limits import Budget, Limits

    traits = TrustedGrade.class_traits(config=True)
    for kind, expected in ((Limits, {"memory_mb", "case_seconds", "notebook_seconds", "output_mb"}),
                           (Budget, {"notebook_budget_seconds", "notebook_memory_mb"})):
        settings = kind.settings()
        assert expected <= set(settings)
        for name, (default, help) in settings.items():
            field = next(f for f in fields(kind) if (f.metadata.get("trait") or f.name) == name)
            assert traits[name].default_value == default == getattr(kind(), field.name)
            assert traits[name].help == help == field.metadata["help"]
        changed = {name: default * 2 for name, (default, _) in settings.items()}
        configured = TrustedGrade(**changed)
        got = configured.limits() if kind is Limits else configured.budget()
        assert got == kind.configured(changed.__getitem__) != kind()
        assert [getattr(got, f.name) for f in fields(kind) if "help" in f.metadata] == list(changed.values())
    assert set(Limits.settings()).isdisjoint(Budget.settings())  # Budget's traits are named apart
    assert TrustedGrade().limits() == Limits() and TrustedGrade().budget() == Budget()


def test_a_limit_set_in_nbgrader_config_reaches_the_grader(tmp_path):
    """The names instructors write in nbgrader_config.py, read as nbgrader reads that file."""
    from traitlets.config.loader import PyFileConfigLoader

    from autograder.judge.preprocessor import TrustedGrade
    from autograder.limits import Budget, Limits

    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.TrustedGrade.notebook_budget_seconds = 42.5\n"
        "c.TrustedGrade.notebook_memory_mb = 1500\n"
        "c.TrustedGrade.case_seconds = 2.5\n"
        "c.TrustedGrade.memory_mb = 700\n", encoding="utf-8")
    config = PyFileConfigLoader("nbgrader_config.py", path=str(tmp_path)).load_config()
    grader = TrustedGrade(config=config)
    assert grader.budget() == Budget(seconds=42.5, memory_mb=1500)
    assert grader.limits() == Limits(case_seconds=2.5, memory_mb=700)


def test_the_checks_and_the_sandbox_share_one_table_of_forbidden_ops():
    import shutil

    from autograder.sandbox import launcher
    from convlab.checks import families, guards

    assert guards._CONV_OP is families.CONV_OP and guards._UNFOLD_OP is families.UNFOLD_OP
    assert guards.FAMILY_TEXT is families.FAMILY_TEXT
    forbid = (ROOT / "autograder" / "sandbox" / "forbid.py").read_text(encoding="utf-8")
    assert "re.compile" not in forbid and "from families import" in forbid
    runtime = Path(launcher.stage_runtime())
    try:
        staged = (runtime / "families.py").read_text(encoding="utf-8")
        assert staged == Path(families.__file__).read_text(encoding="utf-8")
    finally:
        shutil.rmtree(runtime)
    assert families.family_of("mkldnn_convolution") == "conv"
    assert families.family_of("im2col") == "unfold" and families.family_of("_make_dual") == "autograd"
    assert families.family_of("mm") is None

"""The benchmark script must keep running: its --quick mode on tiny shapes, a few seconds."""
import functools
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_conv.py"


def test_bench_conv_quick_runs_and_prints_every_row():
    # A subprocess: the benchmark tunes malloc for the whole process it runs in.
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--device", "cpu", "--reps", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| case | device | mode | convlab ms | torch ms | ratio")
    rows = table[1:]
    names = ("conv2d 3x3,", "conv2d 3x3 stride 2,", "conv2d 3x3 dilation 2,", "conv_transpose2d")
    for name in names:
        for mode in ("fwd", "fwd+bwd"):
            assert any(r.startswith(f"| {name}") and f"| {mode} |" in r for r in rows), (name, mode)
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        ours, theirs, ratio = (float(c) for c in cells[3:6])
        # The times are printed rounded to 0.01 ms, the ratio is of the unrounded times.
        half = 0.005
        upper = (ours + half) / (theirs - half) + half if theirs > half else float("inf")
        assert (ours - half) / (theirs + half) - half <= ratio <= upper


# --- benchmarks/bench_grading.py: its parts, quickly (a whole run grades a class for minutes)

@functools.lru_cache(maxsize=1)
def _bench_grading():
    import importlib.util

    path = SCRIPT.parent / "bench_grading.py"
    spec = importlib.util.spec_from_file_location("bench_grading", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_grading_class_has_n_submissions_each_its_own_attempt(tmp_path):
    bench = _bench_grading()
    examples = tmp_path / "examples"
    assignments = ["01_convolution", "02_transposed", "03_atrous"]
    for kind in bench.KINDS[:2]:
        for assignment in assignments:
            (examples / kind / assignment).mkdir(parents=True)
            (examples / kind / assignment / f"{assignment}.ipynb").write_text(f"{kind} {assignment}")
    klass = bench.make_class(examples, tmp_path / "class", 5, assignments)
    folders = sorted(p.relative_to(klass).as_posix() for p in klass.glob("*/*"))
    assert folders == ["mistakes_001/01_convolution", "mistakes_001/02_transposed",
                       "perfect_000/01_convolution", "perfect_000/02_transposed",
                       "perfect_000/03_atrous"]
    assert (klass / "mistakes_001/02_transposed/02_transposed.ipynb").read_text() == \
        "mistakes 02_transposed"
    stamps = [(klass / f / "timestamp.txt").read_text() for f in folders]
    assert len(set(stamps)) == 5 and all(s.endswith(" UTC") for s in stamps)


def test_bench_grading_figures_and_estimates():
    bench = _bench_grading()

    def run(workers, fixed, whole):
        return {"workers": workers, "fixed": {"seconds": fixed},
                "class": {"seconds": whole, "load": 1.0, "busy": 0.5}}

    runs = {"local, 1 worker": run(1, 10.0, 110.0), "local, 2 workers": run(2, 12.0, 72.0),
            "Dask cluster on loopback, 2 workers": run(2, 4.0, 54.0)}
    table = bench.figures(runs, 20)
    assert [(r["fixed"], r["per"]) for r in table.values()] == [(10.0, 5.0), (12.0, 3.0), (4.0, 2.5)]
    assert [round(r["efficiency"], 6) for r in table.values()] == [1.0, round(5 / 6, 6), 1.0]
    plan = bench.estimates(table, {"01_convolution": 3.0, "02_transposed": 1.0})
    assert plan["local, 2 workers"] == {"01_convolution": 12.0 + 300 * 3.0 * 1.5,
                                        "02_transposed": 12.0 + 300 * 3.0 * 0.5}
    assert bench.estimates(table, {})["local, 1 worker"] == {"every assignment": 10.0 + 300 * 5.0}
    text = bench.report(table, plan, {"01_convolution": 3.0}, 20, 3.2, None)
    assert "| Dask cluster on loopback, 2 workers | 4.0 | 54.0 | 2.50 | 100% |" in text
    assert "| local, 2 workers | 12.0 | 72.0 | 3.00 | 83% |" in text
    assert "| local, 2 workers | 22.7 | 7.7 |" in text  # minutes for 300
    assert bench.per_assignment([("a", 1.0), ("b", 2.0), ("a", 3.0)], ["a", "b", "c"]) == \
        {"a": 2.0, "b": 2.0}
    line = "[ 3/40] perfect_000 01_convolution: 12.5/20  4.1 s  (a problem)"
    assert bench._PROGRESS.match(line).groups() == ("perfect_000", "01_convolution", "4.1")


def test_bench_grading_loopback_cluster_runs_jobs_and_goes(tmp_path):
    import dask_jobs
    from autograder.run.executors import DaskExecutor

    bench = _bench_grading()
    # Its workers are processes of their own: they import the jobs' module as installed.
    tests = str(Path(__file__).resolve().parent)
    path = os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")]))
    with bench.LoopbackCluster(tmp_path, 2, dict(os.environ, PYTHONPATH=path)) as cluster:
        assert cluster.address.startswith("tcp://127.0.0.1:")
        results = DaskExecutor(cluster.address).map(dask_jobs.work, [("crowd", 0.1)] * 3)
        assert results == [1, 1, 1]
        with DaskExecutor(cluster.address) as executor:
            held = executor.client.run(dask_jobs.secret_variable)
        assert set(held.values()) == {None} and len(held) == 2
    assert all(p.poll() is not None for p in cluster.processes)

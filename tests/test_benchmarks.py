"""The benchmark script must keep running: its --quick mode on tiny shapes, a few seconds."""
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

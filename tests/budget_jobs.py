"""Work for the budget tests (``test_workers.py``, ``test_budget.py``), importable by spawned
worker processes. Each item is a (what, argument) pair."""
from __future__ import annotations

import os
import subprocess
import sys

# A process that holds ``MiB`` of memory no file backs (every page written), then sleeps.
_HOLD = ("import sys, time\nhoard = b'\\x01' * (int(sys.argv[1]) * 2**20)\n"
         "time.sleep(float(sys.argv[2]))\n")


def child_hog(item):
    """A worker whose helper process (a flooded supervisor, a reference runner) allocates:
    the worker itself stays small."""
    _, mib = item
    subprocess.run([sys.executable, "-c", _HOLD, str(mib), "3"], check=True)
    return mib


def fake_oom(item):
    """("oom", base): as the kernel does at a group's memory.max, an OOM kill recorded in
    the worker's group (a folder under ``base`` standing in for cgroupfs), the worker
    killed. ("ok", n): 2n."""
    import signal
    from pathlib import Path

    what, argument = item
    if what == "ok":
        return argument * 2
    group = max(Path(argument).glob("convlab-worker-*"), key=lambda p: p.stat().st_mtime_ns)
    (group / "memory.events").write_text("low 0\nhigh 0\nmax 1\noom 1\noom_kill 1\n")
    os.kill(os.getpid(), signal.SIGKILL)

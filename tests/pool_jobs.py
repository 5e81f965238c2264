"""Work for the grading-worker tests (``test_workers.py``): importable by worker processes,
light (no torch, no nbgrader), each item a (what, argument) pair."""
from __future__ import annotations

import os
import subprocess
import sys
import time


def work(item):
    what, argument = item
    if what == "ok":
        return argument * 2
    if what == "sleep":
        time.sleep(argument)
        return "slept"
    if what == "hog":  # resident memory, MiB
        hoard = bytearray(argument * 2**20)
        for i in range(0, len(hoard), 4096):
            hoard[i] = 1
        time.sleep(30)
        return len(hoard)
    if what == "raise":
        raise RuntimeError(argument)
    if what == "exit":
        os._exit(argument)
    if what == "survivor":
        # A grandchild in a session of its own that would outlive its worker, then hang.
        subprocess.Popen([sys.executable, "-c", f"import time; open({argument!r}, 'w').write('x'); "
                          "time.sleep(600)"], start_new_session=True)
        time.sleep(600)
    raise ValueError(f"unknown work {what!r}")


def start(marker):
    """A worker's set-up: leaves a file, as the real one leaves its scratch course."""
    with open(os.path.join(marker, f"worker-{os.getpid()}"), "w") as handle:
        handle.write("up")


def sleep_then_exit(item):
    time.sleep(item[1])
    os._exit(3)

"""Work for the budget tests (``test_workers.py``, ``test_budget.py``), importable by spawned
worker processes. Each item is a (what, argument) pair."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

# A process that holds ``MiB`` of memory no file backs (every page written), then sleeps.
_HOLD = "import sys, time\nhoard = b'\\x01' * (int(sys.argv[1]) * 2**20)\ntime.sleep(float(sys.argv[2]))\n"


def child_hog(item):
    """A worker whose helper process (a flooded supervisor, a reference runner) allocates:
    the worker itself stays small."""
    _, mib = item
    subprocess.run([sys.executable, "-c", _HOLD, str(mib), "3"], check=True)
    return mib


def no_spare():
    """A worker's set-up: no spare sandbox, so that a worker's tree is the same every time."""
    os.environ["CONVLAB_SANDBOX_SPARE"] = "0"


def sandbox_hog(item):
    """An exercise run in a real sandbox whose answer holds ``MiB`` for a while."""
    from autograder.sandbox import Cell, Limits, Sandbox
    import torch

    _, mib = item
    source = textwrap.dedent(f'''
        import time
        def corr2d(x, kernel):
            hoard = b"\\x01" * ({mib} * 2**20)
            time.sleep(3)
            return x
    ''')
    with Sandbox([Cell(0, "#0", source)], Limits(case_seconds=10, startup_seconds=120)) as sandbox:
        run = sandbox.run("corr2d", [((torch.zeros(3, 3), torch.zeros(2, 2)), {})], ())
    outcome = run.outcomes[0]
    return "returned" if outcome is not None and outcome.value is not None else repr(outcome)

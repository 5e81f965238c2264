"""An exercise graded through an adapter (05_hdc's HDCBlock, a class) runs in the sandbox
as it does in the notebook, also when the sandbox's runtime folder lies inside a private
scratch folder (as ``convlab grade``'s workers put it): the adapter is loaded before the
sandbox switches to its own user."""
from __future__ import annotations

import os
import tempfile
import textwrap

import pytest
import torch

from autograder.sandbox import Cell, Limits, Sandbox, launcher
from autograder.sandbox.host import SCALES
from convlab.checks import REGISTRY
from convlab.checks.core import compare_outputs

pytestmark = pytest.mark.slow

BLOCK = '''
import torch
import torch.nn as nn

class HDCBlock(nn.Module):
    def __init__(self, channels, rates, kernel_size=3):
        super().__init__()
        if channels < 1 or not rates or min(rates) < 1 or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError("bad arguments")
        self.convs = nn.ModuleList(nn.Conv2d(channels, channels, kernel_size, padding="same",
                                             dilation=r) for r in rates)
        self.norms = nn.ModuleList(nn.BatchNorm2d(channels) for _ in rates)

    def forward(self, x):
        y = x
        for conv, norm in zip(self.convs, self.norms):
            y = torch.relu(norm(conv(y)))
        return x + y
'''


@pytest.mark.parametrize("private_tmp", [False, True])
def test_hdc_block_runs_through_its_adapter_in_the_sandbox(private_tmp, monkeypatch):
    exercise = REGISTRY["HDCBlock"]
    cases = exercise.visible_cases()
    if private_tmp:
        folder = tempfile.mkdtemp()  # mode 0700: the sandbox's own user cannot enter it
        monkeypatch.setenv("TMPDIR", folder)
        monkeypatch.setattr(tempfile, "tempdir", folder)
    if launcher.isolation_problem():
        pytest.skip(launcher.isolation_problem())
    with Sandbox([Cell(0, "'HDCBlock'", textwrap.dedent(BLOCK))], Limits(startup_seconds=120)) as sb:
        run = sb.run("HDCBlock", [(c.args, c.kwargs) for c in cases], adapter=exercise.adapter)
    assert run.missing is None, run.missing
    for case, outcome in zip(cases, run.outcomes):
        assert outcome is not None and outcome.failure is None, outcome
        if case.raises is not None:
            assert outcome.error and outcome.error.startswith("ValueError"), outcome
        else:
            expected = exercise.call(exercise.reference, case)
            assert compare_outputs(expected, outcome.value, exercise.rtol, exercise.atol) is None
    if private_tmp:
        assert oct(os.stat(folder).st_mode & 0o777) == "0o700"


ZEROS = '''
def insert_zeros(x, stride):
    n, c, h, w = x.shape
    z = x.new_zeros(n, c, (h - 1) * stride + 1, (w - 1) * stride + 1)
    z[:, :, ::stride, ::stride] = x
    return z
'''


def test_vectorization_meter_loads_from_a_private_scratch_folder(monkeypatch):
    # The meter (measure.py) is the other runtime module a run may load late: same rule.
    folder = tempfile.mkdtemp()
    monkeypatch.setenv("TMPDIR", folder)
    monkeypatch.setattr(tempfile, "tempdir", folder)
    if launcher.isolation_problem():
        pytest.skip(launcher.isolation_problem())
    exercise = REGISTRY["insert_zeros"]
    scaling = {s: (exercise.scaling_case(s).args, exercise.scaling_case(s).kwargs) for s in SCALES}
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    with Sandbox([Cell(0, "'insert_zeros'", textwrap.dedent(ZEROS))], Limits(startup_seconds=120)) as sb:
        run = sb.run("insert_zeros", [((x, 2), {})], scaling=scaling)
    assert run.missing is None, run.missing
    assert run.outcomes[0].failure is None and run.not_vectorized is None, run
    assert run.vector_error is None and sorted(run.scaling) == list(SCALES), run
    assert all(o.failure is None and o.work is not None for o in run.scaling.values()), run.scaling
    torch.testing.assert_close(run.outcomes[0].value, REGISTRY["insert_zeros"].reference(x, 2))

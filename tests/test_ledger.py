"""The run ledger (autograder/run/ledger.py): job keys that change with whatever decides a
grade, the grading code's digest, and a ledger that survives kills and other processes."""
from __future__ import annotations

import pickle
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.run.ledger import Ledger, grading_code_digest, job_key, seed_digest

sys.path.insert(0, str(Path(__file__).parent))
import ledger_jobs  # noqa: E402

JOBS = Path(__file__).parent / "ledger_jobs.py"
ROOT = Path(__file__).resolve().parents[1]
SEED, CODE = ledger_jobs.SEED, ledger_jobs.CODE
NOTEBOOKS = {"01_convolution": b'{"cells": []}', "01b_extra": b"second notebook"}


def base_key(**change):
    arguments = dict(notebooks=NOTEBOOKS, seed_digest=SEED, code_digest=CODE,
                     assignment="01_convolution", student="alice", timestamp="2026-12-01 10:00:00",
                     limits={"seconds": 60, "memory_mb": 2048})
    arguments.update(change)
    return job_key(**arguments)


# --- job keys --------------------------------------------------------------------------------

def test_job_key_is_a_fixed_canonical_digest():
    # Pinned: a change of the encoding would silently regrade every class (bump the version).
    assert base_key() == job_key(dict(reversed(list(NOTEBOOKS.items()))), SEED, CODE,
                                 "01_convolution", "alice", timestamp="2026-12-01 10:00:00",
                                 limits={"memory_mb": 2048, "seconds": 60})
    assert base_key() == "affe37e021ddb3efbb237004efbd01edd560d11345fa66793853657c5160db3f"
    in_another_process = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, 'tests'); import test_ledger; "
         "print(test_ledger.base_key())"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert in_another_process.stdout.strip() == base_key()


@pytest.mark.parametrize("change", [
    {"notebooks": {**NOTEBOOKS, "01_convolution": b'{"cells": [1]}'}},   # content
    {"notebooks": {"01_convolution": NOTEBOOKS["01_convolution"]}},      # a notebook less
    {"notebooks": {"renamed": NOTEBOOKS["01_convolution"], "01b_extra": NOTEBOOKS["01b_extra"]}},
    {"notebooks": {"01_convolution": NOTEBOOKS["01b_extra"], "01b_extra": NOTEBOOKS["01_convolution"]}},
    {"seed_digest": "5eed" * 15 + "5eee"},                               # another secret
    {"code_digest": "c0de" * 15 + "c0df"},                               # other grading code
    {"timestamp": "2026-12-01 10:00:01"},                                # another attempt
    {"timestamp": None},
    {"limits": {"seconds": 61, "memory_mb": 2048}},
    {"limits": None},
    {"assignment": "02_transposed"},
    {"student": "bob"},
], ids=lambda change: "-".join(change))
def test_job_key_changes_with_what_decides_a_grade(change):
    assert base_key(**change) != base_key()


def test_job_key_fields_cannot_run_into_each_other():
    # A length-blind encoding would give "ab"+"c" and "a"+"bc" one key.
    assert job_key({}, SEED, CODE, "ab", "c") != job_key({}, SEED, CODE, "a", "bc")
    assert job_key({"a": b"bc"}, SEED, CODE, "x", "y") != job_key({"ab": b"c"}, SEED, CODE, "x", "y")


@pytest.mark.parametrize("change, message", [
    ({"notebooks": {"n": "text, not bytes"}}, "must be bytes"),
    ({"notebooks": [b"no names"]}, "must map names"),
    ({"notebooks": {"": b"x"}}, "notebook's name"),
    ({"seed_digest": "not hex"}, "seed_digest"),
    ({"seed_digest": b"raw secret bytes"}, "seed_digest"),
    ({"seed_digest": "ab" * 8}, "seed_digest"),           # too short to be a digest
    ({"code_digest": "C0DE" * 16}, "code_digest"),        # uppercase: not what hexdigest gives
    ({"student": ""}, "student"),
    ({"assignment": None}, "assignment"),
    ({"timestamp": 1234}, "timestamp"),
    ({"limits": {"seconds": float("nan")}}, "JSON"),
    ({"limits": {"seconds": object()}}, "JSON"),
])
def test_job_key_refuses_bad_input(change, message):
    with pytest.raises(ValueError, match=message):
        base_key(**change)


def test_the_seed_enters_as_a_digest_that_tells_nothing_of_the_secret(tmp_path):
    from autograder.secret import fingerprint

    secret = bytes(range(32))
    digest = seed_digest(secret)
    assert digest == fingerprint(secret) and digest != seed_digest(bytes(range(1, 33)))
    assert secret.hex() not in digest
    with Ledger(tmp_path / "ledger.db") as ledger:
        ledger.put(job_key(NOTEBOOKS, digest, CODE, "a", "s"), b"{}")
        stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())  # the WAL too, while open
    assert stored and secret not in stored and secret.hex().encode() not in stored
    with pytest.raises(ValueError):
        seed_digest(b"")


# --- the grading code's digest ---------------------------------------------------------------

def _course(root: Path) -> Path:
    files = {
        "autograder/grader.py": "def grade(): return 1\n",
        "autograder/hidden_cases/convolution.py": "CASES = 3\n",
        "autograder/templates/convlab/index.html.j2": "<p>feedback</p>\n",
        "autograder/examples/students/cheater.ipynb": "{}\n",
        "autograder/work/gradebook.db": "instructor data\n",
        "autograder/__pycache__/grader.cpython-311.pyc": "bytecode\n",
        "lib/convlab/ops.py": "def conv(): pass\n",
        "solutions/01_convolution/01_convolution.ipynb": '{"cells": []}\n',
        "nbgrader_config.py": "c = get_config()\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize("edit", [
    "autograder/grader.py", "autograder/hidden_cases/convolution.py",
    "autograder/templates/convlab/index.html.j2", "lib/convlab/ops.py",
    "solutions/01_convolution/01_convolution.ipynb", "nbgrader_config.py",
    "autograder/hidden_cases/atrous.py", "solutions/02_transposed/02_transposed.ipynb",
])
def test_code_digest_changes_with_what_decides_a_grade(tmp_path, edit):
    root = _course(tmp_path)
    before = grading_code_digest(root)
    assert grading_code_digest(root) == before
    path = root / edit
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        handle.write("# one more line\n")
    assert grading_code_digest(root) == before  # cached: a run grades with the code it started with
    grading_code_digest.cache_clear()
    assert grading_code_digest(root) != before


@pytest.mark.parametrize("edit", [
    "autograder/work/gradebook.db", "autograder/work/submitted/alice/01/x.ipynb",
    "autograder/examples/students/cheater.ipynb", "autograder/__pycache__/grader.cpython-311.pyc",
    "solutions/01_convolution/.ipynb_checkpoints/01_convolution-checkpoint.ipynb",
])
def test_code_digest_ignores_instructor_data_and_caches(tmp_path, edit):
    root = _course(tmp_path)
    grading_code_digest.cache_clear()
    before = grading_code_digest(root)
    path = root / edit
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        handle.write("changed by a grading run\n")
    grading_code_digest.cache_clear()
    assert grading_code_digest(root) == before


def test_code_digest_of_this_course_is_stable_across_processes():
    digest = grading_code_digest()
    assert len(digest) == 64 and int(digest, 16) >= 0
    other = subprocess.run([sys.executable, "-c", "from autograder.run.ledger import "
                            "grading_code_digest as d; print(d())"],
                           cwd="/", capture_output=True, text=True, check=True)
    assert other.stdout.strip() == digest
    assert "torch" not in subprocess.run(
        [sys.executable, "-c", "import sys; from autograder.run.ledger import grading_code_digest "
         "as d; d(); print(' '.join(sys.modules))"], capture_output=True, text=True,
        check=True).stdout.split()  # no torch import: the digest is cheap in the parent


# --- the ledger ------------------------------------------------------------------------------

def _put(path: Path, *students: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(JOBS), "put", str(path), *students],
                          capture_output=True, text=True, check=True)


def test_put_and_get_within_and_across_processes(tmp_path):
    path = tmp_path / "out" / "ledger.db"
    with Ledger(path) as ledger:
        assert ledger.get(ledger_jobs.key("alice")) is None
        ledger.put(ledger_jobs.key("alice"), ledger_jobs.payload("alice"))
        assert ledger.get(ledger_jobs.key("alice")) == ledger_jobs.payload("alice")
        _put(path, "bob", "carol")  # another process, while this one holds the ledger open
        assert ledger.get(ledger_jobs.key("bob")) == ledger_jobs.payload("bob")
        assert ledger.keys() == {ledger_jobs.key(s) for s in ("alice", "bob", "carol")}
        assert len(ledger) == 3 and ledger_jobs.key("carol") in ledger
        absent = ledger_jobs.key("dave")
        assert ledger.get_many([ledger_jobs.key("bob"), absent, ledger_jobs.key("carol")]) == {
            ledger_jobs.key("bob"): ledger_jobs.payload("bob"),
            ledger_jobs.key("carol"): ledger_jobs.payload("carol")}
        assert ledger.get_many([]) == {}
        ledger.put_json(ledger_jobs.key("alice"), {"score": 2.5})  # replaces
        assert ledger.get_json(ledger_jobs.key("alice")) == {"score": 2.5} and len(ledger) == 3
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_two_processes_write_one_ledger_at_once(tmp_path):
    path = tmp_path / "ledger.db"
    batches = [[f"{p}{i}" for i in range(150)] for p in ("x", "y")]
    writers = [subprocess.Popen([sys.executable, str(JOBS), "put", str(path), *batch],
                                stderr=subprocess.PIPE, text=True) for batch in batches]
    for writer in writers:
        assert writer.wait(timeout=60) == 0, writer.stderr.read()
    with Ledger(path) as ledger:
        assert ledger.keys() == {ledger_jobs.key(s) for batch in batches for s in batch}
        every = ledger.get_many(ledger_jobs.key(s) for batch in batches for s in batch)
        assert len(every) == 300  # past the 500 parameters of one query when doubled below
        assert len(ledger.get_many([*every, *(ledger_jobs.key(f"z{i}") for i in range(400))])) == 300
        for student in batches[0] + batches[1]:
            assert ledger.get(ledger_jobs.key(student)) == ledger_jobs.payload(student)


def test_a_kill_during_writes_leaves_every_finished_entry_whole(tmp_path):
    path = tmp_path / "ledger.db"
    size = 300_000  # large payloads: a kill is likely to land inside a write
    writer = subprocess.Popen([sys.executable, str(JOBS), "forever", str(path), str(size)],
                              stdout=subprocess.PIPE, text=True)
    acknowledged = []
    try:
        while len(acknowledged) < 25:
            line = writer.stdout.readline()
            assert line, "the writer stopped before it was killed"
            acknowledged.append(line.strip())
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with Ledger(path) as ledger:
        stored = ledger.keys()
        # Every put that returned is there (durable), and nothing stored is torn: the
        # entries are s0 ... s(n-1), each whole (the writer may have gone on past the 25th).
        assert len(stored) >= len(acknowledged)
        assert stored == {ledger_jobs.key(f"s{i}") for i in range(len(stored))}
        for index in range(len(stored)):
            student = f"s{index}"
            assert ledger.get(ledger_jobs.key(student)) == ledger_jobs.payload(student, size)
        ledger.put(ledger_jobs.key("after"), b"{}")  # and it takes writes again
        assert ledger.get(ledger_jobs.key("after")) == b"{}"


def test_a_killed_run_resumes_without_grading_a_finished_job_again(tmp_path):
    path, log = tmp_path / "ledger.db", tmp_path / "graded.log"
    students = [f"s{i:02d}" for i in range(30)]
    first = subprocess.Popen([sys.executable, str(JOBS), "run", str(path), str(log), *students],
                             stdout=subprocess.PIPE, text=True)
    finished = [first.stdout.readline().strip() for _ in range(10)]
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert finished == students[:10]
    second = subprocess.run([sys.executable, str(JOBS), "run", str(path), str(log), *students],
                            capture_output=True, text=True, check=True)
    again = second.stdout.split()
    # Only the jobs after the last finished one (the first run may have finished a few
    # more before the kill landed); only the one in flight at the kill was graded twice.
    resumed_at = len(students) - len(again)
    assert resumed_at >= 10 and again == students[resumed_at:]
    graded = log.read_text().split()
    assert sorted(set(graded)) == students
    assert [s for s in students if graded.count(s) > 1] in ([], [students[resumed_at]])
    with Ledger(path) as ledger:
        assert ledger.keys() == {ledger_jobs.key(s) for s in students}
    third = subprocess.run([sys.executable, str(JOBS), "run", str(path), str(log), *students],
                           capture_output=True, text=True, check=True)
    assert third.stdout == ""  # all graded: nothing to do


def test_forget_except_keeps_only_the_named_jobs(tmp_path):
    with Ledger(tmp_path / "ledger.db") as ledger:
        for student in ("a", "b", "c", "d"):
            ledger.put(ledger_jobs.key(student), ledger_jobs.payload(student))
        keep = [ledger_jobs.key("b"), ledger_jobs.key("d"), ledger_jobs.key("never stored")]
        assert ledger.forget_except(keep) == 2
        assert ledger.keys() == {ledger_jobs.key("b"), ledger_jobs.key("d")}
        assert ledger.get(ledger_jobs.key("b")) == ledger_jobs.payload("b")
        assert ledger.forget_except(keep) == 0
        with pytest.raises(ValueError, match="sha256"):
            ledger.forget_except(["not a key"])
        assert len(ledger) == 2  # a refused call removed nothing
        assert ledger.forget_except([]) == 2 and len(ledger) == 0


def test_payloads_are_json_only(tmp_path):
    with Ledger(tmp_path / "ledger.db") as ledger:
        key = ledger_jobs.key("mallory")
        for payload in (pickle.dumps({"score": 1}), b"\xff\xfe", b"{not json", "text"):
            with pytest.raises(ValueError, match="JSON"):
                ledger.put(key, payload)
        with pytest.raises(ValueError, match="JSON"):
            ledger.put_json(key, {"score": float("inf")})
        assert ledger.get(key) is None
        for bad in ("", "ab" * 32 + "0", "AB" * 32, None):
            with pytest.raises(ValueError, match="sha256"):
                ledger.get(bad)


def test_a_file_that_is_no_ledger_is_refused(tmp_path):
    text = tmp_path / "text.db"
    text.write_text("grades, not a database " * 100)
    with pytest.raises(ValueError, match="not a convlab ledger"):
        Ledger(text)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE grades (x)")
    with pytest.raises(ValueError, match="not a convlab ledger"):
        Ledger(other)
    with sqlite3.connect(other) as db:  # and it was left as it was
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("grades",)]
    with Ledger(tmp_path / "mine.db"):
        pass
    with Ledger(tmp_path / "mine.db") as ledger:  # a ledger opens again
        assert len(ledger) == 0

"""The Dask distributed executor (autograder.run.executors) on a real two-worker
LocalCluster on loopback, started once for the module (a few seconds)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import dask_jobs
from autograder.run import executors
from autograder.run.executors import DaskExecutor, Lost, check_address

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def cluster():
    with DaskExecutor(n_workers=2, lost=dask_jobs.lost, allowed_failures=1) as executor:
        yield executor


def _two_workers(executor: DaskExecutor) -> None:
    """A killed worker is restarted by its nanny: wait for it, so the next test has two."""
    executor.client.wait_for_workers(2, timeout=30)


def test_results_come_in_job_order_and_each_is_reported_once(cluster):
    # Job 0 takes a second, the others none: they finish first, on the other worker.
    jobs = [("square", (0, 1.0))] + [("square", (i, 0.0)) for i in range(1, 6)]
    calls = []
    results = cluster.map(dask_jobs.work, jobs, on_result=lambda i, r: calls.append((i, r)))
    assert results == [dask_jobs.work(("square", (i, 0.0))) for i in range(6)]
    assert sorted(i for i, _ in calls) == list(range(6))
    assert all(results[i] == r for i, r in calls)
    assert calls[-1][0] == 0, "job 0 finished last, so the results were put back in job order"


def test_no_jobs_no_cluster_work(cluster):
    assert cluster.map(dask_jobs.work, []) == []


@pytest.mark.parametrize("jobs", [3, 7])
def test_each_worker_holds_one_job_at_a_time(cluster, jobs):
    # A dying worker costs every task it holds a retry: so it holds only the one it grades.
    # (3 jobs on 2 workers the scheduler would hand out at once; 7 it queues itself.)
    assert cluster.map(dask_jobs.work, [("crowd", 0.2)] * jobs) == [1] * jobs


def test_a_job_may_start_processes_of_its_own(cluster):
    # Grading does (nbgrader's budgeted worker): a daemonic worker could not.
    assert cluster.map(dask_jobs.work, [("child", 3), ("child", 4)]) == [3, 4]


def test_daemonic_workers_are_refused():
    import dask
    from distributed import LocalCluster

    # Dask's default, which the module's executor has changed in this process until it closes.
    with dask.config.set({"distributed.worker.daemon": True}), LocalCluster(n_workers=1, threads_per_worker=1, processes=True, protocol="tcp://",
                      host="127.0.0.1", dashboard_address="127.0.0.1:0") as daemonic:
        executor = DaskExecutor(daemonic.scheduler_address)
        with pytest.raises(ValueError, match="DASK_DISTRIBUTED__WORKER__DAEMON=False"):
            executor.open()
        assert executor.client is None


def test_a_worker_killed_in_the_middle_of_a_job_costs_that_job_one_retry(cluster, tmp_path):
    marker = tmp_path / "first-attempt"
    jobs = [("square", (2, 0.3)), ("die once", (str(marker), 5)), ("square", (3, 0.3)),
            ("square", (4, 0.0))]
    results = cluster.map(dask_jobs.work, jobs)
    first_pid = int(marker.read_text())
    assert results[0] == 4 and results[2] == 9 and results[3] == 16
    assert results[1][:2] == ("retried", 5)
    assert results[1][2] != first_pid, "the retry ran in another worker process"
    _two_workers(cluster)


def test_a_job_that_always_kills_its_worker_is_lost_alone(cluster, tmp_path):
    attempts = tmp_path / "attempts"
    jobs = [("square", (2, 0.2)), ("die", str(attempts)), ("square", (3, 0.2)),
            ("square", (5, 0.2)), ("square", (6, 0.0))]
    results = cluster.map(dask_jobs.work, jobs)
    assert results[0] == 4 and results[2:] == [9, 25, 36]
    assert results[1] == ("lost", "die", "the grading worker died on it 2 times")
    pids = attempts.read_text().split()
    assert len(pids) == 2 and len(set(pids)) == 2  # allowed_failures=1: one retry, elsewhere
    _two_workers(cluster)


def test_a_job_whose_work_raises_is_lost_with_the_message(cluster):
    jobs = [("square", (2, 0.0)), ("raise", "boom 42"), ("square", (3, 0.0))]
    results = cluster.map(dask_jobs.work, jobs)
    assert results == [4, ("lost", "raise", "grading it failed: RuntimeError: boom 42"), 9]
    # map's own `lost` wins over the executor's; the default is a Lost.
    results = cluster.map(dask_jobs.work, jobs[1:2], lost=lambda job, why: why)
    assert results == ["grading it failed: RuntimeError: boom 42"]
    assert DaskExecutor().lost(jobs[1], "why") == Lost("why")


def test_a_job_that_cannot_be_sent_is_lost_alone(cluster):
    jobs = [("square", (2, 0.0)), ("square", threading.Lock()), ("square", (3, 0.0))]
    results = cluster.map(dask_jobs.work, jobs)
    assert results[0] == 4 and results[2] == 9
    assert results[1][:2] == ("lost", "square")
    assert results[1][2].startswith("it could not be sent to a worker: TypeError: cannot pickle")


def test_the_course_secret_reaches_no_task_and_no_worker(cluster, tmp_path, monkeypatch):
    secret_file = os.environ["CONVLAB_SECRET_FILE"]  # the tests' secret (conftest.py)
    secret = Path(secret_file).read_text().strip()
    sent = []
    payload = executors.task_payload
    monkeypatch.setattr(executors, "task_payload",
                        lambda work, job: sent.append(payload(work, job)) or sent[-1])
    marker = tmp_path / "first-attempt"
    jobs = [("environment", None), ("die once", (str(marker), 1)), ("environment", None)]
    results = cluster.map(dask_jobs.work, jobs)
    assert len(sent) == len(jobs)
    for data in sent:
        for leak in (secret, secret_file, "CONVLAB_SECRET_FILE"):
            assert leak.encode() not in data
    # The workers see no variable naming the secret, nor its path in any other (other
    # CONVLAB_ settings, e.g. one an earlier test left in this process, may ride along).
    for seen in (results[0], results[2]):
        assert not set(seen) & set(executors.SECRET_VARIABLES)
        assert secret_file not in seen.values() and secret not in "".join(seen.values())
    # Outside any task too, and in the worker its nanny restarted after the kill.
    _two_workers(cluster)
    held = cluster.client.run(dask_jobs.secret_variable)
    assert len(held) == 2 and set(held.values()) == {None}
    assert os.environ["CONVLAB_SECRET_FILE"] == secret_file  # the coordinator keeps it


def test_connecting_to_a_running_scheduler_by_address(cluster):
    remote = DaskExecutor(cluster.scheduler_address, lost=dask_jobs.lost)
    assert remote.map(dask_jobs.work, [("square", (7, 0.0)), ("raise", "no")]) == [
        49, ("lost", "raise", "grading it failed: RuntimeError: no")]
    assert remote.client is None  # map opened it, map closed it
    assert cluster.map(dask_jobs.work, [("square", (8, 0.0))]) == [64]  # the cluster stays


@pytest.mark.parametrize("address", ["", "   ", "http://grader:8786", "tcp://grader",
                                     "tcp://:8786", "tcp://grader:0", "tcp://grader:70000",
                                     "tcp://grader:port", "tcp://grader:8786/path", 8786])
def test_a_bad_address_is_a_value_error(address):
    with pytest.raises(ValueError, match="scheduler address"):
        DaskExecutor(address)


def test_addresses_that_dask_accepts():
    assert check_address("grader-1:8786") == "tcp://grader-1:8786"
    assert check_address(" tls://10.0.0.2:8786 ") == "tls://10.0.0.2:8786"
    assert check_address("tcp://[::1]:8786") == "tcp://[::1]:8786"


def test_no_scheduler_at_the_address_is_a_value_error():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    executor = DaskExecutor(f"tcp://127.0.0.1:{port}", connect_timeout=1)
    with pytest.raises(ValueError, match="no Dask scheduler answered"):
        executor.map(dask_jobs.work, [("square", (1, 0.0))])
    assert executor.client is None


def test_workers_with_several_threads_are_refused(monkeypatch):
    from distributed import LocalCluster

    # Its workers are threads of this process: the executor's _ForgetSecret drops the
    # secret's variable here too; monkeypatch gives it back to the tests after.
    monkeypatch.setenv("CONVLAB_SECRET_FILE", os.environ["CONVLAB_SECRET_FILE"])

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp://",
                      host="127.0.0.1", dashboard_address="127.0.0.1:0") as crowded:
        executor = DaskExecutor(crowded.scheduler_address)
        with pytest.raises(ValueError, match="--nthreads 1"):
            executor.map(dask_jobs.work, [("square", (1, 0.0))])
        assert executor.client is None


def test_a_lost_scheduler_ends_the_run_with_a_result_for_every_job(monkeypatch):
    from distributed import LocalCluster

    # Workers in this process (processes=False): see the test above.
    monkeypatch.setenv("CONVLAB_SECRET_FILE", os.environ["CONVLAB_SECRET_FILE"])

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://",
                           host="127.0.0.1", dashboard_address="127.0.0.1:0")
    try:
        executor = DaskExecutor(cluster.scheduler_address, lost=dask_jobs.lost, connect_timeout=1)
        stop = threading.Thread(target=cluster.close)

        def lose_the_scheduler(index, result):  # after two results, while two jobs run
            if index == 1:
                stop.start()

        jobs = [("square", (0, 0.0)), ("square", (1, 0.3))] + [("square", (i, 3.0)) for i in range(2, 6)]
        results = executor.map(dask_jobs.work, jobs, on_result=lose_the_scheduler)
        stop.join()
    finally:
        executor.close()
        cluster.close()
    assert results[:2] == [0, 1]
    for result in results[2:]:
        assert result[:2] == ("lost", "square") and "scheduler" in result[2], result
    assert any("could not be reached" in result[2] for result in results[2:])  # never sent


@pytest.mark.parametrize("bad", [{"n_workers": 0}, {"allowed_failures": -1}])
def test_bad_settings_are_value_errors(bad):
    with pytest.raises(ValueError):
        DaskExecutor(**bad)


def test_sigterm_closes_the_client_and_the_local_cluster(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(TESTS)!r})
        import dask_jobs
        from autograder.run.executors import DaskExecutor

        if __name__ == "__main__":
            try:
                DaskExecutor(n_workers=1).map(dask_jobs.work, [("pid", ({str(tmp_path)!r}, 60))] * 2)
            except KeyboardInterrupt:
                print("interrupted", flush=True)
                sys.exit(130)
    """)
    (tmp_path / "run.py").write_text(script)
    run = subprocess.Popen([sys.executable, str(tmp_path / "run.py")], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob("pid-*")):
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.1)
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130, err
    assert "interrupted" in out
    workers = [int(p.name.split("-")[1]) for p in tmp_path.glob("pid-*")]
    deadline = time.monotonic() + 10
    assert len(workers) == 1
    for pid in workers:  # the worker (our grandchild) is gone, not left grading
        while _alive(pid):
            assert time.monotonic() < deadline, f"worker {pid} outlived the run"
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has ended; only its reaper has not looked yet.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"

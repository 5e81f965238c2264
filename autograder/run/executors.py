"""Grading on a Dask distributed cluster: ``DaskExecutor``, the remote twin of the local pool.

    with DaskExecutor("tcp://grader-1:8786") as cluster:      # or DaskExecutor() for a
        results = cluster.map(grade_job, jobs, on_result=show)  # LocalCluster on loopback

``map(work, jobs, on_result=None, *, lost=None)`` runs ``work(job)`` for every job on the
cluster's workers and returns the results in job order, as the local pool does, whatever
happens: a job that cannot finish gets ``lost(job, why)`` (the caller's failure result)
instead of an exception, so a run always ends with a result for every job.

What it promises, and how:

* **One task per job**, submitted with ``pure=False`` under a key made of the run and the
  job's index (never its content: two students with the same notebook are two tasks).
* **A worker that dies loses only its job.** The scheduler reschedules the tasks of a lost
  worker on another one; a task whose worker died ``allowed_failures + 1`` times is erred
  (``KilledWorker``) and becomes ``lost``. The scheduler marks *every* task held by a
  dying worker, not only the one that killed it, so the executor keeps no more tasks in
  flight than the cluster has threads (one per worker): an innocent job does not sit
  queued on a worker behind a killer. A remote scheduler keeps its own
  ``allowed-failures`` (3 by default; ``DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1
  dask scheduler`` gives the local pool's one retry).
* **The course secret stays on this machine.** A task carries ``task_payload(work, job)``:
  the pickled function and job, nothing else (the grading job carries the seeds of its own
  submission only). Every worker drops ``SECRET_VARIABLES`` from its environment when it
  starts and before every task, so neither grading nor a sandbox it starts finds the
  coordinator's secret file through them (a LocalCluster's workers inherit this process's
  environment).
* **Interrupted** (Ctrl-C, SIGTERM, SIGHUP), the run cancels its tasks, closes its client
  and the local cluster it started, and raises KeyboardInterrupt.

Workers run ``work`` in their own process, one thread each (grading forks sandboxes), so
``work`` must be importable there: a top-level function of a package the workers have
installed (the course's, for ``grade_job``).
"""
from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable
from urllib.parse import urlsplit

from distributed.diagnostics.plugin import WorkerPlugin

__all__ = ["DaskExecutor", "Lost", "SECRET_VARIABLES", "check_address", "task_payload"]

# What points a process at the course secret (autograder.secret.ENV). A worker needs none
# of it: its job carries the seeds.
SECRET_VARIABLES = ("CONVLAB_SECRET_FILE",)

# Schemes of the Dask comms a `dask scheduler` listens on.
_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


@dataclass(frozen=True)
class Lost:
    """The default failure result: why the job has no result of its own."""

    why: str


_NONE = object()  # a job without a result yet


def _lost(job: Any, why: str) -> Lost:
    return Lost(why)


def check_address(address: str) -> str:
    """``address`` as ``scheme://host:port`` (``host:port`` means tcp), or ValueError."""
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"a Dask scheduler address is needed, such as tcp://HOST:8786; got {address!r}")
    text = address.strip()
    if "://" not in text:
        text = f"tcp://{text}"
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        port = None
    if (parts.scheme not in _SCHEMES or not parts.hostname or port is None or not 0 < port < 65536
            or parts.path not in ("", "/") or parts.query or parts.fragment or parts.username):
        raise ValueError(f"{address!r} is not a Dask scheduler address: expected SCHEME://HOST:PORT "
                         f"with SCHEME one of {', '.join(_SCHEMES)} (e.g. tcp://grader-1:8786, "
                         "what `dask scheduler` prints)")
    return f"{parts.scheme}://{parts.netloc}"


def task_payload(work: Callable, job: Any) -> bytes:
    """All that one task sends to a worker: ``work`` (by reference when importable) and the
    job. Nothing of this process's environment or configuration rides along."""
    import cloudpickle

    return cloudpickle.dumps((work, job), protocol=pickle.HIGHEST_PROTOCOL)


def _forget_secret() -> None:
    for name in SECRET_VARIABLES:
        os.environ.pop(name, None)


def _daemonic() -> bool:
    import multiprocessing

    return bool(multiprocessing.current_process().daemon)


def _attempt(payload: bytes) -> Any:
    """One attempt at one job, on a worker."""
    _forget_secret()
    work, job = pickle.loads(payload)
    return work(job)


class _ForgetSecret(WorkerPlugin):
    """Drops the secret's variables as each worker starts (a restarted one too), before
    any task or set-up runs there."""

    name = "convlab-forget-secret"

    def setup(self, worker):
        _forget_secret()


class _Setup(WorkerPlugin):
    """The caller's ``setup()``, once in every worker process (a restarted one too)."""

    name = "convlab-setup"

    def __init__(self, function: Callable[[], Any]):
        self.function = function

    def setup(self, worker):
        self.function()


class DaskExecutor:
    """Run jobs on a Dask cluster: the scheduler at ``address``, or (``address=None``) a
    ``LocalCluster`` of ``n_workers`` processes on 127.0.0.1 that lives as long as the
    executor is open (``with``), or as one ``map`` when used without ``with``.

    ``lost(job, why)`` makes the result of a job that could not finish (its work raised,
    or its worker died ``allowed_failures + 1`` times); ``map`` may override it.
    ``allowed_failures`` applies to the local cluster; a remote scheduler uses its own
    ``distributed.scheduler.allowed-failures`` (start it with
    ``DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1``). ``setup()`` runs once in every
    worker process before its first task (e.g. imports, a scratch course).
    ``connect_timeout``: seconds to reach the scheduler and find a worker there."""

    def __init__(self, address: str | None = None, *, n_workers: int = 2,
                 lost: Callable[[Any, str], Any] | None = None, allowed_failures: int = 1,
                 setup: Callable[[], Any] | None = None, connect_timeout: float = 30.0):
        if address is not None:
            address = check_address(address)
        if not isinstance(n_workers, int) or n_workers < 1:
            raise ValueError(f"n_workers must be a positive integer, got {n_workers!r}")
        if not isinstance(allowed_failures, int) or allowed_failures < 0:
            raise ValueError(f"allowed_failures must be a non-negative integer, got {allowed_failures!r}")
        self.address = address
        self.n_workers = n_workers
        self.lost = lost or _lost
        self.allowed_failures = allowed_failures
        self.setup = setup
        self.connect_timeout = connect_timeout
        self._client = None
        self._cluster = None
        self._settings = None

    # --- the cluster's lifetime -----------------------------------------------------------

    @property
    def client(self):
        """The ``distributed.Client`` while open, else None."""
        return self._client

    @property
    def scheduler_address(self) -> str | None:
        return self._client.scheduler.address if self._client is not None else None

    def open(self) -> "DaskExecutor":
        if self._client is not None:
            return self
        try:
            self._connect()
        except BaseException:
            self.close()
            raise
        return self

    def _connect(self) -> None:
        import dask
        from distributed import Client, LocalCluster

        if self.address is None:
            # Held until close: the nannies read the worker settings at every (re)start.
            self._settings = dask.config.set({
                "distributed.scheduler.allowed-failures": self.allowed_failures,
                # With map's window, each worker holds one task at a time: a large batch
                # the scheduler queues itself it also hands out one per worker.
                "distributed.scheduler.worker-saturation": 1.0,
                # Grading a notebook may start processes of its own (nbgrader's budgeted
                # worker, the sandboxes); a daemonic process may not have children.
                "distributed.worker.daemon": False,
            })
            self._cluster = LocalCluster(
                n_workers=self.n_workers, threads_per_worker=1, processes=True,
                host="127.0.0.1", protocol="tcp://", dashboard_address=None,
                worker_dashboard_address=None, scheduler_port=0,
                # No dashboard; the scheduler's own HTTP routes (health, metrics) on a
                # free loopback port rather than 8787, which another cluster may hold.
                scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                # The grader budgets each notebook's memory itself; the nanny's own
                # limit would kill a worker whose sandboxes are within theirs.
                memory_limit=0, silence_logs=logging.CRITICAL)
            self._client = Client(self._cluster, set_as_default=False,
                                  timeout=self.connect_timeout)
        else:
            try:
                self._client = Client(self.address, set_as_default=False,
                                      timeout=self.connect_timeout)
            except (OSError, TimeoutError) as exc:
                raise ValueError(f"no Dask scheduler answered at {self.address} within "
                                 f"{self.connect_timeout:g} s ({type(exc).__name__}: {exc}); "
                                 "start one with `dask scheduler`") from exc
            try:
                self._client.wait_for_workers(1, timeout=self.connect_timeout)
            except TimeoutError as exc:
                raise ValueError(f"the Dask scheduler at {self.address} has no worker: start "
                                 f"some with `dask worker {self.address} --nthreads 1`") from exc
            # Two jobs in one worker process would share its scratch course and gradebook.
            crowded = sorted(w for w, n in self._client.nthreads().items() if n > 1)
            if crowded:
                raise ValueError(f"the Dask workers {', '.join(crowded)} run several threads; "
                                 "grading needs one job per process: start them with "
                                 f"`dask worker {self.address} --nthreads 1 --nworkers N`")
            daemonic = sorted(w for w, d in self._client.run(_daemonic).items() if d)
            if daemonic:
                raise ValueError(f"the Dask workers {', '.join(daemonic)} are daemonic processes, "
                                 "which may not start the processes grading needs: start them "
                                 "with DASK_DISTRIBUTED__WORKER__DAEMON=False in their environment")
        self._client.register_plugin(_ForgetSecret())
        if self.setup is not None:
            self._client.register_plugin(_Setup(self.setup))

    def close(self) -> None:
        client, cluster, self._client, self._cluster = self._client, self._cluster, None, None
        settings, self._settings = self._settings, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()
        if settings is not None:
            settings.__exit__(None, None, None)

    def __enter__(self) -> "DaskExecutor":
        with _interruptible():
            return self.open()

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- running jobs ---------------------------------------------------------------------

    def map(self, work: Callable[[Any], Any], jobs: Iterable[Any],
            on_result: Callable[[int, Any], Any] | None = None, *,
            lost: Callable[[Any, str], Any] | None = None) -> list:
        """``[work(job) for job in jobs]``, computed on the cluster; ``on_result(index,
        result)`` as each job finishes (in the order they finish)."""
        jobs = list(jobs)
        lost = lost or self.lost
        if not jobs:
            return []
        opened_here = self._client is None
        with _interruptible():
            try:
                self.open()
                return self._run(work, jobs, on_result, lost)
            finally:
                if opened_here:
                    self.close()

    def _run(self, work, jobs, on_result, lost) -> list:
        from distributed import as_completed

        client = self._client
        run = uuid.uuid4().hex[:12]
        pending = iter(enumerate(jobs))
        in_flight = {}  # key -> (job index, future)
        results: list = [_NONE] * len(jobs)
        unreachable: list[str] = []  # why no more jobs could be sent, once that happened

        def submit_more(stream) -> None:
            unsendable = []
            try:
                if unreachable:
                    return
                if client.status not in ("running", "connecting", "newly-created"):
                    raise ConnectionError(f"the client is {client.status}")
                # No more in flight than the cluster has threads (the module's docstring).
                room = max(1, sum(client.nthreads().values())) - stream.count()
                while room > 0 and (item := next(pending, None)) is not None:
                    index, job = item
                    try:
                        payload = task_payload(work, job)
                    except Exception as exc:  # noqa: BLE001  (this job's own: the others go)
                        unsendable.append((index, _why("it could not be sent to a worker", exc)))
                        continue
                    future = client.submit(_attempt, payload, pure=False,
                                           key=f"convlab-grade-{run}-{index}")
                    in_flight[future.key] = (index, future)
                    stream.add(future)
                    room -= 1
            except Exception as exc:  # noqa: BLE001  (the scheduler is gone: finish the run)
                unreachable.append(_why("the Dask scheduler could not be reached", exc))
            finally:
                for index, why in unsendable:
                    finish(index, lost(jobs[index], why))

        def finish(index: int, result) -> None:
            results[index] = result
            if on_result is not None:
                on_result(index, result)

        stream = as_completed([], loop=client.loop)
        try:
            submit_more(stream)
            for future in stream:
                index, _ = in_flight.pop(future.key)
                result = self._outcome(future, jobs[index], lost)
                future.release()
                finish(index, result)
                submit_more(stream)
            for index, result in enumerate(results):
                if result is _NONE:  # never sent: the cluster was lost before its turn
                    finish(index, lost(jobs[index], (unreachable or ["the cluster was lost"])[0]))
        finally:
            # Interrupted (or on_result raised): nothing of this run goes on grading.
            if in_flight:
                with contextlib.suppress(Exception):
                    client.cancel([future for _, future in in_flight.values()])
        return results

    def _outcome(self, future, job, lost) -> Any:
        from distributed import KilledWorker

        if future.status == "finished":
            try:
                return future.result()
            except Exception as exc:  # noqa: BLE001  (its result could not be read back)
                return lost(job, _why("its result could not be read back", exc))
        if future.status == "cancelled":
            return lost(job, "the cluster cancelled it (its scheduler was lost or restarted)")
        exc = future.exception()
        if isinstance(exc, KilledWorker):
            return lost(job, f"the grading worker died on it {exc.allowed_failures + 1} times")
        return lost(job, _why("grading it failed", exc))


def _why(what: str, exc: BaseException) -> str:
    from ..scrub import clip_error, scrub

    # The exception may quote a student's notebook: cut, paths hidden, as every message.
    return scrub(clip_error(f"{what}: {type(exc).__name__}: {exc}"), 400)


@contextlib.contextmanager
def _interruptible():
    """SIGTERM and SIGHUP stop a run as Ctrl-C does (KeyboardInterrupt), so that the
    ``finally`` clauses close the client and the local cluster (main thread only)."""
    def stop(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGHUP):
            previous[signum] = signal.signal(signum, stop)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

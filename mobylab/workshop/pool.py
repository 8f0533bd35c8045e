"""Run one job per host with at most N at a time, a deadline per host, and retries.

Fabric's ThreadingGroup starts a thread per host with no cap and waits forever;
here a ThreadPoolExecutor caps the parallelism, and the main thread watches
each running job's clock: a job past its deadline is reported as timed out and
its connection is closed (which unblocks the thread) while the others go on.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from ..errors import Interrupted, MobylabError, WorkshopError
from ..jsondata import JsonDict
from .hosts import HostSpec

#: Outcome states, from best to worst.
OK, WARN, FAIL, UNREACHABLE, REFUSED, TIMEOUT, SKIPPED = (
    "OK",
    "WARN",
    "FAIL",
    "UNREACHABLE",
    "REFUSED",
    "TIMEOUT",
    "SKIP",
)
FAILED_STATES = (FAIL, UNREACHABLE, REFUSED, TIMEOUT)


@dataclass
class HostOutcome:
    """What happened on one host: a state, the step it reached, one line, and data."""

    host: str
    state: str
    step: str = ""
    message: str = ""
    seconds: float = 0.0
    data: JsonDict = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.state in FAILED_STATES

    def as_dict(self) -> JsonDict:
        return {
            "host": self.host,
            "state": self.state,
            "step": self.step,
            "message": self.message,
            "seconds": round(self.seconds, 2),
            "data": self.data,
        }


class StepFailed(WorkshopError):
    """A step on a host failed; the job stops there and the host is marked FAIL."""


class HostTimedOut(WorkshopError):
    """The host's deadline (--timeout) passed during a step."""

    state = TIMEOUT


Update = Callable[[str, str, str], None]  # (host label, step, note)


class HostJob:
    """Handed to each job: where it is, how long it has left, how to abort it."""

    def __init__(self, spec: HostSpec, timeout: float, update: Update) -> None:
        self.spec = spec
        self.timeout = timeout
        self.step = "queued"
        self.started: float | None = None
        self.aborted = threading.Event()
        self._update = update
        self._on_abort: list[Callable[[], None]] = []

    @property
    def label(self) -> str:
        return self.spec.label

    def begin(self, step: str, note: str = "") -> None:
        """Mark the current step (shown live and in the outcome if the job stops here)."""
        if self.aborted.is_set():
            raise WorkshopError(f"{self.label}: stopped after {self.timeout:.0f}s")
        self.step = step
        self._update(self.label, step, note)

    def note(self, text: str) -> None:
        self._update(self.label, self.step, text)

    def remaining(self) -> float:
        """Seconds left before the deadline (at least 1, so a command can still start)."""
        if self.started is None:
            return self.timeout
        return max(1.0, self.timeout - (time.monotonic() - self.started))

    def on_abort(self, callback: Callable[[], None]) -> None:
        self._on_abort.append(callback)

    def abort(self) -> None:
        self.aborted.set()
        for callback in self._on_abort:
            # closing a dead connection may raise anything
            with contextlib.suppress(Exception):
                callback()


Job = Callable[[HostJob], HostOutcome]


def backoff_delays(retries: int, base: float = 1.0, cap: float = 30.0) -> list[float]:
    """Pure: the waits between connection attempts: base, 2*base, 4*base ... capped."""
    return [min(cap, base * (2**attempt)) for attempt in range(max(0, retries))]


def with_retries(
    attempt: Callable[[], Any],
    *,
    retries: int,
    should_retry: Callable[[BaseException], bool],
    job: HostJob | None = None,
    base_delay: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """Call `attempt`, again after each backoff delay while `should_retry` says so."""
    delays = backoff_delays(retries, base_delay)
    for index in range(len(delays) + 1):
        try:
            return attempt()
        except Exception as exc:
            if index >= len(delays) or not should_retry(exc):
                raise
            if job is not None:
                if job.aborted.is_set() or job.remaining() <= delays[index]:
                    raise
                job.note(f"retrying in {delays[index]:.0f}s")
            sleep(delays[index])
    raise AssertionError("unreachable")


def _run_job(job: HostJob, body: Job) -> HostOutcome:
    job.started = time.monotonic()
    try:
        outcome = body(job)
    except MobylabError as exc:
        state = getattr(exc, "state", FAIL)
        outcome = HostOutcome(job.label, state, job.step, exc.one_line())
    except Exception as exc:  # one host's surprise must not stop the others
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        outcome = HostOutcome(job.label, FAIL, job.step, f"{job.label}: {text}")
    outcome.seconds = time.monotonic() - job.started
    return outcome


def run_on_hosts(
    specs: Sequence[HostSpec],
    body: Job,
    *,
    parallel: int,
    timeout: float,
    update: Update | None = None,
    poll: float = 0.2,
    stop: threading.Event | None = None,
) -> list[HostOutcome]:
    """Run `body` for every host, at most `parallel` at once; outcomes in host order.

    `stop` (the board's, when it is told to end) aborts the jobs as Ctrl-C does, so a
    poll in flight never keeps the process from exiting."""
    notify = update or (lambda host, step, note: None)
    jobs = [HostJob(spec, timeout, notify) for spec in specs]
    outcomes: dict[str, HostOutcome] = {}
    executor = ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="workshop")
    futures: dict[Future[HostOutcome], HostJob] = {
        executor.submit(_run_job, job, body): job for job in jobs
    }
    pending = set(futures)
    try:
        while pending:
            if stop is not None and stop.is_set():
                raise KeyboardInterrupt
            done, pending = wait(pending, timeout=poll, return_when=FIRST_COMPLETED)
            for future in done:
                job = futures[future]
                if job.label not in outcomes:
                    outcomes[job.label] = future.result()
                    notify(job.label, "done", outcomes[job.label].state)
            now = time.monotonic()
            for future in list(pending):
                job = futures[future]
                if job.started is not None and now - job.started > timeout:
                    outcomes[job.label] = HostOutcome(
                        job.label,
                        TIMEOUT,
                        job.step,
                        f"{job.label}: no result after {timeout:.0f}s (at step {job.step})",
                        seconds=now - job.started,
                    )
                    notify(job.label, "done", TIMEOUT)
                    job.abort()
                    pending.discard(future)
    except KeyboardInterrupt:
        for job in jobs:
            job.abort()
        executor.shutdown(wait=False, cancel_futures=True)
        raise Interrupted("interrupted; the hosts' jobs were stopped") from None
    executor.shutdown(wait=False, cancel_futures=True)
    return [outcomes[job.label] for job in jobs]

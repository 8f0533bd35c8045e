"""Bounded parallelism, per-host deadlines and retries (threads, no SSH)."""

from __future__ import annotations

import threading
import time

import pytest

from mobylab.errors import WorkshopError
from mobylab.workshop.hostkeys import HostKeyChanged, HostUnreachable
from mobylab.workshop.hosts import parse_host_list
from mobylab.workshop.pool import (
    OK,
    HostJob,
    HostOutcome,
    StepFailed,
    backoff_delays,
    run_on_hosts,
    with_retries,
)


def test_never_more_than_parallel_jobs_at_once():
    running = 0
    peak = 0
    lock = threading.Lock()

    def body(job: HostJob) -> HostOutcome:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return HostOutcome(job.label, OK)

    specs = parse_host_list(",".join(f"vm{i}" for i in range(12)))
    outcomes = run_on_hosts(specs, body, parallel=3, timeout=10, poll=0.01)
    assert peak == 3
    assert [o.host for o in outcomes] == [s.label for s in specs]
    assert all(o.state == OK for o in outcomes)


def test_a_job_past_its_deadline_is_timed_out_and_aborted_while_others_finish():
    aborted = threading.Event()
    seen_steps: list[tuple[str, str, str]] = []

    def body(job: HostJob) -> HostOutcome:
        job.begin("work")
        if job.label == "slow":
            job.on_abort(aborted.set)
            aborted.wait(5)
            job.begin("after")  # raises: the job was aborted
        return HostOutcome(job.label, OK, job.step)

    started = time.monotonic()
    outcomes = run_on_hosts(
        parse_host_list("slow,fast1,fast2"),
        body,
        parallel=2,
        timeout=0.3,
        update=lambda *a: seen_steps.append(a),
        poll=0.02,
    )
    assert time.monotonic() - started < 3
    states = {o.host: o for o in outcomes}
    assert states["slow"].state == "TIMEOUT"
    assert "at step work" in states["slow"].message
    assert states["fast1"].state == OK and states["fast2"].state == OK
    assert aborted.is_set()
    assert ("slow", "done", "TIMEOUT") in seen_steps


def test_failures_become_outcomes_not_exceptions():
    def body(job: HostJob) -> HostOutcome:
        job.begin("install")
        if job.label == "a":
            raise StepFailed("a: pip install failed")
        if job.label == "b":
            raise HostKeyChanged("b: host key changed")
        if job.label == "c":
            raise RuntimeError("surprise\nwith detail")
        return HostOutcome(job.label, OK)

    outcomes = {
        o.host: o for o in run_on_hosts(parse_host_list("a,b,c,d"), body, parallel=4, timeout=5)
    }
    assert outcomes["a"].state == "FAIL" and outcomes["a"].step == "install"
    assert outcomes["b"].state == "REFUSED"
    assert outcomes["c"].state == "FAIL" and outcomes["c"].message == "c: surprise"
    assert outcomes["d"].state == OK
    assert [o.failed for o in outcomes.values()] == [True, True, True, False]


def test_backoff_doubles_and_is_capped():
    assert backoff_delays(4, 1.0, cap=5) == [1.0, 2.0, 4.0, 5]
    assert backoff_delays(0) == []


def test_only_connection_failures_are_retried():
    slept: list[float] = []
    calls = 0

    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise HostUnreachable("vm: unreachable")
        return "connected"

    def retry(exc: BaseException) -> bool:
        return isinstance(exc, HostUnreachable)

    assert with_retries(flaky, retries=2, should_retry=retry, sleep=slept.append) == "connected"
    assert slept == [1.0, 2.0]

    calls = 0
    with pytest.raises(HostUnreachable):
        with_retries(flaky, retries=1, should_retry=retry, sleep=slept.append)

    def refused() -> None:
        raise HostKeyChanged("vm: host key changed")

    slept.clear()
    with pytest.raises(WorkshopError):
        with_retries(refused, retries=3, should_retry=retry, sleep=slept.append)
    assert slept == []


def test_the_board_draws_live_on_a_terminal_and_plain_lines_otherwise(capsys):
    from mobylab.workshop.display import HostBoard

    with HostBoard(["vm1", "vm2"], "workshop.check", live=True) as board:
        board.update("vm1", "connect", "")
        board.update("vm1", "done", "OK")
        board.update("vm1", "late words", "")  # ignored after done
    assert board.rows["vm1"] == ["done", "OK"]
    with HostBoard(["vm1"], "workshop.check", live=False) as board:
        board.update("vm1", "connect", "retrying in 1s")
    assert "vm1: connect (retrying in 1s)" in capsys.readouterr().err

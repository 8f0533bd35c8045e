"""The workshop commands as library calls: hosts chosen from settings and flags, one body
run on each, the outcomes returned for the task to print.

open_workshop(session, "check", flags)  ->  HostTask (the workshop, its hosts)
check_hosts, provision_hosts, run_lab, collect_reports, lab_status, board_server,
teardown_hosts: one per task
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import ui
from ..catalog import check_name
from ..errors import UsageError, WorkshopError
from ..lab.engine_choice import parse_engine_choice
from ..session import Session
from . import artifacts as art
from .board import BoardServer
from .check import check_body
from .collect import ReportFetcher, WorkshopSummary, aggregate, summarize_host, write_reports
from .driver import Body, Workshop, WorkshopOptions
from .hosts import HostSpec, host_count, resolve_inventory, select
from .labrun import LabRunner, StatusReader
from .layout import remote_dir_problem
from .pool import HostOutcome
from .provision import Provisioner
from .remote import SshOptions
from .serve.record import running_rooms, seat_outcomes
from .teardown import Teardown, label_filters

# The order the summary line names the states in, best first.
SUMMARY_ORDER = ("OK", "WARN", "FAIL", "UNREACHABLE", "REFUSED", "TIMEOUT", "SKIP")


@dataclass(frozen=True)
class HostFlags:
    """The flags every workshop task takes: which hosts, and how to reach them."""

    hosts: str | None = None
    hosts_file: str | None = None
    parallel: int | None = None
    timeout: float | None = None
    known_hosts: str | None = None
    trust_new_hosts: bool = False
    ssh_config: str | None = None
    remote_dir: str | None = None
    retries: int | None = None
    only_failed: bool = False

    def settings_flags(self) -> dict[str, str | int | float | None]:
        """The flags that are settings too, by setting name (None: not given)."""
        return {
            "parallel": self.parallel,
            "host_timeout": self.timeout,
            "known_hosts": self.known_hosts,
            "ssh_config": self.ssh_config,
            "remote_dir": self.remote_dir,
            "ssh_retries": self.retries,
        }


def parse_env(items: Sequence[str] | None) -> dict[str, str]:
    """Pure: --env NAME=VALUE items as a mapping, or a UsageError naming the bad one."""
    env: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.replace("_", "").isalnum() or key[0].isdigit():
            raise UsageError(f"--env {key!r} is not NAME=VALUE", "Write --env NAME=VALUE.")
        env[key] = value
    return env


@dataclass(frozen=True)
class HostTask:
    """One workshop task over the hosts its flags chose (none: nothing to do)."""

    name: str
    workshop: Workshop
    specs: tuple[HostSpec, ...] = ()

    def run(self, body: Body) -> list[HostOutcome]:
        return self.workshop.run(self.name, self.specs, body) if self.specs else []


def open_workshop(
    session: Session,
    name: str,
    flags: HostFlags,
    env: dict[str, str] | None = None,
    *,
    hosts_needed: bool = True,
) -> HostTask:
    """The workshop of `session` (whose settings hold the flags) and the hosts to run on
    (none named and not `hosts_needed`: none, where served rooms stand in for them)."""
    settings = session.settings
    options = WorkshopOptions(
        ssh=SshOptions(
            known_hosts=Path(settings.known_hosts).expanduser(),
            trust_new_hosts=flags.trust_new_hosts,
            ssh_config=Path(settings.ssh_config).expanduser() if settings.ssh_config else None,
            retries=settings.ssh_retries,
        ),
        remote_dir=settings.remote_dir,
        parallel=settings.parallel,
        host_timeout=settings.host_timeout,
        env=env or {},
    )
    problem = remote_dir_problem(options.remote_dir)
    if problem:
        raise UsageError(
            f"--remote-dir {options.remote_dir!r} cannot be mobylab's folder: {problem}",
            "Name a folder of its own, such as ~/.mobylab-workshop.",
        )
    workshop = Workshop(session.workspace, options)
    if not (hosts_needed or flags.hosts or flags.hosts_file or settings.hosts):
        return HostTask(name, workshop)
    specs = resolve_inventory(flags.hosts, flags.hosts_file, settings.hosts)
    if flags.only_failed:
        failed = workshop.failed_last_time(name)
        if failed is None:
            raise UsageError(
                f"workshop.{name} has not run yet", "Run it once without --only-failed."
            )
        specs = select(specs, failed)
        if not specs:
            ui.info(f"no host failed the last workshop.{name}; nothing to do")
    return HostTask(name, workshop, tuple(specs))


def summary_line(outcomes: Sequence[HostOutcome]) -> str:
    """Pure: '8 hosts: 7 OK, 1 FAIL' ('1 host: 1 OK')."""
    counts = Counter(o.state for o in outcomes)
    parts = [f"{counts[s]} {s}" for s in SUMMARY_ORDER if counts[s]]
    return f"{host_count(len(outcomes))}: " + ", ".join(parts)


def failure_line(outcome: HostOutcome) -> str:
    """Pure: one line for a failed host, naming it."""
    text = outcome.message or f"stopped at {outcome.step}"
    if not text.startswith(outcome.host):
        text = f"{outcome.host}: {text}"
    return f"{outcome.state}: {text}"


def hosts_failed(name: str, outcomes: Sequence[HostOutcome], logs: Path) -> WorkshopError | None:
    """Pure: the error a task ends with when any host failed (naming the hosts' logs
    folder), else None."""
    failed = [o.host for o in outcomes if o.failed]
    if not failed:
        return None
    shown = ", ".join(failed[:5]) + (" ..." if len(failed) > 5 else "")
    return WorkshopError(
        f"workshop.{name}: {len(failed)} of {host_count(len(outcomes))} failed ({shown})",
        f"See the table and the logs in {logs}; retry with --only-failed.",
    )


# --- one function per command -------------------------------------------------------------


def check_hosts(session: Session, flags: HostFlags) -> list[HostOutcome]:
    """workshop.check: the doctor, run on every host."""
    return open_workshop(session, "check", flags).run(check_body)


@dataclass(frozen=True)
class ProvisionRequest:
    """What workshop.provision copies besides mobylab itself."""

    source: str | None = None
    images: bool = True
    lab: str | None = None
    refresh_images: bool = False
    bundles: bool = False
    dev: bool = False
    python: str = "python3"


def provision_hosts(
    session: Session, flags: HostFlags, request: ProvisionRequest
) -> list[HostOutcome]:
    """workshop.provision: the artifacts made once here, then installed on every host."""
    task = open_workshop(session, "provision", flags)
    if request.lab:
        check_name(request.lab)
    if not task.specs:
        return []
    artifacts = art.provision_artifacts(
        session,
        art.find_source(request.source),
        lab=request.lab,
        images=request.images,
        refresh_images=request.refresh_images,
        bundles=request.bundles,
        dev=request.dev,
    )
    return task.run(Provisioner(artifacts, python=request.python))


def run_lab(
    session: Session,
    flags: HostFlags,
    lab: str,
    env: Sequence[str] | None = None,
    *,
    detach: bool = False,
    engine: str = "host",
    force: bool = False,
) -> list[HostOutcome]:
    """workshop.run: `mobylab lab.run LAB --yes` on every host (`force`: also where an
    attendee practises or a detached lab runs)."""
    check_name(lab)
    choice = parse_engine_choice(engine)
    variables = parse_env(env)
    task = open_workshop(session, "run", flags, env=variables)
    return task.run(LabRunner(lab, variables, detach=detach, engine=choice, force=force))


@dataclass(frozen=True)
class CollectedReports:
    """workshop.collect's result: each host's outcome, the summary and the files written."""

    outcomes: list[HostOutcome]
    summary: WorkshopSummary
    paths: dict[str, Path]


def collect_reports(session: Session, flags: HostFlags) -> CollectedReports:
    """workshop.collect: every host's newest lab report, fetched and written as one."""
    task = open_workshop(session, "collect", flags)
    dest = task.workshop.root / "reports" / time.strftime("%Y%m%d-%H%M%S")
    outcomes = task.run(ReportFetcher(dest / "hosts", task.workshop.redactor))
    rows = [
        summarize_host(o.host, o.data.get("report"), "" if o.data.get("report") else o.message)
        for o in outcomes
    ]
    summary = aggregate(rows)
    return CollectedReports(outcomes, summary, write_reports(summary, dest, task.workshop.redactor))


def lab_status(session: Session, flags: HostFlags, stuck_after: float) -> list[HostOutcome]:
    """workshop.status: where each host's newest lab run is, then each seat of the rooms
    workshop.serve runs from this workspace (without hosts named: only those)."""
    rooms = running_rooms(session.workspace.root)
    task = open_workshop(session, "status", flags, hosts_needed=not rooms)
    seats = seat_outcomes(rooms, time.time(), stuck_after)
    return task.run(StatusReader(stuck_after)) + seats


def port_number(value: Any) -> int:
    """Pure: --port as a number, 0 to 65535 (0: a free one)."""
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = -1
    if not 0 <= port <= 65535:
        raise UsageError(f"--port is {value!r}", "Use a port number, 0 to 65535 (0: a free one).")
    return port


def board_server(
    session: Session, flags: HostFlags, *, port: Any, interval: Any, stuck_after: float
) -> BoardServer:
    """workshop.board: the live page's server over the chosen hosts, not started yet."""
    number = port_number(port)
    every = float(interval)
    if not every > 0:
        raise UsageError(f"--interval is {interval!r}", "Use a number of seconds more than 0.")
    rooms = running_rooms(session.workspace.root)
    task = open_workshop(session, "board", flags, hosts_needed=not rooms)
    if not task.specs and not rooms:
        raise UsageError(
            "workshop.board has no hosts to show",
            "Give --hosts or --hosts-file, or serve a lab with workshop.serve first.",
        )
    return BoardServer(
        task.workshop, task.specs, port=number, interval=every, stuck_after=stuck_after
    )


def teardown_hosts(
    session: Session, flags: HostFlags, *, remove: bool, labels: Sequence[str] = ()
) -> list[HostOutcome]:
    """workshop.teardown: list, or remove, what mobylab made on every host (by label)."""
    label_filters(labels)
    task = open_workshop(session, "teardown", flags)
    return task.run(Teardown(remove=remove, labels=list(labels)))

"""workshop.check, workshop.provision, workshop.run, workshop.collect, workshop.status,
workshop.board, workshop.teardown: the same mobylab on every attendee machine over SSH."""

from __future__ import annotations

import functools
import inspect
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any

from invoke import Collection, task

from .. import ui
from ..session import Session
from ..workshop import commands, tables
from ..workshop.commands import HostFlags
from ..workshop.driver import logs_folder
from ..workshop.hosts import host_count
from ..workshop.layout import DEFAULT_REMOTE_DIR
from ..workshop.pool import HostOutcome
from .base import friendly_errors
from .serve import serve

COMMON_HELP = {
    "hosts": "comma-separated hosts: [user@]host[:port], IPv6 in brackets",
    "hosts-file": "a file with one host per line (# comments)",
    "parallel": "how many hosts at once (default: the `parallel` setting, 8)",
    "timeout": "seconds each host may take (default: the `host_timeout` setting)",
    "known-hosts": "the known_hosts file to verify host keys against",
    "trust-new-hosts": "accept and record unknown host keys (never changed ones)",
    "ssh-config": "the ssh config file to read instead of ~/.ssh/config",
    "remote-dir": f"mobylab's folder on the hosts (default {DEFAULT_REMOTE_DIR})",
    "retries": "connection attempts after the first, with backoff (default 2)",
    "only-failed": "only the hosts that failed the last run of this task",
    "json": "print JSON instead of a table",
}


def _help(**extra: str) -> dict[str, str]:
    return COMMON_HELP | extra


def with_host_flags(body: Callable[..., Any]) -> Callable[..., Any]:
    """Give a task the host flags: `body(c, flags, ...)` is seen by invoke as
    `(c, <the body's own flags>, <the host flags>)`, so the flags are declared once."""
    params = list(inspect.signature(body).parameters.values())
    host_params = [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default)
        for f in fields(HostFlags)
    ]

    @functools.wraps(body)
    def wrapper(c: Any, *args: Any, **kwargs: Any) -> Any:
        flags = HostFlags(**{f.name: kwargs.pop(f.name, f.default) for f in fields(HostFlags)})
        return body(c, flags, *args, **kwargs)

    wrapper.__signature__ = inspect.Signature([params[0], *params[2:], *host_params])  # type: ignore[attr-defined]
    return wrapper


def _session(c: Any, flags: HostFlags) -> Session:
    return Session.from_context(c, **flags.settings_flags())


def _finish(
    session: Session,
    task_name: str,
    outcomes: Sequence[HostOutcome],
    as_json: bool,
    summary: str | None = None,
) -> None:
    """One summary line (the task's own, else the states counted), one line per failed
    host, and a non-zero exit when any failed."""
    if as_json:
        print(json.dumps([o.as_dict() for o in outcomes], indent=2))
    ui.info(summary or commands.summary_line(outcomes))
    for outcome in outcomes:
        if outcome.failed:
            ui.err.print(commands.failure_line(outcome), markup=False, highlight=False)
    error = commands.hosts_failed(task_name, outcomes, logs_folder(session.workspace))
    if error is not None:
        raise error


def _outcome_table(outcomes: Sequence[HostOutcome], title: str) -> None:
    rows = [(o.host, ui.status_text(o.state), f"{o.seconds:.0f}s", o.message) for o in outcomes]
    ui.out.print(ui.table(["host", "state", "time", "details"], rows, title=title))


@task(auto_shortflags=False, help=_help())
@friendly_errors
@with_host_flags
def check(c, flags: HostFlags, json_=False):
    """Check every attendee machine (the doctor, run remotely) and show a table."""
    session = _session(c, flags)
    outcomes = commands.check_hosts(session, flags)
    if not json_:
        ui.out.print(tables.check_table(outcomes, ui.out.width))
        for line in tables.check_notes(outcomes, ui.out.width):
            ui.out.print(line, markup=False, highlight=False)
    _finish(session, "check", outcomes, json_)


@task(
    auto_shortflags=False,
    help=_help(
        source="the mobylab source tree to build the wheel from (default: this clone)",
        images="copy and load the labs' images (default yes; --no-images to skip)",
        lab="only the images of this lab",
        refresh_images="make the images archive again",
        bundles="also copy the bundles of the workspace's last dev build",
        dev="give every host the last dev build (bundles and its dev image) for dev.up",
        python="the remote Python (default python3)",
    ),
)
@friendly_errors
@with_host_flags
def provision(
    c, flags: HostFlags, json_=False, source=None, images=True, lab=None,
    refresh_images=False, bundles=False, dev=False, python="python3",
):  # fmt: skip
    """Install or update mobylab, the labs and their images on every attendee machine."""
    request = commands.ProvisionRequest(
        source=source, images=bool(images), lab=lab, refresh_images=bool(refresh_images),
        bundles=bool(bundles), dev=bool(dev), python=python,
    )  # fmt: skip
    session = _session(c, flags)
    outcomes = commands.provision_hosts(session, flags, request)
    if not outcomes:
        return
    if not json_:
        _outcome_table(outcomes, "Provisioning")
    _finish(session, "provision", outcomes, json_)


@task(
    auto_shortflags=False,
    iterable=["env"],
    help=_help(
        lab="the lab to run",
        env="NAME=VALUE for the remote lab (repeatable)",
        detach="start the lab on every host and return; follow with workshop.status",
        engine="host (default), dev (each host's dev daemon, after provision --dev) or both",
        force="run even where an attendee practises (the practice keeps its progress) or a "
        "detached lab still runs (it is stopped)",
    ),
)
@friendly_errors
@with_host_flags
def run(c, flags: HostFlags, lab, json_=False, env=None, detach=False, engine="host", force=False):
    """Run a lab on every attendee machine (`mobylab lab.run LAB --yes` there)."""
    session = _session(c, flags)
    outcomes = commands.run_lab(
        session, flags, lab, env, detach=bool(detach), engine=engine, force=bool(force)
    )
    if not json_:
        _outcome_table(outcomes, f"Lab {lab}")
    _finish(session, "run", outcomes, json_)


@task(auto_shortflags=False, help=_help())
@friendly_errors
@with_host_flags
def collect(c, flags: HostFlags, json_=False):
    """Fetch each host's newest lab report and write one report (JSON, Markdown, HTML)."""
    session = _session(c, flags)
    collected = commands.collect_reports(session, flags)
    summary, paths = collected.summary, collected.paths
    if json_:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        ui.out.print(tables.collect_table(summary))
    ui.info(f"report: {paths['html']} (also {paths['md'].name}, {paths['json'].name})")
    _finish(session, "collect", collected.outcomes, False, tables.collect_line(summary))


@task(
    auto_shortflags=False,
    help=_help(stuck_after="seconds without progress before a host counts as stuck"),
)
@friendly_errors
@with_host_flags
def status(c, flags: HostFlags, json_=False, stuck_after=300.0):
    """Show who is done, who is stuck and where, from each host's newest lab run."""
    session = _session(c, flags)
    outcomes = commands.lab_status(session, flags, float(stuck_after))
    if not json_:
        ui.out.print(tables.status_table(outcomes))
    _finish(session, "status", outcomes, json_, tables.status_line(outcomes))


BOARD_HELP = _help(
    port="the port on 127.0.0.1 (default 8090; 0 takes a free one)",
    interval="seconds between two reads of every host (default 3)",
    stuck_after="seconds on one step (practice) or without progress before a host is stuck",
)
BOARD_HELP.pop("json")  # a page, not a table: no --json


@task(auto_shortflags=False, help=BOARD_HELP)
@friendly_errors
@with_host_flags
def board(c, flags: HostFlags, port=8090, interval=3.0, stuck_after=300.0):
    """Serve a live page of every host's lab, step by step, on 127.0.0.1 (Ctrl-C stops it)."""
    server = commands.board_server(
        _session(c, flags), flags, port=port, interval=interval, stuck_after=float(stuck_after)
    )
    url = server.start()
    ui.info(
        f"board: {url} ({host_count(len(server.specs))}, read every {server.interval:g}s; "
        "Ctrl-C stops it)"
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        ui.info("board stopped")
    finally:
        server.stop()


@task(
    auto_shortflags=False,
    iterable=["label"],
    help=_help(
        yes="really remove (without it, only list what would go)",
        label="take the mobylab objects with this org.mobylab.* label, KEY=VALUE, instead of "
        "only what the workshop's runs made (repeatable)",
    ),
)
@friendly_errors
@with_host_flags
def teardown(c, flags: HostFlags, json_=False, yes=False, label=None):
    """List by name, then with --yes remove, what the workshop put on the hosts."""
    session = _session(c, flags)
    outcomes = commands.teardown_hosts(session, flags, remove=bool(yes), labels=label or [])
    if not json_:
        _outcome_table(outcomes, "Teardown" if yes else "Teardown (listing only)")
    if not yes:
        ui.info("nothing was removed; run again with --yes to remove it")
    _finish(session, "teardown", outcomes, json_)


ns = Collection("workshop", check, provision, run, collect, status, board, serve, teardown)

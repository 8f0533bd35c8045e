"""dev.up, dev.status, dev.restart, dev.down, dev.clean: the build's dockerd inside docker-dev."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from invoke import task

from ... import ui
from ...errors import UsageError
from ...jsondata import JsonObject
from ...session import Session
from ..base import friendly_errors

if TYPE_CHECKING:
    from ...dev.clean import DevResources


def timeout_seconds(value: Any, default: float) -> float:
    """A --timeout flag in seconds (`default` when not given), or a one-line usage error."""
    if value in (None, ""):
        return default
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"--timeout {value!r} is not a number of seconds") from None
    if seconds <= 0:
        raise UsageError("--timeout must be more than 0 seconds")
    return seconds


NAME_HELP = "which dev daemon: its name (default: the first one, unnamed)"


def dev_name(value: Any) -> str:
    """A dev daemon's name from a flag ('' for the first one), or a one-line usage error."""
    from ...dev.container import name_problem

    name = "" if value in (None, "") else str(value)
    problem = name_problem(name) if name else ""
    if problem:
        raise UsageError(f"--name {name!r}: {problem}")
    return name


def _version_line(name: str, version: JsonObject) -> str:
    return (
        f"{name}: {version.get('Version', '?')} (API {version.get('ApiVersion', '?')}, "
        f"commit {version.get('GitCommit') or '?'})"
    )


@task(
    help={
        "privileged": "always, auto (default: fall back when refused) or never",
        "tcp": "also listen on TCP, published on the host's 127.0.0.1 only",
        "timeout": "seconds to wait for the dev daemon (default: the engine_timeout setting)",
        "build": "run this build (a commit prefix) beside the others; default: the last one",
        "name": "the dev daemon's name (with --build, default: the commit's first 12 digits)",
    }
)
@friendly_errors
def up(c, privileged=None, tcp=False, timeout=None, build=None, name=None):
    """Start a build's dockerd inside its docker-dev container (several can run at once)."""
    from ...dev.environment import start_dev_daemon

    session = Session.from_context(c, privileged=privileged)
    started = start_dev_daemon(
        session,
        build=build,
        name=dev_name(name) if name is not None else None,
        tcp=bool(tcp),
        timeout=timeout_seconds(timeout, session.settings.engine_timeout),
    )
    ui.info(f"dev daemon ready: DOCKER_HOST={started.url}")
    ui.out.print(_version_line("dev daemon ", started.daemon_version))
    ui.out.print(_version_line("host engine", started.host_version))
    if started.tcp_url:
        ui.info(f"also on {started.tcp_url} (host loopback only)")


@task(
    help={
        "json": "print JSON instead of a table (one dev daemon's; with --all, a list)",
        "name": NAME_HELP,
        "all": "every dev daemon of the workspace (the table always shows them all)",
    }
)
@friendly_errors
def status(c, json_=False, name=None, all_=False):
    """Whether each dev container and its daemon run, which build, and what it holds."""
    from ...dev.container import status_rows
    from ...dev.environment import dev_statuses

    if name is not None:
        names: list[str] | None = [dev_name(name)]
    elif json_ and not all_:
        names = [""]
    else:
        names = None
    statuses = dev_statuses(Session.from_context(c), names)
    if json_:
        records = [status.to_dict() for status in statuses]
        print(json.dumps(records if all_ else records[0], indent=2, sort_keys=True))
        return
    for status in statuses:
        ui.out.print(ui.table(["", ""], status_rows(status), title="Dev environment"))
        _say_state(status.state)


def _say_state(state: str) -> None:
    if state == "no container":
        ui.info("the dev environment is not up: start it with `invoke dev.up`")
    elif state == "container gone":
        ui.warn("the dev container is gone: start it again with `invoke dev.up`")
    elif state in ("daemon dead", "daemon not answering"):
        ui.warn(f"{state}: recover with `invoke dev.restart` (or `invoke dev.up`)")
    elif state != "running":
        ui.warn(f"{state}: start it again with `invoke dev.up`")


@task(help={"timeout": "seconds to wait for the dev daemon", "name": NAME_HELP})
@friendly_errors
def restart(c, timeout=None, name=None):
    """Restart the dev daemon; its images stay."""
    from ...dev.environment import restart_dev_daemon

    session = Session.from_context(c)
    seconds = timeout_seconds(timeout, session.settings.engine_timeout)
    version = restart_dev_daemon(session, dev_name(name), seconds)
    ui.info("dev daemon restarted")
    ui.out.print(_version_line("dev daemon ", version))


@task(help={"name": NAME_HELP, "all": "every dev daemon of the workspace"})
@friendly_errors
def down(c, name=None, all_=False):
    """Stop and remove a dev container; its volume (the daemon's images) stays."""
    from ...dev.environment import stop_dev_environments

    stopped = stop_dev_environments(Session.from_context(c), None if all_ else [dev_name(name)])
    for names in stopped:
        ui.info(
            f"dev container {names.container} removed; the volume of its images stays ({names.key})"
        )
    if not stopped:
        ui.info("no dev container was running; nothing stopped")


def _confirm_removal(found: DevResources, yes: bool) -> bool:
    """Show what dev.clean would remove and whether the user agrees (--yes: always)."""
    ui.out.print(ui.table(["kind", "name"], found.rows(), title="mobylab dev environment"))
    if yes:
        return True
    if not ui.interactive():
        raise UsageError(
            "dev.clean asks before removing and there is no terminal to ask on",
            "Run it again with --yes.",
        )
    return input("Remove all of the above? [y/N] ").strip().lower() in ("y", "yes")


@task(
    name="clean",
    help={
        "yes": "do not ask for confirmation",
        "all": "every workspace's dev environment, not only this one's",
        "images": "also remove the docker-dev images mobylab built",
    },
)
@friendly_errors
def clean(c, yes=False, all_=False, images=False):
    """Remove what mobylab made for the dev environment (containers, volumes, state)."""
    from ...dev.clean import clean_dev_environment

    outcome = clean_dev_environment(
        Session.from_context(c),
        all_workspaces=bool(all_),
        images=bool(images),
        confirm=lambda found: _confirm_removal(found, bool(yes)),
    )
    if not outcome.found:
        ui.info("nothing to clean: mobylab made no dev environment here")
    elif not outcome.removed:
        ui.info("nothing removed")
    else:
        for line in outcome.kept:
            ui.warn(f"kept {line}")
        total = len(outcome.found.rows())
        ui.info(f"removed {total - len(outcome.kept)} of {total}")


TASKS: tuple[Any, ...] = (up, status, restart, down, clean)

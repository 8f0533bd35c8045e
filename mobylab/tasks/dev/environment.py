"""dev.up, dev.shell, dev.exec, dev.seed, dev.logs, dev.status, dev.restart, dev.down, dev.clean.

The tasks of the dev environment: the build's dockerd inside docker-dev.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from typing import Any

from invoke import task
from invoke.exceptions import Exit

from ... import process, ui
from ...errors import DevEnvError, UsageError
from ...session import Session
from ..base import friendly_errors


def command_after_dashes(argv: Sequence[str]) -> list[str]:
    """Pure: the words after the first `--` of a command line, exactly as given.

    invoke keeps them out of task arguments and only offers them joined by spaces,
    which loses quoting; the program's own argv keeps each word whole.
    """
    argv = list(argv)
    if "--" not in argv:
        return []
    return argv[argv.index("--") + 1 :]


def _timeout(value: Any, session: Session) -> float:
    if value in (None, ""):
        return session.settings.engine_timeout
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"--timeout {value!r} is not a number of seconds") from None
    if seconds <= 0:
        raise UsageError("--timeout must be more than 0 seconds")
    return seconds


NAME_HELP = "which dev daemon: its name (default: the first one, unnamed)"


def _name(value: Any) -> str:
    """A dev daemon's name from a flag ('' for the first one), or a one-line usage error."""
    from ...dev.container import name_problem

    name = "" if value in (None, "") else str(value)
    problem = name_problem(name) if name else ""
    if problem:
        raise UsageError(f"--name {name!r}: {problem}")
    return name


def _version_line(name: str, version: dict[str, Any]) -> str:
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
    from ...dev.environment import dev_environment, target_for_build

    session = Session.from_context(c, privileged=privileged)
    seconds = _timeout(timeout, session)
    target = target_for_build(session.workspace, build)
    chosen = _name(name) if name is not None else (target.plan.commit[:12] if build else "")
    env = dev_environment(session, name=chosen)
    try:
        env.refuse_another_build(target.plan)
        ui.step(
            f"starting the dev daemon {env.names.label} of {target.plan.commit[:12]} "
            f"({target.plan.era})"
        )
        engine = env.up(
            target, privileged=session.settings.privileged, tcp=bool(tcp), timeout=seconds
        )
        ui.info(f"dev daemon ready: DOCKER_HOST={engine.url}")
        ui.out.print(_version_line("dev daemon ", engine.version()))
        ui.out.print(_version_line("host engine", env.container.client.version()))
        tcp_url = env.console.status().get("tcp") if tcp else None
        if tcp_url:
            ui.info(f"also on {tcp_url} (host loopback only)")
    finally:
        env.close()


@task(help={"name": NAME_HELP})
@friendly_errors
def shell(c, name=None):
    """An interactive shell inside the dev container, with the era's PATH."""
    from ...dev.environment import dev_environment

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise DevEnvError(
            "dev.shell needs a terminal", "Use `invoke dev.exec -- COMMAND` to run one command."
        )
    session = Session.from_context(c)
    env = dev_environment(session, start=False, name=_name(name))
    try:
        argv = env.console.shell_argv(process.require("docker"))
    finally:
        env.close()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(argv[0], argv, {**os.environ, **env.host.cli_env()})


@task(
    name="exec",
    help={
        "command": "the command as one string (or give it after --, word by word)",
        "name": NAME_HELP,
    },
)
@friendly_errors
def exec_(c, command=None, name=None):
    """Run one command inside the dev container: `invoke dev.exec -- docker version`."""
    from ...dev.environment import dev_environment

    argv = command_after_dashes(sys.argv) or shlex.split(command or "")
    if not argv:
        raise UsageError(
            "dev.exec needs a command", "Give it after --: `invoke dev.exec -- docker ps`."
        )
    session = Session.from_context(c)
    env = dev_environment(session, start=False, name=_name(name))
    try:
        code = env.console.exec(argv)
    finally:
        env.close()
    if code != 0:
        raise Exit(code=code)


@task(
    iterable=["image"],
    help={
        "image": "an image to copy (repeat the flag, or give the images after --)",
        "build": "the dev daemon that runs this build (a commit prefix)",
    },
)
@friendly_errors
def seed(c, image=None, build=None):
    """Copy images from the host engine into the dev daemon: `invoke dev.seed -- IMAGE...`."""
    from ...dev.environment import ensure_dev_engine
    from ...dev.seed import seed_images

    refs = [r for r in (image or []) if r] + command_after_dashes(sys.argv)
    if not refs:
        raise UsageError(
            "dev.seed needs at least one image",
            "e.g. `invoke dev.seed -- mobylab/runtime:busybox`.",
        )
    session = Session.from_context(c)
    dev = ensure_dev_engine(session, start=False, build=build)
    for record in seed_images(session.engine(start=False), dev, refs):
        if record["status"] == "present":
            ui.info(f"{record['image']}: already in the dev daemon")
        else:
            ui.info(
                f"{record['image']}: copied {ui.human_bytes(record['bytes'])} "
                f"in {record['seconds']:.1f}s"
            )


@task(
    help={
        "follow": "keep printing new lines until Ctrl-C",
        "lines": "how many lines (0: all)",
        "name": NAME_HELP,
    }
)
@friendly_errors
def logs(c, follow=False, lines=100, name=None):
    """The dev daemon's log."""
    from ...dev.container import DevNames

    session = Session.from_context(c)
    log = DevNames.for_workspace(session.workspace.root, _name(name)).log
    if not log.exists():
        raise DevEnvError("the dev daemon has no log yet", "Start it with `invoke dev.up`.")
    text = log.read_text(errors="replace").splitlines()
    for line in text[-int(lines) :] if int(lines) > 0 else text:
        print(line)
    if not follow:
        return
    sys.stdout.flush()
    position = log.stat().st_size
    try:
        while True:
            with log.open("r", errors="replace") as handle:
                if log.stat().st_size < position:
                    position = 0
                handle.seek(position)
                chunk = handle.read()
                position = handle.tell()
            if chunk:
                sys.stdout.write(chunk)
                sys.stdout.flush()
            time.sleep(0.5)
    except KeyboardInterrupt:
        return


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
    from ...dev.environment import dev_environment, environment_names

    session = Session.from_context(c)
    if name is not None:
        names = [_name(name)]
    elif json_ and not all_:
        names = [""]
    else:
        names = environment_names(session.workspace) or [""]
    records = []
    for each in names:
        env = dev_environment(session, start=False, name=each)
        try:
            records.append(env.console.status())
        finally:
            env.close()
    if json_:
        chosen: Any = records if all_ else records[0]
        print(json.dumps(chosen, indent=2, sort_keys=True))
        return
    for record in records:
        ui.out.print(ui.table(["", ""], status_rows(record), title="Dev environment"))
        _say_state(record)


def _say_state(record: dict[str, Any]) -> None:
    state = record.get("state")
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
    from ...dev.environment import dev_environment

    session = Session.from_context(c)
    env = dev_environment(session, start=False, name=_name(name))
    try:
        engine = env.restart(_timeout(timeout, session))
        ui.info("dev daemon restarted")
        ui.out.print(_version_line("dev daemon ", engine.version()))
    finally:
        env.close()


@task(help={"name": NAME_HELP, "all": "every dev daemon of the workspace"})
@friendly_errors
def down(c, name=None, all_=False):
    """Stop and remove a dev container; its volume (the daemon's images) stays."""
    from ...dev.environment import dev_environment, environment_names

    session = Session.from_context(c)
    names = environment_names(session.workspace) if all_ else [_name(name)]
    stopped = 0
    for each in names or [""]:
        env = dev_environment(session, start=False, name=each)
        try:
            if env.down():
                stopped += 1
                ui.info(
                    f"dev container {env.names.container} removed; the volume of its images "
                    f"stays ({env.names.key})"
                )
        finally:
            env.close()
    if not stopped:
        ui.info("no dev container was running; nothing stopped")


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
    from ...dev.clean import find_dev_resources, remove_dev_resources
    from ...dev.container import DevNames

    session = Session.from_context(c)
    host = session.engine(start=False)
    client = host.client()
    try:
        key = None if all_ else DevNames.for_workspace(session.workspace.root).key
        found = find_dev_resources(
            client, session.workspace, all_workspaces=bool(all_), images=bool(images)
        )
        if not found:
            ui.info("nothing to clean: mobylab made no dev environment here")
            return
        ui.out.print(ui.table(["kind", "name"], found.rows(), title="mobylab dev environment"))
        if not yes:
            if not ui.interactive():
                raise UsageError(
                    "dev.clean asks before removing and there is no terminal to ask on",
                    "Run it again with --yes.",
                )
            answer = input("Remove all of the above? [y/N] ").strip().lower()
            if answer not in ("y", "yes"):
                ui.info("nothing removed")
                return
        kept = remove_dev_resources(found, key)
        for line in kept:
            ui.warn(f"kept {line}")
        ui.info(f"removed {len(found.rows()) - len(kept)} of {len(found.rows())}")
    finally:
        client.close()


TASKS: tuple[Any, ...] = (up, shell, exec_, seed, logs, status, restart, down, clean)

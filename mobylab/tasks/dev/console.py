"""dev.shell, dev.exec, dev.seed, dev.logs: working inside a running dev environment."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Sequence
from typing import Any

from invoke import task
from invoke.exceptions import Exit

from ... import ui
from ...errors import DevEnvError, UsageError
from ...session import Session
from ..base import friendly_errors
from .environment import NAME_HELP, dev_name


def command_after_dashes(argv: Sequence[str]) -> list[str]:
    """Pure: the words after the first `--` of a command line, exactly as given.

    invoke keeps them out of task arguments and only offers them joined by spaces,
    which loses quoting; the program's own argv keeps each word whole.
    """
    argv = list(argv)
    if "--" not in argv:
        return []
    return argv[argv.index("--") + 1 :]


@task(help={"name": NAME_HELP})
@friendly_errors
def shell(c, name=None):
    """An interactive shell inside the dev container, with the era's PATH."""
    from ...dev.environment import dev_shell

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise DevEnvError(
            "dev.shell needs a terminal", "Use `invoke dev.exec -- COMMAND` to run one command."
        )
    command = dev_shell(Session.from_context(c), dev_name(name))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(command.argv[0], command.argv, command.env)


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
    from ...dev.environment import exec_in_dev

    argv = command_after_dashes(sys.argv) or shlex.split(command or "")
    if not argv:
        raise UsageError(
            "dev.exec needs a command", "Give it after --: `invoke dev.exec -- docker ps`."
        )
    code = exec_in_dev(Session.from_context(c), argv, dev_name(name))
    if code != 0:
        raise Exit(code=code)


@task(
    iterable=["image"],
    help={
        "image": "an image to copy (repeat the flag, or give the images after --)",
        "name": NAME_HELP,
        "build": "or the dev daemon that runs this build (a commit prefix)",
    },
)
@friendly_errors
def seed(c, image=None, name=None, build=None):
    """Copy images from the host engine into the dev daemon: `invoke dev.seed -- IMAGE...`."""
    from ...dev.seed import SeedStatus, seed_dev_daemon

    refs = [r for r in (image or []) if r] + command_after_dashes(sys.argv)
    if not refs:
        raise UsageError(
            "dev.seed needs at least one image",
            "e.g. `invoke dev.seed -- mobylab/runtime:busybox`.",
        )
    if name is not None and build is not None:
        raise UsageError(
            "dev.seed takes --name or --build, not both",
            "Name the dev daemon one way: its name, or the build it runs.",
        )
    session = Session.from_context(c)
    for result in seed_dev_daemon(session, refs, build=build, name=dev_name(name)):
        if result.status == SeedStatus.PRESENT:
            ui.info(f"{result.image}: already in the dev daemon")
        else:
            ui.info(
                f"{result.image}: copied {ui.human_bytes(result.bytes)} in {result.seconds:.1f}s"
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
    from ...dev.console import print_log
    from ...dev.container import DevNames

    session = Session.from_context(c)
    log = DevNames.for_workspace(session.workspace.root, dev_name(name)).log
    print_log(log, int(lines), follow=bool(follow))


TASKS: tuple[Any, ...] = (shell, exec_, seed, logs)

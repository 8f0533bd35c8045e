"""Every git command mobylab runs starts here: one environment, one result, one error.

git never prompts (no terminal, no yes/no question), speaks the C locale, and has a
time limit. Two kinds of repository differ in one thing: in the user's (a checkout
dev.clone made, the source of a lab), the user's git configuration applies, so their
credentials, proxies and URL rewrites reach the remote; in mobylab's own (the build
copy, a companion's source) it has no say (signing, hooks, aliases, external diff
drivers), and commits carry mobylab's name. A fetch from a remote into one of
mobylab's own repositories keeps the user's configuration: it is what reaches the
network.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import process
from .errors import SourceError

ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASK_YESNO": "false", "LC_ALL": "C"}
OWN_ENV = {
    **ENV,
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "mobylab",
    "GIT_AUTHOR_EMAIL": "mobylab@localhost",
    "GIT_COMMITTER_NAME": "mobylab",
    "GIT_COMMITTER_EMAIL": "mobylab@localhost",
}
_CREDENTIALS = re.compile(r"://[^/@\s']+@")


@dataclass(frozen=True)
class Result:
    """What one git command did. `stdout` stays bytes: a diff may hold any encoding."""

    args: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")

    @property
    def command(self) -> str:
        """How messages name it: `git fetch`."""
        return f"git {self.args[0]}" if self.args else "git"

    @property
    def reason(self) -> str:
        """git's last word (stderr, else stdout) as one line fit for a message."""
        return last_line(self.stderr or self.out)


def last_line(text: str) -> str:
    """Pure: the last non-empty line of git's output, without its `fatal: ` or `error: `
    and without the password or token of a URL git repeats, at most 200 characters."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    message = _CREDENTIALS.sub("://***@", lines[-1]) if lines else "no output"
    return message.removeprefix("fatal: ").removeprefix("error: ")[:200]


class GitError(SourceError):
    """A git command that failed: `<doing> failed: git <command>: <git's reason>`, or
    `git <command> failed: <git's reason>` when the caller says nothing of its own."""

    def __init__(self, result: Result, doing: str = "", hint: str = "") -> None:
        failed = f"{doing} failed: {result.command}" if doing else f"{result.command} failed"
        super().__init__(f"{failed}: {result.reason}", hint)
        self.result = result


def run(
    args: Sequence[str],
    cwd: Path | None = None,
    *,
    own: bool = False,
    timeout: float = 120.0,
    stdin: bytes | None = None,
) -> Result:
    """`git ARGS` in `cwd`; never raises for a non-zero exit (see `checked`).

    `own`: the repository is mobylab's own, and the user's configuration has no say.
    """
    done = process.capture_bytes(
        ["git", *args],
        cwd=cwd,
        env=OWN_ENV if own else ENV,
        timeout=timeout,
        stdin=stdin,
        timeout_hint="Check your network and that the repository's server answers.",
    )
    return Result(
        tuple(args), done.returncode, done.stdout, done.stderr.decode("utf-8", errors="replace")
    )


def checked(
    args: Sequence[str],
    cwd: Path | None = None,
    *,
    doing: str = "",
    hint: str = "",
    own: bool = False,
    timeout: float = 120.0,
    stdin: bytes | None = None,
) -> Result:
    """`git ARGS` in `cwd`, or a GitError saying what failed (`doing`) and what to do."""
    result = run(args, cwd, own=own, timeout=timeout, stdin=stdin)
    if not result.ok:
        raise GitError(result, doing, hint)
    return result

"""One exception tree: every failure a user sees is a MobylabError.

MobylabError            exit 1, one line: what went wrong and what to do
├── UsageError          exit 2, a bad argument or setting (nothing was run)
├── EngineError         no engine, an engine that does not answer or start
├── WorkspaceError      the workspace cannot be written (full disk, permissions)
├── SourceError         git: unknown ref, not a repository, local work in the way
│   └── GitError        a git command that failed (mobylab.git): which, and git's reason
├── BuildError          a dev build that failed (carries the log path and tail)
├── DevEnvError         the docker-dev container or its daemon
├── ImageError          bootstrap, save and load of images
├── LabError            lab files, steps and checks
└── WorkshopError       hosts, SSH, host keys
Interrupted             exit 130 for Ctrl-C; 143 and 129 when SIGTERM or SIGHUP stopped the
                        task the same way (mobylab.process.stopped_like_ctrl_c)
"""

from __future__ import annotations


class MobylabError(Exception):
    """A failure with a one-line message, an optional fix hint and an exit code."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "", *, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # Extra lines (a log tail) shown after the one-line message.
        self.detail = detail

    def one_line(self) -> str:
        text = self.message.rstrip(".")
        return f"{text}. {self.hint}" if self.hint else f"{text}."


class UsageError(MobylabError):
    exit_code = 2


class EngineError(MobylabError):
    pass


class WorkspaceError(MobylabError):
    pass


class SourceError(MobylabError):
    pass


class BuildError(MobylabError):
    pass


class DevEnvError(MobylabError):
    pass


class ImageError(MobylabError):
    pass


class LabError(MobylabError):
    pass


class WorkshopError(MobylabError):
    pass


class Interrupted(MobylabError):
    exit_code = 130

    def __init__(self, message: str = "interrupted", hint: str = "") -> None:
        super().__init__(message, hint)

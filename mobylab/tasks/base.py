"""What every task shares: settings, the workspace, the engine, and error handling."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from invoke.exceptions import Exit

from .. import ui
from ..config import Settings, settings_from_context
from ..engine import Engine, find_engine
from ..errors import Interrupted, MobylabError
from ..workspace import Workspace

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(body: F) -> F:
    """Turn MobylabError and Ctrl-C into one line on stderr and an exit code."""

    @functools.wraps(body)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return body(*args, **kwargs)
        except KeyboardInterrupt:
            error: MobylabError = Interrupted()
        except MobylabError as exc:
            error = exc
        if error.detail:
            ui.err.print(error.detail, markup=False, highlight=False)
        raise Exit(f"error: {error.one_line()}", code=error.exit_code)

    return wrapper  # type: ignore[return-value]


def no_writable_by_others() -> None:
    """Whatever the user's umask, what mobylab creates is never writable by group or others."""
    current = os.umask(0o022)
    os.umask(current | 0o022)


@dataclass
class Session:
    """The settings and workspace of one task invocation."""

    settings: Settings

    @classmethod
    def from_context(cls, ctx: Any, **flags: Any) -> Session:
        no_writable_by_others()
        return cls(settings_from_context(ctx, **flags))

    @functools.cached_property
    def workspace(self) -> Workspace:
        return Workspace(self.settings.workspace_path)

    def engine(self, *, start: bool = True) -> Engine:
        return find_engine(self.settings, self.workspace, start=start)

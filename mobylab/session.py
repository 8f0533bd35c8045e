"""The settings and workspace of one invocation, shared by the library and the tasks."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

from .config import Settings, settings_from_context
from .engine import Engine, find_engine
from .workspace import Workspace


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

"""What every task shares: errors, Ctrl-C, SIGTERM and SIGHUP as one line and an exit code."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from invoke.exceptions import Exit

from .. import process, ui
from ..errors import Interrupted, MobylabError

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(body: F) -> F:
    """Turn MobylabError and Ctrl-C into one line on stderr and an exit code.

    SIGTERM and SIGHUP stop the task as Ctrl-C does; the exit code says which came
    (130, 143, 129).
    """

    @functools.wraps(body)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with process.stopped_like_ctrl_c() as stop:
            try:
                return body(*args, **kwargs)
            except KeyboardInterrupt:
                error: MobylabError = Interrupted()
            except MobylabError as exc:
                error = exc
        if error.detail:
            ui.err.print(error.detail, markup=False, highlight=False)
        code = stop.exit_code if isinstance(error, Interrupted) else error.exit_code
        raise Exit(f"error: {error.one_line()}", code=code)

    return wrapper  # type: ignore[return-value]

"""What every task shares: turning errors and Ctrl-C into one line and an exit code."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from invoke.exceptions import Exit

from .. import ui
from ..errors import Interrupted, MobylabError

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

"""Terminal output: one console for results, one for messages, tables and live views."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console, RenderableType
from rich.panel import Panel
from rich.table import Table

# Results go to stdout (so `--json` can be piped); messages and errors to stderr.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

STATUS_STYLE = {
    "OK": "green",
    "WARN": "yellow",
    "FAIL": "red",
    "PASS": "green",
    "SKIP": "dim",
    "ABSENT": "yellow",
}


def interactive() -> bool:
    """True when a person is at a terminal (not CI, not a pipe)."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        return False
    return sys.stdin.isatty() and sys.stdout.isatty()


def output_line(text: str, style: str = "dim") -> None:
    """One line of a command's output on stdout, exactly as it came.

    Styled on a terminal; written as it is otherwise (a pipe, CI, a workshop host),
    where rich's per-line rendering was a tenth of a warm lab run's own time.
    """
    if out.is_terminal:
        out.print(text, style=style, markup=False, highlight=False)
    else:
        out.file.write(text + "\n")
        out.file.flush()


def info(message: str) -> None:
    # Messages carry the engine's own words, whose brackets are not markup.
    err.print(message, markup=False)


def step(message: str) -> None:
    err.print(f"[bold cyan]==>[/] {message}")


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {message}")


def status_text(status: str) -> str:
    style = STATUS_STYLE.get(status, "")
    return f"[{style}]{status}[/]" if style else status


def block(renderable: RenderableType) -> None:
    """Print a panel or a table on stdout, fitted to the terminal's width.

    The consoles soft-wrap (a long line stays one line to copy), which inside a
    frame would crop the text at the border: a frame's text wraps instead.
    """
    out.print(renderable, soft_wrap=False)


def panel(body: RenderableType, title: str) -> Panel:
    """A frame as wide as its text (at most the terminal), titled at the left."""
    return Panel(body, title=title, title_align="left", expand=False)


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> Table:
    # A table of unnamed columns (key and value) has no header row; long values wrap
    # (a PATH has no spaces) instead of losing their end.
    tbl = Table(title=title, title_justify="left", header_style="bold", show_header=any(columns))
    for column in columns:
        tbl.add_column(column, overflow="fold")
    for row in rows:
        tbl.add_row(*("" if cell is None else str(cell) for cell in row))
    return tbl


def human_bytes(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"

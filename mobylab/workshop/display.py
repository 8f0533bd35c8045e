"""Live progress of the hosts: a rich table on a terminal, plain lines otherwise."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from types import TracebackType

from rich.live import Live
from rich.table import Table

from .. import ui


class HostBoard:
    """Which step each host is at; safe to update from the pool's threads."""

    def __init__(self, labels: Sequence[str], title: str, *, live: bool | None = None) -> None:
        self.title = title
        self.rows: dict[str, list[str]] = {label: ["queued", ""] for label in labels}
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._live: Live | None = None
        self.use_live = ui.interactive() if live is None else live

    def __enter__(self) -> HostBoard:
        if self.use_live:
            self._live = Live(self._render(), console=ui.err, refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(exc_type, exc, tb)

    def _render(self) -> Table:
        elapsed = time.monotonic() - self.started
        table = Table(title=f"{self.title} ({elapsed:.0f}s)", title_justify="left")
        table.add_column("host")
        table.add_column("step")
        table.add_column("")
        for label, (step, note) in self.rows.items():
            table.add_row(label, ui.status_text(note) if step == "done" else step, note)
        return table

    def update(self, label: str, step: str, note: str) -> None:
        with self._lock:
            if label in self.rows and self.rows[label][0] == "done":
                return  # a job's last words after its deadline
            self.rows[label] = [step, note]
            if self._live is not None:
                self._live.update(self._render())
            else:
                suffix = f" ({note})" if note else ""
                ui.err.print(f"{label}: {step}{suffix}", markup=False, highlight=False)

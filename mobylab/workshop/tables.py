"""The tables and lines the workshop tasks print, made from outcomes (no IO)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rich.table import Table

from .. import ui
from .collect import WorkshopSummary
from .pool import HostOutcome


def check_table(outcomes: Sequence[HostOutcome]) -> Table:
    """workshop.check: each machine's engine, disk, privileges and mobylab."""
    rows = [
        (
            o.host,
            ui.status_text(o.state),
            o.data.get("engine", "-"),
            o.data.get("disk", "-"),
            o.data.get("privileged", "-"),
            o.data.get("mobylab", "-"),
            o.message,
        )
        for o in outcomes
    ]
    columns = ["host", "state", "engine", "disk", "privileged", "mobylab", "notes"]
    return ui.table(columns, rows, title="Attendee machines")


def status_table(outcomes: Sequence[HostOutcome]) -> Table:
    """workshop.status: each host's lab, its steps, where it is and when it last moved."""
    rows = []
    for o in outcomes:
        d = o.data
        idle = d.get("idle")
        rows.append(
            (
                o.host,
                ui.status_text(d.get("progress", o.state)),
                d.get("lab", ""),
                d.get("steps", ""),
                d.get("where", o.message) if d else o.message,
                f"{idle:.0f}s ago" if isinstance(idle, int | float) else "",
            )
        )
    return ui.table(["host", "state", "lab", "steps", "where", "last update"], rows, "Lab runs")


def status_counts(outcomes: Sequence[HostOutcome]) -> str:
    """'5 finished, 1 running, 2 stuck' (states in alphabetical order)."""
    counts = Counter(o.data.get("progress", o.state) for o in outcomes)
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))


def collect_table(summary: WorkshopSummary) -> Table:
    """workshop.collect: each host's verdict and its steps."""
    rows = []
    for row in summary.results:
        steps = ", ".join(
            f"{s.name} {'ok' if s.passed else 'FAIL' if s.passed is False else '-'}"
            for s in row.steps
        )
        rows.append((row.host, row.verdict, steps or row.error))
    return ui.table(["host", "result", "steps"], rows, title="Collected reports")


def collect_line(summary: WorkshopSummary) -> str:
    """'8/8 finished, 7 passed; slowest step build on host (12.0s)'."""
    slow = summary.slowest_step
    line = f"{summary.finished}/{summary.hosts} finished, {summary.passed} passed"
    if slow:
        line += f"; slowest step {slow.step} on {slow.host} ({slow.seconds:.1f}s)"
    return line

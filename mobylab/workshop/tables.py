"""The tables and lines the workshop tasks print, made from outcomes (no IO)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rich import box
from rich.table import Table

from .. import ui
from .collect import HostStep, WorkshopSummary
from .commands import failure_line
from .hosts import host_count
from .pool import HostOutcome
from .serve.record import rows_text

CHECK_COLUMNS = ("host", "state", "engine", "disk", "privileged", "mobylab", "notes")


def _check_rows(outcomes: Sequence[HostOutcome]) -> list[tuple[str, ...]]:
    return [
        (
            o.host,
            o.state,
            o.data.get("engine", "-"),
            o.data.get("disk", "-"),
            o.data.get("privileged", "-"),
            o.data.get("mobylab", "-"),
            o.message,
        )
        for o in outcomes
    ]


# The fewest columns the notes get in the table; below that they follow it.
NOTES_MIN_WIDTH = 30


def notes_fit(outcomes: Sequence[HostOutcome], width: int) -> bool:
    """Whether the notes column, wrapped, gets NOTES_MIN_WIDTH once the other columns
    have their widest cell."""
    cells = zip(CHECK_COLUMNS[:-1], *(row[:-1] for row in _check_rows(outcomes)), strict=False)
    widest = [max(len(str(cell)) for cell in column) for column in cells]
    return sum(widest) + 2 * len(widest) + NOTES_MIN_WIDTH <= width


def check_table(outcomes: Sequence[HostOutcome], width: int) -> Table:
    """workshop.check: each machine's engine, disk, privileges, mobylab and notes; on a
    terminal too narrow for the notes they follow the table (check_notes), so a host's
    name and its figures stay whole at 80 columns."""
    keep = notes_fit(outcomes, width)
    columns = CHECK_COLUMNS if keep else CHECK_COLUMNS[:-1]
    rows = [
        (row[0], ui.status_text(row[1]), *row[2 : len(columns)]) for row in _check_rows(outcomes)
    ]
    table = ui.table(columns, rows, title="Attendee machines")
    # Lines only under the header, two spaces between columns: six columns fit 80.
    table.box, table.show_edge, table.pad_edge = box.SIMPLE_HEAD, False, False
    table.collapse_padding = True
    for number in (0, 1, 3, 5):  # host, state, disk, mobylab: never cut
        table.columns[number].no_wrap = True
    return table


def check_notes(outcomes: Sequence[HostOutcome], width: int) -> list[str]:
    """workshop.check on a narrow terminal: 'WARN: host: what to do' for each host that
    did not fail but has notes (a failed host's line comes with the error)."""
    if notes_fit(outcomes, width):
        return []
    return [failure_line(o) for o in outcomes if o.message and not o.failed]


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


def status_line(outcomes: Sequence[HostOutcome]) -> str:
    """'8 hosts: 5 FINISHED, 1 RUNNING, 2 STUCK' (states in alphabetical order); a served
    room's seats are counted as seats."""
    counts = Counter(o.data.get("progress", o.state) for o in outcomes)
    parts = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    return f"{rows_text([o.data for o in outcomes])}: {parts}"


def collect_table(summary: WorkshopSummary) -> Table:
    """workshop.collect: each host's verdict and its steps."""
    rows = []
    for row in summary.results:
        steps = "; ".join(_step_text(step) for step in row.steps)
        # A run still going says where it is ("in progress at step 3/6 (2 done)").
        verdict = row.error if row.error and row.steps else row.verdict
        rows.append((row.host, verdict, steps or row.error))
    return ui.table(["host", "result", "steps"], rows, title="Collected reports")


def _step_text(step: HostStep) -> str:
    """'Build ok', 'Run FAIL'; a practice step with the learner's figures:
    'Build solved (2 tries, 1 hint, 40.0s)'."""
    if step.practice is None:
        return f"{step.name} {'ok' if step.passed else 'FAIL' if step.passed is False else '-'}"
    figures = f" ({', '.join(step.figures)})" if step.figures else ""
    return f"{step.name} {step.verdict}{figures}"


def collect_line(summary: WorkshopSummary) -> str:
    """'8 hosts: 7 finished, 6 passed, 1 in progress; slowest step Build on h1 (12.0s)'."""
    verdicts = Counter(row.verdict for row in summary.results)
    parts = [f"{summary.finished} finished", f"{summary.passed} passed"]
    parts += [f"{verdicts[v]} {v}" for v in ("in progress", "no report") if verdicts[v]]
    line = f"{host_count(summary.hosts)}: " + ", ".join(parts)
    slow = summary.slowest_step
    if slow:
        line += f"; slowest step {slow.step} on {slow.host} ({slow.seconds:.1f}s)"
    return line

"""lab.verify: each lab's reference solution on each engine, as a labs x steps x engines matrix.

Every lab runs as `lab.run NAME --yes` runs it (setup, then the guided run's execute
and judge, through a presenter that prints one line per step), on every engine named,
one lab after the other. Each cell is a step on an engine: passed, not in this engine
(what the step declares it needs, or what the engine refused), or FAILED with the
check that failed and why. A lab that rots (a check no engine passes any more, a
feature that changed) shows as FAILED, and `lab.verify` exits non-zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import ui
from ..errors import LabError
from ..jsondata import JsonDict
from .model import Lab
from .present import ShownStep
from .records import EngineRecord, Report, Status, StepRecord
from .runner import GuidedRun
from .setup import RunOptions, RunSetup, prepare

if TYPE_CHECKING:
    from ..session import Session


@dataclass(frozen=True)
class VerifyCell:
    """One step of one lab on one engine."""

    status: Status
    reason: str = ""
    # The first failed check, as "TYPE: seen" (FAILED cells).
    check: str = ""

    @property
    def text(self) -> str:
        """The cell as the table shows it."""
        if self.status is Status.PASSED:
            return "passed"
        if self.status is Status.ABSENT:
            return f"not in this engine ({self.reason})"
        if self.status is Status.NOT_RUN:
            return "not run"
        return f"FAILED: {self.reason}"

    def to_dict(self) -> JsonDict:
        return {"status": self.status, "reason": self.reason, "check": self.check}


@dataclass(frozen=True)
class VerifyRow:
    """A step of a lab across the engines."""

    lab: str
    index: int
    title: str
    feature: str
    cells: tuple[tuple[str, VerifyCell], ...]

    def to_dict(self) -> JsonDict:
        return {
            "lab": self.lab,
            "step": self.index,
            "title": self.title,
            "feature": self.feature,
            "engines": {engine: cell.to_dict() for engine, cell in self.cells},
        }


@dataclass(frozen=True)
class VerifiedLab:
    """One lab's run: its report, and the engines as they answered."""

    lab: str
    run_id: str
    report: str
    engines: tuple[EngineRecord, ...]
    rows: tuple[VerifyRow, ...]


@dataclass(frozen=True)
class VerifyMatrix:
    labs: tuple[VerifiedLab, ...]

    @property
    def rows(self) -> tuple[VerifyRow, ...]:
        return tuple(row for lab in self.labs for row in lab.rows)

    @property
    def failed(self) -> tuple[tuple[VerifyRow, str, VerifyCell], ...]:
        return tuple(
            (row, engine, cell)
            for row in self.rows
            for engine, cell in row.cells
            if cell.status.stops_the_run
        )

    def to_dict(self) -> JsonDict:
        return {
            "labs": [
                {
                    "lab": lab.lab,
                    "run_id": lab.run_id,
                    "report": lab.report,
                    "engines": [engine.to_dict() for engine in lab.engines],
                }
                for lab in self.labs
            ],
            "steps": [row.to_dict() for row in self.rows],
            "failed": len(self.failed),
        }


def cell_of(record: StepRecord | None) -> VerifyCell:
    """Pure: a step's record on an engine as a cell (None: the step did not run there)."""
    if record is None:
        return VerifyCell(Status.NOT_RUN)
    failed = next((c for c in record.checks if c.passed is False), None)
    check = f"{failed.type}: {failed.seen}" if failed else ""
    return VerifyCell(record.status, record.reason, check)


def verified_lab(lab: Lab, report: Report) -> VerifiedLab:
    """Pure: a lab's report as the matrix's rows, a step a row and an engine a cell."""
    by_key = {(s.index, s.engine): s for s in report.steps}
    rows = tuple(
        VerifyRow(
            lab=lab.name,
            index=number,
            title=step.title,
            feature=step.feature,
            cells=tuple((e.name, cell_of(by_key.get((number, e.name)))) for e in report.engines),
        )
        for number, step in enumerate(lab.steps, 1)
    )
    return VerifiedLab(
        lab.name, report.run_id, report.paths.get("md", ""), tuple(report.engines), rows
    )


class VerifyPresenter:
    """A lab run as lab.verify shows it: one line per step and engine, nothing else."""

    def __init__(self, lab: str) -> None:
        self.lab = lab

    def introduce(self, setup: RunSetup) -> None:
        ui.info(f"{self.lab}: run {setup.run_id} (report in {setup.report_dir})")

    def engine(self, engine: EngineRecord) -> None: ...

    def step(self, shown: ShownStep) -> None: ...

    def command(self, shown: str) -> None: ...

    def output(self, line: str) -> None: ...

    def stages(self, text: str) -> None: ...

    def verdict(self, record: StepRecord) -> None:
        cell = cell_of(record)
        ui.info(f"{self.lab} step {record.index} on {record.engine}: {cell.text}")

    def closing(self, lab: Lab) -> None: ...


def verify_lab(session: Session, lab: Lab, engine: str) -> VerifiedLab:
    """Run one lab's reference solution on the engines of `engine` (a --engine choice)."""
    setup = prepare(session, lab, RunOptions(yes=True, engine=engine))
    run = GuidedRun(session, setup, VerifyPresenter(lab.name))
    try:
        report = run.run()
    except LabError:
        # The engine died or refused under a step: the report says where; its other
        # steps are "not run" cells, the step a FAILED one.
        if run.report is None:
            raise
        report = run.report
    return verified_lab(lab, report)


def verify(session: Session, labs: Sequence[Lab], engine: str) -> VerifyMatrix:
    """Every lab on every engine of `engine`, one lab after the other."""
    return VerifyMatrix(tuple(verify_lab(session, lab, engine) for lab in labs))


def matrix_table_rows(matrix: VerifyMatrix) -> tuple[list[str], list[list[str]]]:
    """Pure: the matrix as a table: a step a row, an engine a column."""
    engines: list[str] = []
    for lab in matrix.labs:
        engines += [e.name for e in lab.engines if e.name not in engines]
    rows = []
    for row in matrix.rows:
        cells = dict(row.cells)
        shown = [cells[name].text if name in cells else "-" for name in engines]
        rows.append([row.lab, f"{row.index}. {row.title}", *shown])
    return ["lab", "step", *engines], rows


def failure(matrix: VerifyMatrix) -> LabError | None:
    """The error lab.verify exits with when a cell FAILED (None when none did)."""
    failed = matrix.failed
    if not failed:
        return None
    row, engine, cell = failed[0]
    where = f"{row.lab} step {row.index} ({row.title}) on {engine}"
    check = f"; check {cell.check}" if cell.check else ""
    return LabError(
        f"lab.verify: {len(failed)} step(s) FAILED; first: {where}: {cell.reason}{check}",
        "Each lab's report says more (the paths above).",
    )

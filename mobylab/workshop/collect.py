"""workshop.collect: fetch each host's newest lab report and write one aggregated report.

The aggregation and its JSON, Markdown and HTML renderings are pure functions
of the host reports, so they are tested with plain data.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import ui
from ..jsondata import JsonDict, JsonObject
from ..lab.practice import state as ps
from ..lab.records import PracticeStep, PracticeSummary
from ..workspace import write_atomic, write_json
from .labrun import latest_run_dir, read_json, report_passed, report_steps
from .layout import RemoteLayout
from .pool import FAIL, OK, HostJob, HostOutcome, StepFailed
from .redact import Redactor, redacted
from .remote import RemoteHost


@dataclass(frozen=True)
class HostStep:
    """One step of a host's lab run, as the aggregated report lists it.

    A practice run's step carries the learner's figures (`practice`); its seconds are
    the learner's time on it, not the build's.
    """

    name: str
    passed: bool | None
    seconds: float | None = None
    size: float | None = None
    practice: PracticeStep | None = None

    @classmethod
    def of_practice(cls, step: PracticeStep) -> HostStep:
        passed = True if step.status == ps.StepStatus.PASSED else None
        return cls(step.title, passed, step.seconds, practice=step)

    @property
    def verdict(self) -> str:
        """'pass', 'FAIL' or '-'; a practice step's status and how it was done."""
        if self.practice is None:
            return {True: "pass", False: "FAIL", None: "-"}[self.passed]
        how = self.practice.how
        if self.practice.status == ps.StepStatus.PASSED:
            return how or ps.StepStatus.PASSED
        return self.practice.status

    @property
    def figures(self) -> list[str]:
        """The learner's attempts and hints (a practice step), then time and size."""
        found = []
        if self.practice is not None:
            tries = self.practice.attempts
            hints = self.practice.hints_used
            found += [f"{tries} tr{'ies' if tries != 1 else 'y'}"] if tries else []
            found += [f"{hints} hint{'s' if hints != 1 else ''}"] if hints else []
        if self.seconds is not None:
            found.append(f"{self.seconds:.1f}s")
        if self.size is not None:
            found.append(ui.human_bytes(self.size))
        return found

    def to_dict(self) -> JsonDict:
        data: JsonDict = {
            "name": self.name,
            "passed": self.passed,
            "seconds": self.seconds,
            "size": self.size,
        }
        return data | ({"practice": self.practice.to_dict()} if self.practice else {})

    @classmethod
    def from_dict(cls, data: JsonObject) -> HostStep:
        practice = data.get("practice")
        return cls(
            data["name"],
            data["passed"],
            data.get("seconds"),
            data.get("size"),
            PracticeStep.from_dict(practice) if practice else None,
        )


@dataclass(frozen=True)
class HostResult:
    """One host's row in the aggregated report; `lab` None: the host had no report."""

    host: str
    finished: bool
    passed: bool
    error: str = ""
    lab: str | None = None
    engines: tuple[str, ...] = ()
    run_id: str = ""
    steps: tuple[HostStep, ...] = ()

    @property
    def seconds(self) -> float:
        return sum(step.seconds or 0 for step in self.steps)

    @property
    def verdict(self) -> str:
        if self.passed:
            return "passed"
        if self.finished:
            return "FAILED"
        return "in progress" if self.lab is not None else "no report"

    def to_dict(self) -> JsonDict:
        data: JsonDict = {
            "host": self.host,
            "finished": self.finished,
            "passed": self.passed,
            "error": self.error,
            "steps": [step.to_dict() for step in self.steps],
        }
        if self.lab is not None:
            data |= {
                "lab": self.lab,
                "engines": list(self.engines),
                "run_id": self.run_id,
                "seconds": self.seconds,
            }
        return data

    @classmethod
    def from_dict(cls, data: JsonObject) -> HostResult:
        return cls(
            host=data["host"],
            finished=data["finished"],
            passed=data["passed"],
            error=data.get("error", ""),
            lab=data.get("lab"),
            engines=tuple(data.get("engines") or ()),
            run_id=data.get("run_id", ""),
            steps=tuple(HostStep.from_dict(step) for step in data.get("steps") or ()),
        )


@dataclass(frozen=True)
class SlowestStep:
    host: str
    step: str
    seconds: float

    def to_dict(self) -> JsonDict:
        return {"host": self.host, "step": self.step, "seconds": self.seconds}


@dataclass(frozen=True)
class WorkshopSummary:
    """The aggregated report: how many hosts finished and passed, and each host's row."""

    generated: str
    results: tuple[HostResult, ...]

    @property
    def labs(self) -> list[str]:
        return sorted({row.lab for row in self.results if row.lab})

    @property
    def hosts(self) -> int:
        return len(self.results)

    @property
    def finished(self) -> int:
        return sum(1 for row in self.results if row.finished)

    @property
    def passed(self) -> int:
        return sum(1 for row in self.results if row.passed)

    @property
    def slowest_step(self) -> SlowestStep | None:
        timed = [
            SlowestStep(row.host, step.name, step.seconds)
            for row in self.results
            for step in row.steps
            if step.seconds is not None
        ]
        # The first of the slowest, in host order.
        return max(timed, key=lambda slow: slow.seconds, default=None)

    @property
    def step_names(self) -> list[str]:
        """Every step name, in the order the hosts first show them."""
        return list(dict.fromkeys(step.name for row in self.results for step in row.steps))

    def to_dict(self) -> JsonDict:
        slowest = self.slowest_step
        return {
            "generated": self.generated,
            "labs": self.labs,
            "hosts": self.hosts,
            "finished": self.finished,
            "passed": self.passed,
            "slowest_step": slowest.to_dict() if slowest else None,
            "results": [row.to_dict() for row in self.results],
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> WorkshopSummary:
        return cls(data["generated"], tuple(HostResult.from_dict(r) for r in data["results"]))


def summarize_host(host: str, report: JsonObject | None, error: str = "") -> HostResult:
    """Pure: one host's row in the aggregated report, from its lab report's JSON; a
    practice run's steps are the learner's (every step, with its figures)."""
    if report is None:
        return HostResult(host, finished=False, passed=False, error=error)
    practice = report.get("practice")
    if isinstance(practice, dict) and practice.get("steps"):
        summary = PracticeSummary.from_dict(practice)
        steps = tuple(HostStep.of_practice(step) for step in summary.steps)
        done = sum(1 for step in summary.steps if step.status in ps.DONE)
        running = f"in progress at step {summary.current}/{len(steps)} ({done} done)"
    else:
        steps = tuple(
            HostStep(step["name"], step["passed"], step["seconds"], step["size"])
            for step in report_steps(report)
        )
        running = "still running"
    verdict = report_passed(report)
    return HostResult(
        host,
        finished=verdict is not None,
        passed=bool(verdict),
        error="" if verdict is not None else running,
        lab=str(report.get("lab", "")),
        engines=tuple(
            e.get("name", "?") if isinstance(e, dict) else str(e)
            for e in report.get("engines") or []
        ),
        run_id=str(report.get("run_id", "")),
        steps=steps,
    )


def aggregate(rows: Sequence[HostResult]) -> WorkshopSummary:
    """Pure: the overall picture of the hosts' rows."""
    return WorkshopSummary(time.strftime("%Y-%m-%dT%H:%M:%S"), tuple(rows))


def _cell(step: HostStep) -> str:
    extras = step.figures
    return f"{step.verdict} ({', '.join(extras)})" if extras else step.verdict


def _overall_line(summary: WorkshopSummary) -> str:
    line = (
        f"{summary.finished}/{summary.hosts} hosts finished, "
        f"{summary.passed}/{summary.hosts} passed"
    )
    slow = summary.slowest_step
    if slow:
        line += f"; slowest step: {slow.step} on {slow.host} ({slow.seconds:.1f}s)"
    return line


def _grid(summary: WorkshopSummary) -> tuple[list[str], list[list[str]]]:
    names = summary.step_names
    header = ["host", "result", *names, "total"]
    rows = []
    for row in summary.results:
        by_name = {s.name: s for s in row.steps}
        cells = [row.host, row.verdict]
        cells += [_cell(by_name[n]) if n in by_name else "" for n in names]
        cells.append(f"{row.seconds:.1f}s" if row.finished else row.error)
        rows.append(cells)
    return header, rows


def render_markdown(summary: WorkshopSummary) -> str:
    """Pure: the aggregated report as Markdown."""
    header, rows = _grid(summary)
    labs = ", ".join(summary.labs) or "?"
    lines = [f"# Workshop report: {labs}", "", _overall_line(summary), ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for cells in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def render_html(summary: WorkshopSummary) -> str:
    """Pure: the aggregated report as a standalone HTML page."""
    header, rows = _grid(summary)
    labs = html.escape(", ".join(summary.labs) or "?")
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = ""
    for cells in rows:
        tds = ""
        for cell in cells:
            css = ' class="fail"' if "FAIL" in cell or cell == "no report" else ""
            tds += f"<td{css}>{html.escape(cell)}</td>"
        body += f"<tr>{tds}</tr>\n"
    style = (
        "body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px}.fail{color:#b00;font-weight:bold}"
    )
    return (
        f"<!doctype html>\n<html><head><meta charset='utf-8'><title>Workshop report: {labs}"
        f"</title><style>{style}</style></head><body>\n<h1>Workshop report: {labs}</h1>\n"
        f"<p>{html.escape(_overall_line(summary))}</p>\n"
        f"<table><tr>{head}</tr>\n{body}</table>\n</body></html>\n"
    )


def write_reports(summary: WorkshopSummary, dest: Path, redactor: Redactor) -> dict[str, Path]:
    """Write report.json, report.md and report.html (redacted) into `dest`."""
    data = redacted(summary.to_dict(), redactor)
    clean = WorkshopSummary.from_dict(data)
    paths = {"json": dest / "report.json", "md": dest / "report.md", "html": dest / "report.html"}
    write_json(paths["json"], data)
    write_atomic(paths["md"], render_markdown(clean))
    write_atomic(paths["html"], render_html(clean))
    return paths


class ReportFetcher:
    """The workshop.collect body: copy the newest report.json of a host."""

    def __init__(self, dest: Path, redactor: Redactor) -> None:
        self.dest = dest
        self.redactor = redactor

    def __call__(self, remote: RemoteHost, layout: RemoteLayout, job: HostJob) -> HostOutcome:
        job.begin("find")
        run_dir = latest_run_dir(remote, layout)
        if run_dir is None:
            raise StepFailed(f"{job.label}: no lab run found; run workshop.run LAB first")
        job.begin("fetch")
        report = read_json(remote, f"{run_dir}/report.json")
        if report is None:
            raise StepFailed(f"{job.label}: the newest run ({run_dir}) has no report.json yet")
        report = redacted(report, self.redactor)
        write_json(self.dest / f"{job.spec.file_name}.json", report)
        row = summarize_host(job.label, report)
        # A run still going (a learner at work on a step) is no failure.
        state = FAIL if row.finished and not row.passed else OK
        message = "passed" if row.passed else ("failed" if row.finished else row.error)
        return HostOutcome(job.label, state, "fetch", message, data={"report": report})

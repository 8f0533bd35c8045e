"""workshop.collect: fetch each host's newest lab report and write one aggregated report.

The aggregation and its JSON, Markdown and HTML renderings are pure functions
of the host reports, so they are tested with plain data.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import ui
from ..workspace import write_atomic, write_json
from .labrun import latest_run_dir, read_json, report_passed, report_steps
from .layout import RemoteLayout
from .pool import FAIL, OK, HostJob, HostOutcome, StepFailed
from .redact import Redactor, redacted
from .remote import RemoteHost


def summarize_host(host: str, report: dict[str, Any] | None, error: str = "") -> dict[str, Any]:
    """Pure: one host's row in the aggregated report."""
    if report is None:
        return {"host": host, "finished": False, "passed": False, "error": error, "steps": []}
    steps = [
        {k: step[k] for k in ("name", "passed", "seconds", "size")} for step in report_steps(report)
    ]
    verdict = report_passed(report)
    return {
        "host": host,
        "finished": verdict is not None,
        "passed": bool(verdict),
        "lab": str(report.get("lab", "")),
        "engines": [
            e.get("name", "?") if isinstance(e, dict) else str(e)
            for e in report.get("engines") or []
        ],
        "run_id": str(report.get("run_id", "")),
        "error": "" if verdict is not None else "still running",
        "steps": steps,
        "seconds": sum(s["seconds"] or 0 for s in steps),
    }


def aggregate(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Pure: the overall picture: how many finished and passed, the slowest step."""
    slowest: dict[str, Any] | None = None
    for row in rows:
        for step in row["steps"]:
            if step["seconds"] is not None and (
                slowest is None or step["seconds"] > slowest["seconds"]
            ):
                slowest = {"host": row["host"], "step": step["name"], "seconds": step["seconds"]}
    labs = sorted({row.get("lab", "") for row in rows if row.get("lab")})
    return {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "labs": labs,
        "hosts": len(rows),
        "finished": sum(1 for row in rows if row["finished"]),
        "passed": sum(1 for row in rows if row["passed"]),
        "slowest_step": slowest,
        "results": list(rows),
    }


def _cell(step: dict[str, Any]) -> str:
    verdict = {True: "pass", False: "FAIL", None: "-"}[step["passed"]]
    extras = []
    if step["seconds"] is not None:
        extras.append(f"{step['seconds']:.1f}s")
    if step["size"] is not None:
        extras.append(ui.human_bytes(step["size"]))
    return f"{verdict} ({', '.join(extras)})" if extras else verdict


def _step_names(summary: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for row in summary["results"]:
        for step in row["steps"]:
            if step["name"] not in names:
                names.append(step["name"])
    return names


def _overall_line(summary: dict[str, Any]) -> str:
    line = (
        f"{summary['finished']}/{summary['hosts']} hosts finished, "
        f"{summary['passed']}/{summary['hosts']} passed"
    )
    slow = summary["slowest_step"]
    if slow:
        line += f"; slowest step: {slow['step']} on {slow['host']} ({slow['seconds']:.1f}s)"
    return line


def _grid(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    names = _step_names(summary)
    header = ["host", "result", *names, "total"]
    rows = []
    for row in summary["results"]:
        by_name = {s["name"]: s for s in row["steps"]}
        result = "passed" if row["passed"] else ("FAILED" if row["finished"] else "no report")
        cells = [row["host"], result]
        cells += [_cell(by_name[n]) if n in by_name else "" for n in names]
        cells.append(f"{row.get('seconds', 0):.1f}s" if row["finished"] else row["error"])
        rows.append(cells)
    return header, rows


def render_markdown(summary: dict[str, Any]) -> str:
    """Pure: the aggregated report as Markdown."""
    header, rows = _grid(summary)
    labs = ", ".join(summary["labs"]) or "?"
    lines = [f"# Workshop report: {labs}", "", _overall_line(summary), ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for cells in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def render_html(summary: dict[str, Any]) -> str:
    """Pure: the aggregated report as a standalone HTML page."""
    header, rows = _grid(summary)
    labs = html.escape(", ".join(summary["labs"]) or "?")
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


def write_reports(summary: dict[str, Any], dest: Path, redactor: Redactor) -> dict[str, Path]:
    """Write report.json, report.md and report.html (redacted) into `dest`."""
    clean = redacted(summary, redactor)
    paths = {"json": dest / "report.json", "md": dest / "report.md", "html": dest / "report.html"}
    write_json(paths["json"], clean)
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
        state = OK if row["passed"] else FAIL
        message = "passed" if row["passed"] else "failed"
        return HostOutcome(job.label, state, "fetch", message, data={"report": report})

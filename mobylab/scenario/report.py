"""Pure: dev.try's and dev.bisect's reports as rows, Markdown and HTML (the lab reports' look),
and the files that hold them (report.json, report.md, report.html)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path

from ..lab.html import STYLE
from ..lab.render import markdown_table
from ..workspace import write_atomic, write_json
from .records import BisectReport, BisectStep, ScenarioResult, TryReport

TRY_COLUMNS = ("engine", "version", "commit", "result", "builder", "time", "last lines")
STEP_COLUMNS = ("commit", "pull request", "result", "build time", "test time")
SHOWN_TAIL = 3


def last_lines(result: ScenarioResult, count: int, width: int) -> str:
    lines = [line.strip() for line in result.tail if line.strip()]
    return "\n".join(
        line if len(line) <= width else line[: width - 1] + "…" for line in lines[-count:]
    )


def try_rows(
    report: TryReport, *, lines: int = SHOWN_TAIL, width: int = 200
) -> list[tuple[str, ...]]:
    """An engine a row: what answered, the result (with why it could not test), time, and
    the last `lines` lines of its output, each cut at `width` characters."""
    return [
        (
            row.engine.name,
            row.engine.version or "-",
            row.engine.commit[:12] or "-",
            row.result.result_text,
            str(row.result.builder or "-"),
            f"{row.result.seconds:.1f}s",
            last_lines(row.result, lines, width),
        )
        for row in report.rows
    ]


def step_rows(steps: Sequence[BisectStep]) -> list[tuple[str, ...]]:
    """A bisect step a row, in the order they ran."""
    return [
        (
            step.commit[:12],
            f"#{step.pull_request}" if step.pull_request else "-",
            step.result.result_text,
            f"{step.build_seconds:.0f}s",
            f"{step.result.seconds:.1f}s",
        )
        for step in steps
    ]


def answer_line(report: BisectReport) -> str:
    """One sentence: the first commit with the new end's result, and its pull request."""
    first = report.first
    what = "arrived" if report.change == "arrival" else "went away"
    pull = f" (pull request #{report.pull_request}: {first.title})" if report.pull_request else ""
    if report.first.subject and not report.pull_request:
        pull = f" ({first.subject})"
    if len(report.candidates) > 1:
        others = ", ".join(c[:12] for c in report.candidates[:-1])
        return (
            f"the behaviour {what} in one of {len(report.candidates)} commits: {others} could "
            f"not be tested, then {first.sha[:12]}{pull}"
        )
    before = report.previous.sha[:12]
    return f"the behaviour {what} with {first.sha}{pull}; the commit before it is {before}"


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(c).replace(chr(10), '<br>')}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _page(title: str, intro: str, body: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{STYLE}</style></head>
<body>
<h1>{escape(title)}</h1>
<p class="muted">{intro}</p>
{body}
</body></html>
"""


def try_markdown(report: TryReport) -> str:
    lines = [
        f"# Scenario {report.scenario} on {len(report.rows)} engines",
        "",
        f"Run `{report.run_id}`, started {report.started}, finished {report.finished}; "
        f"time limit {report.timeout:.0f}s.",
        "",
        *markdown_table(TRY_COLUMNS, try_rows(report)),
        "",
        "Present: the scenario exited 0; absent: it exited otherwise; could not test: it "
        "could not run at all.",
    ]
    return "\n".join(lines) + "\n"


def try_html(report: TryReport) -> str:
    intro = (
        f"Run <code>{escape(report.run_id)}</code> · started {escape(report.started)}, "
        f"finished {escape(report.finished)} · time limit {report.timeout:.0f}s"
    )
    return _page(f"Scenario {report.scenario}", intro, _html_table(TRY_COLUMNS, try_rows(report)))


def bisect_markdown(report: BisectReport) -> str:
    log = report.log
    walk = "first-parent" if log.first_parent else "every commit"
    lines = [
        f"# Bisect of scenario {log.scenario}",
        "",
        f"From `{log.old[:12]}` (old) to `{log.new[:12]}` (new), {report.walked} commits "
        f"({walk}), {len(log.steps)} builds; finished {report.finished}.",
        "",
        f"**{answer_line(report)}**",
        "",
        *markdown_table(STEP_COLUMNS, step_rows(log.steps)),
    ]
    return "\n".join(lines) + "\n"


def bisect_html(report: BisectReport) -> str:
    log = report.log
    intro = (
        f"From <code>{escape(log.old[:12])}</code> to <code>{escape(log.new[:12])}</code>, "
        f"{report.walked} commits, {len(log.steps)} builds · finished {escape(report.finished)}"
    )
    answer = f"<p><strong>{escape(answer_line(report))}</strong></p>"
    body = f"{answer}\n<h2>Steps</h2>\n{_html_table(STEP_COLUMNS, step_rows(log.steps))}"
    return _page(f"Bisect of scenario {log.scenario}", intro, body)


def write_report(folder: Path, report: TryReport | BisectReport) -> Path:
    """report.json, report.md and report.html in `folder`; the JSON's path."""
    if isinstance(report, TryReport):
        markdown, html = try_markdown(report), try_html(report)
    else:
        markdown, html = bisect_markdown(report), bisect_html(report)
    write_json(folder / "report.json", report.to_dict())
    write_atomic(folder / "report.md", markdown)
    write_atomic(folder / "report.html", html)
    return folder / "report.json"

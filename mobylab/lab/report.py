"""The report of a lab run: its data, where it is kept, and the comparison it holds.

<workspace>/reports/<run id>/report.json (a `records.Report`) is rewritten
(atomically) after every step; render.py and html.py draw Markdown, HTML and the
terminal table from it, so `lab.report` can render any earlier run again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import LabError
from ..ui import human_bytes
from ..workspace import Workspace, read_json, write_atomic, write_json
from .features import cell_text
from .metrics import ratio_text
from .practice.state import duration_text
from .records import EngineRecord, PracticeSummary, Report, Status

LATEST = "latest"


def engine_text(engine: EngineRecord) -> str:
    """Pure: an engine in one line, as a run starts on it and as `lab.report` recalls it."""
    sdk = engine.builder_image if engine.builder_image_size_bytes else ""
    return (
        f"{engine.name} engine: Docker {engine.version} (commit {engine.commit or '?'}) at "
        f"{engine.url}, {engine.builder} builder ({engine.builder_reason}), "
        f"image store {engine.image_store}"
        + (f", SDK image {sdk} ({size_text(engine.builder_image_size_bytes)})" if sdk else "")
    )


def run_state(report: Report) -> tuple[str, str]:
    """Pure: the run's state in words and when it ran: "passed" and "started A, finished
    B"; a practice run not done is "practising" or "paused" at its step, not finished."""
    practice = report.practice
    when = f"started {report.started}"
    if practice is not None and report.status == Status.RUNNING:
        where = f"at step {practice.current}/{report.step_count or len(practice.steps)}"
        return f"{'practising' if practice.active else 'paused'} {where}", when
    if not report.finished:
        return str(report.status), when
    return str(report.status), f"{when}, finished {report.finished}"


def read_expected(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise LabError(f"cannot read the expected output {path}: {exc}") from None


def write(report_dir: Path, report: Report) -> Path:
    path = report_dir / "report.json"
    write_json(path, report.to_dict())
    return path


def load(workspace: Workspace, run_id: str) -> Report | None:
    """A run's report, None when there is none (or it is no report)."""
    data = read_json(workspace.root / "reports" / run_id / "report.json")
    return Report.from_dict(data) if isinstance(data, dict) else None


def point_latest(workspace: Workspace, lab_name: str, run_id: str) -> None:
    """reports/latest -> <run id> (a symlink), and the lab's own latest run in state."""
    reports = workspace.reports
    link = reports / LATEST
    tmp = reports / f".{LATEST}.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    try:
        os.symlink(run_id, tmp)
        os.replace(tmp, link)
    except OSError:
        tmp.unlink(missing_ok=True)
        write_atomic(reports / "LATEST", run_id + "\n")
    runs = workspace.load_state("lab-latest", {}) or {}
    runs[lab_name] = run_id
    workspace.save_state("lab-latest", runs)


def latest_run(workspace: Workspace, lab_name: str | None = None) -> str | None:
    """The last run of a lab (or of any lab)."""
    if lab_name:
        runs = workspace.load_state("lab-latest", {}) or {}
        value = runs.get(lab_name)
        return str(value) if value else None
    link = workspace.root / "reports" / LATEST
    if link.is_symlink():
        return os.readlink(link)
    pointer = workspace.root / "reports" / "LATEST"
    return pointer.read_text().strip() if pointer.is_file() else None


def size_text(value: int | None) -> str:
    return human_bytes(value) if value else "-"


def seconds_text(value: float | None) -> str:
    return f"{value:.1f}s" if value is not None else "-"


def variant_table(report: Report) -> tuple[list[str], list[list[str]]]:
    """Pure: the comparison as header and rows of text."""
    header = [
        "variant",
        "engine",
        "image size",
        "vs SDK image",
        "layers",
        "build time",
        "builder",
        "files / lines",
        "commands",
        "leaves behind",
        "output",
        "result",
    ]
    rows = []
    for variant in report.variants:
        leftovers = [
            f"{item.kind} {item.name}"
            + (f" ({size_text(item.size_bytes)})" if item.size_bytes else "")
            for item in variant.leftovers_present
        ]
        output = variant.output
        rows.append(
            [
                variant.name,
                variant.engine,
                size_text(variant.size_bytes),
                ratio_text(report.ratio_to_builder(variant)),
                str(variant.layers if variant.layers is not None else "-"),
                seconds_text(variant.build_seconds)
                + (f" ({variant.cached_steps} steps cached)" if variant.cached_steps else ""),
                variant.builder or "-",
                f"{variant.files} / {variant.lines}",
                str(variant.commands_typed),
                ", ".join(leftovers) or "nothing",
                json.dumps(output, sort_keys=True) if output is not None else "-",
                "PASS" if variant.passed else ("ABSENT" if variant.absent else "FAIL"),
            ]
        )
    return header, rows


def matrix_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    """Pure: the features x engines matrix as header and rows of text ([] when none)."""
    matrix = report.matrix
    if matrix is None or not matrix.rows:
        return [], []
    header = ["feature"]
    for name in matrix.engines:
        engine = report.engine_named(name)
        version = engine.version if engine else "?"
        commit = (engine.commit if engine else None) or "?"
        header.append(f"{name} ({version}, {commit[:12]})")
    rows = [
        [row.feature, *(cell_text(row.engines[name]) for name in matrix.engines)]
        for row in matrix.rows
    ]
    return header, rows


def practice_table(practice: PracticeSummary | None) -> tuple[list[str], list[list[str]]]:
    """Pure: the practice columns of a run's steps (no rows for a guided run)."""
    header = ["step", "title", "status", "attempts", "hints", "how", "time"]
    steps = practice.steps if practice else ()
    rows = [
        [
            str(step.index),
            step.title,
            step.status,
            str(step.attempts),
            str(step.hints_used),
            step.how or "-",
            duration_text(step.seconds),
        ]
        for step in steps
    ]
    return header, rows

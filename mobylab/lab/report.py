"""The report of a lab run: its data, where it is kept, and the comparison it holds.

<workspace>/reports/<run id>/report.json is rewritten (atomically) after every
step; render.py and html.py draw Markdown, HTML and the terminal table from it,
so `lab.report` can render any earlier run again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import LabError
from ..ui import human_bytes
from ..workspace import Workspace, read_json, write_atomic, write_json
from .features import cell_text, feature_matrix
from .metrics import ratio_text

LATEST = "latest"


def read_expected(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise LabError(f"cannot read the expected output {path}: {exc}") from None


def refresh(report: dict[str, Any]) -> None:
    """Pure: recompute the derived fields (variants, failed steps) from the steps."""
    steps = report.get("steps", [])
    report["variants"] = [dict(s["variant"]) for s in steps if s.get("variant")]
    sizes = {e["name"]: e.get("builder_image_size_bytes") for e in report.get("engines", [])}
    for variant in report["variants"]:
        base = sizes.get(variant["engine"])
        size = variant.get("size_bytes")
        variant["ratio_to_builder"] = (size / base) if size and base else None
    report["failed_steps"] = [
        {"index": s["index"], "engine": s["engine"], "title": s["title"], "reason": s["reason"]}
        for s in steps
        if s["status"] in ("failed", "interrupted")
    ]
    features = {int(number): name for number, name in (report.get("features") or {}).items()}
    report["matrix"] = feature_matrix(report, features) if features else None


def write(report_dir: Path, report: dict[str, Any]) -> Path:
    path = report_dir / "report.json"
    write_json(path, report)
    return path


def load(workspace: Workspace, run_id: str) -> dict[str, Any] | None:
    data = read_json(workspace.root / "reports" / run_id / "report.json")
    return data if isinstance(data, dict) else None


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


def variant_table(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
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
    for variant in report.get("variants", []):
        leftovers = [
            f"{item['kind']} {item['name']}"
            + (f" ({size_text(item['size_bytes'])})" if item.get("size_bytes") else "")
            for item in variant.get("leftovers", [])
            if item.get("present")
        ]
        output = variant.get("output")
        rows.append(
            [
                variant["name"],
                variant["engine"],
                size_text(variant.get("size_bytes")),
                ratio_text(variant.get("ratio_to_builder")),
                str(variant.get("layers") if variant.get("layers") is not None else "-"),
                seconds_text(variant.get("build_seconds"))
                + (
                    f" ({variant['cached_steps']} steps cached)"
                    if variant.get("cached_steps")
                    else ""
                ),
                variant.get("builder") or "-",
                f"{variant.get('files', 0)} / {variant.get('lines', 0)}",
                str(variant.get("commands_typed", 0)),
                ", ".join(leftovers) or "nothing",
                json.dumps(output, sort_keys=True) if output is not None else "-",
                "PASS"
                if variant.get("passed")
                else ("ABSENT" if variant.get("absent") else "FAIL"),
            ]
        )
    return header, rows


def matrix_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Pure: the features x engines matrix as header and rows of text ([] when none)."""
    matrix = report.get("matrix") or {}
    if not matrix.get("rows"):
        return [], []
    engines = {e["name"]: e for e in report.get("engines", [])}
    header = ["feature"] + [
        f"{name} ({engines.get(name, {}).get('version', '?')}, "
        f"{(engines.get(name, {}).get('commit') or '?')[:12]})"
        for name in matrix["engines"]
    ]
    rows = [
        [row["feature"], *(cell_text(row["engines"][name]) for name in matrix["engines"])]
        for row in matrix["rows"]
    ]
    return header, rows

"""Reports of lab runs: <workspace>/reports/<run id>/report.{json,md,html} and `latest`.

report.json is rewritten (atomically) after every step; Markdown and HTML are
rendered from it, so `lab.report` can render any earlier run again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import LabError
from ..ui import human_bytes
from ..workspace import Workspace, read_json, write_atomic, write_json
from .html import render_html
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


def render_all(report_dir: Path, report: dict[str, Any]) -> dict[str, Path]:
    paths = {
        "json": report_dir / "report.json",
        "md": report_dir / "report.md",
        "html": report_dir / "report.html",
    }
    write_json(paths["json"], report)
    write_atomic(paths["md"], render_markdown(report))
    write_atomic(paths["html"], render_html(report))
    return paths


def _size(value: int | None) -> str:
    return human_bytes(value) if value else "-"


def _seconds(value: float | None) -> str:
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
            + (f" ({_size(item['size_bytes'])})" if item.get("size_bytes") else "")
            for item in variant.get("leftovers", [])
            if item.get("present")
        ]
        output = variant.get("output")
        rows.append(
            [
                variant["name"],
                variant["engine"],
                _size(variant.get("size_bytes")),
                ratio_text(variant.get("ratio_to_builder")),
                str(variant.get("layers") if variant.get("layers") is not None else "-"),
                _seconds(variant.get("build_seconds"))
                + (
                    f" ({variant['cached_steps']} steps cached)"
                    if variant.get("cached_steps")
                    else ""
                ),
                f"{variant.get('files', 0)} / {variant.get('lines', 0)}",
                str(variant.get("commands_typed", 0)),
                ", ".join(leftovers) or "nothing",
                json.dumps(output, sort_keys=True) if output is not None else "-",
                "PASS" if variant.get("passed") else "FAIL",
            ]
        )
    return header, rows


def render_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# {report.get('title', report.get('lab'))}",
        "",
        f"Lab `{report['lab']}`, run `{report['run_id']}`: **{report.get('status')}** "
        f"(started {report.get('started')}, finished {report.get('finished') or '-'}).",
        "",
        "## Engines",
        "",
        "| engine | url | version | builder | image store | SDK image |",
        "|---|---|---|---|---|---|",
    ]
    for engine in report.get("engines", []):
        lines.append(
            f"| {engine['name']} | `{engine['url']}` | {engine['version']} | "
            f"{engine['builder']} ({engine['builder_reason']}) | {engine['image_store']} | "
            f"{engine.get('builder_image')} {_size(engine.get('builder_image_size_bytes'))} |"
        )
    bases = report.get("base_images") or {}
    lines += [
        "",
        f"Base images: builder `{bases.get('builder')}`, runtime `{bases.get('runtime')}` "
        f"({bases.get('reason')}).",
    ]
    for change in bases.get("substitutions") or []:
        lines.append(
            f"- {change['file']} line {change['line']}: `{change['old']}` -> `{change['new']}`"
        )
    if report.get("url"):
        site = "the lab's fixture site" if report.get("site") == "fixture" else "a real site"
        lines += ["", f"Site: {report['url']} ({site})."]
    if report.get("expected") is not None:
        lines.append(f"Expected output: `{json.dumps(report['expected'], sort_keys=True)}`.")
    header, rows = variant_table(report)
    if rows:
        lines += ["", "## Comparison", "", "| " + " | ".join(header) + " |"]
        lines.append("|" + "---|" * len(header))
        lines += [
            "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows
        ]
        lines += [
            "",
            "Sizes and layers are what the engine reports (`docker image inspect`); "
            '"vs SDK image" divides by the builder base image.',
        ]
    lines += ["", "## Steps", ""]
    for step in report.get("steps", []):
        lines.append(
            f"- step {step['index']} on {step['engine']}: **{step['status']}** {step['title']}"
        )
        if step.get("reason"):
            lines.append(f"  - {step['reason']}")
    if report.get("failed_steps"):
        first = report["failed_steps"][0]
        lines += ["", f"First failure: step {first['index']} ({first['title']}): {first['reason']}"]
    return "\n".join(lines) + "\n"


def print_comparison(report: dict[str, Any]) -> None:
    """The comparison on the terminal, with size bars; details below the table."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from .. import ui
    from .metrics import bar

    variants = report.get("variants", [])
    if not variants:
        return
    engines = report.get("engines", [])
    largest = max((v.get("size_bytes") or 0 for v in variants), default=0)
    for engine in engines:
        largest = max(largest, engine.get("builder_image_size_bytes") or 0)
    table = Table(
        title=f"{report.get('title')}: comparison",
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
    )
    _header, text_rows = variant_table(report)
    several = len(engines) > 1
    columns = ["variant", "size", "", "vs SDK", "layers", "build", "files/lines", "cmds", "result"]
    if several:
        columns.insert(1, "engine")
    for column in columns:
        table.add_column(column, no_wrap=True)

    def add(cells: list[str]) -> None:
        table.add_row(*(cells if several else [cells[0], *cells[2:]]))

    for engine in engines:
        size = engine.get("builder_image_size_bytes")
        if size:
            add(
                [
                    "SDK image",
                    engine["name"],
                    _size(size),
                    bar(size, largest, 8),
                    "1.00x",
                    *[""] * 5,
                ]
            )
    for variant, row in zip(variants, text_rows, strict=True):
        add(
            [row[0], row[1], row[2], bar(variant.get("size_bytes"), largest, 8), row[3], row[4],
             _seconds(variant.get("build_seconds")), row[6].replace(" ", ""), row[7],
             ui.status_text(row[10])]
        )  # fmt: skip
    if ui.out.is_terminal:
        ui.out.print(table)
    else:  # a log: wide enough for the whole table
        Console(file=ui.out.file, width=110, highlight=False, color_system=None).print(table)
    for variant, row in zip(variants, text_rows, strict=True):
        cached = variant.get("cached_steps") or 0
        ui.out.print(
            f"{row[0]} ({row[1]}): output {row[9]}; leaves behind: {row[8]}"
            + (f"; {cached} build steps from the cache" if cached else ""),
            markup=False,
            highlight=False,
        )
    for engine in engines:
        sdk = engine.get("builder_image") if engine.get("builder_image_size_bytes") else ""
        ui.out.print(
            f"{engine['name']} engine: Docker {engine['version']}, {engine['builder']} builder "
            f"({engine['builder_reason']}), image store {engine['image_store']}"
            + (f", SDK image {sdk}" if sdk else ""),
            markup=False,
            highlight=False,
        )

"""Draw a run's report: Markdown, the terminal comparison, and all files at once (HTML: html.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..workspace import write_atomic, write_json
from .html import render_html
from .records import Report, VariantRecord
from .report import (
    engine_text,
    matrix_rows,
    practice_table,
    run_state,
    seconds_text,
    size_text,
    variant_table,
)


def render_all(report_dir: Path, report: Report) -> dict[str, Path]:
    paths = {
        "json": report_dir / "report.json",
        "md": report_dir / "report.md",
        "html": report_dir / "report.html",
    }
    write_json(paths["json"], report.to_dict())
    write_atomic(paths["md"], render_markdown(report))
    write_atomic(paths["html"], render_html(report))
    return paths


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table's lines; a cell's `|` is escaped and its line breaks are <br>."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", "<br>")

    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(cell(c) for c in row) + " |" for row in rows),
    ]


def render_markdown(report: Report) -> str:
    state, when = run_state(report)
    lines = [
        f"# {report.title}",
        "",
        f"Lab `{report.lab}`, run `{report.run_id}`: **{state}** ({when}).",
        "",
        "## Engines",
        "",
        "| engine | url | version | commit | builder | image store | SDK image |",
        "|---|---|---|---|---|---|---|",
    ]
    for engine in report.engines:
        lines.append(
            f"| {engine.name} | `{engine.url}` | {engine.version} | {engine.commit or '-'} | "
            f"{engine.builder} ({engine.builder_reason}) | {engine.image_store} | "
            f"{engine.builder_image} {size_text(engine.builder_image_size_bytes)} |"
        )
    bases = report.base_images
    if bases is not None:
        lines += [
            "",
            f"Base images: builder `{bases.builder}`, runtime `{bases.runtime}` ({bases.reason}).",
        ]
        for change in bases.substitutions:
            lines.append(f"- {change.file} line {change.line}: `{change.old}` -> `{change.new}`")
    if report.url:
        site = "the lab's fixture site" if report.site == "fixture" else "a real site"
        lines += ["", f"Site: {report.url} ({site})."]
    if report.expected is not None:
        lines.append(f"Expected output: `{json.dumps(report.expected, sort_keys=True)}`.")
    header, rows = variant_table(report)
    if rows:
        lines += ["", "## Comparison", "", *markdown_table(header, rows)]
        lines += [
            "",
            "Sizes and layers are what the engine reports (`docker image inspect`); "
            '"vs SDK image" divides by the builder base image.',
        ]
    lines += matrix_markdown(report)
    lines += ["", "## Steps", ""]
    for step in report.steps:
        lines.append(f"- step {step.index} on {step.engine}: **{step.status}** {step.title}")
        if step.reason:
            lines.append(f"  - {step.reason}")
    header, rows = practice_table(report.practice)
    if rows:
        lines += ["", "## Practice", "", *markdown_table(header, rows)]
    if report.failed_steps:
        first = report.failed_steps[0]
        lines += ["", f"First failure: step {first.index} ({first.title}): {first.reason}"]
    return "\n".join(lines) + "\n"


def matrix_markdown(report: Report) -> list[str]:
    header, rows = matrix_rows(report)
    if not rows:
        return []
    return ["", "## Features x engines", "", *markdown_table(header, rows)]


def print_matrix(report: Report) -> None:
    """The features x engines matrix on the terminal, when the lab has features."""
    from rich import box
    from rich.table import Table

    from .. import ui

    header, rows = matrix_rows(report)
    if not rows or len(header) < 3:
        return
    table = Table(title="Features x engines", title_justify="left", box=box.SIMPLE_HEAD)
    for column in header:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    ui.out.print(table)


def print_comparison(report: Report) -> None:
    """The comparison on the terminal, with size bars; details below the table."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from .. import ui
    from .metrics import bar

    variants = report.variants
    if not variants:
        print_matrix(report)
        return
    engines = report.engines
    largest = max((v.size_bytes or 0 for v in variants), default=0)
    for engine in engines:
        largest = max(largest, engine.builder_image_size_bytes or 0)
    table = Table(
        title=f"{report.title}: comparison",
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        padding=(0, 1, 0, 0),
        pad_edge=False,
    )
    header, text_rows = variant_table(report)
    several = len(engines) > 1
    # Shorter bars on a narrow terminal, so that the table fits without wrapping.
    bar_width = 8 if ui.out.width >= 100 or not ui.out.is_terminal else 4
    columns = ["variant", "size", "", "vs SDK", "layers", "build", "builder", "files/lines",
               "cmds", "result"]  # fmt: skip
    if several:
        columns.insert(1, "engine")
    for column in columns:
        table.add_column(column, overflow="fold")

    def add(cells: list[str]) -> None:
        table.add_row(*(cells if several else [cells[0], *cells[2:]]))

    for engine in engines:
        size = engine.builder_image_size_bytes
        if size:
            add(["SDK image", engine.name, size_text(size), bar(size, largest, bar_width), "1.00x",
                 *[""] * 6])  # fmt: skip
    for variant, cells in zip(variants, text_rows, strict=True):
        row = dict(zip(header, cells, strict=True))
        add(
            [row["variant"], row["engine"], row["image size"], bar(variant.size_bytes,
             largest, bar_width), row["vs SDK image"], row["layers"],
             seconds_text(variant.build_seconds), row["builder"],
             row["files / lines"].replace(" ", ""), row["commands"], ui.status_text(row["result"])]
        )  # fmt: skip
    if ui.out.is_terminal:
        ui.block(table)
    else:  # a log: wide enough for the whole table
        Console(file=ui.out.file, width=110, highlight=False, color_system=None).print(table)
    for variant, cells in zip(variants, text_rows, strict=True):
        row = dict(zip(header, cells, strict=True))
        ui.out.print(variant_details(variant, row), markup=False, highlight=False)
    print_matrix(report)


def variant_details(variant: VariantRecord, row: dict[str, str]) -> str:
    """Pure: what the comparison's table leaves out of a variant: what its image printed
    (when it runs the app), what it leaves behind, its build steps from the cache."""
    details = [f"output {row['output']}"] if variant.produces_app else []
    details.append(f"leaves behind: {row['leaves behind']}")
    cached = variant.cached_steps
    if cached:
        details.append(f"{cached} build step{'s' if cached != 1 else ''} from the cache")
    return f"{row['variant']} ({row['engine']}): " + "; ".join(details)


def print_engines(report: Report) -> None:
    """The run's engines, one line each (`lab.report`; a run says so as it starts)."""
    from .. import ui

    for engine in report.engines:
        ui.out.print(engine_text(engine), markup=False, highlight=False)

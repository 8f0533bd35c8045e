"""Pure: a self-contained HTML report (inline CSS and SVG; no network, no scripts)."""

from __future__ import annotations

import json
from html import escape

from .records import Report
from .report import matrix_rows, practice_table, run_state, size_text, variant_table

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1100px; color: #1d2330; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { margin-top: 2rem; font-size: 1.2rem; }
table { border-collapse: collapse; width: 100%; font-size: .86rem; margin: .5rem 0; }
th, td { border: 1px solid #d5d9e0; padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { background: #eef1f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #137333; font-weight: 600; } .fail { color: #b3261e; font-weight: 600; }
.muted { color: #5f6775; } code { background: #f3f4f7; padding: 0 .2rem; border-radius: 3px; }
.status { display: inline-block; padding: .1rem .5rem; border-radius: 3px; color: #fff; }
.status.passed { background: #137333; } .status.failed, .status.interrupted { background: #b3261e; }
.status.running { background: #8a6d00; }
"""

BAR_COLORS = ("#5b6ee1", "#2a9d8f", "#e76f51", "#8d5fd3", "#e9c46a", "#264653")


# A generous width of one character at the chart's font size (13px), so that the
# longest label, drawn right-aligned before its bar, starts inside the chart.
CHART_CHAR_WIDTH = 8


def size_chart(bars: list[tuple[str, int]], plot: int = 490) -> str:
    """Pure: horizontal bars, one per (label, bytes), as inline SVG: the labels' column
    as wide as the longest label, `plot` pixels for the longest bar."""
    if not bars:
        return ""
    row, top = 30, 10
    label_width = 16 + CHART_CHAR_WIDTH * max(len(label) for label, _ in bars)
    width = label_width + plot + 110
    largest = max(size for _, size in bars) or 1
    height = top * 2 + row * len(bars)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="image sizes">'
    ]
    for index, (label, size) in enumerate(bars):
        y = top + index * row
        length = max(2.0, plot * size / largest)
        color = BAR_COLORS[index % len(BAR_COLORS)]
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 19}" text-anchor="end" font-size="13" '
            f'fill="#1d2330">{escape(label)}</text>'
            f'<rect x="{label_width}" y="{y + 5}" width="{length:.1f}" height="{row - 10}" '
            f'rx="3" fill="{color}"><title>{escape(label)}: {size} bytes</title></rect>'
            f'<text x="{label_width + length + 6:.1f}" y="{y + 19}" font-size="13" '
            f'fill="#1d2330">{escape(size_text(size))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


NUMERIC_COLUMNS = ("image size", "vs SDK image", "layers", "build time", "commands")


def _table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:  # type: ignore[assignment]
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for index, cell in enumerate(row):
            css = ' class="num"' if index in numeric else ""
            if cell in ("PASS", "FAIL"):
                css = f' class="{cell.lower()}"'
            cells.append(f"<td{css}>{escape(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def matrix_html(report: Report) -> str:
    header, rows = matrix_rows(report)
    if not rows:
        return ""
    return f"<h2>Features x engines</h2>\n{_table(header, rows)}"


def size_bars(report: Report) -> list[tuple[str, int]]:
    """Pure: the chart's bars: each engine's SDK image, then each variant's image."""
    several = len(report.engines) > 1
    bars: list[tuple[str, int]] = []
    for engine in report.engines:
        if engine.builder_image_size_bytes:
            suffix = f" [{engine.name}]" if several else ""
            bars.append(
                (f"SDK image {engine.builder_image}{suffix}", engine.builder_image_size_bytes)
            )
    for variant in report.variants:
        if variant.size_bytes:
            suffix = f" [{variant.engine}]" if several else ""
            bars.append((f"{variant.name}{suffix}", variant.size_bytes))
    return bars


def render_html(report: Report) -> str:
    title = report.title
    status = str(report.status)
    state, when = run_state(report)
    engine_rows = [
        [
            e.name,
            e.url,
            e.version,
            e.commit or "-",
            f"{e.builder} ({e.builder_reason})",
            e.image_store,
            f"{e.builder_image} ({size_text(e.builder_image_size_bytes)})",
        ]
        for e in report.engines
    ]
    header, rows = variant_table(report)
    bases = report.base_images
    subs = "".join(
        f"<li>{escape(c.file)} line {c.line}: <code>{escape(c.old)}</code> → "
        f"<code>{escape(c.new)}</code></li>"
        for c in (bases.substitutions if bases else ())
    )
    base_text = (
        f"<p>Base images: builder <code>{escape(bases.builder)}</code>, runtime\n"
        f"<code>{escape(bases.runtime)}</code> ({escape(bases.reason)}).</p>"
        if bases
        else ""
    )
    step_rows = [[str(s.index), s.engine, s.title, str(s.status), s.reason] for s in report.steps]
    practice_header, practice_rows = practice_table(report.practice)
    practice = (
        f"<h2>Practice</h2>\n{_table(practice_header, practice_rows, {3, 4})}"
        if practice_rows
        else ""
    )
    expected = report.expected
    site = ""
    if report.url:
        kind = "the lab's fixture site" if report.site == "fixture" else "a real site"
        site = f"<p>Site: <code>{escape(report.url)}</code> ({kind})"
        if expected is not None:
            site += f"; expected output <code>{escape(json.dumps(expected, sort_keys=True))}</code>"
        site += ".</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} — {escape(report.run_id)}</title>
<style>{STYLE}</style></head>
<body>
<h1>{escape(title)}</h1>
<p class="muted">Lab <code>{escape(report.lab)}</code>, run
<code>{escape(report.run_id)}</code> ·
<span class="status {escape(status)}">{escape(state)}</span> · {escape(when)}</p>
<h2>Engines</h2>
{_table(["engine", "url", "version", "commit", "builder", "image store", "SDK image"], engine_rows)}
{base_text}
{f"<ul>{subs}</ul>" if subs else ""}
{site}
<h2>Image sizes</h2>
{size_chart(size_bars(report))}
<p class="muted">Sizes and layers as the engine reports them (docker image inspect).</p>
<h2>Comparison</h2>
{_table(header, rows, {header.index(n) for n in NUMERIC_COLUMNS})}
{matrix_html(report)}
<h2>Steps</h2>
{_table(["step", "engine", "title", "status", "reason"], step_rows)}
{practice}
</body></html>
"""

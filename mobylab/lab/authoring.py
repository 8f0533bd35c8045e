"""Writing labs: lab.new's starting lab, and lab.lint's every problem with its line.

`new_lab` writes a small lab that works at once (one step, a check, a task, a hint):
`lab.verify PATH` passes it on any engine. `lint_lab` reads a lab folder without
running anything and returns every problem of its lab.toml, each as
`file:line: field: problem` (the line found from the field's name by `field_line`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..catalog import check_name
from ..errors import LabError
from .model import field_problems

LAB_TOML = '''\
# A lab: its title, the steps a learner follows, and what checks each step.
# The format, field by field: docs/labs.md. Try it: `invoke lab.verify {path}`.
title = "{name}"
summary = "One image, built and run, checked by what it prints"
introduction = "What this lab teaches, in a few lines of Markdown."
closing = "What to read or try next."
# The offline base images the lab uses; FROM lines naming `alpine` get the runtime one.
images = ["runtime"]
app = "app"

[base_images]
runtime = ["alpine"]

[[steps]]
title = "Build and run an image"
feature = "docker build and docker run"
narrative = """
Shown before the step's commands run (Markdown). Name the engine release that brought
the feature, and declare it below with `needs_api` (and `needs_builder`) so an engine
without it gets "not in this engine" instead of a failure.
"""
show = ["Dockerfile"]
commands = [
  "docker build -t {{tag_prefix}}:latest .",
  "docker run --rm {{tag_prefix}}:latest",
]
task = """
Build the `Dockerfile` of this folder as `$TAG:latest`, then run it once.
"""
hints = ["docker build -t $TAG:latest .   then   docker run --rm $TAG:latest"]

[[steps.checks]]
type = "output-equals"
expected = "hello from {name}"
hint = "The image's CMD prints this line; check the Dockerfile."
'''

DOCKERFILE = """\
FROM alpine
CMD ["echo", "hello from {name}"]
"""


def new_lab(parent: Path, name: str) -> Path:
    """Write the starting lab `name` in `parent`; refuses a folder that exists."""
    check_name(name)
    folder = parent / name
    if folder.exists() or folder.is_symlink():
        raise LabError(
            f"{folder} exists: lab.new writes a new folder and overwrites nothing",
            "Pick another name or --dir.",
        )
    (folder / "app").mkdir(parents=True)
    (folder / "lab.toml").write_text(LAB_TOML.format(name=name, path=folder))
    (folder / "app" / "Dockerfile").write_text(DOCKERFILE.format(name=name))
    return folder


@dataclass(frozen=True)
class LintProblem:
    """One problem of a lab.toml, where it is."""

    file: str
    line: int | None
    field: str
    problem: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {self.field}: {self.problem}" if self.field else f"{where}: {self.problem}"
        )


_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.-]+)\s*\]\]?")
_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")
_SEGMENT = re.compile(r"([A-Za-z0-9_-]+)(?:\[(\d+)\])?")


def _table_paths(lines: list[str]) -> list[tuple[int, str]]:
    """Pure: each table header's line (1-based) and its path as a field names it
    (`steps[1]`, `steps[1].checks[0]`, `base_images`)."""
    counts: dict[str, int] = {}
    current: dict[str, str] = {}
    found = []
    for number, line in enumerate(lines, 1):
        match = _HEADER.match(line)
        if not match:
            continue
        array, dotted = match.group(1) == "[[", match.group(2).split(".")
        path = ""
        for depth, name in enumerate(dotted):
            parent = path
            path = f"{path}.{name}" if path else name
            if depth < len(dotted) - 1:
                path = current.get(path, path)
            elif array:
                key = f"{parent}/{name}"
                counts[key] = counts.get(key, -1) + 1
                path = f"{path}[{counts[key]}]"
                current[f"{parent}.{name}" if parent else name] = path
        found.append((number, path))
    return found


def field_line(text: str, where: str) -> int | None:
    """Pure: the line of lab.toml that holds the field `where` (`steps[2].checks[0].type`):
    its key's line in the closest table that holds it, else that table's header line."""
    lines = text.splitlines()
    headers = _table_paths(lines)
    table_line, table_path = 0, ""
    for number, path in headers:
        if (where == path or where.startswith(path + ".")) and len(path) >= len(table_path):
            table_line, table_path = number, path
    end = next((n for n, _ in headers if n > table_line), len(lines) + 1)
    key = _SEGMENT.match(where[len(table_path) :].lstrip("."))
    if key:
        for number in range(table_line + 1, end):
            found = _KEY.match(lines[number - 1])
            if found and found.group(1) == key.group(1):
                return number
    return table_line or None


def lint_lab(folder: Path) -> list[LintProblem]:
    """Every problem of the lab in `folder`, without running anything."""
    path = folder / "lab.toml"
    source = str(path)
    if not path.is_file():
        return [LintProblem(str(folder), None, "", "not a lab folder: it has no lab.toml")]
    text = path.read_text(errors="replace")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        at = re.search(r"at line (\d+), column (\d+)", str(exc))
        line = int(at.group(1)) if at else None
        where = f"{source}:{line}:{at.group(2)}" if at else source
        return [LintProblem(where, None, "", f"not valid TOML ({exc})")]
    found = [
        LintProblem(source, field_line(text, p.where), p.where, p.problem)
        for p in field_problems(data, folder, source)
    ]
    return sorted(found, key=lambda problem: problem.line or 0)

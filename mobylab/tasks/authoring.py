"""lab.verify, lab.new, lab.lint: checking labs on engines, and writing them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from invoke import task

from .. import catalog as lab_catalog
from .. import ui
from ..errors import LabError
from ..lab import catalog
from ..lab.engine_choice import parse_engine_choice
from ..session import Session
from .base import friendly_errors
from .dev.console import command_after_dashes


@task(
    iterable=["lab", "engine"],
    help={
        "lab": "a lab's name or the path of a lab folder (repeat the flag, or give the labs "
        "after --; default: every lab)",
        "engine": "host (default), dev, both or dev:<commit>; repeat it for several engines",
        "json": "print the labs x steps x engines matrix as JSON",
    },
)
@friendly_errors
def verify(c, lab=None, engine=None, json_=False):
    """Run each lab's reference solution on each engine: `invoke lab.verify [-- LAB...]`."""
    from rich.markup import escape

    from ..lab.verify import failure, matrix_table_rows, verify

    session = Session.from_context(c)
    given = [name for name in (lab or []) if name] + command_after_dashes(sys.argv)
    names = given or list(lab_catalog.available(session.settings))
    labs = [catalog.find_lab(name, session.settings) for name in names]
    matrix = verify(session, labs, parse_engine_choice(engine))
    if json_:
        print(json.dumps(matrix.to_dict(), indent=2))
    else:
        columns, rows = matrix_table_rows(matrix)
        # A cell's reason is the engine's words: "[/bin/sh -c ...]" is no markup.
        shown = [[escape(cell) for cell in row] for row in rows]
        ui.out.print(ui.table(columns, shown, title="lab.verify"))
        for verified in matrix.labs:
            ui.info(f"{verified.lab}: {verified.report}")
    error = failure(matrix)
    if error is not None:
        raise error


@task(
    help={
        "name": "the new lab's name (its folder's)",
        "dir": "the folder to write it in (default: the labs_dir setting, else ./labs)",
    }
)
@friendly_errors
def new(c, name, dir=None):
    """Write a small working lab to start from (one step, a check, a task, a hint)."""
    from ..lab.authoring import new_lab

    session = Session.from_context(c)
    parent = Path(dir or session.settings.labs_dir or "labs").expanduser()
    folder = new_lab(parent, name)
    ui.info(f"wrote {folder}: try it with `invoke lab.verify {folder}`")


@task(help={"path": "a lab folder, or a lab's name"})
@friendly_errors
def lint(c, path):
    """Validate a lab without running it: every problem as file:line: field: problem."""
    from ..lab.authoring import lint_lab

    session = Session.from_context(c)
    folder = (
        Path(path) if lab_catalog.is_path(path) else lab_catalog.lab_folder(path, session.settings)
    )
    problems = lint_lab(folder)
    for problem in problems:
        print(problem)
    if problems:
        raise LabError(f"{len(problems)} problem(s) in {folder / 'lab.toml'}", "Fix the lab file.")
    ui.info(f"{folder / 'lab.toml'}: no problems")

"""lab.list, lab.show, lab.run, lab.practice, lab.multistage, lab.report, lab.clean
(and lab.verify, lab.new, lab.lint from the authoring tasks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke import Collection, task

from .. import catalog as lab_catalog
from .. import ui
from ..errors import LabError, UsageError
from ..lab import catalog
from ..lab.engine_choice import parse_engine_choice
from ..session import Session
from .authoring import lint, new, verify
from .base import friendly_errors

if TYPE_CHECKING:
    from ..lab.model import Lab
    from ..lab.records import Report
    from ..lab.setup import RunOptions

# The lab runner, its reports and rich's Markdown/Syntax load inside the tasks:
# listing the tasks must stay fast.

RUN_HELP = {
    "yes": "run straight through, without waiting for Enter before each step",
    "engine": "host (default), dev (the dev daemon), both, or dev:<commit> (a dev build); "
    "repeat it for several engines in one run, side by side",
    "step": "run only step N (of the last run of this lab, when there is one)",
    "from": "run from step N on (resuming the last run of this lab, when there is one)",
}


def _step_number(flag: str, value: object) -> int | None:
    """A step number flag as an int, or a one-line usage error."""
    if value is None:
        return None
    try:
        number = int(str(value))
    except ValueError:
        raise UsageError(f"{flag} {value!r} is not a step number", "Give e.g. 1.") from None
    if number < 1:
        raise UsageError(f"{flag} {value!r} is not a step number", "Steps count from 1.")
    return number


def _options(
    yes: bool,
    engine: list[str] | None,
    step: int | None,
    from_: int | None,
    url: str | None = None,
) -> RunOptions:
    from ..lab.setup import RunOptions

    return RunOptions(
        yes=yes,
        step=_step_number("--step", step),
        from_step=_step_number("--from", from_),
        engine=parse_engine_choice(engine),
        url=url,
        guided=ui.interactive() and not yes,
    )


def _finish(report: Report) -> None:
    from ..lab import render

    render.print_comparison(report)
    for kind, path in report.paths.items():
        ui.info(f"report ({kind}): {path}")


def _run(session: Session, lab: Lab, options: RunOptions) -> None:
    from ..lab.runner import run_lab

    run_lab(session, lab, options, on_report=_finish)


@task(name="list")
@friendly_errors
def list_(c):
    """List the labs."""
    session = Session.from_context(c)
    rows: list[tuple[str, str, str]] = []
    for name in lab_catalog.available(session.settings):
        try:
            lab = catalog.find_lab(name, session.settings)
            rows.append((name, str(len(lab.steps)), lab.summary or lab.title))
        except LabError as exc:
            rows.append((name, "-", f"broken: {exc.one_line()}"))
    if not rows:
        ui.info("no labs found")
        return
    ui.out.print(ui.table(["lab", "steps", "what it shows"], rows, title="Labs"))


@task(help={"name": "a lab's name or the path of a lab folder"})
@friendly_errors
def show(c, name):
    """Print a lab (narrative, files, commands, checks) without running it."""
    from ..lab.present import print_lab

    session = Session.from_context(c)
    lab = catalog.find_lab(name, session.settings)
    print_lab(lab)


@task(iterable=["engine"], help={"name": "a lab's name or the path of a lab folder", **RUN_HELP})
@friendly_errors
def run(c, name, yes=False, engine=None, step=None, from_=None):
    """Run a lab: guided on a terminal, straight through with --yes or without one."""
    session = Session.from_context(c)
    lab = catalog.find_lab(name, session.settings)
    _run(session, lab, _options(yes, engine, step, from_))


@task(
    iterable=["engine"],
    help={
        **RUN_HELP,
        "url": "count the links of this real page instead of the fixture site (no exact check)",
        "source": "a repository (path or URL) laid out like href-counter, built as it is",
        "practice": "type each step yourself in a shell; `lab check` checks it (see lab.practice)",
    },
)
@friendly_errors
def multistage(
    c, yes=False, engine=None, step=None, from_=None, url=None, source=None, practice=False
):
    """The flagship lab: the 2017 builder pattern vs multi-stage builds, measured."""
    session = Session.from_context(c)
    lab = catalog.find_lab("multistage", session.settings)
    if url is not None:
        from ..lab.external import validate_page_url

        url = validate_page_url(url)
    if source is not None:
        from ..lab.external import source_lab

        lab = source_lab(session, lab, source)
    if practice:
        if from_ is not None or yes:
            raise UsageError("--practice goes with --engine, --step, --url and --source only")
        _practice(session, lab, engine, step, url)
        return
    _run(session, lab, _options(yes, engine, step, from_, url))


def _practice(
    session: Session, lab: Lab, engine: str | list[str] | None, step: object, url: str | None
) -> None:
    from ..lab.practice.start import PracticeOptions, practice

    options = PracticeOptions(
        engine=parse_engine_choice(engine, several=False),
        step=_step_number("--step", step),
        url=url,
    )
    practice(session, lab, options)


PRACTICE_HELP = {
    "engine": "host (default), dev (the dev daemon) or dev:<commit> (a dev build)",
    "step": "start at step N (default: the first step not done yet)",
}


@task(help={"name": "a lab's name or the path of a lab folder", **PRACTICE_HELP})
@friendly_errors
def practice(c, name, engine="host", step=None):
    """Do a lab yourself: each step's task, a shell to type in, and `lab check` to check it."""
    session = Session.from_context(c)
    lab = catalog.find_lab(name, session.settings)
    _practice(session, lab, engine, step, None)


@task(name="report", help={"run": "the run id (default: the last run)"})
@friendly_errors
def report_(c, run=None):
    """Render a run's report again (JSON, Markdown, HTML) and print the paths."""
    from ..lab.render import print_comparison, print_engines
    from ..lab.runner import render_again

    report, paths = render_again(Session.from_context(c).workspace, run)
    print_comparison(report)
    print_engines(report)
    for kind, path in paths.items():
        ui.out.print(f"{kind}: {path}", markup=False, highlight=False)


@task(
    help={
        "run": "only this run's images and containers (default: every lab run of this workspace)",
        "all": "every workspace's lab runs on this engine, not only this one's",
    }
)
@friendly_errors
def clean(c, run=None, all_=False):
    """Remove the images and containers this workspace's lab runs made (labelled by mobylab)."""
    from ..lab.runner import clean_runs

    if run and all_:
        raise UsageError("--run and --all do not go together", "Give one of them.")
    removed = clean_runs(Session.from_context(c), run, all_workspaces=bool(all_))
    ui.info(f"removed {removed} lab image tag(s) and container(s)")


ns = Collection("lab", list_, show, run, practice, multistage, report_, clean, verify, new, lint)

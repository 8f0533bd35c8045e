"""Practice mode: the learner types each step, the lab checks the engine's state.

`lab.practice NAME` prepares a run as guided mode does (engine, base images, the
work folder, the fixture site), prints the step's narrative and task, and opens
the learner's shell there (shell), with the `lab` command (cli) working
on the run (run). Leaving the shell stops the
clocks and keeps the progress; the next `lab.practice NAME` resumes at the first
step not done.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ... import process, ui
from ...engine import Engine
from ...errors import LabError, MobylabError, UsageError
from ...workspace import read_json, write_json
from .. import render
from .. import report as report_mod
from ..execute import (
    engine_record,
    open_engines,
    prepare_workdir,
    shown_step,
    start_container_site,
)
from ..features import lacking_need
from ..model import Lab, practice_problem
from ..present import ShownStep
from ..records import EngineRecord, Report, StepRecord, Substitution
from ..setup import RunOptions, RunSetup, prepare
from ..site import ContainerSite, FixtureSite
from . import shell
from . import state as ps
from .present import PracticePresenter
from .run import PracticeRun, state_path

if TYPE_CHECKING:
    from ...session import Session

LATEST_STATE = "practice-latest"


@dataclasses.dataclass(frozen=True)
class PracticeOptions:
    engine: str = "host"
    step: int | None = None
    url: str | None = None


def resumable(session: Session, lab: Lab, choice: str) -> ps.PracticeState | None:
    """The lab's last practice run on this engine, when it has steps left."""
    run_id = (session.workspace.load_state(LATEST_STATE, {}) or {}).get(lab.name)
    if not run_id:
        return None
    path = state_path(session.workspace.reports / str(run_id))
    try:
        state = ps.parse_state(path.read_text())
    except (OSError, ValueError):
        return None
    if state.get("choice") != choice or len(state["steps"]) != len(lab.steps):
        return None
    return state if ps.first_unfinished(state) is not None else None


def _start_site(setup: RunSetup, engine: Engine) -> FixtureSite | ContainerSite | None:
    """The fixture site for this session in the shell (its port may change on resume)."""
    if not setup.fixture_site:
        return None
    if engine.kind == "dev":
        return start_container_site(setup, engine)
    return FixtureSite(setup.lab.path / setup.lab.site, setup.lab.site_port).start()


def lacking_steps(lab: Lab, engine: EngineRecord) -> list[StepRecord]:
    """Pure: the steps whose declared needs the engine lacks, as "not in this engine"."""
    found = []
    for number, step in enumerate(lab.steps, 1):
        reason = lacking_need(step, engine)
        if reason:
            found.append(StepRecord.not_in_engine(number, engine.name, step.title, reason))
    return found


def _practice_report(setup: RunSetup, report: Report, resumed: bool) -> Report:
    """The run's report: a resumed run's steps and start kept, marked a practice run."""
    data = read_json(setup.report_dir / "report.json") if resumed else None
    old = Report.from_dict(data) if isinstance(data, dict) else None
    return replace(
        report,
        steps=old.steps if old else (),
        started=(old.started if old else "") or report.started,
        mode="practice",
    )


def refuse_without_texts(lab: Lab) -> None:
    """A lab without practice texts cannot be practised: say so, as lab.practice does."""
    problem = practice_problem(lab)
    if problem:
        raise LabError(
            f"lab {lab.name} has no practice texts: {problem}",
            f"Run it guided with `invoke lab.run {lab.name}`, or add the tasks to its lab.toml.",
        )


@dataclasses.dataclass(frozen=True)
class OpenedPractice:
    """A practice run ready for a shell: its set-up, state file, work folder, the names
    the shell gets ($TAG, $URL ...), the step it opens at and the steps not in its engine."""

    setup: RunSetup
    state_path: Path
    engine: Engine
    workdir: Path
    substitutions: tuple[Substitution, ...]
    values: dict[str, str]
    number: int
    absent: tuple[StepRecord, ...]
    site: FixtureSite | ContainerSite | None
    resumed: bool

    @property
    def folder(self) -> Path:
        """The shell's folder: its bin/, bashrc and prompt."""
        return self.setup.report_dir / "practice"

    def shown(self) -> ShownStep:
        return shown_step(
            self.setup, self.number, self.engine.name, self.workdir, self.substitutions
        )


def open_practice(
    session: Session,
    lab: Lab,
    options: PracticeOptions,
    *,
    previous: ps.PracticeState | None = None,
    run_id: str | None = None,
    engine: Engine | None = None,
    attended: bool = True,
) -> OpenedPractice:
    """Set a practice run up (continuing `previous`, else as `run_id` or a new run) on
    `engine`, else on the engine of `options`: the work folder, the fixture site,
    practice.json and the report. `attended` False: nobody is at the shell yet (a
    served seat before its attendee joins), so the step's clock does not run."""
    refuse_without_texts(lab)
    if options.step is not None and not 1 <= options.step <= len(lab.steps):
        raise UsageError(
            f"--step {options.step} is not a step of this lab", f"Steps are 1 to {len(lab.steps)}."
        )
    run_options = RunOptions(engine=options.engine, url=options.url)
    setup = prepare(session, lab, run_options, run_id=previous["run_id"] if previous else run_id)
    engine = engine or open_engines(session, setup)[0]
    record = engine_record(session, setup, engine)
    workdir, substitutions = prepare_workdir(setup, engine.name, keep=previous is not None)
    site = _start_site(setup, engine)
    url = site.url if site is not None else options.url or ""
    report = setup.start_report([replace(record, site_url=url)], substitutions)
    report = replace(
        _practice_report(setup, report, previous is not None),
        workdirs={engine.name: str(workdir)},
    )
    values = setup.values(url)
    now = time.time()
    state = previous or ps.new_state(
        lab=lab.name,
        run_id=setup.run_id,
        titles=[s.title for s in lab.steps],
        now=now,
        lab_dir=str(lab.path),
        app_dir=str(lab.app_dir) if lab.app_dir else "",
        source=lab.source,
        choice=options.engine,
        exact=options.url is None,
        workdir=str(workdir),
        bases=dataclasses.asdict(setup.bases),
        substitutions=[change.to_dict() for change in substitutions],
    )
    state["engine"] = {"url": engine.url, "kind": engine.kind, "name": engine.name}
    state["values"] = values
    absent = lacking_steps(lab, record)
    for missing in absent:
        ps.not_in_engine(state, missing.index)
        report = report.with_step(missing)
    path = state_path(setup.report_dir)
    number = options.step or ps.first_unfinished(state) or 1
    ps.enter(state, number, now)
    if not attended:
        ps.leave(state, now)
    folder = setup.report_dir / "practice"
    write_json(path, state)
    shell.write_prompt(folder, ps.prompt_text(state))
    report_mod.write(setup.report_dir, report)
    report_mod.point_latest(session.workspace, lab.name, setup.run_id)
    PracticeRun.open(path).write_report()
    return OpenedPractice(
        setup=setup,
        state_path=path,
        engine=engine,
        workdir=workdir,
        substitutions=substitutions,
        values=values,
        number=number,
        absent=tuple(absent),
        site=site,
        resumed=previous is not None,
    )


def leave_practice(path: Path) -> ps.PracticeState | None:
    """Stop the clocks of a run whose shell closed; the progress is kept."""
    return _clock_change(path, lambda run, now: ps.leave(run.state, now))


def rejoin_practice(path: Path) -> ps.PracticeState | None:
    """Start the current step's clock again: its learner is back at the shell."""
    return _clock_change(path, lambda run, now: ps.enter(run.state, run.number, now))


def _clock_change(
    path: Path, change: Callable[[PracticeRun, float], None]
) -> ps.PracticeState | None:
    """The run's state after `change`, saved with its report (None: no run there)."""
    with contextlib.suppress(MobylabError):
        run = PracticeRun.open(path)
        change(run, time.time())
        run.save()
        run.write_report()
        return run.state
    return None


def practice(session: Session, lab: Lab, options: PracticeOptions) -> ps.PracticeState:
    """Open the practice shell at the first unfinished step (or --step); returns the state
    when the learner leaves."""
    refuse_without_texts(lab)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError(
            "lab.practice needs a terminal: it opens a shell for you to type in",
            f"Run it in a terminal; `invoke lab.run {lab.name} --yes` runs a lab without one.",
        )
    opened = open_practice(session, lab, options, previous=resumable(session, lab, options.engine))
    setup, path, folder = opened.setup, opened.state_path, opened.folder
    shell.write_shell_files(
        folder,
        python=sys.executable,
        package_parent=Path(__file__).resolve().parents[3],
        real_docker=shutil.which("docker") or "docker",
        label_flags=setup.label_flags,
    )
    latest = session.workspace.load_state(LATEST_STATE, {}) or {}
    session.workspace.save_state(LATEST_STATE, {**latest, lab.name: setup.run_id})
    presenter = PracticePresenter(
        opened.values, resumed_at=opened.number if opened.resumed else None
    )
    state = PracticeRun.open(path).state
    try:
        presenter.introduce(setup)
        for missing in opened.absent:
            ui.warn(
                f"step {missing.index} ({missing.title}): not in this engine "
                f"({missing.reason}); practice moves on"
            )
        presenter.step(opened.shown())
        env = shell.shell_environment(
            os.environ,
            opened.engine.cli_env(),
            opened.values,
            folder,
            path,
            ps.prompt_text(state),
        )
        argv = shell.shell_argv(os.environ.get("SHELL"), folder / "bashrc")
        process.interactive(argv, cwd=opened.workdir, env=env)
    finally:
        if opened.site is not None:
            opened.site.stop()
        state = leave_practice(path) or state
    _farewell(presenter, lab, state, setup.report_dir, session.settings.command)
    return state


def _farewell(
    presenter: PracticePresenter,
    lab: Lab,
    state: ps.PracticeState,
    report_dir: Path,
    command: str,
) -> None:
    left = ps.first_unfinished(state)
    data = read_json(report_dir / "report.json")
    if left is None:
        if isinstance(data, dict):
            render.print_comparison(Report.from_dict(data))
        presenter.closing(lab)
        ui.info(f"practice done: every step of {lab.name} finished")
    else:
        ui.info(
            f"left the lab at step {state['current']}; progress kept: "
            f"`{command} lab.practice {lab.name}` resumes at step {left}"
        )
    ui.info(f"report (html): {report_dir / 'report.html'}")


__all__ = ["OpenedPractice", "PracticeOptions", "leave_practice", "open_practice", "practice"]

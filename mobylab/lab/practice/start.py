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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markdown import Markdown

from ... import labels, ui
from ...engine import Engine
from ...errors import LabError, MobylabError, UsageError
from ...workspace import read_json, write_json
from .. import render
from .. import report as report_mod
from ..bases import prepare_bases
from ..model import Lab, practice_problem
from ..runner import EngineRun, LabRunner, RunOptions
from ..site import FixtureSite
from . import shell
from . import state as ps
from .run import PracticeRun, present, state_path

if TYPE_CHECKING:
    from ...session import Session

LATEST_STATE = "practice-latest"
SHELL_NOTE = (
    "In this shell `docker` adds mobylab's labels to what you build and run (so "
    "`invoke lab.clean` finds it). `lab check` checks your step, `lab hint` gives a hint, "
    "`lab solve` shows the way, `lab next` moves on, `lab status`, `lab show FILE`, "
    "`lab reset`; `exit` leaves (your progress is kept)."
)


@dataclasses.dataclass(frozen=True)
class PracticeOptions:
    engine: str = "host"
    step: int | None = None
    url: str | None = None


def resumable(session: Session, lab: Lab, choice: str) -> dict[str, Any] | None:
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


def _start_site(runner: LabRunner, engine: Engine, run: EngineRun) -> Any:
    """The fixture site for this session in the shell (its port may change on resume)."""
    if not runner.lab.site or runner.options.url:
        return None
    if engine.kind == "dev":
        return runner.start_container_site(engine, run)
    site = FixtureSite(runner.lab.path / runner.lab.site, runner.lab.site_port).start()
    run.values["url"] = site.url
    return site


def practice(session: Session, lab: Lab, options: PracticeOptions) -> dict[str, Any]:
    """Open the practice shell at the first unfinished step (or --step); returns the state
    when the learner leaves."""
    problem = practice_problem(lab)
    if problem:
        raise LabError(
            f"lab {lab.name} has no practice texts: {problem}",
            f"Run it guided with `invoke lab.run {lab.name}`, or add the tasks to its lab.toml.",
        )
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError(
            "lab.practice needs a terminal: it opens a shell for you to type in",
            f"Run it in a terminal; `invoke lab.run {lab.name} --yes` runs a lab without one.",
        )
    if options.step is not None and not 1 <= options.step <= len(lab.steps):
        raise UsageError(
            f"--step {options.step} is not a step of this lab", f"Steps are 1 to {len(lab.steps)}."
        )
    previous = resumable(session, lab, options.engine)
    runner = LabRunner(session, lab, RunOptions(engine=options.engine, url=options.url))
    if previous is not None:
        runner.run_id = previous["run_id"]
        runner.report_dir = session.workspace.reports / runner.run_id
    engine = runner.engines()[0]
    if runner.bases.offline:
        prepare_bases(engine, session.workspace, session.settings, lab.images)
    info = runner.engine_info(engine)
    runner.start_report([info])
    old_report = read_json(runner.report_dir / "report.json") if previous else None
    runner.report["steps"] = (old_report or {}).get("steps", [])
    runner.report["started"] = (old_report or {}).get("started") or runner.report["started"]
    runner.report["mode"] = "practice"
    workdir = runner.prepare_workdir(engine, keep=previous is not None)
    run = EngineRun(runner, engine, info, workdir)
    site = _start_site(runner, engine, run)
    info["site_url"] = run.values["url"]
    now = time.time()
    state = previous or ps.new_state(
        lab=lab.name,
        run_id=runner.run_id,
        titles=[s.title for s in lab.steps],
        now=now,
        lab_dir=str(lab.path),
        app_dir=str(lab.app_dir) if lab.app_dir else "",
        source=lab.source,
        choice=options.engine,
        exact=options.url is None,
        workdir=str(workdir),
        bases=dataclasses.asdict(runner.bases),
        substitutions=runner.substitutions,
    )
    state.update(engine={"url": engine.url, "kind": engine.kind, "name": engine.name})
    state.update(values=dict(run.values))
    path = state_path(runner.report_dir)
    number = options.step or ps.first_unfinished(state) or 1
    ps.enter(state, number, now)
    folder = runner.report_dir / "practice"
    real_docker = shutil.which("docker") or "docker"
    shell.write_shell_files(
        folder,
        python=sys.executable,
        package_parent=Path(__file__).resolve().parents[3],
        real_docker=real_docker,
        label_flags=labels.label_flags("lab", lab=lab.name, run=runner.run_id),
    )
    write_json(path, state)
    shell.write_prompt(folder, ps.prompt_text(state))
    report_mod.write(runner.report_dir, runner.report)
    report_mod.point_latest(session.workspace, lab.name, runner.run_id)
    latest = session.workspace.load_state(LATEST_STATE, {}) or {}
    session.workspace.save_state(LATEST_STATE, {**latest, lab.name: runner.run_id})
    try:
        practice_run = PracticeRun(path)
        practice_run.write_report()
        _introduce(runner, previous is not None, number)
        present(run, lab, number)
        env = shell.shell_environment(
            os.environ, engine.cli_env(), run.values, folder, path, ps.prompt_text(state)
        )
        shell.open_shell(shell.shell_argv(os.environ.get("SHELL"), folder / "bashrc"), workdir, env)
    finally:
        if site is not None:
            site.stop()
        with contextlib.suppress(MobylabError):
            left = PracticeRun(path)
            ps.leave(left.state, time.time())
            left.save()
            left.write_report()
            state = left.state
    _farewell(lab, state, runner.report_dir)
    return state


def _introduce(runner: LabRunner, resumed: bool, number: int) -> None:
    lab = runner.lab
    ui.out.rule(f"{lab.title} — practice")
    verb = f"resumed at step {number}" if resumed else "new practice run"
    ui.out.print(
        f"run {runner.run_id} ({verb}) — report in {runner.report_dir}", style="dim", markup=False
    )
    if lab.introduction and not resumed:
        ui.out.print(Markdown(lab.introduction), soft_wrap=False)
    ui.out.print(Markdown(SHELL_NOTE), style="dim", soft_wrap=False)


def _farewell(lab: Lab, state: dict[str, Any], report_dir: Path) -> None:
    left = ps.first_unfinished(state)
    report = read_json(report_dir / "report.json") or {}
    if left is None:
        render.print_comparison(report)
        if lab.closing:
            ui.out.rule("Closing")
            ui.out.print(Markdown(lab.closing), soft_wrap=False)
        ui.info(f"practice done: every step of {lab.name} finished")
    else:
        ui.info(
            f"left the lab at step {state['current']}; progress kept: "
            f"`invoke lab.practice {lab.name}` resumes at step {left}"
        )
    ui.info(f"report (html): {report_dir / 'report.html'}")


__all__ = ["PracticeOptions", "practice"]

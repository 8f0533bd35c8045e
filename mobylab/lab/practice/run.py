"""A practice run as the `lab` command inside the shell sees it, and what it does.

`PracticeRun.open` reads the run's state (state) and sets the run up as guided
mode would, so `lab check` and `lab solve` run commands on the engine (execute)
and judge them (judge) as guided mode does. The report (report.json, .md, .html)
is rewritten after every check, with each step's attempts, hints, how it was done
and the time spent.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ... import ui
from ...engine import Engine, display_url
from ...errors import EngineError, LabError, UsageError
from ...workspace import read_json, write_json
from ..bases import BaseImages
from ..checks import CheckResult
from ..dockerfile import is_dockerfile, substitute_from
from ..execute import EngineRun, run_replacements, shown_step
from ..judge import (
    blocking_check,
    judge_checks,
    judge_step,
    reads_output,
    state_checks,
    variant_output,
    variant_record,
)
from ..model import Lab, Step, load_lab, outside_problem
from ..present import file_panel
from ..records import (
    CommandResult,
    Report,
    Status,
    StepRecord,
    Substitution,
)
from ..report import practice_table
from ..runner import publish, run_step
from ..setup import RunOptions, RunSetup, now_text, plan_run
from . import shell
from . import state as ps
from .present import PracticePresenter


def state_path(report_dir: Path) -> Path:
    return report_dir / ps.FILE_NAME


def read_state(path: Path) -> ps.PracticeState:
    """The state file, or a LabError saying what is wrong with it."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise LabError(
            f"cannot read the practice state {path}: {exc.strerror}",
            "Start again with `invoke lab.practice NAME`.",
        ) from None
    try:
        return ps.parse_state(text)
    except ValueError as exc:
        raise LabError(
            f"the practice state {path} is {exc}", "Start again with `invoke lab.practice NAME`."
        ) from None


def practice_commands(step: Step) -> list[int]:
    """Pure: the step's commands `lab check` runs: those its output checks read, and
    the variant's last run command (its output feeds variants-agree). Never a build."""
    count = len(step.commands)
    wanted = {c.command % count for c in step.checks if reads_output(c) and count}
    runs = [i for i, c in enumerate(step.commands) if c.role == "run"]
    if step.variant is not None and step.variant.produces_app and runs:
        wanted.add(runs[-1])
    return sorted(i for i in wanted if step.commands[i].role != "build")


def showable_files(lab: Lab, workdir: Path) -> list[str]:
    """The files `lab show` prints: the work folder's, and the lab's fixture site's
    (site/README.md), which hints name."""
    files = sorted(p.name for p in workdir.iterdir() if p.is_file())
    if lab.site and (lab.path / lab.site).is_dir():
        site = lab.path / lab.site
        files += sorted(f"{lab.site}/{p.name}" for p in site.iterdir() if p.is_file())
    return files


def shown_file(lab: Lab, workdir: Path, name: str) -> Path:
    """The file `lab show NAME` prints, or a UsageError naming the files it can show."""
    problem = outside_problem(name)
    path = workdir / name
    if problem or not path.resolve().is_relative_to(workdir.resolve()):
        raise UsageError(
            f"lab show {name!r}: it {problem or 'leads outside the work folder'}",
            "Name a file of the work folder.",
        )
    if path.is_file():
        return path
    if name in showable_files(lab, workdir):
        return lab.path / name
    files = ", ".join(showable_files(lab, workdir))
    raise UsageError(f"no file {name!r} in the work folder", f"Its files: {files}.")


def restored_files(step: Step, source_files: list[str]) -> list[str]:
    """Pure: the files `lab reset` restores for a step: those it shows and its variant
    maintains, else every file of the lab's work folder."""
    named = list(step.show) + (list(step.variant.maintain) if step.variant else [])
    return list(dict.fromkeys(named)) or source_files


def restored_text(name: str, text: str, replacements: dict[str, str]) -> str:
    """Pure: a file as the run's work folder starts with it (FROM lines substituted)."""
    return substitute_from(text, replacements)[0] if is_dockerfile(name) else text


class PracticeRun:
    """A practice run as the `lab` command sees it: its state, its set-up, its engine."""

    def __init__(
        self,
        path: Path,
        state: ps.PracticeState,
        setup: RunSetup,
        engine: Engine,
        substitutions: tuple[Substitution, ...],
    ) -> None:
        self.path = path
        self.state = state
        self.setup = setup
        self.lab = setup.lab
        self.engine = engine
        self.workdir = Path(state["workdir"])
        self.substitutions = substitutions
        self.presenter = PracticePresenter(setup.values(state["values"].get("url", "")))

    @classmethod
    def open(cls, path: Path) -> PracticeRun:
        """The run whose state file is `path`; a LabError when it cannot be read."""
        state = read_state(path)
        try:
            return cls(path, state, *_set_up(path, state))
        except (KeyError, TypeError) as exc:
            raise LabError(
                f"the practice state {path} lacks {exc}",
                "Start again with `invoke lab.practice NAME`.",
            ) from None

    # -- the state ------------------------------------------------------------
    @property
    def number(self) -> int:
        return int(self.state["current"])

    @property
    def step(self) -> Step:
        return self.lab.steps[self.number - 1]

    @property
    def report_dir(self) -> Path:
        return self.setup.report_dir

    def save(self) -> None:
        write_json(self.path, self.state)
        shell.write_prompt(self.report_dir / "practice", ps.prompt_text(self.state))

    def engine_run(self) -> EngineRun:
        return EngineRun(
            self.setup,
            self.engine,
            self.workdir,
            self.presenter,
            url=self.state["values"].get("url", ""),
            variant_outputs=dict(self.state.get("variant_outputs") or {}),
        )

    def write_report(self, record: StepRecord | None = None) -> None:
        """The report with the practice so far (and a step's record when it is done)."""
        data = read_json(self.report_dir / "report.json")
        if not isinstance(data, dict):
            raise LabError(
                f"the report of the practice run in {self.report_dir} is gone",
                "Start again with `invoke lab.practice NAME`.",
            )
        report = Report.from_dict(data)
        if record is not None:
            report = report.with_step(record)
        finished = ps.first_unfinished(self.state) is None
        report = replace(
            report,
            practice=ps.summary(self.state, time.time()),
            status=Status.PASSED if finished else Status.RUNNING,
            finished=now_text() if finished else report.finished,
        )
        publish(self.setup, report)

    def _require_engine(self) -> None:
        if self.engine.ping(timeout=5):
            return
        ps.record_not_counted(self.state, time.time())
        self.save()
        raise EngineError(
            f"the {self.engine.name} engine at {display_url(self.engine.url)} does not answer: "
            "this check was not counted",
            "Start it again (`invoke engine.up`, or `invoke dev.up` for dev), then `lab check`.",
        )

    # -- the lab subcommands ----------------------------------------------------
    def check(self) -> bool:
        """Check the current step against the engine now; the attempt is recorded."""
        step, number = self.step, self.number
        self._require_engine()
        run = self.engine_run()
        log = run.log(f"practice-step{number}.log")
        try:
            checks, commands = self._evaluate(run, step, log)
        except EngineError:
            self._require_engine()
            raise
        record = judge_step(
            number, step, self.engine.name, str(log), commands, checks, by_hand=True
        )
        passed = record.status == Status.PASSED
        if not passed and not self.engine.ping(timeout=5):
            self._require_engine()
        self.presenter.verdict(record)
        ps.record_check(self.state, passed, time.time())
        self._finish_check(run, step, record if passed else None)
        return passed

    def _evaluate(
        self, run: EngineRun, step: Step, log: Path
    ) -> tuple[tuple[CheckResult, ...], list[CommandResult]]:
        """The step's checks in the lab's order: the state ones (images, files) first; the
        commands that run the image only when its image checks passed."""
        outputs, codes = [""] * len(step.commands), [0] * len(step.commands)
        done = state_checks(step, run.facts(outputs, codes))
        ran = [] if blocking_check(done.values()) else practice_commands(step)
        commands = []
        for index in ran:
            command = step.commands[index]
            result = run.run_command(command.text, command.role, 0, log)
            commands.append(result)
            outputs[index] = result.output
            codes[index] = result.exit_code
        self._keep_variant_output(step, commands)
        run.variant_outputs.update(self.state["variant_outputs"])
        return judge_checks(step, run.facts(outputs, codes), ran, done), commands

    def solve(self) -> bool:
        """Run the step's reference commands (guided mode's), visibly, then check."""
        number, step = self.number, self.step
        self._require_engine()
        run = self.engine_run()
        ui.out.print(f"Solving step {number}: the commands guided mode runs.", style="dim")
        record = run_step(run, number, step)
        if step.variant is not None and step.variant.produces_app:
            self.state["variant_outputs"][step.variant.name] = run.variant_outputs.get(
                step.variant.name
            )
        passed = record.status == Status.PASSED
        ps.record_check(self.state, passed, time.time(), solved=True)
        self._finish_check(run, step, record if passed else None)
        return passed

    def _keep_variant_output(self, step: Step, commands: list[CommandResult]) -> None:
        if step.variant is None or not step.variant.produces_app:
            return
        self.state["variant_outputs"][step.variant.name] = variant_output(commands)

    def _finish_check(self, run: EngineRun, step: Step, record: StepRecord | None) -> None:
        """Save the state; a passed step's record (measured) goes into the report."""
        if record is not None:
            record = replace(record, measurements=record.measurements or run.measure(step))
            if step.variant is not None:
                # Typed by hand: not timed.
                timed = ps.step_of(self.state)["how"] != ps.How.BY_HAND
                variant = variant_record(step, record, run.variant_facts(step), timed=timed)
                record = replace(record, variant=variant)
            summary = ps.step_summary(ps.step_of(self.state), time.time())
            record = replace(record, practice=summary)
        self.save()
        self.write_report(record)
        if record is not None:
            self.presenter.passed(self.number)

    def hint(self) -> str:
        step = self.step
        hints = list(step.hints) or [c.hint for c in step.checks if c.hint]
        text = ps.take_hint(self.state, hints, time.time())
        if not text:
            return "this step has no hints; `lab solve` shows the way"
        self.save()
        self.write_report()
        return f"{ps.hint_label(ps.step_of(self.state)['hints_shown'], len(hints))}: {text}"

    def next(self, skip: bool) -> int | None:
        problem = ps.advance_problem(self.state, skip)
        if problem:
            raise LabError(problem)
        target = ps.advance(self.state, skip, time.time())
        self.save()
        self.write_report()
        if target is not None:
            shown = shown_step(
                self.setup, target, self.engine.name, self.workdir, self.substitutions
            )
            self.presenter.step(shown)
        return target

    def status_rows(self) -> list[list[str]]:
        rows = practice_table(ps.summary(self.state, time.time()))[1]
        for row in rows:
            if row[0] == str(self.number):
                row[0] = f"> {row[0]}"
        return rows

    def show(self, name: str) -> None:
        path = shown_file(self.lab, self.workdir, name)
        ui.block(file_panel(name, path.read_text(errors="replace")))

    def reset(self) -> list[str]:
        """Put the step's files back as the lab made them; returns what was replaced."""
        source = self.lab.workdir_source
        names = restored_files(self.step, sorted(p.name for p in source.iterdir() if p.is_file()))
        replacements = run_replacements(self.lab, self.setup.bases)
        replaced = []
        for name in names:
            original = restored_text(name, (source / name).read_text(), replacements)
            target = self.workdir / name
            before = target.read_text(errors="replace") if target.is_file() else None
            if before == original:
                continue
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
            target.write_text(original)
            replaced.append(f"{name} ({'it was missing' if before is None else 'it was changed'})")
        return replaced


def _set_up(
    path: Path, state: Mapping[str, Any]
) -> tuple[RunSetup, Engine, tuple[Substitution, ...]]:
    """The run's set-up, engine and FROM substitutions as its state keeps them (the lab
    read again from its folder)."""
    lab = load_lab(Path(state["lab_dir"]))
    if state.get("app_dir"):
        lab = dataclasses.replace(
            lab, app_dir=Path(state["app_dir"]), source=state.get("source", "")
        )
    url = state["values"].get("url", "")
    options = RunOptions(engine=state["choice"], url=None if state["exact"] else url)
    workdir = Path(state["workdir"])
    setup = plan_run(
        lab,
        options,
        reports=path.parent.parent,
        runs=workdir.parent.parent,
        bases=BaseImages(**state["bases"]),
        run_id=state["run_id"],
    )
    changes = tuple(Substitution.from_dict(c) for c in state.get("substitutions") or ())
    return setup, Engine(**state["engine"]), changes

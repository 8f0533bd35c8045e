"""A practice run as the `lab` command inside the shell sees it, and what it does.

PracticeRun reads the run's state (state) and is also the RunContext its
EngineRun needs, so `lab check` and `lab solve` run commands and checks on the
engine as guided mode does. The report (report.json, .md, .html) is rewritten
after every check, with each step's attempts, hints, how it was done and the
time spent. `present` shows a step as practice mode does.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any

from rich.markdown import Markdown
from rich.panel import Panel
from rich.syntax import Syntax

from ... import ui
from ...engine import Engine, display_url
from ...errors import EngineError, LabError, UsageError
from ...workspace import read_json, write_json
from .. import render
from .. import report as report_mod
from ..bases import BaseImages
from ..checks import CheckCategory, CheckResult, category_of, evaluate, last_json, step_status
from ..dockerfile import is_dockerfile, substitute_from
from ..model import Lab, Step, load_lab, outside_problem
from ..runner import EngineRun, RunOptions, lexer_for, run_replacements
from . import shell
from . import state as ps


def state_path(report_dir: Path) -> Path:
    return report_dir / ps.FILE_NAME


def read_state(path: Path) -> dict[str, Any]:
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
    wanted = {
        c.command % count
        for c in step.checks
        if category_of(c.type) is CheckCategory.OUTPUT and count
    }
    runs = [i for i, c in enumerate(step.commands) if c.role == "run"]
    if step.variant is not None and step.variant.produces_app and runs:
        wanted.add(runs[-1])
    return sorted(i for i in wanted if step.commands[i].role != "build")


def restored_files(step: Step, source_files: list[str]) -> list[str]:
    """Pure: the files `lab reset` restores for a step: those it shows and its variant
    maintains, else every file of the lab's work folder."""
    named = list(step.show) + (list(step.variant.maintain) if step.variant else [])
    return list(dict.fromkeys(named)) or source_files


def restored_text(name: str, text: str, replacements: dict[str, str]) -> str:
    """Pure: a file as the run's work folder starts with it (FROM lines substituted)."""
    return substitute_from(text, replacements)[0] if is_dockerfile(name) else text


class PracticeRun:
    """A practice run as the `lab` command sees it; also the RunContext of its EngineRun."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.state = read_state(path)
        try:
            self._load()
        except (KeyError, TypeError) as exc:
            raise LabError(
                f"the practice state {path} lacks {exc}",
                "Start again with `invoke lab.practice NAME`.",
            ) from None

    def _load(self) -> None:
        lab = load_lab(Path(self.state["lab_dir"]))
        if self.state.get("app_dir"):
            lab = dataclasses.replace(
                lab, app_dir=Path(self.state["app_dir"]), source=self.state.get("source", "")
            )
        self.lab: Lab = lab
        self.run_id: str = self.state["run_id"]
        self.bases = BaseImages(**self.state["bases"])
        self.url: str = self.state["values"].get("url", "")
        self.options = RunOptions(
            engine=self.state["choice"], url=None if self.state["exact"] else self.url
        )
        self.report_dir = self.path.parent
        self.substitutions: list[dict[str, Any]] = list(self.state.get("substitutions") or [])
        self.engine = Engine(**self.state["engine"])
        self.workdir = Path(self.state["workdir"])

    # -- the state ------------------------------------------------------------
    @property
    def number(self) -> int:
        return int(self.state["current"])

    @property
    def step(self) -> Step:
        return self.lab.steps[self.number - 1]

    def save(self) -> None:
        write_json(self.path, self.state)
        shell.write_prompt(self.report_dir / "practice", ps.prompt_text(self.state))

    def engine_run(self) -> EngineRun:
        run = EngineRun(self, self.engine, {}, self.workdir)
        run.variant_outputs.update(self.state.get("variant_outputs") or {})
        return run

    def write_report(self, record: dict[str, Any] | None = None) -> None:
        """The report with the practice so far (and a step's record when it is done)."""
        report = read_json(self.report_dir / "report.json") or {}
        now = time.time()
        if record is not None:
            steps = [s for s in report.get("steps", []) if s["index"] != record["index"]]
            report["steps"] = sorted([*steps, record], key=lambda s: s["index"])
        report["practice"] = ps.summary(self.state, now)
        finished = ps.first_unfinished(self.state) is None
        report["status"] = "passed" if finished else "running"
        report["finished"] = report.get("finished") if not finished else _now_text()
        report_mod.refresh(report)
        render.render_all(self.report_dir, report)

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
        log = self.report_dir / "logs" / f"practice-step{number}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        try:
            checks, commands = self._evaluate(run, step, log)
        except EngineError:
            self._require_engine()
            raise
        passed = step_status([True], checks, True) == "passed"
        if not passed and not self.engine.ping(timeout=5):
            self._require_engine()
        record = self._record(number, step, commands, checks, log)
        run.report_checks(checks, record)
        ps.record_check(self.state, passed, time.time())
        self._finish_check(run, step, record if passed else None)
        return passed

    def _evaluate(
        self, run: EngineRun, step: Step, log: Path
    ) -> tuple[list[CheckResult], list[dict[str, Any]]]:
        """The step's checks in the lab's order: the state ones (images, files) first; the
        commands that run the image only when its image checks passed."""
        outputs, codes = [""] * len(step.commands), [0] * len(step.commands)
        facts = run.facts(outputs, codes)
        state_checks = {
            index: evaluate(check, facts)
            for index, check in enumerate(step.checks)
            if category_of(check.type) in (CheckCategory.IMAGE, CheckCategory.STATE)
        }
        blocked = next(
            (
                r
                for r in state_checks.values()
                if category_of(r.type) is CheckCategory.IMAGE and r.passed is False
            ),
            None,
        )
        commands = []
        for index in [] if blocked else practice_commands(step):
            result = run.run_command(step.commands[index].text, log)
            result.update(role=step.commands[index].role, expect_exit=0)
            commands.append(result)
            outputs[index] = "\n".join(result["output_tail"])
            codes[index] = result["exit_code"]
        self._keep_variant_output(step, commands)
        run.variant_outputs.update(self.state["variant_outputs"])
        checks = []
        for index, check in enumerate(step.checks):
            if index in state_checks:
                checks.append(state_checks[index])
            elif blocked is not None and category_of(check.type) is CheckCategory.OUTPUT:
                checks.append(
                    CheckResult(check.type, False, "the image's output",
                                f"not run ({blocked.type}: {blocked.seen})", check.hint)
                )  # fmt: skip
            else:
                checks.append(evaluate(check, facts))
        return checks, commands

    def solve(self) -> bool:
        """Run the step's reference commands (guided mode's), visibly, then check."""
        number, step = self.number, self.step
        self._require_engine()
        run = self.engine_run()
        ui.out.print(f"Solving step {number}: the commands guided mode runs.", style="dim")
        record = run.run_step(number, step)
        if step.variant is not None and step.variant.produces_app:
            self.state["variant_outputs"][step.variant.name] = run.variant_outputs.get(
                step.variant.name
            )
        passed = record["status"] == "passed"
        ps.record_check(self.state, passed, time.time(), solved=True)
        self._finish_check(run, step, record if passed else None)
        return passed

    def _keep_variant_output(self, step: Step, commands: list[dict[str, Any]]) -> None:
        if step.variant is None or not step.variant.produces_app:
            return
        runs = [c for c in commands if c["role"] == "run"]
        output = last_json("\n".join(runs[-1]["output_tail"])) if runs else None
        self.state["variant_outputs"][step.variant.name] = output

    def _record(
        self,
        number: int,
        step: Step,
        commands: list[dict[str, Any]],
        checks: list[CheckResult],
        log: Path,
    ) -> dict[str, Any]:
        status = step_status([True], checks, True)
        failed = next((c for c in checks if c.passed is False), None)
        return {
            "index": number,
            "engine": self.engine.name,
            "title": step.title,
            "status": status,
            "reason": f"{failed.type}: expected {failed.expected}, saw {failed.seen}"
            if failed
            else "",
            "log": str(log),
            "commands": commands,
            "checks": [c.to_dict() for c in checks],
            "measurements": [],
        }

    def _finish_check(self, run: EngineRun, step: Step, record: dict[str, Any] | None) -> None:
        """Save the state; a passed step's record (measured) goes into the report."""
        if record is not None:
            record["measurements"] = record["measurements"] or run.measure(step)
            if step.variant is not None:
                record["variant"] = run.measure_variant(step, record)
                if ps.step_of(self.state)["how"] == ps.BY_HAND:
                    record["variant"]["build_seconds"] = None  # typed by hand: not timed
            record["practice"] = ps.step_summary(ps.step_of(self.state), time.time())
        self.save()
        self.write_report(record)
        if record is not None:
            ui.out.print(
                f"[green]step {self.number} passed[/] — `lab next` moves on", highlight=False
            )

    def hint(self) -> str:
        step = self.step
        hints = list(step.hints) or [c.hint for c in step.checks if c.hint]
        text = ps.take_hint(self.state, hints, time.time())
        if not text:
            return "this step has no hints; `lab solve` shows the way"
        self.save()
        self.write_report()
        return text

    def next(self, skip: bool) -> int | None:
        problem = ps.advance_problem(self.state, skip)
        if problem:
            raise LabError(problem)
        target = ps.advance(self.state, skip, time.time())
        self.save()
        self.write_report()
        if target is not None:
            present(self.engine_run(), self.lab, target)
        return target

    def status_rows(self) -> list[list[str]]:
        report = {"practice": ps.summary(self.state, time.time())}
        rows = ps.practice_table(report)[1]
        for row in rows:
            if row[0] == str(self.number):
                row[0] = f"> {row[0]}"
        return rows

    def show(self, name: str) -> None:
        problem = outside_problem(name)
        path = self.workdir / name
        if problem or not path.resolve().is_relative_to(self.workdir.resolve()):
            raise UsageError(
                f"lab show {name!r}: it {problem or 'leads outside the work folder'}",
                "Name a file of the work folder.",
            )
        if not path.is_file():
            files = ", ".join(sorted(p.name for p in self.workdir.iterdir() if p.is_file()))
            raise UsageError(f"no file {name!r} in the work folder", f"Its files: {files}.")
        text = path.read_text(errors="replace").rstrip("\n")
        ui.out.print(Panel(Syntax(text, lexer_for(path.name)), title=name, title_align="left"))

    def reset(self) -> list[str]:
        """Put the step's files back as the lab made them; returns what was replaced."""
        source = self.lab.workdir_source
        names = restored_files(self.step, sorted(p.name for p in source.iterdir() if p.is_file()))
        replacements = run_replacements(self.lab, self.bases)
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


def present(run: EngineRun, lab: Lab, number: int) -> None:
    """A step as practice shows it: narrative and files (guided mode's), then the task."""
    step = lab.steps[number - 1]
    run.present(number, step)
    ui.out.print(Panel(Markdown(step.task), title="Your task", title_align="left", expand=False))
    ui.out.print(
        "TAG=" + run.values["tag_prefix"] + (f"  URL={run.values['url']}" if lab.site else ""),
        style="dim",
        markup=False,
        highlight=False,
    )


def _now_text() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

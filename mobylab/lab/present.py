"""Present a lab run: the hooks a run calls as it goes, and the terminal's way of showing them.

A run calls its `Presenter` at each moment (the run starts, an engine is ready, a
step starts, a command runs and prints, a step is judged, the end)
and never prints itself. `TerminalPresenter` is guided mode's: narrative, files,
commands as typed, live output, verdicts; practice mode subclasses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rich.markdown import Markdown
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax

from .. import ui
from .checks import as_typed
from .dockerfile import is_dockerfile
from .judge import causes_first
from .model import Lab, Step
from .records import EngineRecord, Status, StepRecord, Substitution
from .report import engine_text
from .setup import RunSetup

LABEL_NOTE = (
    "mobylab adds `--label org.mobylab.run=<run id>` (and its other org.mobylab labels) to "
    "every `docker build`, `docker create` and `docker run` below, so `invoke lab.clean` "
    "finds what this lab made; the commands are shown as you would type them."
)


def lexer_for(name: str) -> str:
    if is_dockerfile(name):
        return "docker"
    return {".sh": "bash", ".go": "go", ".json": "json", ".toml": "toml"}.get(
        Path(name).suffix, "text"
    )


def file_panel(name: str, text: str) -> Panel:
    """A file in a frame; long lines wrap (print it with `ui.block`)."""
    return ui.panel(
        Syntax(text.rstrip("\n"), lexer_for(name), line_numbers=False, word_wrap=True), name
    )


@dataclass(frozen=True)
class ShownStep:
    """A step as a run shows it on one engine, its files as the work folder has them."""

    setup: RunSetup
    number: int
    engine: str
    # (name, text) of each file the step shows.
    files: tuple[tuple[str, str], ...]
    # The FROM lines the run replaced, said under the files that have them.
    substitutions: tuple[Substitution, ...]

    @property
    def step(self) -> Step:
        return self.setup.lab.steps[self.number - 1]


class Presenter(Protocol):
    """What a lab run shows, moment by moment."""

    def introduce(self, setup: RunSetup) -> None: ...

    def engine(self, engine: EngineRecord) -> None: ...

    def step(self, shown: ShownStep) -> None: ...

    def command(self, shown: str) -> None: ...

    def output(self, line: str) -> None: ...

    def stages(self, text: str) -> None: ...

    def verdict(self, record: StepRecord) -> None: ...

    def closing(self, lab: Lab) -> None: ...


class TerminalPresenter:
    """Guided mode on the terminal; `pause` waits for Enter before each step runs."""

    def __init__(self, *, pause: bool = False) -> None:
        self.pause = pause

    def introduce(self, setup: RunSetup) -> None:
        ui.out.rule(setup.lab.title)
        ui.out.print(
            f"run {setup.run_id} — report in {setup.report_dir}", style="dim", markup=False
        )
        if setup.lab.introduction and setup.whole:
            ui.out.print(Markdown(setup.lab.introduction), soft_wrap=False)
        ui.out.print(Markdown(LABEL_NOTE), style="dim", soft_wrap=False)
        bases = setup.bases
        if bases.offline:
            ui.out.print(
                f"Base images: builder {bases.builder}, runtime {bases.runtime} ({bases.reason}).",
                style="dim",
                markup=False,
            )

    def engine(self, engine: EngineRecord) -> None:
        ui.info(engine_text(engine))

    def step(self, shown: ShownStep) -> None:
        step, total = shown.step, len(shown.setup.lab.steps)
        ui.out.rule(escape(f"Step {shown.number}/{total}: {step.title}  [{shown.engine} engine]"))
        if step.narrative:
            ui.out.print(Markdown(step.narrative), soft_wrap=False)
        for name, text in shown.files:
            ui.block(file_panel(name, text))
            for change in (c for c in shown.substitutions if c.file == name):
                ui.out.print(
                    f"  (line {change.line}: {change.old} replaced by {change.new}: "
                    f"{shown.setup.bases.reason})",
                    style="dim",
                    markup=False,
                )
        if self.pause:
            wait_for_enter("Press Enter to run this step (Ctrl-C stops the lab) ")

    def command(self, shown: str) -> None:
        ui.out.print(f"$ {shown}", style="bold", markup=False, highlight=False)

    def output(self, line: str) -> None:
        ui.output_line("  " + line)

    def stages(self, text: str) -> None:
        ui.out.print(text, style="cyan", markup=False)

    def verdict(self, record: StepRecord) -> None:
        self.checks(record)
        ui.out.print(self.verdict_line(record), highlight=False)

    def checks(self, record: StepRecord) -> None:
        """Each check's result; the failed one that explains the others first (a missing
        or SDK-sized image)."""
        for check in causes_first(record.checks):
            if check.passed:
                ui.out.print(f"[green]✓[/] {check.type}: {check.seen}", highlight=False)
            elif check.passed is None:
                ui.out.print(f"[dim]- {check.type}: skipped ({check.note})[/]", highlight=False)
            else:
                ui.out.print(f"[red]✗[/] {check.type}", highlight=False)
                ui.out.print(f"    expected: {check.expected}", markup=False, highlight=False)
                ui.out.print(f"    seen:     {check.seen}", markup=False, highlight=False)
                if check.hint:
                    ui.out.print(f"    hint:     {check.hint}", markup=False, highlight=False)
            if check.note and check.passed is not None:
                ui.out.print(f"    note: {check.note}", style="dim", markup=False)

    def verdict_line(self, record: StepRecord) -> str:
        """The step's verdict in one line of rich markup."""
        status = record.status
        style = {Status.PASSED: "green", Status.ABSENT: "yellow"}.get(status, "red")
        shown_status = "not in this engine" if status == Status.ABSENT else status.value
        line = f"step {record.index}: [{style}]{shown_status}[/]"
        return line + (f" — {escape(record.reason)}" if record.reason else "")

    def closing(self, lab: Lab) -> None:
        if lab.closing:
            ui.out.rule("Closing")
            ui.out.print(Markdown(lab.closing), soft_wrap=False)


def wait_for_enter(prompt: str) -> None:
    """Wait for Enter; Ctrl-C ends the prompt's line first, so what follows starts a line."""
    try:
        input(prompt)
    except EOFError:
        return
    except KeyboardInterrupt:
        ui.out.print()
        raise


def print_lab(lab: Lab) -> None:
    """A lab as `lab.show` prints it: narrative, files, commands, checks, and practice's
    task and hints, nothing run; placeholders as practice's shell names them ($TAG)."""
    ui.out.rule(lab.title)
    if lab.introduction:
        ui.out.print(Markdown(lab.introduction), soft_wrap=False)
    for number, step in enumerate(lab.steps, 1):
        ui.out.rule(escape(f"Step {number}/{len(lab.steps)}: {step.title}"))
        if step.narrative:
            ui.out.print(Markdown(step.narrative), soft_wrap=False)
        for name in step.show:
            ui.block(file_panel(name, (lab.workdir_source / name).read_text()))
        for command in step.commands:
            ui.out.print(f"$ {as_typed(command.text)}", style="bold", markup=False)
        for check in step.checks:
            hint = f" ({as_typed(check.hint)})" if check.hint else ""
            ui.out.print(f"check: {check.type}{hint}", style="dim", markup=False)
        if step.task:
            ui.block(ui.panel(Markdown(step.task), "Your task (practice)"))
        for hint_number, hint in enumerate(step.hints, 1):
            shown = f"hint {hint_number}/{len(step.hints)}: {hint}"
            ui.out.print(shown, style="dim", markup=False)
    TerminalPresenter().closing(lab)

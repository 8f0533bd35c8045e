"""Practice mode's presenter: guided mode's terminal, each step with the learner's task."""

from __future__ import annotations

from collections.abc import Mapping

from rich.markdown import Markdown

from ... import ui
from ..present import ShownStep, TerminalPresenter
from ..records import Status, StepRecord
from ..setup import RunSetup

SHELL_NOTE = (
    "In this shell `docker` adds mobylab's labels to what you build and run (so "
    "`invoke lab.clean` finds it). `lab check` checks your step, `lab hint` gives a hint, "
    "`lab solve` shows the way, `lab next` moves on, `lab status`, `lab show FILE`, "
    "`lab reset`; `exit` leaves (your progress is kept)."
)


class PracticePresenter(TerminalPresenter):
    """A step as practice shows it: narrative and files (guided mode's), then the task
    and the names the learner types ($TAG, $URL)."""

    def __init__(self, values: Mapping[str, str], *, resumed_at: int | None = None) -> None:
        super().__init__()
        self.values = values
        self.resumed_at = resumed_at

    def introduce(self, setup: RunSetup) -> None:
        lab = setup.lab
        ui.out.rule(f"{lab.title} — practice")
        resumed = self.resumed_at is not None
        verb = f"resumed at step {self.resumed_at}" if resumed else "new practice run"
        ui.out.print(
            f"run {setup.run_id} ({verb}) — report in {setup.report_dir}",
            style="dim",
            markup=False,
        )
        if lab.introduction and not resumed:
            ui.out.print(Markdown(lab.introduction), soft_wrap=False)
        ui.out.print(Markdown(SHELL_NOTE), style="dim", soft_wrap=False)

    def verdict(self, record: StepRecord) -> None:
        # A passed step is said once it is recorded (PracticeRun.passed): a Ctrl-C right
        # after the line must find the step in the report.
        if record.status == Status.PASSED:
            self.checks(record)
        else:
            super().verdict(record)

    def passed(self, number: int) -> None:
        ui.out.print(f"[green]step {number} passed[/] — `lab next` moves on", highlight=False)

    def step(self, shown: ShownStep) -> None:
        super().step(shown)
        ui.block(ui.panel(Markdown(shown.step.task), "Your task"))
        site = f"  URL={self.values['url']}" if shown.setup.lab.site else ""
        ui.out.print(
            "TAG=" + self.values["tag_prefix"] + site, style="dim", markup=False, highlight=False
        )

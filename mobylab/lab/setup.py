"""Prepare a lab run: plain data in, a frozen `RunSetup` out.

Each run has its own id, so its image tags, container names and scratch folder
never collide with another run's, even five at once on one engine. `plan_run`
decides everything a run needs to know before it touches an engine (which steps,
which id, which folders, the report it starts with); `prepare` only gathers what
it decides from (the last report to resume, the base images) and calls it.
"""

from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import labels
from ..errors import LabError
from . import report as report_mod
from .bases import BaseImages, resolve_bases
from .model import Lab
from .records import (
    BaseImagesRecord,
    EngineRecord,
    Report,
    ReportOptions,
    Status,
    Substitution,
)

if TYPE_CHECKING:
    from ..session import Session


@dataclass(frozen=True)
class RunOptions:
    yes: bool = False
    step: int | None = None
    from_step: int | None = None
    engine: str = "host"
    # A real site instead of the fixture site: exact counts unknown.
    url: str | None = None
    guided: bool = False
    # The last step to run, from the first: a lab step asked as a scenario, the steps
    # before it setting up its state.
    until: int | None = None
    # Seconds the whole run may take on one engine (a scenario's time limit).
    time_limit: float | None = None


def new_run_id(now: datetime.datetime | None = None) -> str:
    now = now or datetime.datetime.now(datetime.UTC)
    # Six hex digits: runs started in the same second (a class at once) never collide.
    return now.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def now_text() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def tag_prefix(lab_name: str, run_id: str) -> str:
    return f"mobylab-lab/{lab_name}-{run_id}"


def steps_to_run(
    count: int, step: int | None, from_step: int | None, until: int | None = None
) -> list[int]:
    """Pure: the 1-based step numbers this run executes."""
    for name, value in (("--step", step), ("--from", from_step), ("the step", until)):
        if value is not None and not 1 <= value <= count:
            raise LabError(f"{name} {value} is not a step of this lab", f"Steps are 1 to {count}.")
    if step is not None:
        return [step]
    return list(range(from_step or 1, (until or count) + 1))


@dataclass(frozen=True)
class RunSetup:
    """What a run of a lab is, before any engine is asked anything."""

    lab: Lab
    options: RunOptions
    run_id: str
    # The 1-based step numbers this run executes.
    numbers: tuple[int, ...]
    bases: BaseImages
    report_dir: Path
    # The run's copies of the app folder, one per engine.
    runs_dir: Path
    # The report this run resumes (--step, --from): its other steps are kept.
    previous: Report | None = None
    # The JSON the app must print (None against a real site or without an expected file).
    expected: Any = None

    @property
    def fixture_site(self) -> bool:
        """The lab serves its own site (no --url given)."""
        return bool(self.lab.site) and not self.options.url

    @property
    def whole(self) -> bool:
        """The run starts at the lab's beginning (no --step, no --from)."""
        return self.options.step is None and self.options.from_step is None

    @property
    def ends_the_lab(self) -> bool:
        return self.numbers[-1] == len(self.lab.steps)

    @property
    def workspace_key(self) -> str:
        """The workspace whose runs folder holds this run (runs/<run id>)."""
        return labels.workspace_key(self.runs_dir.parent.parent)

    @property
    def resource_labels(self) -> dict[str, str]:
        """The labels on what the run makes: its lab, its id, its workspace."""
        return labels.labels(
            "lab", lab=self.lab.name, run=self.run_id, workspace=self.workspace_key
        )

    @property
    def label_flags(self) -> list[str]:
        return labels.flags_of(self.resource_labels)

    @property
    def log_dir(self) -> Path:
        return self.report_dir / "logs"

    def workdir(self, engine_name: str) -> Path:
        return self.runs_dir / engine_name

    def values(self, url: str) -> dict[str, str]:
        """The placeholders of the lab's commands, for a site at `url`."""
        return {
            "tag_prefix": tag_prefix(self.lab.name, self.run_id),
            "builder_image": self.bases.builder,
            "runtime_image": self.bases.runtime,
            "url": url,
            "run_id": self.run_id,
            "extract": f"extract-{self.run_id}",
        }

    def start_report(
        self, engines: list[EngineRecord], substitutions: tuple[Substitution, ...] = ()
    ) -> Report:
        """The report as the run starts: the resumed run's other steps, none of this one's."""
        previous = self.previous
        kept = tuple(s for s in previous.steps if s.index not in self.numbers) if previous else ()
        lab = self.lab
        return Report(
            lab=lab.name,
            title=lab.title,
            run_id=self.run_id,
            status=Status.RUNNING,
            started=(previous.started if previous else "") or now_text(),
            features={n: s.feature for n, s in enumerate(lab.steps, 1) if s.feature},
            source=lab.source or None,
            options=ReportOptions(engine=self.options.engine, url=self.options.url),
            url=self.options.url or "",
            site="real" if self.options.url else ("fixture" if lab.site else None),
            expected=self.expected,
            base_images=BaseImagesRecord(
                builder=self.bases.builder,
                runtime=self.bases.runtime,
                offline=self.bases.offline,
                reason=self.bases.reason,
                substitutions=substitutions,
            ),
            engines=tuple(engines),
            steps=kept,
            step_count=len(lab.steps),
        )


def plan_run(
    lab: Lab,
    options: RunOptions,
    *,
    reports: Path,
    runs: Path,
    bases: BaseImages,
    run_id: str,
    previous: Report | None = None,
    expected: Any = None,
) -> RunSetup:
    """Pure: the run's set-up; a resumed run (`previous`) keeps its id."""
    run_id = previous.run_id if previous else run_id
    return RunSetup(
        lab=lab,
        options=options,
        run_id=run_id,
        numbers=tuple(steps_to_run(len(lab.steps), options.step, options.from_step, options.until)),
        bases=bases,
        report_dir=reports / run_id,
        runs_dir=runs / run_id,
        previous=previous,
        expected=None if options.url or not lab.expected_file else expected,
    )


def resumable_report(session: Session, lab: Lab, options: RunOptions) -> Report | None:
    """The lab's last report on the same engines, which --step and --from resume."""
    if options.step is None and options.from_step is None:
        return None
    run_id = report_mod.latest_run(session.workspace, lab.name)
    found = report_mod.load(session.workspace, run_id) if run_id else None
    if found is None or found.lab != lab.name or found.options.engine != options.engine:
        return None
    return found


def lab_bases(session: Session, lab: Lab) -> BaseImages:
    """The base images a run of `lab` builds on, as the host engine and settings decide."""
    # A lab on the golang base image runs the blog's `go get`, which needs GOPATH mode.
    needs_go_path = bool(lab.builder_bases) and session.settings.builder_image == "auto"
    return resolve_bases(session.settings, session.engine(start=True), lab.images, needs_go_path)


def prepare(
    session: Session, lab: Lab, options: RunOptions, *, run_id: str | None = None
) -> RunSetup:
    """Gather what the set-up is decided from (the report to resume, the base images,
    the expected output) and decide it; `run_id` continues that run (practice)."""
    bases = lab_bases(session, lab)
    expected = None
    if lab.expected_file and not options.url:
        expected = report_mod.read_expected(lab.path / lab.expected_file)
    workspace = session.workspace
    return plan_run(
        lab,
        options,
        reports=workspace.reports,
        runs=workspace.root / "runs",
        bases=bases,
        run_id=run_id or new_run_id(),
        previous=resumable_report(session, lab, options),
        expected=expected,
    )

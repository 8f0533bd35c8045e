"""Typed records of a lab run: what report.json holds, one frozen dataclass per fact.

A run's report is a `Report` of `StepRecord`s; each step keeps its `CommandResult`s,
`CheckResult`s, `Measurement`s and, when it builds one, its `VariantRecord`. Every
record has `to_dict` (the JSON written to disk, the same keys as ever) and
`from_dict`; what used to be recomputed into the report (the comparison's
variants, the failed steps, the features x engines matrix) are properties of
`Report`, written with it so readers of the JSON file see them.

    Report
      engines: EngineRecord...        base_images: BaseImagesRecord (Substitution...)
      steps:   StepRecord...
                 commands: CommandResult...   checks: CheckResult...
                 measurements: Measurement... stages: StageReport   variant: VariantRecord
                 practice: PracticeStep
      practice: PracticeSummary (practice mode)
      derived: variants (with ratio_to_builder), failed_steps, matrix
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from ..errors import LabError
from ..jsondata import JsonDict, JsonObject

#: The report format this code writes; a newer one is refused rather than misread.
REPORT_VERSION = 1


class Status(StrEnum):
    """A step's or a run's state; NOT_RUN only in the matrix's cells."""

    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    # The engine lacks the feature the step shows: "not in this engine".
    ABSENT = "absent"
    NOT_RUN = "not run"

    @property
    def stops_the_run(self) -> bool:
        """A failed or interrupted step: the run did not pass."""
        return self in (Status.FAILED, Status.INTERRUPTED)


class Builder(StrEnum):
    """Which builder ran a `docker build` (as its output shows)."""

    BUILDKIT = "buildkit"
    LEGACY = "legacy"


def _builder(value: Any) -> Builder | None:
    return Builder(value) if value else None


def _optional(data: JsonDict, **values: Any) -> JsonDict:
    """`data` with the keys whose value is not None (fields a report omits when unset)."""
    return {**data, **{key: value for key, value in values.items() if value is not None}}


@dataclass(frozen=True)
class CommandResult:
    """One command of a step as it ran on an engine."""

    shown: str
    argv: tuple[str, ...]
    exit_code: int
    seconds: float
    output_tail: tuple[str, ...]
    role: str
    expect_exit: int = 0
    # Build steps taken from the engine's cache.
    cached_steps: int = 0
    # What a `docker build` printed: its builder, its stages and those it built.
    builder: Builder | None = None
    stages_built: tuple[str, ...] = ()
    target: str | None = None
    stages: tuple[str, ...] = ()
    # The build got past parsing and options (StageLog.started), read from all it printed.
    started_building: bool = False

    @property
    def exited_as_expected(self) -> bool:
        return self.exit_code == self.expect_exit

    @property
    def output(self) -> str:
        return "\n".join(self.output_tail)

    def to_dict(self) -> JsonDict:
        return {
            "shown": self.shown,
            "argv": list(self.argv),
            "exit_code": self.exit_code,
            "seconds": self.seconds,
            "output_tail": list(self.output_tail),
            "cached_steps": self.cached_steps,
            "builder": self.builder,
            "stages_built": list(self.stages_built),
            "target": self.target,
            "stages": list(self.stages),
            "started_building": self.started_building,
            "role": self.role,
            "expect_exit": self.expect_exit,
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> CommandResult:
        return cls(
            shown=data["shown"],
            argv=tuple(data.get("argv") or ()),
            exit_code=data["exit_code"],
            seconds=data.get("seconds", 0.0),
            output_tail=tuple(data.get("output_tail") or ()),
            role=data.get("role", ""),
            expect_exit=data.get("expect_exit", 0),
            cached_steps=data.get("cached_steps", 0),
            builder=_builder(data.get("builder")),
            stages_built=tuple(data.get("stages_built") or ()),
            target=data.get("target"),
            stages=tuple(data.get("stages") or ()),
            started_building=bool(data.get("started_building")),
        )


@dataclass(frozen=True)
class CheckResult:
    """What one check concluded; `passed` None: skipped."""

    type: str
    passed: bool | None
    expected: str
    seen: str
    hint: str = ""
    note: str = ""

    def to_dict(self) -> JsonDict:
        return {
            "type": self.type,
            "passed": self.passed,
            "expected": self.expected,
            "seen": self.seen,
            "hint": self.hint,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> CheckResult:
        return cls(
            type=data["type"],
            passed=data["passed"],
            expected=data.get("expected", ""),
            seen=data.get("seen", ""),
            hint=data.get("hint", ""),
            note=data.get("note", ""),
        )


def failure_reason(commands: Sequence[CommandResult], checks: Sequence[CheckResult]) -> str:
    """Pure: one line on why a step failed: the first command that exited otherwise
    than expected, else the first failed check ('' when neither)."""
    for command in commands:
        if not command.exited_as_expected:
            tail = next((line for line in reversed(command.output_tail) if line.strip()), "")
            return f"`{command.shown}` exited {command.exit_code}" + (f": {tail}" if tail else "")
    for check in checks:
        if check.passed is False:
            return f"{check.type}: expected {check.expected}, saw {check.seen}"
    return ""


@dataclass(frozen=True)
class Measurement:
    """An image a step measures, as the engine reports it (`missing` when there is none)."""

    name: str
    image: str
    id: str = ""
    size_bytes: int | None = None
    layers: int | None = None
    workdir: str = ""
    missing: bool = False

    def to_dict(self) -> JsonDict:
        if self.missing:
            return {"name": self.name, "image": self.image, "missing": True}
        return {
            "name": self.name,
            "image": self.image,
            "id": self.id,
            "size_bytes": self.size_bytes,
            "layers": self.layers,
            "workdir": self.workdir,
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> Measurement:
        return cls(
            name=data["name"],
            image=data["image"],
            id=data.get("id", ""),
            size_bytes=data.get("size_bytes"),
            layers=data.get("layers"),
            workdir=data.get("workdir", ""),
            missing=bool(data.get("missing")),
        )


@dataclass(frozen=True)
class StageReport:
    """What a `--target` build built and skipped, and one line saying so."""

    builder: Builder | None
    target: str
    stages: tuple[str, ...]
    built: tuple[str, ...]
    skipped: tuple[str, ...]
    skipped_before_target: tuple[str, ...]
    text: str

    def to_dict(self) -> JsonDict:
        return {
            "builder": self.builder,
            "target": self.target,
            "stages": list(self.stages),
            "built": list(self.built),
            "skipped": list(self.skipped),
            "skipped_before_target": list(self.skipped_before_target),
            "text": self.text,
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> StageReport:
        return cls(
            builder=_builder(data.get("builder")),
            target=data["target"],
            stages=tuple(data.get("stages") or ()),
            built=tuple(data.get("built") or ()),
            skipped=tuple(data.get("skipped") or ()),
            skipped_before_target=tuple(data.get("skipped_before_target") or ()),
            text=data.get("text", ""),
        )


@dataclass(frozen=True)
class Leftover:
    """Something a way of building leaves on the host (a file, an image, a container)."""

    kind: str
    name: str
    present: bool = False
    size_bytes: int | None = None

    def to_dict(self) -> JsonDict:
        return {
            "kind": self.kind,
            "name": self.name,
            "present": self.present,
            "size_bytes": self.size_bytes,
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> Leftover:
        return cls(
            kind=data["kind"],
            name=data["name"],
            present=bool(data.get("present")),
            size_bytes=data.get("size_bytes"),
        )


@dataclass(frozen=True)
class VariantRecord:
    """One way of building the app, as measured on one engine: a row of the comparison."""

    name: str
    engine: str
    image: str
    image_id: str | None = None
    size_bytes: int | None = None
    layers: int | None = None
    # None when the build was typed by hand (practice): not timed.
    build_seconds: float | None = None
    cached_steps: int = 0
    commands_typed: int = 0
    builder: Builder | None = None
    files: int = 0
    maintained_files: tuple[str, ...] = ()
    lines: int = 0
    # The JSON its image printed (None when it printed none or runs no app).
    output: Any = None
    produces_app: bool = True
    leftovers: tuple[Leftover, ...] = ()
    passed: bool = False
    absent: bool = False

    @property
    def leftovers_present(self) -> list[Leftover]:
        return [item for item in self.leftovers if item.present]

    def to_dict(self) -> JsonDict:
        return {
            "name": self.name,
            "engine": self.engine,
            "image": self.image,
            "image_id": self.image_id,
            "size_bytes": self.size_bytes,
            "layers": self.layers,
            "build_seconds": self.build_seconds,
            "cached_steps": self.cached_steps,
            "commands_typed": self.commands_typed,
            "builder": self.builder,
            "files": self.files,
            "maintained_files": list(self.maintained_files),
            "lines": self.lines,
            "output": self.output,
            "produces_app": self.produces_app,
            "leftovers": [item.to_dict() for item in self.leftovers],
            "passed": self.passed,
            "absent": self.absent,
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> VariantRecord:
        return cls(
            name=data["name"],
            engine=data["engine"],
            image=data.get("image", ""),
            image_id=data.get("image_id"),
            size_bytes=data.get("size_bytes"),
            layers=data.get("layers"),
            build_seconds=data.get("build_seconds"),
            cached_steps=data.get("cached_steps") or 0,
            commands_typed=data.get("commands_typed", 0),
            builder=_builder(data.get("builder")),
            files=data.get("files", 0),
            maintained_files=tuple(data.get("maintained_files") or ()),
            lines=data.get("lines", 0),
            output=data.get("output"),
            produces_app=data.get("produces_app", True),
            leftovers=tuple(Leftover.from_dict(item) for item in data.get("leftovers") or ()),
            passed=bool(data.get("passed")),
            absent=bool(data.get("absent")),
        )


@dataclass(frozen=True)
class PracticeStep:
    """A step of a practice run as the report keeps it."""

    index: int
    title: str
    status: str
    attempts: int = 0
    failed_attempts: int = 0
    not_counted: int = 0
    hints_used: int = 0
    # How it was done: by hand, solved, skipped (None while not done).
    how: str | None = None
    seconds: float | None = None

    def to_dict(self) -> JsonDict:
        return {
            "index": self.index,
            "title": self.title,
            "status": self.status,
            "attempts": self.attempts,
            "failed_attempts": self.failed_attempts,
            "not_counted": self.not_counted,
            "hints_used": self.hints_used,
            "how": self.how,
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> PracticeStep:
        return cls(
            index=int(data["index"]),
            title=str(data["title"]),
            status=str(data["status"]),
            attempts=data.get("attempts", 0),
            failed_attempts=data.get("failed_attempts", 0),
            not_counted=data.get("not_counted", 0),
            hints_used=data.get("hints_used", 0),
            how=data.get("how"),
            seconds=data.get("seconds"),
        )


@dataclass(frozen=True)
class PracticeSummary:
    """The report's `practice` section: where the learner is, and each step."""

    current: int
    active: bool = False
    steps: tuple[PracticeStep, ...] = ()

    def to_dict(self) -> JsonDict:
        return {
            "current": self.current,
            "active": self.active,
            "steps": [step.to_dict() for step in self.steps],
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> PracticeSummary:
        return cls(
            current=int(data.get("current") or 0),
            active=bool(data.get("active")),
            steps=tuple(PracticeStep.from_dict(step) for step in data.get("steps") or ()),
        )


@dataclass(frozen=True)
class StepRecord:
    """One step of a lab on one engine: its commands, checks, measurements and verdict."""

    index: int
    engine: str
    title: str
    status: Status
    reason: str = ""
    # The step's log file (none for a step stopped before it ran a command).
    log: str | None = None
    commands: tuple[CommandResult, ...] = ()
    checks: tuple[CheckResult, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    stages: StageReport | None = None
    variant: VariantRecord | None = None
    practice: PracticeStep | None = None

    @classmethod
    def interrupted(cls, index: int, engine: str, title: str, removed: int) -> StepRecord:
        """Ctrl-C during the step; `removed` containers of the run were removed."""
        return cls(
            index,
            engine,
            title,
            Status.INTERRUPTED,
            f"interrupted (Ctrl-C); {removed} container(s) removed",
        )

    @classmethod
    def failed(cls, index: int, engine: str, title: str, reason: str) -> StepRecord:
        """The engine died or refused under the step: it stopped there."""
        return cls(index, engine, title, Status.FAILED, reason)

    @classmethod
    def not_in_engine(cls, index: int, engine: str, title: str, reason: str) -> StepRecord:
        """The engine lacks what the step declares it needs: the step did not run."""
        return cls(index, engine, title, Status.ABSENT, reason)

    @property
    def key(self) -> tuple[str, int]:
        """Where the step sorts in a report: by engine, then step number."""
        return self.engine, self.index

    def to_dict(self) -> JsonDict:
        data = {
            "index": self.index,
            "engine": self.engine,
            "title": self.title,
            "status": self.status,
            "reason": self.reason,
            "commands": [command.to_dict() for command in self.commands],
            "checks": [check.to_dict() for check in self.checks],
            "measurements": [measurement.to_dict() for measurement in self.measurements],
        }
        return _optional(
            data,
            log=self.log,
            stages=self.stages.to_dict() if self.stages else None,
            variant=self.variant.to_dict() if self.variant else None,
            practice=self.practice.to_dict() if self.practice else None,
        )

    @classmethod
    def from_dict(cls, data: JsonObject) -> StepRecord:
        stages, variant, practice = data.get("stages"), data.get("variant"), data.get("practice")
        return cls(
            index=int(data["index"]),
            engine=data["engine"],
            title=data["title"],
            status=Status(data["status"]),
            reason=data.get("reason") or "",
            log=data.get("log"),
            commands=tuple(CommandResult.from_dict(c) for c in data.get("commands") or ()),
            checks=tuple(CheckResult.from_dict(c) for c in data.get("checks") or ()),
            measurements=tuple(Measurement.from_dict(m) for m in data.get("measurements") or ()),
            stages=StageReport.from_dict(stages) if stages else None,
            variant=VariantRecord.from_dict(variant) if variant else None,
            practice=PracticeStep.from_dict(practice) if practice else None,
        )


@dataclass(frozen=True)
class EngineRecord:
    """An engine as the report names it: what answered, and how it builds."""

    name: str
    kind: str
    url: str
    version: str
    commit: str | None = None
    api_version: str = ""
    storage_driver: str = ""
    image_store: str = ""
    builder: Builder | None = None
    builder_reason: str = ""
    # The lab's SDK (builder base) image on this engine, when the lab has one.
    builder_image: str | None = None
    builder_image_size_bytes: int | None = None
    # Where the lab's fixture site answered for this engine's containers (once it ran).
    site_url: str | None = None

    def to_dict(self) -> JsonDict:
        data = {
            "name": self.name,
            "kind": self.kind,
            "url": self.url,
            "version": self.version,
            "commit": self.commit,
            "api_version": self.api_version,
            "storage_driver": self.storage_driver,
            "image_store": self.image_store,
            "builder": self.builder,
            "builder_reason": self.builder_reason,
            "builder_image": self.builder_image,
            "builder_image_size_bytes": self.builder_image_size_bytes,
        }
        return _optional(data, site_url=self.site_url)

    @classmethod
    def from_dict(cls, data: JsonObject) -> EngineRecord:
        return cls(
            name=data["name"],
            kind=data.get("kind", ""),
            url=data.get("url", ""),
            version=str(data.get("version", "")),
            commit=data.get("commit"),
            api_version=data.get("api_version", ""),
            storage_driver=data.get("storage_driver", ""),
            image_store=data.get("image_store", ""),
            builder=_builder(data.get("builder")),
            builder_reason=data.get("builder_reason", ""),
            builder_image=data.get("builder_image"),
            builder_image_size_bytes=data.get("builder_image_size_bytes"),
            site_url=data.get("site_url"),
        )


@dataclass(frozen=True)
class Substitution:
    """A FROM line of the run's copy of a Dockerfile, replaced by the run's base image."""

    file: str
    line: int
    old: str
    new: str

    def to_dict(self) -> JsonDict:
        return {"file": self.file, "line": self.line, "old": self.old, "new": self.new}

    @classmethod
    def from_dict(cls, data: JsonObject) -> Substitution:
        return cls(file=data["file"], line=data["line"], old=data["old"], new=data["new"])


@dataclass(frozen=True)
class BaseImagesRecord:
    """The base images the run used, and the FROM lines it replaced for them."""

    builder: str
    runtime: str
    offline: bool = False
    reason: str = ""
    substitutions: tuple[Substitution, ...] = ()

    def to_dict(self) -> JsonDict:
        return {
            "builder": self.builder,
            "runtime": self.runtime,
            "offline": self.offline,
            "reason": self.reason,
            "substitutions": [change.to_dict() for change in self.substitutions],
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> BaseImagesRecord:
        return cls(
            builder=data.get("builder", ""),
            runtime=data.get("runtime", ""),
            offline=bool(data.get("offline")),
            reason=data.get("reason", ""),
            substitutions=tuple(
                Substitution.from_dict(change) for change in data.get("substitutions") or ()
            ),
        )


@dataclass(frozen=True)
class FailedStep:
    """A failed or interrupted step, as the report lists them."""

    index: int
    engine: str
    title: str
    reason: str

    def to_dict(self) -> JsonDict:
        return {
            "index": self.index,
            "engine": self.engine,
            "title": self.title,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class FeatureCell:
    """A step's verdict on one engine in the features x engines matrix."""

    status: Status
    reason: str = ""

    def to_dict(self) -> JsonDict:
        return {"status": self.status, "reason": self.reason}


@dataclass(frozen=True)
class FeatureRow:
    step: int
    feature: str
    # Engine name -> its cell, in the report's engine order.
    engines: Mapping[str, FeatureCell]

    def to_dict(self) -> JsonDict:
        return {
            "step": self.step,
            "feature": self.feature,
            "engines": {name: cell.to_dict() for name, cell in self.engines.items()},
        }


@dataclass(frozen=True)
class FeatureMatrix:
    """Features x engines: for each step that shows a feature, its status on each engine."""

    engines: tuple[str, ...]
    rows: tuple[FeatureRow, ...]

    def to_dict(self) -> JsonDict:
        return {"engines": list(self.engines), "rows": [row.to_dict() for row in self.rows]}


def feature_matrix(
    engines: Sequence[str], steps: Sequence[StepRecord], features: Mapping[int, str]
) -> FeatureMatrix:
    """Pure: features x engines from a run's steps; `features` maps a step number to
    the feature it shows. A step an engine did not run is NOT_RUN there."""
    by_step = {(step.index, step.engine): step for step in steps}
    rows = []
    for number, feature in sorted(features.items()):
        cells = {}
        for engine in engines:
            step = by_step.get((number, engine))
            cells[engine] = (
                FeatureCell(step.status, step.reason) if step else FeatureCell(Status.NOT_RUN)
            )
        rows.append(FeatureRow(number, feature, cells))
    return FeatureMatrix(tuple(engines), tuple(rows))


@dataclass(frozen=True)
class ReportOptions:
    """The options of the run the report names (`--engine`, `--url`)."""

    engine: str = "host"
    url: str | None = None

    def to_dict(self) -> JsonDict:
        return {"engine": self.engine, "url": self.url}

    @classmethod
    def from_dict(cls, data: JsonObject) -> ReportOptions:
        return cls(engine=data.get("engine", "host"), url=data.get("url"))


@dataclass(frozen=True)
class Report:
    """A lab run: report.json. The comparison, the failed steps and the matrix are
    derived from the steps (properties), so they never disagree with them."""

    lab: str
    title: str
    run_id: str
    status: Status = Status.RUNNING
    started: str = ""
    finished: str | None = None
    # Step number -> the engine feature that step shows.
    features: Mapping[int, str] = field(default_factory=dict)
    # Where an app folder outside the lab came from (lab.multistage --source).
    source: str | None = None
    options: ReportOptions = field(default_factory=ReportOptions)
    url: str = ""
    # "fixture" (the lab's own site), "real" (--url) or None (the lab uses no site).
    site: str | None = None
    # The JSON the app is expected to print (None against a real site).
    expected: Any = None
    base_images: BaseImagesRecord | None = None
    engines: tuple[EngineRecord, ...] = ()
    steps: tuple[StepRecord, ...] = ()
    step_count: int = 0
    # Engine name -> the run's copy of the app folder on it.
    workdirs: Mapping[str, str] = field(default_factory=dict)
    # "practice" for a practice run; None for a guided one.
    mode: str | None = None
    practice: PracticeSummary | None = None
    # The rendered files (json, md, html) once they are written.
    paths: Mapping[str, str] = field(default_factory=dict)
    version: int = REPORT_VERSION

    # -- derived ---------------------------------------------------------------
    @property
    def builder_image_size_bytes(self) -> int | None:
        """The SDK image's size on the first engine: the comparison's yardstick."""
        return self.engines[0].builder_image_size_bytes if self.engines else None

    @property
    def variants(self) -> tuple[VariantRecord, ...]:
        return tuple(step.variant for step in self.steps if step.variant is not None)

    def ratio_to_builder(self, variant: VariantRecord) -> float | None:
        """The variant's image size over the SDK image's on its engine."""
        base = next(
            (e.builder_image_size_bytes for e in self.engines if e.name == variant.engine), None
        )
        size = variant.size_bytes
        return size / base if size and base else None

    @property
    def failed_steps(self) -> tuple[FailedStep, ...]:
        return tuple(
            FailedStep(step.index, step.engine, step.title, step.reason)
            for step in self.steps
            if step.status.stops_the_run
        )

    @property
    def matrix(self) -> FeatureMatrix | None:
        if not self.features:
            return None
        return feature_matrix([e.name for e in self.engines], self.steps, self.features)

    def engine_named(self, name: str) -> EngineRecord | None:
        return next((engine for engine in self.engines if engine.name == name), None)

    # -- changes (a new report each time) ---------------------------------------
    def with_step(self, record: StepRecord) -> Report:
        """The report with `record` in place of the same step on the same engine."""
        kept = [s for s in self.steps if s.key != record.key]
        return replace(self, steps=tuple(sorted([*kept, record], key=lambda s: s.key)))

    # -- JSON ------------------------------------------------------------------
    def to_dict(self) -> JsonDict:
        matrix = self.matrix
        data = {
            "version": self.version,
            "lab": self.lab,
            "title": self.title,
            "features": {str(number): name for number, name in self.features.items()},
            "source": self.source,
            "run_id": self.run_id,
            "status": self.status,
            "started": self.started,
            "finished": self.finished,
            "options": self.options.to_dict(),
            "url": self.url,
            "site": self.site,
            "expected": self.expected,
            "base_images": self.base_images.to_dict() if self.base_images else None,
            "engines": [engine.to_dict() for engine in self.engines],
            "builder_image_size_bytes": self.builder_image_size_bytes,
            "steps": [step.to_dict() for step in self.steps],
            "step_count": self.step_count,
            "workdirs": dict(self.workdirs),
            "failed_steps": [failed.to_dict() for failed in self.failed_steps],
            "variants": [
                {**variant.to_dict(), "ratio_to_builder": self.ratio_to_builder(variant)}
                for variant in self.variants
            ],
            "matrix": matrix.to_dict() if matrix else None,
        }
        return _optional(
            data,
            mode=self.mode,
            practice=self.practice.to_dict() if self.practice else None,
            paths=dict(self.paths) or None,
        )

    @classmethod
    def from_dict(cls, data: JsonObject) -> Report:
        """A report read back (the derived fields are computed again, not read)."""
        version = data.get("version", REPORT_VERSION)
        if not isinstance(version, int) or version > REPORT_VERSION:
            raise LabError(
                f"the report of run {data.get('run_id', '?')} has format version {version}; "
                f"this mobylab reads version {REPORT_VERSION}",
                "Read it with the mobylab that wrote it.",
            )
        bases, practice = data.get("base_images"), data.get("practice")
        return cls(
            lab=data["lab"],
            title=data.get("title") or data["lab"],
            run_id=data["run_id"],
            status=Status(data.get("status") or Status.RUNNING),
            started=data.get("started") or "",
            finished=data.get("finished"),
            features={int(n): name for n, name in (data.get("features") or {}).items()},
            source=data.get("source"),
            options=ReportOptions.from_dict(data.get("options") or {}),
            url=data.get("url") or "",
            site=data.get("site"),
            expected=data.get("expected"),
            base_images=BaseImagesRecord.from_dict(bases) if bases else None,
            engines=tuple(EngineRecord.from_dict(e) for e in data.get("engines") or ()),
            steps=tuple(StepRecord.from_dict(s) for s in data.get("steps") or ()),
            step_count=data.get("step_count") or 0,
            workdirs=dict(data.get("workdirs") or {}),
            mode=data.get("mode"),
            practice=PracticeSummary.from_dict(practice) if practice else None,
            paths=dict(data.get("paths") or {}),
            version=version,
        )

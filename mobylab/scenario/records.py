"""Typed records of scenario runs: one engine's answer, a dev.try report, a bisect log and report.

Each has `to_dict`/`from_dict`; the JSON keeps the words of the StrEnums. The bisect
log is written after every step, so an interrupted search resumes from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..jsondata import JsonDict, JsonObject
from ..lab.records import Builder
from .search import Change, Outcome

REPORT_VERSION = 1
_PULL_REQUEST = re.compile(r"^Merge pull request #(\d+) from (\S+)")


@dataclass(frozen=True)
class EngineIdentity:
    """An engine as the scenario's reports name it: what answers."""

    name: str
    kind: str
    version: str
    commit: str
    api_version: str

    def to_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "kind": self.kind,
            "version": self.version,
            "commit": self.commit,
            "api_version": self.api_version,
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> EngineIdentity:
        return cls(**{key: str(data.get(key) or "") for key in cls.__dataclass_fields__})


@dataclass(frozen=True)
class ScenarioResult:
    """What one run of a scenario on one engine said."""

    outcome: Outcome
    # Why it could not test, or how the scenario exited.
    reason: str
    seconds: float
    # The last lines of its output; the whole of it is in `log`.
    tail: tuple[str, ...]
    log: str
    builder: Builder | None
    builder_reason: str
    exit_code: int | None = None

    def to_dict(self) -> JsonDict:
        return {
            "outcome": str(self.outcome),
            "reason": self.reason,
            "seconds": round(self.seconds, 3),
            "tail": list(self.tail),
            "log": self.log,
            "builder": str(self.builder) if self.builder else None,
            "builder_reason": self.builder_reason,
            "exit_code": self.exit_code,
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> ScenarioResult:
        return cls(
            outcome=Outcome(data["outcome"]),
            reason=str(data.get("reason", "")),
            seconds=float(data.get("seconds", 0.0)),
            tail=tuple(data.get("tail") or ()),
            log=str(data.get("log", "")),
            builder=Builder(data["builder"]) if data.get("builder") else None,
            builder_reason=str(data.get("builder_reason", "")),
            exit_code=data.get("exit_code"),
        )

    @classmethod
    def untested(cls, reason: str, seconds: float = 0.0, log: str = "") -> ScenarioResult:
        """A scenario that could not run at all (no engine, a failed build or daemon)."""
        return cls(Outcome.UNTESTED, reason, seconds, (), log, None, "")

    @property
    def result_text(self) -> str:
        """`present`, `absent`, or `could not test (why)`."""
        if self.outcome is Outcome.UNTESTED:
            return f"{self.outcome} ({self.reason})"
        return str(self.outcome)


@dataclass(frozen=True)
class TryRow:
    """One engine of a dev.try run and its answer."""

    engine: EngineIdentity
    result: ScenarioResult

    def to_dict(self) -> JsonDict:
        return {"engine": self.engine.to_dict(), "result": self.result.to_dict()}

    @classmethod
    def from_dict(cls, data: JsonObject) -> TryRow:
        return cls(
            EngineIdentity.from_dict(data["engine"]), ScenarioResult.from_dict(data["result"])
        )


@dataclass(frozen=True)
class TryReport:
    """A dev.try run: one scenario, an engine a row."""

    run_id: str
    scenario: str
    started: str
    finished: str
    timeout: float
    seeds: tuple[str, ...]
    rows: tuple[TryRow, ...]
    version: int = REPORT_VERSION

    @property
    def all_tested(self) -> bool:
        return all(row.result.outcome is not Outcome.UNTESTED for row in self.rows)

    def to_dict(self) -> JsonDict:
        return {
            "version": self.version,
            "kind": "try",
            "run_id": self.run_id,
            "scenario": self.scenario,
            "started": self.started,
            "finished": self.finished,
            "timeout": self.timeout,
            "seeds": list(self.seeds),
            "rows": [row.to_dict() for row in self.rows],
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> TryReport:
        return cls(
            run_id=str(data["run_id"]),
            scenario=str(data["scenario"]),
            started=str(data["started"]),
            finished=str(data["finished"]),
            timeout=float(data["timeout"]),
            seeds=tuple(data.get("seeds") or ()),
            rows=tuple(TryRow.from_dict(row) for row in data.get("rows") or ()),
            version=int(data.get("version", REPORT_VERSION)),
        )


@dataclass(frozen=True)
class Commit:
    """A commit of the walk as a person reads it: its hash and subject, and the pull
    request it merged when it is a merge of one."""

    sha: str
    subject: str
    # The first line of the body: a GitHub merge's pull request title.
    title: str = ""

    @property
    def pull_request(self) -> int | None:
        match = _PULL_REQUEST.match(self.subject)
        return int(match.group(1)) if match else None

    def to_dict(self) -> JsonDict:
        return {"sha": self.sha, "subject": self.subject, "title": self.title}

    @classmethod
    def from_dict(cls, data: JsonObject) -> Commit:
        return cls(str(data["sha"]), str(data.get("subject", "")), str(data.get("title", "")))


@dataclass(frozen=True)
class BisectStep:
    """One commit of a bisect: built, its daemon up, the scenario run on it."""

    commit: str
    result: ScenarioResult
    build_seconds: float
    engine: EngineIdentity | None = None
    subject: str = ""

    @property
    def pull_request(self) -> int | None:
        return Commit(self.commit, self.subject).pull_request

    def to_dict(self) -> JsonDict:
        return {
            "commit": self.commit,
            "subject": self.subject,
            "result": self.result.to_dict(),
            "build_seconds": round(self.build_seconds, 3),
            "engine": self.engine.to_dict() if self.engine else None,
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> BisectStep:
        engine = data.get("engine")
        return cls(
            commit=str(data["commit"]),
            result=ScenarioResult.from_dict(data["result"]),
            build_seconds=float(data.get("build_seconds", 0.0)),
            engine=EngineIdentity.from_dict(engine) if engine else None,
            subject=str(data.get("subject", "")),
        )


@dataclass(frozen=True)
class BisectLog:
    """A bisect as it goes: the question (scenario, ends, walk) and the steps so far.

    Written after every step; a run of the same command finds it and goes on.
    """

    scenario: str
    scenario_digest: str
    old: str
    new: str
    first_parent: bool
    steps: tuple[BisectStep, ...] = ()

    def with_step(self, step: BisectStep) -> BisectLog:
        return replace(self, steps=(*self.steps, step))

    @property
    def results(self) -> dict[str, Outcome]:
        return {step.commit: step.result.outcome for step in self.steps}

    def asks_the_same(self, other: BisectLog) -> bool:
        return (self.scenario_digest, self.old, self.new, self.first_parent) == (
            other.scenario_digest,
            other.old,
            other.new,
            other.first_parent,
        )

    def to_dict(self) -> JsonDict:
        return {
            "version": REPORT_VERSION,
            "scenario": self.scenario,
            "scenario_digest": self.scenario_digest,
            "old": self.old,
            "new": self.new,
            "first_parent": self.first_parent,
            "steps": [step.to_dict() for step in self.steps],
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> BisectLog:
        return cls(
            scenario=str(data["scenario"]),
            scenario_digest=str(data["scenario_digest"]),
            old=str(data["old"]),
            new=str(data["new"]),
            first_parent=bool(data["first_parent"]),
            steps=tuple(BisectStep.from_dict(step) for step in data.get("steps") or ()),
        )


@dataclass(frozen=True)
class BisectReport:
    """The answer of a bisect: the first commit with the new end's result, and how."""

    log: BisectLog
    change: Change
    first: Commit
    previous: Commit
    # The commits that may have made the change (more than `first` when commits
    # before it could not be tested), oldest first.
    candidates: tuple[str, ...]
    walked: int
    finished: str

    @property
    def pull_request(self) -> int | None:
        return self.first.pull_request

    def to_dict(self) -> JsonDict:
        return {
            "version": REPORT_VERSION,
            "kind": "bisect",
            "scenario": self.log.scenario,
            "old": self.log.old,
            "new": self.log.new,
            "first_parent": self.log.first_parent,
            "change": str(self.change),
            "first_commit": self.first.sha,
            "subject": self.first.subject,
            "pull_request": self.pull_request,
            "title": self.first.title,
            "previous_commit": self.previous.sha,
            "candidates": list(self.candidates),
            "walked": self.walked,
            "builds": len(self.log.steps),
            "finished": self.finished,
            "steps": [step.to_dict() for step in self.log.steps],
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> BisectReport:
        log = BisectLog.from_dict({**data, "scenario_digest": data.get("scenario_digest", "")})
        return cls(
            log=log,
            change=Change(data["change"]),
            first=Commit(data["first_commit"], data.get("subject", ""), data.get("title", "")),
            previous=Commit(data["previous_commit"], ""),
            candidates=tuple(data.get("candidates") or ()),
            walked=int(data.get("walked", 0)),
            finished=str(data.get("finished", "")),
        )

"""dev.bisect: the first commit between two ends where a scenario's result changed.

Each step checks out a commit, builds it on the source route (cached by commit, the
Go caches warm), starts its daemon in a dev environment of its own, seeds it from
the host engine, runs the scenario and stops the daemon. The log is written after
every step in reports/bisect/<question>/, so Ctrl-C keeps what was done and the
same command resumes; a step cut short is not recorded, and a build cut short
caches nothing (dev.build's own guarantee).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from .. import ui
from ..dev.environment import DevEnvironment, target_of
from ..engine import Engine
from ..errors import BuildError, DevEnvError
from ..lab.setup import now_text
from ..session import Session
from ..workspace import folder_name, read_json, write_json
from .builds import build_commit, ready_seeds, seed
from .history import Source, deepen, describe, head_kept, open_source, resolve, walk
from .model import DEFAULT_TIMEOUT, Scenario
from .records import BisectLog, BisectReport, BisectStep, ScenarioResult
from .report import write_report
from .run import identify, run_scenario
from .search import Found, Outcome, next_step

# The dev environment each step's daemon runs in (its images stay on its volume, so
# the seeds are copied once).
DEV_NAME = "bisect"
LOG = "log.json"


@dataclass(frozen=True)
class BisectRequest:
    old: str
    new: str
    first_parent: bool = True
    timeout: float = DEFAULT_TIMEOUT


def question_folder(reports: Path, log: BisectLog) -> Path:
    """Pure: where a bisect's log and report live: one folder per question asked."""
    key = f"{log.scenario_digest}:{log.old}:{log.new}:{log.first_parent}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    name = folder_name(log.scenario, "scenario")
    return reports / "bisect" / f"{name}-{log.old[:12]}-{log.new[:12]}-{digest}"


def resumed(fresh: BisectLog, saved: object) -> BisectLog:
    """Pure: the log to go on from: the saved steps of the same question, without an end
    that could not be tested (it is tried again: why it failed may be gone)."""
    if not isinstance(saved, dict):
        return fresh
    try:
        old = BisectLog.from_dict(saved)
    except (KeyError, TypeError, ValueError):
        return fresh
    if not old.asks_the_same(fresh):
        return fresh
    ends = (fresh.old, fresh.new)
    kept = tuple(
        step
        for step in old.steps
        if not (step.commit in ends and step.result.outcome is Outcome.UNTESTED)
    )
    return replace(fresh, steps=kept)


def _run_on_commit(
    session: Session,
    source: Source,
    scenario: Scenario,
    host: Engine,
    sha: str,
    *,
    folder: Path,
    timeout: float,
) -> BisectStep:
    """Build `sha`, start its daemon, seed it, run the scenario, stop the daemon."""
    subject = describe(source, sha).subject
    started = time.monotonic()
    try:
        built = build_commit(session, source, sha)
    except BuildError as exc:
        result = ScenarioResult.untested(f"the build failed: {exc.message}")
        return BisectStep(sha, result, time.monotonic() - started, subject=subject)
    settings = session.settings
    with DevEnvironment(host, session.workspace, DEV_NAME) as env:
        try:
            env.down()
            engine = env.up(
                target_of(built.record),
                privileged=settings.privileged,
                timeout=settings.engine_timeout,
            )
            seed(host, engine, scenario.seeds)
            identity = identify(engine)
            result = run_scenario(
                session,
                scenario,
                engine,
                identity,
                run_id=f"bisect-{sha[:12]}",
                folder=folder / "steps" / sha[:12],
                timeout=timeout,
            )
        except DevEnvError as exc:
            result = ScenarioResult.untested(f"the daemon did not start: {exc.message}")
            identity = None
        finally:
            env.down()
    return BisectStep(sha, result, built.seconds, identity, subject)


def bisect_scenario(
    session: Session,
    scenario: Scenario,
    request: BisectRequest,
    on_step: Callable[[BisectStep, int], None] | None = None,
) -> tuple[BisectReport, Path]:
    """Search the history between the ends; the answer and the folder holding its report.

    `on_step` hears of each step as it finishes, with how many commits were still in
    question when it started.
    """
    source = open_source(session.workspace, session.settings)
    old, new = resolve(source, request.old), resolve(source, request.new)
    deepen(source, old, new)
    commits = walk(source, old, new, first_parent=request.first_parent)
    host = session.engine()
    scenario = ready_seeds(session, host, scenario)
    fresh = BisectLog(scenario.name, scenario.digest(), old, new, request.first_parent)
    folder = question_folder(session.workspace.reports, fresh)
    log = resumed(fresh, read_json(folder / LOG))
    if log.steps:
        ui.info(f"resuming: {len(log.steps)} steps already done ({folder / LOG})")
    ui.info(f"{len(commits)} commits from {old[:12]} to {new[:12]}")
    with head_kept(source):
        while not isinstance(decision := next_step(commits, log.results), Found):
            ui.step(f"{decision.commit[:12]}: {decision.remaining} commits in question")
            step = _run_on_commit(
                session, source, scenario, host, decision.commit, folder=folder,
                timeout=request.timeout,
            )  # fmt: skip
            log = log.with_step(step)
            write_json(folder / LOG, log.to_dict())
            if on_step is not None:
                on_step(step, decision.remaining)
    report = BisectReport(
        log=log,
        change=decision.change,
        first=describe(source, decision.first),
        previous=describe(source, decision.previous),
        candidates=decision.candidates,
        walked=len(commits),
        finished=now_text(),
    )
    write_report(folder, report)
    return report, folder

"""dev.try: one scenario on several engines, an engine a row.

The engines are the host's, dev builds already made (`dev`, `dev:<commit>`), and
commits to build: each `--ref`, and a pull request's head beside its base (where it
leaves the branch it targets). Every commit is fetched before anything is built,
so an unknown ref stops the run before it costs a build. A build or a daemon that
fails makes its row "could not test", not the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import ui
from ..dev.environment import ensure_dev_engine
from ..engine import Engine
from ..errors import BuildError, DevEnvError
from ..lab.engine_choice import engine_specs, parse_engine_choice
from ..lab.setup import new_run_id, now_text
from ..session import Session
from ..workspace import folder_name
from .builds import build_commit, ready_seeds, seed
from .history import head_kept, open_source, pull_request, resolve
from .model import DEFAULT_TIMEOUT, Scenario
from .records import EngineIdentity, ScenarioResult, TryReport, TryRow
from .report import write_report
from .run import identify, run_scenario


@dataclass(frozen=True)
class EngineWanted:
    """One row of dev.try: an engine spec (host, dev, dev:<prefix>), or a commit to build."""

    label: str
    spec: str = ""
    commit: str = ""

    @property
    def folder(self) -> str:
        """Pure: the row's folder name under the run's report."""
        return folder_name(self.label, "engine")


@dataclass(frozen=True)
class TryRequest:
    """What dev.try was asked: engines by spec, refs to build, a pull request, a time limit."""

    engines: tuple[str, ...] = ()
    refs: tuple[str, ...] = ()
    pr: int | None = None
    timeout: float = DEFAULT_TIMEOUT


def engines_by_spec(given: Sequence[str], *, anything_else: bool) -> list[EngineWanted]:
    """Pure: the --engine rows in order; the host alone when nothing at all was asked for."""
    if not given and anything_else:
        return []
    return [EngineWanted(spec, spec) for spec in engine_specs(parse_engine_choice(list(given)))]


def _commits(session: Session, request: TryRequest) -> list[EngineWanted]:
    """Every --ref and the pull request's base and head, fetched: a full hash each."""
    if not request.refs and request.pr is None:
        return []
    source = open_source(session.workspace, session.settings)
    wanted = [EngineWanted(f"ref {ref}", commit=resolve(source, ref)) for ref in request.refs]
    if request.pr is not None:
        base, head = pull_request(source, request.pr, session.settings.ref)
        wanted += [
            EngineWanted(f"#{request.pr} base", commit=base),
            EngineWanted(f"#{request.pr} head", commit=head),
        ]
    return wanted


def _engine(session: Session, host: Engine, wanted: EngineWanted) -> Engine:
    """The engine of a row: the host, or a dev daemon (built and started as needed)."""
    if wanted.spec == "host":
        return host
    build: str | None = None
    if wanted.commit:
        source = open_source(session.workspace, session.settings)
        build_commit(session, source, wanted.commit)
        build = wanted.commit
    elif wanted.spec.startswith("dev:"):
        build = wanted.spec.removeprefix("dev:")
    return ensure_dev_engine(session, start=True, build=build)


def _row(
    session: Session,
    scenario: Scenario,
    host: Engine,
    wanted: EngineWanted,
    *,
    run_id: str,
    folder: Path,
    timeout: float,
) -> TryRow:
    unknown = EngineIdentity(wanted.label, "dev", "", wanted.commit, "")
    try:
        engine = dataclasses.replace(_engine(session, host, wanted), name=wanted.label)
        if engine.kind == "dev":
            seed(host, engine, scenario.seeds)
    except BuildError as exc:
        return TryRow(unknown, ScenarioResult.untested(f"the build failed: {exc.message}"))
    except DevEnvError as exc:
        return TryRow(unknown, ScenarioResult.untested(f"the daemon did not start: {exc.message}"))
    identity = identify(engine)
    ui.step(f"{scenario.name} on {wanted.label} ({identity.version}, {identity.commit[:12]})")
    result = run_scenario(
        session,
        scenario,
        engine,
        identity,
        run_id=run_id,
        folder=folder / wanted.folder,
        timeout=timeout,
    )
    return TryRow(identity, result)


def try_scenario(
    session: Session,
    scenario: Scenario,
    request: TryRequest,
    on_row: Callable[[TryRow], None] | None = None,
) -> tuple[TryReport, Path]:
    """Run the scenario on every engine asked for; the report and the folder holding it."""
    host = session.engine()
    scenario = ready_seeds(session, host, scenario)
    wanted = engines_by_spec(
        request.engines, anything_else=bool(request.refs or request.pr is not None)
    )
    wanted += _commits(session, request)
    run_id = new_run_id()
    folder = session.workspace.reports / "try" / run_id
    started = now_text()
    rows: list[TryRow] = []
    with contextlib.ExitStack() as stack:
        if any(one.commit for one in wanted):
            stack.enter_context(head_kept(open_source(session.workspace, session.settings)))
        for one in wanted:
            row = _row(
                session, scenario, host, one, run_id=run_id, folder=folder, timeout=request.timeout
            )
            rows.append(row)
            if on_row is not None:
                on_row(row)
    report = TryReport(
        run_id=run_id,
        scenario=scenario.name,
        started=started,
        finished=now_text(),
        timeout=request.timeout,
        seeds=scenario.seeds,
        rows=tuple(rows),
    )
    write_report(folder, report)
    return report, folder

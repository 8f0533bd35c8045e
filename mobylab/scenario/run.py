"""Running a scenario on one engine: a scratch copy, the engine's DOCKER_HOST, a time limit.

The `docker` it calls is the practice shell's wrapper: the run's labels go on what
it builds and runs, and only what carries them is removed afterwards. It builds
with the builder labs choose for that engine (BuildKit where the engine and CLI
allow it, the legacy builder before), unless the scenario sets DOCKER_BUILDKIT
itself. Its output is kept in a log beside the report; the scratch copy is not. A lab
step (`lab:NAME:STEP`) runs as lab runs do instead (labstep.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

from .. import labels, process
from ..engine import Engine
from ..errors import EngineError, Interrupted, MobylabError
from ..lab.execute import remove_run_resources
from ..lab.metrics import detect_builder
from ..lab.practice.shell import docker_wrapper
from ..lab.records import Builder
from ..session import Session
from ..workspace import write_atomic
from .labstep import run_lab_step
from .model import TAIL_LINES, Scenario, time_limit_or
from .records import EngineIdentity, ScenarioResult
from .search import Outcome


def scenario_env(
    engine_env: Mapping[str, str], bin_dir: Path, builder: Builder, path: str
) -> dict[str, str]:
    """Pure: what the scenario runs with: the engine, the labelling `docker` first on
    PATH, and the builder labs would choose (a scenario may set DOCKER_BUILDKIT itself)."""
    env = {**engine_env, "PATH": f"{bin_dir}{os.pathsep}{path}", "DOCKER_CLI_HINTS": "false"}
    env["DOCKER_BUILDKIT"] = "1" if builder is Builder.BUILDKIT else "0"
    return env


def judge(returncode: int) -> tuple[Outcome, str]:
    """Pure: what a scenario's exit says: 0 present, any other absent."""
    if returncode == 0:
        return Outcome.PRESENT, "exit 0"
    return Outcome.ABSENT, f"exit {returncode}"


def identify(engine: Engine) -> EngineIdentity:
    """What answers on `engine`: its version, commit and API version."""
    version = engine.version()
    return EngineIdentity(
        name=engine.name,
        kind=engine.kind,
        version=str(version.get("Version", "")),
        commit=str(version.get("GitCommit", "")),
        api_version=str(version.get("ApiVersion", "")),
    )


def _scratch_copy(scenario: Scenario, scratch: Path) -> None:
    if scratch.exists():
        shutil.rmtree(scratch)
    if scenario.path.is_dir():
        shutil.copytree(scenario.path, scratch, symlinks=True)
    else:
        scratch.mkdir(parents=True)
        shutil.copy2(scenario.path, scratch / scenario.path.name)


def run_scenario(
    session: Session,
    scenario: Scenario,
    engine: Engine,
    identity: EngineIdentity,
    *,
    run_id: str,
    folder: Path,
    timeout: float,
) -> ScenarioResult:
    """Run `scenario` on `engine` in a scratch copy under `folder`; its output goes to
    folder/output.log (a lab step's: its lab report there). Ctrl-C stops it (and what
    it started) and is raised."""
    log = folder / "output.log"
    if not engine.ping(timeout=10):
        return ScenarioResult.untested(f"the {engine.name} engine does not answer", log=str(log))
    if scenario.lab_step is not None:
        return run_lab_step(
            session, scenario, engine, run_id=run_id, folder=folder, timeout=timeout
        )
    workspace = session.workspace
    builder_word, why = detect_builder(engine, workspace, identity.version, identity.api_version)
    builder = Builder(builder_word)
    scratch, bin_dir = folder / "scratch", folder / "bin"
    _scratch_copy(scenario, scratch)
    flags = labels.label_flags(
        "lab",
        lab=f"scenario-{scenario.name}",
        run=run_id,
        workspace=labels.workspace_key(workspace.root),
    )
    write_atomic(bin_dir / "docker", docker_wrapper(process.require("docker"), flags), mode=0o755)
    env = scenario_env(engine.cli_env(), bin_dir, builder, os.environ.get("PATH", ""))
    log.unlink(missing_ok=True)
    started = time.monotonic()
    try:
        # The time limit stops the scenario's whole process group: a hung `docker run`
        # stops with the shell that started it (and its container is removed below).
        done = process.run(
            [f"./{scenario.entry}"], env=env, cwd=scratch, log=log, timeout=timeout,
            tail_lines=TAIL_LINES,
        )  # fmt: skip
    except Interrupted:
        raise
    except MobylabError as exc:
        seconds = time.monotonic() - started
        why = time_limit_or(exc.message, seconds, timeout)
        return ScenarioResult.untested(why, seconds, str(log))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        with contextlib.suppress(EngineError):
            remove_run_resources(engine, run_id)
    outcome, reason = judge(done.returncode)
    return ScenarioResult(
        outcome=outcome,
        reason=reason,
        seconds=done.seconds,
        tail=tuple(done.tail),
        log=str(log),
        builder=builder,
        builder_reason=why,
        exit_code=done.returncode,
    )

"""Run a BuildPlan: `make <target>` in the checkout, live output, a log, a bundles manifest.

The engine's Makefile builds the dev image with `docker build` and runs the
target in `docker run --privileged ...`. mobylab overrides the Makefile variable
holding that `docker run` on the make command line: the engine's working
docker-in-docker flags replace --privileged when it is refused, and labels let
Ctrl-C find and remove the build container that killing make leaves running.
A build is cached by commit and plan: building the same commit again is a no-op.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shlex
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
from rich.console import Group
from rich.live import Live
from rich.text import Text

from .. import labels, process, ui
from ..engine import Engine, RunSecurity
from ..errors import BuildError, Interrupted, MobylabError
from ..workspace import Workspace, file_sha256, read_json, write_json
from .plan import BuildPlan

STATE_NAME = "last-build"
BUILD_LABEL = "org.mobylab.build"
COMPONENT = "devbuild"
ARCHIVE_SUFFIXES = (".tgz", ".tar.gz", ".zip")
VERSION_TIMEOUT = 5.0
TAIL_LINES = 40


# --- pure decisions ------------------------------------------------------------------------


def _make_quote(value: str) -> str:
    """A word for the shell that runs make's recipe, with make's own `$` escaped."""
    return shlex.quote(value).replace("$", "$$")


def docker_run_override(
    run_value: str, security_flags: Sequence[str], extra_flags: Sequence[str]
) -> str:
    """Pure: the Makefile's `docker run ...` text with our flags in place of --privileged.

    Make references ($(DOCKER_ENVS), $(DOCKER_MOUNT), ...) stay as they are, so make
    still expands them. A pseudo-tty flag is dropped: the build never has a terminal.
    """
    tokens = [t for t in run_value.split() if t not in ("--privileged", "-t", "--tty")]
    added = [_make_quote(flag) for flag in [*security_flags, *extra_flags]]
    try:
        at = tokens.index("run") + 1
    except ValueError:
        at = len(tokens)
    return " ".join([*tokens[:at], *added, *tokens[at:]])


def make_argv(
    plan: BuildPlan,
    *,
    security: RunSecurity,
    build_id: str,
) -> tuple[list[str], list[str]]:
    """Pure: the make command line for a plan, and notes on what was overridden."""
    argv = ["make", *plan.make_vars]
    notes: list[str] = []
    if plan.run_var:
        extra = labels.label_flags(COMPONENT, build=build_id, commit=plan.commit[:12])
        override = docker_run_override(plan.run_value, security.cli_flags(), extra)
        argv.append(f"{plan.run_var}={override}")
        if not security.privileged:
            notes.append(
                f"the engine refuses --privileged: the build container gets "
                f"{security.describe()} ({plan.run_var}=... on the make command line)"
            )
    elif not security.privileged:
        notes.append(
            "the engine refuses --privileged and the Makefile's docker run flags were not "
            "found: the build container may fail to start"
        )
    if plan.build_args_var:
        image_labels = [_make_quote(flag) for flag in labels.label_flags("dev-image")]
        value = " ".join([plan.build_args_value, *image_labels]).strip()
        argv.append(f"{plan.build_args_var}={value}")
    argv.append(plan.target)
    return argv, notes


_MAKE_ERROR = re.compile(r"^make(?:\[\d+\])?: \*\*\* \[[^\]]*\] Error (\d+)")
_BUNDLE = re.compile(r"^-+> Making bundle: (\S+)")


def recipe_exit_code(lines: Sequence[str]) -> int | None:
    """Pure: the exit code of the recipe command that made make fail ("Error 3")."""
    for line in reversed(lines):
        match = _MAKE_ERROR.match(line.strip())
        if match:
            return int(match.group(1))
    return None


def phase_of(line: str) -> str | None:
    """Pure: the build phase a line of make's output starts, if any."""
    match = _BUNDLE.match(line.strip())
    if match:
        return f"bundle {match.group(1)}"
    stripped = line.strip()
    if stripped.startswith(("Sending build context", "Step 1/", "#1 [internal]", "#0 building")):
        return "dev image"
    return None


class PhaseClock:
    """Durations of the phases a build goes through, from the lines it prints."""

    def __init__(self, first: str = "make", now: float | None = None) -> None:
        self.current = first
        self.started = now if now is not None else time.monotonic()
        self._phase_started = self.started
        self.durations: dict[str, float] = {}

    def switch(self, phase: str, now: float | None = None) -> None:
        now = now if now is not None else time.monotonic()
        if phase == self.current:
            return
        self.durations[self.current] = (
            self.durations.get(self.current, 0.0) + now - self._phase_started
        )
        self.current, self._phase_started = phase, now

    def finish(self, now: float | None = None) -> list[dict[str, Any]]:
        """[{"name", "seconds"}] in the order the phases started."""
        self.switch("", now)
        return [
            {"name": name, "seconds": round(seconds, 3)}
            for name, seconds in self.durations.items()
            if name
        ]


def build_dir(workspace: Workspace, commit: str) -> Path:
    return workspace.root / "builds" / commit


def manifest_path(workspace: Workspace, commit: str) -> Path:
    return build_dir(workspace, commit) / "manifest.json"


def cache_valid(manifest: Mapping[str, Any] | None, plan: BuildPlan) -> bool:
    """A manifest for this plan whose binaries are still there, unchanged."""
    if not manifest or manifest.get("plan_key") != plan.key:
        return False
    binaries = manifest.get("binaries") or []
    if not binaries:
        return False
    for entry in binaries:
        try:
            info = (plan.checkout / entry["path"]).stat()
        except (OSError, KeyError):
            return False
        if info.st_size != entry.get("size") or info.st_mtime_ns != entry.get("mtime_ns"):
            return False
    return True


# --- the manifest --------------------------------------------------------------------------


def _is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == b"\x7fELF"
    except OSError:
        return False


def binary_version(path: Path) -> str | None:
    """The first line `<bin> --version` prints on this host, or None if it cannot run."""
    try:
        result = process.capture([str(path), "--version"], timeout=VERSION_TIMEOUT)
    except (MobylabError, OSError):
        return None
    text = (result.stdout or result.stderr).strip()
    if result.returncode != 0 or not text:
        return None
    return text.splitlines()[0].strip()[:200]


def scan_bundles(checkout: Path) -> dict[str, list[dict[str, Any]]]:
    """Every binary, archive and symlink under <checkout>/bundles."""
    bundles = checkout / "bundles"
    found: dict[str, list[dict[str, Any]]] = {"binaries": [], "archives": [], "symlinks": []}
    if not bundles.is_dir():
        return found
    for root, dirs, files in os.walk(bundles):
        dirs.sort()
        for name in sorted([*files, *[d for d in dirs if (Path(root) / d).is_symlink()]]):
            path = Path(root) / name
            rel = str(path.relative_to(checkout))
            if path.is_symlink():
                found["symlinks"].append({"path": rel, "target": os.readlink(path)})
                continue
            if name.endswith(ARCHIVE_SUFFIXES):
                info = path.stat()
                found["archives"].append(
                    {"path": rel, "size": info.st_size, "sha256": file_sha256(path)}
                )
            elif _is_elf(path):
                info = path.stat()
                found["binaries"].append(
                    {
                        "path": rel,
                        "name": name,
                        "size": info.st_size,
                        "mtime_ns": info.st_mtime_ns,
                        "sha256": file_sha256(path),
                        "version": binary_version(path),
                    }
                )
    return found


# --- live output ---------------------------------------------------------------------------


class BuildView:
    """Phase, elapsed time and the last lines on a terminal; plain lines otherwise."""

    def __init__(self, interactive: bool, clock: PhaseClock, title: str) -> None:
        self.interactive = interactive
        self.clock = clock
        self.title = title
        self.lines: deque[str] = deque(maxlen=6)

    def on_line(self, line: str) -> None:
        phase = phase_of(line)
        if phase:
            self.clock.switch(phase)
        self.lines.append(line)
        if not self.interactive:
            ui.err.print(line, markup=False, highlight=False)

    def render(self) -> Group:
        elapsed = time.monotonic() - self.clock.started
        head = Text.assemble(
            (f"{self.title} ", "bold"),
            (f"[{self.clock.current}] ", "cyan"),
            (f"{elapsed:5.0f}s", "dim"),
        )
        tail = [Text(line[:200], style="dim", no_wrap=True) for line in self.lines]
        return Group(head, *tail)

    @contextmanager
    def shown(self) -> Iterator[BuildView]:
        if not self.interactive:
            yield self
            return
        with Live(get_renderable=self.render, console=ui.err, refresh_per_second=4, transient=True):
            yield self


# --- the build -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildRecord:
    """A finished build: its plan, its manifest and the checkout's bundles folder."""

    plan: BuildPlan
    manifest: dict[str, Any]
    bundles_dir: Path
    manifest_path: Path
    cached: bool = False


def _record(manifest: dict[str, Any], path: Path, cached: bool = False) -> BuildRecord:
    plan = BuildPlan.from_dict(manifest["plan"])
    return BuildRecord(plan, manifest, plan.checkout / "bundles", path, cached)


def last_build(workspace: Workspace) -> BuildRecord | None:
    """The most recent successful build of this workspace, or None."""
    state = workspace.load_state(STATE_NAME)
    if not isinstance(state, dict) or "manifest" not in state:
        return None
    path = Path(state["manifest"])
    manifest = read_json(path)
    if not isinstance(manifest, dict) or "plan" not in manifest:
        return None
    return _record(manifest, path)


def cached_build(workspace: Workspace, plan: BuildPlan) -> BuildRecord | None:
    """The build of this commit and plan, when its binaries are still in place."""
    path = manifest_path(workspace, plan.commit)
    manifest = read_json(path)
    if isinstance(manifest, dict) and cache_valid(manifest, plan):
        # It is the build in the checkout now: dev.up and dev.bundles use it.
        workspace.save_state(STATE_NAME, {"commit": plan.commit, "manifest": str(path)})
        return _record(manifest, path, cached=True)
    return None


def require_make() -> None:
    try:
        process.require("make")
    except MobylabError as exc:
        raise BuildError(exc.message, exc.hint) from None


def remove_build_containers(engine: Engine, build_id: str) -> list[str]:
    """Remove the (mobylab-labelled) containers of one build; their short ids."""
    removed: list[str] = []
    try:
        client = engine.client(timeout=60)
    except MobylabError:
        return removed
    try:
        filters = {"label": [f"{labels.MANAGED}=true", f"{BUILD_LABEL}={build_id}"]}
        for container in client.containers.list(all=True, filters=filters):
            if not labels.is_managed(container.labels):
                continue
            try:
                container.remove(force=True)
                removed.append(container.short_id)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                if "already in progress" not in str(exc):
                    raise
    finally:
        client.close()
    return removed


@contextmanager
def _container_removed_on_ctrl_c(
    engine: Engine, build_id: str, removed: list[str]
) -> Iterator[None]:
    """On Ctrl-C, remove the build container first: make and the docker CLI then exit
    at once instead of waiting for a container whose PID 1 ignores SIGINT."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return

    def on_sigint(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        removed.extend(remove_build_containers(engine, build_id))
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def run_build(
    workspace: Workspace,
    plan: BuildPlan,
    engine: Engine,
    security: RunSecurity,
    *,
    force: bool = False,
    skip_cross: bool = False,
    interactive: bool | None = None,
) -> BuildRecord:
    """Build `plan` with make on `engine`; a cached build of the same plan is a no-op."""
    if not force:
        cached = cached_build(workspace, plan)
        if cached is not None:
            return cached
    require_make()
    with _checkout_lock(workspace, plan.checkout):
        return _build(workspace, plan, engine, security, skip_cross, interactive)


@contextmanager
def _checkout_lock(workspace: Workspace, checkout: Path) -> Iterator[None]:
    """One build at a time per checkout (they would share bundles/)."""
    key = hashlib.sha256(str(checkout.resolve()).encode()).hexdigest()[:12]
    path = workspace.root / "builds" / f".lock-{key}"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildError(
                f"another dev.build is running in {checkout}",
                "Wait for it to finish, or stop it with Ctrl-C.",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(
    workspace: Workspace,
    plan: BuildPlan,
    engine: Engine,
    security: RunSecurity,
    skip_cross: bool,
    interactive: bool | None,
) -> BuildRecord:
    build_id = uuid.uuid4().hex[:12]
    argv, notes = make_argv(plan, security=security, build_id=build_id)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log = workspace.logs / f"build-{plan.commit[:12]}-{stamp}-{build_id[:6]}.log"
    for note in [*plan.notes, *notes]:
        ui.info(f"note: {note}")
    for warning in plan.warnings:
        ui.warn(warning)
    if not engine.url.startswith("unix://"):
        ui.warn(
            f"the engine at {engine.url} may not be on this machine: make bind-mounts "
            f"{plan.checkout} into the build container, which only a local engine can do"
        )
    ui.step(f"make {plan.target} in {plan.checkout} (commit {plan.commit[:12]}, log {log})")
    env = {**engine.cli_env()}
    if skip_cross:
        env["DOCKER_CROSSPLATFORMS"] = ""
    with log.open("w", encoding="utf-8") as handle:
        handle.write(f"# {shlex.join(argv)}\n# DOCKER_HOST={env.get('DOCKER_HOST', '')}\n")
    removed: list[str] = []
    clock = PhaseClock()
    view = BuildView(ui.interactive() if interactive is None else interactive, clock, "dev.build")
    try:
        with view.shown(), _container_removed_on_ctrl_c(engine, build_id, removed):
            result = process.run(
                argv,
                env=env,
                cwd=plan.checkout,
                log=log,
                on_line=view.on_line,
                tail_lines=TAIL_LINES,
            )
    except (Interrupted, KeyboardInterrupt):
        removed.extend(remove_build_containers(engine, build_id))
        with log.open("a", encoding="utf-8") as handle:
            handle.write(f"# interrupted; removed build containers: {removed or 'none'}\n")
        raise Interrupted(
            "build interrupted", f"The build container was removed; the log is {log}."
        ) from None
    finally:
        remove_build_containers(engine, build_id)
    if not result.ok:
        step_code = recipe_exit_code(result.tail)
        because = f"; the failing step exited with {step_code}" if step_code is not None else ""
        raise BuildError(
            f"make {plan.target} failed with exit code {result.returncode}{because}",
            f"The full log is {log}.",
            detail="\n".join(result.tail[-TAIL_LINES:]),
        )
    phases = clock.finish()
    ui.step("listing the bundles")
    started = time.monotonic()
    found = scan_bundles(plan.checkout)
    phases.append({"name": "manifest", "seconds": round(time.monotonic() - started, 3)})
    if not found["binaries"]:
        raise BuildError(
            f"make {plan.target} succeeded but {plan.checkout / 'bundles'} holds no binaries",
            f"See the log {log}.",
        )
    manifest: dict[str, Any] = {
        "commit": plan.commit,
        "plan_key": plan.key,
        "plan": plan.as_dict(),
        "target": plan.target,
        "argv": argv,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(result.seconds, 3),
        "phases": phases,
        "log": str(log),
        "engine": engine.url,
        "security": security.describe(),
        "bundles_dir": str(plan.checkout / "bundles"),
        **found,
    }
    path = manifest_path(workspace, plan.commit)
    write_json(path, manifest)
    workspace.save_state(STATE_NAME, {"commit": plan.commit, "manifest": str(path)})
    return _record(manifest, path)

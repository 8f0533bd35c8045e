"""Run a BuildPlan: live output, a log, a bundles manifest, a cache by commit and plan.

What runs depends on the plan's route: the era's own make (build_upstream) or
hack/make.sh in mobylab's Debian-made dev image (build_source). Both come here as
a BuildJob, and share the rest: one build at a time per folder, Ctrl-C removes the
labelled build container, the manifest lists every binary with its sha256 and the
version it reports, and building the same commit with the same plan is a no-op.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shlex
import shutil
import signal
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.text import Text

from .. import process, ui
from ..config import Settings
from ..engine import Engine, RunSecurity
from ..errors import BuildError, Interrupted, MobylabError, UsageError
from ..images.recipes import Recipe
from ..workspace import Workspace, file_sha256, read_json, write_json
from .build_source import source_job
from .build_upstream import upstream_job
from .job import (
    BuildJob,
    build_dir,
    manifest_path,
    new_build_id,
    remove_build_containers,
)
from .manifest import BuildManifest, BundleArchive, BundleBinary, BundleLink, Bundles, Phase
from .plan import BuildPlan, SourceRoute
from .seccomp import DAEMON_PROFILE, with_clone3

STATE_NAME = "last-build"
ARCHIVE_SUFFIXES = (".tgz", ".tar.gz", ".zip")
VERSION_TIMEOUT = 5.0
TAIL_LINES = 40


# --- pure decisions ------------------------------------------------------------------------


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

    def finish(self, now: float | None = None) -> list[Phase]:
        """The phases in the order they started."""
        self.switch("", now)
        return [Phase(name, round(seconds, 3)) for name, seconds in self.durations.items() if name]


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


def scan_bundles(checkout: Path) -> Bundles:
    """Every binary, archive and symlink under <checkout>/bundles."""
    bundles = checkout / "bundles"
    binaries: list[BundleBinary] = []
    archives: list[BundleArchive] = []
    symlinks: list[BundleLink] = []
    if not bundles.is_dir():
        return Bundles()
    for root, dirs, files in os.walk(bundles):
        dirs.sort()
        for name in sorted([*files, *[d for d in dirs if (Path(root) / d).is_symlink()]]):
            path = Path(root) / name
            rel = str(path.relative_to(checkout))
            if path.is_symlink():
                symlinks.append(BundleLink(rel, os.readlink(path)))
                continue
            if name.endswith(ARCHIVE_SUFFIXES):
                archives.append(BundleArchive(rel, path.stat().st_size, file_sha256(path)))
            elif _is_elf(path):
                info = path.stat()
                binaries.append(
                    BundleBinary(
                        path=rel,
                        name=name,
                        size=info.st_size,
                        mtime_ns=info.st_mtime_ns,
                        sha256=file_sha256(path),
                        version=binary_version(path),
                    )
                )
    return Bundles(tuple(binaries), tuple(archives), tuple(symlinks))


# --- live output ---------------------------------------------------------------------------


class BuildView:
    """Phase, elapsed time and the last lines on a terminal; plain lines otherwise, or
    (`every_line` False: a build inside a larger run) a line as each phase starts."""

    def __init__(
        self, interactive: bool, clock: PhaseClock, title: str, every_line: bool = True
    ) -> None:
        self.interactive = interactive
        self.every_line = every_line
        self.clock = clock
        self.title = title
        self.lines: deque[str] = deque(maxlen=6)

    def on_line(self, line: str) -> None:
        phase = phase_of(line)
        if phase and phase != self.clock.current and not (self.interactive or self.every_line):
            elapsed = time.monotonic() - self.clock.started
            ui.err.print(f"  {self.title}: {phase} ({elapsed:.0f}s)", markup=False)
        if phase:
            self.clock.switch(phase)
        self.lines.append(line)
        if not self.interactive and self.every_line:
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
    """A finished build: its manifest, and where that manifest is kept."""

    manifest: BuildManifest
    manifest_path: Path
    cached: bool = False

    @property
    def plan(self) -> BuildPlan:
        return self.manifest.plan

    @property
    def bundles_dir(self) -> Path:
        return self.manifest.bundles_dir


def read_manifest(path: Path) -> BuildManifest | None:
    """The manifest kept at `path`, or None when there is none or it is damaged."""
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("plan"), dict):
        return None
    try:
        return BuildManifest.from_dict(data)
    except (KeyError, TypeError, ValueError):
        return None


def load_record(path: Path) -> BuildRecord | None:
    manifest = read_manifest(path)
    return BuildRecord(manifest, path) if manifest is not None else None


def last_build(workspace: Workspace) -> BuildRecord | None:
    """The most recent successful build of this workspace, or None."""
    state = workspace.load_state(STATE_NAME)
    if not isinstance(state, dict) or "manifest" not in state:
        return None
    return load_record(Path(state["manifest"]))


EXPORT_MANIFEST = "build.json"


def export_build(record: BuildRecord, folder: Path) -> Path:
    """`folder` made to hold the build's bundles and its manifest, for another machine."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shutil.copytree(record.bundles_dir, folder / "bundles", symlinks=True)
    write_json(folder / EXPORT_MANIFEST, record.manifest.to_dict())
    return folder


def import_build(workspace: Workspace, folder: Path) -> BuildRecord:
    """Register an exported build (bundles + manifest) as this workspace's last build.

    Every binary is checked against the manifest's sha256 first: a damaged copy is
    refused and nothing is registered.
    """
    exported = read_manifest(folder / EXPORT_MANIFEST)
    if exported is None:
        raise BuildError(
            f"{folder} holds no exported build ({EXPORT_MANIFEST} is missing or damaged)",
            "Copy it again (workshop.provision --dev makes it).",
        )
    for binary in exported.bundles.binaries:
        path = folder / binary.path
        if not path.is_file() or file_sha256(path) != binary.sha256:
            raise BuildError(
                f"{binary.path} of the exported build is missing or changed",
                "Copy the build again; nothing was registered.",
            )
    return _keep(workspace, exported.moved_to(folder))


def _keep(workspace: Workspace, manifest: BuildManifest, cached: bool = False) -> BuildRecord:
    """The build kept in the workspace as the one in use now: dev.up and dev.bundles
    take it."""
    path = manifest_path(workspace, manifest.commit, manifest.plan.route.name)
    if not cached:
        write_json(path, manifest.to_dict())
    workspace.save_state(STATE_NAME, {"commit": manifest.commit, "manifest": str(path)})
    return BuildRecord(manifest, path, cached)


def all_builds(workspace: Workspace) -> list[BuildRecord]:
    """Every build kept in the workspace (builds/<commit>/<route>), newest first."""
    records = []
    for path in (workspace.root / "builds").glob("*/*/manifest.json"):
        record = load_record(path)
        if record is not None:
            records.append(record)
    return sorted(records, key=lambda r: r.manifest.built_at, reverse=True)


def pick_build(records: Sequence[BuildRecord], prefix: str) -> BuildRecord:
    """Pure: the build whose commit starts with `prefix` (its newest route), or why not."""
    matching = [r for r in records if r.plan.commit.startswith(prefix.lower())]
    commits = sorted({r.plan.commit for r in matching})
    if not commits:
        known = ", ".join(sorted({r.plan.commit[:12] for r in records})) or "none yet"
        raise BuildError(
            f"no build of a commit starting with {prefix!r} in this workspace (builds: {known})",
            "Build it first: `invoke dev.clone --ref <commit>` then `invoke dev.build`.",
        )
    if len(commits) > 1:
        raise UsageError(
            f"{prefix!r} names {len(commits)} builds ({', '.join(c[:12] for c in commits)})",
            "Give more digits of the commit.",
        )
    return matching[0]


def cached_build(
    workspace: Workspace, plan: BuildPlan, *, other: BuildPlan | None = None
) -> BuildRecord | None:
    """The build of `plan` (or of `other`, the same commit by the other route), when
    its binaries are still in place; the newest when both are."""
    found: list[BuildManifest] = []
    for candidate in (plan, other):
        if candidate is None:
            continue
        manifest = read_manifest(manifest_path(workspace, candidate.commit, candidate.route.name))
        if manifest is not None and manifest.cache_valid(candidate):
            found.append(manifest)
    if not found:
        return None
    return _keep(workspace, max(found, key=lambda m: m.built_at), cached=True)


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


@contextmanager
def build_lock(workspace: Workspace, folder: Path) -> Iterator[None]:
    """One build at a time per folder (two builds there would share bundles/)."""
    key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
    path = workspace.root / "builds" / f".lock-{key}"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildError(
                f"another dev.build is running in {folder}",
                "Wait for it to finish, or stop it with Ctrl-C.",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def command_name(argv: Sequence[str]) -> str:
    """Pure: a build command as messages name it: `make tgz`, `hack/make.sh binary`."""
    words = list(argv)
    if "hack/make.sh" in words:
        return " ".join(words[words.index("hack/make.sh") :])
    if words and Path(words[0]).name == "make":
        return f"make {words[-1]}"
    return Path(words[0]).name if words else "the build"


def failure_hint(tail: Sequence[str], log: Path) -> tuple[str, str]:
    """Pure: (what went wrong, what to do) from the last lines of a failed build."""
    text = "\n".join(tail).lower()
    if "no space left on device" in text:
        return (
            "the build ran out of disk space",
            f"Free some space (docker system df shows what the engine holds), then build "
            f"again; the log is {log}.",
        )
    return "", f"The full log is {log}."


def execute(
    workspace: Workspace,
    plan: BuildPlan,
    engine: Engine,
    job: BuildJob,
    *,
    interactive: bool | None = None,
    every_line: bool = True,
) -> BuildRecord:
    """Run a job's commands with live output and a log, then list the bundles
    (`every_line`: echo each line when not on a terminal, else only the phases)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log = workspace.logs / f"build-{plan.commit[:12]}-{stamp}-{job.build_id[:6]}.log"
    if plan.route.reason:
        ui.info(f"route: {plan.route.name} ({plan.route.reason})")
    for note in [*plan.notes, *job.notes]:
        ui.info(f"note: {note}")
    for warning in plan.warnings:
        ui.warn(warning)
    with log.open("w", encoding="utf-8") as handle:
        for argv in job.commands:
            handle.write(f"# {shlex.join(argv)}\n")
        handle.write(f"# DOCKER_HOST={job.env.get('DOCKER_HOST', '')}\n")
    removed: list[str] = []
    clock = PhaseClock()
    shown = ui.interactive() if interactive is None else interactive
    view = BuildView(shown, clock, f"build {plan.commit[:12]}", every_line)
    started = time.monotonic()
    try:
        with view.shown(), _container_removed_on_ctrl_c(engine, job.build_id, removed):
            for argv in job.commands:
                result = process.run(
                    list(argv),
                    env=dict(job.env),
                    cwd=job.cwd,
                    log=log,
                    on_line=view.on_line,
                    tail_lines=TAIL_LINES,
                )
                if not result.ok:
                    break
    except (Interrupted, KeyboardInterrupt):
        removed.extend(remove_build_containers(engine, job.build_id))
        with log.open("a", encoding="utf-8") as handle:
            handle.write(f"# interrupted; removed build containers: {removed or 'none'}\n")
        raise Interrupted(
            "build interrupted", f"The build container was removed; the log is {log}."
        ) from None
    finally:
        remove_build_containers(engine, job.build_id)
    if not result.ok:
        step_code = recipe_exit_code(result.tail)
        because = f"; the failing step exited with {step_code}" if step_code is not None else ""
        what, hint = failure_hint(result.tail, log)
        name = command_name(argv)
        raise BuildError(
            f"{name} failed with exit code {result.returncode}{because}"
            + (f": {what}" if what else ""),
            hint,
            detail="\n".join(result.tail[-TAIL_LINES:]),
        )
    phases = clock.finish()
    for placed in place_beside_daemon(job.source_dir, plan.daemon_dirs, job.bundle_files):
        ui.info(f"{placed.name} put beside the daemon in {placed.parent}")
    if plan.seccomp_profile:
        profile = (job.source_dir / plan.seccomp_profile).read_text()
        (job.source_dir / "bundles" / DAEMON_PROFILE).write_text(with_clone3(profile))
    ui.step("listing the bundles")
    listed = time.monotonic()
    found = scan_bundles(job.source_dir)
    phases.append(Phase("manifest", round(time.monotonic() - listed, 3)))
    if not found.binaries:
        raise BuildError(
            f"{plan.command} succeeded but {job.source_dir / 'bundles'} holds no binaries",
            f"See the log {log}.",
        )
    manifest = BuildManifest(
        plan=plan,
        plan_key=plan.key,
        bundles=found,
        source_dir=job.source_dir,
        bundles_dir=job.source_dir / "bundles",
        argv=tuple(job.commands[0]),
        commands=tuple(tuple(argv) for argv in job.commands),
        built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        seconds=round(time.monotonic() - started, 3),
        phases=tuple(phases),
        log=str(log),
        engine=engine.url,
        route_facts=dict(job.manifest),
    )
    return _keep(workspace, manifest)


def place_beside_daemon(
    source_dir: Path, daemon_dirs: Sequence[str], files: Sequence[Path]
) -> list[Path]:
    """Copy each file into the first of the daemon's bundle folders that exists, unless
    the build put one there; the copies made."""
    folder = next((source_dir / d for d in daemon_dirs if (source_dir / d).is_dir()), None)
    placed: list[Path] = []
    if folder is None:
        return placed
    for path in files:
        target = folder / path.name
        if not target.exists():
            shutil.copy2(path, target)
            placed.append(target)
    return placed


def require_make() -> None:
    try:
        process.require("make")
    except MobylabError as exc:
        raise BuildError(exc.message, exc.hint) from None


def run_build(
    workspace: Workspace,
    plan: BuildPlan,
    engine: Engine,
    security: RunSecurity,
    *,
    force: bool = False,
    skip_cross: bool = False,
    interactive: bool | None = None,
    every_line: bool = True,
    recipe: Recipe | None = None,
    settings: Settings,
) -> BuildRecord:
    """Build `plan` on `engine` by its route; a cached build of the same plan is a no-op."""
    if not force:
        cached = cached_build(workspace, plan)
        if cached is not None:
            return cached
    build_id = new_build_id()
    if isinstance(plan.route, SourceRoute):
        if recipe is None:
            raise BuildError("the source route needs its dev image's recipe (dev.planner)")
        # Source builds write their build copy's bundles/, upstream builds the checkout's.
        with build_lock(workspace, build_dir(workspace, plan.commit, plan.route.name)):
            job = source_job(workspace, plan, engine, recipe, settings, build_id)
            return execute(
                workspace, plan, engine, job, interactive=interactive, every_line=every_line
            )
    require_make()
    with build_lock(workspace, plan.checkout):
        job = upstream_job(plan, engine, security, build_id, skip_cross=skip_cross)
        return execute(workspace, plan, engine, job, interactive=interactive, every_line=every_line)

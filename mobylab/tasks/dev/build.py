"""dev.clone, dev.plan, dev.build, dev.bundles: the engine's source and its build."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke import task

from ... import process, ui
from ...errors import BuildError
from ..base import Session, friendly_errors

if TYPE_CHECKING:
    from ...dev.plan import BuildPlan


def _checkout(session: Session, checkout: str | None) -> Path:
    from ...dev.source import default_checkout

    return Path(checkout).expanduser() if checkout else default_checkout(session.workspace)


def _local_buildx() -> bool:
    """Whether this machine's docker CLI has the buildx plugin."""
    if shutil.which("docker") is None:
        return False
    return process.capture(["docker", "buildx", "version"], timeout=20).returncode == 0


def _print_plan(plan: BuildPlan) -> None:
    rows = [
        ("checkout", str(plan.checkout)),
        ("commit", f"{plan.commit[:12]} ({plan.branch or 'detached HEAD'})"),
        ("era", plan.era),
        ("command", " ".join(["make", *plan.make_vars, plan.target])),
        ("dev image", plan.dev_image),
        ("workdir", plan.workdir),
        ("version", plan.version),
        ("daemon", ", ".join(plan.daemon_dirs)),
        ("client", ", ".join(plan.client_dirs)),
        ("PATH in docker-dev", plan.container_path),
        ("docker run flags", f"${plan.run_var}" if plan.run_var else "not found"),
    ]
    ui.out.print(ui.table(["", ""], rows, title="Build plan"))
    for note in plan.notes:
        ui.info(f"note: {note}")
    for warning in plan.warnings:
        ui.warn(warning)


@task(
    help={
        "repo": "repository URL (https, http, ssh, git, file) or path; default: setting repo",
        "ref": "branch, tag or commit SHA; default: the ref setting (master)",
        "pr": "pull request number (fetches refs/pull/N/head)",
        "full": "fetch the full history instead of a shallow one",
        "force": "discard local changes and commits in the checkout (they are listed first)",
    }
)
@friendly_errors
def clone(c, repo=None, ref=None, pr=None, full=False, force=False):
    """Clone or update the engine source in <workspace>/checkouts at a ref or pull request."""
    from ...dev.source import clone as clone_source

    session = Session.from_context(c)
    settings = session.settings
    if pr is None and ref is None:
        ref = settings.ref
    record = clone_source(session.workspace, repo or settings.repo, ref, pr, full=full, force=force)
    where = f"branch {record.branch}" if record.branch else "detached HEAD"
    ui.info(
        f"checked out {record.ref} at {record.commit[:12]} ({where}) in {record.path}"
        f"{' (shallow)' if record.shallow else ''}"
    )


@task(help={"checkout": "engine checkout (default: the one dev.clone made)", "json": "print JSON"})
@friendly_errors
def plan(c, checkout=None, json_=False):
    """Show how this checkout builds: era, make target, dev image, workdir, bundles."""
    from ...dev.plan import ERA_BAKE, host_cgroup_version, read_plan

    session = Session.from_context(c)
    path = _checkout(session, checkout)
    result = read_plan(path, host_cgroup=host_cgroup_version())
    if result.era == ERA_BAKE:
        result = read_plan(path, host_cgroup=host_cgroup_version(), buildx=_local_buildx())
    if json_:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        _print_plan(result)


@task(
    help={
        "target": "make target instead of the plan's (tgz or binary)",
        "force": "build even if this commit was built with this plan",
        "checkout": "engine checkout (default: the one dev.clone made)",
        "skip_cross": "set DOCKER_CROSSPLATFORMS= so tgz skips cross builds",
    }
)
@friendly_errors
def build(c, target=None, force=False, checkout=None, skip_cross=False):
    """Build the engine with make the way its era does; a built commit is a no-op."""
    from ...dev.build import cached_build, require_make, run_build
    from ...dev.plan import read_plan
    from ...dev.source import is_dirty
    from ...engine import probe

    started = time.monotonic()
    session = Session.from_context(c)
    path = _checkout(session, checkout)
    quick = read_plan(path, target=target)
    dirty = is_dirty(path)
    if dirty:
        ui.info("note: the checkout has uncommitted changes: building it again")
    if not force and not dirty:
        cached = cached_build(session.workspace, quick)
        if cached is not None:
            ui.info(
                f"commit {quick.commit[:12]} is already built (make {quick.target}); "
                f"nothing to do ({time.monotonic() - started:.2f}s). Use --force to rebuild."
            )
            return
    require_make()
    engine = session.engine()
    caps = probe(engine, session.workspace)
    full = read_plan(path, target=target, host_cgroup=caps.cgroup_version, buildx=caps.buildx)
    if full.era == "bake" and full.target == "binary" and not caps.buildx:
        raise BuildError(
            "make binary in this checkout runs `docker buildx bake`, and buildx is not installed",
            "Install the docker buildx plugin, or build an older ref.",
        )
    record = run_build(
        session.workspace,
        full,
        engine,
        caps.dind_security,
        force=True,
        skip_cross=skip_cross,
    )
    binaries = record.manifest["binaries"]
    ui.info(
        f"built {len(binaries)} binaries from {full.commit[:12]} in "
        f"{record.manifest['seconds']:.0f}s; see `invoke dev.bundles`"
    )


@task(help={"json": "print the manifest as JSON"})
@friendly_errors
def bundles(c, json_=False):
    """List the binaries of the last build: size, sha256 and the version each reports."""
    from ...dev.build import last_build

    session = Session.from_context(c)
    record = last_build(session.workspace)
    if record is None:
        raise BuildError("no build yet", "Run `invoke dev.build` first.")
    if json_:
        print(json.dumps(record.manifest, indent=2))
        return
    rows = [
        (
            b["path"].removeprefix("bundles/"),
            ui.human_bytes(b["size"]),
            b["sha256"][:12],
            b["version"] or "-",
        )
        for b in record.manifest["binaries"]
    ]
    manifest = record.manifest
    title = f"Bundles of {manifest['commit'][:12]} (make {manifest['target']}), in bundles/"
    ui.out.print(ui.table(["binary", "size", "sha256", "version"], rows, title=title))
    phases = ", ".join(f"{p['name']} {p['seconds']:.1f}s" for p in manifest["phases"])
    ui.info(f"in {record.bundles_dir}; phases: {phases}; log: {manifest['log']}")


TASKS: tuple[Any, ...] = (clone, plan, build, bundles)

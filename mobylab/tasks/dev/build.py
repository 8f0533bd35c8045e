"""dev.clone, dev.plan, dev.build, dev.bundles: the engine's source and its build."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke import task

from ... import ui
from ...errors import BuildError, UsageError
from ...session import Session
from ..base import friendly_errors

if TYPE_CHECKING:
    from ...dev.planner import Planned


def _checkout(session: Session, checkout: str | None) -> Path:
    from ...dev.source import default_checkout

    return Path(checkout).expanduser() if checkout else default_checkout(session.workspace)


def _print_plan(planned: Planned) -> None:
    from ...dev.planner import plan_rows

    plan = planned.plan
    ui.out.print(ui.table(["", ""], plan_rows(plan), title="Build plan"))
    for note in plan.notes:
        ui.info(f"note: {note}")
    for warning in plan.warnings:
        ui.warn(warning)


NO_FIXES_HELP = "source route: build without the engine's own later fixes (dev.plan lists them)"
ROUTE_HELP = "auto (default: the era's own make where it can work here), upstream or source"


@task(
    help={
        "repo": "repository URL (https, http, ssh, git, file) or path; default: setting repo",
        "ref": "branch, tag or commit SHA; default: the ref setting (master)",
        "pr": "pull request number (fetches refs/pull/N/head)",
        "full": "fetch the full history instead of a shallow one",
        "force": "discard local changes and commits in the checkout (they are listed first)",
        "mirrors": "a folder of bare git repositories standing in for GitHub (comma-separated "
        "for several); default: the mirrors setting",
    }
)
@friendly_errors
def clone(c, repo=None, ref=None, pr=None, full=False, force=False, mirrors=None):
    """Clone or update the engine source in <workspace>/checkouts at a ref or pull request."""
    from ...dev.source import clone as clone_source
    from ...dev.source import fetched_from

    session = Session.from_context(c, mirrors=mirrors)
    settings = session.settings
    if pr is None and ref is None:
        ref = settings.ref
    record = clone_source(
        session.workspace,
        repo or settings.repo,
        ref,
        pr,
        full=full,
        force=force,
        mirrors=settings.mirrors,
    )
    where = f"branch {record.branch}" if record.branch else "detached HEAD"
    ui.info(
        f"checked out {record.ref} at {record.commit[:12]} ({where}) in {record.path}"
        f"{' (shallow)' if record.shallow else ''}, {fetched_from(record)}"
    )


@task(
    help={
        "checkout": "engine checkout (default: the one dev.clone made)",
        "json": "print JSON",
        "route": ROUTE_HELP,
        "target": "make target instead of the plan's (tgz or binary)",
        "no_fixes": NO_FIXES_HELP,
    }
)
@friendly_errors
def plan(c, checkout=None, json_=False, route="auto", target=None, no_fixes=False):
    """Show how this checkout builds: era, route, toolchain, dev image, workdir, bundles."""
    from ...dev.pipeline import plan_checkout
    from ...dev.planner import plan_summary

    session = Session.from_context(c)
    planned = plan_checkout(
        session, _checkout(session, checkout), route=route, target=target, with_fixes=not no_fixes
    )
    if json_:
        print(json.dumps(plan_summary(planned), indent=2))
    else:
        _print_plan(planned)


@task(
    help={
        "target": "make target instead of the plan's (tgz or binary)",
        "force": "build even if this commit was built with this plan",
        "checkout": "engine checkout (default: the one dev.clone made)",
        "skip_cross": "set DOCKER_CROSSPLATFORMS= so tgz skips cross builds",
        "route": ROUTE_HELP,
        "no_fixes": NO_FIXES_HELP,
    }
)
@friendly_errors
def build(
    c, target=None, force=False, checkout=None, skip_cross=False, route="auto", no_fixes=False
):
    """Build the engine as its era does (or from source, offline); a built commit is reused."""
    from ...dev.pipeline import BuildDone, build_checkout
    from ...dev.routes import ROUTE_CHOICES

    started = time.monotonic()
    if route not in ROUTE_CHOICES:
        raise UsageError(f"--route {route!r} is not a route", "Use auto, upstream or source.")
    session = Session.from_context(c)
    outcome = build_checkout(
        session,
        _checkout(session, checkout),
        route=route,
        target=target,
        with_fixes=not no_fixes,
        force=bool(force),
        skip_cross=bool(skip_cross),
    )
    plan, manifest = outcome.record.plan, outcome.record.manifest
    if outcome.done == BuildDone.CACHED:
        ui.info(
            f"commit {plan.commit[:12]} is already built ({plan.route.name} route: "
            f"{plan.command}); nothing to do ({time.monotonic() - started:.2f}s). "
            "Use --force to rebuild."
        )
    elif outcome.done == BuildDone.IMAGE_REMADE:
        ui.info(f"made {plan.dev_image} again; the bundles of {plan.commit[:12]} are unchanged")
    else:
        ui.info(
            f"built {len(manifest.bundles.binaries)} binaries from {plan.commit[:12]} in "
            f"{manifest.seconds:.0f}s; see `invoke dev.bundles`"
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
        print(json.dumps(record.manifest.to_dict(), indent=2))
        return
    manifest = record.manifest
    rows = [
        (
            b.path.removeprefix("bundles/"),
            ui.human_bytes(b.size),
            b.sha256[:12],
            b.version or "-",
        )
        for b in manifest.bundles.binaries
    ]
    title = f"Bundles of {manifest.commit[:12]} (make {manifest.plan.target}), in bundles/"
    ui.out.print(ui.table(["binary", "size", "sha256", "version"], rows, title=title))
    phases = ", ".join(f"{p.name} {p.seconds:.1f}s" for p in manifest.phases)
    ui.info(f"in {record.bundles_dir}; phases: {phases}; log: {manifest.log}")


@task(name="import", help={"path": "a folder holding build.json and bundles/ (export_build)"})
@friendly_errors
def import_(c, path):
    """Register a build made on another machine (workshop.provision --dev copies one)."""
    from ...dev.build import import_build

    session = Session.from_context(c)
    record = import_build(session.workspace, Path(path).expanduser().resolve())
    ui.info(
        f"build {record.plan.commit[:12]} ({record.plan.route.name} route) registered: "
        f"{len(record.manifest.bundles.binaries)} binaries in {record.bundles_dir}; "
        f"its dev image is {record.plan.dev_image}"
    )


TASKS: tuple[Any, ...] = (clone, plan, build, bundles, import_)

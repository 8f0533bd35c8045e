"""dev.clone, dev.plan, dev.build, dev.bundles: the engine's source and its build."""

from __future__ import annotations

import dataclasses
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
    from ...dev.plan import BuildPlan
    from ...dev.planner import Planned
    from ...engine import Engine


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


def _planned(
    session: Session,
    path: Path,
    route: str,
    target: str | None,
    engine: Engine | None,
    with_fixes: bool = True,
) -> Planned:
    """The whole plan, with what the engine (when one answers) and the CLI offer.

    The checkout is read before the engine is asked anything: a wrong --checkout
    leaves nothing behind. The dev daemon runs on this machine's kernel, so its
    cgroups are this machine's.
    """
    from ...dev.planner import plan_build
    from ...engine import local_buildx

    return plan_build(
        path,
        session.settings,
        engine=engine,
        buildx=local_buildx(),
        route=route,
        target=target,
        with_fixes=with_fixes,
    )


def _cache_candidates(
    session: Session, quick: BuildPlan, route: str, target: str | None, with_fixes: bool
) -> tuple[BuildPlan, BuildPlan | None]:
    """The plans a cached build may be of: the era's own (upstream) and, when a
    source-route build of the commit exists, the source plan as it would be made now
    (the Debian indexes are cached, so this asks no engine and no network)."""
    from ...dev.build import manifest_path
    from ...dev.planner import source_route
    from ...errors import MobylabError

    upstream = dataclasses.replace(quick, route="upstream")
    if route == "upstream" or not manifest_path(session.workspace, quick.commit, "source").exists():
        return upstream, None
    try:
        source = source_route(
            quick, quick.checkout, session.settings, "", target, with_fixes=with_fixes
        ).plan
    except MobylabError:
        return upstream, None
    return (source, None) if route == "source" else (upstream, source)


def _dev_image_gone(session: Session, plan: BuildPlan) -> bool:
    """Whether the engine answers and lacks the build's dev image (say, after a prune)."""
    from ...dev.devimage import has_dev_image
    from ...errors import EngineError

    try:
        return not has_dev_image(session.engine(start=False), plan.dev_image)
    except EngineError:
        return False


def _remake_dev_image(
    session: Session, path: Path, built: BuildPlan, target: str | None, with_fixes: bool
) -> None:
    """Make a source build's dev image again from its recipe, leaving the bundles be."""
    from ...dev.devimage import ensure_dev_image

    engine = session.engine()
    planned = _planned(session, path, "source", target, engine, with_fixes=with_fixes)
    if planned.recipe is None or planned.recipe.tag != built.dev_image:
        raise BuildError(
            f"the dev image {built.dev_image} cannot be made again from today's plan",
            "Run `invoke dev.build --force` to build the commit again.",
        )
    ensure_dev_image(engine, session.workspace, session.settings, planned.recipe)
    ui.info(f"made {built.dev_image} again; the bundles of {built.commit[:12]} are unchanged")


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
    from ...dev.plan import read_plan
    from ...dev.planner import plan_summary
    from ...errors import EngineError

    session = Session.from_context(c)
    path = _checkout(session, checkout)
    read_plan(path, target=target)  # a checkout that is none is refused first
    try:
        engine: Engine | None = session.engine(start=False)
    except EngineError:
        engine = None
    planned = _planned(session, path, route, target, engine, with_fixes=not no_fixes)
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
    """Build the engine the way its era does (or from source, offline); a built commit is a
    no-op."""
    from ...dev.build import cached_build, run_build
    from ...dev.plan import read_plan
    from ...dev.routes import ROUTES
    from ...dev.source import is_dirty
    from ...engine import PRIVILEGED, probe

    started = time.monotonic()
    if route not in ROUTES:
        raise UsageError(f"--route {route!r} is not a route", "Use auto, upstream or source.")
    session = Session.from_context(c)
    path = _checkout(session, checkout)
    quick = read_plan(path, target=target)
    dirty = is_dirty(path)
    if dirty:
        ui.info("note: the checkout has uncommitted changes: building it again")
    if not force and not dirty:
        first, second = _cache_candidates(session, quick, route, target, not no_fixes)
        cached = cached_build(session.workspace, first, other=second)
        if cached is not None and not _dev_image_gone(session, cached.plan):
            ui.info(
                f"commit {quick.commit[:12]} is already built ({cached.plan.route} route: "
                f"{cached.plan.command}); nothing to do ({time.monotonic() - started:.2f}s). "
                "Use --force to rebuild."
            )
            return
        if cached is not None:
            # The bundles are there but dev.up could not run them: remake the image only
            # where mobylab makes it; the era's own docker-dev comes from its make.
            ui.info(f"the dev image {cached.plan.dev_image} is gone from the engine")
            if cached.plan.route == "source":
                _remake_dev_image(session, path, cached.plan, target, not no_fixes)
                return
    engine = session.engine()
    planned = _planned(session, path, route, target, engine, with_fixes=not no_fixes)
    full = planned.plan
    # Only make's build container runs docker-in-docker; the source route's is a plain one.
    security = (
        probe(engine, session.workspace).dind_security if full.route == "upstream" else (PRIVILEGED)
    )
    record = run_build(
        session.workspace,
        full,
        engine,
        security,
        force=True,
        skip_cross=skip_cross,
        recipe=planned.recipe,
        settings=session.settings,
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


@task(name="import", help={"path": "a folder holding build.json and bundles/ (export_build)"})
@friendly_errors
def import_(c, path):
    """Register a build made on another machine (workshop.provision --dev copies one)."""
    from ...dev.build import import_build

    session = Session.from_context(c)
    record = import_build(session.workspace, Path(path).expanduser().resolve())
    ui.info(
        f"build {record.plan.commit[:12]} ({record.plan.route} route) registered: "
        f"{len(record.manifest['binaries'])} binaries in {record.bundles_dir}; "
        f"its dev image is {record.plan.dev_image}"
    )


TASKS: tuple[Any, ...] = (clone, plan, build, bundles, import_)

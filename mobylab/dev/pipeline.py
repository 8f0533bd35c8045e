"""dev.plan and dev.build from a checkout: plan it, reuse its cached build, or build it.

The checkout is read before the engine is asked anything, so a wrong --checkout
leaves nothing behind. A commit built with the same plan is not built again; one
whose bundles are there but whose dev image is gone gets the image made again
(only where mobylab makes it: the source route's).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from .. import ui
from ..engine import PRIVILEGED, Engine, local_buildx, probe
from ..errors import BuildError, EngineError, MobylabError
from ..session import Session
from .build import BuildRecord, cached_build, run_build
from .devimage import ensure_dev_image, has_dev_image
from .job import manifest_path
from .plan import BuildPlan, read_plan
from .planner import Planned, plan_build, source_route
from .routes import Route
from .source import is_dirty


def plan_with_engine(
    session: Session,
    checkout: Path,
    *,
    route: str,
    target: str | None,
    engine: Engine | None,
    with_fixes: bool,
) -> Planned:
    """The whole plan, with what the engine (when one answers) and the CLI offer.

    The dev daemon runs on this machine's kernel, so its cgroups are this machine's.
    """
    return plan_build(
        checkout,
        session.settings,
        engine=engine,
        buildx=local_buildx(),
        route=route,
        target=target,
        with_fixes=with_fixes,
    )


def plan_checkout(
    session: Session, checkout: Path, *, route: str, target: str | None, with_fixes: bool
) -> Planned:
    """dev.plan: the plan of a checkout, asking the engine only when one already runs."""
    read_plan(checkout, target=target)  # a checkout that is none is refused first
    try:
        engine: Engine | None = session.engine(start=False)
    except EngineError:
        engine = None
    return plan_with_engine(
        session, checkout, route=route, target=target, engine=engine, with_fixes=with_fixes
    )


def cache_candidates(
    session: Session, quick: BuildPlan, route: str, target: str | None, with_fixes: bool
) -> tuple[BuildPlan, BuildPlan | None]:
    """The plans a cached build may be of: the era's own (upstream) and, when a
    source-route build of the commit exists, the source plan as it would be made now
    (the Debian indexes are cached, so this asks no engine and no network)."""
    source_built = manifest_path(session.workspace, quick.commit, Route.SOURCE).exists()
    if route == Route.UPSTREAM or not source_built:
        return quick, None
    try:
        source = source_route(
            quick, quick.checkout, session.settings, "", target, with_fixes=with_fixes
        ).plan
    except MobylabError:
        return quick, None
    return (source, None) if route == Route.SOURCE else (quick, source)


class BuildDone(StrEnum):
    """What dev.build did."""

    CACHED = "cached"
    IMAGE_REMADE = "image remade"
    BUILT = "built"


@dataclass(frozen=True)
class CheckoutBuild:
    """The build dev.build ended with, and what it did to get it."""

    record: BuildRecord
    done: BuildDone


def _dev_image_gone(session: Session, plan: BuildPlan) -> bool:
    """Whether the engine answers and lacks the build's dev image (say, after a prune)."""
    try:
        return not has_dev_image(session.engine(start=False), plan.dev_image)
    except EngineError:
        return False


def _remake_dev_image(
    session: Session, checkout: Path, built: BuildPlan, target: str | None, with_fixes: bool
) -> None:
    """Make a source build's dev image again from its recipe, leaving the bundles be."""
    engine = session.engine()
    planned = plan_with_engine(
        session, checkout, route=Route.SOURCE, target=target, engine=engine, with_fixes=with_fixes
    )
    if planned.recipe is None or planned.recipe.tag != built.dev_image:
        raise BuildError(
            f"the dev image {built.dev_image} cannot be made again from today's plan",
            "Run `invoke dev.build --force` to build the commit again.",
        )
    ensure_dev_image(engine, session.workspace, session.settings, planned.recipe)


def build_checkout(
    session: Session,
    checkout: Path,
    *,
    route: str,
    target: str | None,
    with_fixes: bool,
    force: bool,
    skip_cross: bool,
    every_line: bool = True,
) -> CheckoutBuild:
    """dev.build: the checkout built by its route, unless this very plan was built already
    (`every_line` False: off a terminal, only the build's phases are shown)."""
    quick = read_plan(checkout, target=target)
    dirty = is_dirty(checkout)
    if dirty:
        ui.info("note: the checkout has uncommitted changes: building it again")
    if not force and not dirty:
        first, second = cache_candidates(session, quick, route, target, with_fixes)
        cached = cached_build(session.workspace, first, other=second)
        if cached is not None and not _dev_image_gone(session, cached.plan):
            return CheckoutBuild(cached, BuildDone.CACHED)
        if cached is not None:
            # The bundles are there but dev.up could not run them: remake the image only
            # where mobylab makes it; the era's own docker-dev comes from its make.
            ui.info(f"the dev image {cached.plan.dev_image} is gone from the engine")
            if cached.plan.route.name == Route.SOURCE:
                _remake_dev_image(session, checkout, cached.plan, target, with_fixes)
                return CheckoutBuild(cached, BuildDone.IMAGE_REMADE)
    engine = session.engine()
    planned = plan_with_engine(
        session, checkout, route=route, target=target, engine=engine, with_fixes=with_fixes
    )
    plan = planned.plan
    # Only make's build container runs docker-in-docker; the source route's is a plain one.
    upstream = plan.route.name == Route.UPSTREAM
    security = probe(engine, session.workspace).dind_security if upstream else PRIVILEGED
    record = run_build(
        session.workspace,
        plan,
        engine,
        security,
        force=True,
        skip_cross=skip_cross,
        every_line=every_line,
        recipe=planned.recipe,
        settings=session.settings,
    )
    return CheckoutBuild(record, BuildDone.BUILT)

"""Gather what the pure plan needs, then plan: the era, the route, the toolchain.

The era comes from the checkout's files (dev.plan); the route from what the
engine and the machine offer the era's own Makefile (dev.routes: buildx, the
Dockerfile's base images, a registry); the toolchain, for the source route, from
the checkout's Go needs and what the Debian mirror serves (dev.toolchain).
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..engine import Engine
from ..errors import ImageError, MobylabError, SourceError
from ..images import debian
from ..images.recipes import Recipe
from ..images.rootfs import cache_dir, native_suites
from ..jsondata import JsonDict
from ..network import reach, registry_address
from .companions import BINARY_SETUP, companions_for, debian_aliases
from .devimage import dev_image_recipe
from .fixes import FIXES, fixes_for
from .plan import (
    BuildPlan,
    SourceRoute,
    host_cgroup_version,
    read_go_sources,
    read_plan,
    read_plan_files,
    read_plan_folders,
    source_plan,
    speaks_containerd_02,
)
from .routes import Route, RouteFacts, choose_route
from .toolchain import (
    GRAPHDRIVER_FOLDERS,
    cgo_includes,
    choose_go,
    go_need,
    make_toolchain,
)

# The files the era fixes change (a source without them needs none).
FIX_FILES = tuple(dict.fromkeys(fix.file for fix in FIXES))


@dataclass(frozen=True)
class Planned:
    """A plan, and for the source route the recipe of its dev image."""

    plan: BuildPlan
    recipe: Recipe | None = None


def _missing(engine: Engine | None, images: tuple[str, ...]) -> tuple[str, ...]:
    if not images:
        return ()
    if engine is None:
        return images
    import docker.errors

    try:
        client = engine.client(timeout=30)
    except MobylabError:
        return images
    try:
        missing = []
        for image in images:
            try:
                client.images.get(image)
            except docker.errors.ImageNotFound:
                missing.append(image)
            except docker.errors.APIError:
                missing.append(image)
        return tuple(missing)
    finally:
        client.close()


def route_facts(
    plan: BuildPlan, engine: Engine | None, buildx: bool, settings: Settings
) -> RouteFacts:
    """What the upstream route would have: buildx, the base images, a registry."""
    missing = _missing(engine, plan.base_images)
    answers, detail = False, ""
    if missing:
        answers, detail = reach(registry_address(settings), timeout=3.0)
    return RouteFacts(buildx, shutil.which("make") is not None, answers, detail, missing)


def source_route(
    plan: BuildPlan,
    checkout: Path,
    settings: Settings,
    reason: str,
    target: str | None,
    *,
    with_fixes: bool = True,
) -> Planned:
    """The source route's plan and dev image recipe, from the checkout and the mirror."""
    files = read_plan_files(checkout)
    folders = read_plan_folders(checkout)
    need = go_need(files, "vendor" in folders)
    cache = debian.cache_folder(cache_dir(settings.rootfs_cache))
    offered = debian.offers(settings.debian_mirror, cache)
    go = choose_go(need, offered, native_suites())
    toolchain = make_toolchain(
        need,
        go,
        dockerfile=files.get("Dockerfile"),
        cgo_includes=cgo_includes(read_go_sources(checkout, GRAPHDRIVER_FOLDERS)),
        workdir=plan.workdir,
        companions_from_debian=not speaks_containerd_02(folders),
        offered=offered,
    )
    recipe, notes = dev_image_recipe(toolchain, offered)
    companions, companion_notes = companions_for(
        files, toolchain.companions_from_debian, toolchain.build_tags
    )
    aliases = debian_aliases(files.get(BINARY_SETUP)) if toolchain.companions_from_debian else ()
    fixes = fixes_for(go.version, [f for f in FIX_FILES if (checkout / f).is_file()])
    fix_notes = [
        f"era fix {fix.commit[:12]} ({fix.title}), applied in the build copy unless the "
        f"source has it: without it, {fix.breaks}"
        for fix in fixes
    ]
    if fixes and not with_fixes:
        fix_notes = [f"--no-fixes: {fix.commit[:12]} ({fix.title}) is left out, so {fix.breaks}"
                     for fix in fixes]  # fmt: skip
        fixes = []
    image_path = dict(recipe.env)["PATH"]
    planned = source_plan(
        plan,
        toolchain,
        image=recipe.tag,
        image_path=image_path,
        reason=reason,
        target=target,
        notes=(*notes, *companion_notes, *fix_notes),
        fixes=tuple(fix.commit for fix in fixes),
        companions=tuple(companions),
        companion_aliases=aliases,
        with_fixes=with_fixes,
    )
    return Planned(planned, recipe)


def plan_build(
    checkout: Path,
    settings: Settings,
    *,
    engine: Engine | None,
    buildx: bool,
    route: str = "auto",
    target: str | None = None,
    host_cgroup: str | None = None,
    with_fixes: bool = True,
) -> Planned:
    """The whole plan of a checkout: its era, the route (and why), the toolchain."""
    cgroup = host_cgroup or host_cgroup_version()
    era_plan = read_plan(checkout, host_cgroup=cgroup, buildx=buildx, target=target)
    if route == Route.SOURCE:
        # Asked for: nothing to find out about the upstream route (no registry probe).
        chosen, reason = Route.SOURCE, "asked for (--route source)"
    else:
        facts = route_facts(era_plan, engine, buildx, settings)
        chosen, reason = choose_route(route, era_plan.needs_buildx, facts)
    if chosen == Route.UPSTREAM:
        return Planned(era_plan.because(reason))
    try:
        return source_route(era_plan, checkout, settings, reason, target, with_fixes=with_fixes)
    except (SourceError, ImageError) as exc:
        if route == Route.SOURCE:
            raise
        # Neither route is sure to work: try the era's own make, and say why.
        why = f"{reason}; the source route cannot build it either: {exc.one_line()}"
        return Planned(
            dataclasses.replace(
                era_plan.because(why),
                warnings=(*era_plan.warnings, f"neither route is sure to work here: {why}"),
            )
        )


def plan_rows(plan: BuildPlan) -> list[tuple[str, str]]:
    """Pure: the dev.plan table."""
    route = plan.route
    rows = [
        ("checkout", str(plan.checkout)),
        ("commit", f"{plan.commit[:12]} ({plan.branch or 'detached HEAD'})"),
        ("era", plan.era),
        ("route", f"{route.name}: {route.reason}" if route.reason else route.name),
        ("command", plan.command),
        ("dev image", plan.dev_image),
        ("workdir", plan.workdir),
        ("version", plan.version),
        ("daemon", ", ".join(plan.daemon_dirs)),
        ("client", ", ".join(plan.client_dirs)),
        ("PATH in docker-dev", plan.container_path),
    ]
    if isinstance(route, SourceRoute):
        toolchain = route.toolchain
        rows += [
            ("Go", toolchain.describe()),
            ("build tags", " ".join(toolchain.build_tags) or "(none)"),
            ("environment", " ".join(f"{k}={v}" for k, v in toolchain.env if v)),
            ("companions", companions_row(route)),
            ("era fixes", ", ".join(f[:12] for f in route.fixes) or "none"),
        ]  # fmt: skip
    else:
        rows.append(("docker run flags", f"${plan.run_var}" if plan.run_var else "not found"))
    return rows


def companions_row(route: SourceRoute) -> str:
    """Pure: the source route's companions in one line."""
    built = ", ".join(f"{c.name} {c.commit[:12]}" for c in route.companions)
    if built and not route.toolchain.companions_from_debian:
        return built
    debian = "the dev image's Debian packages"
    if route.companion_aliases:
        names = ", ".join(alias.split("=", 1)[0] for alias in route.companion_aliases)
        debian += f", as {names} (the names this daemon looks for)"
    return f"{debian}; {built} from source" if built else debian


def plan_summary(planned: Planned) -> JsonDict:
    """The plan as JSON, with the dev image's recipe when there is one."""
    data = planned.plan.as_dict()
    if planned.recipe is not None:
        recipe = planned.recipe
        data["dev_image_recipe"] = {
            "tag": recipe.tag,
            "suite": recipe.suite,
            "packages": list(recipe.packages),
            "extra_suite": recipe.extra_suite,
            "extra_packages": list(recipe.extra_packages),
            "links": [list(link) for link in recipe.links],
        }
    return data

"""The source route: mobylab's Debian-made dev image runs the checkout's own hack/make.sh.

No registry, no buildx: the image comes from Debian packages (dev.devimage), the
source is a build copy of the checkout (dev.buildcopy) mounted at the era's
workdir, the build container has no network at all, and Go's build and module
caches live on labelled volumes named after the toolchain, so a rebuild after a
small change compiles only what changed and a cache is never shared between Go
versions.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import docker.errors

from .. import git, labels, ui
from ..config import Settings
from ..engine import Engine
from ..errors import BuildError
from ..images.recipes import Recipe
from ..images.rootfs import cache_dir
from ..workspace import Workspace
from .buildcopy import BuildCopy, prepare
from .companions import INSTALL_DIR, build_companions
from .devimage import ensure_dev_image
from .fixes import FIXES
from .job import COMPONENT, BuildJob, build_dir
from .mirrors import remote_for
from .plan import BuildPlan, SourceRoute
from .toolchain import Toolchain

GO_BUILD_CACHE = "/root/.cache/go-build"
GO_MOD_CACHE = "/go/pkg/mod"
CACHE_COMPONENT = "go-cache"


def cache_volumes(toolchain: Toolchain) -> dict[str, str]:
    """Pure: volume name -> where it is mounted, one pair per Go toolchain."""
    key = f"{toolchain.go.short}-{toolchain.go.suite}"
    return {f"mobylab-go-build-{key}": GO_BUILD_CACHE, f"mobylab-go-mod-{key}": GO_MOD_CACHE}


def git_commit(commit: str, dirty: bool) -> str:
    """Pure: DOCKER_GITCOMMIT as `docker version` will show it; a build of local changes
    says so the way the engine's own hack/make.sh does."""
    return commit[:12] + ("-unsupported" if dirty else "")


def source_build_argv(
    plan: BuildPlan,
    *,
    build_id: str,
    copy: Path,
    volumes: dict[str, str],
    gitcommit: str,
    companions: Sequence[Path] = (),
    docker: str = "docker",
) -> list[str]:
    """Pure: the `docker run` of one source-route build.

    Companions built from source are mounted where that era's hack/make.sh looks
    for them (/usr/local/bin/docker-runc ...), file by file, so the image's own
    /usr/local/bin (docker-init) stays.
    """
    route = plan.source_route()
    argv = [docker, "run", "--rm", "--network", "none"]
    argv += labels.label_flags(COMPONENT, build=build_id, commit=plan.commit[:12])
    argv += ["-v", f"{copy}:{plan.workdir}", "-w", plan.workdir]
    for path in companions:
        argv += ["-v", f"{path}:{INSTALL_DIR}/{path.name}:ro"]
    for name, target in volumes.items():
        argv += ["--mount", f"type=volume,source={name},target={target}"]
    extra = [("DOCKER_CROSSPLATFORMS", "")] if "cross" in route.bundles else []
    for key, value in (*route.toolchain.env, *extra, ("DOCKER_GITCOMMIT", gitcommit)):
        argv += ["-e", f"{key}={value}"]
    return [*argv, plan.dev_image, "hack/make.sh", *route.bundles]


def ensure_cache_volumes(engine: Engine, volumes: dict[str, str]) -> None:
    """The toolchain's cache volumes, labelled; a same-named one mobylab did not make is refused."""
    client = engine.client()
    try:
        for name in volumes:
            try:
                volume = client.volumes.get(name)
            except docker.errors.NotFound:
                client.volumes.create(name, labels=labels.labels(CACHE_COMPONENT))
                continue
            if not labels.is_managed(volume.attrs.get("Labels")):
                raise BuildError(
                    f"a volume named {name} exists and mobylab did not create it",
                    "mobylab never uses or removes it: rename or remove it yourself.",
                )
    finally:
        client.close()


def source_job(
    workspace: Workspace,
    plan: BuildPlan,
    engine: Engine,
    recipe: Recipe,
    settings: Settings,
    build_id: str,
) -> BuildJob:
    """Everything the source route needs in place, and the command that builds."""
    route = plan.source_route()
    toolchain = route.toolchain
    ui.step(f"dev image {recipe.tag} ({toolchain.go.package} from Debian {toolchain.go.suite})")
    ensure_dev_image(engine, workspace, settings, recipe)
    volumes = cache_volumes(toolchain)
    ensure_cache_volumes(engine, volumes)
    folder = build_dir(workspace, plan.commit, route.name)
    ui.step(f"build copy of {plan.checkout} at {plan.commit[:12]} in {folder}")
    fixes = [fix for fix in FIXES if fix.commit in route.fixes]
    copy = prepare(
        plan.checkout,
        folder / "src",
        plan.commit,
        fixes=fixes,
        remote=origin_url(plan.checkout) if fixes else "",
    )
    for outcome in copy.fixes:
        ui.info(f"era fix {outcome.fix.commit[:12]} ({outcome.fix.title}): {outcome.status}")
    if copy.dirty:
        ui.info("note: the checkout has uncommitted changes: they are built as they are")
    installed = _companions(plan, route, recipe.tag, engine, settings, folder, workspace)
    argv = source_build_argv(
        plan,
        build_id=build_id,
        copy=copy.path,
        volumes=volumes,
        gitcommit=git_commit(plan.commit, copy.dirty),
        companions=installed,
    )
    ui.step(f"{plan.command} in {recipe.tag} (commit {plan.commit[:12]}, {toolchain.describe()})")
    return BuildJob(
        commands=(tuple(argv),),
        env=engine.cli_env(),
        cwd=copy.path,
        source_dir=copy.path,
        build_id=build_id,
        bundle_files=tuple(installed),
        manifest={
            **copy_manifest(copy, recipe, volumes),
            "companions": [companion.as_dict() for companion in route.companions],
            "companion_files": [path.name for path in installed],
        },
    )


def origin_url(checkout: Path) -> str:
    """Where the checkout came from: era fixes are fetched from the same remote."""
    result = git.run(["remote", "get-url", "origin"], checkout, timeout=30)
    url = result.out.strip()
    if not result.ok or not url:
        raise BuildError(
            f"{checkout} has no origin remote to fetch the era fixes from",
            "Clone it with `invoke dev.clone`, or build with --no-fixes.",
        )
    return url


def _companions(
    plan: BuildPlan,
    route: SourceRoute,
    image: str,
    engine: Engine,
    settings: Settings,
    folder: Path,
    workspace: Workspace,
) -> list[Path]:
    """Build (or take from the cache) the companions the plan names; their files."""
    if not route.companions:
        return []
    remotes = {c.repo: remote_for(c.repo, settings.mirrors).url for c in route.companions}
    into = folder / "companions"
    shutil.rmtree(into, ignore_errors=True)
    build_companions(
        route.companions,
        toolchain=route.toolchain,
        image=image,
        engine=engine,
        cache_root=cache_dir(settings.rootfs_cache).parent / "companions",
        remotes=remotes,
        into=into,
        log=workspace.logs / f"companions-{plan.commit[:12]}.log",
    )
    return sorted(into.iterdir())


def copy_manifest(copy: BuildCopy, recipe: Recipe, volumes: dict[str, str]) -> dict[str, object]:
    """Pure: what the manifest says of the build copy, the dev image and the caches."""
    return {
        "dirty": copy.dirty,
        "changes_sha256": copy.changes_sha256,
        "fixes": [fix.to_dict() for fix in copy.fixes],
        "dev_image": recipe.tag,
        "dev_image_packages": list(recipe.packages + recipe.extra_packages),
        "cache_volumes": sorted(volumes),
        "security": "no privileges, no network (a plain build container)",
    }

"""mobylab's docker-dev image for a toolchain, made from Debian packages only.

One image per toolchain (Go package and suite, and whether Debian's containerd,
runc, CLI and buildx serve the era's daemon): debootstrap + docker import like
the other offline images, labelled, listed by images.list, shipped by
images.save. Its tag carries a digest of the recipe, so a changed package list
makes a new image instead of reusing a stale one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from ..config import Settings
from ..engine import Engine
from ..images.build import build_image, image_exists
from ..images.debian import Package, base_suite
from ..images.recipes import DEBOOTSTRAP, DEFAULT_PATH, Recipe
from ..workspace import Workspace
from .toolchain import Toolchain, build_packages, companion_packages

REPOSITORY = "mobylab/docker-dev"
# A package the index does not list (the version part of the digest is then empty).
NOT_LISTED = Package("", "", "")


def dev_image_recipe(
    toolchain: Toolchain, offered: Mapping[str, Mapping[str, Package]]
) -> tuple[Recipe, tuple[str, ...]]:
    """Pure: the recipe of the dev image for a toolchain, and notes on what it lacks."""
    go = toolchain.go
    suite = base_suite(go.suite)
    backports = go.suite != suite
    companions, links, notes = companion_packages(
        offered, go.suite, toolchain.companions_from_debian
    )
    libraries = toolchain.library_packages
    wanted = list(dict.fromkeys([*build_packages(toolchain.need, go, libraries), *companions]))
    # From a backports suite: what the base suite lacks (Go, maybe more) comes from it.
    base = offered.get(suite, {})
    offered_by_backports = offered.get(go.suite, {}) if backports else {}
    extra = (
        tuple(p for p in wanted if p == go.package or (p not in base and p in offered_by_backports))
        if backports
        else ()
    )
    packages = tuple(p for p in wanted if p not in extra)
    path = f"{go.goroot}/bin:/go/bin:/usr/local/cli:{DEFAULT_PATH}"
    env = (("PATH", path), ("GOPATH", "/go"), ("GOTOOLCHAIN", "local"))
    # The versions the mirror serves are in the digest: a newer Go or containerd in
    # Debian makes a new image instead of reusing one made from the old packages.
    versions = {
        name: (offered.get(go.suite, {}).get(name) or base.get(name) or NOT_LISTED).version
        for name in wanted
    }
    inputs = {"packages": packages, "suite": go.suite, "extra": extra, "links": links,
              "env": env, "versions": versions}  # fmt: skip
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:8]
    flavour = "" if toolchain.companions_from_debian else "-build"
    name = f"docker-dev-{go.short}-{go.suite}{flavour}"
    recipe = Recipe(
        name=name,
        tag=f"{REPOSITORY}:{go.short}-{go.suite}{flavour}-{digest}",
        method=DEBOOTSTRAP,
        description=(
            f"docker-dev for {toolchain.need.describe()}: {go.package} from Debian {go.suite}"
            + (", with Debian's containerd, runc, docker CLI" if flavour == "" else "")
        ),
        packages=packages,
        env=env,
        cmd=("/bin/bash",),
        folders=("go/src", "go/bin", "go/pkg/mod", "root/.cache/go-build"),
        suite=suite,
        extra_suite=go.suite if backports else "",
        extra_packages=extra,
        links=tuple(links),
    )
    return recipe, tuple(notes)


def ensure_dev_image(
    engine: Engine, workspace: Workspace, settings: Settings, recipe: Recipe
) -> str:
    """The dev image on the engine: made from Debian packages when it is missing."""
    if not has_dev_image(engine, recipe.tag):
        build_image(engine, workspace, recipe, settings=settings)
    return recipe.tag


def has_dev_image(engine: Engine, tag: str) -> bool:
    client = engine.client()
    try:
        return image_exists(client, tag)
    finally:
        client.close()

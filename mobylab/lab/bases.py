"""Which base images a lab run builds on: the blog's, or offline ones when no registry answers."""

from __future__ import annotations

from dataclasses import dataclass

import docker.errors

from .. import ui
from ..config import Settings
from ..doctor import reach, registry_address
from ..engine import Engine
from ..images import RECIPES, ensure_images
from ..workspace import Workspace

ONLINE_BUILDER = "golang:1.19"
ONLINE_RUNTIME = "alpine:3.17.1"


@dataclass(frozen=True)
class BaseImages:
    builder: str
    runtime: str
    offline: bool
    reason: str


def choose_bases(
    builder_setting: str, runtime_setting: str, offline: bool, reason: str
) -> BaseImages:
    """Pure: the images for the builder and runtime stages from the settings."""
    builder = builder_setting
    runtime = runtime_setting
    if builder == "auto":
        builder = RECIPES["golang"].tag if offline else ONLINE_BUILDER
    if runtime == "auto":
        runtime = RECIPES["runtime"].tag if offline else ONLINE_RUNTIME
    return BaseImages(builder, runtime, offline, reason)


def is_offline(settings: Settings) -> tuple[bool, str]:
    if settings.offline == "yes":
        return True, "offline = yes"
    if settings.offline == "no":
        return False, "offline = no"
    answers, detail = reach(registry_address(settings), timeout=3.0)
    return (not answers), ("a registry answers" if answers else f"no registry answers ({detail})")


def resolve_bases(settings: Settings) -> BaseImages:
    offline, reason = is_offline(settings)
    return choose_bases(settings.builder_image, settings.runtime_image, offline, reason)


def prepare_bases(
    engine: Engine,
    workspace: Workspace,
    settings: Settings,
    names: tuple[str, ...] = ("golang", "runtime"),
) -> None:
    """Make the offline images a lab names (lab.toml `images`) when they are missing."""
    wanted = [name for name in names if name in RECIPES]
    if not wanted:
        return
    client = engine.client()
    try:
        missing = [n for n in wanted if not _exists(client, RECIPES[n].tag)]
        if missing:
            ui.step(
                f"offline base images missing on the {engine.name} engine: making "
                f"{', '.join(RECIPES[n].tag for n in missing)} (once; a few minutes)"
            )
        ensure_images(engine, workspace, wanted, settings=settings)
    finally:
        client.close()


def _exists(client: docker.DockerClient, ref: str) -> bool:
    try:
        client.images.get(ref)
        return True
    except docker.errors.ImageNotFound:
        return False

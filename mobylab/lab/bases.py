"""Which base images a lab run builds on: mobylab's offline ones, or the registry's."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

import docker.errors

from .. import ui
from ..config import Settings
from ..engine import Engine
from ..images import RECIPES, ensure_images
from ..network import reach, registry_address
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


def choose_offline(
    setting: str,
    present: bool,
    can_make: bool,
    registry_answers: bool,
    registry_detail: str,
    needs_go_path: bool = False,
) -> tuple[bool, str]:
    """Pure: whether a lab builds on the offline images, and why.

    "auto" prefers them: they are what mobylab tests, and they set up the GOPATH
    mode the blog's `go get` needs. The registry's images are used only when the
    offline ones are neither on the engine nor makeable here, a registry answers,
    and the lab does not need that GOPATH mode (`needs_go_path`: it builds on the
    golang base image, whose registry tag defaults to modules, where `go get`
    outside a module fails).
    """
    if setting == "yes":
        return True, "offline = yes"
    if setting == "no":
        return False, "offline = no"
    if present:
        return True, "the offline base images are on the engine"
    if can_make:
        return True, "the offline base images can be made here (root, debootstrap)"
    if registry_answers and needs_go_path:
        return True, (
            f"the registry's {ONLINE_BUILDER} cannot run this lab's `go get` (module mode): "
            "it needs the offline base images"
        )
    if registry_answers:
        return False, (
            "a registry answers; the offline base images are not on the engine and "
            "cannot be made here (root and debootstrap needed)"
        )
    return True, f"no registry answers ({registry_detail})"


def can_make_offline() -> bool:
    """Whether this machine can build the offline images: debootstrap, run as root."""
    return os.geteuid() == 0 and shutil.which("debootstrap") is not None


def offline_present(engine: Engine, names: tuple[str, ...]) -> bool:
    """Whether the engine already has the offline images a lab names (lab.toml `images`)."""
    wanted = [name for name in names if name in RECIPES]
    client = engine.client(timeout=60)
    try:
        return bool(wanted) and all(_exists(client, RECIPES[name].tag) for name in wanted)
    finally:
        client.close()


def resolve_bases(
    settings: Settings,
    engine: Engine,
    images: tuple[str, ...] = ("golang", "runtime"),
    needs_go_path: bool = False,
) -> BaseImages:
    """The base images of a run on `engine` for a lab naming `images`, asking only what
    the setting leaves open."""
    present = can_make = answers = False
    detail = ""
    if settings.offline == "auto":
        present = offline_present(engine, images)
        can_make = not present and can_make_offline()
        if not (present or can_make):
            answers, detail = reach(registry_address(settings), timeout=3.0)
    offline, reason = choose_offline(
        settings.offline, present, can_make, answers, detail, needs_go_path
    )
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

"""Which base images a lab run builds on: the blog's, or offline ones when no registry answers."""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass

import docker.errors

from .. import labels, ui
from ..config import Settings
from ..doctor import reach, registry_address
from ..engine import Engine
from ..errors import ImageError
from ..images import RECIPES, ensure_images
from ..workspace import Workspace

ONLINE_BUILDER = "golang:1.19"
ONLINE_RUNTIME = "alpine:3.17.1"
# The offline runtime with an `apk` stand-in, so a Dockerfile written for alpine
# (`RUN apk --no-cache add ca-certificates`) builds unchanged: the CA bundle is there.
LAB_RUNTIME = "mobylab/lab-runtime:busybox"
APK_STANDIN = b"""#!/bin/sh
# mobylab's offline runtime has no package manager; it already holds the CA bundle.
for word in "$@"; do
  case "$word" in
    -*|add|ca-certificates) ;;
    *) echo "apk (mobylab offline runtime): cannot install $word offline" >&2; exit 1 ;;
  esac
done
echo "apk (mobylab offline runtime): ca-certificates already installed"
"""


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
        runtime = LAB_RUNTIME if offline else ONLINE_RUNTIME
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
    bases: BaseImages,
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
        if (
            "runtime" in wanted
            and bases.runtime == LAB_RUNTIME
            and not _exists(client, LAB_RUNTIME)
        ):
            _build_lab_runtime(client)
    finally:
        client.close()


def _exists(client: docker.DockerClient, ref: str) -> bool:
    try:
        client.images.get(ref)
        return True
    except docker.errors.ImageNotFound:
        return False


def _build_lab_runtime(client: docker.DockerClient) -> None:
    dockerfile = (
        f"FROM {RECIPES['runtime'].tag}\nCOPY apk /usr/bin/apk\nRUN chmod 755 /usr/bin/apk\n"
    ).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data, mode in (("Dockerfile", dockerfile, 0o644), ("apk", APK_STANDIN, 0o755)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    try:
        client.images.build(
            fileobj=buffer,
            custom_context=True,
            tag=LAB_RUNTIME,
            labels=labels.labels("image", recipe="lab-runtime"),
            rm=True,
            forcerm=True,
        )
    except (docker.errors.BuildError, docker.errors.APIError) as exc:
        raise ImageError(f"cannot build {LAB_RUNTIME}: {exc}") from None

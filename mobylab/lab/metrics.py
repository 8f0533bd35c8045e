"""What a lab measures: image sizes and layers from the engine, and the comparison.

Sizes and layer counts always come from the engine (image inspect), never
computed; the functions below only arrange and compare what it reported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import docker.errors

from .. import labels
from ..engine import Engine, cli_facts
from ..workspace import Workspace


@dataclass(frozen=True)
class ImageFacts:
    """An image as the engine reports it."""

    ref: str
    id: str
    size_bytes: int
    layers: int
    # Its working folder (Config.WorkingDir), "" when unset.
    workdir: str


def inspect_image(engine: Engine, ref: str) -> ImageFacts | None:
    """Size, layers and id of an image as the engine reports them; None when absent."""
    client = engine.client(timeout=60)
    try:
        attrs = client.images.get(ref).attrs
    except docker.errors.ImageNotFound:
        return None
    finally:
        client.close()
    return ImageFacts(
        ref=ref,
        id=str(attrs.get("Id", "")),
        size_bytes=int(attrs.get("Size") or 0),
        layers=len((attrs.get("RootFS") or {}).get("Layers") or []),
        workdir=str((attrs.get("Config") or {}).get("WorkingDir") or ""),
    )


def run_image_tags(engine: Engine, run_id: str) -> tuple[str, ...]:
    """The tags of the images a lab run made (those labelled with its id), sorted."""
    client = engine.client(timeout=60)
    try:
        images = client.images.list(filters={"label": f"{labels.RUN}={run_id}"})
    finally:
        client.close()
    return tuple(sorted(tag for image in images for tag in image.tags or ()))


def container_exists(engine: Engine, name: str) -> bool:
    client = engine.client(timeout=60)
    try:
        client.containers.get(name)
        return True
    except docker.errors.NotFound:
        return False
    finally:
        client.close()


# The first API version whose engine has BuildKit (18.09).
BUILDKIT_API = (1, 39)
# The first whose BuildKit today's buildx drives faithfully (20.10): on 18.09 and 19.03
# the images buildx 0.8 and later builds lose their config (CMD, ENV), docker/buildx#1039.
BUILDX_API = (1, 41)


def builder_kind(
    docker_buildkit: str | None,
    cli_version: str,
    cli_has_buildx: bool,
    server_version: str,
    api_version: str = "",
) -> tuple[str, str]:
    """Pure: ("legacy" or "buildkit", why) for `docker build` with this CLI and engine.

    CLI 23+ builds with BuildKit through buildx unless DOCKER_BUILDKIT=0; without buildx
    it falls back to the legacy builder. Older CLIs use BuildKit only with
    DOCKER_BUILDKIT=1. Engines before 18.09 (API 1.39) have no BuildKit at all; the
    API version says so for a dev build, whose version is often just "dev". Through
    today's buildx an engine before 20.10 builds images without their config, so it
    gets the legacy builder unless DOCKER_BUILDKIT=1 says otherwise.
    """
    server = _version(server_version)
    if server and server < (18, 9):
        return "legacy", f"engine {server_version} predates BuildKit"
    api = _version(api_version)
    if api and api < BUILDKIT_API:
        return "legacy", f"engine API {api_version} predates BuildKit (API 1.39, 18.09)"
    flag = (docker_buildkit or "").strip().lower()
    if flag in ("0", "false"):
        return "legacy", "DOCKER_BUILDKIT=0"
    cli = _version(cli_version)
    if cli and cli >= (23,):
        if cli_has_buildx:
            old = (api and api < BUILDX_API) or (not api and server and server < (20, 10))
            if old and flag not in ("1", "true"):
                return "legacy", (
                    f"engine API {api_version or server_version}: through buildx an engine "
                    "before 20.10 (API 1.41) builds images without their CMD"
                )
            return "buildkit", f"CLI {cli_version} with buildx"
        if flag in ("1", "true"):
            return "buildkit", f"DOCKER_BUILDKIT=1 but CLI {cli_version} has no buildx: builds fail"
        return "legacy", f"CLI {cli_version} has no buildx plugin"
    if flag in ("1", "true"):
        return "buildkit", f"DOCKER_BUILDKIT=1 with CLI {cli_version}"
    return "legacy", f"CLI {cli_version} without DOCKER_BUILDKIT=1"


def _version(text: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in text.split("+")[0].split("-")[0].split("."):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)


def detect_builder(
    engine: Engine, workspace: Workspace, server_version: str, api_version: str
) -> tuple[str, str]:
    """Which builder `docker build` will use against this engine, and why."""
    cli_version, has_buildx = cli_facts(engine, workspace)
    return builder_kind(
        os.environ.get("DOCKER_BUILDKIT"), cli_version, has_buildx, server_version, api_version
    )


def bar(value: float | None, largest: float, width: int = 24) -> str:
    """Pure: a text bar; anything non-zero gets at least one block."""
    if not value or not largest:
        return ""
    cells = max(1, round(width * value / largest))
    return "█" * min(cells, width)


def ratio_text(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    if ratio >= 0.1:
        return f"{ratio:.2f}x"
    return f"1/{1 / ratio:.0f}" if ratio else "-"

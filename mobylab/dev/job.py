"""A BuildJob: what one dev build runs, where, and where its bundles land.

Each route prepares one (build_upstream: the era's make; build_source: hack/make.sh
in mobylab's dev image) and dev.build runs it the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors

from .. import labels
from ..engine import Engine
from ..errors import MobylabError
from ..workspace import Workspace
from .routes import Route

# The label of a build's containers (Ctrl-C and the end of a build remove them).
BUILD_LABEL = "org.mobylab.build"
COMPONENT = "devbuild"


@dataclass(frozen=True)
class BuildJob:
    """What one build runs, where, and where its bundles land."""

    # The commands, run in order (make binary, then make build; or one docker run).
    commands: tuple[tuple[str, ...], ...]
    env: Mapping[str, str]
    cwd: Path
    # The folder holding bundles/ afterwards (the checkout, or the build copy).
    source_dir: Path
    # What the build container's labels carry: removed on Ctrl-C and afterwards.
    build_id: str
    notes: tuple[str, ...] = ()
    # Files put beside the daemon in its bundle after the commands, where they did not
    # put them (companions an era's make copies only together with a runc of its own).
    bundle_files: tuple[Path, ...] = ()
    # Extra fields of the manifest (security, toolchain, dev image, dirty ...).
    manifest: Mapping[str, Any] = field(default_factory=dict)


def new_build_id() -> str:
    return uuid.uuid4().hex[:12]


def build_dir(workspace: Workspace, commit: str, route: Route = Route.UPSTREAM) -> Path:
    """Where a build of `commit` by `route` keeps its manifest (and, for the source
    route, its build copy): builds are kept per commit and route."""
    return workspace.root / "builds" / commit / route


def manifest_path(workspace: Workspace, commit: str, route: Route = Route.UPSTREAM) -> Path:
    return build_dir(workspace, commit, route) / "manifest.json"


def remove_build_containers(engine: Engine, build_id: str) -> list[str]:
    """Remove the (mobylab-labelled) containers of one build; their short ids."""
    removed: list[str] = []
    try:
        client = engine.client(timeout=60)
    except MobylabError:
        return removed
    try:
        filters = {"label": [f"{labels.MANAGED}=true", f"{BUILD_LABEL}={build_id}"]}
        for container in client.containers.list(all=True, filters=filters):
            if not labels.is_managed(container.labels):
                continue
            try:
                container.remove(force=True)
                removed.append(container.short_id)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                if "already in progress" not in str(exc):
                    raise
    finally:
        client.close()
    return removed

"""dev.clean: find and remove what mobylab made for the dev environment, and nothing else.

Only resources that carry org.mobylab.managed=true and the dev component are
listed; each is checked again before removal. By default the search is limited
to one workspace (its dev-key label), so one workspace's clean never touches
another's dev environment.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors

from .. import labels
from ..session import Session
from ..workspace import Workspace
from .container import COMPONENT, LABEL_KEY, DevNames

# Components of the images a dev build makes (the docker-dev images).
DEV_IMAGE_COMPONENTS = ("dev", "dev-image", "devbuild")


@dataclass
class Found:
    kind: str
    name: str
    ident: str
    handle: Any = None


@dataclass
class DevResources:
    items: list[Found] = field(default_factory=list)
    # Files and folders on the host: state files, the socket folder.
    paths: list[Path] = field(default_factory=list)

    def rows(self) -> list[tuple[str, str]]:
        return [(item.kind, item.name) for item in self.items] + [
            ("file", str(path)) for path in self.paths
        ]

    def __bool__(self) -> bool:
        return bool(self.items or self.paths)


def label_filters(key: str | None, component: str = COMPONENT) -> list[str]:
    """Pure: the label filters for mobylab's dev resources (of one workspace when `key`)."""
    filters = [f"{labels.MANAGED}=true", f"{labels.COMPONENT}={component}"]
    if key:
        filters.append(f"{LABEL_KEY}={key}")
    return filters


def is_dev_resource(found_labels: dict[str, str] | None, key: str | None) -> bool:
    """Pure: the check made again on each resource right before removing it."""
    found = found_labels or {}
    if not labels.is_managed(found) or found.get(labels.COMPONENT) != COMPONENT:
        return False
    return key is None or found.get(LABEL_KEY) == key


def find_dev_resources(
    client: Any, workspace: Workspace, *, all_workspaces: bool = False, images: bool = False
) -> DevResources:
    names = DevNames.for_workspace(workspace.root)
    key = None if all_workspaces else names.key
    found = DevResources()
    for container in client.containers.list(all=True, filters={"label": label_filters(key)}):
        if is_dev_resource(container.labels, key):
            found.items.append(Found("container", container.name, container.id, container))
    for network in client.networks.list(filters={"label": label_filters(key)}):
        if is_dev_resource(network.attrs.get("Labels"), key):
            found.items.append(Found("network", network.name, network.id, network))
    for volume in client.volumes.list(filters={"label": label_filters(key)}):
        if is_dev_resource(volume.attrs.get("Labels"), key):
            found.items.append(Found("volume", volume.name, volume.name, volume))
    if images:
        seen: set[str] = set()
        for component in DEV_IMAGE_COMPONENTS:
            filters = [f"{labels.MANAGED}=true", f"{labels.COMPONENT}={component}"]
            for image in client.images.list(filters={"label": filters}):
                image_labels = (image.attrs.get("Config") or {}).get("Labels") or {}
                if image.id in seen or not labels.is_managed(image_labels):
                    continue
                seen.add(image.id)
                name = ", ".join(image.tags) or image.short_id
                found.items.append(Found("image", name, image.id, image))
    state = workspace.root / "state"
    # The state of every dev environment (dev.json, dev-<name>.json) and the storage
    # driver each volume took (dev-volumes.json).
    found.paths += [*sorted(state.glob("dev.json")), *sorted(state.glob("dev-*.json"))]
    # Every dev environment of the workspace has its run folder beside the first one's.
    found.paths += sorted(p for p in names.run_dir.parent.glob("dev*") if p.is_dir())
    return found


def _labels_of(handle: Any, kind: str) -> dict[str, str] | None:
    """A container's labels sit in its Config; a network's and a volume's at the top."""
    labels_found = handle.labels if kind == "container" else handle.attrs.get("Labels")
    return labels_found if isinstance(labels_found, dict) else None


def remove_dev_resources(found: DevResources, key: str | None) -> list[str]:
    """Remove what `find_dev_resources` listed; returns what could not be removed."""
    kept: list[str] = []
    order = {"container": 0, "network": 1, "volume": 2, "image": 3}
    for item in sorted(found.items, key=lambda i: order.get(i.kind, 9)):
        try:
            if item.kind in ("container", "network", "volume"):
                # Labels again, just before removing: the object may have changed hands.
                item.handle.reload()
                if not is_dev_resource(_labels_of(item.handle, item.kind), key):
                    kept.append(f"{item.kind} {item.name} (no longer mobylab's)")
                    continue
                # A container's anonymous volumes are not mobylab's to remove (v=False).
                options = {"force": True, "v": False} if item.kind == "container" else {}
                item.handle.remove(**options)
            elif item.kind == "image":
                item.handle.client.images.remove(item.ident, force=False, noprune=False)
        except docker.errors.NotFound:
            continue
        except docker.errors.APIError as exc:
            kept.append(f"{item.kind} {item.name} ({str(exc.explanation or exc)[:120]})")
    for path in found.paths:
        with contextlib.suppress(OSError):
            if path.is_dir():
                shutil.rmtree(path)
                # /run/mobylab/<key> goes too once nothing else (a private engine) uses it.
                path.parent.rmdir()
            else:
                path.unlink()
    return kept


@dataclass(frozen=True)
class CleanOutcome:
    """What dev.clean found, whether it was removed, and what had to be kept (and why)."""

    found: DevResources
    removed: bool
    kept: tuple[str, ...] = ()


def clean_dev_environment(
    session: Session,
    *,
    all_workspaces: bool,
    images: bool,
    confirm: Callable[[DevResources], bool],
) -> CleanOutcome:
    """dev.clean: find mobylab's dev resources and, once `confirm` agrees, remove them."""
    key = None if all_workspaces else DevNames.for_workspace(session.workspace.root).key
    client = session.engine(start=False).client()
    try:
        found = find_dev_resources(
            client, session.workspace, all_workspaces=all_workspaces, images=images
        )
        if not found or not confirm(found):
            return CleanOutcome(found, removed=False)
        return CleanOutcome(found, removed=True, kept=tuple(remove_dev_resources(found, key)))
    finally:
        client.close()

"""Make the offline base images on an engine: root filesystem, then `docker import`."""

from __future__ import annotations

import contextlib
import datetime
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
from docker.utils import parse_repository_tag

from .. import labels, ui
from ..config import Settings
from ..engine import Engine
from ..errors import ImageError
from ..jsondata import JsonObject
from ..workspace import Workspace
from . import rootfs
from .recipes import BUSYBOX, Recipe, image_labels, import_changes, recipe_named

STATE_NAME = "images"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextlib.contextmanager
def reporter(title: str) -> Iterator[rootfs.Progress]:
    """Progress lines on stderr; with a person at the terminal, a spinner as well."""
    if not ui.interactive():
        yield ui.step
        return
    with ui.err.status(title) as status:

        def report(message: str) -> None:
            ui.step(message)
            status.update(message)

        yield report


def image_exists(client: Any, ref: str) -> bool:
    try:
        client.images.get(ref)
        return True
    except docker.errors.ImageNotFound:
        return False


def how_made(recipe: Recipe, fs: rootfs.Rootfs) -> dict[str, str]:
    """Pure: the provenance of an image, for its labels and the state file."""
    made = {"rootfs-sha256": fs.sha256, "rootfs-date": fs.made.get("date", ""), "built": _now()}
    if recipe.method == BUSYBOX:
        made["method"] = "busybox"
        made["busybox"] = fs.made.get("busybox", "")
    else:
        made["method"] = "debootstrap"
        made["debootstrap"] = fs.made.get("debootstrap", "")
        made["suite"] = fs.made.get("suite", "")
        made["mirror"] = fs.made.get("mirror", "")
    return made


def make_rootfs(
    recipe: Recipe,
    workspace: Workspace,
    settings: Settings,
    cache: Path,
    report: rootfs.Progress,
    refresh: bool = False,
) -> rootfs.Rootfs:
    if recipe.method == BUSYBOX:
        return rootfs.busybox_rootfs(cache, report, recipe.name)
    return rootfs.debootstrap_rootfs(
        recipe,
        suite=recipe.suite or settings.debian_suite,
        mirror=settings.debian_mirror,
        cache=cache,
        log=workspace.logs / f"image-{recipe.name}.log",
        progress=report,
        refresh=refresh,
    )


def import_rootfs(client: Any, fs: rootfs.Rootfs, recipe: Recipe, made: dict[str, str]) -> str:
    """`docker import` the tarball with the recipe's settings and labels; the image id."""
    repository, tag = parse_repository_tag(recipe.tag)
    changes = import_changes(recipe, image_labels(recipe, made))
    try:
        answer = client.api.import_image_from_file(
            str(fs.path), repository=repository, tag=tag or "latest", changes=changes
        )
    except (docker.errors.APIError, OSError) as exc:
        raise ImageError(f"importing {recipe.tag} failed: {exc}") from None
    for line in str(answer).splitlines():
        with contextlib.suppress(ValueError):
            message = json.loads(line)
            if isinstance(message, dict) and message.get("error"):
                raise ImageError(f"importing {recipe.tag} failed: {message['error']}")
    return str(client.images.get(recipe.tag).id)


def build_image(
    engine: Engine,
    workspace: Workspace,
    recipe: Recipe,
    *,
    settings: Settings,
    cache: Path | None = None,
    refresh_rootfs: bool = False,
    report: rootfs.Progress | None = None,
) -> dict[str, Any]:
    """Make one image (root filesystem from the cache when there) and record how."""
    cache = cache or rootfs.cache_dir(settings.rootfs_cache)
    report = report or ui.step
    fs = make_rootfs(recipe, workspace, settings, cache, report, refresh_rootfs)
    made = how_made(recipe, fs)
    report(f"{recipe.name}: importing as {recipe.tag}")
    client = engine.client()
    try:
        image_id = import_rootfs(client, fs, recipe, made)
    finally:
        client.close()
    record = {
        "tag": recipe.tag,
        "id": image_id,
        "recipe": recipe.name,
        "packages": list(recipe.packages),
        "engine": engine.url,
        **made,
    }
    state = workspace.load_state(STATE_NAME, {}) or {}
    state[recipe.name] = record
    workspace.save_state(STATE_NAME, state)
    report(f"{recipe.name}: {recipe.tag} ready ({image_id[7:19]})")
    return record


def ensure_images(
    engine: Engine,
    workspace: Workspace,
    names: Iterable[str],
    *,
    settings: Settings,
    force: bool = False,
    cache: Path | None = None,
    refresh_rootfs: bool = False,
) -> dict[str, str]:
    """Make sure the named offline images exist on the engine; name -> image tag.

    Images already there are kept unless `force`. A rebuild reuses the cached
    root filesystem unless `refresh_rootfs`.
    """
    recipes = [recipe_named(name) for name in dict.fromkeys(names)]
    tags: dict[str, str] = {}
    client = engine.client()
    try:
        missing = [r for r in recipes if force or not image_exists(client, r.tag)]
    finally:
        client.close()
    for recipe in recipes:
        tags[recipe.name] = recipe.tag
    if not missing:
        return tags
    with reporter("making offline images") as report:
        for recipe in missing:
            build_image(
                engine,
                workspace,
                recipe,
                settings=settings,
                cache=cache,
                refresh_rootfs=refresh_rootfs,
                report=report,
            )
    return tags


def is_imported(attrs: JsonObject) -> bool:
    """Pure: an image made by `docker import` (one layer, no parent).

    Images built FROM an offline image inherit its labels; this tells them apart.
    """
    layers = (attrs.get("RootFS") or {}).get("Layers") or []
    return len(layers) == 1 and not attrs.get("Parent")


@dataclass(frozen=True)
class ManagedImage:
    """One tag of an offline image on the engine, with the labels saying how it was made."""

    tag: str
    id: str
    recipe: str
    size: int
    created: str
    labels: Mapping[str, str]

    @property
    def how_made(self) -> str:
        return describe_made(self.labels)

    def to_dict(self) -> dict[str, object]:
        return {
            "tag": self.tag,
            "id": self.id,
            "recipe": self.recipe,
            "size": self.size,
            "created": self.created,
            "labels": dict(self.labels),
        }


def managed_images(engine: Engine) -> list[ManagedImage]:
    """Mobylab's offline images on the engine: one per tag, with how each was made."""
    client = engine.client()
    try:
        found = client.images.list(
            filters={"label": [f"{labels.MANAGED}=true", f"{labels.COMPONENT}=image"]}
        )
    finally:
        client.close()
    rows: list[ManagedImage] = []
    for image in found:
        attrs = image.attrs
        if not is_imported(attrs):
            continue
        image_labels_ = (attrs.get("Config") or {}).get("Labels") or {}
        rows += [
            ManagedImage(
                tag=tag,
                id=image.id,
                recipe=image_labels_.get("org.mobylab.recipe", ""),
                size=int(attrs.get("Size") or 0),
                created=str(attrs.get("Created", ""))[:19],
                labels=dict(image_labels_),
            )
            for tag in image.tags or ["<none>"]
        ]
    return sorted(rows, key=lambda row: row.tag)


def describe_made(image_labels_: Mapping[str, str]) -> str:
    """Pure: one line on how an image was made, from its labels."""
    get = image_labels_.get
    method = get("org.mobylab.method", "")
    date = get("org.mobylab.rootfs-date", "")[:10]
    if method == "debootstrap":
        return (
            f"debootstrap {get('org.mobylab.debootstrap', '?')} {get('org.mobylab.suite', '')} "
            f"from {get('org.mobylab.mirror', '?')} on {date}: {get('org.mobylab.packages', '')}"
        )
    if method == "busybox":
        return f"static busybox from {get('org.mobylab.busybox', '?')} on {date}"
    return "loaded or made elsewhere"

"""Copy images from one engine to another with save and load, streamed.

The dev daemon cannot pull (no registry, and a 2017 daemon cannot read today's
image indexes), so the images a lab needs are copied from the host engine: the
host's `docker save` stream goes straight into the dev daemon's `docker load`,
never to disk. Images the target already has with the same ID are skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import docker.errors
import requests.exceptions
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from .. import ui
from ..engine import Engine
from ..errors import ImageError
from ..session import Session

CHUNK = 1 << 20


class SeedStatus(StrEnum):
    """What seeding did with one image."""

    LOADED = "loaded"
    PRESENT = "present"


@dataclass(frozen=True)
class SeedResult:
    """One image seeded: its ID, whether it was copied, and how much in how long."""

    image: str
    id: str
    status: SeedStatus
    bytes: int = 0
    seconds: float = 0.0


def normalise_ref(ref: str) -> str:
    """Pure: `name` means `name:latest`, as the docker CLI reads it."""
    if "@" in ref or ref.startswith("sha256:"):
        return ref
    last = ref.rsplit("/", 1)[-1]
    return ref if ":" in last else f"{ref}:latest"


def save_name(ref: str, tags: list[str]) -> str | bool:
    """Pure: the tag to name in the saved archive, or False for an untagged save."""
    wanted = normalise_ref(ref)
    if wanted in tags:
        return wanted
    return tags[0] if tags else False


def needs_copy(host_id: str, dev_id: str | None) -> bool:
    """Pure: whether the target lacks the image (a different ID counts as lacking it)."""
    return dev_id != host_id


def _dev_image_id(dev_client: Any, ref: str) -> str | None:
    try:
        return str(dev_client.images.get(ref).id)
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.APIError as exc:
        if getattr(exc, "status_code", None) == 404:
            return None
        raise


def _counting(chunks: Iterator[bytes], on_bytes: Callable[[int], None]) -> Iterator[bytes]:
    for chunk in chunks:
        on_bytes(len(chunk))
        yield chunk


def _load_errors(result: Any) -> list[str]:
    """The error messages in a load response (the API reports them as stream items)."""
    items = result if isinstance(result, list) else [result]
    errors: list[str] = []
    for item in items:
        if isinstance(item, dict) and item.get("error"):
            errors.append(str(item.get("error")))
    return errors


def seed_images(host: Engine, dev: Engine, images: list[str]) -> list[SeedResult]:
    """Copy `images` from `host` to `dev`; one result per image (loaded or present)."""
    host_client = host.client()
    dev_client = dev.client()
    results: list[SeedResult] = []
    try:
        wanted: list[tuple[str, Any]] = []
        for ref in images:
            try:
                image = host_client.images.get(ref)
            except docker.errors.ImageNotFound:
                raise ImageError(
                    f"the image {ref} is not on the {host.name} engine",
                    "Build or load it there first (e.g. `invoke images.build`).",
                ) from None
            wanted.append((ref, image))
        todo: list[tuple[str, Any]] = []
        for ref, image in wanted:
            if needs_copy(image.id, _dev_image_id(dev_client, normalise_ref(ref))):
                todo.append((ref, image))
            else:
                results.append(SeedResult(ref, image.id, SeedStatus.PRESENT))
        if not todo:
            return results
        total = sum(int(image.attrs.get("Size") or 0) for _, image in todo)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=ui.err,
            transient=True,
        ) as progress:
            bar = progress.add_task(f"copying to the {dev.name} engine", total=total or None)
            for ref, image in todo:
                results.append(_copy_one(ref, image, dev_client, progress, bar, dev.name))
        return results
    finally:
        host_client.close()
        dev_client.close()


def seed_dev_daemon(
    session: Session, refs: list[str], *, build: str | None = None, name: str = ""
) -> list[SeedResult]:
    """dev.seed: copy images from the host engine into a running dev daemon: the one
    named `name`, or the one running `build`."""
    from .environment import ensure_dev_engine

    dev = ensure_dev_engine(session, start=False, build=build, name=name)
    return seed_images(session.engine(start=False), dev, refs)


def _copy_one(
    ref: str, image: Any, dev_client: Any, progress: Progress, bar: Any, dev_name: str
) -> SeedResult:
    progress.update(bar, description=f"copying {ref}")
    sent = 0

    def advance(count: int) -> None:
        nonlocal sent
        sent += count
        progress.advance(bar, count)

    started = time.monotonic()
    try:
        stream = image.save(chunk_size=CHUNK, named=save_name(ref, list(image.tags)))
        result = dev_client.api.load_image(_counting(iter(stream), advance))
    except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
        raise ImageError(
            f"copying {ref} to the {dev_name} engine failed: {str(exc).splitlines()[-1][:200]}",
            "Check that both engines answer (`invoke dev.status`).",
        ) from None
    errors = _load_errors(result)
    if errors:
        raise ImageError(f"the {dev_name} engine refused {ref}: {errors[-1][:200]}")
    loaded_id = _dev_image_id(dev_client, normalise_ref(ref))
    if loaded_id is None and not str(ref).startswith("sha256:"):
        raise ImageError(f"the {dev_name} engine did not keep {ref} after loading it")
    return SeedResult(ref, image.id, SeedStatus.LOADED, sent, round(time.monotonic() - started, 2))

"""Image archives for machines with no registry: `docker save` plus a checksum.

An archive is PATH (a docker-save tar) and PATH.sha256 (`sha256sum` format).
Loading checks both before the engine sees a byte: the checksum, then that the
tar is whole and holds the manifest.json of a docker save with every file it
names. A truncated, tampered or foreign file is refused and nothing is loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import docker.errors

from .. import process
from ..engine import Engine
from ..errors import ImageError
from ..workspace import write_atomic

_BLOCK = 1 << 20


@dataclass(frozen=True)
class ArchiveInfo:
    path: Path
    sha256: str
    size: int
    tags: tuple[str, ...]


def checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def checksum_line(sha256: str, name: str) -> str:
    return f"{sha256}  {name}\n"


def parse_checksum(text: str) -> str:
    """Pure: the digest from a `sha256sum` line; ValueError when there is none."""
    fields = text.split()
    if not fields or len(fields[0]) != 64 or any(c not in "0123456789abcdef" for c in fields[0]):
        raise ValueError("not a sha256sum line")
    return fields[0]


def check_manifest(manifest: Any, members: set[str]) -> tuple[str, ...]:
    """Pure: the tags of a docker-save manifest.json whose files are all in the archive."""
    if not isinstance(manifest, list) or not manifest:
        raise ValueError("manifest.json lists no image")
    tags: list[str] = []
    for entry in manifest:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise ValueError("manifest.json has an entry with no Config")
        layers = entry.get("Layers")
        if not isinstance(layers, list):
            raise ValueError("manifest.json has an entry with no Layers")
        for name in [entry["Config"], *layers]:
            if name not in members:
                raise ValueError(f"{name} is named in manifest.json but missing")
        tags += [str(tag) for tag in entry.get("RepoTags") or []]
    return tuple(tags)


class _HashingReader:
    """A read-only file object that hashes what passes through it."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        self.size += len(data)
        return data


def _refuse(path: Path, why: str) -> ImageError:
    return ImageError(
        f"{path} is not a valid image archive ({why}); nothing was loaded",
        "Copy it again, or make it again with `invoke images.save`.",
    )


def _scan(handle: IO[bytes], path: Path) -> tuple[str, int, tuple[str, ...]]:
    """One pass over the archive: its digest, size and tags, checking the tar structure."""
    reader = _HashingReader(handle)
    members: set[str] = set()
    manifest: Any = None
    try:
        with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
            for member in tar:
                name = member.name.removeprefix("./")
                members.add(name)
                if not member.isfile():
                    continue
                data = tar.extractfile(member)
                if data is None:
                    continue
                if name == "manifest.json":
                    manifest = json.loads(data.read(16 * _BLOCK))
                else:
                    while data.read(_BLOCK):
                        pass
    except (tarfile.TarError, EOFError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise _refuse(path, f"not a whole tar archive: {exc}") from None
    while reader.read(_BLOCK):
        pass
    if manifest is None:
        raise _refuse(path, "no manifest.json: not made by docker save")
    try:
        tags = check_manifest(manifest, members)
    except ValueError as exc:
        raise _refuse(path, str(exc)) from None
    return reader.digest.hexdigest(), reader.size, tags


def _expected_digest(path: Path) -> str:
    sums = checksum_path(path)
    try:
        return parse_checksum(sums.read_text())
    except FileNotFoundError:
        raise ImageError(
            f"{sums} is missing, so {path} cannot be checked; nothing was loaded",
            "Copy the .sha256 file along with the archive.",
        ) from None
    except (OSError, ValueError) as exc:
        raise ImageError(f"{sums} is not a sha256sum file ({exc}); nothing was loaded") from None


def verify_archive(path: Path) -> ArchiveInfo:
    """Check an archive without loading it."""
    expected = _expected_digest(path)
    try:
        with path.open("rb") as handle:
            return _verify_open(handle, path, expected)
    except FileNotFoundError:
        raise ImageError(f"{path} does not exist") from None


def _verify_open(handle: IO[bytes], path: Path, expected: str) -> ArchiveInfo:
    digest, size, tags = _scan(handle, path)
    if digest != expected:
        raise _refuse(path, "its sha256 does not match the .sha256 file: truncated or changed")
    return ArchiveInfo(path, digest, size, tags)


def load_images(engine: Engine, path: Path) -> ArchiveInfo:
    """Verify an archive, then load it; the engine gets the very bytes that were checked."""
    expected = _expected_digest(path)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise ImageError(f"{path} does not exist") from None
    with handle:
        info = _verify_open(handle, path, expected)
        handle.seek(0)
        # Hash again while loading: a file rewritten in between is caught afterwards.
        reader = _HashingReader(handle)
        client = engine.client()
        try:
            client.api.load_image(_Chunks(reader), quiet=True)
        except docker.errors.APIError as exc:
            raise ImageError(f"the engine refused {path}: {exc.explanation or exc}") from None
        finally:
            client.close()
        if reader.digest.hexdigest() != info.sha256:
            raise ImageError(f"{path} changed while it was loading", "Load it again.")
    return info


class _Chunks:
    """Iterate a file object in blocks (requests streams an iterable body)."""

    def __init__(self, reader: _HashingReader) -> None:
        self.reader = reader

    def __iter__(self) -> Any:
        return iter(lambda: self.reader.read(_BLOCK), b"")


def save_images(engine: Engine, refs: list[str], path: Path) -> ArchiveInfo:
    """`docker save` the images to PATH (atomically) and write PATH.sha256."""
    if not refs:
        raise ImageError("no image to save", "Name them with --image or --lab.")
    client = engine.client()
    try:
        missing = []
        for ref in refs:
            try:
                client.images.get(ref)
            except docker.errors.ImageNotFound:
                missing.append(ref)
    finally:
        client.close()
    if missing:
        raise ImageError(
            f"not on the engine: {', '.join(missing)}",
            "Make them with `invoke images.bootstrap` (or load them) first.",
        )
    path = path.expanduser().resolve()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImageError(f"cannot create {path.parent} ({exc.strerror})") from None
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        result = process.run(
            ["docker", "save", "-o", str(partial), *refs], env=engine.cli_env(), tail_lines=10
        )
        if not result.ok:
            raise ImageError(
                f"docker save failed: {result.tail[-1] if result.tail else result.returncode}",
                "Check the free space where the archive goes.",
            )
        with partial.open("rb") as handle:
            digest, size, tags = _scan(handle, partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    write_atomic(checksum_path(path), checksum_line(digest, path.name))
    return ArchiveInfo(path, digest, size, tags)

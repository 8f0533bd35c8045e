"""Image archives for machines with no registry: `docker save` with a checksum inside.

An archive is the tar `docker save` writes, plus one last member,
`mobylab-archive.json`, holding the sha256 of every byte before it, so the
archive checks itself wherever it is copied (and `docker load -i` still takes
it: the engine ignores files it does not know). PATH.sha256 (`sha256sum`
format, for the whole file) is written next to it too.

Loading checks before the engine sees a byte: the tar is whole and holds the
manifest.json of a docker save with every file it names, and every checksum
present (inside, next to it) matches; with neither, it is refused. A truncated,
tampered or foreign file is refused and nothing is loaded.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import docker.errors

from .. import __version__, process
from ..engine import Engine
from ..errors import ImageError
from ..jsondata import JsonDict
from ..workspace import file_sha256, write_atomic

_BLOCK = 1 << 20
TRAILER = "mobylab-archive.json"
FORMAT = "mobylab-images/1"


@dataclass(frozen=True)
class ArchiveInfo:
    path: Path
    sha256: str
    size: int
    tags: tuple[str, ...]


@dataclass
class _Scan:
    """What one pass over an archive found."""

    digest: str = ""
    size: int = 0
    tags: tuple[str, ...] = ()
    trailer: JsonDict | None = None
    trailer_offset: int = 0
    members: list[str] = field(default_factory=list)


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


def trailer_problem(trailer: Any, covered_digest: str, covered_bytes: int) -> str:
    """Pure: why an embedded checksum does not vouch for the bytes before it ("" if it does)."""
    if not isinstance(trailer, dict) or trailer.get("format") != FORMAT:
        return f"{TRAILER} is not a mobylab archive checksum"
    if trailer.get("bytes") != covered_bytes:
        return "its size differs from the size recorded inside: truncated or changed"
    if trailer.get("sha256") != covered_digest:
        return "its sha256 differs from the one recorded inside: changed"
    return ""


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


def _scan(handle: IO[bytes], path: Path) -> _Scan:
    """One pass: the whole file's digest, the tar structure, the manifest, the trailer."""
    reader = _HashingReader(handle)
    found = _Scan()
    manifest: Any = None
    try:
        with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
            for member in tar:
                name = member.name.removeprefix("./")
                found.members.append(name)
                data = tar.extractfile(member) if member.isfile() else None
                if data is None:
                    continue
                if name == "manifest.json":
                    manifest = json.loads(data.read(16 * _BLOCK))
                elif name == TRAILER:
                    found.trailer = json.loads(data.read(_BLOCK))
                    found.trailer_offset = member.offset
                else:
                    while data.read(_BLOCK):
                        pass
    except (tarfile.TarError, EOFError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise _refuse(path, f"not a whole tar archive: {exc}") from None
    while reader.read(_BLOCK):
        pass
    found.digest, found.size = reader.digest.hexdigest(), reader.size
    if manifest is None:
        raise _refuse(path, "no manifest.json: not made by docker save")
    if found.trailer is not None and found.members[-1] != TRAILER:
        raise _refuse(path, f"{TRAILER} is not its last file")
    try:
        found.tags = check_manifest(manifest, set(found.members))
    except ValueError as exc:
        raise _refuse(path, str(exc)) from None
    return found


def _prefix_digest(handle: IO[bytes], length: int) -> str:
    handle.seek(0)
    digest = hashlib.sha256()
    left = length
    while left > 0:
        block = handle.read(min(_BLOCK, left))
        if not block:
            break
        digest.update(block)
        left -= len(block)
    return digest.hexdigest()


def _sidecar_digest(path: Path) -> str | None:
    sums = checksum_path(path)
    try:
        return parse_checksum(sums.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ImageError(f"{sums} is not a sha256sum file ({exc}); nothing was loaded") from None


def _verify_open(handle: IO[bytes], path: Path) -> ArchiveInfo:
    found = _scan(handle, path)
    sidecar = _sidecar_digest(path)
    if found.trailer is None and sidecar is None:
        raise _refuse(
            path, f"no checksum: neither {TRAILER} inside nor {checksum_path(path).name} next to it"
        )
    if sidecar is not None and sidecar != found.digest:
        raise _refuse(
            path, f"its sha256 does not match {checksum_path(path).name}: truncated or changed"
        )
    if found.trailer is not None:
        covered = _prefix_digest(handle, found.trailer_offset)
        problem = trailer_problem(found.trailer, covered, found.trailer_offset)
        if problem:
            raise _refuse(path, problem)
    return ArchiveInfo(path, found.digest, found.size, found.tags)


def verify_archive(path: Path) -> ArchiveInfo:
    """Check an archive without loading it."""
    try:
        with path.open("rb") as handle:
            return _verify_open(handle, path)
    except FileNotFoundError:
        raise ImageError(f"{path} does not exist") from None


class _Chunks:
    """Iterate a file object in blocks (requests streams an iterable body)."""

    def __init__(self, reader: _HashingReader) -> None:
        self.reader = reader

    def __iter__(self) -> Any:
        return iter(lambda: self.reader.read(_BLOCK), b"")


def load_images(engine: Engine, path: Path) -> ArchiveInfo:
    """Verify an archive, then load it; the engine gets the very bytes that were checked."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise ImageError(f"{path} does not exist") from None
    with handle:
        info = _verify_open(handle, path)
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


def _append_trailer(partial: Path, tags: tuple[str, ...]) -> None:
    """Add the checksum of everything so far as the archive's last member."""
    with tarfile.open(partial, "a") as tar:
        covered = tar.offset
        with partial.open("rb") as handle:
            digest = _prefix_digest(handle, covered)
        body = json.dumps(
            {"format": FORMAT, "sha256": digest, "bytes": covered, "tags": list(tags),
             "mobylab": __version__},
            indent=2,
        ).encode()  # fmt: skip
        info = tarfile.TarInfo(TRAILER)
        info.size, info.mode = len(body), 0o644
        tar.addfile(info, io.BytesIO(body))


def save_images(engine: Engine, refs: list[str], path: Path) -> ArchiveInfo:
    """`docker save` the images to PATH (atomically), with its checksums."""
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
            tags = _scan(handle, partial).tags
        _append_trailer(partial, tags)
        digest, size = file_sha256(partial), partial.stat().st_size
        os.replace(partial, path)
    except OSError as exc:
        raise ImageError(
            f"cannot write {path} ({exc.strerror or exc})", "Check the free space and permissions."
        ) from None
    finally:
        partial.unlink(missing_ok=True)
    write_atomic(checksum_path(path), checksum_line(digest, path.name))
    return ArchiveInfo(path, digest, size, tags)

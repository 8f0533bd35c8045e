"""The workspace folder: checkouts, logs, state and reports, written atomically."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import WorkspaceError


def _disk_error(path: Path, exc: OSError) -> WorkspaceError:
    if exc.errno == errno.ENOSPC:
        return WorkspaceError(
            f"no space left on the device holding {path}",
            "Free some space or point MOBYLAB_WORKSPACE at a larger disk.",
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return WorkspaceError(
            f"cannot write {path}: {exc.strerror}",
            "Check its permissions or point MOBYLAB_WORKSPACE elsewhere.",
        )
    return WorkspaceError(f"cannot write {path}: {exc.strerror or exc}")


def folder_name(text: str, fallback: str) -> str:
    """Pure: `text` as one folder name (runs of anything but letters, digits, `_.-`
    become `-`: a lab path or `lab:NAME:STEP` makes no nested folders)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or fallback


def write_atomic(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    """Write a file so that readers see the old content or the new, never half of it."""
    payload = data.encode() if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_name = ""
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except OSError as exc:
        if tmp_name:
            Path(tmp_name).unlink(missing_ok=True)
        raise _disk_error(path, exc) from None


def write_json(path: Path, value: Any, mode: int = 0o644) -> None:
    write_atomic(path, json.dumps(value, indent=2, sort_keys=True) + "\n", mode)


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB blocks (images and wheels are large)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(path: Path, default: Any = None) -> Any:
    """Read a JSON state file; a missing or unreadable one gives `default`."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


@dataclass(frozen=True)
class Workspace:
    root: Path

    def _dir(self, *parts: str) -> Path:
        path = self.root.joinpath(*parts)
        try:
            path.mkdir(parents=True, exist_ok=True, mode=0o755)
        except OSError as exc:
            raise _disk_error(path, exc) from None
        return path

    @property
    def checkouts(self) -> Path:
        return self._dir("checkouts")

    @property
    def logs(self) -> Path:
        return self._dir("logs")

    @property
    def state(self) -> Path:
        # Private engine sockets and build manifests live here: owner only.
        path = self._dir("state")
        path.chmod(0o700)
        return path

    @property
    def reports(self) -> Path:
        return self._dir("reports")

    @property
    def cache(self) -> Path:
        return self._dir("cache")

    def state_file(self, name: str) -> Path:
        return self.state / f"{name}.json"

    def load_state(self, name: str, default: Any = None) -> Any:
        return read_json(self.root / "state" / f"{name}.json", default)

    def save_state(self, name: str, value: Any) -> None:
        write_json(self.state_file(name), value, mode=0o600)

    def drop_state(self, name: str) -> None:
        (self.root / "state" / f"{name}.json").unlink(missing_ok=True)

"""A seat's files in its sandbox, through the engine API: the same for a sandbox on
this machine and one on a workshop host (nothing of the server's is mounted).

The server keeps the practice run (its state, the answers of `lab`) and a copy of
the run's work folder; the sandbox has the shell's copy at the same path. Before
the server answers a `lab` request it takes the sandbox's work folder (what the
attendee made), and afterwards puts back what `lab` changed, and the practice
folder (the prompt follows the step). An archive from a sandbox is the attendee's
to shape: it is read with tarfile's data filter (members it refuses are skipped)
and only up to MAX_PULL bytes.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ...engine import Engine
from ...errors import MobylabError

IPC_DIR = "/mobylab/ipc"
PRACTICE_DIR = "/mobylab/practice"
REQUEST = ".req"
# A work folder larger than this is not copied back for `lab` (a full disk stays there).
MAX_PULL = 256 << 20
# The request folder holds a few small files; more than this is not `lab`'s doing.
MAX_REQUESTS = 4 << 20
MAX_REQUEST = 64 * 1024
# Archives larger than this go to a temporary file rather than stay in memory.
SPOOL = 8 << 20

# What a file looked like: size, modification time, mode.
Snapshot = dict[str, tuple[int, int, int]]


def snapshot(root: Path) -> Snapshot:
    """Every file, link and folder under `root`, by relative path."""
    found: Snapshot = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        found[path.relative_to(root).as_posix()] = (info.st_size, info.st_mtime_ns, info.st_mode)
    return found


def changes(before: Snapshot, after: Snapshot) -> tuple[list[str], list[str]]:
    """Pure: (made or changed, removed) between two snapshots; a removed folder's
    contents are left out (removing it removes them)."""
    changed = [name for name, seen in after.items() if before.get(name) != seen]
    gone = [name for name in before if name not in after]
    top = [name for name in gone if not any(name.startswith(f"{g}/") for g in gone)]
    return changed, top


def archive(entries: Iterable[tuple[Path, str]]) -> bytes:
    """A tar of local paths under the names given (folders without their contents)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, name in entries:
            tar.add(path, arcname=name, recursive=False)
    return buffer.getvalue()


def text_archive(files: dict[str, str]) -> bytes:
    """A tar of small text files, in the order given (readers wait for the last)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def folders_archive(names: Iterable[str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in names:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
    return buffer.getvalue()


def _below(name: str, root: str) -> str | None:
    """Pure: a member's path below the archive's top folder ('' for the folder itself)."""
    parts = PurePosixPath(name).parts
    if not parts or parts[0] != root:
        return None
    return "/".join(parts[1:])


def _members(tar: tarfile.TarFile, root: str) -> Iterator[tuple[tarfile.TarInfo, str]]:
    for member in tar.getmembers():
        below = _below(member.name, root)
        if below:
            yield member, below


def _tree(path: Path) -> str:
    """An absolute path as put_archive names it from /."""
    return path.as_posix().lstrip("/")


@dataclass
class SeatFiles:
    """The files of one seat's sandbox, reached through its engine."""

    host: Engine
    container: str
    workdir: Path
    practice: Path
    _api: Any = field(default=None, repr=False)

    def api(self) -> Any:
        if self._api is None:
            self._api = self.host.api(timeout=120)
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    def put(self, data: bytes) -> None:
        if not self.api().put_archive(self.container, "/", data):
            raise MobylabError(f"the sandbox {self.container} refused its files")

    @contextmanager
    def get(self, path: str, limit: int) -> Iterator[tarfile.TarFile | None]:
        """The archive of `path` in the sandbox, or None when it is not there; a
        MobylabError when it is over `limit` bytes."""
        import docker.errors

        try:
            stream, _ = self.api().get_archive(self.container, path, chunk_size=1 << 20)
        except docker.errors.NotFound:
            yield None
            return
        with tempfile.SpooledTemporaryFile(SPOOL) as buffer:
            for chunk in stream:
                buffer.write(chunk)
                if buffer.tell() > limit:
                    raise MobylabError(
                        f"{path} in the sandbox is over {limit >> 20} MiB",
                        "Remove what is not part of the lab from it.",
                    )
            buffer.seek(0)
            with tarfile.open(fileobj=buffer, mode="r") as tar:
                yield tar

    def read_text(self, path: str) -> str:
        """A small file of the sandbox ('' when it is missing)."""
        with self.get(path, MAX_PULL) as tar:
            members = tar.getmembers() if tar is not None else []
            handle = tar.extractfile(members[0]) if tar is not None and members else None
            return handle.read().decode(errors="replace") if handle is not None else ""

    def make_folders(self, *paths: str) -> None:
        """Folders the sandbox's daemon and `lab` need, before it starts."""
        self.put(folders_archive(path.lstrip("/") for path in paths))

    def install(self, path: Path, at: str) -> None:
        self.put(archive([(path, at.lstrip("/"))]))

    def give_practice(self) -> None:
        """The practice folder (`lab`, the `docker` that labels, the prompt)."""
        entries = [(self.practice, PRACTICE_DIR.lstrip("/"))]
        for item in sorted(self.practice.rglob("*")):
            name = item.relative_to(self.practice).as_posix()
            entries.append((item, f"{PRACTICE_DIR.lstrip('/')}/{name}"))
        self.put(archive(entries))

    def give_workdir(self, names: Iterable[str] | None = None) -> None:
        """The work folder (or only `names` in it) from the server's copy."""
        chosen = list(snapshot(self.workdir)) if names is None else list(names)
        entries = [(self.workdir, _tree(self.workdir))] if names is None else []
        entries += [(self.workdir / name, _tree(self.workdir / name)) for name in chosen]
        self.put(archive(entries))

    def take_workdir(self) -> Snapshot:
        """The sandbox's work folder becomes the server's copy; its snapshot."""
        fresh = self.workdir.with_name(f".{self.workdir.name}.taken")
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir()
        with self.get(str(self.workdir), MAX_PULL) as tar:
            if tar is not None:
                for member, below in _members(tar, self.workdir.name):
                    member.name = below
                    if member.islnk():
                        member.linkname = _below(member.linkname, self.workdir.name) or ""
                    try:
                        tar.extract(member, fresh, filter="data")
                    except (tarfile.FilterError, OSError, KeyError):
                        continue  # a link out of the folder, a device: not the lab's
        shutil.rmtree(self.workdir)
        fresh.rename(self.workdir)
        return snapshot(self.workdir)

    def give_back(self, before: Snapshot) -> None:
        """What `lab` changed in the work folder since `before`, and the practice folder."""
        changed, removed = changes(before, snapshot(self.workdir))
        if changed:
            self.give_workdir(changed)
        if removed:
            self.run(["rm", "-rf", "--", *(str(self.workdir / name) for name in removed)])
        self.give_practice()

    def run(self, argv: list[str]) -> None:
        api = self.api()
        exec_id = api.exec_create(self.container, argv)["Id"]
        api.exec_start(exec_id)

    def requests(self) -> dict[str, str]:
        """The `lab` requests waiting in the sandbox, by id."""
        found: dict[str, str] = {}
        with self.get(IPC_DIR, MAX_REQUESTS) as tar:
            if tar is None:
                return found
            for member, below in _members(tar, PurePosixPath(IPC_DIR).name):
                handle = tar.extractfile(member) if member.isfile() else None
                if handle is not None and below.endswith(REQUEST) and "/" not in below:
                    text = handle.read(MAX_REQUEST).decode(errors="replace")
                    found[below.removesuffix(REQUEST)] = text
        return found

    def answer(self, files: dict[str, str]) -> None:
        """Answer files for the sandbox's `lab`, written in order."""
        folder = IPC_DIR.lstrip("/")
        self.put(text_archive({f"{folder}/{name}": text for name, text in files.items()}))

"""What provision copies, made once on the instructor's machine.

The wheelhouse (mobylab's wheel and its dependencies' wheels) is built with
`pip wheel` and cached by a hash of the source and its dependency pins, so the
attendee machines never need PyPI. The labs and a dev build's bundles travel as
tar archives named by the hash of their content.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__, process
from ..errors import WorkshopError
from ..workspace import file_sha256

SOURCE_PARTS = ("pyproject.toml", "mobylab", "labs", "scripts")
_SKIP = ("__pycache__", ".pyc", ".mypy_cache", ".pytest_cache", ".ruff_cache")
STAMP = ".source-hash"


def _entries(root: Path, parts: Iterable[str]) -> list[Path]:
    """Files and symbolic links under `parts`; links are entries of their own (never
    followed), so a folder link such as bundles/latest travels as a link."""
    found: list[Path] = []
    for part in parts:
        path = root / part
        if path.is_symlink() or path.is_file():
            found.append(path)
        elif path.is_dir():
            found += [
                p
                for p in sorted(path.rglob("*"))
                if (p.is_symlink() or p.is_file())
                and not any(skip in str(p.relative_to(root)) for skip in _SKIP)
            ]
    return found


def tree_hash(root: Path, parts: Iterable[str]) -> str:
    """sha256 over the relative names and contents (or link targets) under `parts`."""
    digest = hashlib.sha256()
    for path in _entries(root, parts):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        if path.is_symlink():
            digest.update(b"link:" + os.readlink(path).encode())
        else:
            digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def find_source(given: str | None = None) -> Path:
    """The mobylab source tree to build the wheel from (a clone, or --source)."""
    candidate = Path(given).expanduser() if given else Path(__file__).resolve().parents[2]
    if not (candidate / "pyproject.toml").is_file() or not (candidate / "mobylab").is_dir():
        raise WorkshopError(
            f"no mobylab source tree at {candidate}",
            "Run from a clone of mobylab or pass --source DIR.",
        )
    return candidate


@dataclass(frozen=True)
class Wheelhouse:
    path: Path
    source_hash: str
    wheels: dict[str, str] = field(default_factory=dict)  # file name -> sha256

    @property
    def mobylab_wheel(self) -> str:
        return self._wheel_of("mobylab")

    @property
    def pip_wheel(self) -> str:
        """pip itself: hosts make their venv without ensurepip and install with it."""
        return self._wheel_of("pip")

    def _wheel_of(self, project: str) -> str:
        names = [n for n in self.wheels if n.startswith(f"{project}-")]
        if not names:
            raise WorkshopError(
                f"the wheelhouse {self.path} has no {project} wheel",
                "Remove that folder; workshop.provision builds it again.",
            )
        return sorted(names)[-1]


def build_wheelhouse(source: Path, dest: Path, log: Path) -> Wheelhouse:
    """`pip wheel SOURCE pip -w DEST`, unless DEST was already built from the same source."""
    source_hash = tree_hash(source, SOURCE_PARTS)
    stamp = dest / STAMP
    if not (stamp.is_file() and stamp.read_text().strip() == source_hash):
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        result = process.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--disable-pip-version-check",
                str(source),
                "pip",
                "-w",
                str(dest),
            ],
            log=log,
            timeout=1800,
        )
        if not result.ok:
            raise WorkshopError(
                "building the wheelhouse failed",
                f"See {log} (pip needs PyPI on this machine).",
                detail=result.output,
            )
        stamp.write_text(source_hash + "\n")
    wheels = {p.name: file_sha256(p) for p in sorted(dest.glob("*.whl"))}
    return Wheelhouse(dest, source_hash, wheels)


def make_tar(root: Path, dest_dir: Path, name: str) -> tuple[Path, str] | None:
    """A reproducible .tar.gz of folder `root`, named by its content hash; None if empty."""
    if not root.is_dir() or not any(root.iterdir()):
        return None
    content_hash = tree_hash(root, [p.name for p in sorted(root.iterdir())])
    archive = dest_dir / f"{name}-{content_hash[:16]}.tar.gz"
    if not archive.exists():
        dest_dir.mkdir(parents=True, exist_ok=True)
        tmp = archive.with_suffix(".part")
        with tarfile.open(tmp, mode="w:gz") as tar:
            for path in _entries(root, [p.name for p in sorted(root.iterdir())]):
                info = tar.gettarinfo(str(path), arcname=str(path.relative_to(root)))
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = 0
                if info.issym():
                    tar.addfile(info)
                    continue
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
        tmp.replace(archive)
    return archive, content_hash


@dataclass(frozen=True)
class Artifacts:
    """Everything provision sends, with the hashes that make a second run a no-op."""

    wheelhouse: Wheelhouse
    version: str = __version__
    labs: tuple[Path, str] | None = None
    images: tuple[Path, str] | None = None
    bundles: tuple[Path, str] | None = None
    # The last dev build (bundles and manifest), registered on the host with dev.import.
    dev: tuple[Path, str] | None = None

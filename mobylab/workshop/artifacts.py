"""What provision copies, made once on the instructor's machine.

The wheelhouse (mobylab's wheel and its dependencies' wheels) is built with
`pip wheel` and cached by a hash of the source and its dependency pins, so the
attendee machines never need PyPI. The labs and a dev build's bundles travel as
tar archives named by the hash of their content; the labs' images as the archive
images.save writes, made once per lab and dev image.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__, process, ui
from ..catalog import available
from ..dev.build import export_build, last_build
from ..errors import WorkshopError
from ..images import image_refs, lab_image_names, save_images
from ..session import Session
from ..workspace import Workspace, file_sha256

# What the mobylab wheel is built from: hatch_build.py bundles xterm.js from node_modules.
SOURCE_PARTS = ("pyproject.toml", "hatch_build.py", "mobylab", "labs", "node_modules/@xterm")
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


def lab_images(session: Session, lab: str | None) -> list[str]:
    """The images lab `lab` declares, or those of every lab in the catalog."""
    names = [lab] if lab else list(available(session.settings))
    return list(dict.fromkeys(i for name in names for i in lab_image_names(name, session.settings)))


def images_archive(
    session: Session, lab: str | None, *, refresh: bool = False, dev_image: str | None = None
) -> tuple[Path, str] | None:
    """The labs' images (and a dev build's image) saved to one archive, made once and
    reused: one per lab and dev image, so a new dev build's image makes a new archive."""
    folder = session.workspace.root / "workshop" / "artifacts"
    suffix = "-" + dev_image.replace("/", "_").replace(":", "_") if dev_image else ""
    archive = folder / f"images-{lab or 'all'}{suffix}.tar"
    if refresh or not archive.is_file():
        names = lab_images(session, lab) + ([dev_image] if dev_image else [])
        if not names:
            ui.info("the labs declare no images; none copied")
            return None
        folder.mkdir(parents=True, exist_ok=True)
        ui.step(f"saving the labs' images to {archive}")
        save_images(session.engine(start=True), image_refs(names), archive)
    return archive, file_sha256(archive)


def dev_build_archive(workspace: Workspace) -> tuple[tuple[Path, str] | None, str]:
    """The workspace's last dev build (bundles and manifest) as an archive, and its dev
    image (which goes into the images archive)."""
    record = last_build(workspace)
    if record is None:
        raise WorkshopError(
            "--dev: nothing has been built in this workspace yet",
            "Run `invoke dev.build` first (or leave --dev out).",
        )
    folder = workspace.root / "workshop" / "dev-build"
    export_build(record, folder)
    ui.info(f"--dev: build {record.plan.commit[:12]} with its dev image {record.plan.dev_image}")
    archive = make_tar(folder, workspace.root / "workshop" / "artifacts", "dev-build")
    return archive, record.plan.dev_image


def bundles_archive(workspace: Workspace) -> tuple[Path, str] | None:
    """The bundles folder of the workspace's last dev build, as an archive."""
    record = last_build(workspace)
    archive = None
    if record is not None:
        archive = make_tar(record.bundles_dir, workspace.root / "workshop" / "artifacts", "bundles")
    if archive is None:
        ui.warn("no dev build's bundles in the workspace; --bundles skipped")
    return archive


def provision_artifacts(
    session: Session,
    source: Path,
    *,
    lab: str | None = None,
    images: bool = True,
    refresh_images: bool = False,
    bundles: bool = False,
    dev: bool = False,
) -> Artifacts:
    """Everything workshop.provision sends, made (or found made) on this machine."""
    workspace = session.workspace
    ui.step("building the wheelhouse (cached by a hash of the source)")
    started = time.monotonic()
    wheelhouse = build_wheelhouse(
        source,
        workspace.root / "wheelhouse",
        workspace.root / "workshop" / "logs" / "wheelhouse.log",
    )
    ui.info(f"wheelhouse: {len(wheelhouse.wheels)} wheels ({time.monotonic() - started:.0f}s)")
    dev_build, dev_image = dev_build_archive(workspace) if dev else (None, None)
    return Artifacts(
        wheelhouse=wheelhouse,
        labs=make_tar(source / "labs", workspace.root / "workshop" / "artifacts", "labs"),
        images=images_archive(session, lab, refresh=refresh_images, dev_image=dev_image)
        if images or dev
        else None,
        bundles=bundles_archive(workspace) if bundles else None,
        dev=dev_build,
    )

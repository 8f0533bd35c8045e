"""The docker buildx plugin from Debian's package, where the docker CLI finds it.

Debian's docker-buildx is a Go binary that needs nothing but libc: taken out of
its .deb (the newest suite that has one) it gives a docker CLI without buildx
BuildKit builds, on engines back to 18.09. It is tried before it is installed,
and goes to the system plugin folder, never into a user's own ~/.docker.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from .. import process
from ..config import Settings
from ..errors import ImageError
from . import debian
from .rootfs import cache_dir

PLUGIN_DIR = Path("/usr/local/lib/docker/cli-plugins")
PACKAGE = "docker-buildx"
IN_PACKAGE = "usr/libexec/docker/cli-plugins/docker-buildx"


class BuildxStatus(StrEnum):
    INSTALLED = "installed"
    PRESENT = "present"  # the CLI already had buildx
    REPLACED = "replaced"


@dataclass(frozen=True)
class BuildxInstall:
    path: Path
    version: str
    status: BuildxStatus
    suite: str = ""


def newest_offer(
    offered: dict[str, dict[str, debian.Package]],
) -> tuple[str, debian.Package] | None:
    """Pure: the suite with the newest docker-buildx, and its package."""
    best: tuple[tuple[int, ...], str, debian.Package] | None = None
    for suite, packages in offered.items():
        package = packages.get(PACKAGE)
        if package is None:
            continue
        version = debian.upstream_version(package.version)
        if best is None or version > best[0]:
            best = (version, suite, package)
    return (best[1], best[2]) if best else None


def buildx_version(cli: str | None = None) -> str:
    """What `docker buildx version` prints ('' when the CLI has no buildx)."""
    docker = cli or shutil.which("docker")
    if not docker:
        return ""
    result = process.capture([docker, "buildx", "version"], timeout=30)
    return result.stdout.strip() if result.returncode == 0 else ""


def install_buildx(
    settings: Settings, *, plugin_dir: Path = PLUGIN_DIR, force: bool = False
) -> BuildxInstall:
    """Install Debian's buildx plugin (from the `debian_mirror` setting) unless the CLI
    already has one (or `force`).

    The package indexes and the .deb are kept beside the root filesystem cache.
    """
    mirror, rootfs_cache = settings.debian_mirror, cache_dir(settings.rootfs_cache)
    target = plugin_dir / "docker-buildx"
    present = buildx_version()
    if present and not force:
        return BuildxInstall(target, present, BuildxStatus.PRESENT)
    if os.geteuid() != 0:
        raise ImageError(
            f"installing the buildx plugin in {plugin_dir} needs root",
            "Run it as root, or install docker-buildx with your package manager.",
        )
    dpkg_deb = shutil.which("dpkg-deb")
    if dpkg_deb is None:
        raise ImageError(
            "dpkg-deb is not installed: it unpacks Debian's docker-buildx package",
            "Install dpkg, or install the buildx plugin yourself.",
        )
    found = newest_offer(debian.offers(mirror, debian.cache_folder(rootfs_cache)))
    if found is None:
        raise ImageError(
            f"no suite of the Debian mirror {mirror} has {PACKAGE}",
            "Set debian_mirror (MOBYLAB_DEBIAN_MIRROR) to a full mirror.",
        )
    suite, package = found
    deb = debian.fetch_package(mirror, package, rootfs_cache.parent / "debs")
    with tempfile.TemporaryDirectory(prefix="mobylab-buildx-") as scratch:
        unpacked = process.capture([dpkg_deb, "-x", str(deb), scratch], timeout=600)
        binary = Path(scratch) / IN_PACKAGE
        if unpacked.returncode != 0 or not binary.is_file():
            raise ImageError(f"{deb.name} holds no {IN_PACKAGE}: {unpacked.stderr.strip()[:160]}")
        # Go binaries of Debian need only libc: what counts is that it runs here.
        runs = process.capture([str(binary), "version"], timeout=30)
        if runs.returncode != 0:
            raise ImageError(
                f"the buildx of {deb.name} does not run on this machine: "
                f"{(runs.stderr or runs.stdout).strip()[:160]}",
                "Install a docker-buildx plugin built for this system yourself.",
            )
        plugin_dir.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        shutil.copy2(binary, partial)
        partial.chmod(0o755)
        partial.replace(target)
    version = buildx_version()
    if not version:
        raise ImageError(
            f"the docker CLI does not find {target}",
            "Check that your docker CLI reads plugins from /usr/local/lib/docker/cli-plugins.",
        )
    status = BuildxStatus.REPLACED if present else BuildxStatus.INSTALLED
    return BuildxInstall(target, version, status, suite)

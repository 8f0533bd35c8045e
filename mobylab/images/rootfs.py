"""Root filesystems for the offline images: debootstrap, cached as tarballs.

A debootstrap run takes about a minute and needs the Debian mirror; its result
is kept as `<cache>/<key>.tar` (key: suite, mirror, packages), so the next
bootstrap on this machine skips it, and so does a rebuild with --force.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .. import process
from ..errors import ImageError, WorkspaceError
from ..workspace import file_sha256, read_json, write_atomic, write_json
from .debian import mirror_request
from .recipes import (
    Recipe,
    debootstrap_argv,
    debootstrap_script,
    extra_install_argv,
    rootfs_key,
)

# Files debootstrap leaves behind that an image does not need.
_CLEANUP_GLOBS = ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_*", "var/log/*.log")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Rootfs:
    """A root filesystem tarball and how it was made."""

    path: Path
    sha256: str
    made: dict[str, str]


def cache_dir(configured: str) -> Path:
    """The rootfs cache the `rootfs_cache` setting names."""
    return Path(configured).expanduser()


def native_suites() -> list[str]:
    """The suites this machine's debootstrap has a script for."""
    scripts = Path("/usr/share/debootstrap/scripts")
    return sorted(path.name for path in scripts.iterdir()) if scripts.is_dir() else []


def debootstrap_version() -> str:
    result = process.capture(["debootstrap", "--version"], timeout=30)
    return result.stdout.strip().split()[-1] if result.stdout.strip() else "unknown"


def check_mirror(mirror: str, suite: str, timeout: float = 15.0) -> None:
    """Fail early, in one line, when the Debian mirror does not answer."""
    url = f"{mirror.rstrip('/')}/dists/{suite}/Release"
    mirror_request(url, timeout, missing=f"{suite} release", head=True)


_PHASES = (
    ("I: Retrieving Release", "fetching the package lists"),
    ("I: Resolving dependencies", "resolving dependencies"),
    ("I: Retrieving ", "downloading packages"),
    ("I: Validating ", "downloading packages"),
    ("I: Extracting ", "extracting packages"),
    ("I: Installing ", "installing the base system"),
    ("I: Unpacking ", "unpacking packages"),
    ("I: Configuring ", "configuring packages"),
    ("I: Base system installed", "base system installed"),
)


def debootstrap_phase(line: str) -> str:
    """Pure: the phase a debootstrap output line belongs to ("" for none, errors verbatim)."""
    if line.startswith("E: "):
        return "error: " + line[3:]
    for prefix, phase in _PHASES:
        if line.startswith(prefix):
            return phase
    return ""


def _require_debootstrap() -> str:
    if os.geteuid() != 0:
        raise ImageError(
            "building a Debian root filesystem (debootstrap) needs root",
            "Run `invoke images.bootstrap` as root, or load images with `invoke images.load`.",
        )
    if shutil.which("debootstrap") is None:
        raise ImageError(
            "debootstrap is not installed", "Run scripts/setup or apt-get install debootstrap."
        )
    return "debootstrap"


def _install_extra(recipe: Recipe, root: Path, mirror: str, log: Path, progress: Progress) -> None:
    """Install the recipe's packages from its extra suite with apt inside the new root."""
    progress(f"{recipe.name}: {', '.join(recipe.extra_packages)} from {recipe.extra_suite}")
    sources = root / "etc/apt/sources.list.d/mobylab-extra.list"
    sources.write_text(f"deb {mirror.rstrip('/')} {recipe.extra_suite} main\n")
    try:
        for argv in extra_install_argv(root, recipe.extra_suite, recipe.extra_packages):
            result = process.run(argv, log=log)
            if not result.ok:
                raise ImageError(
                    f"installing {', '.join(recipe.extra_packages)} from {recipe.extra_suite} "
                    f"failed (exit status {result.returncode})",
                    f"See {log}.",
                    detail="\n".join(result.tail[-10:]),
                )
    finally:
        sources.unlink(missing_ok=True)


def _tidy(root: Path) -> None:
    for pattern in _CLEANUP_GLOBS:
        for path in root.glob(pattern):
            with contextlib.suppress(OSError):
                path.unlink()


def debootstrap_rootfs(
    recipe: Recipe,
    *,
    suite: str,
    mirror: str,
    cache: Path,
    log: Path,
    progress: Progress,
    refresh: bool = False,
) -> Rootfs:
    """The cached root filesystem of a debootstrap recipe, made when missing."""
    extra = [recipe.extra_suite, *recipe.extra_packages] if recipe.extra_packages else []
    key = rootfs_key(suite, mirror, recipe.packages, extra=extra, links=recipe.links)
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImageError(
            f"cannot create the rootfs cache {cache} ({exc.strerror})",
            "Set rootfs_cache (MOBYLAB_ROOTFS_CACHE) to a writable folder.",
        ) from None
    # Two bootstraps at once (two shells, parallel tests) make the tarball only once.
    with _locked(cache / f"{key}.lock"):
        return _debootstrap_rootfs(recipe, key, suite, mirror, cache, log, progress, refresh)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _debootstrap_rootfs(
    recipe: Recipe,
    key: str,
    suite: str,
    mirror: str,
    cache: Path,
    log: Path,
    progress: Progress,
    refresh: bool,
) -> Rootfs:
    tarball = cache / f"{key}.tar"
    meta_path = cache / f"{key}.json"
    meta = read_json(meta_path, {}) or {}
    if tarball.is_file() and meta.get("sha256") and not refresh:
        progress(f"{recipe.name}: root filesystem from the cache ({tarball})")
        return Rootfs(tarball, str(meta["sha256"]), {k: str(v) for k, v in meta.items()})
    debootstrap = _require_debootstrap()
    for wanted in (suite, recipe.extra_suite):
        if wanted:
            check_mirror(mirror, wanted)
    version = debootstrap_version()
    with tempfile.TemporaryDirectory(prefix=f".{key}.", dir=cache) as scratch:
        root = Path(scratch) / "rootfs"
        argv = debootstrap_argv(
            debootstrap,
            suite,
            root,
            mirror,
            recipe.packages,
            script=debootstrap_script(suite, native_suites()),
        )
        suites = " + ".join(s for s in (suite, recipe.extra_suite) if s)
        progress(f"{recipe.name}: debootstrap {suite} with {', '.join(recipe.packages)}")

        phases: list[str] = []

        def on_line(line: str) -> None:
            phase = debootstrap_phase(line)
            if phase and (not phases or phases[-1] != phase):
                phases.append(phase)
                progress(f"{recipe.name}: {phase}")

        result = process.run(argv, log=log, on_line=on_line)
        if not result.ok:
            errors = [line for line in result.tail if line.startswith("E:")]
            reason = errors[-1][3:].strip() if errors else f"exit status {result.returncode}"
            raise ImageError(
                f"debootstrap of the {recipe.name} image failed: {reason}",
                f"See {log}.",
                detail="\n".join(result.tail[-10:]),
            )
        if recipe.extra_packages:
            _install_extra(recipe, root, mirror, log, progress)
        _tidy(root)
        for folder in recipe.folders:
            (root / folder).mkdir(parents=True, exist_ok=True)
        for link, target in recipe.links:
            path = root / link.lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.unlink(missing_ok=True)
            path.symlink_to(target)
        progress(f"{recipe.name}: packing the root filesystem")
        partial = Path(scratch) / "rootfs.tar"
        packed = process.run(
            ["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(partial), "."],
            log=log,
        )
        if not packed.ok:
            raise ImageError(
                f"packing the {recipe.name} root filesystem failed",
                f"See {log}; check the free space in {cache}.",
            )
        sha = file_sha256(partial)
        made = {
            "suite": suites,
            "mirror": mirror,
            "packages": ",".join(recipe.packages),
            "debootstrap": version,
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sha256": sha,
        }
        os.replace(partial, tarball)
        try:
            write_json(meta_path, made)
        except WorkspaceError as exc:
            raise ImageError(exc.message, exc.hint) from None
    return Rootfs(tarball, sha, made)


# --- the busybox runtime root filesystem --------------------------------------------------

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def is_static_elf(head: bytes) -> bool:
    """Pure: True for an ELF executable with no program interpreter (PT_INTERP).

    `head` holds the start of the file, up to the end of its program headers.
    """
    if head[:4] != b"\x7fELF" or len(head) < 64:
        return False
    is64 = head[4] == 2
    little = head[5] == 1

    def number(offset: int, size: int) -> int:
        return int.from_bytes(head[offset : offset + size], "little" if little else "big")

    if is64:
        phoff, phentsize, phnum = number(32, 8), number(54, 2), number(56, 2)
    else:
        phoff, phentsize, phnum = number(28, 4), number(42, 2), number(44, 2)
    if phoff + phentsize * phnum > len(head):
        return False
    # 3 is PT_INTERP: a dynamically linked program names its loader there.
    return all(number(phoff + i * phentsize, 4) != 3 for i in range(phnum))


def find_static_busybox() -> Path:
    for candidate in BUSYBOX_CANDIDATES:
        path = Path(candidate)
        try:
            with path.open("rb") as handle:
                if is_static_elf(handle.read(8192)):
                    return path.resolve()
        except OSError:
            continue
    raise ImageError(
        "no static busybox on this machine",
        "Run scripts/setup or apt-get install busybox-static.",
    )


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, 0
    tar.addfile(info)


def _add_link(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mtime, info.mode = tarfile.SYMTYPE, target, 0, 0o777
    tar.addfile(info)


# An `apk` stand-in, so that a Dockerfile written for alpine
# (`RUN apk --no-cache add ca-certificates`) builds unchanged: the CA bundle is there.
APK_STANDIN = b"""#!/bin/sh
# mobylab's offline runtime has no package manager; it already holds the CA bundle.
for word in "$@"; do
  case "$word" in
    -*|add|ca-certificates) ;;
    *) echo "apk (mobylab offline runtime): cannot install $word offline" >&2; exit 1 ;;
  esac
done
echo "apk (mobylab offline runtime): ca-certificates already installed"
"""


def busybox_tar(busybox: bytes, applets: list[str], ca_bundle: bytes) -> bytes:
    """Pure: a small root filesystem (busybox, its applets as links, CA bundle) as a tar.

    Fixed owners and times make the same inputs give the same bytes.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for folder in ("bin", "etc", "etc/ssl", "etc/ssl/certs", "root", "sbin", "usr", "usr/bin"):
            _add_dir(tar, folder, 0o700 if folder == "root" else 0o755)
        _add_dir(tar, "tmp", 0o1777)
        _add_file(tar, "bin/busybox", busybox, 0o755)
        for applet in sorted(set(applets) - {"busybox"}):
            _add_link(tar, f"bin/{applet}", "busybox")
        _add_file(tar, "etc/ssl/certs/ca-certificates.crt", ca_bundle)
        _add_file(tar, "sbin/apk", APK_STANDIN, 0o755)
        _add_file(tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:\n")
        _add_file(tar, "etc/group", b"root:x:0:\nnogroup:x:65534:\n")
    return buffer.getvalue()


def applet_names(listing: str) -> list[str]:
    """Pure: the applet names from `busybox --list`, keeping only plain names."""
    return [name for name in listing.split() if name.replace("-", "").replace("_", "").isalnum()]


def busybox_rootfs(cache: Path, progress: Progress, recipe_name: str = "runtime") -> Rootfs:
    """Assemble the runtime root filesystem from the static busybox of this machine."""
    busybox = find_static_busybox()
    listing = process.capture([str(busybox), "--list"], timeout=30).stdout
    if not CA_BUNDLE.is_file():
        raise ImageError(
            f"{CA_BUNDLE} is missing", "Run scripts/setup or apt-get install ca-certificates."
        )
    progress(f"{recipe_name}: static busybox from {busybox}")
    data = busybox_tar(busybox.read_bytes(), applet_names(listing), CA_BUNDLE.read_bytes())
    sha = hashlib.sha256(data).hexdigest()
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tarball = cache / f"busybox-{sha[:24]}.tar"
        if not tarball.is_file():
            write_atomic(tarball, data)
    except (OSError, WorkspaceError) as exc:
        raise ImageError(f"cannot write the runtime root filesystem in {cache} ({exc})") from None
    made = {
        "busybox": str(busybox),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sha256": sha,
    }
    return Rootfs(tarball, sha, made)

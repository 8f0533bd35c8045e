"""The Debian mirror's package indexes: which suite offers which package, at which version.

The toolchain of a dev build (which Go, which containerd, runc, docker CLI ...) is
decided from what the mirror serves today, never from a table in the code. Each
suite's `Packages.xz` is read once a day per mirror and kept, reduced to the
packages mobylab asks about, in a small JSON file next to the root filesystem cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import lzma
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import ImageError, WorkspaceError
from ..workspace import read_json, write_json

# The suites a dev image can be made from, oldest first. Backports suites hold a
# few newer packages on top of their base suite.
SUITES = (
    "bullseye",
    "bookworm",
    "bookworm-backports",
    "trixie",
    "trixie-backports",
    "forky",
    "sid",
)
INDEX_MAX_AGE = 24 * 3600.0
# The packages a dev image may need: Go, the daemon's companions, the CLI and buildx,
# and the libraries of the engine's build tags and graph drivers. A cached index that
# looked for other names is read again.
WANTED_PACKAGES = re.compile(
    r"^(golang-1\.\d+-go|containerd|runc|tini|tini-static|docker-cli|docker-buildx|iptables"
    r"|libsystemd-dev|pkg-config|gcc|libc6-dev|make|git"
    r"|libseccomp-dev|libapparmor-dev|libltdl-dev|automake|libselinux1-dev|libbtrfs-dev)$"
)


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    filename: str


def base_suite(suite: str) -> str:
    """Pure: the suite a backports suite sits on ("trixie-backports" -> "trixie")."""
    return suite.removesuffix("-backports")


def parse_packages(text: str, wanted: re.Pattern[str] = WANTED_PACKAGES) -> dict[str, Package]:
    """Pure: name -> Package for the wanted packages of a Packages index.

    When a package appears more than once (several versions), the last one wins,
    as apt would pick the highest and the mirror lists them in order.
    """
    found: dict[str, Package] = {}
    name = version = filename = ""
    for line in [*text.splitlines(), ""]:
        if not line:
            if name and wanted.match(name) and version:
                found[name] = Package(name, version, filename)
            name = version = filename = ""
        elif line.startswith("Package: "):
            name = line[9:].strip()
        elif line.startswith("Version: "):
            version = line[9:].strip()
        elif line.startswith("Filename: "):
            filename = line[10:].strip()
    return found


def upstream_version(debian_version: str) -> tuple[int, ...]:
    """Pure: "2:1.19~1" or "1.26.10-1" -> (1, 26, 10): the upstream part as numbers."""
    text = debian_version.split(":", 1)[-1]
    text = re.split(r"[-~+]", text, maxsplit=1)[0]
    numbers: list[int] = []
    for piece in text.split("."):
        digits = re.match(r"\d+", piece)
        if not digits:
            break
        numbers.append(int(digits.group(0)))
    return tuple(numbers)


def index_url(mirror: str, suite: str) -> str:
    return f"{mirror.rstrip('/')}/dists/{suite}/main/binary-amd64/Packages.xz"


def _cache_file(cache: Path, mirror: str, suite: str) -> Path:
    key = hashlib.sha256(mirror.rstrip("/").encode()).hexdigest()[:12]
    return cache / f"{key}-{suite}.json"


def mirror_request(url: str, timeout: float, *, missing: str, head: bool = False) -> bytes:
    """GET (or HEAD) one file of the Debian mirror; an ImageError in one line when the
    mirror answers with an error (`missing` says what it lacks) or not at all."""
    try:
        request = urllib.request.Request(url, method="HEAD" if head else "GET")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return b"" if head else bytes(response.read())
    except urllib.error.HTTPError as exc:
        raise ImageError(
            f"the Debian mirror has no {missing} ({url}: HTTP {exc.code})",
            "Set debian_mirror (MOBYLAB_DEBIAN_MIRROR) to a full Debian mirror.",
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ImageError(
            f"the Debian mirror is unreachable ({url}: {reason})",
            "Check the network or set debian_mirror (MOBYLAB_DEBIAN_MIRROR), or load the "
            "images made elsewhere with `invoke images.load`.",
        ) from None


def _cached_index(data: object, now: float | None = None) -> dict[str, Package] | None:
    """Pure: the packages of a cache file read less than a day ago; None when it is
    older, looked for other packages, or is not in the shape this module writes (it is
    then read again)."""
    if not isinstance(data, dict) or data.get("wanted") != WANTED_PACKAGES.pattern:
        return None
    read, packages = data.get("read"), data.get("packages")
    if (
        not isinstance(read, int | float)
        or isinstance(read, bool)
        or not isinstance(packages, dict)
    ):
        return None
    if (now if now is not None else time.time()) - read >= INDEX_MAX_AGE:
        return None
    found: dict[str, Package] = {}
    for name, fields in packages.items():
        if not (
            isinstance(fields, list)
            and len(fields) == 2
            and all(isinstance(f, str) for f in fields)
        ):
            return None
        found[name] = Package(name, fields[0], fields[1])
    return found


def suite_packages(
    mirror: str, suite: str, cache: Path, *, refresh: bool = False, timeout: float = 60.0
) -> dict[str, Package]:
    """The wanted packages of one suite: from the day-old cache, else from the mirror."""
    path = _cache_file(cache, mirror, suite)
    cached = None if refresh else _cached_index(read_json(path))
    if cached is not None:
        return cached
    raw = mirror_request(index_url(mirror, suite), timeout, missing=f"{suite} package index")
    try:
        text = lzma.decompress(raw).decode("utf-8", errors="replace")
    except lzma.LZMAError:
        raise ImageError(f"the package index of {suite} from {mirror} is damaged") from None
    packages = parse_packages(text)
    # A read-only cache still lets the decision go on.
    with contextlib.suppress(WorkspaceError):
        write_json(
            path,
            {
                "mirror": mirror,
                "suite": suite,
                "read": time.time(),
                "wanted": WANTED_PACKAGES.pattern,
                "packages": {p.name: [p.version, p.filename] for p in packages.values()},
            },
        )
    return packages


def offers(
    mirror: str, cache: Path, suites: Iterable[str] = SUITES, *, refresh: bool = False
) -> dict[str, dict[str, Package]]:
    """suite -> its wanted packages, for every suite the mirror serves."""
    return {suite: suite_packages(mirror, suite, cache, refresh=refresh) for suite in suites}


def available(offered: Mapping[str, Mapping[str, Package]], suite: str, name: str) -> bool:
    """Pure: whether a package can be installed in an image of `suite` (backports:
    from the suite itself or its base suite)."""
    if name in offered.get(suite, {}):
        return True
    return name in offered.get(base_suite(suite), {})


def fetch_package(mirror: str, package: Package, folder: Path, timeout: float = 120.0) -> Path:
    """Download one .deb into `folder` (kept: the name holds the version)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / Path(package.filename).name
    if path.is_file() and path.stat().st_size > 0:
        return path
    data = mirror_request(f"{mirror.rstrip('/')}/{package.filename}", timeout, missing=package.name)
    partial = path.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(path)
    return path


def cache_folder(rootfs_cache: Path) -> Path:
    """Where the indexes are kept: beside the root filesystems, shared by workspaces."""
    return rootfs_cache.parent / "debian"


def describe(offered: Mapping[str, Mapping[str, Package]], name: str) -> str:
    """Pure: "bookworm golang-1.19-go 1.19.8-2, sid ..." for a package name pattern's hits."""
    pattern = re.compile(name)
    parts = []
    for suite, packages in offered.items():
        for package in packages.values():
            if pattern.fullmatch(package.name):
                parts.append(f"{suite} {package.name} {package.version}")
    return ", ".join(parts) or "none"


__all__ = [
    "SUITES",
    "WANTED_PACKAGES",
    "Package",
    "available",
    "base_suite",
    "cache_folder",
    "describe",
    "fetch_package",
    "index_url",
    "offers",
    "parse_packages",
    "suite_packages",
    "upstream_version",
]

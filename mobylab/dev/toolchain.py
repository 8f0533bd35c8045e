"""Pure: which Go a checkout needs, how it builds, and which Debian suite provides that Go.

The source says what it needs: go.mod's `go` line (and `toolchain`), else
vendor.mod's, else the Dockerfile's `GO_VERSION` (ARG or ENV) or `FROM golang:x`. A go.mod means a
module build (with `vendor/`: -mod=vendor); without one the engine builds in GOPATH
mode from its import path. The Debian mirror says what exists: every suite's
golang-1.NN-go packages (images.debian). The choice is the oldest Go that is new
enough, the one closest to what the era built with; ties go to a suite debootstrap
makes natively, then to a release over backports.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import SourceError
from ..images.debian import SUITES, Package, available, base_suite, upstream_version
from ..jsondata import JsonDict

MODULE = "module"
GOPATH = "gopath"
IMPORT_PATH_2017 = "github.com/docker/docker"
# What Go assumes of a go.mod without a go line.
GO_MOD_DEFAULT = (1, 16)
# Build tags the era's Dockerfile asks for that need a C library at build time, and
# the Debian package with its headers and static library: the dev image carries it
# when its suite has it, so a dev build has the release's tags.
TAG_PACKAGES = {
    "seccomp": ("libseccomp-dev",),
    "apparmor": ("libapparmor-dev",),
    # debootstrap does not resolve libltdl-dev's `automaken`, which automake provides.
    "pkcs11": ("libltdl-dev", "automake"),
    "selinux": ("libselinux1-dev",),
}
# Graph drivers whose cgo code includes a library's headers: the Debian package that
# brings them, and the tag that leaves the driver out when the suite lacks it.
# Today's btrfs driver includes only the kernel's headers, which libc6-dev brings.
GRAPHDRIVER_FOLDERS = (
    "daemon/graphdriver/btrfs",
    "daemon/graphdriver/devicemapper",
    "pkg/devicemapper",
)
HEADER_PACKAGES = {
    "btrfs/ioctl.h": ("libbtrfs-dev", "exclude_graphdriver_btrfs"),
    "btrfs/ctree.h": ("libbtrfs-dev", "exclude_graphdriver_btrfs"),
}
# Drivers left out whatever the suite offers, and why: hack/make.sh links the daemon
# statically, and Debian ships no libdevmapper.a (the era's Dockerfile built lvm2 for it).
HEADERS_NOT_LINKABLE = {
    "libdevmapper.h": (
        "exclude_graphdriver_devicemapper",
        "the static daemon needs libdevmapper.a, which Debian's libdevmapper-dev does not ship",
    ),
}
_LIBRARY_PACKAGES = (
    *(p for needed in TAG_PACKAGES.values() for p in needed),
    *(p for p, _ in HEADER_PACKAGES.values()),
)


def cgo_includes(go_sources: Sequence[str]) -> list[str]:
    """Pure: the headers the cgo preambles of these Go files #include."""
    found: list[str] = []
    for text in go_sources:
        if 'import "C"' not in text:
            continue
        found += re.findall(r"^\s*#\s*include\s*<([^>]+)>", text, re.MULTILINE)
    return found


def version_text(version: Sequence[int]) -> str:
    return ".".join(str(part) for part in version)


def parse_version(text: str) -> tuple[int, ...]:
    """Pure: "1.26.3", "go1.26.7", "1.7.5" -> numbers; () when it is not a version."""
    match = re.match(r"^(?:go)?(\d+(?:\.\d+)*)", text.strip())
    return tuple(int(part) for part in match.group(1).split(".")) if match else ()


@dataclass(frozen=True)
class GoNeed:
    """What the checkout asks of Go."""

    minimum: tuple[int, ...]
    # Where the minimum was read ("go.mod: go 1.26.3").
    source: str
    # MODULE or GOPATH.
    mode: str
    vendored: bool
    # The package path the source lives at in GOPATH mode ("" in module mode).
    import_path: str = ""
    # The Go the era's own build used, when the source names one (toolchain line, Dockerfile).
    preferred: str = ""

    def describe(self) -> str:
        how = "a module" if self.mode == MODULE else f"GOPATH mode as {self.import_path}"
        vendor = " with vendor/" if self.vendored else ""
        return f"Go >= {version_text(self.minimum)} ({self.source}), {how}{vendor}"


def _go_directive(text: str, word: str) -> str:
    match = re.search(rf"^\s*{word}\s+(\S+)\s*$", text, re.MULTILINE)
    return match.group(1) if match else ""


def dockerfile_go(text: str | None) -> tuple[str, str]:
    """Pure: the Go the era's Dockerfile builds with, and where it says so.

    `ARG GO_VERSION=x` or `ENV GO_VERSION x` (the first one), else the first
    `FROM golang:x` with a literal version (2018-2019 Dockerfiles name it only
    there); ("", "") when it names none.
    """
    lines = (text or "").splitlines()
    for line in lines:
        match = re.match(r"^\s*(?:ARG|ENV)\s+GO_VERSION(?:=|\s+)\"?([0-9][0-9.]*)", line, re.I)
        if match:
            version = match.group(1).rstrip(".")
            return version, f"Dockerfile: GO_VERSION {version}"
    for line in lines:
        match = re.match(r"^\s*FROM\s+(?:\S*/)?golang:([0-9]+\.[0-9][0-9.]*)", line, re.I)
        if match:
            version = match.group(1).rstrip(".")
            return version, f"Dockerfile: FROM golang:{version}"
    return "", ""


def dockerfile_build_tags(text: str | None) -> tuple[str, ...]:
    """Pure: the DOCKER_BUILDTAGS the era's Dockerfile sets (ENV or ARG, either spelling)."""
    for line in (text or "").splitlines():
        match = re.match(
            r"^\s*(?:ENV|ARG)\s+DOCKER_BUILDTAGS(?:=|\s+)\"?([^\"]*)\"?\s*$", line, re.I
        )
        if match:
            return tuple(match.group(1).split())
    return ()


def import_path(make_sh: str | None) -> str:
    """Pure: the engine's package path from hack/make.sh's DOCKER_PKG, else the 2017 one."""
    match = re.search(r"DOCKER_PKG=['\"]?([\w./-]+)", make_sh or "")
    return match.group(1) if match else IMPORT_PATH_2017


def go_need(files: Mapping[str, str | None], has_vendor: bool) -> GoNeed:
    """Pure: what Go the checkout with these files needs."""
    dockerfile = files.get("Dockerfile")
    era_go, era_source = dockerfile_go(dockerfile)
    go_mod = files.get("go.mod")
    if go_mod is not None:
        line = _go_directive(go_mod, "go")
        toolchain = _go_directive(go_mod, "toolchain")
        minimum, source = parse_version(line), f"go.mod: go {line}"
        if not minimum:
            # A go.mod without a go line: the Dockerfile's Go, else Go's own default.
            minimum = parse_version(era_go) or GO_MOD_DEFAULT
            source = era_source or "go.mod (no go line)"
        return GoNeed(
            minimum,
            source,
            MODULE,
            has_vendor,
            preferred=toolchain.removeprefix("go") or era_go,
        )
    path = import_path(files.get("hack/make.sh"))
    vendor_mod = files.get("vendor.mod")
    candidates: list[tuple[tuple[int, ...], str]] = []
    if vendor_mod is not None and parse_version(_go_directive(vendor_mod, "go")):
        line = _go_directive(vendor_mod, "go")
        candidates.append((parse_version(line), f"vendor.mod: go {line}"))
    if era_go:
        candidates.append((parse_version(era_go), era_source))
    if not candidates:
        raise SourceError(
            "the checkout names no Go version (no go.mod or vendor.mod go line, no GO_VERSION "
            "or FROM golang:<version> in its Dockerfile)",
            "Check that this is a Docker engine checkout.",
        )
    minimum, source = max(candidates)
    return GoNeed(minimum, source, GOPATH, has_vendor, import_path=path, preferred=era_go)


@dataclass(frozen=True)
class GoChoice:
    """A Go from the Debian mirror: the suite to make the image from and the package."""

    suite: str
    package: str
    debian_version: str
    version: tuple[int, ...]

    @property
    def goroot(self) -> str:
        return f"/usr/lib/go-{self.version[0]}.{self.version[1]}"

    @property
    def short(self) -> str:
        return f"go{self.version[0]}.{self.version[1]}"


def _go_packages(offered: Mapping[str, Package]) -> list[Package]:
    return [p for name, p in offered.items() if re.fullmatch(r"golang-1\.\d+-go", name)]


def choose_go(
    need: GoNeed,
    offered: Mapping[str, Mapping[str, Package]],
    native_scripts: Sequence[str],
) -> GoChoice:
    """Pure: the Debian Go that builds this source, or a SourceError saying what to do.

    `offered` is suite -> packages (images.debian.offers); `native_scripts` the
    suites debootstrap has a script for (backports sit on their base suite's).
    """
    candidates: list[tuple[tuple[Any, ...], GoChoice]] = []
    newest: GoChoice | None = None
    for index, suite in enumerate(s for s in SUITES if s in offered):
        for package in _go_packages(offered[suite]):
            version = upstream_version(package.version)
            choice = GoChoice(suite, package.name, package.version, version)
            if newest is None or version > newest.version:
                newest = choice
            if version < need.minimum:
                continue
            backports = suite != base_suite(suite)
            native = base_suite(suite) in native_scripts
            candidates.append(((version, not native, backports, index), choice))
    if candidates:
        return min(candidates, key=lambda item: item[0])[1]
    offer = (
        f"the newest the Debian mirror offers is {version_text(newest.version)} "
        f"({newest.package} in {newest.suite})"
        if newest
        else "the Debian mirror offers no golang-1.NN-go package"
    )
    raise SourceError(
        f"this source needs Go {version_text(need.minimum)} or newer ({need.source}) and {offer}",
        "Point debian_mirror at a mirror that has it, or build an older ref of the engine.",
    )


def build_tags(
    need: GoNeed,
    dockerfile: str | None,
    cgo_includes: Sequence[str],
    offered: Collection[str] = (),
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Pure: (DOCKER_BUILDTAGS for hack/make.sh, the -dev packages they need, notes).

    Older sources ask in their Dockerfile for tags that need a C library, and hold
    graph drivers whose cgo code includes a library's headers (`cgo_includes`: what
    the graph drivers' files #include). The dev image gets each library's -dev package
    when the suite `offered` it; without it, the tag is left out (a driver turned off)
    and a note says why.
    """
    asked = dockerfile_build_tags(dockerfile)
    kept: list[str] = []
    packages: list[str] = []
    notes: list[str] = []
    for tag in asked:
        needed = TAG_PACKAGES.get(tag, ())
        lacking = [package for package in needed if package not in offered]
        if lacking:
            notes.append(
                f"build tag {tag!r} left out: it needs {', '.join(lacking)}, which the suite lacks"
            )
        else:
            kept.append(tag)
            packages += needed
    for header in dict.fromkeys(cgo_includes):
        if header in HEADERS_NOT_LINKABLE:
            exclude, why = HEADERS_NOT_LINKABLE[header]
        elif header in HEADER_PACKAGES and HEADER_PACKAGES[header][0] not in offered:
            package, exclude = HEADER_PACKAGES[header]
            why = f"that graph driver needs <{header}> from {package}, which the suite lacks"
        else:
            packages += [HEADER_PACKAGES[header][0]] if header in HEADER_PACKAGES else []
            continue
        if exclude not in kept:
            kept.append(exclude)
            notes.append(f"{exclude}: {why}")
    return tuple(kept), tuple(dict.fromkeys(packages)), tuple(notes)


@dataclass(frozen=True)
class Toolchain:
    """How the source route builds one checkout: Go, mode, tags, environment, image."""

    need: GoNeed
    go: GoChoice
    build_tags: tuple[str, ...]
    workdir: str
    notes: tuple[str, ...] = ()
    # Debian packages of the dev image beyond Go, and whether Debian's daemon
    # companions (containerd, runc ...) serve this era's daemon.
    companions_from_debian: bool = True
    env: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    # The -dev packages the build tags and graph drivers need in the dev image.
    library_packages: tuple[str, ...] = ()

    def as_dict(self) -> JsonDict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Toolchain:
        need = data["need"]
        go = data["go"]
        return cls(
            need=GoNeed(**{**need, "minimum": tuple(need["minimum"])}),
            go=GoChoice(**{**go, "version": tuple(go["version"])}),
            build_tags=tuple(data.get("build_tags", ())),
            workdir=str(data["workdir"]),
            notes=tuple(data.get("notes", ())),
            companions_from_debian=bool(data.get("companions_from_debian", True)),
            env=tuple((str(k), str(v)) for k, v in data.get("env", ())),
            library_packages=tuple(data.get("library_packages", ())),
        )

    def describe(self) -> str:
        return (
            f"{self.go.package} {self.go.debian_version} from Debian {self.go.suite} "
            f"for {self.need.describe()}"
        )


def build_env(need: GoNeed, tags: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """Pure: the environment hack/make.sh runs with (besides DOCKER_GITCOMMIT).

    GOTOOLCHAIN=local: Go never downloads another toolchain (go.mod's `toolchain`
    line would make it try). GOPATH mode turns modules off; a vendored module uses
    its vendor/ folder, so nothing is fetched either way.
    """
    env = [("GOTOOLCHAIN", "local"), ("GOPATH", "/go"), ("DOCKER_BUILDTAGS", " ".join(tags))]
    if need.mode == GOPATH:
        env.append(("GO111MODULE", "off"))
    elif need.vendored:
        env.append(("GOFLAGS", "-mod=vendor"))
    return tuple(env)


def gopath_workdir(path: str) -> str:
    return f"/go/src/{path}"


def make_toolchain(
    need: GoNeed,
    go: GoChoice,
    *,
    dockerfile: str | None,
    cgo_includes: Sequence[str],
    workdir: str,
    companions_from_debian: bool,
    offered: Mapping[str, Mapping[str, Package]] | None = None,
) -> Toolchain:
    """Pure: the whole toolchain from the decisions above (`offered`: the Debian
    mirror's packages, for the libraries the build tags need)."""
    in_suite = {name for name in _LIBRARY_PACKAGES if available(offered or {}, go.suite, name)}
    tags, packages, notes = build_tags(need, dockerfile, cgo_includes, in_suite)
    if need.mode == GOPATH:
        workdir = gopath_workdir(need.import_path)
    return Toolchain(
        need=need,
        go=go,
        build_tags=tags,
        workdir=workdir,
        notes=notes,
        companions_from_debian=companions_from_debian,
        env=build_env(need, tags),
        library_packages=packages,
    )


def companion_packages(
    offered: Mapping[str, Mapping[str, Package]], suite: str, from_debian: bool
) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """Pure: (packages, links, notes) of the daemon's companions in a dev image of `suite`.

    docker-init is tini's static build (the daemon bind-mounts it into containers,
    whose libc may differ): `tini-static` where the suite splits it out, else `tini`.
    The docker CLI stays where today's dev image keeps it (/usr/local/cli).
    """
    packages = ["iptables", "procps"]
    links: list[tuple[str, str]] = []
    notes: list[str] = []
    init = "tini-static" if available(offered, suite, "tini-static") else "tini"
    if available(offered, suite, init):
        packages.append(init)
        links.append(("/usr/local/bin/docker-init", "/usr/bin/tini-static"))
    else:
        notes.append(f"Debian {suite} has no tini: `docker run --init` will not work")
    if not from_debian:
        return packages, links, notes
    for name in ("containerd", "runc"):
        if available(offered, suite, name):
            packages.append(name)
        else:
            notes.append(f"Debian {suite} has no {name}: the daemon cannot run containers")
    if available(offered, suite, "docker-cli"):
        packages.append("docker-cli")
        links.append(("/usr/local/cli/docker", "/usr/bin/docker"))
    else:
        notes.append(f"Debian {suite} has no docker-cli: use the host's CLI with DOCKER_HOST")
    if available(offered, suite, "docker-buildx"):
        packages.append("docker-buildx")
    return packages, links, notes


BUILD_PACKAGES = ("ca-certificates", "git", "make", "gcc", "libc6-dev", "pkg-config")


def build_packages(need: GoNeed, go: GoChoice, libraries: Sequence[str] = ()) -> list[str]:
    """Pure: what compiling the engine needs: Go, cgo's compiler and headers, git, make,
    and the libraries of its build tags and graph drivers.

    Module-era engines build the journald log driver when libsystemd's headers are
    there (hack/make.sh asks pkg-config), so those come too.
    """
    packages = [go.package, *BUILD_PACKAGES, *libraries]
    if need.mode == MODULE:
        packages.append("libsystemd-dev")
    return packages

"""Pure: inspect an engine-source checkout and say how its era builds (a BuildPlan).

`plan_from_files` takes the text of a few files (Makefile, Dockerfile, VERSION,
hack/make/tgz), the branch and the commit, and decides everything with no IO;
`read_plan` is the thin reader around it.

Eras:
- "2017-tgz": the Makefile has `tgz` and hack/make/tgz really builds archives
  (`make tgz` = hack/make.sh dynbinary binary cross tgz in the dev container).
- "dev-container": `make binary` runs hack/make.sh in the dev container
  (including May 2017, when hack/make/tgz became a stub that only says tgz moved).
- "bake": `make binary` runs `docker buildx bake` on the host (needs buildx).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from ..errors import BuildError, SourceError, UsageError
from ..jsondata import JsonDict
from .companions import Companion
from .routes import Route, external_images, needs_buildx
from .seccomp import (
    BUILDKIT_EXECUTOR,
    DAEMON_PROFILE,
    SECCOMP_PROFILES,
    buildkit_note,
    outdated_profile,
)
from .toolchain import Toolchain


class Era(StrEnum):
    """How a checkout's era builds (the module docstring tells them apart)."""

    TGZ = "2017-tgz"
    DEV_CONTAINER = "dev-container"
    BAKE = "bake"


#: The files the plan reads, relative to the checkout.
PLAN_FILES = (
    "Makefile",
    "Dockerfile",
    "VERSION",
    "hack/make/tgz",
    "hack/make.sh",
    "go.mod",
    "vendor.mod",
    "hack/dockerfile/binaries-commits",
    "hack/dockerfile/install-binaries.sh",
    "hack/dockerfile/install/proxy.installer",
    "hack/make/.binary-setup",
    *SECCOMP_PROFILES,
)
#: Folders whose presence the plan needs to know: vendoring, the era's containerd API,
#: and cgroup v2 support (the cgroup libraries that brought it, in 2020).
CGROUP_V2_FOLDERS = (
    "vendor/github.com/containerd/cgroups/v2",
    "vendor/github.com/containerd/cgroups/v3",
    "vendor/github.com/opencontainers/runc/libcontainer/cgroups/fs2",
)
#: Vendored, these mean the daemon speaks containerd 0.2's API (the package moved
#: from docker/ to containerd/ in mid-2017, still 0.2 until 17.11).
CONTAINERD_02_API_FOLDERS = (
    "vendor/github.com/docker/containerd/api/grpc/types",
    "vendor/github.com/containerd/containerd/api/grpc/types",
)
PLAN_FOLDERS = ("vendor", *CONTAINERD_02_API_FOLDERS, *CGROUP_V2_FOLDERS, BUILDKIT_EXECUTOR)

WORKDIR_2017 = "/go/src/github.com/docker/docker"
WORKDIR_TODAY = "/usr/src/moby"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Where today's dev image keeps the docker CLI (the CLI left the engine repository in 2017).
CLI_DIR_TODAY = "/usr/local/cli"
CLI_DIR_2017_STUB = "/usr/local/bin"


@dataclass(frozen=True)
class UpstreamRoute:
    """The era's own make (`make tgz`, `make binary`), and why it was chosen."""

    name: ClassVar[Route] = Route.UPSTREAM
    reason: str = ""
    # NAME=value pairs mobylab passes on every make command line (e.g. a pinned
    # DOCKER_IMAGE on a detached HEAD), whatever the engine.
    make_vars: tuple[str, ...] = ()
    # Make targets run after the main one (the bake era's `build`, which makes the
    # docker-dev image).
    then_targets: tuple[str, ...] = ()

    def command(self, target: str) -> str:
        return " ".join(["make", *self.make_vars, target, *self.then_targets])

    def key_parts(self) -> tuple[str, ...]:
        return self.make_vars


@dataclass(frozen=True)
class SourceRoute:
    """mobylab's Debian-made dev image runs the checkout's hack/make.sh, and why."""

    name: ClassVar[Route] = Route.SOURCE
    # The Go toolchain, build tags and environment (dev.toolchain).
    toolchain: Toolchain
    reason: str = ""
    # hack/make.sh's bundles.
    bundles: tuple[str, ...] = ("binary",)
    # The era fixes applied in the build copy (commit hashes, dev.fixes) and the
    # companions built from source (dev.companions).
    fixes: tuple[str, ...] = ()
    companions: tuple[Companion, ...] = ()
    # "era-name=program": Debian's companions under the names the daemon looks for
    # (docker-runc=runc ...), linked in the dev container before the daemon starts.
    companion_aliases: tuple[str, ...] = ()
    # False when built with --no-fixes (the cache keeps the two apart).
    with_fixes: bool = True

    def command(self, target: str) -> str:
        return " ".join(["hack/make.sh", *self.bundles])

    def key_parts(self) -> tuple[str, ...]:
        companions = (f"{c.name}@{c.commit}" for c in self.companions)
        return (self.name, *self.bundles, *self.toolchain.build_tags, *self.fixes, *companions)


@dataclass(frozen=True)
class BuildPlan:
    """How one checkout builds and where its binaries land: the era's facts, what the
    build runs, and the route it takes (with that route's own data)."""

    # -- the era's facts, read from the checkout --
    checkout: Path
    commit: str
    era: Era
    # The VERSION file's content, or "dev" when there is none.
    version: str
    # Folders holding dockerd and the docker CLI. Relative entries are under the
    # checkout (through bundles/latest when the era has it) and come first;
    # absolute entries are folders inside the dev image (today's CLI).
    daemon_dirs: tuple[str, ...]
    client_dirs: tuple[str, ...]
    # The checkout's branch (None: detached HEAD).
    branch: str | None = None
    # Every target the Makefile defines.
    make_targets: tuple[str, ...] = ()
    # The Makefile variable holding `docker run ... --privileged ...` and its text
    # (the upstream route overrides it: labels, no --privileged), and the variable the
    # `build` recipe passes to `docker build` (labels go there).
    run_var: str = ""
    run_value: str = ""
    build_args_var: str = ""
    build_args_value: str = ""
    # Whether the chosen make target runs `docker buildx`; the images the Dockerfile
    # starts FROM (both decide whether the upstream route can work, dev.routes).
    needs_buildx: bool = False
    base_images: tuple[str, ...] = ()
    # Whether the daemon can run on a cgroup v2-only host (None: not known).
    cgroup_v2: bool | None = None
    # The source's default seccomp profile when it predates clone3 (dev.seccomp): the
    # build writes it with clone3 allowed beside its bundles, for the daemon's flag.
    seccomp_profile: str = ""
    # -- what the build runs: the route decides these --
    # The make target ("tgz" or "binary"), the docker-dev image the build runs in
    # and the source folder inside it.
    target: str = "binary"
    dev_image: str = ""
    workdir: str = ""
    # PATH inside the dev container: the bundle folders first, then the image's own.
    container_path: str = ""
    route: UpstreamRoute | SourceRoute = UpstreamRoute()
    # What mobylab decided on the user's behalf (shown, not problems), and problems.
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> JsonDict:
        """The plan as manifests and `dev.plan --json` keep it: one flat object."""
        route = self.route
        upstream = route if isinstance(route, UpstreamRoute) else UpstreamRoute()
        source = route if isinstance(route, SourceRoute) else None
        return {
            "checkout": str(self.checkout),
            "commit": self.commit,
            "era": str(self.era),
            "target": self.target,
            "dev_image": self.dev_image,
            "workdir": self.workdir,
            "version": self.version,
            "daemon_dirs": list(self.daemon_dirs),
            "client_dirs": list(self.client_dirs),
            "container_path": self.container_path,
            "warnings": list(self.warnings),
            "branch": self.branch,
            "make_vars": list(upstream.make_vars),
            "run_var": self.run_var,
            "run_value": self.run_value,
            "build_args_var": self.build_args_var,
            "build_args_value": self.build_args_value,
            "make_targets": list(self.make_targets),
            "notes": list(self.notes),
            "route": str(route.name),
            "route_reason": route.reason,
            "needs_buildx": self.needs_buildx,
            "base_images": list(self.base_images),
            "then_targets": list(upstream.then_targets),
            "bundles": list(source.bundles) if source else [],
            "toolchain": source.toolchain.as_dict() if source else None,
            "fixes": list(source.fixes) if source else [],
            "companions": [c.as_dict() for c in source.companions] if source else [],
            "companion_aliases": list(source.companion_aliases) if source else [],
            "with_fixes": source.with_fixes if source else True,
            "cgroup_v2": self.cgroup_v2,
            "seccomp_profile": self.seccomp_profile,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BuildPlan:
        """A plan from `as_dict`'s object (a manifest of any earlier version too)."""

        def strings(key: str) -> tuple[str, ...]:
            return tuple(str(value) for value in data.get(key) or ())

        route: UpstreamRoute | SourceRoute
        reason = str(data.get("route_reason") or "")
        if data.get("route") == Route.SOURCE and data.get("toolchain"):
            route = SourceRoute(
                toolchain=Toolchain.from_dict(data["toolchain"]),
                reason=reason,
                bundles=strings("bundles"),
                fixes=strings("fixes"),
                companions=tuple(Companion.from_dict(c) for c in data.get("companions") or ()),
                companion_aliases=strings("companion_aliases"),
                with_fixes=bool(data.get("with_fixes", True)),
            )
        else:
            route = UpstreamRoute(
                reason=reason, make_vars=strings("make_vars"), then_targets=strings("then_targets")
            )
        branch = data.get("branch")
        cgroup_v2 = data.get("cgroup_v2")
        return cls(
            checkout=Path(data.get("checkout", ".")),
            commit=str(data["commit"]),
            era=Era(data["era"]),
            version=str(data.get("version", "dev")),
            daemon_dirs=strings("daemon_dirs"),
            client_dirs=strings("client_dirs"),
            branch=None if branch is None else str(branch),
            make_targets=strings("make_targets"),
            run_var=str(data.get("run_var", "")),
            run_value=str(data.get("run_value", "")),
            build_args_var=str(data.get("build_args_var", "")),
            build_args_value=str(data.get("build_args_value", "")),
            needs_buildx=bool(data.get("needs_buildx", False)),
            base_images=strings("base_images"),
            cgroup_v2=None if cgroup_v2 is None else bool(cgroup_v2),
            seccomp_profile=str(data.get("seccomp_profile") or ""),
            target=str(data.get("target", "binary")),
            dev_image=str(data.get("dev_image", "")),
            workdir=str(data.get("workdir", "")),
            container_path=str(data.get("container_path", "")),
            route=route,
            notes=strings("notes"),
            warnings=strings("warnings"),
        )

    @property
    def key(self) -> str:
        """What a cached build must match: the commit and how it was built."""
        parts = [self.commit, self.era, self.target, self.dev_image, *self.route.key_parts()]
        if self.seccomp_profile:
            parts.append(DAEMON_PROFILE)
        return "|".join(parts)

    @property
    def command(self) -> str:
        """The build command as the plan shows it."""
        return self.route.command(self.target)

    def upstream_route(self) -> UpstreamRoute:
        """The upstream route's data, or an error for a plan the source route builds."""
        if isinstance(self.route, UpstreamRoute):
            return self.route
        raise BuildError(f"the plan of {self.commit[:12]} is by the source route, not make")

    def source_route(self) -> SourceRoute:
        """The source route's data, or an error for a plan the era's make builds."""
        if isinstance(self.route, SourceRoute):
            return self.route
        raise BuildError(f"the plan of {self.commit[:12]} is by the upstream route (make)")

    def because(self, reason: str) -> BuildPlan:
        """The same plan, its route chosen for `reason`."""
        return dataclasses.replace(self, route=dataclasses.replace(self.route, reason=reason))


# --- Makefile reading ----------------------------------------------------------------------

_ASSIGN = re.compile(
    r"^(?:export\s+|override\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*(:::=|::=|:=|\?=|\+=|!=|=)(.*)$"
)
_RULE = re.compile(r"^([^\t#=:][^#=:]*?)\s*(::?)(?!=)(.*)$")
_REF = re.compile(r"\$[({]([A-Za-z_][A-Za-z0-9_]*)[)}]")


def logical_lines(text: str) -> list[str]:
    """Pure: Makefile lines with backslash continuations joined."""
    lines: list[str] = []
    buffer = ""
    for raw in text.splitlines():
        if raw.endswith("\\"):
            buffer += raw[:-1].rstrip() + " "
            continue
        lines.append(buffer + raw if not buffer else buffer + raw.strip())
        buffer = ""
    if buffer:
        lines.append(buffer)
    return lines


def makefile_variables(text: str) -> dict[str, str]:
    """Pure: NAME -> raw value of the Makefile's assignments (+= appends)."""
    variables: dict[str, str] = {}
    for line in logical_lines(text):
        if line.startswith("\t") or line.lstrip().startswith("#"):
            continue
        match = _ASSIGN.match(line.strip())
        if not match:
            continue
        name, op, value = match.group(1), match.group(2), match.group(3).strip()
        if op == "+=" and name in variables:
            variables[name] = f"{variables[name]} {value}".strip()
        elif op in (":=", "::=") and name in variables:
            # `X := $(X) more` appends to the earlier value.
            previous = variables[name]
            variables[name] = value.replace(f"$({name})", previous).replace(
                "${" + name + "}", previous
            )
        elif op == "?=" and name in variables:
            continue
        else:
            variables[name] = value
    return variables


def makefile_rules(text: str) -> dict[str, list[str]]:
    """Pure: target -> recipe lines (without the tab), for every explicit target."""
    rules: dict[str, list[str]] = {}
    current: list[list[str]] = []
    for line in logical_lines(text):
        if line.startswith("\t"):
            for recipe_lines in current:
                recipe_lines.append(line[1:])
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if _ASSIGN.match(stripped):
            current = []
            continue
        match = _RULE.match(stripped)
        if not match:
            current = []
            continue
        names, rest = match.group(1).split(), match.group(3)
        if names and names[0] == ".PHONY":
            for name in rest.split():
                if _plain_target(name):
                    rules.setdefault(name, [])
            current = []
            continue
        if _ASSIGN.match(rest.strip()):
            # A target-specific variable (`build: VAR := x`): a target, no recipe here.
            for name in names:
                if _plain_target(name):
                    rules.setdefault(name, [])
            current = []
            continue
        current = [rules.setdefault(name, []) for name in names if _plain_target(name)]
        inline = rest.split(";", 1)
        for recipe_lines in current if len(inline) == 2 else []:
            recipe_lines.append(inline[1].strip())
    return rules


def _plain_target(name: str) -> bool:
    return bool(name) and not name.startswith(".") and "%" not in name and "$" not in name


def expand(text: str, variables: Mapping[str, str], rounds: int = 6) -> str:
    """Pure: substitute plain $(NAME)/${NAME} references (make functions are left as they are)."""
    for _ in range(rounds):
        new = _REF.sub(lambda m: variables.get(m.group(1), ""), text)
        if new == text:
            break
        text = new
    return text


def tgz_script_is_stub(text: str | None) -> bool:
    """Pure: True for the May-2017 hack/make/tgz that only says tgz moved (it never runs tar)."""
    if text is None:
        return True
    body = [line for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return not any(re.search(r"\btar\b", line) for line in body)


def binary_style(recipe: list[str], variables: Mapping[str, str]) -> Era | None:
    """Pure: Era.BAKE, Era.DEV_CONTAINER or None for a `binary` recipe."""
    raw = "\n".join(recipe)
    text = expand(raw, variables)
    if re.search(r"\bbuildx\b[^\n]*\bbake\b", text) or re.search(r"\bBAKE", raw):
        return Era.BAKE
    if "hack/make.sh" in text and ("DOCKER_RUN_DOCKER" in raw or re.search(r"\brun\b", text)):
        return Era.DEV_CONTAINER
    return None


def clean_branch(branch: str) -> str:
    """Pure: the Makefile's GIT_BRANCH_CLEAN: every non-alphanumeric character becomes '-'."""
    return re.sub(r"[^A-Za-z0-9]", "-", branch)


def dev_image_name(
    variables: Mapping[str, str], branch: str | None, commit: str
) -> tuple[str, str | None]:
    """Pure: (image name, a DOCKER_IMAGE=... pin or None)."""
    raw = variables.get("DOCKER_IMAGE", "docker-dev").strip().strip('"')
    if "GIT_BRANCH" in raw:
        base = raw.split("$", 1)[0] or "docker-dev"
        if branch and branch != "HEAD":
            return f"{base}:{clean_branch(branch)}", None
        name = f"{base}:{commit[:12]}"
        return name, f"DOCKER_IMAGE={name}"
    name = expand(raw, variables).strip().strip('"')
    if not name or "$" in name or " " in name:
        name = "docker-dev"
    return name, None


_MOUNT = re.compile(r"""-v\s+["']?([^"'\s:]*):([^"'\s:]+)["']?""")


def workdir_from_mounts(mount_text: str) -> str | None:
    """Pure: the source folder in the container from the Makefile's -v mounts."""
    for source, target in _MOUNT.findall(mount_text):
        target = target.rstrip("/")
        if target.endswith("/."):
            target = target[:-2]
        if source.rstrip("/.") in ("$(CURDIR)", "${CURDIR}", "", "$(PWD)") and target.startswith(
            "/"
        ):
            return target
        for suffix in ("/bundles", "/.git", "/$(BIND_DIR)", "/${BIND_DIR}"):
            if target.endswith(suffix) and target.startswith("/"):
                return target[: -len(suffix)]
    return None


def dockerfile_workdir(text: str | None) -> str | None:
    """Pure: the last literal absolute WORKDIR of a Dockerfile."""
    found = None
    for line in logical_lines(text or ""):
        match = re.match(r"^\s*WORKDIR\s+(\S+)\s*$", line, re.IGNORECASE)
        if match and match.group(1).startswith("/") and "$" not in match.group(1):
            found = match.group(1).rstrip("/") or "/"
    return found


def dockerfile_path(text: str | None) -> str:
    """Pure: the image's PATH from `ENV PATH` lines ($PATH expanded), or the usual default."""
    path = DEFAULT_PATH
    for line in logical_lines(text or ""):
        match = re.match(r"^\s*ENV\s+PATH(?:\s+|=)(\S+)\s*$", line, re.IGNORECASE)
        if match:
            value = match.group(1).strip('"')
            path = value.replace("${PATH}", path).replace("$PATH", path)
    return path


def run_variable(variables: Mapping[str, str]) -> tuple[str, str]:
    """Pure: the variable whose value is the `docker run ...` of the dev container."""
    pattern = re.compile(r"(?:\bdocker|\$\(DOCKER\)|\$\{DOCKER\})\s+run\b")
    found = [(name, value) for name, value in variables.items() if pattern.search(value)]
    found.sort(key=lambda item: (item[0] != "DOCKER_FLAGS", "--privileged" not in item[1]))
    return found[0] if found else ("", "")


def build_args_variable(
    rules: Mapping[str, list[str]], variables: Mapping[str, str]
) -> tuple[str, str]:
    """Pure: the variable the `build` recipe hands to `docker build` for extra flags."""
    recipe = "\n".join(rules.get("build", []))
    for name in _REF.findall(recipe):
        if "BUILD_ARGS" in name:
            return name, variables.get(name, "")
        # One level down: BUILD_OPTS := ${DOCKER_BUILD_ARGS} ...
        for inner in _REF.findall(variables.get(name, "")):
            if "BUILD_ARGS" in inner:
                return inner, variables.get(inner, "")
    return "", ""


def bind_dir_pins(variables: Mapping[str, str]) -> list[str]:
    """Pure: pins for mount variables the Makefile empties when DOCKER_HOST is set.

    Such a Makefile drops the bundles bind mount for a remote daemon; mobylab sets
    DOCKER_HOST for make, so it pins the variable back to `bundles`.
    """
    mount = variables.get("DOCKER_MOUNT", "")
    pins: list[str] = []
    for name in dict.fromkeys(_REF.findall(mount)):
        value = variables.get(name, "")
        if "DOCKER_HOST" in value and "bundles" in value:
            pins.append(f"{name}=bundles")
    return pins


def _major(version: str) -> int | None:
    match = re.match(r"^(\d+)\.", version)
    return int(match.group(1)) if match else None


def plan_from_files(
    files: Mapping[str, str | None],
    *,
    checkout: Path,
    commit: str,
    branch: str | None,
    host_cgroup_version: str | None = None,
    buildx: bool | None = None,
    target: str | None = None,
) -> BuildPlan:
    """Pure: the BuildPlan for a checkout whose files hold this text."""
    makefile = files.get("Makefile")
    if makefile is None:
        raise SourceError(
            f"{checkout} has no Makefile: it is not a Docker engine source",
            "Point --checkout at a moby/moby checkout or run `invoke dev.clone`.",
        )
    variables = makefile_variables(makefile)
    rules = makefile_rules(makefile)
    targets = tuple(sorted(rules))
    warnings: list[str] = []
    notes: list[str] = []

    tgz_usable = "tgz" in rules and not tgz_script_is_stub(files.get("hack/make/tgz"))
    style = binary_style(rules["binary"], variables) if "binary" in rules else None
    if tgz_usable:
        era, default_target = Era.TGZ, "tgz"
    elif "binary" in rules:
        default_target = "binary"
        if style is None:
            era = Era.DEV_CONTAINER
            warnings.append("the Makefile's binary recipe is not one mobylab knows; trying it")
        else:
            era = style
        if "tgz" in rules:
            notes.append("hack/make/tgz is the stub that says tgz moved: building `make binary`")
    else:
        raise SourceError(
            "the Makefile has no tgz or binary target mobylab knows how to build "
            f"(targets: {', '.join(targets) or 'none'})",
            "Check that this is a Docker engine checkout.",
        )
    chosen = default_target
    if target is not None:
        chosen = validate_target(target, targets)

    version = (files.get("VERSION") or "").strip() or "dev"
    image, pin = dev_image_name(variables, branch, commit)
    make_vars: list[str] = []
    if pin:
        make_vars.append(pin)
        notes.append(
            f"detached HEAD: the Makefile would name the dev image docker-dev:HEAD; "
            f"mobylab passes {pin} on the make command line"
        )
    for bind_pin in bind_dir_pins(variables):
        make_vars.append(bind_pin)
        notes.append(
            "the Makefile drops the bundles bind mount when DOCKER_HOST is set; "
            f"mobylab passes {bind_pin}"
        )

    default_workdir = WORKDIR_2017 if (era == Era.TGZ or version != "dev") else WORKDIR_TODAY
    workdir = (
        workdir_from_mounts(variables.get("DOCKER_MOUNT", ""))
        or dockerfile_workdir(files.get("Dockerfile"))
        or default_workdir
    )

    if era == Era.TGZ:
        daemon_dirs: tuple[str, ...] = (
            "bundles/latest/dynbinary-daemon",
            "bundles/latest/binary-daemon",
        )
        client_dirs: tuple[str, ...] = (
            "bundles/latest/binary-client",
            "bundles/latest/dynbinary-client",
        )
    elif era == Era.BAKE:
        daemon_dirs = ("bundles/binary", "bundles/binary-daemon")
        client_dirs = (CLI_DIR_TODAY,)
    elif version != "dev":
        # Mid-2017: versioned bundles and bundles/latest, the CLI no longer built here.
        daemon_dirs = ("bundles/latest/binary-daemon", "bundles/binary-daemon")
        client_dirs = (CLI_DIR_2017_STUB,)
    else:
        daemon_dirs = ("bundles/binary-daemon",)
        client_dirs = (CLI_DIR_TODAY,)
    container_path = path_in_container(
        workdir, (*daemon_dirs, *client_dirs), dockerfile_path(files.get("Dockerfile"))
    )

    major = _major(version)
    if host_cgroup_version == "2" and major is not None and major < 20:
        warnings.append(
            f"this {version} daemon predates cgroup v2 support (2020) and this host "
            'has only cgroup v2: it will stop with "Devices cgroup isn\'t mounted"'
        )
    if era == Era.BAKE and chosen == "binary" and buildx is False:
        warnings.append(
            "`make binary` runs `docker buildx bake` and buildx is not installed: "
            "install the docker buildx plugin"
        )
    if chosen in ("tgz", "cross") and "DOCKER_CROSSPLATFORMS" in makefile:
        warnings.append(
            f"`make {chosen}` also cross-compiles for every DOCKER_CROSSPLATFORMS platform; "
            "set DOCKER_CROSSPLATFORMS= (empty) to skip it (dev.build --skip-cross)"
        )

    seccomp_profile = outdated_profile(files)
    if seccomp_profile:
        notes.append(
            f"{seccomp_profile} predates clone3, which today's images (glibc 2.34 on) "
            "start threads with: the daemon runs containers under that profile with "
            f"clone3 allowed (--seccomp-profile, bundles/{DAEMON_PROFILE})"
        )
    run_var, run_value = run_variable(variables)
    build_var, build_value = build_args_variable(rules, variables)
    # The bake era's `make binary` builds on the host and makes no docker-dev image:
    # `make build` (the dev-base target) is run after it, the way that era makes one.
    then = ("build",) if era == Era.BAKE and chosen != "build" and "build" in rules else ()
    recipes = [expand("\n".join(rules.get(t, [])), variables).splitlines() for t in (chosen, *then)]
    return BuildPlan(
        checkout=checkout,
        commit=commit,
        era=era,
        version=version,
        daemon_dirs=daemon_dirs,
        client_dirs=client_dirs,
        branch=branch,
        make_targets=targets,
        run_var=run_var,
        run_value=run_value,
        build_args_var=build_var,
        build_args_value=build_value,
        needs_buildx=needs_buildx(recipes),
        base_images=tuple(external_images(files.get("Dockerfile") or "")),
        target=chosen,
        dev_image=image,
        workdir=workdir,
        container_path=container_path,
        seccomp_profile=seccomp_profile,
        route=UpstreamRoute(make_vars=tuple(make_vars), then_targets=then),
        notes=tuple(notes),
        warnings=tuple(warnings),
    )


def path_in_container(workdir: str, bundle_dirs: Sequence[str], image_path: str) -> str:
    """Pure: PATH in the dev container: the bundle folders (relative ones under the
    workdir) first, then the image's own PATH, each folder once."""
    folders = [d if d.startswith("/") else f"{workdir}/{d}" for d in bundle_dirs]
    return ":".join(dict.fromkeys(p for p in [*folders, *image_path.split(":")] if p))


def source_bundles(plan: BuildPlan, target: str | None) -> tuple[str, ...]:
    """Pure: the hack/make.sh bundles the source route makes for this era.

    `binary` everywhere (2017: the static client and daemon; later: the daemon and
    docker-proxy); a 2017 source asked for `tgz` also packs the release archive, which
    that era makes from `cross`'s folders (this machine's platform only: the build
    sets DOCKER_CROSSPLATFORMS empty).
    """
    if target == "tgz" and plan.era == Era.TGZ:
        return ("binary", "cross", "tgz")
    return ("binary",)


def source_plan(
    plan: BuildPlan,
    toolchain: Toolchain,
    *,
    image: str,
    image_path: str,
    reason: str,
    target: str | None = None,
    notes: tuple[str, ...] = (),
    fixes: tuple[str, ...] = (),
    companions: tuple[Companion, ...] = (),
    companion_aliases: tuple[str, ...] = (),
    with_fixes: bool = True,
) -> BuildPlan:
    """Pure: the era's plan turned to the source route: mobylab's dev image runs
    hack/make.sh with the source at the era's workdir (GOPATH mode: its import path)."""
    workdir = toolchain.workdir
    route = SourceRoute(
        toolchain=toolchain,
        reason=reason,
        bundles=source_bundles(plan, target),
        fixes=fixes,
        companions=companions,
        companion_aliases=companion_aliases,
        with_fixes=with_fixes,
    )
    return dataclasses.replace(
        plan,
        route=route,
        target="binary" if target is None else target,
        dev_image=image,
        workdir=workdir,
        container_path=path_in_container(
            workdir, (*plan.daemon_dirs, *plan.client_dirs), image_path
        ),
        notes=(
            *[n for n in plan.notes if "DOCKER_IMAGE" not in n and "bind mount" not in n],
            *toolchain.notes,
            *notes,
        ),
        warnings=tuple(w for w in plan.warnings if "buildx" not in w and "cross" not in w),
    )


def validate_target(target: str, targets: tuple[str, ...]) -> str:
    """Pure: a make target the Makefile defines (never an option or a variable)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", target):
        raise UsageError(f"invalid make target {target!r}", "Give a target name such as binary.")
    if target not in targets:
        raise UsageError(
            f"the Makefile has no target {target!r}",
            f"Targets: {', '.join(targets)}.",
        )
    return target


# --- the thin reader -----------------------------------------------------------------------


def read_plan_files(checkout: Path) -> dict[str, str | None]:
    files: dict[str, str | None] = {}
    for name in PLAN_FILES:
        path = checkout / name
        try:
            files[name] = path.read_text(errors="replace") if path.is_file() else None
        except OSError:
            files[name] = None
    return files


def speaks_containerd_02(folders: Sequence[str]) -> bool:
    """Pure: whether a checkout with these PLAN_FOLDERS vendors containerd 0.2's API,
    which no Debian containerd (1.x and later) serves."""
    return bool(set(CONTAINERD_02_API_FOLDERS) & set(folders))


def read_plan_folders(checkout: Path) -> list[str]:
    """Which of PLAN_FOLDERS the checkout has."""
    return [name for name in PLAN_FOLDERS if (checkout / name).is_dir()]


def read_go_sources(checkout: Path, folders: Sequence[str]) -> list[str]:
    """The text of the .go files directly in these folders of the checkout."""
    texts: list[str] = []
    for folder in folders:
        for path in sorted((checkout / folder).glob("*.go")):
            try:
                texts.append(path.read_text(errors="replace"))
            except OSError:
                continue
    return texts


def host_cgroup_version() -> str:
    """'2' on a cgroup v2-only host, else '1'."""
    return "2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "1"


def read_plan(
    checkout: Path,
    *,
    host_cgroup: str | None = None,
    buildx: bool | None = None,
    target: str | None = None,
) -> BuildPlan:
    """Read a checkout's files and git HEAD, then plan (see plan_from_files)."""
    from .source import head_info

    checkout = checkout.resolve()
    if not checkout.is_dir():
        raise SourceError(f"{checkout} does not exist", "Run `invoke dev.clone` first.")
    commit, branch = head_info(checkout)
    plan = plan_from_files(
        read_plan_files(checkout),
        checkout=checkout,
        commit=commit,
        branch=branch,
        host_cgroup_version=host_cgroup,
        buildx=buildx,
        target=target,
    )
    folders = read_plan_folders(checkout)
    note = buildkit_note(plan.seccomp_profile, folders)
    return dataclasses.replace(
        plan,
        cgroup_v2=any(f in folders for f in CGROUP_V2_FOLDERS),
        notes=(*plan.notes, note) if note else plan.notes,
    )

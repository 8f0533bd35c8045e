"""The doctor: is this machine ready for mobylab and the flagship lab?

Facts are collected once (the IO edge, `collect_facts`), then every check is a
pure function of them (`evaluate`), so each decision is tested with plain data.
FAIL means the flagship lab cannot run; WARN means something is missing that a
hint can fix or that only some tasks need. The doctor never starts an engine.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

from . import __version__
from .config import Settings
from .engine import display_url
from .errors import MobylabError
from .jsondata import JsonDict
from .network import reach, registry_address


class CheckStatus(StrEnum):
    OK = "OK"
    WARN = "WARN"  # missing, but a hint fixes it or only some tasks need it
    FAIL = "FAIL"  # the flagship lab cannot run


OK, WARN, FAIL = CheckStatus.OK, CheckStatus.WARN, CheckStatus.FAIL
# Engine API 1.29 is Docker 17.05, the first with multi-stage builds.
MULTISTAGE_API = (1, 29)
MIN_PYTHON = (3, 11)
GB = 1000**3
DISK_FAIL, DISK_WARN = 2 * GB, 10 * GB


@dataclass(frozen=True)
class Check:
    name: str
    status: CheckStatus
    detail: str
    hint: str = ""


@dataclass
class Facts:
    """What the doctor found; every field has a value even when finding it failed."""

    python: tuple[int, int, int] = (0, 0, 0)
    docker_cli: str = ""
    dockerd: str = ""
    engine_url: str = ""
    engine_kind: str = ""
    engine_error: str = ""
    # The engine setting names one engine: mobylab will not start its own instead.
    engine_explicit: bool = False
    server_version: str = ""
    api_version: str = ""
    probe_error: str = ""
    privileged: bool | None = None
    fallback_works: bool | None = None
    missing_capabilities: list[str] = field(default_factory=list)
    cgroup_version: str = ""
    buildkit: bool = False
    buildx: bool = False
    workspace: str = ""
    free_bytes: int | None = None
    git: str = ""
    make: str = ""
    debootstrap: str = ""
    # "online", "offline" or "offline by setting".
    registry: str = ""
    registry_detail: str = ""
    images: dict[str, bool] = field(default_factory=dict)
    is_root: bool = False


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)


# --- pure checks ------------------------------------------------------------------------------


def check_python(f: Facts) -> Check:
    shown = ".".join(map(str, f.python))
    if f.python[:2] >= MIN_PYTHON:
        return Check("python", OK, shown)
    return Check("python", FAIL, f"{shown} is too old", "Install Python 3.11 or newer.")


def check_docker_cli(f: Facts) -> Check:
    if f.docker_cli:
        return Check("docker CLI", OK, f.docker_cli)
    return Check(
        "docker CLI", FAIL, "not installed", "Run scripts/setup (apt-get install docker.io)."
    )


def check_engine(f: Facts) -> Check:
    if f.engine_url:
        return Check("engine", OK, f"{f.engine_kind} engine at {display_url(f.engine_url)}")
    if f.engine_explicit:
        return Check(
            "engine",
            FAIL,
            f"the configured engine does not answer ({f.engine_error})",
            "Start it, or unset DOCKER_HOST and MOBYLAB_ENGINE to let mobylab use its own.",
        )
    if f.dockerd and f.is_root:
        return Check(
            "engine",
            WARN,
            f"none answers ({f.engine_error})",
            "`invoke engine.up` starts mobylab's private engine (the labs do it by themselves).",
        )
    why = "dockerd is not installed" if not f.dockerd else "starting one needs root"
    return Check(
        "engine",
        FAIL,
        f"none answers and {why} ({f.engine_error})",
        "Start Docker, or run scripts/setup then `invoke engine.up` as root.",
    )


def check_api(f: Facts) -> Check:
    if not f.engine_url:
        return Check("engine API", WARN, "unknown: no engine", "Start an engine, then run again.")
    detail = f"{f.server_version} (API {f.api_version})"
    if _version(f.api_version) >= MULTISTAGE_API:
        return Check("engine API", OK, detail)
    return Check(
        "engine API",
        FAIL,
        f"{detail}: older than 17.05, no multi-stage builds",
        "Use a Docker engine 17.05 or newer.",
    )


def check_privileged(f: Facts) -> Check:
    name = "privileged containers"
    if not f.engine_url:
        return Check(name, WARN, "unknown: no engine", "Start an engine, then run again.")
    if f.probe_error:
        return Check(name, WARN, f"not probed: {f.probe_error}", "Run `invoke engine.status`.")
    if f.privileged:
        return Check(name, OK, "--privileged works")
    dropped = ", ".join(f.missing_capabilities) or "none"
    if f.fallback_works:
        return Check(
            name,
            OK,
            f"--privileged refused; the fallback works (all capabilities but {dropped})",
        )
    return Check(
        name,
        WARN,
        "--privileged and its fallback are both refused",
        "docker-dev cannot run its daemon here; labs on the host engine still work.",
    )


def check_cgroups(f: Facts) -> Check:
    if f.cgroup_version in ("", None):
        return Check("cgroups", WARN, "unknown", "Start an engine, then run again.")
    if f.cgroup_version == "1":
        return Check("cgroups", OK, "v1")
    return Check(
        "cgroups",
        WARN,
        f"v{f.cgroup_version}",
        "Daemons from before 2020 (such as 17.05) need cgroup v1; today's engines are fine.",
    )


def check_buildkit(f: Facts) -> Check:
    if not f.engine_url:
        return Check("BuildKit", WARN, "unknown: no engine", "Start an engine, then run again.")
    if f.buildkit and f.buildx:
        return Check("BuildKit", OK, "engine supports it; buildx installed")
    if f.buildkit:
        return Check(
            "BuildKit",
            WARN,
            "engine supports it; no buildx plugin",
            "BuildKit builds use DOCKER_BUILDKIT=1 with a 20.10 CLI (/usr/bin/docker), "
            "or install docker-buildx.",
        )
    return Check("BuildKit", WARN, "engine is older than 18.09", "Legacy builds only.")


def check_disk(f: Facts) -> Check:
    if f.free_bytes is None:
        return Check("free disk", WARN, f"unknown for {f.workspace}", "Check the workspace path.")
    shown = f"{f.free_bytes / GB:.1f} GB free for {f.workspace}"
    if f.free_bytes < DISK_FAIL:
        return Check("free disk", FAIL, shown, "Free space or set MOBYLAB_WORKSPACE elsewhere.")
    if f.free_bytes < DISK_WARN:
        return Check("free disk", WARN, shown, "Engine builds and images need about 10 GB.")
    return Check("free disk", OK, shown)


def check_tool(name: str, path: str, needed_for: str) -> Check:
    if path:
        return Check(name, OK, path)
    return Check(name, WARN, f"not installed (needed for {needed_for})", "Run scripts/setup.")


def check_registry(f: Facts) -> Check:
    if f.registry == "online":
        return Check("registry", OK, f"online ({f.registry_detail})")
    return Check(
        "registry",
        WARN,
        f"{f.registry or 'offline'} ({f.registry_detail})" if f.registry_detail else "offline",
        "Fine: the labs use the offline base images.",
    )


def check_images(f: Facts) -> Check:
    missing = sorted(name for name, present in f.images.items() if not present)
    if not f.images:
        return Check(
            "offline images", WARN, "unknown: no engine", "Start an engine, then run again."
        )
    if not missing:
        return Check("offline images", OK, ", ".join(sorted(f.images)))
    detail = f"missing: {', '.join(missing)}"
    can_make = bool(f.debootstrap) and f.is_root
    if f.registry != "online" and not can_make:
        return Check(
            "offline images",
            FAIL,
            detail + "; offline, and they cannot be made here (needs root and debootstrap)",
            "Load them with `invoke images.load PATH` (made by images.save elsewhere).",
        )
    return Check("offline images", WARN, detail, "Run `invoke images.bootstrap`.")


def check_root(f: Facts) -> Check:
    if f.is_root:
        return Check("root", OK, "running as root")
    return Check(
        "root",
        WARN,
        "not root",
        "The private engine, debootstrap and the dev daemon need root; run those tasks as root.",
    )


def evaluate(f: Facts) -> list[Check]:
    """Pure: every check, in the order a person fixes them."""
    return [
        check_python(f),
        check_docker_cli(f),
        check_engine(f),
        check_api(f),
        check_privileged(f),
        check_cgroups(f),
        check_buildkit(f),
        check_disk(f),
        check_tool("git", f.git, "dev.clone and workshops"),
        check_tool("make", f.make, "engine dev builds"),
        check_tool("debootstrap", f.debootstrap, "images.bootstrap"),
        check_registry(f),
        check_images(f),
        check_root(f),
    ]


def summary(checks: list[Check]) -> JsonDict:
    """Pure: the JSON document of `doctor --json`."""
    return {
        "ok": all(c.status != FAIL for c in checks),
        "version": __version__,
        "checks": [asdict(c) for c in checks],
    }


# --- the IO edge ------------------------------------------------------------------------------


def _free_bytes(path: Path) -> int | None:
    for candidate in (path, *path.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def collect_facts(settings: Settings) -> Facts:
    """Look at the machine and its engine; never starts an engine, never raises."""
    from .engine import find_engine, probe
    from .images import RECIPES
    from .workspace import Workspace

    workspace = Workspace(settings.workspace_path)
    facts = Facts(
        python=(sys.version_info.major, sys.version_info.minor, sys.version_info.micro),
        docker_cli=shutil.which("docker") or "",
        dockerd=shutil.which("dockerd") or "",
        workspace=str(workspace.root),
        free_bytes=_free_bytes(workspace.root),
        git=shutil.which("git") or "",
        make=shutil.which("make") or "",
        debootstrap=shutil.which("debootstrap") or "",
        is_root=os.geteuid() == 0,
        engine_explicit=settings.engine not in ("auto", "private")
        or (settings.engine == "auto" and bool(os.environ.get("DOCKER_HOST"))),
    )
    if settings.offline == "yes":
        facts.registry, facts.registry_detail = "offline by setting", "offline = yes"
    else:
        online, facts.registry_detail = reach(registry_address(settings))
        facts.registry = "online" if online else "offline"
    try:
        engine = find_engine(settings, workspace, start=False)
    except MobylabError as exc:
        facts.engine_error = exc.message
        return facts
    facts.engine_url, facts.engine_kind = engine.url, engine.kind
    try:
        caps = probe(engine, workspace)
    except Exception as exc:  # a broken engine must not break the doctor
        facts.probe_error = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        try:
            version = engine.version()
            facts.server_version = str(version.get("Version", ""))
            facts.api_version = str(version.get("ApiVersion", ""))
        except Exception:
            pass
    else:
        facts.server_version, facts.api_version = caps.server_version, caps.api_version
        facts.privileged, facts.fallback_works = caps.privileged, caps.fallback_works
        facts.missing_capabilities = list(caps.missing_capabilities)
        facts.cgroup_version = caps.cgroup_version
        facts.buildkit, facts.buildx = caps.buildkit, caps.buildx
    try:
        client = engine.client(timeout=30)
        try:
            tags = {tag for image in client.images.list() for tag in image.tags}
        finally:
            client.close()
        facts.images = {name: recipe.tag in tags for name, recipe in RECIPES.items()}
    except Exception:
        facts.images = {}
    return facts


def run_doctor(settings: Settings) -> list[Check]:
    """Collect the facts of this machine and check them."""
    return evaluate(collect_facts(settings))


__all__ = [
    "FAIL",
    "OK",
    "WARN",
    "Check",
    "CheckStatus",
    "Facts",
    "collect_facts",
    "evaluate",
    "run_doctor",
    "summary",
]

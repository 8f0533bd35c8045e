"""Pure: what the dev container of a workspace is called, holds and runs.

The dev container runs a build's dockerd inside a docker-dev image. Names are
derived from the workspace, so each workspace has its own container, volume and
socket folder, and two workspaces never collide.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .. import labels
from ..engine import RunSecurity
from ..errors import DevEnvError
from ..jsondata import JsonObject
from .plan import BuildPlan
from .seccomp import DAEMON_PROFILE

COMPONENT = "dev"
# Inside the container: the folders shared with the host and the entry script.
RUN_DIR = "/mobylab/run"
LOG_DIR = "/mobylab/log"
DIND_SCRIPT = "/usr/local/sbin/mobylab-dind"
INNER_DATA_ROOT = "/var/lib/docker"
INNER_TCP_PORT = 2375
DEFAULT_STORAGE_DRIVER = "overlay2"
FALLBACK_STORAGE_DRIVER = "vfs"
# Host folder of the short-lived files: unix socket paths are limited to 108 bytes.
HOST_RUN_ROOT = Path("/run/mobylab")


def host_run_root(uid: int, runtime_dir: str | None) -> Path:
    """Pure: where a user's dev daemon sockets live: /run/mobylab for root; for anyone
    else (an attendee in the docker group) their own runtime folder, else /tmp."""
    if uid == 0:
        return HOST_RUN_ROOT
    if runtime_dir and Path(runtime_dir).is_absolute():
        return Path(runtime_dir) / "mobylab"
    return Path(f"/tmp/mobylab-{uid}")


LABEL_KEY = "org.mobylab.dev-key"
LABEL_NAME = "org.mobylab.dev-name"
LABEL_ERA = "org.mobylab.era"
LABEL_COMMIT = "org.mobylab.commit"
PRIVILEGED_CHOICES = ("always", "auto", "never")
# mobylab-dind's exit status (and dockerd.exit) when no dockerd is in PATH.
NO_DOCKERD = 127


_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")


def name_problem(name: str) -> str:
    """Pure: why `name` cannot name a dev daemon ('' when it can)."""
    if _NAME.fullmatch(name):
        return ""
    return (
        "a dev daemon's name is 1 to 32 lower-case letters, digits and . _ -, "
        "first a letter or digit"
    )


@dataclass(frozen=True)
class DevNames:
    """Names and host paths of one dev environment of a workspace.

    The workspace's first one has no name (mobylab-dev-<key>); others, run side by
    side with it, are named (mobylab-dev-<key>-<name>, a commit prefix by default).
    """

    key: str
    container: str
    network: str
    run_dir: Path
    log_dir: Path
    name: str = ""

    @classmethod
    def for_workspace(cls, workspace_root: Path, name: str = "") -> DevNames:
        key = labels.workspace_key(workspace_root)
        suffix = f"-{name}" if name else ""
        return cls(
            key=key,
            container=f"mobylab-dev-{key}{suffix}",
            network=f"mobylab-dev-{key}{suffix}",
            run_dir=host_run_root(os.geteuid(), os.environ.get("XDG_RUNTIME_DIR"))
            / key
            / f"dev{suffix}",
            log_dir=workspace_root / "logs" / f"dev{suffix}",
            name=name,
        )

    @property
    def state(self) -> str:
        """The workspace state file of this dev environment."""
        return f"dev-{self.name}" if self.name else "dev"

    @property
    def label(self) -> str:
        """How messages and engine names call it: dev, or dev-<name>."""
        return f"dev-{self.name}" if self.name else "dev"

    def volume(self, era: str) -> str:
        # One volume per era (a 2017 daemon must not open the data of a 2026 one) and
        # per dev environment (two daemons never share one).
        suffix = f"-{self.name}" if self.name else ""
        return f"mobylab-dev-{self.key}{suffix}-{_slug(era)}"

    @property
    def socket(self) -> Path:
        return self.run_dir / "docker.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def log(self) -> Path:
        return self.log_dir / "dockerd.log"


def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_.-]+", "-", text).strip("-.") or "dev"


def resource_labels(key: str, plan: BuildPlan | None = None, name: str = "") -> dict[str, str]:
    """Labels of the dev container, volume and network of workspace `key`."""
    extra = {"dev_key": key, "dev_name": name}
    if plan is not None:
        extra.update(commit=plan.commit, era=plan.era)
    return labels.labels(COMPONENT, **extra)


def choose_security(
    setting: str, privileged_works: bool | None, fallback: RunSecurity
) -> RunSecurity:
    """How to run the dev container for the `privileged` setting and what the engine allows.

    `privileged_works` is the probe's answer (None when it could not try).
    """
    if setting not in PRIVILEGED_CHOICES:
        raise DevEnvError(f"--privileged {setting!r} is not a choice", "Use always, auto or never.")
    if setting == "never":
        return fallback
    if privileged_works is False:
        if setting == "always":
            raise DevEnvError(
                "this engine refuses --privileged containers",
                "Use --privileged auto (the default) to run with "
                + fallback.describe()
                + " instead.",
            )
        return fallback
    return RunSecurity(privileged=True)


def dockerd_args(
    storage_driver: str, tcp: bool, socket_group: int | None = None, seccomp_profile: str = ""
) -> list[str]:
    """Pure: the inner dockerd's arguments (the binary comes from the era's PATH).

    A unix socket for the CLI inside, one in the shared folder for the host, and
    TCP only on request. TCP listens on the container's own interface because a
    published port reaches the container there, never on its loopback; the port is
    published on the host's loopback only. `socket_group`: the sockets' group, so a
    user who is not root (in the docker group, say) reaches the daemon they started.
    `seccomp_profile`: the build's profile in the container (dev.seccomp), if any.
    """
    args = [
        "--debug",
        "--host=unix:///var/run/docker.sock",
        f"--host=unix://{RUN_DIR}/docker.sock",
        f"--storage-driver={storage_driver}",
    ]
    if socket_group is not None:
        args.append(f"--group={socket_group}")
    if tcp:
        args += [f"--host=tcp://0.0.0.0:{INNER_TCP_PORT}", "--tls=false"]
    if seccomp_profile:
        args.append(f"--seccomp-profile={seccomp_profile}")
    return args


def bundle_mount_target(plan: BuildPlan) -> str:
    """Where the era expects its bundles inside the dev container."""
    return str(PurePosixPath(plan.workdir) / "bundles")


def daemon_seccomp_profile(plan: BuildPlan) -> str:
    """Where the build's seccomp profile is inside the dev container ("" when the
    daemon keeps the one compiled in)."""
    return f"{bundle_mount_target(plan)}/{DAEMON_PROFILE}" if plan.seccomp_profile else ""


def host_daemon_dirs(plan: BuildPlan, bundles_dir: Path) -> list[Path]:
    """Pure: the plan's daemon folders as host paths under `bundles_dir`.

    The plan names them relative to the checkout ("bundles/latest/dynbinary-daemon");
    the build record says where that bundles folder is on the host.
    """
    dirs: list[Path] = []
    for relative in plan.daemon_dirs:
        parts = PurePosixPath(relative).parts
        if parts and parts[0] == "bundles":
            dirs.append(bundles_dir.joinpath(*parts[1:]))
        else:
            dirs.append(plan.checkout / relative)
    return dirs


def storage_driver_refused(log_text: str) -> bool:
    """Pure: whether a dockerd log says its storage driver cannot work here."""
    text = log_text.lower()
    markers = (
        "driver not supported",
        "error initializing graphdriver",
        "failed to start daemon: error initializing graphdriver",
        "overlay2 is not supported",
        "backing file system is unsupported",
    )
    return any(marker in text for marker in markers)


def start_failure(init_status: str, exit_status: int | None, container_status: str | None) -> str:
    """Pure: why a starting dev daemon can no longer answer ("" while it still may).

    `init_status` is what the entry script wrote ("" before it did), `exit_status`
    the daemon's recorded exit status, `container_status` the engine's word for
    the container (None when not asked this time).
    """
    if init_status and init_status != "ok":
        return "init"
    if exit_status == NO_DOCKERD:
        return "no-dockerd"
    if exit_status is not None:
        return "exited"
    if container_status is not None and container_status != "running":
        return "container"
    return ""


def last_start_section(log_text: str) -> str:
    """Pure: the part of the daemon log written since the last start."""
    marker = "--- mobylab: starting "
    index = log_text.rfind(marker)
    return log_text[index:] if index >= 0 else log_text


def uptime_text(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "-"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


@dataclass(frozen=True)
class DevState:
    """How a dev container was made, kept in the workspace state while it exists."""

    container: str
    image: str
    era: str
    commit: str
    version: str
    workdir: str
    # PATH inside the container: the build's bundle folders first.
    container_path: str
    bundles_dir: str
    volume: str
    network: str
    tcp: bool
    security: str
    privileged: bool
    # (version, commit) the build's dockerd reports of itself (None: not known).
    identity: tuple[str, str] | None
    created: float
    # The daemon's --seccomp-profile in the container ("": the compiled-in one).
    seccomp_profile: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "container": self.container,
            "image": self.image,
            "era": self.era,
            "commit": self.commit,
            "version": self.version,
            "workdir": self.workdir,
            "container_path": self.container_path,
            "bundles_dir": self.bundles_dir,
            "volume": self.volume,
            "network": self.network,
            "tcp": self.tcp,
            "security": self.security,
            "privileged": self.privileged,
            "identity": list(self.identity) if self.identity else None,
            "created": self.created,
            "seccomp_profile": self.seccomp_profile,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DevState:
        identity = data.get("identity")
        return cls(
            container=str(data.get("container", "")),
            image=str(data.get("image", "")),
            era=str(data.get("era", "")),
            commit=str(data.get("commit", "")),
            version=str(data.get("version", "")),
            workdir=str(data.get("workdir", "")),
            container_path=str(data.get("container_path", "")),
            bundles_dir=str(data.get("bundles_dir", "")),
            volume=str(data.get("volume", "")),
            network=str(data.get("network", "")),
            tcp=bool(data.get("tcp")),
            security=str(data.get("security", "")),
            privileged=bool(data.get("privileged")),
            identity=(str(identity[0]), str(identity[1])) if identity else None,
            created=float(data.get("created") or 0.0),
            seccomp_profile=str(data.get("seccomp_profile") or ""),
        )


@dataclass(frozen=True)
class DevStatus:
    """What dev.status says of one dev environment: its container, its daemon, and one
    word for both (`state`: running, no container, container gone, container <status>,
    daemon dead, daemon not answering)."""

    container: str
    socket: str
    log: str
    state: str = "running"
    container_state: str = "-"
    daemon_state: str = "-"
    image: str | None = None
    era: str | None = None
    commit: str | None = None
    security: str | None = None
    volume: str | None = None
    # How many images the daemon holds (None: not asked, it does not answer).
    images: int | None = None
    # The host-loopback TCP address, when published.
    tcp: str | None = None
    # What a running daemon says of itself.
    daemon_version: str | None = None
    daemon_api: str | None = None
    daemon_commit: str | None = None
    uptime_seconds: float | None = None

    def to_dict(self) -> dict[str, object]:
        """The record `dev.status --json` prints (the daemon's answers only when it runs)."""
        data: dict[str, object] = {
            "container": self.container,
            "image": self.image,
            "era": self.era,
            "commit": self.commit,
            "security": self.security,
            "volume": self.volume,
            "socket": self.socket,
            "log": self.log,
            "images": self.images,
            "container_state": self.container_state,
            "daemon_state": self.daemon_state,
            "state": self.state,
        }
        if self.tcp is not None:
            data["tcp"] = self.tcp
        if self.daemon_state == "running":
            data.update(
                daemon_version=self.daemon_version,
                daemon_api=self.daemon_api,
                daemon_commit=self.daemon_commit,
                uptime_seconds=self.uptime_seconds,
            )
        return data


def status_rows(status: DevStatus) -> list[tuple[str, str]]:
    """Pure: the dev.status table from the status record."""
    daemon = status.daemon_state
    if status.daemon_version:
        daemon = (
            f"{daemon}, {status.daemon_version} (API {status.daemon_api or '?'}, "
            f"commit {status.daemon_commit or '?'})"
        )
    rows = [
        ("container", f"{status.container} ({status.container_state})"),
        ("image", status.image or "-"),
        ("era", status.era or "-"),
        ("commit", (status.commit or "-")[:12]),
        ("security", status.security or "-"),
        ("daemon", daemon),
        ("uptime", uptime_text(status.uptime_seconds)),
        ("socket", status.socket or "-"),
    ]
    if status.tcp:
        rows.append(("tcp", status.tcp))
    rows.append(("images inside", "-" if status.images is None else str(status.images)))
    rows.append(("volume", status.volume or "-"))
    rows.append(("log", status.log or "-"))
    return rows


def parse_daemon_version(text: str | None) -> tuple[str, str] | None:
    """Pure: (version, commit) from `dockerd --version` ("Docker version dev, build
    b985e2313a86"), or None when the line says neither."""
    match = re.match(r"^Docker version ([^,\s]+), build ([0-9A-Za-z.+-]+)", (text or "").strip())
    return (match.group(1), match.group(2)) if match else None


def identity_problem(expected: tuple[str, str] | None, answered: JsonObject) -> str:
    """Pure: why the daemon that answers is not the build's ('' when it is).

    `expected` is what the bundle's dockerd says of itself; `answered` the daemon's
    /version. Version AND commit must match: a daemon that answers is no proof.
    """
    if expected is None:
        return ""
    version, commit = str(answered.get("Version", "")), str(answered.get("GitCommit", ""))
    if (version, commit) == tuple(expected):
        return ""
    return (
        f"the daemon that answers is {version or '?'} (commit {commit or '?'}), "
        f"not the build's {expected[0]} (commit {expected[1]})"
    )


def cgroup_problem(plan: BuildPlan, host_cgroup: str) -> str:
    """Pure: why the plan's daemon cannot run on this host's cgroups ('' when it can).

    A daemon from before cgroup v2 support (2020) stops at once on a host with the
    unified hierarchy only; it is told from its source (the cgroup libraries it
    vendors), not from a date.
    """
    if host_cgroup != "2" or plan.cgroup_v2 is not False:
        return ""
    return (
        f"this {plan.version} daemon ({plan.commit[:12]}) predates cgroup v2 support and this "
        'host has only cgroup v2: it would stop with "Devices cgroup isn\'t mounted"'
    )


def socket_group(uid: int, gid: int) -> int | None:
    """Pure: the group the dev daemon's sockets get: none for root, else the user's."""
    return None if uid == 0 else gid

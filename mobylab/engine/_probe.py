"""What an engine allows: versions, storage, cgroups, BuildKit, and --privileged or its fallback.

Many CI sandboxes and nested VMs refuse `--privileged` ("unable to apply caps")
because the machine's capability bounding set lacks some capability. The
fallback grants every capability the bounding set holds, with the security
options docker-in-docker needs, and is derived from the bounding set, not fixed.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import labels
from ..jsondata import JsonDict, JsonObject
from ..workspace import Workspace
from ._cli import local_buildx, local_fingerprint
from ._engine import Engine

# Linux capability numbers (include/uapi/linux/capability.h), as docker names them.
CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
    "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
    "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
    "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
    "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
    "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)  # fmt: skip

PROBE_IMAGE = "mobylab/probe:busybox"
# What docker-in-docker needs beyond the capabilities when --privileged is refused.
FALLBACK_SECURITY_OPTS = ("seccomp=unconfined", "apparmor=unconfined", "systempaths=unconfined")
FALLBACK_DEVICE_RULES = ("a *:* rwm",)


@dataclass(frozen=True)
class RunSecurity:
    """How to start a container that runs its own dockerd."""

    privileged: bool
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    device_cgroup_rules: tuple[str, ...] = ()

    def cli_flags(self) -> list[str]:
        if self.privileged:
            return ["--privileged"]
        flags: list[str] = []
        flags += [f"--cap-add={cap}" for cap in self.cap_add]
        flags += [f"--cap-drop={cap}" for cap in self.cap_drop]
        flags += [f"--security-opt={opt}" for opt in self.security_opt]
        flags += [f"--device-cgroup-rule={rule}" for rule in self.device_cgroup_rules]
        return flags

    def host_config(self, api: Any, **options: Any) -> JsonDict:
        """A HostConfig for the low-level API with these options.

        `systempaths=unconfined` is a CLI spelling: the API takes empty MaskedPaths
        and ReadonlyPaths instead, which the SDK has no parameter for.
        """
        if self.privileged:
            return dict(api.create_host_config(privileged=True, **options))
        config = dict(
            api.create_host_config(
                cap_add=list(self.cap_add),
                cap_drop=list(self.cap_drop),
                security_opt=[o for o in self.security_opt if not o.startswith("systempaths=")],
                device_cgroup_rules=list(self.device_cgroup_rules),
                **options,
            )
        )
        if "systempaths=unconfined" in self.security_opt:
            config["MaskedPaths"] = []
            config["ReadonlyPaths"] = []
        return config

    def describe(self) -> str:
        if self.privileged:
            return "--privileged (every capability, every device, no seccomp or AppArmor)"
        dropped = ", ".join(self.cap_drop) or "none"
        return (
            "all capabilities except " + dropped + ", seccomp and AppArmor unconfined, "
            "/proc and /sys writable, every device allowed by the device cgroup"
        )


PRIVILEGED = RunSecurity(privileged=True)


def missing_capabilities(bounding_set: int, last_cap: int) -> list[str]:
    """Pure: the capabilities up to `last_cap` that the bounding set lacks."""
    top = min(last_cap, len(CAPABILITIES) - 1)
    return [CAPABILITIES[bit] for bit in range(top + 1) if not bounding_set & (1 << bit)]


def fallback_security(bounding_set: int, last_cap: int) -> RunSecurity:
    """Pure: the closest thing to --privileged that a runtime with this bounding set grants."""
    return RunSecurity(
        privileged=False,
        cap_add=("ALL",),
        cap_drop=tuple(missing_capabilities(bounding_set, last_cap)),
        security_opt=FALLBACK_SECURITY_OPTS,
        device_cgroup_rules=FALLBACK_DEVICE_RULES,
    )


def parse_bounding_set(status_text: str) -> int:
    """Pure: CapBnd from the text of /proc/<pid>/status."""
    for line in status_text.splitlines():
        if line.startswith("CapBnd:"):
            return int(line.split(":", 1)[1].strip(), 16)
    raise ValueError("no CapBnd line")


def host_bounding_set() -> tuple[int, int]:
    """The bounding set of this process and the kernel's last capability number."""
    bounding = parse_bounding_set(Path("/proc/self/status").read_text())
    try:
        last_cap = int(Path("/proc/sys/kernel/cap_last_cap").read_text().strip())
    except (OSError, ValueError):
        last_cap = len(CAPABILITIES) - 1
    return bounding, last_cap


@dataclass
class Capabilities:
    url: str
    server_version: str
    api_version: str
    operating_system: str
    kernel: str
    storage_driver: str
    image_store: str
    cgroup_version: str
    cgroup_driver: str
    buildkit: bool
    buildx: bool
    privileged: bool | None
    fallback: JsonDict = field(default_factory=dict)
    fallback_works: bool | None = None
    missing_capabilities: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # The git commit the daemon was built from, as it reports it.
    git_commit: str = ""

    @property
    def dind_security(self) -> RunSecurity:
        """How to start a docker-in-docker container on this engine."""
        if self.privileged is not False:
            return PRIVILEGED
        return RunSecurity(
            privileged=False, **{k: tuple(v) for k, v in self.fallback.items() if k != "privileged"}
        )

    def as_dict(self) -> JsonDict:
        return asdict(self)


def image_store(info: JsonObject) -> str:
    """Pure: 'containerd' when the engine stores images in containerd's snapshotters."""
    for key, value in info.get("DriverStatus") or []:
        if key == "driver-type" and "snapshotter" in str(value):
            return "containerd"
    return "graphdriver"


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("+")[0].split("-")[0].split("."):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)


def ensure_probe_image(client: Any) -> str | None:
    """A tiny labelled image (static busybox) to try container options with."""
    import docker.errors

    try:
        client.images.get(PROBE_IMAGE)
        return PROBE_IMAGE
    except docker.errors.ImageNotFound:
        pass
    busybox = shutil.which("busybox")
    if busybox is None or not Path(busybox).is_file():
        return None
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(busybox, arcname="busybox")
        dockerfile = b'FROM scratch\nCOPY busybox /bin/busybox\nCMD ["/bin/busybox", "true"]\n'
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    buffer.seek(0)
    client.images.build(
        fileobj=buffer,
        custom_context=True,
        tag=PROBE_IMAGE,
        labels=labels.labels("probe"),
        rm=True,
        forcerm=True,
    )
    return PROBE_IMAGE


def try_run(client: Any, image: str, security: RunSecurity) -> tuple[bool, str]:
    """Start a throwaway container with these options; (worked, error)."""
    import docker.errors

    api = client.api
    container_id = None
    try:
        container_id = api.create_container(
            image,
            ["/bin/busybox", "true"],
            labels=labels.labels("probe"),
            host_config=security.host_config(api, network_mode="none"),
        )["Id"]
        api.start(container_id)
        status = api.wait(container_id, timeout=60).get("StatusCode", 1)
        return status == 0, "" if status == 0 else f"exit status {status}"
    except docker.errors.APIError as exc:
        return False, str(exc.explanation or exc)
    finally:
        if container_id:
            api.remove_container(container_id, force=True)


def probe(
    engine: Engine, workspace: Workspace | None = None, *, refresh: bool = False
) -> Capabilities:
    """Ask the engine what it allows; cached per engine and version in the workspace."""
    client = engine.client(timeout=120)
    try:
        version = client.version()
        info = client.info()
        # The CLI's fingerprint is part of the key: installing buildx changes the answer.
        cache_key = (
            "probe-"
            + hashlib.sha256(
                f"{engine.url}|{info.get('ID')}|{version.get('Version')}|{local_fingerprint()}".encode()
            ).hexdigest()[:12]
        )
        if workspace is not None and not refresh:
            cached = workspace.load_state(cache_key)
            if isinstance(cached, dict):
                try:
                    return Capabilities(**cached)
                except TypeError:
                    pass
        bounding, last_cap = host_bounding_set()
        fallback = fallback_security(bounding, last_cap)
        caps = Capabilities(
            url=engine.url,
            server_version=str(version.get("Version", "")),
            git_commit=str(version.get("GitCommit", "")),
            api_version=str(version.get("ApiVersion", "")),
            operating_system=str(info.get("OperatingSystem", "")),
            kernel=str(info.get("KernelVersion", "")),
            storage_driver=str(info.get("Driver", "")),
            image_store=image_store(info),
            cgroup_version=str(info.get("CgroupVersion", "1")),
            cgroup_driver=str(info.get("CgroupDriver", "")),
            buildkit=_version_tuple(str(version.get("Version", "0"))) >= (18, 9),
            buildx=local_buildx(),
            privileged=None,
            fallback=asdict(fallback),
            missing_capabilities=missing_capabilities(bounding, last_cap),
        )
        image = ensure_probe_image(client)
        if image is None:
            caps.notes.append("no busybox to try containers with: --privileged not tried")
            caps.privileged = not caps.missing_capabilities
        else:
            caps.privileged, error = try_run(client, image, PRIVILEGED)
            if not caps.privileged:
                caps.notes.append(f"--privileged refused: {error.strip().splitlines()[-1][:200]}")
                caps.fallback_works, error = try_run(client, image, fallback)
                if not caps.fallback_works:
                    caps.notes.append(f"fallback refused too: {error[:200]}")
        if workspace is not None:
            workspace.save_state(cache_key, caps.as_dict())
        return caps
    finally:
        client.close()

"""A seat's sandbox: a docker-in-docker container on an engine, and its practice run.

Each sandbox is mobylab's dind image running Debian's dockerd, with its own
bridge network (no inter-container traffic), its own volume for the inner
/var/lib/docker, and pids, memory and CPU limits. The engine is this machine's
or a workshop host's (links): the same calls make, reach and remove both. The
only folder mounted is the daemon's socket folder, on the engine's own host (the
server reaches the socket through the link); the run's work folder (at the same
path as on the server, so `lab` and the shell agree on file names), the shell's
folder and the `lab` command's request folder are copied in and out through the
engine (files). The engine's own socket is never mounted. Everything carries
mobylab's labels with the server's key and process id, so a later server reaps
what a killed one left.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import docker.types
import requests.exceptions

from ... import labels, process
from ...dev.container import (
    DEFAULT_STORAGE_DRIVER,
    DIND_SCRIPT,
    FALLBACK_STORAGE_DRIVER,
    INNER_DATA_ROOT,
    LOG_DIR,
    RUN_DIR,
    bundle_mount_target,
    dockerd_args,
    host_run_root,
    storage_driver_refused,
)
from ...dev.devimage import has_dev_image
from ...dev.environment import target_for_build
from ...dev.plan import SourceRoute
from ...dev.resources import api_message, dind_argv, dind_script
from ...dev.seed import seed_images
from ...engine import Engine, probe
from ...errors import DevEnvError, EngineError, UsageError
from ...images.build import build_image, image_exists
from ...images.recipes import DEFAULT_PATH, recipe_named
from ...lab.bases import prepare_bases
from ...lab.engine_choice import engine_label
from ...lab.execute import base_refs, seed_bases
from ...lab.model import Lab
from ...lab.practice import shell
from ...lab.practice.start import OpenedPractice, PracticeOptions, open_practice
from ...lab.setup import RunOptions, lab_bases, new_run_id, prepare
from ...session import Session
from .bridge import lab_script
from .files import IPC_DIR, PRACTICE_DIR, SeatFiles
from .links import HostLink
from .seats import Seat, SeatLimits

COMPONENT = "serve"
SERVER_LABEL = "org.mobylab.serve"
PID_LABEL = "org.mobylab.serve-pid"
# The machine the server runs on: a process id means something only there.
MACHINE_LABEL = "org.mobylab.serve-machine"
READY_SECONDS = 90.0


@dataclass(frozen=True)
class SandboxNames:
    """The names and host folders of one seat's sandbox of one server."""

    server: str
    seat: int
    run_root: Path
    seat_root: Path

    @property
    def container(self) -> str:
        return f"mobylab-serve-{self.server}-{self.seat}"

    @property
    def run_dir(self) -> Path:
        return self.run_root / f"serve-{self.server}-{self.seat}"

    @property
    def socket_name(self) -> str:
        """The daemon's socket as the server reaches it through the link."""
        return f"seat-{self.seat}.sock"

    @property
    def log(self) -> Path:
        """The server's copy of the daemon's log, taken when it fails to start."""
        return self.seat_root / "dockerd.log"

    def labels(self) -> dict[str, str]:
        return labels.labels(
            COMPONENT,
            serve=self.server,
            serve_pid=str(os.getpid()),
            serve_machine=machine_id(),
            seat=str(self.seat),
        )


def machine_id() -> str:
    """This machine, as the labels of its servers' sandboxes name it: its systemd
    machine id, else its host name."""
    for path in (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id")):
        with contextlib.suppress(OSError):
            text = path.read_text().strip()
            if text:
                return text
    return socket.gethostname()


def run_root() -> Path:
    """Where the sandboxes' socket folders are (short paths: a socket's is limited)."""
    return host_run_root(os.geteuid(), os.environ.get("XDG_RUNTIME_DIR"))


def sandbox_names(session: Session, server: str, seat: int, link: HostLink) -> SandboxNames:
    return SandboxNames(
        server=server,
        seat=seat,
        run_root=link.run_root,
        seat_root=session.workspace.root / "serve" / server / f"seat-{seat}",
    )


@dataclass(frozen=True)
class Sandbox:
    """A running sandbox: its names, its daemon, and the practice run its shell opens."""

    names: SandboxNames
    link: HostLink
    engine: Engine
    practice: OpenedPractice
    files: SeatFiles
    path: str

    @property
    def container(self) -> str:
        return self.names.container

    def shell_argv(self) -> list[str]:
        return ["bash", "--rcfile", f"{PRACTICE_DIR}/bashrc", "-i"]

    def shell_environment(self) -> dict[str, str]:
        """The shell's environment inside: the inner daemon, the run's names, `lab`."""
        base = {"PATH": self.path, "HOME": "/root", "TERM": "xterm-256color", "LANG": "C.UTF-8"}
        state = self.practice.state_path
        return shell.shell_environment(
            base,
            {"DOCKER_HOST": "unix:///var/run/docker.sock"},
            self.practice.values,
            Path(PRACTICE_DIR),
            state,
            (self.practice.folder / "prompt").read_text().strip(),
        )


def sandbox_image(session: Session, host: Engine) -> str:
    """mobylab's dind image on the engine, made from Debian packages when it is missing."""
    recipe = recipe_named("dind")
    client = host.client()
    try:
        present = image_exists(client, recipe.tag)
    finally:
        client.close()
    if not present:
        build_image(host, session.workspace, recipe, settings=session.settings)
    return recipe.tag


@dataclass(frozen=True)
class SandboxEngine:
    """What every sandbox runs: its image, the shell's PATH and, for a dev build, its
    bundles (mounted read-only where the build's plan looks for them)."""

    choice: str
    image: str
    path: str
    bundles: tuple[str, str] | None = None
    aliases: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return engine_label(self.choice)


def sandbox_engine(session: Session, host: Engine, choice: str) -> SandboxEngine:
    """`host`: Debian's dockerd in mobylab's dind image; `dev` or `dev:<commit>`: a dev
    build of this workspace in its own dev image."""
    if choice == "host":
        return SandboxEngine(choice, sandbox_image(session, host), DEFAULT_PATH)
    if choice != "dev" and not choice.startswith("dev:"):
        raise UsageError(f"--engine {choice!r} is not a choice", "Use host, dev or dev:<commit>.")
    prefix = choice.removeprefix("dev:") if choice.startswith("dev:") else ""
    target = target_for_build(session.workspace, prefix or None)
    plan = target.plan
    if not has_dev_image(host, plan.dev_image):
        raise DevEnvError(
            f"the dev image {plan.dev_image} of the build {plan.commit[:12]} is not on the engine",
            "Run `invoke dev.up` once (it makes the image), then serve again.",
        )
    aliases = plan.route.companion_aliases if isinstance(plan.route, SourceRoute) else ()
    return SandboxEngine(
        choice,
        plan.dev_image,
        plan.container_path,
        (str(target.bundles_dir), bundle_mount_target(plan)),
        tuple(aliases),
    )


def stock_host(session: Session, local: Engine, link: HostLink, lab: Lab, image: str) -> None:
    """Copy what the sandboxes on a workshop host need from this machine's engine (the
    sandbox image, the lab's base images) when the host's engine lacks them: saved here
    and loaded there, streamed through the link. This machine's engine has them already."""
    if not link.remote:
        return
    bases = lab_bases(session, lab)
    if bases.offline:
        prepare_bases(local, session.workspace, session.settings, lab.images)
    seed_images(local, link.engine, [image, *base_refs(lab, bases)])


def open_sandbox(
    session: Session,
    link: HostLink,
    inner_engine: SandboxEngine,
    lab: Lab,
    seat: Seat,
    server: str,
    limits: SeatLimits,
) -> Sandbox:
    """Create the seat's sandbox on the link's engine, start its daemon, seed the lab's
    base images and set up its practice run; a failure removes what was made."""
    host = link.engine
    names = sandbox_names(session, server, seat.number, link)
    run_id = new_run_id()
    setup = prepare(session, lab, RunOptions(engine=inner_engine.choice), run_id=run_id)
    practice = setup.report_dir / "practice"
    for folder in (names.seat_root, setup.runs_dir, practice / "bin"):
        folder.mkdir(parents=True, exist_ok=True)
    files = SeatFiles(host, names.container, setup.workdir(inner_engine.name), practice)
    binds = {str(names.run_dir): {"bind": RUN_DIR, "mode": "rw"}}
    if inner_engine.bundles is not None:
        bundles, target = inner_engine.bundles
        binds[bundles] = {"bind": target, "mode": "ro"}
    security = probe(host, session.workspace).dind_security
    try:
        for driver in (DEFAULT_STORAGE_DRIVER, FALLBACK_STORAGE_DRIVER):
            _create(host, names, inner_engine, binds, security, limits, driver, link, files)
            socket = link.reach(names.socket_name, names.run_dir / "docker.sock")
            engine = Engine(f"unix://{socket}", kind="dev", name=inner_engine.name)
            try:
                engine.wait_ready(READY_SECONDS, alive=lambda: _running(host, names), log=names.log)
                break
            except EngineError:
                text = _keep_log(host, names)
                if driver == FALLBACK_STORAGE_DRIVER or not storage_driver_refused(text):
                    raise
                remove_sandbox(link, names)
        seed_bases(session, setup, host, engine)
        options = PracticeOptions(engine=inner_engine.choice)
        # Nobody is at the seat yet: its clocks run while its attendee is on the page.
        opened = open_practice(session, lab, options, run_id=run_id, engine=engine, attended=False)
        write_shell_files(opened, docker_cli(host, names, inner_engine.path))
        files.give_workdir()
        files.give_practice()
    except BaseException:
        remove_sandbox(link, names)
        raise
    return Sandbox(names, link, engine, opened, files, inner_engine.path)


def files_of(host: Engine, names: SandboxNames) -> SeatFiles:
    return SeatFiles(host, names.container, names.seat_root, names.seat_root)


def _keep_log(host: Engine, names: SandboxNames) -> str:
    """The daemon's log, from the sandbox into the server's copy (named in the error)."""
    text = files_of(host, names).read_text(f"{LOG_DIR}/dockerd.log")
    names.log.write_text(text)
    return text


def docker_cli(host: Engine, names: SandboxNames, path: str) -> str:
    """Where the sandbox's docker CLI is, on the shell's PATH (the build's own for an
    old dev build, else Debian's)."""
    client = host.client()
    try:
        code, output = client.containers.get(names.container).exec_run(
            ["sh", "-c", "command -v docker"], environment={"PATH": path}
        )
    finally:
        client.close()
    found = output.decode(errors="replace").strip()
    if code != 0 or not found.startswith("/"):
        raise DevEnvError(f"the sandbox {names.container} has no docker CLI on {path}")
    return found


def disk_used(host: Engine, sandbox: Sandbox) -> int | None:
    """The bytes the sandbox wrote to the engine's disk: its container's writable layer
    (the engine's count, without the image's files), and by `du` in the sandbox (the same
    on a remote engine) its inner /var/lib/docker, its daemon's folders and the lab's
    work folder; None when it cannot tell (no process to spare in the sandbox)."""
    paths = [INNER_DATA_ROOT, RUN_DIR, LOG_DIR, IPC_DIR, str(sandbox.practice.setup.runs_dir)]
    client = host.client()
    try:
        # The writable layer's size comes only with a listing (the SDK's inspect has no size).
        found = client.api.containers(
            all=True, size=True, filters={"name": f"^/{sandbox.container}$"}
        )
        layer = found[0].get("SizeRw") if found else 0
        code, output = client.containers.get(sandbox.container).exec_run(
            ["du", "-s", "-x", "-k", "-c", *paths]
        )
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError):
        return None
    finally:
        client.close()
    mounted = du_total(output.decode(errors="replace")) if code == 0 else None
    return None if mounted is None else mounted + int(layer or 0)


def du_total(output: str) -> int | None:
    """Pure: the bytes of `du -s -k -c`'s total line."""
    lines = output.strip().splitlines()
    size = lines[-1].split()[0] if lines and lines[-1].endswith("total") else ""
    return int(size) * 1024 if size.isdigit() else None


def write_shell_files(opened: OpenedPractice, real_docker: str) -> None:
    """The shell's folder as the sandbox sees it: `lab` asks the server, `docker` labels."""
    folder = opened.folder
    bin_dir = folder / "bin"
    (bin_dir / "lab").write_text(lab_script())
    (bin_dir / "docker").write_text(shell.docker_wrapper(real_docker, opened.setup.label_flags))
    for program in ("lab", "docker"):
        (bin_dir / program).chmod(0o755)
    (folder / "bashrc").write_text(shell.bash_rc())


def _create(
    host: Engine,
    names: SandboxNames,
    inner_engine: SandboxEngine,
    binds: dict[str, dict[str, str]],
    security: Any,
    limits: SeatLimits,
    storage_driver: str,
    link: HostLink,
    files: SeatFiles,
) -> None:
    """The sandbox's network, volumes and container, its entry script and folders
    copied in, started. Its run's folder is a volume of its own (at the server's path):
    files copied into a tmpfs would not show."""
    client = host.client()
    try:
        api = client.api
        network = f"{names.container}-net"
        client.networks.create(
            network,
            driver="bridge",
            labels=names.labels(),
            options={"com.docker.network.bridge.enable_icc": "false"},
        )
        mounts = []
        for volume, target in (("data", INNER_DATA_ROOT), ("work", str(files.workdir.parent))):
            client.volumes.create(f"{names.container}-{volume}", labels=names.labels())
            mounts.append(docker.types.Mount(target, f"{names.container}-{volume}", type="volume"))
        options: dict[str, Any] = {
            "binds": binds,
            "mounts": mounts,
            "init": True,
            "network_mode": network,
            "mem_limit": limits.memory,
            "memswap_limit": limits.memory,
            "pids_limit": limits.pids,
            "nano_cpus": int(limits.cpus * 1e9),
            # Scratch space bounded by the kernel (and counted in the seat's memory).
            "tmpfs": {"/tmp": f"size={limits.scratch},mode=1777"},
            # Its own cgroup namespace: the inner daemon's containers get their cgroups
            # inside the sandbox's, so the limits above hold for them too (with the
            # machine's, on cgroup v1, they would sit beside it, unlimited).
            "cgroupns": "private",
        }
        api.create_container(
            inner_engine.image,
            command=dockerd_args(storage_driver, False, link.socket_group),
            entrypoint=dind_argv("init"),
            name=names.container,
            hostname=f"seat-{names.seat}",
            environment={
                "PATH": inner_engine.path,
                "container": "docker",
                "MOBYLAB_DEV_CONTAINER": "1",
                "MOBYLAB_COMPANION_ALIASES": " ".join(inner_engine.aliases),
            },
            labels=names.labels(),
            host_config=security.host_config(api, **options),
            detach=True,
        )
        files.make_folders(LOG_DIR, IPC_DIR)
        files.install(dind_script(), DIND_SCRIPT)
        api.start(names.container)
    except docker.errors.APIError as exc:
        message = api_message(exc)
        raise DevEnvError(f"the sandbox {names.container} could not start: {message}") from None
    finally:
        client.close()


def _running(host: Engine, names: SandboxNames) -> bool:
    client = host.client()
    try:
        return str(client.containers.get(names.container).status) == "running"
    except docker.errors.NotFound:
        return False
    finally:
        client.close()


def remove_sandbox(link: HostLink, names: SandboxNames) -> None:
    """The seat's container, network and volumes, whatever state they are in, and the
    way to its daemon's socket."""
    _remove_labelled(
        link.engine,
        {"label": [f"{SERVER_LABEL}={names.server}", f"org.mobylab.seat={names.seat}"]},
    )
    link.release(names.socket_name, names.run_dir)


def remove_server(link: HostLink, server: str) -> int:
    """Everything a server made on the link's engine, and its socket folders there when
    that is this machine; how many containers went."""
    removed = _remove_labelled(link.engine, {"label": [f"{SERVER_LABEL}={server}"]})
    if not link.remote:
        for folder in link.run_root.glob(f"serve-{server}-*"):
            shutil.rmtree(folder, ignore_errors=True)
    return removed


def reap_orphans(link: HostLink) -> int:
    """What servers of this machine no longer running left on the link's engine (found
    by label, their process gone). A server of another machine sharing that engine is
    not this machine's to judge: its sandboxes stay."""
    here = machine_id()
    orphans = {
        server
        for server, pid, machine in _servers(link.engine)
        if is_orphan(machine, here, alive=process.pid_alive(pid), remote=link.remote)
    }
    return sum(remove_server(link, server) for server in orphans)


def is_orphan(machine: str | None, here: str, *, alive: bool, remote: bool) -> bool:
    """Pure: a server's sandboxes are orphans when it ran on this machine (`here`) and
    its process is gone. Sandboxes from before the machine label: on this machine's
    own engine only."""
    ours = machine == here if machine is not None else not remote
    return ours and not alive


def _servers(host: Engine) -> Iterator[tuple[str, int, str | None]]:
    client = host.client()
    try:
        found = client.api.containers(all=True, filters={"label": [f"{SERVER_LABEL}"]})
        volumes = client.api.volumes(filters={"label": SERVER_LABEL}).get("Volumes") or []
        networks = client.api.networks(filters={"label": [SERVER_LABEL]})
    finally:
        client.close()
    for item in [*found, *volumes, *networks]:
        values = item.get("Labels") or {}
        if labels.is_managed(values) and values.get(PID_LABEL, "").isdigit():
            yield values[SERVER_LABEL], int(values[PID_LABEL]), values.get(MACHINE_LABEL)


def _remove_labelled(host: Engine, filters: dict[str, Any]) -> int:
    filters = {"label": [labels.MANAGED_FILTER["label"], *filters["label"]]}
    client = host.client(timeout=120)
    removed = 0
    try:
        # The low-level list: the SDK's inspects each container it lists, and one that
        # went meanwhile (another removal in flight) would end the reaping.
        for container in client.api.containers(all=True, filters=filters):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                client.api.remove_container(container["Id"], force=True, v=True)
                removed += 1
        for network in client.networks.list(filters=filters):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                network.remove()
        for volume in client.volumes.list(filters=filters):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                volume.remove(force=True)
    finally:
        client.close()
    return removed

"""A seat's sandbox: a docker-in-docker container on an engine, and its practice run.

Each sandbox is mobylab's dind image running Debian's dockerd, with its own
bridge network (no inter-container traffic), its own volume for the inner
/var/lib/docker, and pids, memory and CPU limits. It sees only its own folders:
the daemon's socket folder, the run's work folder (at the same path as on the
server, so `lab` and the shell agree on file names), the shell's folder
(read-only) and the `lab` command's request folder. The engine's own socket is
never mounted. Everything carries mobylab's labels with the server's key and
process id, so a later server reaps what a killed one left.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import docker.types

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
from ...engine import Engine, probe
from ...errors import DevEnvError, EngineError, UsageError
from ...images.build import build_image, image_exists
from ...images.recipes import DEFAULT_PATH, recipe_named
from ...lab.engine_choice import engine_label
from ...lab.execute import seed_bases
from ...lab.model import Lab
from ...lab.practice import shell
from ...lab.practice.start import OpenedPractice, PracticeOptions, open_practice
from ...lab.setup import RunOptions, new_run_id, prepare
from ...session import Session
from .bridge import IPC_DIR, lab_script
from .seats import Seat, SeatLimits

COMPONENT = "serve"
SERVER_LABEL = "org.mobylab.serve"
PID_LABEL = "org.mobylab.serve-pid"
PRACTICE_DIR = "/mobylab/practice"
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
    def log_dir(self) -> Path:
        return self.seat_root / "log"

    @property
    def ipc_dir(self) -> Path:
        return self.seat_root / "ipc"

    def labels(self) -> dict[str, str]:
        return labels.labels(
            COMPONENT, serve=self.server, serve_pid=str(os.getpid()), seat=str(self.seat)
        )


def run_root() -> Path:
    """Where the sandboxes' socket folders are (short paths: a socket's is limited)."""
    return host_run_root(os.geteuid(), os.environ.get("XDG_RUNTIME_DIR"))


def sandbox_names(session: Session, server: str, seat: int) -> SandboxNames:
    return SandboxNames(
        server=server,
        seat=seat,
        run_root=run_root(),
        seat_root=session.workspace.root / "serve" / server / f"seat-{seat}",
    )


@dataclass(frozen=True)
class Sandbox:
    """A running sandbox: its names, its daemon, and the practice run its shell opens."""

    names: SandboxNames
    engine: Engine
    practice: OpenedPractice
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


def open_sandbox(
    session: Session,
    host: Engine,
    inner_engine: SandboxEngine,
    lab: Lab,
    seat: Seat,
    server: str,
    limits: SeatLimits,
) -> Sandbox:
    """Create the seat's sandbox, start its daemon, seed the lab's base images and set
    up its practice run; a failure removes what was made."""
    names = sandbox_names(session, server, seat.number)
    run_id = new_run_id()
    setup = prepare(session, lab, RunOptions(engine=inner_engine.choice), run_id=run_id)
    for folder in (
        names.run_dir,
        names.log_dir,
        names.ipc_dir,
        setup.runs_dir,
        setup.report_dir / "practice" / "bin",
    ):
        folder.mkdir(parents=True, exist_ok=True)
    binds = {
        str(names.run_dir): {"bind": RUN_DIR, "mode": "rw"},
        str(names.log_dir): {"bind": LOG_DIR, "mode": "rw"},
        str(names.ipc_dir): {"bind": IPC_DIR, "mode": "rw"},
        str(dind_script()): {"bind": DIND_SCRIPT, "mode": "ro"},
        str(setup.runs_dir): {"bind": str(setup.runs_dir), "mode": "rw"},
        str(setup.report_dir / "practice"): {"bind": PRACTICE_DIR, "mode": "ro"},
    }
    if inner_engine.bundles is not None:
        bundles, target = inner_engine.bundles
        binds[bundles] = {"bind": target, "mode": "ro"}
    url = f"unix://{names.run_dir}/docker.sock"
    engine = Engine(url, kind="dev", name=inner_engine.name)
    security = probe(host, session.workspace).dind_security
    try:
        for driver in (DEFAULT_STORAGE_DRIVER, FALLBACK_STORAGE_DRIVER):
            _create(host, names, inner_engine, binds, security, limits, driver)
            try:
                engine.wait_ready(
                    READY_SECONDS,
                    alive=lambda: _running(host, names),
                    log=names.log_dir / "dockerd.log",
                )
                break
            except EngineError:
                log = names.log_dir / "dockerd.log"
                text = log.read_text(errors="replace") if log.exists() else ""
                if driver == FALLBACK_STORAGE_DRIVER or not storage_driver_refused(text):
                    raise
                remove_sandbox(host, names)
        seed_bases(session, setup, host, engine)
        options = PracticeOptions(engine=inner_engine.choice)
        opened = open_practice(session, lab, options, run_id=run_id, engine=engine)
        write_shell_files(opened, docker_cli(host, names, inner_engine.path))
    except BaseException:
        remove_sandbox(host, names)
        raise
    return Sandbox(names, engine, opened, inner_engine.path)


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
) -> None:
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
        client.volumes.create(f"{names.container}-data", labels=names.labels())
        options: dict[str, Any] = {
            "binds": binds,
            "mounts": [
                docker.types.Mount(INNER_DATA_ROOT, f"{names.container}-data", type="volume")
            ],
            "init": True,
            "network_mode": network,
            "mem_limit": limits.memory,
            "memswap_limit": limits.memory,
            "pids_limit": limits.pids,
            "nano_cpus": int(limits.cpus * 1e9),
        }
        api.create_container(
            inner_engine.image,
            command=dockerd_args(storage_driver, False),
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


def remove_sandbox(host: Engine, names: SandboxNames) -> None:
    """The seat's container, network and volume, whatever state they are in."""
    _remove_labelled(
        host, {"label": [f"{SERVER_LABEL}={names.server}", f"org.mobylab.seat={names.seat}"]}
    )
    shutil.rmtree(names.run_dir, ignore_errors=True)


def remove_server(host: Engine, server: str, run_root: Path) -> int:
    """Everything a server made on the engine, and its socket folders; how many
    containers went."""
    removed = _remove_labelled(host, {"label": [f"{SERVER_LABEL}={server}"]})
    for folder in run_root.glob(f"serve-{server}-*"):
        shutil.rmtree(folder, ignore_errors=True)
    return removed


def reap_orphans(host: Engine, run_root: Path) -> int:
    """What servers no longer running left (found by label, their process gone)."""
    orphans = {server for server, pid in _servers(host) if not process.pid_alive(pid)}
    return sum(remove_server(host, server, run_root) for server in orphans)


def _servers(host: Engine) -> Iterator[tuple[str, int]]:
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
            yield values[SERVER_LABEL], int(values[PID_LABEL])


def _remove_labelled(host: Engine, filters: dict[str, Any]) -> int:
    filters = {"label": [labels.MANAGED_FILTER["label"], *filters["label"]]}
    client = host.client(timeout=120)
    removed = 0
    try:
        for container in client.containers.list(all=True, filters=filters):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)
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

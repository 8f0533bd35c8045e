"""The dev environment: a build's dockerd running inside the docker-dev container.

The container runs `mobylab-dind init DOCKERD-ARGS` (scripts/mobylab-dind,
bind-mounted), which prepares cgroups for a nested daemon, starts it and then
waits; later stops and starts go through `docker exec`, so the daemon can die
or be restarted while the container, and the images on its volume, stay. The
daemon also listens on a socket in a short host folder, which makes it an
ordinary Engine (kind "dev") for the SDK and the docker CLI on the host.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import docker.errors

from . import labels, ui
from .devcontainer import (
    COMPONENT,
    DEFAULT_STORAGE_DRIVER,
    DIND_SCRIPT,
    FALLBACK_STORAGE_DRIVER,
    INNER_DATA_ROOT,
    INNER_TCP_PORT,
    LABEL_KEY,
    LOG_DIR,
    NO_DOCKERD,
    RUN_DIR,
    DevNames,
    bundle_mount_target,
    choose_security,
    dockerd_args,
    host_daemon_dirs,
    last_start_section,
    resource_labels,
    start_failure,
    storage_driver_refused,
)
from .engine import Engine
from .errors import DevEnvError, EngineError, Interrupted, MobylabError
from .plan import BuildPlan
from .probe import RunSecurity, probe
from .workspace import Workspace

STATE_NAME = "dev"
# Storage driver chosen for each volume: kept after dev.down, dropped by dev.clean.
VOLUMES_STATE = "dev-volumes"


@dataclass(frozen=True)
class DevTarget:
    """What to run: a build plan and the host folder holding its bundles."""

    plan: BuildPlan
    bundles_dir: Path


def target_from_last_build(workspace: Workspace) -> DevTarget:
    """The workspace's last dev.build, or an error that says to build first."""
    try:
        from .devbuild import last_build
    except ImportError:
        raise DevEnvError(
            "this mobylab cannot build engines (no dev.build)", "Reinstall mobylab."
        ) from None
    record = last_build(workspace)
    if record is None:
        raise DevEnvError(
            "nothing has been built in this workspace yet",
            "Run `invoke dev.clone` and `invoke dev.build` first.",
        )
    return DevTarget(record.plan, Path(record.bundles_dir))


def dind_script() -> Path:
    """The entry script, from the source tree or the installed package.

    It is bind-mounted into the dev container (read-only) and run with /bin/sh,
    so it needs no copying in and no execute bit.
    """
    here = Path(__file__).resolve().parent
    for candidate in (
        here / "_data" / "scripts" / "mobylab-dind",
        here.parent / "scripts" / "mobylab-dind",
    ):
        if candidate.is_file():
            return candidate
    raise DevEnvError("mobylab's scripts/mobylab-dind is missing", "Reinstall mobylab.")


def dind_argv(*args: str) -> list[str]:
    return ["/bin/sh", DIND_SCRIPT, *args]


def find_bundle_daemon(target: DevTarget) -> Path:
    """The build's dockerd on the host, or an error naming where it was looked for."""
    folders = host_daemon_dirs(target.plan, target.bundles_dir)
    for folder in folders:
        candidate = folder / "dockerd"
        if candidate.is_file():
            return candidate
    where = ", ".join(str(f) for f in folders) or str(target.bundles_dir)
    raise DevEnvError(
        f"the build's bundles hold no dockerd (looked in {where})",
        "Run `invoke dev.build` again; its log says why no daemon was made.",
    )


def _api_message(exc: docker.errors.APIError) -> str:
    text = str(exc.explanation or exc).strip().splitlines()
    return text[-1][:240] if text else type(exc).__name__


def _no_dockerd(detail: str) -> DevEnvError:
    return DevEnvError(
        "no dockerd in the dev container's PATH",
        "Run `invoke dev.build` again; the bundles hold no daemon.",
        detail=detail,
    )


class StartWatch:
    """While the dev daemon starts: whether it still can answer, and if not, why.

    The entry script reports through files in the shared run folder, read on
    every poll; the container's own state costs an API call, so it is asked at
    most every CONTAINER_CHECK_EVERY seconds.
    """

    CONTAINER_CHECK_EVERY = 0.5

    def __init__(self, env: DevEnvironment) -> None:
        self.env = env
        self.reason = ""
        self.init_status = ""
        self._checked = time.monotonic()

    def alive(self) -> bool:
        try:
            self.init_status = (self.env.names.run_dir / "init.status").read_text().strip()
        except OSError:
            self.init_status = ""
        container_status = None
        if time.monotonic() - self._checked >= self.CONTAINER_CHECK_EVERY:
            self._checked = time.monotonic()
            # An engine hiccup is no verdict on the container: ask again next time.
            with contextlib.suppress(docker.errors.DockerException):
                container = self.env.container()
                container_status = container.status if container is not None else "gone"
        exit_status = self.env.daemon_exit_status()
        self.reason = start_failure(self.init_status, exit_status, container_status)
        return not self.reason

    def failure(self, exc: EngineError) -> DevEnvError:
        env = self.env
        if self.reason == "container":
            return DevEnvError(
                "the dev container stopped right after it started",
                "Check that the dev image has /bin/sh, mount, umount and setsid.",
                detail=env.container_logs(),
            )
        if self.reason == "init":
            return DevEnvError(
                f"the dev container could not prepare cgroups ({self.init_status})",
                f"See `docker logs {env.names.container}`.",
                detail=env.container_logs(),
            )
        if self.reason == "no-dockerd":
            return _no_dockerd(env.container_logs())
        return DevEnvError(
            exc.message,
            f"Its log is {env.names.log}; `invoke dev.logs` shows it.",
            detail=env.log_tail(),
        )


class DevEnvironment:
    """The dev container and its daemon for one workspace, on one host engine."""

    def __init__(self, host: Engine, workspace: Workspace) -> None:
        self.host = host
        self.workspace = workspace
        self.names = DevNames.for_workspace(workspace.root)
        self._client: Any = None

    # -- plumbing -----------------------------------------------------------

    @property
    def engine(self) -> Engine:
        return Engine(self.names.url, kind="dev", name="dev")

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self.host.client()
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def state(self) -> dict[str, Any]:
        value = self.workspace.load_state(STATE_NAME)
        return value if isinstance(value, dict) else {}

    def container(self) -> Any | None:
        try:
            return self.client.containers.get(self.names.container)
        except docker.errors.NotFound:
            return None

    def _own_container(self) -> Any | None:
        """The dev container, refusing a container of that name that mobylab did not make."""
        container = self.container()
        if container is None:
            return None
        found = container.labels or {}
        if not labels.is_managed(found) or found.get(LABEL_KEY) != self.names.key:
            raise DevEnvError(
                f"a container named {self.names.container} exists and mobylab did not create it",
                "mobylab never removes it: rename or remove it yourself, "
                "or use another workspace (MOBYLAB_WORKSPACE).",
            )
        return container

    def _running_container(self) -> Any:
        container = self._own_container()
        if container is None:
            raise DevEnvError("the dev container does not exist", "Start it with `invoke dev.up`.")
        if container.status != "running":
            raise DevEnvError(
                f"the dev container {self.names.container} is {container.status}",
                "Start it again with `invoke dev.up`.",
            )
        return container

    def daemon_exit_status(self) -> int | None:
        """The inner dockerd's exit status once it has stopped, else None."""
        try:
            text = (self.names.run_dir / "dockerd.exit").read_text().strip()
        except OSError:
            return None
        try:
            return int(text)
        except ValueError:
            return -1

    def _exec(
        self, argv: list[str], *, env: dict[str, str] | None = None, workdir: str | None = None
    ) -> tuple[int, str]:
        """Run a short command in the dev container; (exit code, output)."""
        api = self.client.api
        try:
            exec_id = api.exec_create(
                self.names.container,
                argv,
                environment=env,
                workdir=workdir,
                stdout=True,
                stderr=True,
            )["Id"]
            output = api.exec_start(exec_id).decode(errors="replace")
            code = api.exec_inspect(exec_id).get("ExitCode")
        except docker.errors.APIError as exc:
            raise DevEnvError(
                f"the dev container did not run {Path(argv[0]).name}: {_api_message(exc)}",
                "See `invoke dev.status`; `invoke dev.up` starts it again.",
            ) from None
        return (code if isinstance(code, int) else 1), output

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.names.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(last_start_section(text).splitlines()[-lines:])

    # -- up -----------------------------------------------------------------

    def up(
        self,
        target: DevTarget,
        *,
        privileged: str = "auto",
        tcp: bool = False,
        timeout: float = 60.0,
    ) -> Engine:
        """Start the dev container and its daemon, or reuse them when they run."""
        plan = target.plan
        find_bundle_daemon(target)
        try:
            self.client.images.get(plan.dev_image)
        except docker.errors.ImageNotFound:
            raise DevEnvError(
                f"the dev image {plan.dev_image} is not on the {self.host.name} engine",
                "Run `invoke dev.build` to make it.",
            ) from None
        container = self._own_container()
        security = self._security(privileged)
        if container is not None:
            state = self.state()
            reusable = (
                container.status == "running"
                and container.labels.get("org.mobylab.commit") == plan.commit
                and bool(state.get("tcp")) == tcp
                and state.get("bundles_dir") == str(target.bundles_dir)
                and state.get("privileged") == security.privileged
            )
            if reusable:
                return self._reuse(timeout)
            ui.step(f"replacing the dev container {self.names.container}")
            self._remove_container(container)
        return self._create(target, security=security, tcp=tcp, timeout=timeout)

    def _reuse(self, timeout: float) -> Engine:
        if self.engine.ping():
            ui.info(f"the dev daemon already runs: {self.engine.url}")
            return self.engine
        status = self.daemon_exit_status()
        ui.warn(
            "the dev daemon is not running"
            + (f" (it exited with status {status})" if status is not None else "")
            + ": starting it again"
        )
        self.start_daemon(timeout)
        return self.engine

    def _security(self, privileged: str) -> RunSecurity:
        caps = probe(self.host, self.workspace)
        fallback = RunSecurity(
            privileged=False,
            **{k: tuple(v) for k, v in caps.fallback.items() if k != "privileged"},
        )
        security = choose_security(privileged, caps.privileged, fallback)
        if not security.privileged:
            reason = (
                "this engine refuses --privileged"
                if caps.privileged is False
                else "--privileged never"
            )
            ui.info(f"{reason}: the dev container runs with {security.describe()}")
        return security

    def _ensure_volume(self, plan: BuildPlan) -> str:
        name = self.names.volume(plan.era)
        try:
            volume = self.client.volumes.get(name)
        except docker.errors.NotFound:
            self.client.volumes.create(name, labels=resource_labels(self.names.key, plan))
            return name
        if not labels.is_managed(volume.attrs.get("Labels")):
            raise DevEnvError(
                f"a volume named {name} exists and mobylab did not create it",
                "mobylab never removes it: rename or remove it yourself, or use another workspace.",
            )
        return name

    def _ensure_network(self, plan: BuildPlan) -> str:
        """A bridge of the dev container's own.

        It does not depend on the engine's default bridge (docker0), and no other
        container shares it, so none reaches the daemon's TCP port.
        """
        name = self.names.network
        found = self.client.networks.list(names=[name])
        for network in found:
            if network.name == name:
                if not labels.is_managed(network.attrs.get("Labels")):
                    raise DevEnvError(
                        f"a network named {name} exists and mobylab did not create it",
                        "Remove or rename it yourself, or use another workspace.",
                    )
                return name
        self.client.networks.create(
            name,
            driver="bridge",
            labels=resource_labels(self.names.key, plan),
            options={"com.docker.network.bridge.enable_icc": "false"},
        )
        return name

    def _prepare_host_dirs(self) -> None:
        self.names.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for stale in self.names.run_dir.iterdir():
            if stale.is_file() or stale.is_socket():
                stale.unlink(missing_ok=True)
        self.names.log_dir.mkdir(parents=True, exist_ok=True)

    def _create(
        self, target: DevTarget, *, security: RunSecurity, tcp: bool, timeout: float
    ) -> Engine:
        """Create and start the dev container; its entry script starts the daemon.

        The script is bind-mounted, and gets dockerd's arguments on its command
        line, so starting costs one container start and the wait for the daemon's
        socket: no copying in, no `docker exec`.
        """
        plan = target.plan
        volume = self._ensure_volume(plan)
        network = self._ensure_network(plan)
        driver = self._storage_driver(volume)
        self._prepare_host_dirs()
        api = self.client.api
        options: dict[str, Any] = {
            "binds": {
                str(target.bundles_dir): {"bind": bundle_mount_target(plan), "mode": "ro"},
                str(self.names.run_dir): {"bind": RUN_DIR, "mode": "rw"},
                str(self.names.log_dir): {"bind": LOG_DIR, "mode": "rw"},
                str(dind_script()): {"bind": DIND_SCRIPT, "mode": "ro"},
            },
            "mounts": [docker.types.Mount(INNER_DATA_ROOT, volume, type="volume")],
            "init": True,
            "network_mode": network,
        }
        if tcp:
            options["port_bindings"] = {INNER_TCP_PORT: ("127.0.0.1", None)}
        state = {
            "container": self.names.container,
            "image": plan.dev_image,
            "era": plan.era,
            "commit": plan.commit,
            "version": plan.version,
            "workdir": plan.workdir,
            "container_path": plan.container_path,
            "bundles_dir": str(target.bundles_dir),
            "volume": volume,
            "network": network,
            "tcp": tcp,
            "security": security.describe(),
            "privileged": security.privileged,
            "created": time.time(),
        }
        created = False
        try:
            try:
                api.create_container(
                    plan.dev_image,
                    command=dockerd_args(driver, tcp),
                    entrypoint=dind_argv("init"),
                    name=self.names.container,
                    hostname="mobylab-dev",
                    working_dir=plan.workdir,
                    environment={
                        "PATH": plan.container_path,
                        "container": "docker",
                        # Lets mobylab-dind tidy files that only exist in this container.
                        "MOBYLAB_DEV_CONTAINER": "1",
                    },
                    labels=resource_labels(self.names.key, plan),
                    ports=[INNER_TCP_PORT] if tcp else None,
                    host_config=security.host_config(api, **options),
                    detach=True,
                )
                created = True
                self.workspace.save_state(STATE_NAME, state)
                api.start(self.names.container)
            except docker.errors.APIError as exc:
                message = _api_message(exc)
                if security.privileged and "caps" in message:
                    raise DevEnvError(
                        "this engine refuses --privileged containers",
                        "Use --privileged auto to run with the closest thing it allows.",
                    ) from None
                raise DevEnvError(f"the dev container could not start: {message}") from None
            self._settle(driver, state, timeout)
        except BaseException as exc:
            # Ctrl-C or a failure: leave nothing half-running (the volume stays).
            if created or isinstance(exc, KeyboardInterrupt):
                self._discard_quietly()
            if isinstance(exc, KeyboardInterrupt):
                raise Interrupted(
                    "interrupted while starting the dev environment",
                    "Nothing was left running; run `invoke dev.up` again.",
                ) from None
            raise
        return self.engine

    def _discard_quietly(self) -> None:
        for _ in range(3):
            try:
                container = self.container()
                found = container.labels if container is not None else {}
                if (
                    container is not None
                    and found.get(LABEL_KEY) == self.names.key
                    and labels.is_managed(found)
                ):
                    container.remove(force=True)
                self._remove_network()
                self.workspace.drop_state(STATE_NAME)
                return
            except KeyboardInterrupt:
                continue
            except (docker.errors.DockerException, OSError, MobylabError):
                return

    def container_logs(self) -> str:
        try:
            raw = self.client.api.logs(self.names.container, tail=20)
        except docker.errors.DockerException:
            return ""
        return raw.decode(errors="replace").rstrip() if isinstance(raw, bytes) else str(raw)

    # -- the inner daemon ---------------------------------------------------

    def _storage_driver(self, volume: str) -> str:
        drivers = self.workspace.load_state(VOLUMES_STATE) or {}
        return str(drivers.get(volume) or DEFAULT_STORAGE_DRIVER)

    def _remember_driver(self, volume: str, driver: str) -> None:
        drivers = self.workspace.load_state(VOLUMES_STATE) or {}
        if drivers.get(volume) != driver:
            drivers[volume] = driver
            self.workspace.save_state(VOLUMES_STATE, drivers)

    def start_daemon(self, timeout: float) -> Engine:
        """Start the build's dockerd in the running dev container and wait until it answers."""
        self._running_container()
        state = self.state()
        if not state:
            raise DevEnvError(
                "the dev environment's state is missing", "Run `invoke dev.down`, then `dev.up`."
            )
        driver = self._storage_driver(str(state.get("volume", "")))
        self._launch(driver, state)
        self._settle(driver, state, timeout)
        return self.engine

    def _settle(self, driver: str, state: dict[str, Any], timeout: float) -> None:
        """Wait for the daemon just launched; once, fall back to vfs if overlay2 is refused."""
        try:
            self._wait_daemon(state, timeout)
        except DevEnvError:
            if driver == FALLBACK_STORAGE_DRIVER or not storage_driver_refused(self.log_tail(60)):
                raise
            ui.warn(
                f"the {driver} storage driver does not work here: using {FALLBACK_STORAGE_DRIVER}"
            )
            driver = FALLBACK_STORAGE_DRIVER
            self._launch(driver, state)
            self._wait_daemon(state, timeout)
        self._remember_driver(str(state.get("volume", "")), driver)

    def _launch(self, driver: str, state: dict[str, Any]) -> None:
        argv = dind_argv("start", *dockerd_args(driver, bool(state.get("tcp"))))
        code, output = self._exec(argv, env={"PATH": str(state.get("container_path", ""))})
        if code == NO_DOCKERD:
            raise _no_dockerd(output.strip())
        if code != 0:
            raise DevEnvError("the dev daemon could not be started", detail=output.strip())

    def _wait_daemon(self, state: dict[str, Any], timeout: float) -> None:
        """Wait until the daemon answers, or say why it never will."""
        watch = StartWatch(self)
        try:
            self.engine.wait_ready(timeout, alive=watch.alive, what="the dev daemon")
        except EngineError as exc:
            self._stop_quietly()
            raise watch.failure(exc) from None
        self._check_daemon_binary(state)

    def _check_daemon_binary(self, state: dict[str, Any]) -> None:
        """The daemon that answers must be the build's, not another dockerd in PATH."""
        try:
            started = (self.names.run_dir / "dockerd.path").read_text().strip()
        except OSError:
            return
        expected = str(state.get("workdir", "")).rstrip("/") + "/bundles/"
        if started and not started.startswith(expected):
            self._stop_quietly()
            raise DevEnvError(
                f"the dev container found {started}, not the build's dockerd",
                "Check the build's bundles (`invoke dev.build`); the era's PATH is "
                + str(state.get("container_path")),
            )

    def _stop_quietly(self) -> None:
        with contextlib.suppress(DevEnvError):
            self._exec(dind_argv("stop", "5"))

    def stop_daemon(self, grace: int = 20) -> None:
        self._running_container()
        self._exec(dind_argv("stop", str(grace)))

    def restart(self, timeout: float) -> Engine:
        """Stop and start the inner daemon; its images stay on the volume."""
        self.stop_daemon()
        return self.start_daemon(timeout)

    def ensure(self, *, start: bool, privileged: str, timeout: float) -> Engine:
        """The dev daemon: reused when it answers, recovered or started when `start`."""
        if self.engine.ping():
            container = self._own_container()
            if container is not None and container.status == "running":
                return self.engine
        container = self._own_container()
        if container is not None and container.status == "running" and self.state():
            if not start:
                raise DevEnvError(
                    "the dev daemon is not running", "Run `invoke dev.restart` or `invoke dev.up`."
                )
            return self._reuse(timeout)
        if not start:
            raise DevEnvError("the dev environment is not up", "Run `invoke dev.up`.")
        return self.up(
            target_from_last_build(self.workspace),
            privileged=privileged,
            tcp=bool(self.state().get("tcp")),
            timeout=timeout,
        )

    # -- down -----------------------------------------------------------------

    def _remove_container(self, container: Any) -> None:
        if container.status == "running":
            with contextlib.suppress(DevEnvError):
                self._exec(dind_argv("stop", "20"))
            with contextlib.suppress(docker.errors.APIError):
                container.stop(timeout=30)
        container.remove(force=True)

    def _remove_network(self) -> None:
        for network in self.client.networks.list(names=[self.names.network]):
            if network.name == self.names.network and labels.is_managed(
                network.attrs.get("Labels")
            ):
                with contextlib.suppress(docker.errors.APIError):
                    network.remove()

    def down(self) -> bool:
        """Stop and remove the dev container (the volume stays); False when there was none."""
        container = self._own_container()
        had_state = bool(self.state())
        if container is not None:
            self._remove_container(container)
        self._remove_network()
        self.workspace.drop_state(STATE_NAME)
        if self.names.run_dir.exists():
            for stale in self.names.run_dir.iterdir():
                if stale.is_file() or stale.is_socket():
                    stale.unlink(missing_ok=True)
        return container is not None or had_state

    # -- looking inside -------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What runs: the container, the daemon, its version, uptime and images."""
        state = self.state()
        container = self._own_container()
        record: dict[str, Any] = {
            "container": self.names.container,
            "image": state.get("image"),
            "era": state.get("era"),
            "commit": state.get("commit"),
            "security": state.get("security"),
            "volume": state.get("volume"),
            "socket": self.engine.url,
            "log": str(self.names.log),
            "images": None,
        }
        if container is None:
            record.update(container_state="gone", daemon_state="-", state="no container")
            if state:
                record["state"] = "container gone"
            return record
        labels_found = container.labels or {}
        record["image"] = record["image"] or container.attrs.get("Config", {}).get("Image")
        record["era"] = record["era"] or labels_found.get("org.mobylab.era")
        record["commit"] = record["commit"] or labels_found.get("org.mobylab.commit")
        record["container_state"] = container.status
        if container.status != "running":
            record.update(daemon_state="-", state=f"container {container.status}")
            return record
        ports = (container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
        for binding in ports.get(f"{INNER_TCP_PORT}/tcp") or []:
            record["tcp"] = f"tcp://{binding.get('HostIp')}:{binding.get('HostPort')}"
        if self.engine.ping():
            dev_client = self.engine.client(timeout=30)
            try:
                version = dev_client.version()
                record["daemon_version"] = version.get("Version")
                record["daemon_api"] = version.get("ApiVersion")
                record["images"] = len(dev_client.api.images())
            finally:
                dev_client.close()
            started = self._daemon_started()
            record["uptime_seconds"] = time.time() - started if started else None
            record.update(daemon_state="running", state="running")
            return record
        exit_status = self.daemon_exit_status()
        if exit_status is not None:
            record.update(
                daemon_state=f"dead (exited with status {exit_status})", state="daemon dead"
            )
        else:
            record.update(daemon_state="not answering", state="daemon not answering")
        return record

    def _daemon_started(self) -> float | None:
        try:
            return (self.names.run_dir / "dockerd.pid").stat().st_mtime
        except OSError:
            return None

    def exec(
        self,
        argv: list[str],
        *,
        stdout: IO[bytes] | None = None,
        stderr: IO[bytes] | None = None,
    ) -> int:
        """Run one command in the dev container with the era's PATH; its exit code."""
        self._running_container()
        state = self.state()
        api = self.client.api
        try:
            exec_id = api.exec_create(
                self.names.container,
                argv,
                environment={"PATH": state["container_path"]}
                if state.get("container_path")
                else None,
                workdir=state.get("workdir") or None,
                stdout=True,
                stderr=True,
            )["Id"]
            out = stdout or sys.stdout.buffer
            err = stderr or sys.stderr.buffer
            for chunk_out, chunk_err in api.exec_start(exec_id, stream=True, demux=True):
                if chunk_out:
                    out.write(chunk_out)
                    out.flush()
                if chunk_err:
                    err.write(chunk_err)
                    err.flush()
        except docker.errors.APIError as exc:
            raise DevEnvError(
                f"cannot run {argv[0]} in the dev container: {_api_message(exc)}"
            ) from None
        code = api.exec_inspect(exec_id).get("ExitCode")
        return code if isinstance(code, int) else 1

    def shell_argv(self, docker_cli: str) -> list[str]:
        """The `docker exec -it` command line of an interactive shell inside."""
        self._running_container()
        state = self.state()
        argv = [docker_cli, "exec", "-it"]
        if state.get("container_path"):
            argv += ["-e", f"PATH={state['container_path']}"]
        if state.get("workdir"):
            argv += ["-w", str(state["workdir"])]
        return [
            *argv,
            self.names.container,
            "sh",
            "-c",
            "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi",
        ]


def dev_environment(session: Any, *, start: bool = True) -> DevEnvironment:
    return DevEnvironment(session.engine(start=start), session.workspace)


def ensure_dev_engine(session: Any, *, start: bool = True) -> Engine:
    """The dev daemon as an Engine: up if needed, reused if running, recovered if it died.

    `session` is a mobylab.tasks.base.Session.
    """
    env = dev_environment(session, start=start)
    try:
        return env.ensure(
            start=start,
            privileged=session.settings.privileged,
            timeout=session.settings.engine_timeout,
        )
    finally:
        env.close()


__all__ = [
    "COMPONENT",
    "DevEnvironment",
    "DevTarget",
    "dev_environment",
    "ensure_dev_engine",
    "find_bundle_daemon",
    "target_from_last_build",
]

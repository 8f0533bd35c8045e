"""The dev container on the host engine, with the volume and network it uses.

Everything here is one workspace's: found by name, checked by label before it is
reused or removed (a same-named object mobylab did not create is refused), and
created with mobylab's labels. The daemon inside is dev/daemon.py's concern.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import docker.types

from .. import labels
from ..engine import Engine, RunSecurity
from ..errors import DevEnvError, MobylabError
from ..jsondata import JsonDict
from ..workspace import Workspace
from .container import (
    DIND_SCRIPT,
    INNER_DATA_ROOT,
    INNER_TCP_PORT,
    LABEL_KEY,
    LOG_DIR,
    RUN_DIR,
    DevNames,
    DevState,
    bundle_mount_target,
    dockerd_args,
    resource_labels,
    socket_group,
)
from .plan import BuildPlan, SourceRoute


@dataclass(frozen=True)
class DevTarget:
    """What to run: a build plan, the host folder holding its bundles, and what the
    bundle's dockerd says it is (version, commit), to check the daemon that answers."""

    plan: BuildPlan
    bundles_dir: Path
    identity: tuple[str, str] | None = None


def dind_script() -> Path:
    """The entry script, package data beside this module (in a clone and a wheel alike).

    It is bind-mounted into the dev container (read-only) and run with /bin/sh,
    so it needs no copying in and no execute bit.
    """
    script = Path(__file__).resolve().with_name("mobylab-dind")
    if not script.is_file():
        raise DevEnvError("mobylab's dev/mobylab-dind is missing", "Reinstall mobylab.")
    return script


def dind_argv(*args: str) -> list[str]:
    return ["/bin/sh", DIND_SCRIPT, *args]


def api_message(exc: docker.errors.APIError) -> str:
    text = str(exc.explanation or exc).strip().splitlines()
    return text[-1][:240] if text else type(exc).__name__


class DevContainer:
    """One workspace's dev container, volume and network on the host engine."""

    def __init__(self, host: Engine, workspace: Workspace, name: str = "") -> None:
        self.host = host
        self.workspace = workspace
        self.names = DevNames.for_workspace(workspace.root, name)
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self.host.client()
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _labels(self, plan: BuildPlan) -> dict[str, str]:
        return resource_labels(self.names.key, plan, self.names.name)

    # -- what the workspace recorded ------------------------------------------

    def state(self) -> DevState | None:
        """How the running container was made (image, commit, PATH, volume ...), or None."""
        value = self.workspace.load_state(self.names.state)
        return DevState.from_dict(value) if isinstance(value, dict) and value else None

    # -- finding ----------------------------------------------------------------

    def find(self) -> Any | None:
        """The container of this workspace's name, whoever made it."""
        try:
            return self.client.containers.get(self.names.container)
        except docker.errors.NotFound:
            return None

    def own(self) -> Any | None:
        """The dev container, refusing a container of that name that mobylab did not make."""
        container = self.find()
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

    def running(self) -> Any:
        """The dev container when it runs, else an error saying how to start it."""
        container = self.own()
        if container is None:
            raise DevEnvError("the dev container does not exist", "Start it with `invoke dev.up`.")
        if container.status != "running":
            raise DevEnvError(
                f"the dev container {self.names.container} is {container.status}",
                "Start it again with `invoke dev.up`.",
            )
        return container

    def logs(self) -> str:
        try:
            raw = self.client.api.logs(self.names.container, tail=20)
        except docker.errors.DockerException:
            return ""
        return raw.decode(errors="replace").rstrip() if isinstance(raw, bytes) else str(raw)

    # -- running a short command inside -------------------------------------------

    def exec(
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
                f"the dev container did not run {Path(argv[0]).name}: {api_message(exc)}",
                "See `invoke dev.status`; `invoke dev.up` starts it again.",
            ) from None
        return (code if isinstance(code, int) else 1), output

    # -- making ---------------------------------------------------------------------

    def ensure_volume(self, plan: BuildPlan) -> str:
        name = self.names.volume(plan.era)
        try:
            volume = self.client.volumes.get(name)
        except docker.errors.NotFound:
            self.client.volumes.create(name, labels=self._labels(plan))
            return name
        if not labels.is_managed(volume.attrs.get("Labels")):
            raise DevEnvError(
                f"a volume named {name} exists and mobylab did not create it",
                "mobylab never removes it: rename or remove it yourself, or use another workspace.",
            )
        return name

    def ensure_network(self, plan: BuildPlan) -> str:
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
            labels=self._labels(plan),
            options={"com.docker.network.bridge.enable_icc": "false"},
        )
        return name

    def prepare_host_dirs(self) -> None:
        try:
            self.names.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.clear_run_dir()
            self.names.log_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DevEnvError(
                f"cannot prepare {exc.filename or self.names.run_dir}: {exc.strerror}",
                "Check its permissions (or set XDG_RUNTIME_DIR to a folder of your own).",
            ) from None

    def clear_run_dir(self) -> None:
        """Remove the files a previous daemon left in the shared run folder."""
        if not self.names.run_dir.exists():
            return
        for stale in self.names.run_dir.iterdir():
            if stale.is_file() or stale.is_socket():
                stale.unlink(missing_ok=True)

    def create(
        self,
        target: DevTarget,
        *,
        security: RunSecurity,
        storage_driver: str,
        tcp: bool,
        volume: str,
        network: str,
        state: DevState,
    ) -> None:
        """Create the dev container, and save `state` once it exists.

        Its entry script, bind-mounted, gets dockerd's arguments on its command
        line, so starting costs one container start and the wait for the daemon's
        socket: no copying in, no `docker exec`.
        """
        plan = target.plan
        # The docker- names a daemon before 18.09 looks for Debian's companions under.
        aliases = plan.route.companion_aliases if isinstance(plan.route, SourceRoute) else ()
        api = self.client.api
        options: JsonDict = {
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
        try:
            api.create_container(
                plan.dev_image,
                command=dockerd_args(
                    storage_driver,
                    tcp,
                    socket_group(os.geteuid(), os.getegid()),
                    state.seccomp_profile,
                ),
                entrypoint=dind_argv("init"),
                name=self.names.container,
                hostname="mobylab-dev",
                working_dir=plan.workdir,
                environment={
                    "PATH": plan.container_path,
                    "container": "docker",
                    # Lets mobylab-dind tidy files that only exist in this container.
                    "MOBYLAB_DEV_CONTAINER": "1",
                    "MOBYLAB_COMPANION_ALIASES": " ".join(aliases),
                },
                labels=self._labels(plan),
                ports=[INNER_TCP_PORT] if tcp else None,
                host_config=security.host_config(api, **options),
                detach=True,
            )
        except docker.errors.APIError as exc:
            raise _start_error(exc, security) from None
        self.workspace.save_state(self.names.state, state.to_dict())

    def start(self, security: RunSecurity) -> None:
        try:
            self.client.api.start(self.names.container)
        except docker.errors.APIError as exc:
            raise _start_error(exc, security) from None

    # -- removing -------------------------------------------------------------------

    def remove(self, container: Any) -> None:
        """Stop the daemon inside cleanly, then remove the container (the volume stays)."""
        if container.status == "running":
            with contextlib.suppress(DevEnvError):
                self.exec(dind_argv("stop", "20"))
            with contextlib.suppress(docker.errors.APIError):
                container.stop(timeout=30)
        container.remove(force=True)

    def remove_network(self) -> None:
        for network in self.client.networks.list(names=[self.names.network]):
            if network.name == self.names.network and labels.is_managed(
                network.attrs.get("Labels")
            ):
                with contextlib.suppress(docker.errors.APIError):
                    network.remove()

    def discard_quietly(self) -> None:
        """After Ctrl-C or a failed start: the container and network go, errors or not."""
        for _ in range(3):
            try:
                container = self.find()
                found = container.labels if container is not None else {}
                if (
                    container is not None
                    and found.get(LABEL_KEY) == self.names.key
                    and labels.is_managed(found)
                ):
                    container.remove(force=True)
                self.remove_network()
                self.workspace.drop_state(self.names.state)
                return
            except KeyboardInterrupt:
                continue
            except (docker.errors.DockerException, OSError, MobylabError):
                return


def _start_error(exc: docker.errors.APIError, security: RunSecurity) -> DevEnvError:
    message = api_message(exc)
    if security.privileged and "caps" in message:
        return DevEnvError(
            "this engine refuses --privileged containers",
            "Use --privileged auto to run with the closest thing it allows.",
        )
    return DevEnvError(f"the dev container could not start: {message}")

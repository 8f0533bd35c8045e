"""The build's dockerd inside the dev container: start, wait, stop, and why it failed.

The container's entry script (dev/mobylab-dind) starts and stops the daemon
and reports through files in the run folder shared with the host: `init.status`,
`dockerd.exit`, `dockerd.path`, `dockerd.pid`. The daemon also listens on a socket
in that folder, which makes it an ordinary Engine (kind "dev") for the host.
"""

from __future__ import annotations

import contextlib
import os
import time

import docker.errors

from .. import ui
from ..engine import Engine
from ..errors import DevEnvError, EngineError
from .container import (
    DEFAULT_STORAGE_DRIVER,
    FALLBACK_STORAGE_DRIVER,
    NO_DOCKERD,
    DevState,
    dockerd_args,
    identity_problem,
    last_start_section,
    socket_group,
    start_failure,
    storage_driver_refused,
)
from .resources import DevContainer, dind_argv

# Storage driver chosen for each volume: kept after dev.down, dropped by dev.clean.
VOLUMES_STATE = "dev-volumes"


def no_dockerd(detail: str) -> DevEnvError:
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

    def __init__(self, daemon: DevDaemon) -> None:
        self.daemon = daemon
        self.reason = ""
        self.init_status = ""
        self._checked = time.monotonic()

    def alive(self) -> bool:
        dev = self.daemon.container
        try:
            self.init_status = (dev.names.run_dir / "init.status").read_text().strip()
        except OSError:
            self.init_status = ""
        container_status = None
        if time.monotonic() - self._checked >= self.CONTAINER_CHECK_EVERY:
            self._checked = time.monotonic()
            # An engine hiccup is no verdict on the container: ask again next time.
            with contextlib.suppress(docker.errors.DockerException):
                container = dev.find()
                container_status = container.status if container is not None else "gone"
        exit_status = self.daemon.exit_status()
        self.reason = start_failure(self.init_status, exit_status, container_status)
        return not self.reason

    def failure(self, exc: EngineError) -> DevEnvError:
        dev = self.daemon.container
        if self.reason == "container":
            return DevEnvError(
                "the dev container stopped right after it started",
                "Check that the dev image has /bin/sh, mount, umount and setsid.",
                detail=dev.logs(),
            )
        if self.reason == "init":
            return DevEnvError(
                f"the dev container could not prepare cgroups ({self.init_status})",
                f"See `docker logs {dev.names.container}`.",
                detail=dev.logs(),
            )
        if self.reason == "no-dockerd":
            return no_dockerd(dev.logs())
        return DevEnvError(
            exc.message,
            f"Its log is {dev.names.log}; `invoke dev.logs` shows it.",
            detail=self.daemon.log_tail(),
        )


class DevDaemon:
    """The dockerd of one workspace's dev container."""

    def __init__(self, container: DevContainer) -> None:
        self.container = container

    @property
    def engine(self) -> Engine:
        names = self.container.names
        return Engine(names.url, kind="dev", name=names.label)

    # -- what the entry script reported -------------------------------------------

    def exit_status(self) -> int | None:
        """The inner dockerd's exit status once it has stopped, else None."""
        try:
            text = (self.container.names.run_dir / "dockerd.exit").read_text().strip()
        except OSError:
            return None
        try:
            return int(text)
        except ValueError:
            return -1

    def started_at(self) -> float | None:
        try:
            return (self.container.names.run_dir / "dockerd.pid").stat().st_mtime
        except OSError:
            return None

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.container.names.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(last_start_section(text).splitlines()[-lines:])

    # -- the storage driver each volume works with ----------------------------------

    def storage_driver(self, volume: str) -> str:
        drivers = self.container.workspace.load_state(VOLUMES_STATE) or {}
        return str(drivers.get(volume) or DEFAULT_STORAGE_DRIVER)

    def _remember_driver(self, volume: str, driver: str) -> None:
        drivers = self.container.workspace.load_state(VOLUMES_STATE) or {}
        if drivers.get(volume) != driver:
            drivers[volume] = driver
            self.container.workspace.save_state(VOLUMES_STATE, drivers)

    # -- start, wait, stop ------------------------------------------------------------

    def start(self, timeout: float) -> Engine:
        """Start the build's dockerd in the running dev container and wait until it answers."""
        self.container.running()
        state = self.container.state()
        if state is None:
            raise DevEnvError(
                "the dev environment's state is missing", "Run `invoke dev.down`, then `dev.up`."
            )
        driver = self.storage_driver(state.volume)
        self._launch(driver, state)
        self.settle(driver, state, timeout)
        return self.engine

    def settle(self, driver: str, state: DevState, timeout: float) -> None:
        """Wait for the daemon just launched; once, fall back to vfs if overlay2 is refused."""
        try:
            self._wait(state, timeout)
        except DevEnvError:
            if driver == FALLBACK_STORAGE_DRIVER or not storage_driver_refused(self.log_tail(60)):
                raise
            ui.warn(
                f"the {driver} storage driver does not work here: using {FALLBACK_STORAGE_DRIVER}"
            )
            driver = FALLBACK_STORAGE_DRIVER
            self._launch(driver, state)
            self._wait(state, timeout)
        self._remember_driver(state.volume, driver)

    def _launch(self, driver: str, state: DevState) -> None:
        group = socket_group(os.geteuid(), os.getegid())
        argv = dind_argv("start", *dockerd_args(driver, state.tcp, group, state.seccomp_profile))
        code, output = self.container.exec(argv, env={"PATH": state.container_path})
        if code == NO_DOCKERD:
            raise no_dockerd(output.strip())
        if code != 0:
            raise DevEnvError("the dev daemon could not be started", detail=output.strip())

    def _wait(self, state: DevState, timeout: float) -> None:
        """Wait until the daemon answers, or say why it never will."""
        watch = StartWatch(self)
        try:
            self.engine.wait_ready(timeout, alive=watch.alive, what="the dev daemon")
        except EngineError as exc:
            self.stop_quietly()
            raise watch.failure(exc) from None
        self._check_binary(state)

    def _check_binary(self, state: DevState) -> None:
        """The daemon that answers must be the build's, not another dockerd in PATH."""
        try:
            started = (self.container.names.run_dir / "dockerd.path").read_text().strip()
        except OSError:
            return
        expected = state.workdir.rstrip("/") + "/bundles/"
        if started and not started.startswith(expected):
            self.stop_quietly()
            raise DevEnvError(
                f"the dev container found {started}, not the build's dockerd",
                "Check the build's bundles (`invoke dev.build`); the era's PATH is "
                + state.container_path,
            )
        problem = identity_problem(state.identity, self.engine.version())
        if problem:
            self.stop_quietly()
            raise DevEnvError(problem, "Rebuild with `invoke dev.build --force`, then `dev.up`.")

    def stop_quietly(self) -> None:
        with contextlib.suppress(DevEnvError):
            self.container.exec(dind_argv("stop", "5"))

    def stop(self, grace: int = 20) -> None:
        self.container.running()
        self.container.exec(dind_argv("stop", str(grace)))

    def restart(self, timeout: float) -> Engine:
        """Stop and start the inner daemon; its images stay on the volume."""
        self.stop()
        return self.start(timeout)

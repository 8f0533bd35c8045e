"""The dev environment: a build's dockerd running inside the docker-dev container.

Three parts, each with one concern, brought up and down in order here:
the container with its volume and network (resources.DevContainer), the daemon
inside it (daemon.DevDaemon), and what a person does with them once up
(console.DevConsole). The container runs `mobylab-dind init DOCKERD-ARGS`
(dev/mobylab-dind, bind-mounted), which prepares cgroups for a nested daemon,
starts it and then waits; later stops and starts go through `docker exec`, so the
daemon can die or be restarted while the container, and the images on its
volume, stay.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors

from .. import process, ui
from ..engine import Engine, RunSecurity, probe
from ..errors import DevEnvError, Interrupted
from ..jsondata import JsonDict
from ..session import Session
from ..workspace import Workspace
from .build import BuildRecord, all_builds, last_build, pick_build
from .console import DevConsole
from .container import (
    DevNames,
    DevState,
    DevStatus,
    cgroup_problem,
    choose_security,
    daemon_seccomp_profile,
    host_daemon_dirs,
    name_problem,
    parse_daemon_version,
)
from .daemon import VOLUMES_STATE, DevDaemon
from .manifest import Bundles
from .plan import BuildPlan, host_cgroup_version
from .resources import DevContainer, DevTarget


def target_from_last_build(workspace: Workspace) -> DevTarget:
    """The workspace's last dev.build, or an error that says to build first."""
    record = last_build(workspace)
    if record is None:
        raise DevEnvError(
            "nothing has been built in this workspace yet",
            "Run `invoke dev.clone` and `invoke dev.build` first.",
        )
    return target_of(record)


def target_of(record: BuildRecord) -> DevTarget:
    return DevTarget(record.plan, record.bundles_dir, bundle_identity(record.manifest.bundles))


def target_for_build(workspace: Workspace, prefix: str | None) -> DevTarget:
    """The build named by a commit prefix (None: the last one built)."""
    if prefix is None:
        return target_from_last_build(workspace)
    return target_of(pick_build(all_builds(workspace), prefix))


def bundle_identity(bundles: Bundles) -> tuple[str, str] | None:
    """Pure: (version, commit) the build's dockerd reports, from its manifest."""
    for binary in bundles.binaries:
        if binary.name == "dockerd" or binary.name.startswith("dockerd-"):
            found = parse_daemon_version(binary.version)
            if found:
                return found
    return None


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


class DevEnvironment:
    """The dev container and its daemon for one workspace, on one host engine."""

    def __init__(self, host: Engine, workspace: Workspace, name: str = "") -> None:
        self.host = host
        self.workspace = workspace
        self.container = DevContainer(host, workspace, name)
        self.daemon = DevDaemon(self.container)
        self.console = DevConsole(self.container, self.daemon)
        self.names = self.container.names

    @property
    def engine(self) -> Engine:
        return self.daemon.engine

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> DevEnvironment:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

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
        self.refuse_another_build(plan)
        problem = cgroup_problem(plan, host_cgroup_version())
        if problem:
            raise DevEnvError(
                problem,
                "Run it on a host with cgroup v1 (or hybrid) hierarchies, or build a newer ref.",
            )
        find_bundle_daemon(target)
        try:
            self.container.client.images.get(plan.dev_image)
        except docker.errors.ImageNotFound:
            raise DevEnvError(
                f"the dev image {plan.dev_image} is not on the {self.host.name} engine",
                "Run `invoke dev.build` to make it.",
            ) from None
        found = self.container.own()
        security = self._security(privileged)
        if found is not None:
            state = self.container.state()
            reusable = (
                found.status == "running"
                and found.labels.get("org.mobylab.commit") == plan.commit
                and state is not None
                and state.tcp == tcp
                and state.bundles_dir == str(target.bundles_dir)
                and state.privileged == security.privileged
            )
            if reusable:
                return self._reuse(timeout)
            ui.step(f"replacing the dev container {self.names.container}")
            self.container.remove(found)
        return self._create(target, security=security, tcp=tcp, timeout=timeout)

    def refuse_another_build(self, plan: BuildPlan) -> None:
        """A named dev daemon keeps its build: asking it for another one is an error
        (the first, unnamed one is replaced, as it always was)."""
        if not self.names.name:
            return
        found = self.container.own()
        running = found.labels.get("org.mobylab.commit", "") if found is not None else ""
        if found is not None and found.status == "running" and running != plan.commit:
            raise DevEnvError(
                f"the dev daemon {self.names.name!r} runs build {running[:12]}, "
                f"not {plan.commit[:12]}",
                f"Stop it first (`invoke dev.down --name {self.names.name}`) or give "
                "another --name.",
            )

    def _reuse(self, timeout: float) -> Engine:
        if self.engine.ping():
            ui.info(f"the dev daemon already runs: {self.engine.url}")
            return self.engine
        status = self.daemon.exit_status()
        ui.warn(
            "the dev daemon is not running"
            + (f" (it exited with status {status})" if status is not None else "")
            + ": starting it again"
        )
        self.daemon.start(timeout)
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

    def _create(
        self, target: DevTarget, *, security: RunSecurity, tcp: bool, timeout: float
    ) -> Engine:
        """Create the dev container, whose entry script starts the daemon, and wait for it."""
        plan = target.plan
        volume = self.container.ensure_volume(plan)
        network = self.container.ensure_network(plan)
        driver = self.daemon.storage_driver(volume)
        self.container.prepare_host_dirs()
        state = DevState(
            container=self.names.container,
            image=plan.dev_image,
            era=plan.era,
            commit=plan.commit,
            version=plan.version,
            workdir=plan.workdir,
            container_path=plan.container_path,
            bundles_dir=str(target.bundles_dir),
            volume=volume,
            network=network,
            tcp=tcp,
            security=security.describe(),
            privileged=security.privileged,
            identity=target.identity,
            created=time.time(),
            seccomp_profile=daemon_seccomp_profile(plan),
        )
        created = False
        try:
            self.container.create(
                target,
                security=security,
                storage_driver=driver,
                tcp=tcp,
                volume=volume,
                network=network,
                state=state,
            )
            created = True
            self.container.start(security)
            self.daemon.settle(driver, state, timeout)
        except BaseException as exc:
            # Ctrl-C or a failure: leave nothing half-running (the volume stays).
            if created or isinstance(exc, KeyboardInterrupt):
                self.container.discard_quietly()
            if isinstance(exc, KeyboardInterrupt):
                raise Interrupted(
                    "interrupted while starting the dev environment",
                    "Nothing was left running; run `invoke dev.up` again.",
                ) from None
            raise
        return self.engine

    def restart(self, timeout: float) -> Engine:
        """Stop and start the inner daemon; its images stay on the volume."""
        return self.daemon.restart(timeout)

    @property
    def _called(self) -> str:
        return f" {self.names.name!r}" if self.names.name else ""

    @property
    def _flag(self) -> str:
        return f" --name {self.names.name}" if self.names.name else ""

    def ensure(self, *, start: bool, privileged: str, timeout: float) -> Engine:
        """The dev daemon: reused when it answers, recovered or started when `start`."""
        if self.engine.ping():
            found = self.container.own()
            if found is not None and found.status == "running":
                return self.engine
        found = self.container.own()
        if found is not None and found.status == "running" and self.container.state():
            if not start:
                raise DevEnvError(
                    f"the dev daemon{self._called} is not running",
                    f"Run `invoke dev.restart{self._flag}` or `invoke dev.up{self._flag}`.",
                )
            return self._reuse(timeout)
        if not start:
            raise DevEnvError(
                f"the dev environment{self._called} is not up", f"Run `invoke dev.up{self._flag}`."
            )
        # A named dev environment runs its own build; the first one, the last built.
        state = self.container.state()
        commit = (state.commit or None) if state and self.names.name else None
        return self.up(
            target_for_build(self.workspace, commit),
            privileged=privileged,
            tcp=bool(state and state.tcp),
            timeout=timeout,
        )

    # -- down -----------------------------------------------------------------

    def down(self) -> bool:
        """Stop and remove the dev container (the volume stays); False when there was none."""
        found = self.container.own()
        had_state = self.container.state() is not None
        if found is not None:
            self.container.remove(found)
        self.container.remove_network()
        self.workspace.drop_state(self.names.state)
        self.container.clear_run_dir()
        return found is not None or had_state


def dev_environment(session: Session, *, start: bool = True, name: str = "") -> DevEnvironment:
    """The dev environment `name` of the session's workspace, on its host engine."""
    return DevEnvironment(session.engine(start=start), session.workspace, name)


def environment_names(workspace: Workspace) -> list[str]:
    """The names of the workspace's dev environments that have state ("" first)."""
    state = workspace.root / "state"
    names = [""] if (state / "dev.json").is_file() else []
    for path in sorted(state.glob("dev-*.json")):
        name = path.stem.removeprefix("dev-")
        if path.stem != VOLUMES_STATE and not name_problem(name):
            names.append(name)
    return names


def ensure_dev_engine(
    session: Session, *, start: bool = True, build: str | None = None, name: str = ""
) -> Engine:
    """The dev daemon as an Engine: up if needed, reused if running, recovered if it died.

    `name` picks a dev environment by its name ("" the first, unnamed). `build` names a
    build by commit prefix instead: a dev environment already running it is used
    (whatever its name), else one named after the commit is started beside the others.
    """
    settings = session.settings
    if build is None:
        with dev_environment(session, start=start, name=name) as env:
            return env.ensure(
                start=start, privileged=settings.privileged, timeout=settings.engine_timeout
            )
    target = target_for_build(session.workspace, build)
    for name in environment_names(session.workspace):
        with dev_environment(session, start=False, name=name) as env:
            state = env.container.state()
            if state is not None and state.commit == target.plan.commit:
                return env.ensure(
                    start=start, privileged=settings.privileged, timeout=settings.engine_timeout
                )
    if not start:
        raise DevEnvError(
            f"no dev daemon runs the build {target.plan.commit[:12]}",
            f"Start one with `invoke dev.up --build {build}`.",
        )
    with dev_environment(session, start=True, name=target.plan.commit[:12]) as env:
        return env.up(target, privileged=settings.privileged, timeout=settings.engine_timeout)


# --- what the dev.* tasks do ---------------------------------------------------------------


@dataclass(frozen=True)
class DevStarted:
    """A dev daemon dev.up started (or found running), and what answers on each side."""

    url: str
    daemon_version: JsonDict
    host_version: JsonDict
    # The host-loopback TCP address, when asked for.
    tcp_url: str | None


def start_dev_daemon(
    session: Session, *, build: str | None, name: str | None, tcp: bool, timeout: float
) -> DevStarted:
    """dev.up: start a build's daemon (the last build by default) in its dev container.

    A daemon started for `--build` without a name is named after the commit, so it runs
    beside the others.
    """
    target = target_for_build(session.workspace, build)
    chosen = name if name is not None else (target.plan.commit[:12] if build else "")
    with dev_environment(session, name=chosen) as env:
        env.refuse_another_build(target.plan)
        ui.step(
            f"starting the dev daemon {env.names.label} of {target.plan.commit[:12]} "
            f"({target.plan.era})"
        )
        engine = env.up(target, privileged=session.settings.privileged, tcp=tcp, timeout=timeout)
        return DevStarted(
            url=engine.url,
            daemon_version=engine.version(),
            host_version=env.container.client.version(),
            tcp_url=env.console.status().tcp if tcp else None,
        )


@dataclass(frozen=True)
class ShellCommand:
    """The command line of an interactive shell in the dev container, and its environment."""

    argv: list[str]
    env: dict[str, str]


def dev_shell(session: Session, name: str) -> ShellCommand:
    """dev.shell: the `docker exec -it` that opens a shell with the era's PATH."""
    with dev_environment(session, start=False, name=name) as env:
        argv = env.console.shell_argv(process.require("docker"))
        return ShellCommand(argv, {**os.environ, **env.host.cli_env()})


def exec_in_dev(session: Session, argv: list[str], name: str) -> int:
    """dev.exec: run one command in the dev container; its exit code."""
    with dev_environment(session, start=False, name=name) as env:
        return env.console.exec(argv)


def dev_statuses(session: Session, names: list[str] | None) -> list[DevStatus]:
    """dev.status: what each named dev environment runs (None: every one of the workspace)."""
    chosen = names if names is not None else environment_names(session.workspace) or [""]
    records = []
    for name in chosen:
        with dev_environment(session, start=False, name=name) as env:
            records.append(env.console.status())
    return records


def restart_dev_daemon(session: Session, name: str, timeout: float) -> dict[str, Any]:
    """dev.restart: stop and start the dev daemon (its images stay); the version it reports."""
    with dev_environment(session, start=False, name=name) as env:
        return env.restart(timeout).version()


def stop_dev_environments(session: Session, names: list[str] | None) -> list[DevNames]:
    """dev.down: remove the dev containers (None: every one of the workspace); their
    volumes stay. The names of those that were up."""
    chosen = names if names is not None else environment_names(session.workspace)
    stopped = []
    for name in chosen or [""]:
        with dev_environment(session, start=False, name=name) as env:
            if env.down():
                stopped.append(env.names)
    return stopped

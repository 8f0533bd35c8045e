"""Looking inside a running dev environment: its status, one command, a shell."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import IO

import docker.errors

from ..errors import DevEnvError
from .container import INNER_TCP_PORT, DevStatus
from .daemon import DevDaemon
from .resources import DevContainer, api_message


class DevConsole:
    """What a person does with the dev environment once it is up."""

    def __init__(self, container: DevContainer, daemon: DevDaemon) -> None:
        self.container = container
        self.daemon = daemon

    def status(self) -> DevStatus:
        """What runs: the container, the daemon, its version, uptime and images."""
        state = self.container.state()
        found = self.container.own()
        names = self.container.names
        engine = self.daemon.engine
        known = DevStatus(container=names.container, socket=engine.url, log=str(names.log))
        if state is not None:
            known = replace(
                known,
                image=state.image,
                era=state.era,
                commit=state.commit,
                security=state.security,
                volume=state.volume,
            )
        if found is None:
            gone = "container gone" if state else "no container"
            return replace(known, container_state="gone", state=gone)
        labels_found = found.labels or {}
        known = replace(
            known,
            image=known.image or found.attrs.get("Config", {}).get("Image"),
            era=known.era or labels_found.get("org.mobylab.era"),
            commit=known.commit or labels_found.get("org.mobylab.commit"),
            container_state=found.status,
        )
        if found.status != "running":
            return replace(known, state=f"container {found.status}")
        ports = (found.attrs.get("NetworkSettings") or {}).get("Ports") or {}
        for binding in ports.get(f"{INNER_TCP_PORT}/tcp") or []:
            known = replace(known, tcp=f"tcp://{binding.get('HostIp')}:{binding.get('HostPort')}")
        if engine.ping():
            dev_client = engine.client(timeout=30)
            try:
                version = dev_client.version()
                images = len(dev_client.api.images())
            finally:
                dev_client.close()
            started = self.daemon.started_at()
            return replace(
                known,
                daemon_state="running",
                state="running",
                daemon_version=version.get("Version"),
                daemon_api=version.get("ApiVersion"),
                daemon_commit=version.get("GitCommit"),
                images=images,
                uptime_seconds=time.time() - started if started else None,
            )
        exit_status = self.daemon.exit_status()
        if exit_status is not None:
            dead = f"dead (exited with status {exit_status})"
            return replace(known, daemon_state=dead, state="daemon dead")
        return replace(known, daemon_state="not answering", state="daemon not answering")

    def exec(
        self,
        argv: list[str],
        *,
        stdout: IO[bytes] | None = None,
        stderr: IO[bytes] | None = None,
    ) -> int:
        """Run one command in the dev container with the era's PATH; its exit code."""
        self.container.running()
        state = self.container.state()
        api = self.container.client.api
        try:
            exec_id = api.exec_create(
                self.container.names.container,
                argv,
                environment={"PATH": state.container_path}
                if state and state.container_path
                else None,
                workdir=state.workdir if state and state.workdir else None,
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
                f"cannot run {argv[0]} in the dev container: {api_message(exc)}"
            ) from None
        code = api.exec_inspect(exec_id).get("ExitCode")
        return code if isinstance(code, int) else 1

    def shell_argv(self, docker_cli: str) -> list[str]:
        """The `docker exec -it` command line of an interactive shell inside."""
        self.container.running()
        state = self.container.state()
        argv = [docker_cli, "exec", "-it"]
        if state and state.container_path:
            argv += ["-e", f"PATH={state.container_path}"]
        if state and state.workdir:
            argv += ["-w", state.workdir]
        return [
            *argv,
            self.container.names.container,
            "sh",
            "-c",
            "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi",
        ]


def print_log(log: Path, lines: int, *, follow: bool, out: IO[str] | None = None) -> None:
    """Print the last `lines` lines of a log (0: all) and, when `follow`, every line
    written after them until Ctrl-C (a log that starts again is read from its start)."""
    out = out or sys.stdout
    if not log.exists():
        raise DevEnvError("the dev daemon has no log yet", "Start it with `invoke dev.up`.")
    text = log.read_text(errors="replace").splitlines()
    for line in text[-lines:] if lines > 0 else text:
        out.write(line + "\n")
    out.flush()
    if not follow:
        return
    position = log.stat().st_size
    try:
        while True:
            with log.open("r", errors="replace") as handle:
                if log.stat().st_size < position:
                    position = 0
                handle.seek(position)
                chunk = handle.read()
                position = handle.tell()
            if chunk:
                out.write(chunk)
                out.flush()
            time.sleep(0.5)
    except KeyboardInterrupt:
        return

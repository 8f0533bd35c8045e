"""An Engine is any Docker daemon mobylab talks to: the user's, a private one, or the dev one.

Every later stage (labs, seeding, the probe) takes an Engine and uses its SDK
client or runs the docker CLI with `cli_env()`, so a lab runs the same way on
each kind of daemon.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from .. import process
from ..errors import EngineError
from ..jsondata import JsonDict

if TYPE_CHECKING:
    import docker

DEFAULT_SOCKET = "/var/run/docker.sock"
# Longest pause between two pings of a starting daemon: asking a socket that does
# not exist yet costs next to nothing, and every pause can delay the answer.
READY_POLL_MAX = 0.05
_PASSWORD = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/?#:@]*):[^/?#@]*@")


def display_url(url: str) -> str:
    """Pure: an engine URL as messages show it: a password in it becomes ***."""
    return _PASSWORD.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:***@", url)


def _connect_errors() -> tuple[type[BaseException], ...]:
    # The docker SDK (and requests) load on first use: task listing stays fast.
    import docker.errors
    import requests.exceptions

    return (docker.errors.DockerException, requests.exceptions.RequestException, OSError)


@dataclass(frozen=True)
class Engine:
    url: str
    # "host" (the user's), "private" (started by mobylab) or "dev" (inside docker-dev).
    kind: str = "host"
    name: str = "host"

    @property
    def socket_path(self) -> Path | None:
        parsed = urlparse(self.url)
        return Path(parsed.path) if parsed.scheme in ("unix", "") else None

    def client(self, timeout: int = 600) -> docker.DockerClient:
        """A docker SDK client; raises EngineError when the daemon does not answer."""
        import docker

        try:
            return docker.DockerClient(base_url=self.url, version="auto", timeout=timeout)
        except _connect_errors() as exc:
            raise EngineError(
                f"the {self.name} engine at {display_url(self.url)} does not answer "
                f"({_short(exc)})",
                _recover_hint(self.kind),
            ) from None

    def api(self, timeout: int = 600) -> docker.APIClient:
        return self.client(timeout).api

    def ping(self, timeout: float = 2.0) -> bool:
        socket = self.socket_path
        if socket is not None and not socket.exists():
            return False
        import docker

        try:
            # The version is pinned so the client asks nothing before the ping, and the
            # ping itself is unversioned: a daemon answers it whatever API range it
            # speaks (today's refuse anything older than 1.40, 2017's anything newer).
            client = docker.APIClient(base_url=self.url, version="1.24", timeout=timeout)
            try:
                answer = client.get(f"{client.base_url}/_ping", timeout=timeout)
                return answer.status_code == 200 and answer.text.strip() == "OK"
            finally:
                client.close()
        except _connect_errors():
            return False

    def wait_ready(
        self, timeout: float, *, alive: Any = None, log: Path | None = None, what: str = ""
    ) -> float:
        """Poll until the daemon answers; returns the seconds waited.

        `alive` is a callable that says whether the daemon process still runs, so
        a daemon that died at start fails at once instead of at the timeout.
        """
        started = time.monotonic()
        delay = 0.02
        label = what or f"the {self.name} engine at {display_url(self.url)}"
        while True:
            if self.ping(timeout=2.0):
                return time.monotonic() - started
            if alive is not None and not alive():
                raise EngineError(
                    f"{label} exited while starting",
                    f"Its log is {log}." if log else "",
                    detail=log_tail(log),
                )
            if time.monotonic() - started > timeout:
                raise EngineError(
                    f"{label} did not answer within {timeout:.0f}s",
                    f"Its log is {log}." if log else "",
                    detail=log_tail(log),
                )
            time.sleep(delay)
            delay = min(delay * 1.5, READY_POLL_MAX)

    def cli_env(self) -> dict[str, str]:
        """Environment for the docker CLI so that it talks to this engine."""
        return {"DOCKER_HOST": self.url, "DOCKER_CONTEXT": ""}

    def version(self) -> JsonDict:
        client = self.client(timeout=30)
        try:
            return dict(client.version())
        finally:
            client.close()


def _recover_hint(kind: str) -> str:
    if kind == "dev":
        return "See `invoke dev.status`; `invoke dev.up` starts it again."
    return "Start it with `invoke engine.up` or check DOCKER_HOST."


def log_tail(log: Path | None, lines: int = 20) -> str:
    if log is None or not log.exists():
        return ""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    message = text[-1] if text else type(exc).__name__
    return message[:160]


def url_from_host(value: str) -> str:
    """Normalise DOCKER_HOST-style values and bare socket paths to a URL."""
    if value.startswith("/"):
        return f"unix://{value}"
    return value


def context_host() -> str | None:
    """The endpoint of the docker CLI's current context, when it is not the default."""
    if os.environ.get("DOCKER_CONTEXT") in (None, "", "default"):
        config = Path(os.environ.get("DOCKER_CONFIG", "~/.docker")).expanduser() / "config.json"
        try:
            current = json.loads(config.read_text()).get("currentContext")
        except (OSError, ValueError):
            current = None
        if current in (None, "", "default"):
            return None
    try:
        result = process.capture(
            ["docker", "context", "inspect", "--format", "{{.Endpoints.docker.Host}}"], timeout=10
        )
    except Exception:
        return None
    host = result.stdout.strip()
    return host if result.returncode == 0 and host else None

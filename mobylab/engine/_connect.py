"""Which engine a task talks to: the user's first, else mobylab's private one."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from .. import ui
from ..config import Settings
from ..errors import EngineError
from ..workspace import Workspace
from ._engine import DEFAULT_SOCKET, Engine, context_host, display_url, url_from_host
from ._private import PrivateEngine


@dataclass(frozen=True)
class Candidate:
    url: str
    source: str
    # An explicit choice (setting, DOCKER_HOST, context) must answer; no fallback.
    explicit: bool


def candidates(
    setting: str, docker_host: str | None, context: str | None, default_socket: str
) -> list[Candidate]:
    """Pure: the engines to try, in order, for the `engine` setting."""
    if setting not in ("auto", "private"):
        return [Candidate(url_from_host(setting), "the engine setting", True)]
    if setting == "private":
        return []
    if docker_host:
        return [Candidate(url_from_host(docker_host), "DOCKER_HOST", True)]
    if context:
        return [Candidate(url_from_host(context), "the docker context", True)]
    return [Candidate(url_from_host(default_socket), "the default socket", False)]


def find_engine(settings: Settings, workspace: Workspace, *, start: bool = True) -> Engine:
    """The engine to use; starts the private engine when none answers and `start`."""
    private = PrivateEngine(workspace)
    for candidate in candidates(
        settings.engine, os.environ.get("DOCKER_HOST"), context_host(), DEFAULT_SOCKET
    ):
        engine = Engine(candidate.url, kind="host", name="host")
        if engine.ping(timeout=5.0):
            return engine
        socket = engine.socket_path
        if candidate.explicit:
            state = (
                "exists but does not answer" if socket and socket.exists() else "does not answer"
            )
            raise EngineError(
                f"the engine from {candidate.source} ({display_url(candidate.url)}) {state}",
                "Start that engine, or unset it to let mobylab use its own.",
            )
        if socket is not None and socket.exists():
            ui.warn(f"{socket} exists but no engine answers on it; trying mobylab's own engine")
    if private.running():
        return private.engine
    if not start:
        raise EngineError("no Docker engine answers", "Start one with `invoke engine.up`.")
    if shutil.which("dockerd") is None:
        raise EngineError(
            "no Docker engine answers and dockerd is not installed",
            "Run scripts/setup (or apt-get install docker.io), then `invoke engine.up`.",
        )
    ui.step("no Docker engine answers: starting mobylab's private engine")
    return private.start(settings.engine_timeout)

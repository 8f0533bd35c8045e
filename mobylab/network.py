"""Whether an address answers: the registry probe the doctor, labs and builds share."""

from __future__ import annotations

import socket
import threading

from .config import Settings

REGISTRY = ("registry-1.docker.io", 443)


def registry_address(settings: Settings) -> tuple[str, int]:
    """registry-1.docker.io:443, or the `registry_probe` setting's HOST:PORT (tests aim locally)."""
    value = settings.registry_probe
    if value:
        host, _, port = value.rpartition(":")
        return host or value, int(port) if port.isdigit() else 443
    return REGISTRY


def reach(address: tuple[str, int], timeout: float = 2.0) -> tuple[bool, str]:
    """Try a TCP connection, name lookup included, for at most about `timeout` seconds."""
    outcome: list[tuple[bool, str]] = []

    def attempt() -> None:
        try:
            with socket.create_connection(address, timeout=timeout):
                outcome.append((True, f"{address[0]}:{address[1]} answers"))
        except OSError as exc:
            outcome.append((False, f"{address[0]}:{address[1]}: {exc.strerror or exc}"))

    # Name lookups ignore socket timeouts: run the attempt in a thread we stop waiting for.
    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return outcome[0] if outcome else (False, f"{address[0]}:{address[1]}: no answer in time")

"""Host key verification: known_hosts is checked before any command runs.

Fabric gives every Connection paramiko's AutoAddPolicy and never reads
known_hosts, so `secure()` replaces both on the connection (and on every
ProxyJump hop) before `open()`: the host's key must be in known_hosts, or with
--trust-new-hosts an unknown key is accepted once and appended to the file.
A key that differs from the recorded one is always refused.
"""

from __future__ import annotations

import base64
import hashlib
import re
import socket
import threading
from pathlib import Path
from typing import Any

import paramiko
from paramiko.ssh_exception import (
    AuthenticationException,
    BadHostKeyException,
    NoValidConnectionsError,
    SSHException,
)

from ..errors import WorkshopError

_append_lock = threading.Lock()


class HostKeyUnknown(WorkshopError):
    """The host's key is not in known_hosts."""

    state = "REFUSED"


class HostKeyChanged(WorkshopError):
    """The host presented a key other than the recorded one."""

    state = "REFUSED"


class HostUnreachable(WorkshopError):
    """No SSH connection could be made (worth retrying)."""

    state = "UNREACHABLE"


class HostAuthFailed(WorkshopError):
    """The host refused our keys."""

    state = "REFUSED"


def known_hosts_name(host: str, port: int) -> str:
    """Pure: how known_hosts names a host: `host` on port 22, `[host]:port` otherwise."""
    return host if port == 22 else f"[{host}]:{port}"


def fingerprint(key: paramiko.PKey) -> str:
    """The SHA256 fingerprint in OpenSSH's format."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class RecordNewHostPolicy(paramiko.MissingHostKeyPolicy):
    """Accept an unknown host's key and append it to known_hosts (never a changed one:
    paramiko raises BadHostKeyException for that before asking a policy)."""

    def __init__(self, known_hosts: Path) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        line = f"{hostname} {key.get_name()} {key.get_base64()}\n"
        with _append_lock:
            self.known_hosts.parent.mkdir(parents=True, exist_ok=True)
            existing = self.known_hosts.read_text() if self.known_hosts.exists() else ""
            with self.known_hosts.open("a") as handle:
                if existing and not existing.endswith("\n"):
                    handle.write("\n")
                handle.write(line)
        client.get_host_keys().add(hostname, key.get_name(), key)


def secure(cxn: Any, known_hosts: Path, *, trust_new: bool) -> None:
    """Make `cxn` (and its ProxyJump hops) verify host keys against `known_hosts`."""
    hop = cxn
    while hop is not None and not isinstance(hop, str | bool):
        client: paramiko.SSHClient = hop.client
        if known_hosts.exists():
            client.load_host_keys(str(known_hosts))
            # load_host_keys makes paramiko rewrite the file on AutoAdd; we append ourselves.
            client._host_keys_filename = None  # type: ignore[attr-defined]
        policy: paramiko.MissingHostKeyPolicy = (
            RecordNewHostPolicy(known_hosts) if trust_new else paramiko.RejectPolicy()
        )
        client.set_missing_host_key_policy(policy)
        hop = getattr(hop, "gateway", None)


def policy_in_force(cxn: Any) -> paramiko.MissingHostKeyPolicy:
    """The policy paramiko will consult when `cxn` connects (for tests and doctor)."""
    return cxn.client._policy


# paramiko's RejectPolicy: "Server '[host]:port' not found in known_hosts".
_REFUSED_SERVER = re.compile(r"Server '([^']+)' not found in known_hosts")


def translate(exc: BaseException, label: str, known_hosts: Path) -> WorkshopError:
    """Pure: one line naming the host for an exception raised while connecting."""
    if isinstance(exc, WorkshopError):
        return exc
    if isinstance(exc, BadHostKeyException):
        return HostKeyChanged(
            f"{label}: host key changed for {exc.hostname} ({exc.key.get_name()} "
            f"{fingerprint(exc.key)} is not the key recorded in {known_hosts}); refused",
            "If the machine was really reinstalled, remove its old line with "
            f"`ssh-keygen -R HOST -f {known_hosts}` and connect again.",
        )
    if isinstance(exc, SSHException) and "not found in known_hosts" in str(exc):
        # The server named is the one whose key was refused: with ProxyJump, maybe a hop.
        server = _REFUSED_SERVER.search(str(exc))
        where = f" for {server.group(1)}" if server else ""
        return HostKeyUnknown(
            f"{label}: unknown host key{where} (not in {known_hosts}); refused",
            "Check the key out of band, or accept new keys once with --trust-new-hosts.",
        )
    if isinstance(exc, AuthenticationException):
        return HostAuthFailed(
            f"{label}: authentication failed",
            "Check the user and IdentityFile for this host in ~/.ssh/config.",
        )
    if isinstance(exc, NoValidConnectionsError | ConnectionError | socket.timeout | TimeoutError):
        reason = (
            "connection timed out"
            if isinstance(exc, socket.timeout | TimeoutError)
            else ("connection refused")
        )
        return HostUnreachable(
            f"{label}: unreachable ({reason})", "Check that the machine is up and sshd runs."
        )
    if isinstance(exc, socket.gaierror):
        return HostUnreachable(f"{label}: unknown host name", "Check the name or ~/.ssh/config.")
    if isinstance(exc, OSError | EOFError | SSHException):
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return HostUnreachable(f"{label}: unreachable ({text})", "Check that sshd runs there.")
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return WorkshopError(f"{label}: {text}")


def retryable(error: WorkshopError) -> bool:
    """Pure: only connection failures are worth another try; key and auth problems are not."""
    return isinstance(error, HostUnreachable)

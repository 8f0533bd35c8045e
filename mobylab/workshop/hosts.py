"""Attendee hosts: parse and validate host strings, read inventories, open connections.

A host string is `[user@]host[:port]`; an IPv6 address goes in brackets
(`user@[::1]:2222`). A name may also be an alias from ~/.ssh/config, whose
User, Port, IdentityFile and ProxyJump Fabric applies when it connects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

# Characters a shell would act on: refused anywhere in a host string.
SHELL_METACHARACTERS = set(";&|<>()$`\\\"' \t\n*?!{}~#=,")

_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,252})$")
_USER = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]{0,31}$")
_IPV6 = re.compile(r"^[0-9A-Fa-f:.]+(?:%[A-Za-z0-9_.-]+)?$")


@dataclass(frozen=True, order=True)
class HostSpec:
    """One attendee machine as the instructor named it."""

    host: str
    user: str | None = None
    port: int | None = None

    @property
    def label(self) -> str:
        """How tables, logs and state name this host (the form it was given in)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        text = f"{self.user}@{host}" if self.user else host
        return f"{text}:{self.port}" if self.port else text

    @property
    def file_name(self) -> str:
        """The label made safe as a file name (per-host logs)."""
        return re.sub(r"[^A-Za-z0-9._@-]", "_", self.label)


def host_count(number: int) -> str:
    """Pure: '1 host', '8 hosts'."""
    return f"{number} host" if number == 1 else f"{number} hosts"


def _refuse(text: str, why: str) -> UsageError:
    return UsageError(
        f"host {text!r} is not valid: {why}",
        "Write hosts as [user@]host[:port], IPv6 addresses in brackets.",
    )


def parse_host(text: str) -> HostSpec:
    """Pure: validate one host string and split it into user, host and port."""
    raw = text.strip()
    if not raw:
        raise _refuse(text, "it is empty")
    bad = sorted({ch for ch in raw if ch in SHELL_METACHARACTERS})
    if bad:
        shown = " ".join(repr(ch) for ch in bad)
        raise _refuse(raw, f"it contains the shell metacharacter {shown}")
    if any(ord(ch) < 32 or ord(ch) > 126 for ch in raw):
        raise _refuse(raw, "it contains a control or non-ASCII character")
    user: str | None = None
    rest = raw
    if "@" in rest:
        user, rest = rest.rsplit("@", 1)
        if not _USER.match(user):
            raise _refuse(raw, f"the user name {user!r} is not valid")
    port_text: str | None = None
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise _refuse(raw, "the IPv6 address has no closing bracket")
        host, tail = rest[1:end], rest[end + 1 :]
        if not _IPV6.match(host) or ":" not in host:
            raise _refuse(raw, f"{host!r} is not an IPv6 address")
        if tail:
            if not tail.startswith(":"):
                raise _refuse(raw, "only :port may follow the IPv6 address")
            port_text = tail[1:]
    else:
        if rest.count(":") > 1:
            raise _refuse(raw, "an IPv6 address must be written in brackets")
        host, _, port_text_or_empty = rest.partition(":")
        port_text = port_text_or_empty if ":" in rest else None
        if not _NAME.match(host) or ".." in host:
            raise _refuse(raw, f"{host!r} is not a host name or address")
    port: int | None = None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise _refuse(raw, f"the port {port_text!r} is not a number from 1 to 65535")
        port = int(port_text)
    return HostSpec(host=host, user=user, port=port)


def parse_host_list(text: str) -> list[HostSpec]:
    """Pure: the comma-separated value of --hosts."""
    return [parse_host(part) for part in text.split(",") if part.strip()]


def parse_hosts_file_text(text: str) -> list[HostSpec]:
    """Pure: one host per line; blank lines and # comments are ignored."""
    specs: list[HostSpec] = []
    for line in text.splitlines():
        content = line.split("#", 1)[0].strip()
        if content:
            specs.append(parse_host(content))
    return specs


def unique(specs: Iterable[HostSpec]) -> list[HostSpec]:
    """Keep the first of each host, in the given order."""
    seen: set[HostSpec] = set()
    result: list[HostSpec] = []
    for spec in specs:
        if spec not in seen:
            seen.add(spec)
            result.append(spec)
    return result


def resolve_inventory(
    hosts: str | None, hosts_file: str | None, inventory: Sequence[str]
) -> list[HostSpec]:
    """The hosts of a task: --hosts, else --hosts-file, else the settings' inventory."""
    if hosts:
        specs = parse_host_list(hosts)
    elif hosts_file:
        path = Path(hosts_file).expanduser()
        try:
            text = path.read_text()
        except OSError as exc:
            raise UsageError(
                f"cannot read the hosts file {path}: {exc.strerror or exc}",
                "Give an existing file with one host per line.",
            ) from None
        specs = parse_hosts_file_text(text)
    else:
        specs = [parse_host(item) for item in inventory]
    specs = unique(specs)
    if not specs:
        raise UsageError(
            "no hosts given",
            "Use --hosts a,b,c, --hosts-file FILE or the `hosts` setting in invoke.yaml.",
        )
    return specs


def select(specs: Sequence[HostSpec], labels: Iterable[str]) -> list[HostSpec]:
    """Pure: the specs whose label is in `labels` (for --only-failed), in order."""
    wanted = set(labels)
    return [spec for spec in specs if spec.label in wanted]

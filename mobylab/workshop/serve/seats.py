"""Pure: the seats of a served workshop, their secrets, tickets, limits and origins.

A seat has a token (in its link's fragment, so never sent in a URL the server
logs) and a short code an attendee can type instead. The page trades either for
a ticket, valid once and for seconds, and opens its websocket with that: the
long-lived secret never appears in a websocket URL.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

from ...errors import UsageError

# Letters and digits that cannot be mistaken for one another when read aloud or on a slide.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
TICKET_SECONDS = 30.0
LOOPBACK = "127.0.0.1"
# Per seat: what the sandbox (its daemon, the attendee's containers, a fork bomb) may use.
DEFAULT_MEMORY = 1 << 30
DEFAULT_PIDS = 1024
DEFAULT_CPUS = 1.0
# What a sandbox may write to the engine's disk (its inner /var/lib/docker, its own files
# and the lab's work folder), checked by the server; its /tmp is a tmpfs of SCRATCH bytes,
# bounded by the kernel and counted in its memory.
DEFAULT_DISK = 5 << 30
DEFAULT_SCRATCH = 256 << 20
# What the server and the host keep for themselves when seats are counted.
HOST_RESERVE_MEMORY = 512 << 20
# Larger messages close the socket: a paste is sent in chunks well under it.
MAX_MESSAGE = 64 * 1024
_DURATION = re.compile(r"(?P<number>\d+(?:\.\d+)?)(?P<unit>[smhd]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZE = re.compile(r"(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[kmgt]?)i?b?")
_UNIT_BYTES = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class Role(StrEnum):
    """Who holds a ticket: the seat's attendee types; a viewer (the board) only watches."""

    ATTENDEE = "attendee"
    VIEWER = "viewer"


class SeatState(StrEnum):
    """A seat as the board and the attendee's page show it."""

    STARTING = "starting"
    READY = "ready"
    DOWN = "down"
    ENDED = "ended"


@dataclass(frozen=True)
class SeatLimits:
    """What one seat's sandbox may use."""

    memory: int = DEFAULT_MEMORY
    pids: int = DEFAULT_PIDS
    cpus: float = DEFAULT_CPUS
    disk: int = DEFAULT_DISK
    scratch: int = DEFAULT_SCRATCH


@dataclass(frozen=True)
class Seat:
    """One attendee's place: its number, the token of its link and its short code."""

    number: int
    token: str
    code: str

    @property
    def name(self) -> str:
        return f"seat-{self.number}"


def new_seats(count: int, draw: Callable[[int], str] = secrets.token_urlsafe) -> tuple[Seat, ...]:
    """`count` seats with fresh tokens and distinct codes."""
    seats: list[Seat] = []
    codes: set[str] = set()
    while len(seats) < count:
        code = short_code()
        if code in codes:
            continue
        codes.add(code)
        seats.append(Seat(len(seats) + 1, draw(24), code))
    return tuple(seats)


def short_code(choice: Callable[[str], str] = secrets.choice) -> str:
    return "".join(choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normal_code(text: str) -> str:
    """Pure: a code as typed (lower case, spaces, dashes) in the form it was handed out."""
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def seat_for(seats: Iterable[Seat], *, token: str = "", code: str = "") -> Seat | None:
    """The seat whose token or code this is, compared in constant time."""
    wanted_code = normal_code(code)
    for seat in seats:
        if token and secrets.compare_digest(seat.token, token):
            return seat
        if wanted_code and secrets.compare_digest(seat.code, wanted_code):
            return seat
    return None


def free_seat(seats: Iterable[Seat], taken: set[int]) -> Seat | None:
    """Pure: the first seat nobody has taken yet (for the room's code), or None."""
    return next((seat for seat in seats if seat.number not in taken), None)


@dataclass(frozen=True)
class Ticket:
    seat: int
    role: Role
    expires: float


@dataclass
class TicketBook:
    """Tickets issued and not yet used: each opens one websocket, once, within seconds."""

    lifetime: float = TICKET_SECONDS
    draw: Callable[[int], str] = secrets.token_urlsafe
    _open: dict[str, Ticket] = field(default_factory=dict)

    def issue(self, seat: int, role: Role, now: float) -> str:
        self._open = {key: t for key, t in self._open.items() if t.expires > now}
        key = self.draw(24)
        self._open[key] = Ticket(seat, role, now + self.lifetime)
        return key

    def redeem(self, key: str, now: float) -> Ticket | None:
        """The ticket's seat and role, once; None when unknown, used or expired."""
        ticket = self._open.pop(key, None)
        if ticket is None or ticket.expires <= now:
            return None
        return ticket


def allowed_origins(hosts: Iterable[str], port: int) -> frozenset[str]:
    """Pure: the exact origins (scheme, host, port) the pages are served from."""
    found = set()
    for host in hosts:
        shown = f"[{host}]" if ":" in host else host
        found.add(f"http://{shown}:{port}")
    return frozenset(found)


def page_hosts(listen: str) -> tuple[str, ...]:
    """Pure: the host names a browser may use for the server: loopback ones, and the
    address it listens on."""
    names = {LOOPBACK, "localhost"}
    if listen not in ("0.0.0.0", "::", ""):
        names.add(listen)
    return tuple(sorted(names))


def origin_problem(origin: str | None, host_header: str | None, allowed: frozenset[str]) -> str:
    """Pure: why a websocket upgrade's Origin is refused ('' when it is the page's own).

    The Origin must be one the server serves from and name the host the request
    was sent to, so neither a foreign page nor a rebound DNS name gets a socket.
    """
    if not origin:
        return "no Origin header"
    if origin not in allowed:
        return f"foreign origin {origin}"
    parts = urlsplit(origin)
    if (host_header or "").lower() != (parts.netloc or "").lower():
        return f"origin {origin} does not name the host {host_header}"
    return ""


def parse_duration(text: str) -> float:
    """Pure: '90', '90s', '45m', '8h', '1d' in seconds; a UsageError otherwise."""
    found = _DURATION.fullmatch(text.strip().lower())
    if not found or float(found["number"]) <= 0:
        raise UsageError(
            f"{text!r} is not a duration", "Write it as a number with s, m, h or d: 8h, 90m."
        )
    return float(found["number"]) * _UNIT_SECONDS[found["unit"]]


def parse_size(text: str) -> int:
    """Pure: '512M', '5G', '5GiB', '1.5g' in bytes (powers of 1024); a UsageError otherwise."""
    found = _SIZE.fullmatch(text.strip().lower())
    if not found or float(found["number"]) <= 0:
        raise UsageError(
            f"{text!r} is not a size", "Write it as a number with K, M or G: 5G, 512M."
        )
    return int(float(found["number"]) * _UNIT_BYTES[found["unit"]])


def capacity_problem(count: int, limits: SeatLimits, memory: int, pids_max: int | None) -> str:
    """Pure: why the engine cannot hold `count` seats of `limits` ('' when it can)."""
    if count < 1:
        return "--seats must be at least 1"
    usable = memory - HOST_RESERVE_MEMORY
    wanted = count * limits.memory
    if memory and wanted > usable:
        return (
            f"{count} seats need {wanted >> 20} MiB of memory ({limits.memory >> 20} MiB each) "
            f"and the engine has {max(usable, 0) >> 20} MiB to spare of {memory >> 20} MiB"
        )
    if pids_max is not None and count * limits.pids > pids_max:
        return (
            f"{count} seats may start {count * limits.pids} processes ({limits.pids} each) "
            f"and the engine's kernel allows {pids_max}"
        )
    return ""


def seat_links(seats: Iterable[Seat], base_url: str) -> list[tuple[str, str, str]]:
    """Pure: (seat, link, code) for the instructor: the token rides in the fragment."""
    return [(seat.name, f"{base_url}/seat#{seat.token}", seat.code) for seat in seats]


def input_frame(data: str) -> tuple[str, str | tuple[int, int]] | None:
    """Pure: a message from the page: ('input', text) or ('resize', (cols, rows)),
    or None for anything else (dropped)."""
    if data.startswith("i"):
        return "input", data[1:]
    if data.startswith("r"):
        cols, _, rows = data[1:].partition(",")
        if cols.isdigit() and rows.isdigit() and 0 < int(cols) <= 1000 and 0 < int(rows) <= 500:
            return "resize", (int(cols), int(rows))
    return None


def listen_warning(listen: str) -> str:
    """Pure: what to say when the server listens beyond this machine ('' on loopback)."""
    if listen in (LOOPBACK, "localhost", "::1"):
        return ""
    return (
        f"listening on {listen}: anyone on the room's network can reach this server; "
        "each seat still needs its link or code"
    )


def place_seats(count: int, hosts: int) -> tuple[int, ...]:
    """Pure: the host (by index) of each seat: round-robin, so each host gets as many
    seats as the others or one more."""
    return tuple(number % hosts for number in range(count))

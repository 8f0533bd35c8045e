"""What a running served room tells workshop.status and workshop.board.

The server keeps <workspace>/serve/<key>/room.json up to date (its process, the
lab, its board's link, and each seat's state, whether its attendee joined and
where its practice.json is) and removes it when it stops. status and board read
every room whose server still runs and make each seat an outcome like an SSH
host's, from its practice.json with the same function (labrun.practice_status):
one table and one board for both. No aiohttp here: status and board load it not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ... import process
from ...jsondata import JsonDict, JsonObject
from ...workspace import read_json, write_json
from ..hosts import host_count
from ..labrun import practice_status
from ..pool import OK, SKIPPED, UNREACHABLE, HostOutcome
from .seats import SeatState

ROOM_FILE = "room.json"
# What the status table and the board say of a seat that is not practising yet.
STARTING = "STARTING"
WAITING = "WAITING"
DOWN = "DOWN"
ENDED = "ENDED"


@dataclass(frozen=True)
class SeatRecord:
    """One seat as its server last wrote it."""

    number: int
    state: str
    message: str = ""
    joined: bool = False
    attached: bool = False
    # The seat's practice.json ('' while its sandbox starts).
    practice: str = ""

    def to_dict(self) -> JsonDict:
        return {
            "number": self.number,
            "state": self.state,
            "message": self.message,
            "joined": self.joined,
            "attached": self.attached,
            "practice": self.practice,
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> SeatRecord:
        return cls(
            int(data["number"]),
            str(data["state"]),
            str(data.get("message", "")),
            bool(data.get("joined")),
            bool(data.get("attached")),
            str(data.get("practice", "")),
        )


@dataclass(frozen=True)
class RoomRecord:
    """A served room: its server's process, lab, address, board link and seats."""

    key: str
    pid: int
    lab: str
    url: str
    board: str
    seats: tuple[SeatRecord, ...]

    def to_dict(self) -> JsonDict:
        return {
            "key": self.key,
            "pid": self.pid,
            "lab": self.lab,
            "url": self.url,
            "board": self.board,
            "seats": [seat.to_dict() for seat in self.seats],
        }

    @classmethod
    def from_dict(cls, data: JsonObject) -> RoomRecord:
        return cls(
            str(data["key"]),
            int(data["pid"]),
            str(data["lab"]),
            str(data["url"]),
            str(data["board"]),
            tuple(SeatRecord.from_dict(seat) for seat in data["seats"]),
        )


def room_path(workspace_root: Path, key: str) -> Path:
    return workspace_root / "serve" / key / ROOM_FILE


def write_room(workspace_root: Path, room: RoomRecord) -> None:
    """Written for the instructor only: it holds the board's link and its token."""
    write_json(room_path(workspace_root, room.key), room.to_dict(), mode=0o600)


def running_rooms(workspace_root: Path) -> list[RoomRecord]:
    """The rooms of this workspace whose server still runs (a killed one's file stays
    until the next server reaps it: its process is gone)."""
    rooms = []
    for path in sorted((workspace_root / "serve").glob(f"*/{ROOM_FILE}")):
        data = read_json(path)
        try:
            room = RoomRecord.from_dict(data)
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        if process.pid_alive(room.pid):
            rooms.append(room)
    return rooms


def seat_label(room: RoomRecord, seat: SeatRecord) -> str:
    """Pure: 'seat-2 @ 127.0.0.1:8095', a row's name beside the SSH hosts'."""
    return f"seat-{seat.number} @ {urlsplit(room.url).netloc}"


def seat_outcome(
    room: RoomRecord, seat: SeatRecord, practice: str | None, now: float, stuck_after: float
) -> HostOutcome:
    """Pure: a seat as workshop.status and the board show a host, from its record and
    its practice.json text (None: none yet)."""
    label = seat_label(room, seat)
    data: JsonDict = {"lab": room.lab, "view": room.board, "seat": seat.number}
    verdict, where = OK, ""
    if practice is not None:
        verdict, where, found = practice_status(practice, now, stuck_after)
        data |= found | {"run_dir": str(Path(seat.practice).parent)}
    if seat.state == SeatState.STARTING:
        verdict, where, data["progress"] = OK, "its sandbox is starting", STARTING
    elif seat.state == SeatState.DOWN:
        verdict, where, data["progress"] = UNREACHABLE, seat.message, DOWN
    elif seat.state == SeatState.ENDED:
        verdict, where, data["progress"] = SKIPPED, seat.message, ENDED
    elif not seat.joined:
        # Nobody there yet: its practice's clock has not started.
        verdict, where, data["progress"] = OK, "no attendee yet", WAITING
    elif not seat.attached:
        where = f"{where} (page closed)"
    data["where"] = where
    data["attendee"] = (
        "not joined" if not seat.joined else "on the page" if seat.attached else "page closed"
    )
    return HostOutcome(label, verdict, "read", where, data=data)


def rows_text(data: Sequence[JsonObject]) -> str:
    """Pure: '8 hosts', '2 seats' or '1 host, 2 seats': what the rows are, from their data
    (a served seat's names its seat)."""
    seats = sum(1 for found in data if "seat" in found)
    hosts = host_count(len(data) - seats)
    if not seats:
        return hosts
    named = f"{seats} seat" if seats == 1 else f"{seats} seats"
    return f"{hosts}, {named}" if seats < len(data) else named


def seat_outcomes(rooms: Sequence[RoomRecord], now: float, stuck_after: float) -> list[HostOutcome]:
    """Every seat of the running rooms, read from its practice.json."""
    found = []
    for room in rooms:
        for seat in room.seats:
            text = None
            if seat.practice:
                try:
                    text = Path(seat.practice).read_text()
                except OSError:
                    text = None
            found.append(seat_outcome(room, seat, text, now, stuck_after))
    return found

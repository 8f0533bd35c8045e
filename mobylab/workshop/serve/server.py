"""The served workshop: seats, their sandboxes and shells, and the aiohttp server.

Routes: `/` (type a code), `/seat` (a seat's page; its token in the link's
fragment), `/board` (every seat, read-only views; the instructor's token in the
fragment), `/static/...`, `POST /api/ticket` (a token or code for a one-use
websocket ticket), `GET /api/seats` (the board's data) and `/ws?ticket=` (the
terminal). Every websocket upgrade's Origin is checked exactly; a viewer's input
is dropped here. Every answer carries a Content-Security-Policy; the pages put
every lab and terminal text into the DOM as text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors
import requests.exceptions
from aiohttp import WSMsgType, web

from ... import ui
from ...errors import MobylabError, UsageError
from ...lab.model import Lab
from ...lab.practice import state as ps
from ...lab.practice.start import leave_practice, refuse_without_texts, rejoin_practice
from ...session import Session
from ...workspace import read_json
from ..hosts import HostSpec
from ..remote import SshOptions
from . import seats as seat_rules
from .bridge import LabBridge
from .links import LOCAL, HostLink, is_local, open_links
from .record import RoomRecord, SeatRecord, room_path, write_room
from .sandbox import (
    Sandbox,
    SandboxEngine,
    disk_used,
    open_sandbox,
    reap_orphans,
    remove_sandbox,
    remove_server,
    run_root,
    sandbox_engine,
    stock_host,
)
from .seats import Role, Seat, SeatLimits, SeatState, TicketBook
from .terminal import Subscriber, Terminal

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self'; font-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
HEARTBEAT_SECONDS = 20.0
POLL_SECONDS = 0.2
# Sandboxes made at once: each start costs a daemon start and an image copy.
PARALLEL_STARTS = 4
# How often each host's link and engine are asked whether they still answer, and how
# many answers in a row its engine may miss before its seats are down.
HOST_CHECK_SECONDS = 5.0
HOST_MISSES = 3
# How often a dropped host is asked whether it is back.
REJOIN_SECONDS = 15.0
# What a call to an engine raises when the engine, its link or the sandbox is gone.
ENGINE_GONE = (docker.errors.DockerException, requests.exceptions.RequestException, OSError)
# How often room.json (for workshop.status and workshop.board) may be rewritten.
RECORD_SECONDS = 1.0
# How often each sandbox's disk use is measured.
DISK_SECONDS = 10.0


@dataclass(frozen=True)
class ServeOptions:
    """What workshop.serve was asked for."""

    seats: int
    port: int
    listen: str = seat_rules.LOOPBACK
    expire: float = 8 * 3600.0
    idle: float = 2 * 3600.0
    limits: SeatLimits = field(default_factory=SeatLimits)
    engine: str = "host"
    # The workshop hosts the seats are spread over (none: this machine's engine).
    hosts: tuple[HostSpec, ...] = ()
    trust_new_hosts: bool = False


@dataclass(frozen=True)
class ServeLinks:
    """What the instructor hands out: each seat's link and code, and the board's link."""

    url: str
    board: str
    seats: tuple[tuple[str, str, str], ...]
    room_code: str


@dataclass
class SeatRoom:
    """A seat while the server runs: its sandbox, shell and who is attached."""

    seat: Seat
    state: SeatState = SeatState.STARTING
    message: str = ""
    sandbox: Sandbox | None = None
    terminal: Terminal | None = None
    bridge: LabBridge | None = None
    attendee: web.WebSocketResponse | None = None
    last_active: float = field(default_factory=time.monotonic)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    # One change of practice.json at a time: a `lab` answer, or its attendee coming or going.
    practice_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Down because its host dropped: it comes back if the host does, its sandbox running.
    may_return: bool = False

    def progress(self) -> dict[str, Any]:
        """The practice run's progress as the page and the board show it."""
        if self.sandbox is None:
            return {}
        data = read_json(self.sandbox.practice.state_path)
        if not isinstance(data, dict):
            return {}
        steps = data.get("steps") or []
        return {
            "current": data.get("current"),
            "steps": [{"title": s.get("title", ""), "status": s.get("status", "")} for s in steps],
            "done": sum(1 for s in steps if s.get("status") == ps.StepStatus.PASSED),
        }


def assets_dir() -> Path:
    """The pages and scripts, package data beside this module."""
    return Path(__file__).resolve().with_name("static")


def xterm_dir() -> Path | None:
    """xterm.js as the wheel bundles it, else as scripts/setup installed it in the clone."""
    package = Path(__file__).resolve().parents[2]
    for candidate in (package / "_data" / "xterm", package.parent / "node_modules" / "@xterm"):
        if candidate.is_dir():
            return candidate
    return None


XTERM_FILES = {
    "xterm.js": ("xterm/lib/xterm.js", "xterm.js"),
    "xterm.css": ("xterm/css/xterm.css", "xterm.css"),
    "addon-fit.js": ("addon-fit/lib/addon-fit.js", "addon-fit.js"),
}


class Room:
    """Every seat of one served lab, each on the engine of the host it is placed on."""

    def __init__(
        self,
        session: Session,
        hosts: list[HostLink],
        inner_engine: SandboxEngine,
        lab: Lab,
        options: ServeOptions,
        key: str,
    ) -> None:
        self.session = session
        self.hosts = hosts
        self.inner_engine = inner_engine
        self.lab = lab
        self.options = options
        self.key = key
        self.seats = {s.number: SeatRoom(s) for s in seat_rules.new_seats(options.seats)}
        places = seat_rules.place_seats(options.seats, len(hosts))
        self.placement = {
            number: hosts[place] for number, place in zip(self.seats, places, strict=True)
        }
        self.board_token = secrets.token_urlsafe(24)
        # One code for the whole room: whoever types it gets a seat nobody has taken.
        self.room_code = seat_rules.short_code()
        self.taken: set[int] = set()
        self.tickets = TicketBook()
        self.origins = seat_rules.allowed_origins(
            seat_rules.page_hosts(options.listen), options.port
        )
        self.stopping = asyncio.Event()

    def links(self, url: str) -> ServeLinks:
        seats = [room.seat for room in self.seats.values()]
        return ServeLinks(
            url,
            f"{url}/board#{self.board_token}",
            tuple(seat_rules.seat_links(seats, url)),
            self.room_code,
        )

    # -- seats --------------------------------------------------------------------
    async def start_seats(self) -> None:
        gate = asyncio.Semaphore(PARALLEL_STARTS)

        async def start(room: SeatRoom) -> None:
            async with gate:
                await self._start_seat(room)

        await asyncio.gather(*(start(room) for room in self.seats.values()))

    async def _start_seat(self, room: SeatRoom) -> None:
        try:
            sandbox = await asyncio.to_thread(
                open_sandbox,
                self.session,
                self.placement[room.seat.number],
                self.inner_engine,
                self.lab,
                room.seat,
                self.key,
                self.options.limits,
            )
        except MobylabError as exc:
            room.state, room.message = SeatState.DOWN, exc.one_line()
            ui.warn(f"{room.seat.name}: {exc.one_line()}")
            return
        room.sandbox = sandbox
        self._serve(room, sandbox)
        ui.info(f"{room.seat.name} ready")

    def _serve(self, room: SeatRoom, sandbox: Sandbox) -> None:
        """The seat's shell, its `lab` answers and its disk watch, on a running sandbox."""
        room.terminal = Terminal(
            sandbox.link.engine,
            sandbox.container,
            sandbox.shell_argv(),
            sandbox.shell_environment(),
            str(sandbox.practice.workdir),
        )
        room.bridge = LabBridge(
            sandbox.files, sandbox.practice.state_path, sandbox.engine.cli_env()
        )
        room.tasks += [
            asyncio.create_task(self._keep_shell(room)),
            asyncio.create_task(self._answer_lab(room)),
            asyncio.create_task(self._watch_disk(room)),
        ]
        room.state, room.message, room.may_return = SeatState.READY, "", False
        room.last_active = time.monotonic()

    async def _keep_shell(self, room: SeatRoom) -> None:
        """The seat's shell for as long as its sandbox answers; then the seat is down, on
        the board and in its page (the page's socket closes, and reopening it says so):
        all the seats of its host when that host no longer answers."""
        assert room.terminal is not None
        try:
            await room.terminal.run()
        except ENGINE_GONE:
            link = self.placement[room.seat.number]
            problem = await asyncio.to_thread(link.problem)
            if problem:
                if not link.dropped:
                    self._drop(link, problem)
                return
            room.state = SeatState.DOWN
            room.message = "its sandbox stopped; the other seats go on"
            ui.warn(f"{room.seat.name}: {room.message}")
            room.terminal.close()

    async def _answer_lab(self, room: SeatRoom) -> None:
        """Answer the seat's `lab` requests, one at a time, in a thread each."""
        assert room.bridge is not None and room.terminal is not None
        while room.state == SeatState.READY:
            try:
                for key, text in await asyncio.to_thread(room.bridge.pending):
                    async with room.practice_lock:
                        columns = room.terminal.size[0]
                        await asyncio.to_thread(room.bridge.answer, key, text, columns)
            except ENGINE_GONE:
                pass  # the sandbox or its host is going: _keep_shell or watch_hosts says so
            except MobylabError as exc:
                ui.warn(f"{room.seat.name}: its `lab` requests cannot be read: {exc.one_line()}")
                await asyncio.sleep(30.0)
            await asyncio.sleep(POLL_SECONDS)

    async def _watch_disk(self, room: SeatRoom) -> None:
        """Remove the sandbox that wrote more than its disk limit, so it cannot fill the
        engine's disk for the others. Measured every DISK_SECONDS (the engine cannot
        bound a volume on overlay2 without xfs quotas): a fast writer gets past the limit
        by what it writes meanwhile."""
        assert room.sandbox is not None
        limit = self.options.limits.disk
        while room.state == SeatState.READY:
            await asyncio.sleep(DISK_SECONDS)
            used = await asyncio.to_thread(disk_used, room.sandbox.link.engine, room.sandbox)
            if used is not None and used > limit and room.state == SeatState.READY:
                why = (
                    f"its sandbox wrote {ui.human_bytes(used)} to disk, over its "
                    f"{ui.human_bytes(limit)}: removed; the other seats go on"
                )
                ui.warn(f"{room.seat.name}: {why}")
                await self.end_seat(room, why, SeatState.DOWN)

    @staticmethod
    def _let_go(room: SeatRoom) -> None:
        """Stop the seat's shell and its tasks; its practice's clocks stop, progress kept."""
        for task in room.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        if room.terminal is not None:
            room.terminal.close()
        if room.sandbox is not None:
            leave_practice(room.sandbox.practice.state_path)

    async def end_seat(self, room: SeatRoom, why: str, state: SeatState = SeatState.ENDED) -> None:
        """The seat leaves READY at once, so its tasks stop; the board says why only once
        its sandbox is gone, since `why` says it was removed."""
        room.state, room.message = state, "removing its sandbox"
        self._let_go(room)
        if room.sandbox is not None:
            await asyncio.to_thread(remove_sandbox, room.sandbox.link, room.sandbox.names)
        room.message = why

    async def cull_idle(self) -> None:
        """End the seats nobody used for `idle` seconds."""
        while not self.stopping.is_set():
            await asyncio.sleep(min(30.0, self.options.idle / 4))
            now = time.monotonic()
            for room in self.seats.values():
                attached = room.attendee is not None and not room.attendee.closed
                idle = now - room.last_active > self.options.idle
                if room.state == SeatState.READY and idle and not attached:
                    ui.info(f"{room.seat.name}: idle, its sandbox removed")
                    await self.end_seat(room, "ended after being idle")

    async def watch_hosts(self) -> None:
        """A host whose link or engine stops answering takes its seats down, on the board
        and in their pages; the seats on the other hosts go on. A dropped host is asked
        again every REJOIN_SECONDS: when it answers, its seats whose sandboxes still run
        are back, their practice where it was."""
        misses = dict.fromkeys(range(len(self.hosts)), 0)
        asked = dict.fromkeys(range(len(self.hosts)), 0.0)
        while not self.stopping.is_set():
            await asyncio.sleep(HOST_CHECK_SECONDS)
            for place, link in enumerate(self.hosts):
                if link.dropped:
                    if link.remote and time.monotonic() - asked[place] >= REJOIN_SECONDS:
                        asked[place] = time.monotonic()
                        await self._rejoin(link)
                    continue
                problem = await asyncio.to_thread(link.problem)
                misses[place] = misses[place] + 1 if problem else 0
                # A busy engine may miss one answer; a closed connection is gone at once.
                gone = misses[place] >= HOST_MISSES or not link.connected()
                if problem and gone and not self.stopping.is_set():
                    self._drop(link, problem)
                    asked[place] = time.monotonic()

    def _drop(self, link: HostLink, problem: str) -> None:
        link.dropped = problem
        rooms = [r for n, r in self.seats.items() if self.placement[n] is link]
        for room in rooms:
            if room.state != SeatState.ENDED:
                room.state, room.may_return = SeatState.DOWN, room.state == SeatState.READY
                room.message = f"its host {link.label} dropped; the other seats go on"
                self._let_go(room)
        names = ", ".join(room.seat.name for room in rooms)
        ui.warn(f"host {link.label} dropped ({problem}): {names} down; the other seats go on")

    async def _rejoin(self, link: HostLink) -> None:
        """The dropped host again, if it answers; its seats back when their sandboxes do."""
        try:
            await asyncio.to_thread(link.rejoin)
        except (MobylabError, *ENGINE_GONE):
            return  # still away: asked again later
        back, lost = [], []
        for number, room in self.seats.items():
            if self.placement[number] is not link or not room.may_return:
                continue
            assert room.sandbox is not None
            if self.stopping.is_set() or room.state != SeatState.DOWN:
                continue
            if await asyncio.to_thread(room.sandbox.engine.ping, 10):
                self._serve(room, room.sandbox)
                back.append(room.seat.name)
            else:
                room.may_return = False
                room.message = f"its host {link.label} came back without its sandbox"
                lost.append(room.seat.name)
        parts = [f"{', '.join(back)} ready again"] if back else []
        if lost:
            parts.append(f"{', '.join(lost)} lost their sandboxes")
        ui.info(f"host {link.label} is back" + (f": {'; '.join(parts)}" if parts else ""))

    # -- what workshop.status and workshop.board read --------------------------------
    def record(self, url: str) -> RoomRecord:
        seats = tuple(
            SeatRecord(
                number,
                room.state,
                room.message,
                joined=number in self.taken,
                attached=room.attendee is not None and not room.attendee.closed,
                practice=str(room.sandbox.practice.state_path) if room.sandbox else "",
            )
            for number, room in self.seats.items()
        )
        return RoomRecord(self.key, os.getpid(), self.lab.name, url, self.links(url).board, seats)

    async def keep_record(self, url: str) -> None:
        """Rewrite room.json when a seat or its attendee changes, until the room stops
        (then close() removes it: no write is left in flight)."""
        written = None
        while not self.stopping.is_set():
            record = self.record(url)
            if record != written:
                await asyncio.to_thread(write_room, self.session.workspace.root, record)
                written = record
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), RECORD_SECONDS)

    async def close(self) -> None:
        room_path(self.session.workspace.root, self.key).unlink(missing_ok=True)
        for room in self.seats.values():
            self._let_go(room)
            if room.attendee is not None:
                await room.attendee.close()
        for link in self.hosts:
            if link.dropped:
                ui.warn(
                    f"{link.label} dropped: its sandboxes stay there until a later "
                    "workshop.serve on that host reaps them"
                )
            else:
                with contextlib.suppress(MobylabError, *ENGINE_GONE):
                    await asyncio.to_thread(remove_server, link, self.key)
            link.close()

    # -- HTTP -----------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[security_headers], client_max_size=4096)
        app.router.add_get("/", self._page("join.html"))
        app.router.add_get("/seat", self._page("seat.html"))
        app.router.add_get("/board", self._page("board.html"))
        app.router.add_get("/static/{name}", self._static)
        app.router.add_post("/api/ticket", self._ticket)
        app.router.add_get("/api/seats", self._seats)
        app.router.add_get("/ws", self._socket)
        return app

    def _page(self, name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def page(request: web.Request) -> web.StreamResponse:
            return web.FileResponse(assets_dir() / name)

        return page

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name in XTERM_FILES:
            found = xterm_dir()
            if found is None:
                raise web.HTTPNotFound(text="xterm.js is not installed: run scripts/setup")
            clone, wheel = XTERM_FILES[name]
            path = found / clone if (found / clone).is_file() else found / wheel
            return web.FileResponse(path)
        path = assets_dir() / name
        if "/" in name or name.startswith(".") or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path)

    def _origin_ok(self, request: web.Request) -> bool:
        problem = seat_rules.origin_problem(
            request.headers.get("Origin"), request.headers.get("Host"), self.origins
        )
        return not problem

    async def _ticket(self, request: web.Request) -> web.Response:
        """A token or code (the seat's) or the board's token and a seat: a one-use ticket."""
        if not self._origin_ok(request):
            raise web.HTTPForbidden(text="foreign origin")
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            raise web.HTTPBadRequest(text="a JSON body is expected") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="a JSON object is expected")
        now = time.monotonic()
        board = str(body.get("board") or "")
        if board:
            number = body.get("seat")
            if not secrets.compare_digest(board, self.board_token) or number not in self.seats:
                raise web.HTTPUnauthorized(text="unknown board token or seat")
            return web.json_response(
                {"ticket": self.tickets.issue(number, Role.VIEWER, now), "seat": number}
            )
        code = str(body.get("code") or "")
        seats = [room.seat for room in self.seats.values()]
        if code and secrets.compare_digest(seat_rules.normal_code(code), self.room_code):
            seat = seat_rules.free_seat(seats, self.taken)
            if seat is None:
                raise web.HTTPConflict(text="every seat is taken: ask for a seat's own code")
        else:
            seat = seat_rules.seat_for(seats, token=str(body.get("token") or ""), code=code)
        if seat is None:
            await asyncio.sleep(0.5)  # slows down guessing codes
            raise web.HTTPUnauthorized(text="unknown token or code")
        self.taken.add(seat.number)
        return web.json_response(
            {
                "ticket": self.tickets.issue(seat.number, Role.ATTENDEE, now),
                "seat": seat.number,
                "token": seat.token,
            }
        )

    async def _seats(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        if not secrets.compare_digest(header, f"Bearer {self.board_token}"):
            raise web.HTTPUnauthorized(text="the board's token is needed")
        return web.json_response(
            {
                "lab": self.lab.title,
                "seats": [
                    {
                        "seat": room.seat.number,
                        "name": room.seat.name,
                        "state": room.state,
                        "message": room.message,
                        "host": self.placement[room.seat.number].label,
                        "attached": room.attendee is not None,
                        **room.progress(),
                    }
                    for room in self.seats.values()
                ],
            }
        )

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        if not self._origin_ok(request):
            raise web.HTTPForbidden(text="foreign origin")
        ticket = self.tickets.redeem(request.query.get("ticket", ""), time.monotonic())
        if ticket is None:
            raise web.HTTPUnauthorized(text="unknown, used or expired ticket")
        room = self.seats[ticket.seat]
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS, max_msg_size=seat_rules.MAX_MESSAGE)
        await ws.prepare(request)
        if ticket.role == Role.ATTENDEE:
            if room.attendee is not None and not room.attendee.closed:
                await room.attendee.close(message=b"opened in another tab")
            room.attendee = ws
        await self._attach(room, ws, ticket.role)
        if room.attendee is ws:
            room.attendee = None
            self._practice_clock(room, leave_practice)
        return ws

    @staticmethod
    def _practice_clock(room: SeatRoom, change: Callable[[Path], ps.PracticeState | None]) -> None:
        """Start or stop the seat's practice clock (rejoin_practice, leave_practice): it
        runs while its attendee is on the page. In a task of the seat's, after any `lab`
        answer under way (a `lab solve` may take minutes; the page does not wait)."""
        if room.sandbox is None or room.state != SeatState.READY:
            return
        path = room.sandbox.practice.state_path

        async def apply() -> None:
            async with room.practice_lock:
                await asyncio.to_thread(change, path)

        room.tasks = [task for task in room.tasks if not task.done()]
        room.tasks.append(asyncio.create_task(apply()))

    async def _attach(self, room: SeatRoom, ws: web.WebSocketResponse, role: Role) -> None:
        while room.state == SeatState.STARTING and not ws.closed:
            await ws.send_str(json.dumps({"type": "seat", "state": room.state}))
            await asyncio.sleep(1.0)
        terminal = room.terminal
        if terminal is None or room.state != SeatState.READY:
            said = {"type": "seat", "state": room.state, "message": room.message}
            await ws.send_str(json.dumps(said | {"may_return": room.may_return}))
            await ws.close()
            return
        await ws.send_str(
            json.dumps(
                {
                    "type": "seat",
                    "state": room.state,
                    "role": role,
                    "seat": room.seat.number,
                    "lab": self._lab_text(),
                }
            )
        )
        if room.attendee is ws:
            self._practice_clock(room, rejoin_practice)
        subscriber, scrollback = terminal.subscribe()
        sender = asyncio.create_task(self._send_output(room, ws, subscriber, scrollback))
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT or role != Role.ATTENDEE:
                    continue
                frame = seat_rules.input_frame(message.data)
                if frame is None:
                    continue
                room.last_active = time.monotonic()
                kind, value = frame
                if kind == "input" and isinstance(value, str):
                    await terminal.write(value.encode())
                elif isinstance(value, tuple):
                    await terminal.resize(*value)
        finally:
            sender.cancel()
            terminal.unsubscribe(subscriber)

    async def _send_output(
        self, room: SeatRoom, ws: web.WebSocketResponse, subscriber: Subscriber, first: bytes
    ) -> None:
        """The scrollback, then the shell's output as it comes, and the progress when it
        changes; a subscriber that fell behind is closed (its page reattaches)."""
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            if first:
                await ws.send_bytes(first)
            shown: dict[str, Any] = {}
            while not ws.closed:
                try:
                    data = await asyncio.wait_for(subscriber.queue.get(), 1.0)
                except TimeoutError:
                    data = b""
                if data is None:
                    await ws.close(message=b"too slow" if subscriber.overflowed else b"ended")
                    return
                if data:
                    await ws.send_bytes(data)
                progress = await asyncio.to_thread(room.progress)
                if progress != shown:
                    shown = progress
                    await ws.send_str(json.dumps({"type": "progress", **progress}))

    def _lab_text(self) -> dict[str, Any]:
        """The lab's texts for the page (Markdown source: the page shows it as text)."""
        return {
            "title": self.lab.title,
            "introduction": self.lab.introduction,
            "steps": [
                {
                    "title": step.title,
                    "narrative": step.narrative,
                    "task": step.task,
                    "hints": list(step.hints),
                }
                for step in self.lab.steps
            ],
        }


@web.middleware
async def security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    response = await handler(request)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


async def serve_room(room: Room, on_ready: Callable[[ServeLinks], None]) -> None:
    """Serve until Ctrl-C, SIGTERM, SIGHUP or the expiry; then remove every sandbox."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, room.stopping.set)
    runner = web.AppRunner(room.app(), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, room.options.listen, room.options.port)
    try:
        try:
            await site.start()
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {room.options.listen}:{room.options.port}: {exc.strerror}",
                "Pick another port with --port.",
            ) from None
        for link in room.hosts:
            await asyncio.to_thread(reap_orphans, link)
        url = base_url(room.options)
        on_ready(room.links(url))
        starting = asyncio.create_task(room.start_seats())
        culling = asyncio.create_task(room.cull_idle())
        watching = asyncio.create_task(room.watch_hosts())
        recording = asyncio.create_task(room.keep_record(url))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(room.stopping.wait(), room.options.expire)
        room.stopping.set()  # at the expiry too: the record's writer ends
        culling.cancel()
        watching.cancel()
        await recording
        # Sandboxes being made finish first, so removing by label finds them all.
        with contextlib.suppress(MobylabError):
            await starting
    finally:
        with contextlib.suppress(MobylabError):
            await room.close()
        await runner.cleanup()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(signum)


def base_url(options: ServeOptions) -> str:
    host = seat_rules.LOOPBACK if options.listen in ("0.0.0.0", "::") else options.listen
    return f"http://{host}:{options.port}"


def serve(
    session: Session, lab: Lab, options: ServeOptions, on_ready: Callable[[ServeLinks], None]
) -> None:
    """workshop.serve: a sandbox per seat for `lab`, on this machine's engine or spread
    over the workshop hosts, served until stopped or expired."""
    refuse_without_texts(lab)
    specs = list(options.hosts) or [HostSpec(LOCAL)]
    if options.engine != "host" and not all(is_local(spec) for spec in specs):
        raise UsageError(
            f"--engine {options.engine} serves on this machine only: a dev build's "
            "bundles are not on the workshop hosts",
            "Use --engine host with --hosts, or serve the dev build without --hosts.",
        )
    if options.seats < 1:
        raise UsageError("--seats must be at least 1", "Give the number of attendees.")
    local = session.engine(start=True)
    inner_engine = sandbox_engine(session, local, options.engine)
    key = secrets.token_hex(4)
    ssh = SshOptions.from_settings(session.settings, trust_new_hosts=options.trust_new_hosts)
    logs = session.workspace.root / "serve" / key
    hosts = open_links(specs, ssh, local, run_root(), key, logs)
    try:
        refuse_overfull(hosts, options)
        for link in hosts:
            stock_host(session, local, link, lab, inner_engine.image)
        room = Room(session, hosts, inner_engine, lab, options, key)
    except BaseException:
        for link in hosts:
            link.close()
        raise
    asyncio.run(serve_room(room, on_ready))


def refuse_overfull(hosts: list[HostLink], options: ServeOptions) -> None:
    """Each host's engine must hold the seats placed on it (memory and processes)."""
    counts = Counter(seat_rules.place_seats(options.seats, len(hosts)))
    for place, link in enumerate(hosts):
        if not counts[place]:
            continue
        client = link.engine.client()
        try:
            memory = int(client.info().get("MemTotal") or 0)
        finally:
            client.close()
        problem = seat_rules.capacity_problem(counts[place], options.limits, memory, link.pid_max)
        if problem:
            whose = "the engine" if link.label == LOCAL else f"the engine of {link.label}"
            raise UsageError(f"{whose} cannot hold the seats: {problem}", "Use fewer --seats.")

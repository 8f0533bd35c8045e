"""workshop.serve for real: `invoke workshop.serve hello --seats 3` on the machine's
engine, one attendee in headless Chromium typing into the page's terminal until
`lab check` passes, the board's row and its read-only view; the server's locks
(a wrong token, a foreign Origin, a reused ticket, a viewer typing); seats that
cannot see each other; a fork bomb, a full /tmp and a sandbox writing past its disk
limit, each in one seat while the others go on; the seats in workshop.status and
workshop.board; and a killed server whose sandboxes the next one reaps."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import docker
import pytest

from mobylab.engine import Engine
from mobylab.workshop.serve.seats import DEFAULT_PIDS, MAX_MESSAGE, SeatLimits
from tests.engine.test_devenv_helpers import bundles_today, plan_today
from tests.fixtures.browser import Browser
from tests.fixtures.cli import invoke_argv
from tests.workshop.conftest import running_board

pytestmark = [pytest.mark.engine, pytest.mark.slow]
SERVE_LABEL = "org.mobylab.serve"
# Three sandboxes start their daemons and get the lab's base image copied in.
READY_SECONDS = 300.0
SEATS = 3
# The served room's disk limit per seat: small, so a test passes it quickly.
DISK_LIMIT = "512M"
SCREEN = (
    "(() => { const b = window.mobylabTerminal.buffer.active; const lines = [];"
    " for (let i = 0; i < b.length; i++) lines.push(b.getLine(i).translateToString(true));"
    " return lines.join('\\n'); })()"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Served:
    proc: subprocess.Popen[str]
    url: str
    links: dict[int, str]
    codes: dict[int, str]
    board: str
    room_code: str
    output: Path
    workspace: Path

    @property
    def origin(self) -> str:
        return self.url

    @property
    def board_token(self) -> str:
        return self.board.split("#", 1)[1]

    def token(self, seat: int) -> str:
        return self.links[seat].split("#", 1)[1]

    @property
    def key(self) -> str:
        """The server's key (in its sandboxes' names and labels): its workspace's folder."""
        [folder] = (self.workspace / "serve").iterdir()
        return folder.name

    def sandbox(self, seat: int) -> str:
        """A seat's sandbox, by name: another server's on the engine are not this one's."""
        return f"mobylab-serve-{self.key}-{seat}"

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 120) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signum)
        return self.proc.wait(timeout=timeout)


def start_server(workspace: Path, seats: int, log: Path, *flags: str) -> Served:
    """The task as a user runs it, in its own process group; its links read from its output."""
    port = free_port()
    handle = log.open("w")
    proc = subprocess.Popen(
        invoke_argv("workshop.serve", "hello", "--seats", str(seats), "--port", str(port), *flags),
        env={**os.environ, "MOBYLAB_WORKSPACE": str(workspace), "COLUMNS": "200"},
        stdin=subprocess.DEVNULL,
        stdout=handle,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while True:
        text = log.read_text()
        if "board (yours" in text:
            break
        assert proc.poll() is None, f"workshop.serve exited: {text}"
        assert time.monotonic() < deadline, f"workshop.serve printed no links in 120s: {text}"
        time.sleep(0.2)
    links = {int(m[1]): m[2] for m in re.finditer(r"seat-(\d+)\s+(\S+)\s+code", text)}
    codes = {int(m[1]): m[2] for m in re.finditer(r"seat-(\d+)\s+\S+\s+code (\w+)", text)}
    room = re.search(r"the room's code (\w+)", text)
    board = re.search(r"board \(yours, keep it private\): (\S+)", text)
    assert board and room and len(links) == seats, text
    return Served(proc, f"http://127.0.0.1:{port}", links, codes, board[1], room[1], log, workspace)


def seats_data(served: Served) -> list[dict]:
    async def fetch() -> list[dict]:
        async with aiohttp.ClientSession() as client:
            headers = {"Authorization": f"Bearer {served.board_token}"}
            async with client.get(f"{served.url}/api/seats", headers=headers) as answer:
                return list((await answer.json())["seats"])

    return asyncio.run(fetch())


def wait_ready(served: Served, seats: int) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while True:
        states = [s["state"] for s in seats_data(served)]
        if states == ["ready"] * seats:
            return
        assert "down" not in states, f"a seat is down: {served.output.read_text()}"
        assert time.monotonic() < deadline, (
            f"seats not ready after {READY_SECONDS:.0f}s: {states}\n{served.output.read_text()}"
        )
        time.sleep(1)


def labelled(engine: Engine, value: str = "") -> list[str]:
    """The names of containers, networks and volumes with the served-workshop label."""
    wanted = f"{SERVE_LABEL}={value}" if value else SERVE_LABEL
    client = engine.client()
    try:
        names = [c.name for c in client.containers.list(all=True, filters={"label": wanted})]
        names += [n.name for n in client.networks.list(filters={"label": wanted})]
        names += [v.name for v in client.volumes.list(filters={"label": wanted})]
    finally:
        client.close()
    return names


def server_keys(engine: Engine) -> set[str]:
    """The keys of the servers whose sandboxes are on the engine."""
    return {name.split("-")[2] for name in labelled(engine) if name.startswith("mobylab-serve-")}


def inner(engine: Engine, seat_container: str, *argv: str) -> str:
    """A command in a sandbox (its own docker CLI talks to its own daemon)."""
    client = docker.DockerClient(base_url=engine.url)
    try:
        code, output = client.containers.get(seat_container).exec_run(list(argv))
    finally:
        client.close()
    return f"{code}:{output.decode(errors='replace')}"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, engine: Engine) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("serve")
    server = start_server(root / "ws", SEATS, root / "serve.log", "--disk", DISK_LIMIT)
    try:
        wait_ready(server, SEATS)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    chromium = Browser(tmp_path_factory.mktemp("chromium"))
    try:
        yield chromium
    finally:
        chromium.close()


def navigate(browser: Browser, url: str) -> None:
    """Open a page that rewrites its own address (the token leaves it once read)."""
    browser.call("Page.navigate", url=url)
    path = "/" + url.split("#")[0].split("/", 3)[3]
    loaded = "document.readyState === 'complete'"
    browser.wait_for(f"location.pathname === {json.dumps(path)} && {loaded}")


def type_line(browser: Browser, text: str) -> None:
    browser.js("window.mobylabTerminal.focus()")
    browser.call("Input.insertText", text=text)
    browser.call("Input.dispatchKeyEvent", type="keyDown", key="Enter", code="Enter",
                 windowsVirtualKeyCode=13, text="\r")  # fmt: skip
    browser.call("Input.dispatchKeyEvent", type="keyUp", key="Enter", code="Enter",
                 windowsVirtualKeyCode=13)  # fmt: skip


def room_of(served: Served) -> dict:
    """The room.json the server keeps for workshop.status and workshop.board."""
    return json.loads((served.workspace / "serve" / served.key / "room.json").read_text())


def practice_of(served: Served, seat: int) -> dict:
    """The seat's practice.json, where room.json says it is ({} until room.json, which
    lags the server by up to a second, names it)."""
    [record] = [s for s in room_of(served)["seats"] if s["number"] == seat]
    return json.loads(Path(record["practice"]).read_text()) if record["practice"] else {}


def test_a_seats_practice_clock_runs_only_while_its_attendee_is_on_the_page(
    served: Served,
) -> None:
    """Seats start before the class arrives: the clock of step 1 waits for its attendee."""

    def until(want_active: bool) -> dict:
        deadline = time.monotonic() + 30
        while (state := practice_of(served, 2)).get("active") is not want_active:
            assert time.monotonic() < deadline, state
            time.sleep(0.2)
        return state

    waiting = until(False)
    assert (waiting["steps"][0]["seconds"], waiting["steps"][0]["entered"]) == (0, None)

    async def attend() -> None:
        async with attendee(served, 2):
            await asyncio.to_thread(until, True)
            await asyncio.sleep(2)

    asyncio.run(attend())
    left = until(False)["steps"][0]
    assert left["entered"] is None and 2 <= left["seconds"] < 30, left


def test_an_attendee_builds_and_passes_the_step_in_the_page(
    served: Served, browser: Browser, tmp_path: Path
) -> None:
    navigate(browser, served.links[1])
    browser.wait_for("document.getElementById('status').textContent.includes('connected')", 30)
    assert browser.js("document.getElementById('lab-title').textContent") == "Hello, mobylab"
    assert "Build and run" in browser.js("document.getElementById('step').textContent")
    # The token left the address bar once the page read it.
    assert "#" not in browser.js("location.href")
    browser.wait_for(f"{SCREEN}.includes('[lab hello 1/1]')", 30)
    type_line(browser, "docker build -t $TAG:latest . && lab check")
    try:
        browser.wait_for(f"{SCREEN}.includes('step 1 passed')", 120)
    except AssertionError:
        browser.screenshot(tmp_path / "seat.png")
        raise AssertionError(f"no pass on the screen:\n{browser.js(SCREEN)}") from None
    # The page's step list follows the practice run.
    browser.wait_for("document.querySelector('#steps li.passed') !== null", 15)
    done = {s["seat"]: s.get("done") for s in seats_data(served)}
    assert done == {1: 1, 2: 0, 3: 0}
    # Reattaching (a closed tab come back) shows the same shell with its scrollback.
    navigate(browser, served.url + "/seat")
    browser.wait_for("document.getElementById('status').textContent.includes('connected')", 30)
    browser.wait_for(f"{SCREEN}.includes('step 1 passed')", 30)


def test_the_board_shows_every_seat_and_a_read_only_view(served: Served, browser: Browser) -> None:
    navigate(browser, served.board)
    browser.wait_for(f"document.querySelectorAll('#seats tbody tr').length === {SEATS}", 30)
    row = browser.wait_for(
        "document.getElementById('seat-1') && document.getElementById('seat-1').textContent", 15
    )
    assert "ready" in row and "✓" in row
    browser.js("window.mobylabWatch(1)")
    viewer = (
        "(() => { const t = window.mobylabViewer; if (!t) return ''; const b = t.buffer.active;"
        " const lines = []; for (let i = 0; i < b.length; i++)"
        " lines.push(b.getLine(i).translateToString(true)); return lines.join('\\n'); })()"
    )
    browser.wait_for(f"{viewer}.includes('step 1 passed')", 30)


def test_an_attendee_joins_with_the_seats_code(served: Served, browser: Browser) -> None:
    navigate(browser, served.url + "/")
    typed = f"{served.codes[2][:4].lower()} {served.codes[2][4:].lower()}"
    browser.js(f"document.getElementById('code').value = {json.dumps(typed)}")
    browser.js("document.getElementById('go').click()")
    browser.wait_for("location.pathname === '/seat'", 15)
    browser.wait_for("document.getElementById('status').textContent.includes('seat 2')", 30)
    browser.wait_for(f"{SCREEN}.includes('[lab hello 1/1]')", 30)
    # Leave the seat: an open page reattaches, and would take over the later tests' socket.
    browser.call("Page.navigate", url="about:blank")


async def _ticket(client: aiohttp.ClientSession, served: Served, body: dict) -> str:
    async with client.post(
        f"{served.url}/api/ticket", json=body, headers={"Origin": served.origin}
    ) as answer:
        assert answer.status == 200, await answer.text()
        return str((await answer.json())["ticket"])


def test_the_server_refuses_wrong_tokens_foreign_origins_and_used_tickets(
    served: Served,
) -> None:
    async def probe() -> None:
        async with aiohttp.ClientSession() as client:
            async with client.post(f"{served.url}/api/ticket", json={"token": "wrong"},
                                   headers={"Origin": served.origin}) as answer:  # fmt: skip
                assert answer.status == 401
            async with client.post(f"{served.url}/api/ticket", json={"code": "AAAAAAAA"},
                                   headers={"Origin": served.origin}) as answer:  # fmt: skip
                assert answer.status == 401
            async with client.get(f"{served.url}/api/seats") as answer:
                assert answer.status == 401
            # Seats 1 and 2 were taken by the tests before: the room's code gives seat 3,
            # then has none left.
            for status in (200, 409):
                async with client.post(f"{served.url}/api/ticket",
                                       json={"code": served.room_code},
                                       headers={"Origin": served.origin}) as answer:  # fmt: skip
                    assert answer.status == status
                    if status == 200:
                        assert (await answer.json())["token"] == served.token(3)
            ticket = await _ticket(client, served, {"code": served.codes[2].lower()})
            with pytest.raises(aiohttp.WSServerHandshakeError) as foreign:
                await client.ws_connect(f"{served.url}/ws?ticket={ticket}",
                                        origin="http://evil.example")  # fmt: skip
            assert foreign.value.status == 403
            async with client.ws_connect(f"{served.url}/ws?ticket={ticket}",
                                         origin=served.origin) as ws:  # fmt: skip
                first = await ws.receive(timeout=30)
                assert json.loads(first.data)["state"] == "ready"
            with pytest.raises(aiohttp.WSServerHandshakeError) as reused:
                await client.ws_connect(f"{served.url}/ws?ticket={ticket}", origin=served.origin)
            assert reused.value.status == 401
            async with client.get(served.url + "/seat") as page:
                assert "connect-src 'self'" in page.headers["Content-Security-Policy"]

    asyncio.run(probe())


def test_a_viewer_types_and_nothing_changes(served: Served, engine: Engine) -> None:
    async def view_and_type() -> None:
        async with aiohttp.ClientSession() as client:
            ticket = await _ticket(client, served, {"board": served.board_token, "seat": 2})
            async with client.ws_connect(f"{served.url}/ws?ticket={ticket}",
                                         origin=served.origin) as ws:  # fmt: skip
                await ws.receive(timeout=30)
                await ws.send_str("itouch /tmp/viewer-was-here\r")
                await asyncio.sleep(2)

    asyncio.run(view_and_type())
    sandbox = served.sandbox(2)
    assert inner(engine, sandbox, "ls", "/tmp/viewer-was-here").split(":")[0] != "0"


def test_two_seats_cannot_see_each_others_containers_or_networks(
    served: Served, engine: Engine
) -> None:
    one, two = served.sandbox(1), served.sandbox(2)
    started = inner(engine, one, "docker", "run", "-d", "--name", "only-in-seat-one",
                    "mobylab/runtime:busybox", "sleep", "600")  # fmt: skip
    assert started.startswith("0:"), started
    inner(engine, one, "docker", "network", "create", "net-of-seat-one")
    assert "only-in-seat-one" in inner(engine, one, "docker", "ps", "-a")
    assert "only-in-seat-one" not in inner(engine, two, "docker", "ps", "-a")
    assert "net-of-seat-one" not in inner(engine, two, "docker", "network", "ls")
    # Each sandbox's docker answers with its own daemon, never the machine's.
    assert inner(engine, two, "docker", "info", "--format", "{{.Name}}").strip() == "0:seat-2"
    assert "/var/run/docker.sock" not in inner(engine, two, "cat", "/proc/mounts")


async def _read_until(ws: aiohttp.ClientWebSocketResponse, wanted: bytes, timeout: float) -> None:
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{wanted!r} not on the screen after {timeout:.0f}s: {seen[-300:]!r}"
        message = await ws.receive(timeout=left)
        assert message.type != aiohttp.WSMsgType.CLOSE, f"closed while waiting for {wanted!r}"
        if message.type == aiohttp.WSMsgType.BINARY:
            seen = (seen + message.data)[-65536:]


def test_a_megabyte_paste_and_an_oversized_message_stop_nobody_else(served: Served) -> None:
    """A seat flooded with a pasted megabyte takes it at its shell's pace; the other
    seat, the board and the server answer meanwhile; a message over the limit closes
    only its own socket."""

    async def flood_and_probe() -> None:
        async with aiohttp.ClientSession() as client:
            ticket = await _ticket(client, served, {"token": served.token(2)})
            flooding = await client.ws_connect(f"{served.url}/ws?ticket={ticket}",
                                               origin=served.origin)  # fmt: skip
            await flooding.receive(timeout=30)

            async def paste() -> None:
                # As the page sends a paste: chunks well under the largest message.
                for _ in range(128):
                    await flooding.send_str("i" + "x" * 8192)

            pasting = asyncio.create_task(paste())
            await asyncio.sleep(2)
            started = time.monotonic()
            ticket = await _ticket(client, served, {"token": served.token(1)})
            async with client.ws_connect(f"{served.url}/ws?ticket={ticket}",
                                         origin=served.origin) as ws:  # fmt: skip
                await ws.receive(timeout=30)
                await ws.send_str("iecho still-$((2*3))\r")
                await _read_until(ws, b"still-6", 30)
                await ws.send_str("i" + "y" * (MAX_MESSAGE + 1))
                while (message := await ws.receive(timeout=30)).type != aiohttp.WSMsgType.CLOSE:
                    pass
                assert message.data == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
            assert time.monotonic() - started < 30
            states = [s["state"] for s in await asyncio.to_thread(seats_data, served)]
            assert states == ["ready"] * SEATS
            pasting.cancel()
            await flooding.close()

    asyncio.run(flood_and_probe())


@contextlib.asynccontextmanager
async def attendee(served: Served, seat: int) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """A seat's terminal as its page opens it (its first message read)."""
    async with aiohttp.ClientSession() as client:
        ticket = await _ticket(client, served, {"token": served.token(seat)})
        async with client.ws_connect(f"{served.url}/ws?ticket={ticket}",
                                     origin=served.origin) as ws:  # fmt: skip
            await ws.receive(timeout=30)
            yield ws


async def still_serving(served: Served, seat: int, marker: int) -> None:
    """The seat's shell answers, `lab check` runs there (answered by the server), and the
    server's API answers."""
    async with attendee(served, seat) as ws:
        await ws.send_str(f"iecho alive-$(({marker}*3))\r")
        await _read_until(ws, f"alive-{marker * 3}".encode(), 30)
        await ws.send_str(f"ilab check; echo checked-$(({marker}*5))\r")
        await _read_until(ws, f"checked-{marker * 5}".encode(), 120)
    assert {s["seat"]: s["state"] for s in await asyncio.to_thread(seats_data, served)}[1] == (
        "ready"
    )


def inspect_sandbox(engine: Engine, sandbox: str) -> dict:
    client = engine.client()
    try:
        return dict(client.api.inspect_container(sandbox))
    finally:
        client.close()


def test_each_sandbox_runs_with_its_seats_limits(served: Served, engine: Engine) -> None:
    limits = SeatLimits()
    for seat in range(1, SEATS + 1):
        config = inspect_sandbox(engine, served.sandbox(seat))["HostConfig"]
        assert config["PidsLimit"] == limits.pids
        assert config["Memory"] == config["MemorySwap"] == limits.memory
        assert config["NanoCpus"] == int(limits.cpus * 1e9)
        assert config["Tmpfs"] == {"/tmp": f"size={limits.scratch},mode=1777"}
        assert not [b for b in config.get("Binds") or [] if "docker.sock:" in b]


# Forks until the pids limit stops it, for 30 seconds (then no process forks again).
FORK_BOMB = "end=$((EPOCHSECONDS+30)); b() { ((EPOCHSECONDS < end)) && { b | b & }; }; b"


def sandbox_pids(engine: Engine, sandbox: str) -> int:
    client = engine.client()
    try:
        stats = client.api.stats(sandbox, stream=False, one_shot=True)
    finally:
        client.close()
    return int((stats.get("pids_stats") or {}).get("current") or 0)


def test_an_inner_containers_processes_count_in_their_seats_limits(
    served: Served, engine: Engine
) -> None:
    """The sandbox's own cgroup namespace puts the inner daemon's containers inside the
    sandbox's cgroup: their processes count against the seat's pids (memory and CPU too)."""
    sandbox = served.sandbox(1)
    before = sandbox_pids(engine, sandbox)
    started = inner(engine, sandbox, "docker", "run", "-d", "--name", "sleepers",
                    "mobylab/runtime:busybox", "sh", "-c",
                    "for i in $(seq 50); do sleep 600 & done; wait")  # fmt: skip
    assert started.startswith("0:"), started
    try:
        deadline = time.monotonic() + 30
        while (now := sandbox_pids(engine, sandbox)) < before + 50:
            assert time.monotonic() < deadline, f"{now} pids in the sandbox, {before} before"
            time.sleep(0.5)
    finally:
        inner(engine, sandbox, "docker", "rm", "-f", "sleepers")


@pytest.mark.skipif(
    not os.environ.get("MOBYLAB_TEST_FORK_BOMB"),
    reason="opt-in (MOBYLAB_TEST_FORK_BOMB=1): on a loaded 2-core machine the bombed seat "
    "thrashed at its memory limit, its processes could not die, and the engine's calls on "
    "that sandbox hung, stalling every later test",
)
def test_a_fork_bomb_fills_only_its_own_seats_pids(served: Served, engine: Engine) -> None:
    async def bomb_and_probe() -> None:
        async with attendee(served, 2) as bombing:
            # A line of its own: the megabyte an earlier test pasted may still be on its line.
            await bombing.send_str("i\x03\r")
            await bombing.send_str("iecho fresh-$((4*4))\r")
            await _read_until(bombing, b"fresh-16", 60)
            await bombing.send_str(f"i{FORK_BOMB}\r")
            peak, deadline = 0, time.monotonic() + 20
            while peak < DEFAULT_PIDS * 0.95 and time.monotonic() < deadline:
                peak = max(peak, await asyncio.to_thread(sandbox_pids, engine, served.sandbox(2)))
            assert DEFAULT_PIDS * 0.95 <= peak <= DEFAULT_PIDS, peak
            await still_serving(served, 1, 11)
        # Once the bomb stops forking, its processes end (their retries too) and its
        # seat forks again: /bin/echo is a new process.
        deadline = time.monotonic() + 150
        while await asyncio.to_thread(sandbox_pids, engine, served.sandbox(2)) > 200:
            assert time.monotonic() < deadline, "the fork bomb's processes did not end"
            await asyncio.sleep(1)
        async with attendee(served, 2) as ws:
            await ws.send_str("i/bin/echo back-$((2*21))\r")
            await _read_until(ws, b"back-42", 30)

    asyncio.run(bomb_and_probe())


def test_a_full_tmp_stops_at_its_size_and_the_seats_go_on(served: Served, engine: Engine) -> None:
    limits = SeatLimits()
    sandbox = served.sandbox(2)
    filled = inner(engine, sandbox, "sh", "-c",
                   "head -c 400M /dev/zero > /tmp/fill; du -k /tmp/fill")  # fmt: skip
    assert "No space left on device" in filled, filled
    size = re.search(r"(\d+)\s+/tmp/fill", filled)
    assert size and int(size[1]) * 1024 <= limits.scratch, filled
    assert inner(engine, sandbox, "rm", "/tmp/fill").startswith("0:")
    assert inner(engine, sandbox, "docker", "info", "--format", "{{.Name}}") == "0:seat-2\n"
    asyncio.run(still_serving(served, 1, 13))


def test_a_sandbox_past_its_disk_limit_is_removed_and_the_others_go_on(
    served: Served, engine: Engine
) -> None:
    """Seat 3 writes 1 GiB into its inner /var/lib/docker, past the room's 512 MiB."""
    sandbox = served.sandbox(3)
    inner(engine, sandbox, "sh", "-c", "head -c 1G /dev/zero > /var/lib/docker/fill")
    deadline = time.monotonic() + 60
    while "removed" not in (seat := seats_data(served)[2])["message"]:
        assert time.monotonic() < deadline, f"seat 3 not removed after 60s: {seat}"
        time.sleep(1)
    assert seat["state"] == "down", seat
    assert "to disk, over its 536.9 MB: removed" in seat["message"], seat
    assert "to disk, over its" in served.output.read_text()
    # Its container and volumes are gone, and what it wrote with them.
    assert [name for name in labelled(engine, served.key) if name.startswith(sandbox)] == []
    asyncio.run(still_serving(served, 1, 17))


def test_a_sandbox_that_dies_marks_its_seat_down_and_the_others_go_on(
    served: Served, engine: Engine
) -> None:
    client = engine.client()
    try:
        client.containers.get(served.sandbox(2)).kill()
    finally:
        client.close()
    deadline = time.monotonic() + 60
    while (states := {s["seat"]: s["state"] for s in seats_data(served)}) != {
        1: "ready",
        2: "down",
        3: "down",
    }:
        assert time.monotonic() < deadline, f"seat 2 not down after 60s: {states}"
        time.sleep(0.5)

    async def reopen() -> None:
        async with aiohttp.ClientSession() as client:
            ticket = await _ticket(client, served, {"token": served.token(2)})
            async with client.ws_connect(f"{served.url}/ws?ticket={ticket}",
                                         origin=served.origin) as ws:  # fmt: skip
                said = json.loads((await ws.receive(timeout=30)).data)
                assert said["state"] == "down" and "sandbox stopped" in said["message"]
            ticket = await _ticket(client, served, {"token": served.token(1)})
            async with client.ws_connect(f"{served.url}/ws?ticket={ticket}",
                                         origin=served.origin) as ws:  # fmt: skip
                await ws.receive(timeout=30)
                await ws.send_str("iecho alive-$((3*3))\r")
                await _read_until(ws, b"alive-9", 30)

    asyncio.run(reopen())


def test_status_and_the_board_show_the_rooms_seats(served: Served) -> None:
    """workshop.status and workshop.board, without hosts, in the server's workspace: one
    row per seat with its attendee, step and verdict, and the down seats said down."""
    # The server rewrites room.json within a second of a change: the last test's may be
    # that close.
    deadline = time.monotonic() + 10
    while (states := {s["number"]: s["state"] for s in room_of(served)["seats"]}) != {
        1: "ready",
        2: "down",
        3: "down",
    }:
        assert time.monotonic() < deadline, f"room.json still says {states}"
        time.sleep(0.2)
    env = {**os.environ, "MOBYLAB_WORKSPACE": str(served.workspace), "COLUMNS": "200"}
    done = subprocess.run(invoke_argv("workshop.status", "--json"), env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    # Two seats are down: status fails as it does for unreachable hosts.
    assert done.returncode == 1, done.stderr
    rows = {row["host"].split()[0]: row for row in json.loads(done.stdout)}
    port = served.url.rsplit(":", 1)[1]
    assert sorted(rows) == ["seat-1", "seat-2", "seat-3"]
    assert rows["seat-1"]["host"] == f"seat-1 @ 127.0.0.1:{port}"
    one = rows["seat-1"]["data"]
    assert (one["progress"], one["steps"], one["lab"]) == ("FINISHED", "1/1", "hello")
    assert rows["seat-2"]["state"] == "UNREACHABLE", rows["seat-2"]
    assert "sandbox stopped" in rows["seat-2"]["message"]
    assert "over its 536.9 MB" in rows["seat-3"]["data"]["where"]
    assert "3 seats: 2 DOWN, 1 FINISHED" in done.stderr
    table = subprocess.run(invoke_argv("workshop.status"), env=env,
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert f"seat-1 @ 127.0.0.1:{port}" in table.stdout and "FINISHED" in table.stdout
    with running_board(invoke_argv("workshop.board"), env) as (url, snapshot):
        seen = {host["label"].split()[0]: host for host in snapshot["hosts"]}
        assert seen["seat-1"]["data"]["progress"] == "FINISHED"
        assert seen["seat-2"]["down"] and seen["seat-3"]["down"]
        with urllib.request.urlopen(url + "board", timeout=10) as answer:
            page = answer.read().decode()
        assert f'href="{served.board}">live view</a>' in page
        with urllib.request.urlopen(url + "hosts/0/report", timeout=10) as answer:
            assert "Hello, mobylab" in answer.read().decode()


def test_a_seat_on_a_dev_build_runs_the_builds_daemon(engine: Engine, tmp_path: Path) -> None:
    """--engine dev:<commit>: each sandbox runs the build's dockerd from its bundles (here
    the machine's own dockerd laid out as a build's) in the build's dev image."""
    workspace = tmp_path / "ws"
    plan = plan_today(tmp_path / "src")
    bundles = bundles_today(tmp_path / "src")
    record = workspace / "builds" / plan.commit / "upstream" / "manifest.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"plan": plan.as_dict(), "bundles_dir": str(bundles),
                                  "built_at": "2026-01-01T00:00:00Z"}))  # fmt: skip
    before = server_keys(engine)
    server = start_server(workspace, 1, tmp_path / "dev.log", "--engine", f"dev:{plan.commit[:10]}")
    try:
        wait_ready(server, 1)
        [key] = server_keys(engine) - before
        sandbox = f"mobylab-serve-{key}-1"
        started = inner(engine, sandbox, "cat", "/mobylab/run/dockerd.path")
        assert started == "0:/usr/src/moby/bundles/binary-daemon/dockerd\n", started

        async def check() -> None:
            async with aiohttp.ClientSession() as client:
                ticket = await _ticket(client, server, {"token": server.token(1)})
                async with client.ws_connect(f"{server.url}/ws?ticket={ticket}",
                                             origin=server.origin) as ws:  # fmt: skip
                    await ws.receive(timeout=30)
                    await ws.send_str("idocker build -t $TAG:latest . && lab check\r")
                    await _read_until(ws, b"step 1 passed", 120)

        asyncio.run(check())
    finally:
        assert server.stop() == 0, server.output.read_text()
    assert labelled(engine, key) == []


def test_too_many_seats_and_a_busy_port_are_refused_up_front(tmp_path: Path) -> None:
    env = {**os.environ, "MOBYLAB_WORKSPACE": str(tmp_path / "ws")}
    many = subprocess.run(invoke_argv("workshop.serve", "hello", "--seats", "4000"), env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert many.returncode != 0
    assert "4000 seats need 4096000 MiB of memory (1024 MiB each)" in many.stderr, many.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        taken = subprocess.run(invoke_argv("workshop.serve", "hello", "--port", port), env=env,
                               capture_output=True, text=True, timeout=120)  # fmt: skip
    assert taken.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in taken.stderr, taken.stderr
    assert "--port" in taken.stderr


def test_the_server_ends_itself_at_its_expiry_and_leaves_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    """Seats still starting at the expiry are finished, then removed with the others."""
    before = server_keys(engine)
    server = start_server(tmp_path / "ws", 1, tmp_path / "expire.log", "--expire", "30s")
    try:

        async def join_the_room() -> None:
            async with aiohttp.ClientSession() as client:
                body = {"code": server.room_code.lower()}
                async with client.post(f"{server.url}/api/ticket", json=body,
                                       headers={"Origin": server.origin}) as answer:  # fmt: skip
                    assert (await answer.json())["token"] == server.token(1)

        asyncio.run(join_the_room())
        deadline = time.monotonic() + 30
        while not server_keys(engine) - before:
            assert time.monotonic() < deadline, "no sandbox appeared in 30s"
            time.sleep(0.5)
        assert server.proc.wait(timeout=180) == 0, server.output.read_text()
    finally:
        server.stop()
    assert server_keys(engine) - before == set()


def test_a_killed_server_leaves_nothing_after_the_next_start(
    served: Served, engine: Engine, tmp_path: Path
) -> None:
    key = served.key
    assert labelled(engine, key)
    served.stop(signal.SIGKILL)
    assert labelled(engine, key), "a killed server cannot clean up"
    second = start_server(tmp_path / "ws", 1, tmp_path / "second.log")
    try:
        assert not labelled(engine, key), "the next server did not reap the killed one's"
        wait_ready(second, 1)
    finally:
        code = second.stop(signal.SIGTERM)
    assert code == 0, second.output.read_text()
    assert labelled(engine, second.key) == [], "SIGTERM left labelled objects behind"

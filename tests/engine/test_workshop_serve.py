"""workshop.serve for real: `invoke workshop.serve hello --seats 2` on the machine's
engine, one attendee in headless Chromium typing into the page's terminal until
`lab check` passes, the board's row and its read-only view; the server's locks
(a wrong token, a foreign Origin, a reused ticket, a viewer typing); two seats
that cannot see each other; and a killed server whose sandboxes the next one reaps."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import docker
import pytest

from mobylab.engine import Engine
from mobylab.workshop.serve.seats import MAX_MESSAGE
from tests.engine.test_devenv_helpers import bundles_today, plan_today
from tests.fixtures.browser import Browser
from tests.fixtures.cli import invoke_argv

pytestmark = [pytest.mark.engine, pytest.mark.slow]
SERVE_LABEL = "org.mobylab.serve"
# Two sandboxes start their daemons and get the lab's base image copied in.
READY_SECONDS = 240.0
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

    @property
    def origin(self) -> str:
        return self.url

    @property
    def board_token(self) -> str:
        return self.board.split("#", 1)[1]

    def token(self, seat: int) -> str:
        return self.links[seat].split("#", 1)[1]

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
    return Served(proc, f"http://127.0.0.1:{port}", links, codes, board[1], room[1], log)


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


def sandbox_of(engine: Engine, seat: int) -> str:
    client = engine.client()
    try:
        found = client.containers.list(filters={"label": f"org.mobylab.seat={seat}"})
    finally:
        client.close()
    assert found, f"no sandbox for seat {seat}"
    return str(found[0].name)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, engine: Engine) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("serve")
    server = start_server(root / "ws", 2, root / "serve.log")
    try:
        wait_ready(server, 2)
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
    assert done == {1: 1, 2: 0}
    # Reattaching (a closed tab come back) shows the same shell with its scrollback.
    navigate(browser, served.url + "/seat")
    browser.wait_for("document.getElementById('status').textContent.includes('connected')", 30)
    browser.wait_for(f"{SCREEN}.includes('step 1 passed')", 30)


def test_the_board_shows_every_seat_and_a_read_only_view(served: Served, browser: Browser) -> None:
    navigate(browser, served.board)
    browser.wait_for("document.querySelectorAll('#seats tbody tr').length === 2", 30)
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
            # Both seats were taken by the tests before: the room's code has none left.
            async with client.post(f"{served.url}/api/ticket", json={"code": served.room_code},
                                   headers={"Origin": served.origin}) as answer:  # fmt: skip
                assert answer.status == 409
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
    sandbox = sandbox_of(engine, 2)
    assert inner(engine, sandbox, "ls", "/tmp/viewer-was-here").split(":")[0] != "0"


def test_two_seats_cannot_see_each_others_containers_or_networks(
    served: Served, engine: Engine
) -> None:
    one, two = sandbox_of(engine, 1), sandbox_of(engine, 2)
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
            assert [s["state"] for s in await asyncio.to_thread(seats_data, served)] == [
                "ready",
                "ready",
            ]
            pasting.cancel()
            await flooding.close()

    asyncio.run(flood_and_probe())


def test_a_sandbox_that_dies_marks_its_seat_down_and_the_others_go_on(
    served: Served, engine: Engine
) -> None:
    client = engine.client()
    try:
        client.containers.get(sandbox_of(engine, 2)).kill()
    finally:
        client.close()
    deadline = time.monotonic() + 60
    while (states := {s["seat"]: s["state"] for s in seats_data(served)}) != {
        1: "ready",
        2: "down",
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
    [key] = server_keys(engine)
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
    assert labelled(engine) == [], "SIGTERM left labelled objects behind"

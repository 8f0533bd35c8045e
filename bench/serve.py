"""workshop.serve: a keystroke's echo through the page's websocket against `docker exec -it`
in a local terminal, on the same sandbox's shell; and a room of 1, 4 and 8 seats on this
machine: the time until every seat's link answers with a ready shell, the memory a seat
takes, and the server's CPU while eight attendees type."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import re
import select
import signal
import socket
import statistics
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp

from .common import BenchError, remove_folder, scratch, task_argv
from .harness import Benchmark, Ratio, Side, Stats

KEYS = 200
# What mobylab may add to a keystroke's round trip at the median.
ADDED_LIMIT = 0.010
PAGE = "through the page"
LOCAL = "docker exec -it"
ROOM_SIZES = (1, 4, 8)
# Attendees typing: a key every KEY_INTERVAL seconds (about 80 words a minute) each.
TYPING_SECONDS = 30.0
KEY_INTERVAL = 0.15
PROMPT = b"[lab hello"
CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


class Served:
    """`invoke workshop.serve hello --seats N`, and its pages' websockets held open on a
    loop of its own (the benchmark's sides are plain calls). `ready`: wait for seat 1's
    shell and open its socket (the echo benchmark); else the caller waits (shells_ready)."""

    def __init__(self, seats: int = 1, ready: bool = True) -> None:
        self.folder = scratch("serve")
        self.port = _free_port()
        self.seats = seats
        self.log = self.folder / "serve.log"
        self.started = time.perf_counter()
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                task_argv("workshop.serve", "hello", "--port", str(self.port),
                          "--seats", str(seats)),
                env={**os.environ, "MOBYLAB_WORKSPACE": str(self.folder / "ws")},
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.page_samples: list[float] = []
        self.local_samples: list[float] = []
        try:
            text = self._wait_for("board (yours", 120)
            self.tokens = {int(m[1]): m[2] for m in re.finditer(r"seat-(\d+)\s+\S+#(\S+)", text)}
            if ready:
                self._wait_for("seat-1 ready", 300)
                self.container = self._run(self._open())
        except BaseException:
            self.close()
            raise

    def sandbox(self, seat: int) -> str:
        """A seat's sandbox, by name (the server's key is its workspace's folder)."""
        [folder] = (self.folder / "ws" / "serve").iterdir()
        return f"mobylab-serve-{folder.name}-{seat}"

    async def _attendee(self, seat: int) -> aiohttp.ClientWebSocketResponse:
        async with self.client.post(f"{self.url}/api/ticket", json={"token": self.tokens[seat]},
                                    headers={"Origin": self.url}) as answer:  # fmt: skip
            ticket = (await answer.json())["ticket"]
        return await self.client.ws_connect(f"{self.url}/ws?ticket={ticket}", origin=self.url)

    async def _shells(self, timeout: float) -> dict[int, aiohttp.ClientWebSocketResponse]:
        """Every seat's page socket, once its shell's prompt shows (its sandbox made); then
        each is read on, as a page reads its screen (and answers the server's pings)."""

        async def shell(seat: int) -> aiohttp.ClientWebSocketResponse:
            ws = await self._attendee(seat)
            seen = b""
            while PROMPT not in seen:
                message = await ws.receive(timeout=timeout)
                if message.type == aiohttp.WSMsgType.BINARY:
                    seen = (seen + message.data)[-4096:]
                elif message.type != aiohttp.WSMsgType.TEXT:
                    raise BenchError(f"seat {seat} closed before its shell was ready")
            self.readers.append(asyncio.ensure_future(read_on(ws)))
            return ws

        async def read_on(ws: aiohttp.ClientWebSocketResponse) -> None:
            while (await ws.receive()).type not in CLOSED:
                pass

        self.client = aiohttp.ClientSession()
        self.readers: list[asyncio.Future[None]] = []
        sockets = await asyncio.gather(*(shell(seat) for seat in self.tokens))
        return dict(zip(self.tokens, sockets, strict=True))

    def shells_ready(self, timeout: float = 600) -> float:
        """Seconds from the server's start until every seat's link answered with a ready
        shell (the sockets stay open for the measurements after)."""
        self.sockets = self._run(self._shells(timeout))
        return time.perf_counter() - self.started

    def cpu_seconds(self) -> float:
        """The server process's CPU time so far (user + system)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    async def _type(self, seconds: float, typing: bool) -> int:
        """`seconds` of every attendee's page reading its screen and, when `typing`, sending
        a key every KEY_INTERVAL (a line cleared every 40 keys); the keys sent."""
        sent = 0
        end = time.monotonic() + seconds

        async def attendee(ws: aiohttp.ClientWebSocketResponse, offset: float) -> None:
            nonlocal sent
            await asyncio.sleep(offset)
            count = 0
            while time.monotonic() < end:
                count += 1
                await ws.send_str("i\x15" if count % 40 == 0 else "i" + chr(97 + count % 26))
                sent += 1
                await asyncio.sleep(KEY_INTERVAL)

        if not typing:
            await asyncio.sleep(seconds)
            return 0
        spread = KEY_INTERVAL / max(1, len(self.sockets))
        await asyncio.gather(
            *(attendee(ws, n * spread) for n, ws in enumerate(self.sockets.values()))
        )
        return sent

    def load(self, seconds: float, typing: bool) -> dict[str, float]:
        """The server's CPU over `seconds` of its attendees reading (and typing)."""
        before, started = self.cpu_seconds(), time.perf_counter()
        keys = self._run(self._type(seconds, typing))
        wall = time.perf_counter() - started
        used = self.cpu_seconds() - before
        return {"keys": keys, "seconds": round(wall, 1), "cpu_seconds": round(used, 2),
                "cores": round(used / wall, 3)}  # fmt: skip

    def _wait_for(self, marker: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while marker not in (text := self.log.read_text()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"workshop.serve did not get to {marker!r}: {text[-500:]}")
            time.sleep(0.2)
        return text

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(120)

    async def _open(self) -> str:
        self.client = aiohttp.ClientSession()
        self.ws = await self._attendee(1)
        await self.ws.receive(timeout=30)
        return self.sandbox(1)

    async def _page_keys(self) -> None:
        for _ in range(KEYS):
            started = time.perf_counter()
            await self.ws.send_str("ia")
            while True:
                message = await self.ws.receive(timeout=10)
                if message.type == aiohttp.WSMsgType.BINARY and b"a" in message.data:
                    break
            self.page_samples.append(time.perf_counter() - started)
        await self.ws.send_str("i\x15")

    def page(self) -> None:
        self._run(self._page_keys())

    def local(self) -> None:
        """The same keys into `docker exec -it` on a terminal of its own."""
        pid, fd = pty.fork()
        if pid == 0:
            argv = ["docker", "exec", "-it", "-e", "PS1=$ ", self.container, "bash", "--norc", "-i"]
            os.execvp("docker", argv)
        try:
            _read_until(fd, b"$ ", 30)
            for _ in range(KEYS):
                started = time.perf_counter()
                os.write(fd, b"a")
                _read_until(fd, b"a", 10)
                self.local_samples.append(time.perf_counter() - started)
        finally:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(fd)

    def close(self) -> None:
        async def shut() -> None:
            for reader in getattr(self, "readers", []):
                reader.cancel()
            for ws in [*getattr(self, "sockets", {}).values(), getattr(self, "ws", None)]:
                if ws is not None:
                    await ws.close()
            if hasattr(self, "client"):
                await self.client.close()

        with contextlib.suppress(Exception):
            self._run(shut())
        self.loop.call_soon_threadsafe(self.loop.stop)
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=120)
        remove_folder(self.folder)


def _read_until(fd: int, wanted: bytes, timeout: float) -> None:
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise RuntimeError(f"no {wanted!r} from docker exec in {timeout:.0f}s")
        seen = (seen + os.read(fd, 4096))[-4096:]


def echo() -> Benchmark:
    served: dict[str, Served] = {}

    def sandbox() -> Served:
        if "it" not in served:
            served["it"] = Served()
        return served["it"]

    def extra(stats: dict[str, Stats]) -> dict[str, Any]:
        found = sandbox()
        figures: dict[str, Any] = {}
        for name, samples in ((PAGE, found.page_samples), (LOCAL, found.local_samples)):
            figures[name] = {
                "p50_ms": round(statistics.median(samples) * 1000, 2),
                "p99_ms": round(percentile(samples, 0.99) * 1000, 2),
            }
        added = figures[PAGE]["p50_ms"] - figures[LOCAL]["p50_ms"]
        figures["added_p50_ms"] = round(added, 2)
        figures["met"] = added < ADDED_LIMIT * 1000
        return figures

    def teardown() -> None:
        if "it" in served:
            served.pop("it").close()

    return Benchmark(
        name="serve-echo",
        description=f"{KEYS} keystrokes, each timed from sent to echoed: through the page's "
        "websocket (workshop.serve hello, one seat) and with `docker exec -it` on a local "
        "terminal into the same sandbox",
        target=f"mobylab adds under {ADDED_LIMIT * 1000:.0f} ms at p50",
        sides=[Side(PAGE, lambda: sandbox().page()), Side(LOCAL, lambda: sandbox().local())],
        ratios=[Ratio(f"{PAGE} / {LOCAL}", PAGE, LOCAL)],
        setup=sandbox,
        extra=extra,
        teardown=teardown,
    )


def seat_memory(sandboxes: list[str]) -> dict[str, Any]:
    """Each sandbox's memory as the engine counts it (its daemon, shell and containers),
    with and without the page cache, in MiB: the mean and the largest."""
    from .common import host_engine

    client = host_engine().client()
    try:
        found = [client.api.stats(name, stream=False)["memory_stats"] for name in sandboxes]
    finally:
        client.close()
    usage = [m.get("usage", 0) / 2**20 for m in found]
    cache = [(m.get("stats") or {}).get("cache", 0) / 2**20 for m in found]
    without = [u - c for u, c in zip(usage, cache, strict=True)]
    return {
        "usage_mib": {"mean": round(statistics.mean(usage), 1), "max": round(max(usage), 1)},
        "without_cache_mib": {
            "mean": round(statistics.mean(without), 1),
            "max": round(max(without), 1),
        },
    }


def room() -> Benchmark:
    """1, 4 and 8 seats, one room at a time, in that order: the 8-seat room stays up after
    its round for the memory and typing measurements."""
    rooms: dict[str, Served] = {}

    def stop() -> None:
        if "it" in rooms:
            rooms.pop("it").close()

    def side(seats: int) -> Side:
        def run() -> None:
            rooms["it"] = Served(seats, ready=False)
            rooms["it"].shells_ready()

        return Side(f"{seats} seat" + ("s" if seats > 1 else ""), run, prepare=stop)

    def extra(stats: dict[str, Stats]) -> dict[str, Any]:
        served = rooms["it"]
        idle = served.load(TYPING_SECONDS, typing=False)
        typing = served.load(TYPING_SECONDS, typing=True)
        return {
            "seats": served.seats,
            "memory_per_seat": seat_memory([served.sandbox(n) for n in served.tokens]),
            "server_rss_mib": round(served.rss() / 2**20, 1),
            "server_cpu_reading": idle,
            "server_cpu_typing": typing,
        }

    return Benchmark(
        name="serve-room",
        description="`invoke workshop.serve hello --seats N` on this machine's engine, timed "
        "from its start until every seat's page socket shows its shell's prompt; then, on "
        f"the {ROOM_SIZES[-1]}-seat room, each sandbox's memory (engine stats), the server "
        f"process's RSS, and its CPU over {TYPING_SECONDS:.0f} s of every attendee's page "
        f"reading, then typing a key every {KEY_INTERVAL * 1000:.0f} ms",
        target="reported",
        sides=[side(seats) for seats in ROOM_SIZES],
        ratios=[Ratio("4 / 1", "4 seats", "1 seat"), Ratio("8 / 1", "8 seats", "1 seat")],
        extra=extra,
        teardown=stop,
        alternate=False,
        rounds=1,
    )

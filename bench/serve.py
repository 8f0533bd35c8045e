"""workshop.serve: a keystroke's echo through the page's websocket against `docker exec -it`
in a local terminal, on the same sandbox's shell."""

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
from typing import Any

import aiohttp

from .common import remove_folder, scratch, task_argv
from .harness import Benchmark, Ratio, Side, Stats

KEYS = 200
# What mobylab may add to a keystroke's round trip at the median.
ADDED_LIMIT = 0.010
PAGE = "through the page"
LOCAL = "docker exec -it"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


class Served:
    """One seat served by `invoke workshop.serve hello`, and its page's websocket held open
    on a loop of its own (the benchmark's sides are plain calls)."""

    def __init__(self) -> None:
        self.folder = scratch("serve")
        self.port = _free_port()
        self.log = self.folder / "serve.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                task_argv("workshop.serve", "hello", "--port", str(self.port)),
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
            text = self._wait_for("seat-1 ready", 300)
            self.token = re.search(r"seat#(\S+)", text)[1]  # type: ignore[index]
            self.container = self._run(self._open())
        except BaseException:
            self.close()
            raise

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
        async with self.client.post(f"{self.url}/api/ticket", json={"token": self.token},
                                    headers={"Origin": self.url}) as answer:  # fmt: skip
            ticket = (await answer.json())["ticket"]
        self.ws = await self.client.ws_connect(f"{self.url}/ws?ticket={ticket}", origin=self.url)
        await self.ws.receive(timeout=30)
        import docker

        client = docker.from_env()
        try:
            found = client.containers.list(filters={"label": "org.mobylab.seat=1"})
            return str(found[0].name)
        finally:
            client.close()

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
            if hasattr(self, "ws"):
                await self.ws.close()
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

"""A seat's shell: one long-lived TTY exec in its sandbox, through the engine API.

The exec is created with a TTY and started with the connection upgraded, so its
socket carries the shell's raw output one way and keystrokes the other. Output
goes to every subscriber (the attendee's page, board viewers) as it comes, and
the last SCROLLBACK bytes are kept so a page that reattaches sees its screen.
A subscriber too slow to keep up is dropped (its page reconnects and gets the
scrollback) rather than letting the server's memory grow.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from ...engine import Engine

SCROLLBACK = 256 * 1024
READ_CHUNK = 64 * 1024
# Output frames queued for one subscriber before it counts as too slow.
SUBSCRIBER_QUEUE = 512


def trimmed(buffer: bytes, limit: int) -> bytes:
    """Pure: the last `limit` bytes of the output, cut after a line end when there is one,
    so a reattached screen does not start in the middle of an escape sequence."""
    if len(buffer) <= limit:
        return buffer
    tail = buffer[-limit:]
    cut = tail.find(b"\n")
    return tail[cut + 1 :] if 0 <= cut < len(tail) - 1 else tail


class Subscriber:
    """One page's view of the output: a bounded queue; None ends it."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self.overflowed = False

    def offer(self, data: bytes | None) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            self.overflowed = True
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.get_nowait()
                self.queue.put_nowait(None)


class Terminal:
    """The shell of one seat; `run` keeps one going until the terminal is closed."""

    def __init__(
        self,
        host: Engine,
        container: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        workdir: str,
    ) -> None:
        self.host = host
        self.container = container
        self.argv = list(argv)
        self.env = dict(env)
        self.workdir = workdir
        self.scrollback = b""
        self.subscribers: set[Subscriber] = set()
        self.size = (80, 24)
        self._api: Any = None
        self._exec_id = ""
        self._sock: socket.socket | None = None
        self._response: Any = None
        self._closed = False
        self._sending: set[asyncio.Future[None]] = set()

    def subscribe(self) -> tuple[Subscriber, bytes]:
        """A new subscriber, and the scrollback to show first."""
        subscriber = Subscriber()
        self.subscribers.add(subscriber)
        return subscriber, self.scrollback

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    def _publish(self, data: bytes) -> None:
        self.scrollback = trimmed(self.scrollback + data, SCROLLBACK)
        for subscriber in list(self.subscribers):
            subscriber.offer(data)

    def _open(self) -> None:
        if self._api is None:
            self._api = self.host.api(timeout=60)
        api = self._api
        self._exec_id = api.exec_create(
            self.container,
            self.argv,
            stdin=True,
            tty=True,
            environment=self.env,
            workdir=self.workdir,
        )["Id"]
        response = api.exec_start(self._exec_id, tty=True, socket=True)
        raw = getattr(response, "_sock", response)
        raw.setblocking(False)
        self._response, self._sock = response, raw
        with contextlib.suppress(Exception):
            api.exec_resize(self._exec_id, width=self.size[0], height=self.size[1])

    async def run(self) -> None:
        """Keep a shell going: when the attendee leaves it (`exit`), a new one starts."""
        loop = asyncio.get_running_loop()
        while not self._closed:
            await asyncio.to_thread(self._open)
            sock = self._sock
            assert sock is not None
            while True:
                try:
                    data = await loop.sock_recv(sock, READ_CHUNK)
                except OSError:
                    data = b""
                if not data:
                    break
                self._publish(data)
            self._close_socket()
            if not self._closed:
                self._publish(b"\r\n[the shell ended: a new one starts]\r\n")
                await asyncio.sleep(0.5)

    async def write(self, data: bytes) -> None:
        """Keystrokes (or a paste) for the shell; waits while the shell's input is full
        (the page's socket is not read meanwhile: back-pressure up to the browser). Input
        for a shell that ends meanwhile is dropped."""
        sock = self._sock
        if sock is None:
            return
        sending = asyncio.ensure_future(asyncio.get_running_loop().sock_sendall(sock, data))
        self._sending.add(sending)
        try:
            await sending
        except OSError:
            return
        except asyncio.CancelledError:
            if self._sock is sock:
                raise
        finally:
            self._sending.discard(sending)

    async def resize(self, cols: int, rows: int) -> None:
        self.size = (cols, rows)
        if self._api is None or not self._exec_id:
            return
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self._api.exec_resize, self._exec_id, width=cols, height=rows)

    def _close_socket(self) -> None:
        for sending in self._sending:
            sending.cancel()
        for item in (self._sock, self._response):
            with contextlib.suppress(Exception):
                if item is not None:
                    item.close()
        self._sock = self._response = None

    def close(self) -> None:
        self._closed = True
        self._close_socket()
        for subscriber in list(self.subscribers):
            subscriber.offer(None)
        if self._api is not None:
            with contextlib.suppress(Exception):
                self._api.close()

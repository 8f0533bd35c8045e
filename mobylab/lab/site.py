"""The fixture web site a lab serves on 127.0.0.1 while it runs.

`{{origin}}` in a served HTML page becomes the server's own origin
(`http://127.0.0.1:PORT`), so an absolute link to the page's host is internal.
When the preferred port is taken, the system picks a free one.
"""

from __future__ import annotations

import contextlib
import errno
import http.server
import io
import tarfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import LabError

HOST = "127.0.0.1"
# Seconds between the server loop's checks for shutdown().
SHUTDOWN_POLL = 0.05


def render_page(text: str, origin: str) -> str:
    """Pure: a fixture page as served."""
    return text.replace("{{origin}}", origin)


class _Handler(http.server.SimpleHTTPRequestHandler):
    origin = ""

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the lab shows app output
        pass

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if path.suffix != ".html" or not path.is_file():
            return super().send_head()
        body = render_page(path.read_text(errors="replace"), self.origin).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)


class FixtureSite:
    """A threaded HTTP server for one folder; a context manager."""

    def __init__(self, root: Path, port: int = 0) -> None:
        self.root = root
        self.preferred = port
        self.server: http.server.ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def start(self) -> FixtureSite:
        root = str(self.root)
        # One handler class per site: the origin depends on the port it got.
        site_handler: type[_Handler] = type("SiteHandler", (_Handler,), {})

        def handler(*args: Any, **kwargs: Any) -> _Handler:
            return site_handler(*args, directory=root, **kwargs)

        server = None
        for port in dict.fromkeys((self.preferred, 0)):
            try:
                server = http.server.ThreadingHTTPServer((HOST, port), handler)
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or port == 0:
                    raise LabError(f"cannot serve the fixture site on {HOST}: {exc}") from None
        assert server is not None
        server.daemon_threads = True
        self.server = server
        site_handler.origin = f"http://{HOST}:{self.port}"
        # shutdown() waits for the loop's next poll: a short interval keeps the end
        # of a lab from idling (the default 0.5 s was a tenth of a warm run).
        self.thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL}, daemon=True
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self) -> FixtureSite:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def rendered_site_tar(root: Path, origin: str, folder: str = "site") -> bytes:
    """Pure-ish: the site's files as a tar under `folder/`, pages rendered for `origin`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(root.rglob("*")):
            if not path.is_file():
                continue
            data = path.read_bytes()
            if path.suffix == ".html":
                data = render_page(data.decode(errors="replace"), origin).encode()
            info = tarfile.TarInfo(f"{folder}/{path.relative_to(root).as_posix()}")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class ContainerSite:
    """The fixture site served by busybox httpd in a container on the engine's host network.

    For an engine whose host network is not this machine's (the dev daemon runs in
    its own container), 127.0.0.1 in its `--network host` containers is that
    container's loopback: the site has to live there too.
    """

    def __init__(self, engine: Any, root: Path, image: str, port: int, labels: dict[str, str]):
        self.engine = engine
        self.root = root
        self.image = image
        self.port = port or 8765
        self.labels = labels
        self.container: Any = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def start(self, attempts: int = 5) -> ContainerSite:
        import random

        client = self.engine.client(timeout=120)
        for _ in range(attempts):
            container = client.containers.create(
                self.image,
                ["httpd", "-f", "-p", f"{HOST}:{self.port}", "-h", "/site"],
                network_mode="host",
                labels=self.labels,
            )
            container.put_archive("/", rendered_site_tar(self.root, f"http://{HOST}:{self.port}"))
            container.start()
            if self._answers(container):
                self.container = container
                return self
            container.remove(force=True)
            self.port = random.randint(20000, 60000)  # taken there: try another
        raise LabError(f"cannot serve the fixture site on the {self.engine.name} engine")

    def _answers(self, container: Any, timeout: float = 10.0) -> bool:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            container.reload()
            if container.status not in ("created", "running"):
                return False
            code, _ = container.exec_run(["wget", "-q", "-O", "/dev/null", self.url])
            if code == 0:
                return True
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        """Remove the site's container; an engine that died meanwhile took it with it."""
        if self.container is not None:
            container, self.container = self.container, None
            # The engine is gone, or the container already is: nothing left to stop.
            with contextlib.suppress(Exception):
                container.remove(force=True)

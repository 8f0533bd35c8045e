"""The fixture web site a lab serves on 127.0.0.1 while it runs.

`{{origin}}` in a served HTML page becomes the server's own origin
(`http://127.0.0.1:PORT`), so an absolute link to the page's host is internal.
When the preferred port is taken, the system picks a free one.
"""

from __future__ import annotations

import errno
import io
import http.server
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import LabError

HOST = "127.0.0.1"


def render_page(text: str, origin: str) -> str:
    """Pure: a fixture page as served."""
    return text.replace("{{origin}}", origin)


class _Handler(http.server.SimpleHTTPRequestHandler):
    origin = ""

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the lab shows app output
        pass

    def send_head(self):  # type: ignore[no-untyped-def]
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
        site_handler = type("SiteHandler", (_Handler,), {})

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
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)
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

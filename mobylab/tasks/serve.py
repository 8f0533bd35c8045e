"""workshop.serve: attendees need only a browser (a sandbox and a terminal per seat)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke import task

from .. import ui
from ..lab import catalog
from ..session import Session
from ..workshop.hosts import resolve_inventory
from ..workshop.serve.seats import (
    LOOPBACK,
    SeatLimits,
    listen_warning,
    parse_duration,
    parse_size,
)
from .base import friendly_errors

if TYPE_CHECKING:
    from ..workshop.serve.server import ServeLinks


def _announce(links: ServeLinks) -> None:
    # One line a seat, never wrapped: the links are copied from here.
    for name, link, code in links.seats:
        ui.out.print(f"{name}  {link}  code {code}", markup=False, highlight=False, soft_wrap=True)
    ui.info(
        f"attendees without a link: {links.url}/ and their seat's code, "
        f"or the room's code {links.room_code} for a free seat"
    )
    ui.out.print(f"board (yours, keep it private): {links.board}", markup=False, soft_wrap=True)
    ui.info("Ctrl-C stops the server and removes every sandbox")


@task(
    auto_shortflags=False,
    help={
        "seats": "how many attendees (one sandbox each; default 1)",
        "engine": "each sandbox's daemon: host (Debian's dockerd in mobylab's dind image), "
        "dev (the last dev build) or dev:<commit> (a build of this workspace)",
        "port": "the port to serve on (default 8095)",
        "listen": f"the address to listen on (default {LOOPBACK}: this machine only)",
        "expire": "stop and remove everything after this long (default 8h)",
        "idle": "remove a seat's sandbox after this long unused (default 2h)",
        "disk": "remove a seat's sandbox when it writes more than this to disk (default 5G)",
        "hosts": "spread the seats over these workshop hosts ([user@]host[:port], comma-"
        "separated; `local` is this machine's engine), each reached over SSH",
        "hosts-file": "the workshop hosts from a file, one per line (# comments)",
        "trust-new-hosts": "accept and record unknown host keys (never changed ones)",
    },
)
@friendly_errors
def serve(
    c,
    name,
    seats=1,
    engine="host",
    port=8095,
    listen=LOOPBACK,
    expire="8h",
    idle="2h",
    disk="5G",
    hosts=None,
    hosts_file=None,
    trust_new_hosts=False,
):
    """Serve LAB to attendees' browsers: a sandbox and a terminal in the page per seat."""
    # The server's libraries (aiohttp, the engine's SDK) load when the task runs.
    from ..workshop.serve.server import ServeOptions
    from ..workshop.serve.server import serve as serve_lab

    session = Session.from_context(c)
    lab = catalog.find_lab(name, session.settings)
    options = ServeOptions(
        seats=int(seats),
        port=int(port),
        listen=listen,
        expire=parse_duration(str(expire)),
        idle=parse_duration(str(idle)),
        engine=engine,
        limits=SeatLimits(disk=parse_size(str(disk))),
        hosts=tuple(resolve_inventory(hosts, hosts_file, ())) if hosts or hosts_file else (),
        trust_new_hosts=bool(trust_new_hosts),
    )
    warning = listen_warning(listen)
    if warning:
        ui.warn(warning)
    serve_lab(session, lab, options, _announce)
    ui.info("served workshop stopped; its sandboxes are removed")

"""workshop.serve --hosts for real: one seat on this machine's engine and one on an sshd
test host, reached through an SSH-forwarded socket. In Chromium the remote seat's
attendee builds the image in the page's terminal and `lab check` passes, as on a local
seat; then the host drops off the network (its sshd and sessions killed): its seat is
down on the board and in its page, and the local seat goes on; the host comes back and
so does its seat, its practice kept, in the page still open.

The test hosts are this machine, so their engine is this machine's, reached over SSH:
the real code path, with the engine's socket forwarded."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest

from mobylab.engine import Engine
from tests.engine.test_workshop_serve import (
    SCREEN,
    _read_until,
    _ticket,
    browser,
    labelled,
    navigate,
    seats_data,
    server_keys,
    start_server,
    type_line,
    wait_ready,
)
from tests.fixtures.browser import Browser
from tests.fixtures.cli import invoke_argv
from tests.workshop.conftest import SSHD, SshFarm, _read_pid, _wait_listening

if TYPE_CHECKING:
    from tests.workshop.conftest import TestHost

pytestmark = [pytest.mark.engine, pytest.mark.slow]
__all__ = ["browser"]  # the Chromium fixture, shared with the local seats' tests
DROP_SECONDS = 60
# A dropped host is asked again every 15 s; the page asks every 10 s.
REJOIN_WAIT = 90


def drop_host(host: TestHost) -> None:
    """The host goes off the network: its sshd stops, and so do the sessions it serves
    (every process of its test user), as when the machine is switched off."""
    if host.pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(host.pid, 9)
    uid = pwd.getpwnam(host.user).pw_uid
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError, StopIteration):
            lines = status.read_text().splitlines()
            owner = next(line for line in lines if line.startswith("Uid:"))
            if int(owner.split()[1]) == uid:
                os.kill(int(status.parent.name), 9)


def restart_host(host: TestHost) -> None:
    """The host's sshd again, with its own config."""
    (host.folder / "sshd.pid").unlink(missing_ok=True)
    subprocess.run([SSHD, "-f", str(host.folder / "sshd_config"),
                    "-E", str(host.folder / "sshd.log")], check=True)  # fmt: skip
    _wait_listening(host.address, host.port)
    host.pid = _read_pid(host.folder / "sshd.pid")


def test_a_seat_on_a_workshop_host_works_like_a_local_one_and_comes_back_with_its_host(
    ssh_farm: SshFarm,
    engine: Engine,
    browser: Browser,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = ssh_farm.host(3)
    monkeypatch.setenv("MOBYLAB_KNOWN_HOSTS", str(ssh_farm.known_hosts))
    monkeypatch.setenv("MOBYLAB_SSH_CONFIG", str(ssh_farm.ssh_config))
    before = server_keys(engine)
    server = start_server(tmp_path / "ws", 2, tmp_path / "serve.log", "--hosts",
                          f"local,{host.spec}")  # fmt: skip
    dropped = False
    try:
        wait_ready(server, 2)
        [key] = server_keys(engine) - before
        assert {s["seat"]: s["host"] for s in seats_data(server)} == {1: "local", 2: host.spec}
        # The remote seat's engine and daemon are reached through the SSH connection.
        tunnel = Path(f"/run/mobylab/serve-{key}-link2")
        assert {p.name for p in tunnel.iterdir()} >= {"ctl", "engine.sock", "seat-2.sock"}

        navigate(browser, server.links[2])
        browser.wait_for("document.getElementById('status').textContent.includes('connected')", 30)
        browser.wait_for(f"{SCREEN}.includes('[lab hello 1/1]')", 30)
        type_line(browser, "docker build -t $TAG:latest . && lab check")
        try:
            browser.wait_for(f"{SCREEN}.includes('step 1 passed')", 180)
        except AssertionError:
            raise AssertionError(f"no pass on the screen:\n{browser.js(SCREEN)}") from None
        assert {s["seat"]: s.get("done") for s in seats_data(server)} == {1: 0, 2: 1}

        drop_host(host)
        dropped = True
        browser.wait_for(
            "document.getElementById('status').textContent.includes('dropped')", DROP_SECONDS
        )
        states = {s["seat"]: (s["state"], s["message"]) for s in seats_data(server)}
        assert states[1] == ("ready", "")
        assert states[2][0] == "down" and f"its host {host.spec} dropped" in states[2][1]
        assert f"host {host.spec} dropped" in server.output.read_text()

        async def local_goes_on() -> None:
            async with aiohttp.ClientSession() as client:
                ticket = await _ticket(client, server, {"token": server.token(1)})
                ws = await client.ws_connect(
                    f"{server.url}/ws?ticket={ticket}", origin=server.origin
                )
                await ws.receive(timeout=30)
                await ws.send_str("iecho alive-$((3*3))\r")
                await _read_until(ws, b"alive-9", 30)
                await ws.close()

        asyncio.run(local_goes_on())

        # The host comes back: its seat's sandbox still runs, so the seat is ready again,
        # its practice where it was, and the page (still open) reconnects by itself.
        restart_host(host)
        dropped = False
        browser.wait_for(
            "document.getElementById('status').textContent.includes('connected')", REJOIN_WAIT
        )
        assert {s["seat"]: (s["state"], s.get("done")) for s in seats_data(server)} == {
            1: ("ready", 0),
            2: ("ready", 1),
        }
        assert f"host {host.spec} is back: seat-2 ready again" in server.output.read_text()
        type_line(browser, "echo back-$((6*7)) && lab status")
        browser.wait_for(f"{SCREEN}.includes('back-42')", 30)

        # Dropped again, and the server stops meanwhile: the host's sandboxes stay there.
        drop_host(host)
        dropped = True
        browser.wait_for(
            "document.getElementById('status').textContent.includes('dropped')", DROP_SECONDS
        )
        browser.call("Page.navigate", url="about:blank")
        assert server.stop() == 0, server.output.read_text()
        assert "its sandboxes stay there" in server.output.read_text()
    finally:
        server.stop()
        if dropped:
            restart_host(host)
    # The host's engine is this machine's here: what the dropped host kept went with the
    # local seat's (removed by the server's label), and nothing is left.
    assert labelled(engine, key) == []
    # The sandboxes' socket folders on the host belong to its engine's user (root):
    # this machine is the host here, so the test removes what a host would keep.
    uid = pwd.getpwnam(host.user).pw_uid
    shutil.rmtree(f"/tmp/mobylab-{uid}", ignore_errors=True)


def test_an_unreachable_host_or_an_unknown_key_is_refused_before_any_seat(
    ssh_farm: SshFarm, tmp_path: Path
) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(ssh_farm.known_hosts_text(skip=[4]))
    env = {**os.environ, "MOBYLAB_WORKSPACE": str(tmp_path / "ws"),
           "MOBYLAB_KNOWN_HOSTS": str(known), "MOBYLAB_SSH_CONFIG": str(ssh_farm.ssh_config),
           "MOBYLAB_SSH_RETRIES": "0"}  # fmt: skip
    for hosts, said in (
        (f"{ssh_farm.host(2).spec},{ssh_farm.down_spec}", f"{ssh_farm.down_spec}: unreachable"),
        (ssh_farm.host(4).spec, f"{ssh_farm.host(4).spec}: unknown host key"),
    ):
        done = subprocess.run(invoke_argv("workshop.serve", "hello", "--seats", "2",
                                          "--hosts", hosts), env=env, capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        assert done.returncode != 0
        assert said in done.stderr, done.stderr
        assert "Traceback" not in done.stderr

"""workshop.board in headless Chromium against the real sshd farm: hosts at different
steps of a practice run, one stuck, one paused, one finished, one whose report is not
valid JSON, one down; live updates, a host's report a click away, a busy port."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mobylab.config import Settings
from mobylab.lab import catalog
from mobylab.lab.practice import state as ps
from tests.fixtures.browser import Browser

from .conftest import REPO, MobylabCli, SshFarm
from .conftest import TestHost as FarmHost  # (not a test class)

pytestmark = [pytest.mark.workshop]
FOLDER = ".mobylab-board-test"  # the board's --remote-dir, apart from the other tests'
MULTISTAGE = [s.title for s in catalog.find_lab("multistage", Settings()).steps]


def place_run(host: FarmHost, run_id: str, files: dict[str, str]) -> Path:
    """A run folder on the host, reports/latest pointing at it, owned by the host's user."""
    root = host.home / FOLDER
    run_dir = root / "workspace" / "reports" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (run_dir / name).write_text(text)
    latest = run_dir.parent / "latest"
    latest.unlink(missing_ok=True)
    latest.symlink_to(run_id)
    subprocess.run(["chown", "-R", f"{host.user}:{host.user}", str(root)], check=True)
    return run_dir


def practice_files(state: dict, lab: str, now: float) -> dict[str, str]:
    report = {"lab": lab, "title": lab, "run_id": state["run_id"], "status": "running",
              "mode": "practice", "steps": [], "variants": [], "engines": [],
              "practice": ps.summary(state, now).to_dict()}  # fmt: skip
    return {ps.FILE_NAME: json.dumps(state), "report.json": json.dumps(report)}


def practising(run_id: str, titles: list[str], now: float) -> dict:
    return ps.new_state(lab="multistage", run_id=run_id, titles=titles, now=now)


@pytest.fixture
def hosts(ssh_farm: SshFarm) -> Iterator[dict[str, FarmHost]]:
    now = time.time()
    numbers = {"running": 2, "stuck": 3, "finished": 4, "broken": 5, "paused": 6}
    chosen = {name: ssh_farm.host(number) for name, number in numbers.items()}
    running = practising("r-running", MULTISTAGE, now - 600)
    ps.enter(running, 1, now - 600)
    ps.record_check(running, False, now - 500)
    ps.record_check(running, True, now - 400)
    ps.advance(running, False, now - 400)
    ps.take_hint(running, ["h"], now - 100)
    ps.record_check(running, False, now - 60)
    stuck = practising("r-stuck", MULTISTAGE, now - 3600)
    ps.enter(stuck, 1, now - 3600)
    for moment in (now - 3000, now - 2000, now - 1000):
        ps.record_check(stuck, False, moment)
    finished = ps.new_state(lab="hello", run_id="r-done", titles=["Build"], now=now - 300)
    ps.enter(finished, 1, now - 300)
    ps.record_check(finished, True, now - 200)
    paused = practising("r-paused", MULTISTAGE, now - 900)
    for number in (1, 2):
        ps.enter(paused, number, now - 900)
        ps.record_check(paused, True, now - 800, solved=number == 2)
    ps.enter(paused, 3, now - 800)
    ps.leave(paused, now - 700)
    place_run(chosen["running"], "r-running", practice_files(running, "multistage", now))
    place_run(chosen["stuck"], "r-stuck", practice_files(stuck, "multistage", now))
    place_run(chosen["finished"], "r-done", practice_files(finished, "hello", now))
    place_run(chosen["broken"], "r-broken", {"report.json": '{"lab": "hello", "steps": ['})
    place_run(chosen["paused"], "r-paused", practice_files(paused, "multistage", now))
    yield chosen
    for host in chosen.values():
        shutil.rmtree(host.home / FOLDER, ignore_errors=True)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    opened = Browser(tmp_path / "chromium")
    yield opened
    opened.close()


def start_board(cli: MobylabCli, specs: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        cli.argv("workshop.board", "--hosts", specs, "--remote-dir", f"~/{FOLDER}", "--port",
                 "0", "--interval", "1", "--stuck-after", "900", "--retries", "0"),
        env=cli.env(), cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    said = []
    for line in proc.stderr:
        if line.startswith("board: http://127.0.0.1:"):
            return proc, line.split()[1]
        said.append(line)
    raise AssertionError(f"workshop.board did not start (exit {proc.wait()}): {''.join(said)}")


def row(browser: Browser, spec: str, expression: str) -> object:
    """Evaluate `expression` with `r` bound to the host's row of the board."""
    return browser.js(
        f"(() => {{ const r = document.querySelector('tr[data-host=\"{spec}\"]'); "
        f"return r && ({expression}); }})()"
    )


def test_the_board_in_a_browser(
    cli: MobylabCli, ssh_farm: SshFarm, hosts: dict[str, FarmHost], browser: Browser,
    tmp_path: Path,
) -> None:  # fmt: skip
    specs = ",".join([*(h.spec for h in hosts.values()), ssh_farm.down_spec])
    proc, url = start_board(cli, specs)
    try:
        browser.open(url)
        browser.wait_for("/poll [1-9]/.test(document.getElementById('summary').textContent)")
        running, stuck = hosts["running"].spec, hosts["stuck"].spec
        assert row(browser, running, "r.querySelector('td.current').dataset.step") == "2"
        assert row(browser, running, "r.querySelector('td[data-step=\"1\"]').className") == (
            "passed"
        )
        assert "1 hint" in str(row(browser, running, "r.querySelector('td.current').innerText"))
        assert row(browser, stuck, "r.className") == "stuck"
        assert "stuck at step 1/6 (failing): 3 attempts" in str(row(browser, stuck, "r.innerText"))
        assert "FINISHED" in str(row(browser, hosts["finished"].spec, "r.innerText"))
        assert "paused at step 3/6" in str(row(browser, hosts["paused"].spec, "r.innerText"))
        assert "report.json is not valid JSON" in str(
            row(browser, hosts["broken"].spec, "r.innerText")
        )
        down = str(row(browser, ssh_farm.down_spec, "r.className + ' ' + r.innerText"))
        assert down.startswith("down") and "unreachable since" in down
        browser.screenshot(tmp_path / "board.png")

        # Live: the running host passes step 2 and moves on; the page follows by itself.
        state = json.loads(
            (
                hosts["running"].home / FOLDER / "workspace/reports/r-running" / ps.FILE_NAME
            ).read_text()
        )
        ps.record_check(state, True, time.time())
        ps.advance(state, False, time.time())
        place_run(hosts["running"], "r-running", practice_files(state, "multistage", time.time()))
        browser.wait_for(
            f"document.querySelector('tr[data-host=\"{running}\"] td.current')"
            "?.dataset.step === '3'"
        )
        assert browser.js("document.getElementById('conn').textContent") == "live"

        # Each host's report a click away; a broken one says so.
        browser.js(f"document.querySelector('tr[data-host=\"{running}\"] a').click()")
        browser.wait_for("document.querySelector('h2') && location.pathname.endsWith('/report')")
        assert "Practice" in browser.js("document.body.innerText")
        broken = hosts["broken"].spec
        browser.open(url)
        browser.js(f"document.querySelector('tr[data-host=\"{broken}\"] a').click()")
        message = browser.wait_for("document.getElementById('message')?.textContent")
        assert message.startswith(f"{broken}: report.json is not valid JSON")
        assert proc.poll() is None  # the board goes on
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    png = tmp_path / "board.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    if os.environ.get("MOBYLAB_KEEP_SCREENSHOTS"):
        shutil.copy(png, os.environ["MOBYLAB_KEEP_SCREENSHOTS"])


def test_a_busy_port_is_one_line(cli: MobylabCli, ssh_farm: SshFarm) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = cli("workshop.board", "--hosts", ssh_farm.host(2).spec, "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: port {port} on 127.0.0.1 is already in use. Pick another with --port "
        "(0 takes a free one)."
    )


def test_status_shows_each_hosts_step_attempts_and_time(
    cli: MobylabCli, hosts: dict[str, FarmHost]
) -> None:
    specs = ",".join(h.spec for h in hosts.values())
    result = cli("workshop.status", "--hosts", specs, "--remote-dir", f"~/{FOLDER}",
                 "--stuck-after", "900")  # fmt: skip
    rows = {name: next(line for line in result.stdout.splitlines() if host.spec in line)
            for name, host in hosts.items()}  # fmt: skip
    assert "STUCK" in rows["stuck"] and "stuck at step 1/6 (failing): 3 attempts" in rows["stuck"]
    assert (
        "RUNNING" in rows["running"]
        and "at step 2/6 (failing): 1 attempt, 1 hint" in (rows["running"])
    )
    assert "PAUSED" in rows["paused"] and "FINISHED" in rows["finished"]
    assert "report.json is not valid JSON" in rows["broken"]
    # The broken host is the one failure; the stuck one a warning.
    assert result.returncode == 1
    assert "5 hosts: 1 FAIL, 1 FINISHED, 1 PAUSED, 1 RUNNING, 1 STUCK" in result.stderr

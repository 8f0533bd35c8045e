"""workshop.board: a live page of every host's lab, step by step, on 127.0.0.1.

A poller thread runs workshop.status's body (StatusReader) on every host every
few seconds, quietly, and keeps the last good data of a host that drops, with
since when it is down. The standard library's ThreadingHTTPServer serves the
page, its board fragment and a host's report, fetched when it is clicked. The
snapshot and every rendering are pure functions of plain data.

The page polls the fragment (see PAGE_SCRIPT) rather than holding a server-sent
event stream: each poll is one short request, so nothing stays open per browser
tab on the server's threads, and a board restarted under an open page is picked
up at the next poll without any reconnection logic.
"""

from __future__ import annotations

import errno
import http.server
import json
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from html import escape
from pathlib import Path
from typing import Any

from ..errors import LabError, WorkshopError
from ..jsondata import JsonDict, JsonObject
from ..lab.html import render_html
from ..lab.practice import state as ps
from ..lab.records import PracticeStep, Report
from .driver import Workshop
from .hosts import HostSpec
from .labrun import StatusReader, latest_run_dir, parse_document
from .layout import RemoteLayout
from .pool import FAIL, OK, REFUSED, TIMEOUT, UNREACHABLE, HostJob, HostOutcome
from .remote import RemoteHost
from .serve.record import rows_text, running_rooms, seat_outcomes

HOST = "127.0.0.1"
DOWN_STATES = (UNREACHABLE, REFUSED, TIMEOUT)
CELL_CLASS: dict[str, str] = {
    ps.StepStatus.PASSED: "passed",
    ps.StepStatus.FAILING: "failing",
    ps.StepStatus.SKIPPED: "skipped",
}


@dataclass(frozen=True)
class BoardHost:
    """A host as the board shows it: what it last said, and since when it is down."""

    number: int
    label: str
    state: str
    message: str
    down: bool = False
    down_since: float | None = None
    seen: float | None = None
    # What the host's status said (labrun.practice_status): lab, progress, practice.
    data: JsonObject = field(default_factory=dict)

    @property
    def progress(self) -> str:
        return str(self.data.get("progress") or self.state)

    @property
    def lab(self) -> str:
        return str(self.data.get("lab") or "")

    @property
    def practice(self) -> JsonObject:
        return self.data.get("practice") or {}

    @property
    def practice_steps(self) -> list[PracticeStep]:
        return [PracticeStep.from_dict(step) for step in self.practice.get("steps", [])]

    def to_dict(self) -> JsonDict:
        return {
            "number": self.number,
            "label": self.label,
            "state": self.state,
            "message": self.message,
            "down": self.down,
            "down_since": self.down_since,
            "seen": self.seen,
            "data": dict(self.data),
        }


@dataclass(frozen=True)
class BoardSnapshot:
    """The board after a poll (board.json)."""

    generated: float
    interval: float
    polls: int
    hosts: tuple[BoardHost, ...]
    # Why the last poll failed ('' when it did not).
    error: str = ""

    def to_dict(self) -> JsonDict:
        data: JsonDict = {
            "generated": self.generated,
            "interval": self.interval,
            "polls": self.polls,
            "hosts": [host.to_dict() for host in self.hosts],
        }
        return data | ({"error": self.error} if self.error else {})


def merge_poll(
    previous: BoardSnapshot | None,
    outcomes: Sequence[HostOutcome],
    now: float,
    interval: float,
) -> BoardSnapshot:
    """Pure: the board after a poll; a host that does not answer keeps what it last said."""
    before = {h.label: h for h in previous.hosts} if previous else {}
    hosts = []
    for number, outcome in enumerate(outcomes):
        old = before.get(outcome.host)
        down = outcome.state in DOWN_STATES
        if down:
            since = (old.down_since if old else None) or now
            seen = old.seen if old else None
            # A down seat of a served room still says where it was; a host says nothing.
            data = old.data if old else outcome.data
        else:
            since, seen, data = None, now, outcome.data
        hosts.append(
            BoardHost(number, outcome.host, outcome.state, outcome.message, down, since, seen, data)
        )
    polls = (previous.polls if previous else 0) + 1
    return BoardSnapshot(now, interval, polls, tuple(hosts))


def clock(epoch: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch)) if epoch else "-"


def step_columns(hosts: Sequence[BoardHost]) -> list[tuple[int, str]]:
    """Pure: the step columns: every step number some host's practice has, titled by the
    first host that has it."""
    titles: dict[int, str] = {}
    for host in hosts:
        for step in host.practice_steps:
            titles.setdefault(step.index, step.title)
    return sorted(titles.items())


def _cell(step: PracticeStep | None, current: bool) -> str:
    if step is None:
        return "<td></td>"
    # A step `lab solve` did is not the learner's own: shown apart from one done by hand.
    solved = step.status == ps.StepStatus.PASSED and step.how == ps.How.SOLVED
    label = ps.How.SOLVED if solved else step.status
    kind = "solved" if solved else CELL_CLASS.get(step.status, "todo")
    classes = [kind] + (["current"] if current else [])
    details = []
    if step.attempts:
        details.append(f"{step.attempts} tr{'ies' if step.attempts != 1 else 'y'}")
    if step.hints_used:
        details.append(f"{step.hints_used} hint{'s' if step.hints_used != 1 else ''}")
    if step.seconds:
        details.append(ps.duration_text(step.seconds))
    small = f"<small>{escape(' · '.join(details))}</small>" if details else ""
    return f'<td class="{" ".join(classes)}" data-step="{step.index}">{escape(label)}{small}</td>'


def _host_row(host: BoardHost, columns: list[tuple[int, str]]) -> str:
    data, practice, progress = host.data, host.practice, host.progress
    classes = []
    if host.down:
        classes.append("down")
        why = host.message.removeprefix(f"{host.label}: ")
        last = (
            f"last seen {clock(host.seen)}: {data.get('where', '')}"
            if host.seen
            else "never reached yet"
        )
        where = f"unreachable since {clock(host.down_since)} ({why}); {last}"
        badge = "DOWN"
    else:
        where = str(data.get("where") or host.message)
        badge = progress
    if progress == ps.Activity.STUCK and not host.down:
        classes.append("stuck")
    if progress == FAIL or host.state == FAIL:
        classes.append("broken")
    by_index = {step.index: step for step in host.practice_steps}
    current = practice.get("step") if practice.get("state") != ps.Activity.FINISHED else None
    cells = "".join(_cell(by_index.get(n), n == current) for n, _ in columns)
    on_step = ps.duration_text(practice["on_step"]) if "on_step" in practice else ""
    # A served seat's live view: its room's own board (read-only terminals).
    view = f' <a href="{escape(str(data["view"]))}">live view</a>' if data.get("view") else ""
    return (
        f'<tr class="{" ".join(classes)}" data-host="{escape(host.label)}">'
        f'<th><span class="badge {escape(badge.lower())}">{escape(badge)}</span> '
        f'{escape(host.label)}<div class="where">{escape(where)}</div></th>'
        f'<td>{escape(host.lab)}</td><td class="num">{escape(on_step)}</td>{cells}'
        f'<td><a href="hosts/{host.number}/report">report</a>{view}</td></tr>'
    )


def by_lab(hosts: Sequence[BoardHost]) -> list[tuple[str, list[BoardHost]]]:
    """Pure: the hosts grouped by the lab they last showed, labs by name, none last."""
    groups: dict[str, list[BoardHost]] = {}
    for host in hosts:
        groups.setdefault(host.lab, []).append(host)
    return sorted(groups.items(), key=lambda item: (item[0] == "", item[0]))


def _lab_table(lab: str, hosts: Sequence[BoardHost]) -> str:
    columns = step_columns(hosts)
    head = "".join(
        f'<th title="{escape(title)}">{number}. {escape(title)}</th>' for number, title in columns
    )
    rows = "".join(_host_row(host, columns) for host in hosts)
    caption = f"lab {lab}" if lab else "no lab run seen"
    return (
        f'<table class="hosts" data-lab="{escape(lab)}"><caption>{escape(caption)}</caption>'
        f"<thead><tr><th>host</th><th>lab</th><th>on step</th>{head}<th></th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def render_board(snapshot: BoardSnapshot) -> str:
    """Pure: the live part of the page: a summary line and a hosts x steps table per lab."""
    hosts = snapshot.hosts
    counts = Counter("DOWN" if host.down else host.progress for host in hosts)
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    alert = f'<p id="error">{escape(snapshot.error)}</p>' if snapshot.error else ""
    tables = "".join(_lab_table(lab, group) for lab, group in by_lab(hosts))
    return alert + (
        f'<p id="summary">{rows_text([h.data for h in hosts])}: {escape(summary)} · updated '
        f'<span id="updated">{clock(snapshot.generated)}</span> (poll {snapshot.polls})</p>'
        f"{tables}"
    )


STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #1d2330; }
h1 { font-size: 1.4rem; margin: 0 0 .3rem; } #summary, #conn { color: #5f6775; }
table { border-collapse: collapse; font-size: .85rem; margin-bottom: 1.2rem; }
caption { text-align: left; font-weight: 600; padding: .2rem 0; }
th, td { border: 1px solid #d5d9e0; padding: .3rem .5rem; text-align: left; vertical-align: top; }
thead th { background: #eef1f6; } td.num { text-align: right; }
td small { display: block; color: #5f6775; }
.passed { background: #e3f4e6; } .solved { background: #e6ecfa; }
.failing { background: #fde7e5; } .skipped { background: #f1f1f1; }
.todo { color: #8a909b; } .current { outline: 3px solid #5b6ee1; outline-offset: -3px; }
tr.stuck > th { background: #fff1c2; } tr.down { opacity: .6; }
tr.down > th { background: #e8e8e8; }
tr.broken > th { background: #fde7e5; } .where { font-weight: normal; color: #3d4451; }
.badge { display: inline-block; min-width: 4.5rem; padding: 0 .3rem; border-radius: 3px;
         color: #fff; background: #5f6775; font-size: .75rem; text-align: center; }
.badge.running, .badge.ok, .badge.finished { background: #137333; }
.badge.stuck, .badge.warn { background: #b06d00; } .badge.fail { background: #b3261e; }
.badge.down { background: #3d4451; } .badge.paused { background: #5b6ee1; }
"""
PAGE_SCRIPT = """
const board = document.getElementById("board"), conn = document.getElementById("conn");
async function refresh() {
  try {
    const answer = await fetch("board", {cache: "no-store"});
    if (!answer.ok) throw new Error("HTTP " + answer.status);
    board.innerHTML = await answer.text();
    conn.textContent = "live";
  } catch (error) {
    conn.textContent = "the board server does not answer (" + error.message + "); retrying";
  }
}
setInterval(refresh, INTERVAL_MS);
"""


def render_page(snapshot: BoardSnapshot) -> str:
    """Pure: the whole page, with the board as it is now and the script that refreshes it."""
    interval_ms = max(1000, int(float(snapshot.interval) * 1000))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Workshop board</title>
<style>{STYLE}</style></head><body>
<h1>Workshop board</h1><p id="conn">live</p>
<div id="board">{render_board(snapshot)}</div>
<script>const INTERVAL_MS = {interval_ms};{PAGE_SCRIPT}</script>
</body></html>
"""


def message_page(title: str, text: str) -> str:
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}"
        f"</title></head><body><h1>{escape(title)}</h1><p id='message'>{escape(text)}</p>"
        "<p><a href='../../'>back to the board</a></p></body></html>\n"
    )


def parse_report(text: str | None) -> tuple[Report | None, str]:
    """Pure: a lab report from report.json's text (None: no file), or None and why."""
    data, problem = parse_document(text)
    if data is None:
        return None, f"report.json {problem or 'is missing'}"
    try:
        return Report.from_dict(data), ""
    except (KeyError, TypeError, ValueError, LabError) as exc:
        return None, f"report.json is no lab report ({exc})"


class ReportReader:
    """A one-host body: the newest run's report.json, or why there is none."""

    def __call__(self, remote: RemoteHost, layout: RemoteLayout, job: HostJob) -> HostOutcome:
        job.begin("read")
        run_dir = latest_run_dir(remote, layout)
        if run_dir is None:
            return HostOutcome(job.label, FAIL, "read", "no lab run yet")
        report, problem = parse_report(remote.read_text(f"{run_dir}/report.json"))
        if report is None:
            return HostOutcome(job.label, FAIL, "read", problem)
        return HostOutcome(job.label, OK, "read", "", data={"report": report})


class BoardServer:
    """The poller and the HTTP server; start() binds 127.0.0.1:port, stop() ends both."""

    def __init__(
        self,
        workshop: Workshop,
        specs: Sequence[HostSpec],
        *,
        port: int,
        interval: float,
        stuck_after: float,
    ) -> None:
        self.workshop = workshop
        self.specs = list(specs)
        self.port = port
        self.interval = interval
        self.reader = StatusReader(stuck_after)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        waiting = merge_poll(None, [_waiting(s.label) for s in self.specs], 0, interval)
        self._snapshot = replace(waiting, polls=0)
        self.server: http.server.ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    def snapshot(self) -> BoardSnapshot:
        with self._lock:
            return self._snapshot

    def poll(self) -> None:
        outcomes = (
            self.workshop.run("board", self.specs, self.reader, quiet=True, stop=self._stop)
            if self.specs
            else []
        )
        rooms = running_rooms(self.workshop.workspace.root)
        outcomes += seat_outcomes(rooms, time.time(), self.reader.stuck_after)
        with self._lock:
            self._snapshot = merge_poll(self._snapshot, outcomes, time.time(), self.interval)

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception as exc:  # the board goes on, and says what went wrong
                with self._lock:
                    self._snapshot = replace(self._snapshot, error=f"the last poll failed: {exc}")
            self._stop.wait(self.interval)

    def report_page(self, number: int) -> str:
        hosts = self.snapshot().hosts
        if number >= len(self.specs) and number < len(hosts):
            return self._seat_report(hosts[number])
        if not 0 <= number < len(self.specs):
            return message_page("No such host", f"the board has no host number {number}")
        spec = self.specs[number]
        outcome = self.workshop.run("board", [spec], ReportReader(), quiet=True)[0]
        report = outcome.data.get("report")
        if report is None:
            return message_page(f"Report of {spec.label}", f"{spec.label}: {outcome.message}")
        return render_html(report)

    @staticmethod
    def _seat_report(seat: BoardHost) -> str:
        """A served seat's practice report, on this machine beside its practice.json."""
        path = Path(str(seat.data.get("run_dir") or "")) / "report.json"
        report, problem = parse_report(path.read_text() if path.is_file() else None)
        if report is None:
            return message_page(f"Report of {seat.label}", f"{seat.label}: {problem}")
        return render_html(report)

    def start(self) -> str:
        board = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # the page is the output
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                parts = path.strip("/").split("/")
                if path == "/":
                    self._send(render_page(board.snapshot()), "text/html")
                elif path == "/board":
                    self._send(render_board(board.snapshot()), "text/html")
                elif path == "/board.json":
                    self._send(json.dumps(board.snapshot().to_dict()), "application/json")
                elif len(parts) == 3 and parts[0] == "hosts" and parts[1].isdigit():
                    self._send(board.report_page(int(parts[1])), "text/html")
                else:
                    self._send(message_page("Not found", path), "text/html", 404)

            def _send(self, body: str, kind: str, code: int = 200) -> None:
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", f"{kind}; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

        try:
            self.server = http.server.ThreadingHTTPServer((HOST, self.port), Handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise WorkshopError(
                    f"port {self.port} on {HOST} is already in use",
                    "Pick another with --port (0 takes a free one).",
                ) from None
            raise WorkshopError(f"cannot serve on {HOST}:{self.port}: {exc.strerror}") from None
        self.server.daemon_threads = True
        self._threads = [
            threading.Thread(target=self.server.serve_forever, daemon=True),
            threading.Thread(target=self._poll_loop, daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return f"http://{HOST}:{self.server.server_address[1]}/"

    def stop(self) -> None:
        self._stop.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _waiting(label: str) -> HostOutcome:
    return HostOutcome(label, "WAIT", "", "not polled yet", data={"where": "not polled yet"})

"""The board's pure parts: a poll merged into the snapshot (a host that drops keeps what
it last said), the grouping by lab, and the rendering (escaped, stuck and down marked)."""

from __future__ import annotations

import json

from mobylab.lab.practice import state as ps
from mobylab.workshop.board import by_lab, merge_poll, render_board, render_page
from mobylab.workshop.labrun import practice_status
from mobylab.workshop.pool import HostOutcome

T0 = 1_000_000.0


def practice_outcome(host: str, stuck: bool = False) -> HostOutcome:
    state = ps.new_state(lab="hello", run_id="r", titles=["Build <it>"], now=T0)
    ps.enter(state, 1, T0)
    verdict, line, data = practice_status(json.dumps(state), T0 + (900 if stuck else 5), 300)
    return HostOutcome(host, verdict, "read", line, data=data)


def test_a_host_that_drops_keeps_its_last_data_and_says_since_when() -> None:
    first = merge_poll(None, [practice_outcome("a"), practice_outcome("b")], T0, 3)
    down = HostOutcome("b", "UNREACHABLE", "connect", "b: unreachable (connection refused)")
    second = merge_poll(first, [practice_outcome("a"), down], T0 + 10, 3)
    third = merge_poll(second, [practice_outcome("a"), down], T0 + 20, 3)
    host = third.hosts[1]
    assert (host.down, host.down_since, host.seen) == (True, T0 + 10, T0)
    assert host.data["lab"] == "hello" and third.polls == 3
    back = merge_poll(third, [practice_outcome("a"), practice_outcome("b")], T0 + 30, 3)
    assert (back.hosts[1].down, back.hosts[1].down_since) == (False, None)
    assert json.loads(json.dumps(back.to_dict()))["hosts"][1]["data"]["lab"] == "hello"


def test_the_board_marks_stuck_and_down_hosts_and_escapes_what_hosts_say() -> None:
    down = HostOutcome("<b>", "UNREACHABLE", "connect", "<b>: refused")
    snapshot = merge_poll(None, [practice_outcome("a", stuck=True), down], T0, 3)
    html = render_board(snapshot)
    assert '<tr class="stuck" data-host="a">' in html
    assert '<tr class="down" data-host="&lt;b&gt;">' in html
    assert "1. Build &lt;it&gt;" in html and "<it>" not in html
    assert "never reached yet" in html
    assert [lab for lab, _ in by_lab(snapshot.hosts)] == ["hello", ""]
    page = render_page(snapshot)
    assert "const INTERVAL_MS = 3000;" in page and 'id="board"' in page

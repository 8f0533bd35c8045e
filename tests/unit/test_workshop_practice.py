"""What the workshop shows of attendees' practice runs and how its tasks speak (pure):
collected practice reports, `lab solve` apart from by hand, a practice in the way of
workshop.run, one summary line, "1 host", the logs folder named, tables at 80 columns."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from mobylab.config import merge_settings
from mobylab.lab.practice import state as ps
from mobylab.tasks import ns
from mobylab.workshop import tables
from mobylab.workshop.board import merge_poll, render_board
from mobylab.workshop.check import DEV_NEEDS, LAB_NEEDS, CheckFacts, summarize
from mobylab.workshop.collect import WorkshopSummary, aggregate, render_markdown, summarize_host
from mobylab.workshop.commands import hosts_failed, summary_line
from mobylab.workshop.labrun import practice_in_progress, practice_status
from mobylab.workshop.layout import RemoteLayout, attendee_command_path
from mobylab.workshop.pool import HostOutcome
from mobylab.workshop.serve.record import RoomRecord, SeatRecord, seat_outcome
from mobylab.workshop.teardown import Found, removal_text, workshop_made

T0 = 1_000_000.0
TITLES = ["Build the builder", "Copy the binary out", "Multi-stage"]


def practising(now: float = T0) -> ps.PracticeState:
    """Step 1 passed by hand after a failed try, step 2 done with `lab solve` after a
    hint, step 3 failing: the learner is still at work."""
    state = ps.new_state(lab="multistage", run_id="r1", titles=TITLES, now=now)
    ps.enter(state, 1, now)
    ps.record_check(state, False, now + 30)
    ps.record_check(state, True, now + 60)
    ps.advance(state, False, now + 60)
    ps.take_hint(state, ["look at build.sh"], now + 100)
    ps.record_check(state, True, now + 400, solved=True)
    ps.advance(state, False, now + 400)
    ps.record_check(state, False, now + 500)
    return state


def practice_report(state: ps.PracticeState, now: float) -> dict:
    # As PracticeRun.write_report leaves it: the build's steps as far as they ran.
    build_step = {"index": 1, "engine": "host", "title": TITLES[0], "status": "passed",
                  "seconds": 0.4}  # fmt: skip
    return {"lab": "multistage", "run_id": "r1", "status": "running", "mode": "practice",
            "steps": [build_step], "engines": [{"name": "host"}],
            "practice": ps.summary(state, now).to_dict()}  # fmt: skip


def test_collecting_an_unfinished_practice_run_is_in_progress_with_the_learners_figures():
    now = T0 + 560
    row = summarize_host("uxw2@127.0.0.3", practice_report(practising(), now))
    assert (row.finished, row.passed, row.verdict) == (False, False, "in progress")
    assert row.error == "in progress at step 3/3 (2 done)"
    first, second, third = row.steps
    assert (first.verdict, first.practice and first.practice.attempts) == ("by hand", 2)
    assert (second.verdict, second.practice and second.practice.hints_used) == ("solved", 1)
    assert third.verdict == "failing" and third.passed is None
    # The learner's time on the step, not the build's 0.4 s.
    assert first.seconds == 60.0 and second.seconds == 340.0
    summary = aggregate([row, summarize_host("b@vm2", None, "b@vm2: unreachable")])
    slowest = summary.slowest_step
    assert slowest is not None
    assert (slowest.step, slowest.seconds) == ("Copy the binary out", 340.0)
    assert WorkshopSummary.from_dict(json.loads(json.dumps(summary.to_dict()))) == summary
    assert "solved (1 hint, 340.0s)" in render_markdown(summary)
    assert "by hand (2 tries, 60.0s)" in render_markdown(summary)
    assert tables.collect_line(summary) == (
        "2 hosts: 0 finished, 0 passed, 1 in progress, 1 no report; "
        "slowest step Copy the binary out on uxw2@127.0.0.3 (340.0s)"
    )


def test_the_collect_table_keeps_every_step_and_figure_at_80_columns():
    row = summarize_host("uxw2@127.0.0.3", practice_report(practising(), T0 + 560))
    console = Console(width=80, record=True)
    console.print(tables.collect_table(aggregate([row])))
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any("uxw2@127.0.0.3" in line for line in lines)
    # Every word of each cell is there, wrapped (not cut).
    rows = [line.split("│")[1:-1] for line in lines if line.startswith("│")]
    result, steps = (" ".join(" ".join(r[n].split()) for r in rows).split() for n in (1, 2))
    assert " ".join(result) == "in progress at step 3/3 (2 done)"
    text = " ".join(steps)
    for figure in ("by hand (2 tries, 60.0s)", "solved (1 hint, 340.0s)", "failing (1 try"):
        assert figure in text


def test_a_step_done_with_lab_solve_is_shown_apart_on_the_board_and_in_status():
    verdict, _, data = practice_status(json.dumps(practising()), T0 + 560, 900)
    assert data["steps"] == "2/3 (1 solved)"
    snapshot = merge_poll(None, [HostOutcome("h1", verdict, "read", "", data=data)], T0, 3)
    page = render_board(snapshot)
    assert '<td class="passed" data-step="1">passed' in page
    assert '<td class="solved" data-step="2">solved' in page
    assert "1 host:" in page and "1 hosts" not in page


def test_a_practice_with_steps_left_is_in_the_way_of_workshop_run():
    assert practice_in_progress(None, T0) == ""
    assert practice_in_progress("not json", T0) == ""
    state = practising()
    assert practice_in_progress(json.dumps(state), T0 + 560).startswith(
        "multistage at step 3/3 (failing)"
    )
    ps.leave(state, T0 + 600)
    assert "paused at step 3/3" in practice_in_progress(json.dumps(state), T0 + 700)
    ps.record_check(state, True, T0 + 800)
    assert practice_in_progress(json.dumps(state), T0 + 900) == ""


def test_one_host_is_one_host_and_the_error_names_the_logs_folder(tmp_path: Path):
    outcomes = [HostOutcome("h1", "FAIL", message="h1: pip failed")]
    assert summary_line(outcomes) == "1 host: 1 FAIL"
    error = hosts_failed("provision", outcomes, tmp_path / "workshop" / "logs")
    assert error is not None
    assert error.message == "workshop.provision: 1 of 1 host failed (h1)"
    assert f"the logs in {tmp_path / 'workshop' / 'logs'}" in error.hint
    assert "<workspace>" not in error.hint


def test_status_prints_one_summary_line():
    outcomes = [
        HostOutcome("h1", "OK", data={"progress": "FINISHED"}),
        HostOutcome("h2", "WARN", data={"progress": "STUCK"}),
    ]
    assert tables.status_line(outcomes) == "2 hosts: 1 FINISHED, 1 STUCK"


def test_the_check_table_keeps_host_names_whole_at_80_columns():
    hosts = [f"mlwab12h{n}@127.0.0.{n}:2222" for n in range(2, 5)]
    outcomes = [
        HostOutcome(host, "WARN", message="mobylab not installed: run workshop.provision",
                    data={"engine": "20.10.24+dfsg1", "disk": "12.3 GB",
                          "privileged": "refused, no fallback", "mobylab": "not installed"})
        for host in hosts
    ]  # fmt: skip
    console = Console(width=80, record=True)
    console.print(tables.check_table(outcomes, 80))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    for host in hosts:
        line = next(line for line in text.splitlines() if host in line)
        assert "WARN" in line and "not installed" in line
    assert tables.check_notes(outcomes, 80)[0] == (
        f"WARN: {hosts[0]}: mobylab not installed: run workshop.provision"
    )
    # Wide enough: each host's notes on its own line of the table.
    wide = Console(width=160, record=True)
    wide.print(tables.check_table(outcomes, 160))
    line = next(line for line in wide.export_text().splitlines() if hosts[0] in line)
    assert line.rstrip().endswith("mobylab not installed: run workshop.provision")
    assert tables.check_notes(outcomes, 160) == []


def test_every_task_summary_in_the_task_list_is_a_whole_sentence():
    def tasks(collection, prefix=""):
        for name, task in collection.tasks.items():
            yield prefix + name, task
        for name, sub in collection.collections.items():
            yield from tasks(sub, f"{prefix}{name}.")

    for name, task in tasks(ns):
        first = (task.__doc__ or "").strip().splitlines()[0]
        assert first.endswith((".", ")", "`")), f"{name}: {first!r}"


def test_teardown_takes_only_what_the_workshops_runs_made_and_names_it():
    runs = {"20261204-101010-abc123"}
    lab_image = Found("sha256:1", "mobylab-lab/hello-20261204-101010-abc123:latest",
                      run="20261204-101010-abc123")  # fmt: skip
    other_run = Found("sha256:2", "mobylab-lab/hello-other:latest", run="20261204-other")
    dev = Found("c1", "mobylab-dev-k1", dev_key="k1")
    base = Found("sha256:3", "mobylab/golang:1.19-bookworm")
    taken = [f for f in (lab_image, other_run, dev, base) if workshop_made(f, runs, "k1")]
    assert taken == [lab_image, dev]
    text = removal_text({"containers": [dev], "images": [lab_image], "volumes": []},
                        ["/home/u/.mobylab-workshop"])  # fmt: skip
    assert text == (
        "containers mobylab-dev-k1; images mobylab-lab/hello-20261204-101010-abc123:latest; "
        "/home/u/.mobylab-workshop"
    )
    assert removal_text({}, []) == "nothing of the workshop's"


def test_the_attendees_command_runs_the_workshops_mobylab_and_hints_name_it():
    layout = RemoteLayout("/home/u/.mobylab-workshop")
    assert layout.attendee_script() == (
        "#!/bin/sh\n# mobylab-workshop: mobylab of /home/u/.mobylab-workshop\n"
        "exec /home/u/.mobylab-workshop/venv/bin/mobylab"
        ' -f /home/u/.mobylab-workshop/mobylab.json "$@"\n'
    )
    assert attendee_command_path("/home/u") == "/home/u/.local/bin/mobylab-workshop"
    config = json.loads(layout.config_text())["mobylab"]
    assert merge_settings(config, environ={}).command == "mobylab-workshop"
    assert merge_settings({}, environ={}).command == "invoke"


def test_provision_warns_only_about_what_the_lab_needs():
    doctor = {
        "ok": False,
        "version": "0.1.0",
        "checks": [
            {"name": "engine", "status": "OK", "detail": "host engine"},
            {"name": "privileged containers", "status": "WARN", "detail": "refused"},
            {"name": "debootstrap", "status": "WARN", "detail": "not installed"},
            {"name": "registry", "status": "WARN", "detail": "offline"},
            {"name": "root", "status": "FAIL", "detail": "not root"},
        ],
    }
    facts = CheckFacts("20.10.24", disk_free=10**11, mobylab_version="0.1.0", doctor=doctor)
    ready = summarize(facts, LAB_NEEDS)
    assert (ready.state, ready.notes) == ("OK", [])
    dev = summarize(facts, DEV_NEEDS)
    assert (dev.state, dev.notes) == ("WARN", ["privileged containers: refused"])
    assert summarize(facts).state == "FAIL"  # workshop.check: the whole doctor


def test_a_served_rooms_seats_are_rows_of_the_status_table_and_the_board():
    room = RoomRecord("k1", 1, "multistage", "http://127.0.0.1:8095", "http://b/board#t", (
        SeatRecord(1, "ready", joined=True, attached=True, practice="/ws/r1/practice.json"),
        SeatRecord(2, "ready", practice="/ws/r2/practice.json"),
        SeatRecord(3, "down", "its sandbox stopped", joined=True, practice="/ws/r3/practice.json"),
        SeatRecord(4, "starting"),
    ))  # fmt: skip
    text = json.dumps(practising())
    now = T0 + 5000  # long after the start: seat 2's clock ran, nobody is there
    outcomes = [seat_outcome(room, s, text if s.practice else None, now, 300) for s in room.seats]
    assert outcomes[0].host == "seat-1 @ 127.0.0.1:8095"
    assert [o.data["progress"] for o in outcomes] == ["STUCK", "WAITING", "DOWN", "STARTING"]
    assert [o.state for o in outcomes] == ["WARN", "OK", "UNREACHABLE", "OK"]
    assert outcomes[0].data["steps"] == "2/3 (1 solved)"
    assert outcomes[0].data["run_dir"] == "/ws/r1"
    attendees = [o.data["attendee"] for o in outcomes[:3]]
    assert attendees == ["on the page", "not joined", "page closed"]
    console = Console(width=120, record=True)
    console.print(tables.status_table(outcomes))
    table = console.export_text()
    assert "seat-2 @ 127.0.0.1:8095" in table and "no attendee yet" in table
    assert "its sandbox stopped" in table
    assert tables.status_line(outcomes) == "4 seats: 1 DOWN, 1 STARTING, 1 STUCK, 1 WAITING"
    page = render_board(merge_poll(None, outcomes, now, 3))
    assert page.count('href="http://b/board#t">live view</a>') == 4
    # A seat already down when first seen keeps its steps on the board.
    down_row = page.split('data-host="seat-3 @ 127.0.0.1:8095"')[1].split("</tr>")[0]
    assert '<span class="badge down">DOWN</span>' in down_row and 'class="solved"' in down_row

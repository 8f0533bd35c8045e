"""workshop.serve's pure rules: seats, codes, tickets, origins, durations, capacity,
the page's frames, the sandbox's `lab` requests and the scrollback."""

from __future__ import annotations

import itertools

import pytest

from mobylab.errors import UsageError
from mobylab.workshop.serve import seats as rules
from mobylab.workshop.serve.bridge import lab_script, request_args
from mobylab.workshop.serve.sandbox import du_total
from mobylab.workshop.serve.seats import Role, SeatLimits, TicketBook
from mobylab.workshop.serve.terminal import trimmed


def test_seats_have_distinct_tokens_and_codes_from_the_unambiguous_alphabet() -> None:
    seats = rules.new_seats(12)
    assert [s.number for s in seats] == list(range(1, 13))
    assert len({s.token for s in seats}) == 12
    assert len({s.code for s in seats}) == 12
    assert all(len(s.code) == rules.CODE_LENGTH for s in seats)
    assert all(set(s.code) <= set(rules.CODE_ALPHABET) for s in seats)
    assert not set("01IO") & set(rules.CODE_ALPHABET)


def test_a_seat_is_found_by_its_token_or_its_code_as_typed() -> None:
    seats = rules.new_seats(3)
    second = seats[1]
    assert rules.seat_for(seats, token=second.token) == second
    typed = f" {second.code[:4].lower()}-{second.code[4:].lower()} "
    assert rules.seat_for(seats, code=typed) == second
    assert rules.seat_for(seats, token="nope") is None
    assert rules.seat_for(seats, code="") is None
    assert rules.seat_for(seats) is None


def test_the_room_code_gives_the_first_seat_nobody_took() -> None:
    seats = rules.new_seats(3)
    assert rules.free_seat(seats, set()) == seats[0]
    assert rules.free_seat(seats, {1, 3}) == seats[1]
    assert rules.free_seat(seats, {1, 2, 3}) is None


def test_a_ticket_opens_once_and_only_before_it_expires() -> None:
    counter = itertools.count()
    book = TicketBook(lifetime=30, draw=lambda _n: f"t{next(counter)}")
    first = book.issue(2, Role.ATTENDEE, now=100)
    ticket = book.redeem(first, now=110)
    assert ticket is not None and (ticket.seat, ticket.role) == (2, Role.ATTENDEE)
    assert book.redeem(first, now=111) is None
    late = book.issue(1, Role.VIEWER, now=100)
    assert book.redeem(late, now=131) is None
    assert book.redeem("unknown", now=100) is None


def test_old_tickets_are_forgotten_when_new_ones_are_issued() -> None:
    book = TicketBook(lifetime=1)
    for now in range(100):
        book.issue(1, Role.ATTENDEE, now=float(now))
    assert len(book._open) <= 2


def test_the_origin_must_be_the_pages_own_exactly() -> None:
    allowed = rules.allowed_origins(rules.page_hosts("127.0.0.1"), 8095)
    assert rules.origin_problem("http://127.0.0.1:8095", "127.0.0.1:8095", allowed) == ""
    assert rules.origin_problem("http://localhost:8095", "localhost:8095", allowed) == ""
    assert "foreign" in rules.origin_problem("http://evil.example", "127.0.0.1:8095", allowed)
    assert "foreign" in rules.origin_problem("https://127.0.0.1:8095", "127.0.0.1:8095", allowed)
    assert "foreign" in rules.origin_problem("http://127.0.0.1:8096", "127.0.0.1:8095", allowed)
    assert rules.origin_problem(None, "127.0.0.1:8095", allowed) == "no Origin header"
    # A name rebound to loopback: its own origin, but not one the server serves from.
    assert rules.origin_problem("http://evil.example:8095", "evil.example:8095", allowed)
    # An allowed origin sent to another host name is refused too.
    assert "does not name" in rules.origin_problem(
        "http://localhost:8095", "127.0.0.1:8095", allowed
    )


def test_listening_on_the_room_network_adds_its_address_and_a_warning() -> None:
    assert "10.0.0.5" in rules.page_hosts("10.0.0.5")
    assert "0.0.0.0" not in rules.page_hosts("0.0.0.0")
    assert rules.listen_warning("127.0.0.1") == ""
    assert "room's network" in rules.listen_warning("0.0.0.0")


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("45m", 2700), ("8h", 28800), ("1d", 86400),
                          ("1.5h", 5400)],
)  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert rules.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "0", "-1h", "8 hours", "8w"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(UsageError):
        rules.parse_duration(text)


def test_more_seats_than_the_engine_holds_are_refused_with_the_numbers() -> None:
    limits = SeatLimits(memory=1 << 30, pids=1024)
    assert rules.capacity_problem(2, limits, 8 << 30, 4_194_304) == ""
    problem = rules.capacity_problem(8, limits, 4 << 30, None)
    assert "8192 MiB" in problem and "1024 MiB each" in problem and "3584 MiB" in problem
    problem = rules.capacity_problem(40, SeatLimits(memory=1 << 20, pids=1024), 64 << 30, 32768)
    assert "40960 processes" in problem and "32768" in problem
    assert "at least 1" in rules.capacity_problem(0, limits, 8 << 30, None)


def test_the_page_sends_input_and_sizes_and_nothing_else_counts() -> None:
    assert rules.input_frame("ils -l\r") == ("input", "ls -l\r")
    assert rules.input_frame("r120,40") == ("resize", (120, 40))
    assert rules.input_frame("r0,40") is None
    assert rules.input_frame("r99999,40") is None
    assert rules.input_frame("rx,y") is None
    assert rules.input_frame("x") is None


def test_links_carry_the_token_in_the_fragment() -> None:
    seat = rules.new_seats(1)[0]
    [(name, link, code)] = rules.seat_links([seat], "http://127.0.0.1:8095")
    assert (name, code) == ("seat-1", seat.code)
    assert link == f"http://127.0.0.1:8095/seat#{seat.token}"


def test_the_sandbox_lab_asks_only_for_lab_commands() -> None:
    assert request_args("check\n") == ["check"]
    assert request_args("next\n--skip\n") == ["next", "--skip"]
    assert request_args("show\nDockerfile\nextra\n") == ["show", "Dockerfile"]
    assert request_args("") == []
    assert request_args("check\n--engine\n") is None
    assert request_args("rm\n-rf\n") is None
    script = lab_script()
    assert script.startswith("#!/bin/sh\n") and "/mobylab/ipc" in script


def test_the_scrollback_keeps_the_end_from_a_line_start() -> None:
    assert trimmed(b"abc", 10) == b"abc"
    data = b"first line\nsecond line\nthird"
    assert trimmed(data, 15) == b"third"
    assert trimmed(b"x" * 40, 10) == b"x" * 10


def test_sizes_are_read_in_powers_of_1024_and_nonsense_is_refused() -> None:
    assert rules.parse_size("5G") == 5 << 30
    assert rules.parse_size("512m") == 512 << 20
    assert rules.parse_size("1.5GiB") == 3 << 29
    assert rules.parse_size("2 GB") == 2 << 30
    for bad in ("", "x", "0", "-1G", "5X"):
        with pytest.raises(UsageError, match="is not a size"):
            rules.parse_size(bad)


def test_du_says_the_total_of_what_a_sandbox_wrote() -> None:
    assert du_total("12\t/\n300\t/var/lib/docker\n312\ttotal\n") == 312 * 1024
    assert du_total("du: cannot access '/x'\n") is None
    assert du_total("") is None

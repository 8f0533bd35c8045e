"""A practice run's state: <report dir>/practice.json, its format, and pure decisions on it.

lab.practice writes it when the learner enters or leaves the shell; the `lab`
command inside the shell after every check, solve, hint and next. lab.practice
reads it to resume, workshop.status and workshop.board to show who is where.
Every function here works on the state as its JSON holds it (a `PracticeState`,
no IO); times are epoch seconds of the learner's machine.

    {"format": 1, "lab": "hello", "run_id": ..., "current": 1, "active": true,
     "engine": {"name", "kind", "url"}, "values": {"tag_prefix", "url", ...},
     "steps": [{"index": 1, "title": ..., "status": "failing", "attempts": 2,
                "failed_attempts": 1, "not_counted": 0, "hints_used": 1, "how": "",
                "seconds": 40.0, "entered": 1764620000.0, "last_check": ...}], ...}
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, NotRequired, TypedDict, cast

from ..records import PracticeStep, PracticeSummary

FILE_NAME = "practice.json"
FORMAT = 1


class StepStatus(StrEnum):
    """A practice step's verdict, as practice.json and the report keep it."""

    NOT_STARTED = "not started"
    FAILING = "failing"
    PASSED = "passed"
    SKIPPED = "skipped"


DONE = (StepStatus.PASSED, StepStatus.SKIPPED)


class How(StrEnum):
    """How a done step was done."""

    BY_HAND = "by hand"
    # `lab solve` ran the reference commands.
    SOLVED = "solved"
    SKIPPED = "skipped"


class Activity(StrEnum):
    """Where a learner is, for workshop.status and the board."""

    RUNNING = "RUNNING"
    STUCK = "STUCK"
    PAUSED = "PAUSED"
    FINISHED = "FINISHED"


class StepProgress(TypedDict):
    """One step of practice.json: its verdict, the counts, its clock."""

    index: int
    title: str
    status: StepStatus
    attempts: int
    failed_attempts: int
    not_counted: int
    hints_used: int
    hints_shown: int
    # A How once the step is done, "" before.
    how: str
    seconds: float
    # When its clock started (None: stopped), and the last check.
    entered: float | None
    last_check: float | None


class PracticeState(TypedDict):
    """practice.json: where the learner is, and how lab.practice set the run up."""

    format: int
    lab: str
    run_id: str
    current: int
    active: bool
    started: float
    updated: float
    # Variant name -> the JSON its image printed, for variants-agree.
    variant_outputs: dict[str, Any]
    steps: list[StepProgress]
    # The run's set-up (lab.practice's), read by the `lab` command.
    lab_dir: NotRequired[str]
    app_dir: NotRequired[str]
    source: NotRequired[str]
    choice: NotRequired[str]
    exact: NotRequired[bool]
    workdir: NotRequired[str]
    bases: NotRequired[dict[str, str | bool]]
    substitutions: NotRequired[list[dict[str, str | int]]]
    engine: NotRequired[dict[str, str]]
    values: NotRequired[dict[str, str]]


class Progress(TypedDict):
    """Where a learner is, for workshop.status and the board."""

    lab: str
    step: int
    title: str
    attempts: int
    hints_used: int
    on_step: float
    done_steps: int
    total_steps: int
    steps: list[dict[str, Any]]
    state: Activity
    where: str


def new_state(
    *, lab: str, run_id: str, titles: Sequence[str], now: float, **fields: Any
) -> PracticeState:
    """A fresh run at step 1, nothing tried yet; `fields` (the set-up) are kept as they are."""
    state = {
        "format": FORMAT,
        "lab": lab,
        "run_id": run_id,
        "current": 1,
        "active": False,
        "started": now,
        "updated": now,
        "variant_outputs": {},
        **fields,
        "steps": [
            {
                "index": number,
                "title": title,
                "status": StepStatus.NOT_STARTED,
                "attempts": 0,
                "failed_attempts": 0,
                "not_counted": 0,
                "hints_used": 0,
                "hints_shown": 0,
                "how": "",
                "seconds": 0.0,
                "entered": None,
                "last_check": None,
            }
            for number, title in enumerate(titles, 1)
        ],
    }
    return cast(PracticeState, state)


def parse_state(text: str) -> PracticeState:
    """The state from its file's text; ValueError saying what is wrong with it."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"not a practice state of format {FORMAT}")
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps or not all(isinstance(s, dict) for s in steps):
        raise ValueError("it has no steps")
    if not isinstance(data.get("current"), int) or not 1 <= data["current"] <= len(steps):
        raise ValueError("its current step is not one of its steps")
    return cast(PracticeState, data)


def step_of(state: PracticeState, number: int | None = None) -> StepProgress:
    """Step `number` (default: the current one)."""
    return state["steps"][(number or state["current"]) - 1]


def first_unfinished(state: PracticeState) -> int | None:
    """The first step neither passed nor skipped; None when all are done."""
    for step in state["steps"]:
        if step["status"] not in DONE:
            return int(step["index"])
    return None


def seconds_on(step: StepProgress, now: float) -> float:
    """Time spent on a step: what was counted, plus the running clock."""
    entered = step.get("entered")
    running = now - entered if entered is not None else 0.0
    return float(step.get("seconds") or 0.0) + max(0.0, running)


def _stop_clock(step: StepProgress, now: float) -> None:
    step["seconds"] = round(seconds_on(step, now), 1)
    step["entered"] = None


def enter(state: PracticeState, number: int, now: float) -> None:
    """The learner is (back) in the shell at step `number`: its clock runs unless it is done."""
    for step in state["steps"]:
        if step.get("entered") is not None:
            _stop_clock(step, now)
    state["current"] = number
    state["active"] = True
    step = step_of(state, number)
    if step["status"] not in DONE:
        step["entered"] = now
    state["updated"] = now


def leave(state: PracticeState, now: float) -> None:
    """The learner left the shell: every clock stops; the progress stays."""
    for step in state["steps"]:
        if step.get("entered") is not None:
            _stop_clock(step, now)
    state["active"] = False
    state["updated"] = now


def record_check(state: PracticeState, passed: bool, now: float, *, solved: bool = False) -> None:
    """A `lab check` (or `lab solve`) of the current step: counted, and the verdict kept.

    `lab check` counts as an attempt; `lab solve` does not, but marks the step solved.
    """
    step = step_of(state)
    if solved:
        step["how"] = How.SOLVED
    else:
        step["attempts"] += 1
        if not passed:
            step["failed_attempts"] += 1
    step["last_check"] = now
    if passed:
        step["status"] = StepStatus.PASSED
        step["how"] = step["how"] or How.BY_HAND
        _stop_clock(step, now)
    elif step["status"] != StepStatus.PASSED:
        step["status"] = StepStatus.FAILING
    state["updated"] = now


def record_not_counted(state: PracticeState, now: float) -> None:
    """A check the engine could not answer: no verdict on the learner."""
    step_of(state)["not_counted"] += 1
    state["updated"] = now


def next_hint(hints: Sequence[str], shown: int) -> str:
    """The hint to show after `shown` were: each once, then again in turn."""
    return hints[shown % len(hints)] if hints else ""


def hint_label(shown: int, count: int) -> str:
    """Pure: "hint 2/3" for the `shown`-th hint taken, saying when the hints start again."""
    number = (shown - 1) % count + 1
    again = " (every hint was shown: from the first again)" if shown > count and number == 1 else ""
    return f"hint {number}/{count}{again}"


def take_hint(state: PracticeState, hints: Sequence[str], now: float) -> str:
    """The current step's next hint, counted (hints used: the distinct ones seen)."""
    step = step_of(state)
    text = next_hint(hints, step.get("hints_shown", 0))
    if text:
        step["hints_shown"] = step.get("hints_shown", 0) + 1
        step["hints_used"] = min(step["hints_shown"], len(hints))
        state["updated"] = now
    return text


def not_in_engine(state: PracticeState, number: int) -> None:
    """The engine lacks what step `number` needs: it is skipped, never the learner's."""
    step = step_of(state, number)
    step["status"], step["how"] = StepStatus.SKIPPED, How.SKIPPED


def advance_problem(state: PracticeState, skip: bool) -> str:
    """Why `lab next` may not move on now, or ''."""
    step = step_of(state)
    if step["status"] == StepStatus.PASSED or skip:
        return ""
    return (
        f"step {step['index']} has not passed yet ({step['status']}): "
        "run `lab check`, or `lab next --skip` to leave it undone"
    )


def advance(state: PracticeState, skip: bool, now: float) -> int | None:
    """Move on: the step is skipped when it has not passed; the next unfinished step
    after it is entered. None when every step is done."""
    step = step_of(state)
    if step["status"] != StepStatus.PASSED and skip:
        step["status"] = StepStatus.SKIPPED
        step["how"] = How.SKIPPED
    _stop_clock(step, now)
    later = [s["index"] for s in state["steps"] if s["index"] > step["index"]]
    following = next((n for n in later if step_of(state, n)["status"] not in DONE), None)
    target = following or first_unfinished(state)
    if target is None:
        state["updated"] = now
        return None
    enter(state, target, now)
    return target


def prompt_text(state: PracticeState) -> str:
    """What the shell's prompt shows: the lab and the step."""
    return f"{state['lab']} {state['current']}/{len(state['steps'])}"


def step_summary(step: StepProgress, now: float) -> PracticeStep:
    """Pure: a step as the report keeps it."""
    return PracticeStep(
        index=step["index"],
        title=step["title"],
        status=step["status"],
        attempts=step["attempts"],
        failed_attempts=step["failed_attempts"],
        not_counted=step["not_counted"],
        hints_used=step["hints_used"],
        how=step["how"],
        seconds=round(seconds_on(step, now), 1),
    )


def summary(state: PracticeState, now: float) -> PracticeSummary:
    """The report's `practice` section."""
    return PracticeSummary(
        current=state["current"],
        active=bool(state.get("active")),
        steps=tuple(step_summary(step, now) for step in state["steps"]),
    )


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


def progress(state: PracticeState, now: float, stuck_after: float) -> Progress:
    """Pure: where a learner is, for workshop.status and the board.

    STUCK: in the shell, on a step not passed for longer than `stuck_after`;
    PAUSED: out of the shell with steps left; FINISHED: every step done.
    """
    total = len(state["steps"])
    done = sum(1 for s in state["steps"] if s["status"] in DONE)
    step = step_of(state)
    on_step = seconds_on(step, now)
    detail = (
        f"{step['attempts']} attempt{'s' if step['attempts'] != 1 else ''}, "
        f"{step['hints_used']} hint{'s' if step['hints_used'] != 1 else ''}, "
        f"{duration_text(on_step)} on it"
    )
    where = f"step {step['index']}/{total} ({step['status']}): {detail}"
    if first_unfinished(state) is None:
        state_now, where = Activity.FINISHED, "finished practice"
    elif not state.get("active"):
        state_now, where = Activity.PAUSED, f"paused at {where}"
    elif step["status"] not in DONE and on_step > stuck_after:
        state_now, where = Activity.STUCK, f"stuck at {where}"
    else:
        state_now, where = Activity.RUNNING, f"at {where}"
    return Progress(
        lab=str(state.get("lab", "")),
        step=step["index"],
        title=step["title"],
        attempts=step["attempts"],
        hints_used=step["hints_used"],
        on_step=round(on_step, 1),
        done_steps=done,
        total_steps=total,
        steps=[step_summary(s, now).to_dict() for s in state["steps"]],
        state=state_now,
        where=where,
    )

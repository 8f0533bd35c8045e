"""workshop.run and workshop.status: run a lab on every host, and see who is where.

The remote lab runner rewrites <workspace>/reports/<run id>/report.json after
every step; status reads the newest run's files and calls a host stuck when its
progress has not moved for --stuck-after seconds. A practice run (lab.practice)
also keeps practice.json, rewritten after every check: status then shows the
step, its attempts and the time on it, and a learner on one step for longer
than --stuck-after is stuck.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from ..catalog import check_name
from ..jsondata import JsonDict, JsonObject
from ..lab.practice import state as practice_state
from .layout import RemoteLayout
from .pool import FAIL, OK, WARN, HostJob, HostOutcome, StepFailed
from .remote import RemoteHost, sh

DONE_STATUSES = {
    "pass",
    "passed",
    "ok",
    "fail",
    "failed",
    "error",
    "interrupted",
    "skip",
    "skipped",
    "done",
    "absent",
}
# "absent": a step the engine lacks (not in this engine) is done, and no failure.
PASS_STATUSES = {"pass", "passed", "ok", "done", "skip", "skipped", "absent"}
RUNNING = "RUNNING"
STUCK = "STUCK"
# Exit status of a remote command refused because a detached lab still runs.
ALREADY_RUNNING = 75


def require_installed(remote: RemoteHost, layout: RemoteLayout) -> None:
    if remote.run(sh("test", "-x", layout.mobylab), check=False).exited != 0:
        raise StepFailed(f"{remote.label}: mobylab is not installed; run workshop.provision first")


def detached_lab_check(layout: RemoteLayout) -> str:
    """Shell: when a detached lab still runs, print its pid and exit ALREADY_RUNNING."""
    pid = sh(layout.lab_pid)
    return (
        f'if [ -s {pid} ] && kill -0 "$(cat {pid})" 2>/dev/null; then '
        f"cat {pid}; exit {ALREADY_RUNNING}; fi"
    )


def detached_command(layout: RemoteLayout, env: dict[str, str], argv: list[str]) -> str:
    """Shell: start argv in a session of its own that outlives the SSH connection;
    record and print its pid (also its session and process group id)."""
    assignments = [f"{key}={value}" for key, value in env.items()]
    return (
        f"cd {sh(layout.root)} || exit 1; "
        + sh("setsid", "nohup", "env", *assignments, *argv)
        + f" > {sh(layout.lab_log)} 2>&1 < /dev/null & echo $! > {sh(layout.lab_pid)}; echo $!"
    )


def stop_detached_lab(layout: RemoteLayout) -> str:
    """Shell: end a detached lab that still runs (its whole process group, as Ctrl-C
    would: its containers are removed) and wait up to 60 s for it to be gone."""
    pid = sh(layout.lab_pid)
    return (
        f'if [ -s {pid} ] && kill -0 "$(cat {pid})" 2>/dev/null; then '
        f'kill -TERM -- "-$(cat {pid})"; for _ in $(seq 120); do '
        # Gone, or a zombie its parent has not reaped yet: it no longer works.
        f'ps -o stat= -p "$(cat {pid})" 2>/dev/null | grep -q "^[^Z]" || break; sleep 0.5; '
        "done; fi; true"
    )


def latest_run_dir(remote: RemoteHost, layout: RemoteLayout) -> str | None:
    """The newest run folder: reports/latest (the lab runner's pointer), else the newest."""
    reports = sh(layout.reports)
    script = (
        f'd={reports}; r=$(readlink "$d/latest" 2>/dev/null || cat "$d/LATEST" 2>/dev/null'
        ' || (cd "$d" 2>/dev/null && ls -1td -- */ | head -n 1)); r=${r%/};'
        ' case "$r" in "") ;; /*) printf %s "$r" ;; *) printf %s "$d/$r" ;; esac'
    )
    line = remote.run(script, check=False, log_output=False).stdout.strip()
    return line or None


def read_json(remote: RemoteHost, path: str) -> JsonDict | None:
    return parse_document(remote.read_text(path))[0]


def parse_document(text: str | None) -> tuple[JsonDict | None, str]:
    """Pure: a JSON object from a file's text, or None and why ('' when there is no file)."""
    if text is None:
        return None, ""
    try:
        value = json.loads(text)
    except ValueError as exc:
        return None, f"is not valid JSON ({exc})"
    if not isinstance(value, dict):
        return None, "is not a JSON object"
    return value, ""


def step_passed(step: JsonObject) -> bool | None:
    """Pure: a step's verdict from `passed` or `status` (None: not finished)."""
    if isinstance(step.get("passed"), bool):
        return bool(step["passed"])
    status = str(step.get("status", "")).lower()
    if status in DONE_STATUSES:
        return status in PASS_STATUSES
    return None


def step_name(step: JsonObject) -> str:
    """Pure: `title` (or `name`), with the engine when it is not the host's."""
    name = str(step.get("name") or step.get("title") or f"step {step.get('index', '?')}")
    engine = step.get("engine")
    return f"{name} [{engine}]" if engine and engine != "host" else name


def step_seconds(step: JsonObject) -> float | None:
    """Pure: a step's time: its own `seconds`, else the sum of its commands' seconds."""
    for key in ("seconds", "duration", "elapsed"):
        value = step.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    commands = [c for c in step.get("commands") or [] if isinstance(c, dict)]
    times = [c["seconds"] for c in commands if isinstance(c.get("seconds"), int | float)]
    return float(sum(times)) if times else None


def step_size(step: JsonObject) -> float | None:
    """Pure: the image size a step produced (its variant's size_bytes), if any."""
    for holder in (step, step.get("variant") or {}):
        for key in ("size_bytes", "size", "image_size"):
            value = holder.get(key) if isinstance(holder, dict) else None
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
    return None


def report_steps(report: JsonObject) -> list[JsonDict]:
    """Pure: a report's steps as {name, passed, seconds, size}, flattened over variants."""
    raw: list[JsonObject] = [s for s in report.get("steps") or [] if isinstance(s, dict)]
    variants = report.get("variants") or []
    if isinstance(variants, dict):
        variants = [{"name": k, **(v if isinstance(v, dict) else {})} for k, v in variants.items()]
    for variant in variants:
        if isinstance(variant, dict):
            for step in variant.get("steps") or []:
                if isinstance(step, dict):
                    name = f"{variant.get('name', '?')}/{step_name(step)}"
                    raw.append({**step, "name": name, "engine": None})
    return [
        {
            "name": step_name(step),
            "passed": step_passed(step),
            "seconds": step_seconds(step),
            "size": step_size(step),
            "status": str(step.get("status", "")),
        }
        for step in raw
    ]


def report_passed(report: JsonObject) -> bool | None:
    """Pure: the run's verdict (None while it runs)."""
    if isinstance(report.get("passed"), bool):
        return bool(report["passed"])
    status = str(report.get("status", "")).lower()
    if status in ("passed", "failed", "interrupted", "error"):
        return status == "passed"
    if report.get("finished"):
        return all(s["passed"] is not False for s in report_steps(report))
    return None


def first_failed_step(report: JsonObject) -> str | None:
    for step in report_steps(report):
        if step["passed"] is False:
            return str(step["name"])
    return None


@dataclass
class Progress:
    """Where a host's lab run is, for the status table."""

    state: str  # OK (done and passed), FAIL, WARN (never ran), RUNNING or STUCK
    where: str
    lab: str = ""
    done_steps: int = 0
    total_steps: int = 0
    idle_seconds: float | None = None


def classify(
    doc: JsonObject | None,
    idle_seconds: float | None,
    stuck_after: float,
    detached_running: bool = False,
) -> Progress:
    """Pure: from the run's progress (report.json is rewritten after every step):
    finished, failed, running or stuck, and at which step.

    `detached_running`: a lab started with --detach still runs, so a missing or
    finished report is an earlier run's and this one is starting.
    """
    verdict = report_passed(doc) if doc is not None else None
    if detached_running and (doc is None or verdict is not None):
        return Progress(RUNNING, "starting")
    if doc is None:
        return Progress(WARN, "no lab run yet")
    steps = report_steps(doc)
    lab = str(doc.get("lab", ""))
    total = doc.get("step_count")
    total_steps = int(total) if isinstance(total, int) else len(steps)
    finished = [s for s in steps if s["passed"] is not None]
    if verdict is not None:
        where = "finished" if verdict else f"failed at {first_failed_step(doc) or 'the end'}"
        state = OK if verdict else FAIL
        return Progress(state, where, lab, len(finished), total_steps, idle_seconds)
    running = [s for s in steps if s["passed"] is None]
    if running:
        current = running[0]["name"]
    elif doc.get("current") or doc.get("step"):
        current = str(doc.get("current") or doc.get("step"))
    else:
        current = f"step {len(finished) + 1}"
    failed_at = first_failed_step(doc)
    if failed_at:
        return Progress(FAIL, f"failed at {failed_at}", lab, len(finished), total_steps)
    if idle_seconds is not None and idle_seconds > stuck_after:
        where = f"stuck at {current} for {idle_seconds:.0f}s"
        return Progress(STUCK, where, lab, len(finished), total_steps, idle_seconds)
    return Progress(RUNNING, f"at {current}", lab, len(finished), total_steps, idle_seconds)


PRACTICE_STATES = {
    practice_state.Activity.RUNNING: OK,
    practice_state.Activity.PAUSED: OK,
    practice_state.Activity.FINISHED: OK,
    practice_state.Activity.STUCK: WARN,
}


def steps_done_text(done: int, total: int, solved: int) -> str:
    """Pure: '3/6', or '3/6 (1 solved)' when `lab solve` did some of them."""
    return f"{done}/{total}" + (f" ({solved} solved)" if solved else "")


def practice_status(text: str, now: float, stuck_after: float) -> tuple[str, str, JsonDict]:
    """Pure: a host's outcome state, one line and the data for its practice.json text."""
    try:
        state = practice_state.parse_state(text)
    except ValueError as exc:
        return FAIL, f"practice.json {exc}", {"progress": FAIL, "where": f"practice.json {exc}"}
    where = practice_state.progress(state, now, stuck_after)
    solved = sum(1 for step in where["steps"] if step.get("how") == practice_state.How.SOLVED)
    data = {
        "progress": where["state"],
        "where": where["where"],
        "lab": where["lab"],
        "steps": steps_done_text(where["done_steps"], where["total_steps"], solved),
        "idle": now - float(state.get("updated") or now),
        "practice": where,
    }
    return PRACTICE_STATES[where["state"]], where["where"], data


def practice_in_progress(text: str | None, now: float) -> str:
    """Pure: where an attendee's practice run stands when it has steps left (its
    practice.json text), else ''."""
    if text is None:
        return ""
    try:
        state = practice_state.parse_state(text)
    except ValueError:
        return ""
    if practice_state.first_unfinished(state) is None:
        return ""
    # No learner counts as stuck here: only where they are matters.
    where = practice_state.progress(state, now, stuck_after=float("inf"))
    return f"{where['lab']} {where['where']}"


class LabRunner:
    """The workshop.run body: `mobylab lab.run LAB --yes` on the host, waited for or
    (detach) started in the background for workshop.status and workshop.collect.

    A host where an attendee's practice run has steps left, or where a lab started
    with --detach still runs, refuses; `force` runs the lab anyway: the practice
    keeps its progress (its own run folder, resumed by lab.practice), the detached
    lab is stopped as Ctrl-C would stop it.
    """

    def __init__(
        self,
        lab: str,
        extra_env: dict[str, str] | None = None,
        *,
        detach: bool = False,
        engine: str = "host",
        force: bool = False,
    ) -> None:
        self.lab = check_name(lab)
        self.extra_env = dict(extra_env or {})
        self.detach = detach
        # The host's engine, or its dev daemon (after workshop.provision --dev, dev.up).
        self.engine = engine
        self.force = force

    def _practice_refusal(
        self, remote: RemoteHost, layout: RemoteLayout, job: HostJob
    ) -> HostOutcome | None:
        run_dir = latest_run_dir(remote, layout)
        text = remote.read_text(f"{run_dir}/{practice_state.FILE_NAME}") if run_dir else None
        where = practice_in_progress(text, time.time())
        if not where:
            return None
        message = (
            f"an attendee's practice of {where}: not running {self.lab} over it "
            "(--force runs it anyway; the practice keeps its progress)"
        )
        return HostOutcome(job.label, FAIL, "check", message, data={"practice": where})

    def __call__(self, remote: RemoteHost, layout: RemoteLayout, job: HostJob) -> HostOutcome:
        job.begin("check")
        require_installed(remote, layout)
        if self.force:
            remote.run(stop_detached_lab(layout), check=False, what="stopping the detached lab")
        else:
            refusal = self._practice_refusal(remote, layout, job)
            if refusal is not None:
                return refusal
        # Waiting for the run: the newest report before it tells an old one from its own.
        before = None if self.detach else latest_run_dir(remote, layout)
        job.begin(f"lab.run {self.lab}")
        env = layout.mobylab_env() | self.extra_env
        argv = layout.mobylab_argv("lab.run", self.lab, "--yes", "--engine", self.engine)
        if self.detach:
            command = detached_command(layout, env, argv)
        else:
            command = remote.env_command(env, argv, layout.root)
        result = remote.run(
            f"{detached_lab_check(layout)}; {command}", check=False, what=f"lab.run {self.lab}"
        )
        if result.exited == ALREADY_RUNNING:
            pid = result.stdout.strip()
            return HostOutcome(
                job.label,
                FAIL,
                "check",
                f"a lab started with --detach still runs here (pid {pid}): follow it with "
                "workshop.status, or stop it and run this one with --force",
                data={"exit": result.exited, "pid": pid},
            )
        if self.detach and result.ok:
            pid = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "?"
            message = f"{self.lab} started (pid {pid}): follow it with workshop.status"
            return HostOutcome(job.label, OK, "started", message, data={"pid": pid})
        job.begin("report")
        run_dir = latest_run_dir(remote, layout)
        report = read_json(remote, f"{run_dir}/report.json") if run_dir else None
        if run_dir == before and report is not None and result.exited != 0:
            report = None  # an old report, not this run's
        data: JsonDict = {"exit": result.exited, "run_dir": run_dir or ""}
        if report is not None:
            data["passed"] = report_passed(report)
            data["steps"] = len(report_steps(report))
        if result.ok and (report is None or report_passed(report) is not False):
            return HostOutcome(job.label, OK, "report", f"{self.lab} passed", data=data)
        where = first_failed_step(report) if report else None
        reason = f"failed at {where}" if where else remote.log.redactor.clean(result.last_line())
        return HostOutcome(job.label, FAIL, "lab.run", f"{self.lab}: {reason}", data=data)


class StatusReader:
    """The workshop.status body: read the newest run's progress and report."""

    def __init__(self, stuck_after: float) -> None:
        self.stuck_after = stuck_after

    def __call__(self, remote: RemoteHost, layout: RemoteLayout, job: HostJob) -> HostOutcome:
        job.begin("read")
        run_dir = latest_run_dir(remote, layout)
        doc = None
        idle: float | None = None
        if run_dir:
            clock = remote.run(
                f"date +%s; stat -c %Y {sh(run_dir)}/*.json 2>/dev/null | sort -n | tail -n 1",
                check=False,
                log_output=False,
            ).stdout.split()
            now = float(clock[0]) if clock and clock[0].isdigit() else None
            practice = remote.read_text(f"{run_dir}/{practice_state.FILE_NAME}")
            if practice is not None and now is not None:
                verdict, line, found = practice_status(practice, now, self.stuck_after)
                found["run_dir"] = run_dir
                return HostOutcome(job.label, verdict, "read", line, data=found)
            idle = now - float(clock[1]) if now is not None and len(clock) > 1 else None
            doc, problem = parse_document(remote.read_text(f"{run_dir}/report.json"))
            if problem:
                broken = f"report.json {problem}"
                found = {"progress": FAIL, "where": broken, "run_dir": run_dir}
                return HostOutcome(job.label, FAIL, "read", broken, data=found)
        detached = remote.run(detached_lab_check(layout), check=False, log_output=False)
        where = classify(doc, idle, self.stuck_after, detached.exited == ALREADY_RUNNING)
        state = {RUNNING: OK, STUCK: WARN}.get(where.state, where.state)
        data = {
            "progress": where.state,
            "where": where.where,
            "lab": where.lab,
            "steps": f"{where.done_steps}/{where.total_steps}" if where.total_steps else "",
            "idle": where.idle_seconds,
            "run_dir": run_dir or "",
        }
        return HostOutcome(job.label, state, "read", where.where, data=data)

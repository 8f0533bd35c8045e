"""workshop.check: is every attendee machine ready? The doctor, run remotely.

When mobylab is installed on the host, its own `mobylab doctor --json` decides.
Either way plain commands report the engine version and the free disk, so a
fresh machine still shows something useful ("not installed").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .. import ui
from ..jsondata import JsonDict, JsonObject
from .layout import RemoteLayout
from .pool import FAIL, OK, WARN, HostJob, HostOutcome
from .remote import RemoteHost, sh

DISK_WARN_BYTES = 5 * 10**9
DISK_FAIL_BYTES = 1 * 10**9
NOT_INSTALLED = "not installed"
# The check's exit status when mobylab is not installed on a host (no doctor ran).
NOT_INSTALLED_EXIT = 3
# The doctor's checks a provisioned lab depends on. The others (git, make, debootstrap, a
# registry, root) serve building engines and images here, which attendees do not do.
LAB_NEEDS = frozenset(
    {"python", "docker CLI", "engine", "engine API", "BuildKit", "free disk", "offline images"}
)
# A dev daemon (provision --dev) also needs its container's privileges and cgroups.
DEV_NEEDS = LAB_NEEDS | {"privileged containers", "cgroups"}


@dataclass
class CheckFacts:
    """What the plain commands and the doctor said (raw, before any judgement)."""

    engine_version: str | None = None
    engine_error: str = ""
    disk_free: int | None = None
    mobylab_version: str | None = None
    doctor: JsonDict | None = None
    doctor_error: str = ""


@dataclass
class CheckRow:
    state: str
    engine: str
    disk: str
    privileged: str
    mobylab: str
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> JsonDict:
        return {
            "state": self.state,
            "engine": self.engine,
            "disk": self.disk,
            "privileged": self.privileged,
            "mobylab": self.mobylab,
            "notes": self.notes,
        }


def parse_df(text: str) -> int | None:
    """Pure: free bytes from `df -Pk PATH` output (second line, fourth column)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if len(lines) < 2:
        return None
    parts = lines[-1].split()
    if len(parts) < 4 or not parts[3].isdigit():
        return None
    return int(parts[3]) * 1024


def parse_doctor(text: str) -> JsonDict | None:
    """Pure: the doctor's JSON object from its output (ignoring any lines around it)."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        value = json.loads(text[start : end + 1])
    except ValueError:
        return None
    if not isinstance(value, dict) or "ok" not in value:
        return None
    return value


def privileged_text(doctor: JsonObject | None) -> str:
    """Pure: the doctor's privileged check in a few words: works, fallback, refused."""
    if not doctor:
        return "unknown"
    for check in doctor.get("checks") or []:
        name = str(check.get("name", "")).lower()
        if "privileged" not in name:
            continue
        detail = str(check.get("detail") or "").lower()
        if check.get("status") == FAIL:
            return "refused, no fallback"
        if "fallback" in detail:
            return "fallback works" if "works" in detail else "fallback"
        return "works" if check.get("status") == OK else str(check.get("status", "?"))
    return "unknown"


def summarize(facts: CheckFacts, needs: frozenset[str] | None = None) -> CheckRow:
    """Pure: the verdict for one host from its facts; `needs`: only these doctor checks
    count (None: all, and the doctor's own verdict)."""
    notes: list[str] = []
    state = OK
    engine = facts.engine_version or "none"
    if facts.engine_version is None:
        state = FAIL
        notes.append(f"no Docker engine answers ({facts.engine_error or 'docker version failed'})")
    disk = ui.human_bytes(facts.disk_free) if facts.disk_free is not None else "?"
    if facts.disk_free is not None and facts.disk_free < DISK_FAIL_BYTES:
        state = FAIL
        notes.append(f"only {disk} free")
    elif facts.disk_free is not None and facts.disk_free < DISK_WARN_BYTES and state == OK:
        state = WARN
        notes.append(f"only {disk} free")
    mobylab = facts.mobylab_version or NOT_INSTALLED
    if facts.mobylab_version is None:
        if state == OK:
            state = WARN
        notes.append("mobylab not installed: run workshop.provision")
    elif facts.doctor is None:
        if state == OK:
            state = WARN
        notes.append(f"doctor gave no report ({facts.doctor_error or 'no JSON'})")
    else:
        checks = [
            c for c in facts.doctor.get("checks") or [] if needs is None or c.get("name") in needs
        ]
        failing = [c for c in checks if c.get("status") == FAIL]
        warning = [c for c in checks if c.get("status") == WARN]
        if (needs is None and not facts.doctor.get("ok", False)) or failing:
            state = FAIL
        elif warning and state == OK:
            state = WARN
        for check in failing + warning:
            notes.append(f"{check.get('name')}: {check.get('detail') or check.get('status')}")
    return CheckRow(state, engine, disk, privileged_text(facts.doctor), mobylab, notes)


def gather(remote: RemoteHost, layout: RemoteLayout, job: HostJob) -> CheckFacts:
    """IO: run the plain commands and, if mobylab is there, the doctor."""
    facts = CheckFacts()
    job.begin("engine")
    result = remote.run(
        sh("docker", "version", "--format", "{{.Server.Version}}"), check=False, timeout=60
    )
    if result.ok and result.stdout.strip():
        facts.engine_version = result.stdout.strip().splitlines()[-1]
    else:
        facts.engine_error = remote.log.redactor.clean(result.last_line())
    job.begin("disk")
    result = remote.run(sh("df", "-Pk", remote.home()), check=False, timeout=30)
    facts.disk_free = parse_df(result.stdout) if result.ok else None
    job.begin("doctor")
    # One remote command, one Python start: the doctor's report carries the version.
    installed = f"test -x {sh(layout.mobylab)} && test -f {sh(layout.config)}"
    doctor = remote.run(
        f"{installed} || exit {NOT_INSTALLED_EXIT}; "
        + remote.env_command(
            layout.mobylab_env(), layout.mobylab_argv("doctor", "--json"), layout.root
        ),
        check=False,
        timeout=300,
    )
    if doctor.exited != NOT_INSTALLED_EXIT:
        facts.doctor = parse_doctor(doctor.stdout)
        facts.mobylab_version = str((facts.doctor or {}).get("version") or "?")
        if facts.doctor is None:
            facts.doctor_error = remote.log.redactor.clean(doctor.last_line())
    return facts


def check_body(remote: RemoteHost, layout: RemoteLayout, job: HostJob) -> HostOutcome:
    row = summarize(gather(remote, layout, job))
    return HostOutcome(job.label, row.state, job.step, "; ".join(row.notes), data=row.as_dict())

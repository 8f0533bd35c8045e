"""doctor: every prerequisite with OK, WARN or FAIL and how to fix it."""

from __future__ import annotations

import json

from invoke import task
from invoke.exceptions import Exit

from .. import doctor as checks
from .. import ui
from ..session import Session
from .base import friendly_errors


@task(help={"json": "print JSON ({ok, checks: [{name, status, detail, hint}], version})"})
@friendly_errors
def doctor(c, json_=False):
    """Check this machine: engine, privileges, tools, disk, registry or offline images."""
    session = Session.from_context(c)
    found = checks.run_doctor(session.settings)
    result = checks.summary(found)
    if json_:
        print(json.dumps(result, indent=2))
    else:
        rows = [(ch.name, ui.status_text(ch.status), ch.detail, ch.hint) for ch in found]
        ui.out.print(ui.table(["check", "status", "detail", "fix"], rows, title="mobylab doctor"))
    if not result["ok"]:
        failed = ", ".join(ch.name for ch in found if ch.status == checks.FAIL)
        raise Exit(f"error: the flagship lab cannot run here: {failed} failed.", code=1)

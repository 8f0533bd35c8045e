"""engine.up, engine.status, engine.down, engine.buildx."""

from __future__ import annotations

import json

from invoke import Collection, task

from .. import ui
from ..engine import Capabilities, PrivateEngine, display_url, probe
from ..images.buildx import BuildxStatus, install_buildx
from ..session import Session
from .base import friendly_errors


def _print_capabilities(caps: Capabilities) -> None:
    rows = [
        ("engine", display_url(caps.url)),
        ("version", f"{caps.server_version} (API {caps.api_version})"),
        ("storage driver", caps.storage_driver),
        ("image store", caps.image_store),
        ("cgroups", f"v{caps.cgroup_version} ({caps.cgroup_driver})"),
        ("BuildKit", "yes" if caps.buildkit else "no"),
        ("buildx", "yes" if caps.buildx else "no"),
    ]
    if caps.privileged:
        rows.append(("--privileged", "works"))
    else:
        dropped = ", ".join(caps.missing_capabilities) or "none"
        works = "works" if caps.fallback_works else "refused"
        rows.append(("--privileged", "refused"))
        rows.append(("fallback", f"all capabilities but {dropped} ({works})"))
    ui.out.print(ui.table(["", ""], rows, title="Docker engine"))
    for note in caps.notes:
        ui.info(f"note: {note}")


@task(help={"refresh": "probe again even if this engine was probed before"})
@friendly_errors
def up(c, refresh=False):
    """Use the running Docker engine, or start mobylab's private one, and probe it."""
    session = Session.from_context(c)
    engine = session.engine(start=True)
    caps = probe(engine, session.workspace, refresh=refresh)
    ui.info(f"engine ready: {engine.name} engine at {display_url(engine.url)}")
    _print_capabilities(caps)


@task(help={"json": "print JSON instead of a table", "refresh": "probe again"})
@friendly_errors
def status(c, json_=False, refresh=False):
    """Show which engine mobylab uses and what it allows."""
    session = Session.from_context(c)
    engine = session.engine(start=False)
    caps = probe(engine, session.workspace, refresh=refresh)
    if json_:
        print(json.dumps(caps.as_dict() | {"kind": engine.kind}, indent=2))
    else:
        _print_capabilities(caps)


@task
@friendly_errors
def down(c):
    """Stop mobylab's private engine (never an engine mobylab did not start)."""
    session = Session.from_context(c)
    if PrivateEngine(session.workspace).stop():
        ui.info("private engine stopped")
    else:
        ui.info("no private engine was running; nothing stopped")


@task(help={"force": "install Debian's plugin even when the CLI already has buildx"})
@friendly_errors
def buildx(c, force=False):
    """Give the docker CLI BuildKit builds: Debian's static buildx plugin, system-wide."""
    result = install_buildx(Session.from_context(c).settings, force=force)
    if result.status == BuildxStatus.PRESENT:
        ui.info(f"the docker CLI already has buildx: {result.version}")
    else:
        ui.info(f"{result.status} {result.path} from Debian {result.suite}: {result.version}")


ns = Collection("engine", up, status, down, buildx)

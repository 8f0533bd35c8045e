"""engine.up, engine.status, engine.down."""

from __future__ import annotations

import json

from invoke import Collection, task

from .. import ui
from ..engine import PrivateEngine, display_url, probe
from ..session import Session
from .base import friendly_errors


def _print_capabilities(caps_dict: dict[str, object]) -> None:
    rows = [
        ("engine", display_url(str(caps_dict["url"]))),
        ("version", f"{caps_dict['server_version']} (API {caps_dict['api_version']})"),
        ("storage driver", caps_dict["storage_driver"]),
        ("image store", caps_dict["image_store"]),
        ("cgroups", f"v{caps_dict['cgroup_version']} ({caps_dict['cgroup_driver']})"),
        ("BuildKit", "yes" if caps_dict["buildkit"] else "no"),
        ("buildx", "yes" if caps_dict["buildx"] else "no"),
    ]
    privileged = caps_dict["privileged"]
    if privileged:
        rows.append(("--privileged", "works"))
    else:
        dropped = ", ".join(caps_dict["missing_capabilities"]) or "none"  # type: ignore[arg-type]
        works = caps_dict["fallback_works"]
        rows.append(("--privileged", "refused"))
        rows.append(
            ("fallback", f"all capabilities but {dropped} ({'works' if works else 'refused'})")
        )
    ui.out.print(ui.table(["", ""], rows, title="Docker engine"))
    for note in caps_dict.get("notes") or []:  # type: ignore[attr-defined]
        ui.info(f"note: {note}")


@task(help={"refresh": "probe again even if this engine was probed before"})
@friendly_errors
def up(c, refresh=False):
    """Use the running Docker engine, or start mobylab's private one, and probe it."""
    session = Session.from_context(c)
    engine = session.engine(start=True)
    caps = probe(engine, session.workspace, refresh=refresh)
    ui.info(f"engine ready: {engine.name} engine at {display_url(engine.url)}")
    _print_capabilities(caps.as_dict())


@task(help={"json": "print JSON instead of a table", "refresh": "probe again"})
@friendly_errors
def status(c, json_=False, refresh=False):
    """Show which engine mobylab uses and what it allows."""
    session = Session.from_context(c)
    engine = session.engine(start=False)
    caps = probe(engine, session.workspace, refresh=refresh).as_dict()
    caps["kind"] = engine.kind
    if json_:
        print(json.dumps(caps, indent=2))
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
    from ..images.buildx import install_buildx
    from ..images.rootfs import cache_dir

    session = Session.from_context(c)
    settings = session.settings
    result = install_buildx(settings.debian_mirror, cache_dir(settings.rootfs_cache), force=force)
    if result.status == "present":
        ui.info(f"the docker CLI already has buildx: {result.version}")
    else:
        ui.info(f"{result.status} {result.path} from Debian {result.suite}: {result.version}")


ns = Collection("engine", up, status, down, buildx)

"""workshop.check, workshop.provision, workshop.run, workshop.collect, workshop.status,
workshop.board, workshop.teardown: the same mobylab on every attendee machine over SSH."""

from __future__ import annotations

import functools
import inspect
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke import Collection, task

from .. import process, ui
from ..config import Settings
from ..errors import UsageError, WorkshopError
from ..session import Session
from ..workshop.layout import DEFAULT_REMOTE_DIR, remote_dir_problem
from .base import friendly_errors

if TYPE_CHECKING:
    from ..workshop.driver import Body, Workshop
    from ..workshop.hosts import HostSpec
    from ..workshop.pool import HostOutcome

COMMON_HELP = {
    "hosts": "comma-separated hosts: [user@]host[:port], IPv6 in brackets",
    "hosts-file": "a file with one host per line (# comments)",
    "parallel": "how many hosts at once (default: the `parallel` setting, 8)",
    "timeout": "seconds each host may take (default: the `host_timeout` setting)",
    "known-hosts": "the known_hosts file to verify host keys against",
    "trust-new-hosts": "accept and record unknown host keys (never changed ones)",
    "ssh-config": "the ssh config file to read instead of ~/.ssh/config",
    "remote-dir": f"mobylab's folder on the hosts (default {DEFAULT_REMOTE_DIR})",
    "retries": "connection attempts after the first, with backoff (default 2)",
    "only-failed": "only the hosts that failed the last run of this task",
    "json": "print JSON instead of a table",
}


def _help(**extra: str) -> dict[str, str]:
    return COMMON_HELP | extra


def _parse_env(items: Sequence[str] | None) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.replace("_", "").isalnum() or key[0].isdigit():
            raise UsageError(f"--env {key!r} is not NAME=VALUE", "Write --env NAME=VALUE.")
        env[key] = value
    return env


def _count(name: str, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number < 0:
        raise UsageError(f"--{name} is {value!r}", "Use a whole number, 0 or more.")
    return number


@dataclass(frozen=True)
class HostFlags:
    """The flags every workshop task takes: which hosts, and how to reach them."""

    hosts: str | None = None
    hosts_file: str | None = None
    parallel: int | None = None
    timeout: float | None = None
    known_hosts: str | None = None
    trust_new_hosts: bool = False
    ssh_config: str | None = None
    remote_dir: str | None = None
    retries: int | None = None
    only_failed: bool = False


def with_host_flags(body: Callable[..., Any]) -> Callable[..., Any]:
    """Give a task the host flags: `body(c, flags, ...)` is seen by invoke as
    `(c, <the body's own flags>, <the host flags>)`, so the flags are declared once."""
    params = list(inspect.signature(body).parameters.values())
    host_params = [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default)
        for f in fields(HostFlags)
    ]

    @functools.wraps(body)
    def wrapper(c: Any, *args: Any, **kwargs: Any) -> Any:
        flags = HostFlags(**{f.name: kwargs.pop(f.name, f.default) for f in fields(HostFlags)})
        return body(c, flags, *args, **kwargs)

    wrapper.__signature__ = inspect.Signature([params[0], *params[2:], *host_params])  # type: ignore[attr-defined]
    return wrapper


def _setup(
    c: Any,
    task_name: str,
    flags: HostFlags,
    *,
    env: dict[str, str] | None = None,
) -> tuple[Session, Workshop, list[HostSpec]]:
    from ..workshop.driver import Workshop, WorkshopOptions
    from ..workshop.hosts import resolve_inventory, select
    from ..workshop.remote import SshOptions

    session = Session.from_context(
        c, parallel=flags.parallel, host_timeout=flags.timeout, known_hosts=flags.known_hosts
    )
    settings = session.settings
    if settings.parallel < 1:
        raise UsageError(f"--parallel is {settings.parallel}", "Use 1 or more.")
    config_path = flags.ssh_config or settings.ssh_config
    options = WorkshopOptions(
        ssh=SshOptions(
            known_hosts=Path(settings.known_hosts).expanduser(),
            trust_new_hosts=flags.trust_new_hosts,
            ssh_config=Path(config_path).expanduser() if config_path else None,
            retries=_count(
                "retries", settings.ssh_retries if flags.retries is None else flags.retries
            ),
        ),
        remote_dir=flags.remote_dir or settings.remote_dir,
        parallel=settings.parallel,
        host_timeout=settings.host_timeout,
        env=env or {},
    )
    problem = remote_dir_problem(options.remote_dir)
    if problem:
        raise UsageError(
            f"--remote-dir {options.remote_dir!r} cannot be mobylab's folder: {problem}",
            "Name a folder of its own, such as ~/.mobylab-workshop.",
        )
    workshop = Workshop(session.workspace, options)
    specs = resolve_inventory(flags.hosts, flags.hosts_file, settings.hosts)
    if flags.only_failed:
        failed = workshop.failed_last_time(task_name)
        if failed is None:
            raise UsageError(
                f"workshop.{task_name} has not run yet", "Run it once without --only-failed."
            )
        specs = select(specs, failed)
        if not specs:
            ui.info(f"no host failed the last workshop.{task_name}; nothing to do")
    return session, workshop, specs


def _summary_line(outcomes: Sequence[HostOutcome]) -> str:
    counts = Counter(o.state for o in outcomes)
    order = ["OK", "WARN", "FAIL", "UNREACHABLE", "REFUSED", "TIMEOUT", "SKIP"]
    parts = [f"{counts[s]} {s}" for s in order if counts[s]]
    return f"{len(outcomes)} hosts: " + ", ".join(parts)


def _finish(task_name: str, outcomes: Sequence[HostOutcome], as_json: bool) -> None:
    """The summary line, and a non-zero exit when any host failed."""
    if as_json:
        print(json.dumps([o.as_dict() for o in outcomes], indent=2))
    ui.info(_summary_line(outcomes))
    failures = [o for o in outcomes if o.failed]
    for outcome in failures:  # one line per host, naming it
        text = outcome.message or f"stopped at {outcome.step}"
        if not text.startswith(outcome.host):
            text = f"{outcome.host}: {text}"
        ui.err.print(f"{outcome.state}: {text}", markup=False, highlight=False)
    failed = [o.host for o in failures]
    if failed:
        shown = ", ".join(failed[:5]) + (" ..." if len(failed) > 5 else "")
        raise WorkshopError(
            f"workshop.{task_name}: {len(failed)} of {len(outcomes)} hosts failed ({shown})",
            f"See the table and {'<workspace>/workshop/logs'}; retry with --only-failed.",
        )


def _run(workshop: Workshop, task_name: str, specs: list[HostSpec], body: Body) -> list[Any]:
    if not specs:
        return []
    return workshop.run(task_name, specs, body)


def _outcome_table(outcomes: Sequence[HostOutcome], title: str) -> None:
    rows = [(o.host, ui.status_text(o.state), f"{o.seconds:.0f}s", o.message) for o in outcomes]
    ui.out.print(ui.table(["host", "state", "time", "details"], rows, title=title))


@task(auto_shortflags=False, help=_help())
@friendly_errors
@with_host_flags
def check(
    c,
    flags: HostFlags,
    json_=False,
):
    """Check every attendee machine (the doctor, run remotely) and show a table."""
    from ..workshop.check import check_body

    _, workshop, specs = _setup(c, "check", flags)
    outcomes = _run(workshop, "check", specs, check_body)
    if not json_:
        rows = []
        for o in outcomes:
            d = o.data
            rows.append(
                (
                    o.host,
                    ui.status_text(o.state),
                    d.get("engine", "-"),
                    d.get("disk", "-"),
                    d.get("privileged", "-"),
                    d.get("mobylab", "-"),
                    o.message,
                )
            )
        ui.out.print(
            ui.table(
                ["host", "state", "engine", "disk", "privileged", "mobylab", "notes"],
                rows,
                title="Attendee machines",
            )
        )
    _finish("check", outcomes, json_)


def _image_flags(settings: Settings, lab: str | None) -> list[str]:
    """images.save flags: --lab NAME, or --image for every image any lab declares."""
    if lab:
        return ["--lab", lab]
    from ..catalog import available
    from ..images import lab_image_names

    names: list[str] = []
    for name in available(settings):
        names += lab_image_names(name, settings)
    return [flag for name in dict.fromkeys(names) for flag in ("--image", name)]


def _images_archive(
    session: Session, source: Path, lab: str | None, refresh: bool, dev_image: str | None = None
) -> tuple[Path, str] | None:
    """The images archive from the local `mobylab images.save`, made once and reused
    (one per lab and dev image: a new dev build's image makes a new archive)."""
    from ..workspace import file_sha256

    folder = session.workspace.root / "workshop" / "artifacts"
    suffix = "-" + dev_image.replace("/", "_").replace(":", "_") if dev_image else ""
    archive = folder / f"images-{lab or 'all'}{suffix}.tar"
    if refresh or not archive.is_file():
        flags = _image_flags(session.settings, lab) + (["--image", dev_image] if dev_image else [])
        if not flags:
            ui.info("the labs declare no images; none copied")
            return None
        folder.mkdir(parents=True, exist_ok=True)
        ui.step(f"saving the labs' images to {archive}")
        argv = [sys.executable, "-c", "from mobylab.cli import main; main()", "images.save"]
        argv += flags
        log = session.workspace.root / "workshop" / "logs" / "images.save.log"
        result = process.run([*argv, str(archive)], log=log, timeout=3600)
        if not result.ok:
            raise WorkshopError(
                "mobylab images.save failed", f"See {log}.", detail="\n".join(result.tail[-10:])
            )
    return archive, file_sha256(archive)


def _dev_archive(session: Session) -> tuple[tuple[Path, str] | None, str]:
    """The workspace's last dev build (bundles and manifest) as an archive, and its dev
    image (which goes into the images archive)."""
    from ..dev.build import export_build, last_build
    from ..workshop import artifacts as art

    record = last_build(session.workspace)
    if record is None:
        raise WorkshopError(
            "--dev: nothing has been built in this workspace yet",
            "Run `invoke dev.build` first (or leave --dev out).",
        )
    folder = session.workspace.root / "workshop" / "dev-build"
    export_build(record, folder)
    ui.info(f"--dev: build {record.plan.commit[:12]} with its dev image {record.plan.dev_image}")
    archive = art.make_tar(folder, session.workspace.root / "workshop" / "artifacts", "dev-build")
    return archive, record.plan.dev_image


def _bundles_archive(session: Session) -> tuple[Path, str] | None:
    """The newest dev build's bundles folder in the workspace, as an archive."""
    from ..workshop import artifacts as art

    candidates = [p for p in session.workspace.root.glob("checkouts/*/bundles") if p.is_dir()]
    candidates = [p for p in candidates if any(p.iterdir())]
    if not candidates:
        ui.warn("no dev build's bundles in the workspace; --bundles skipped")
        return None
    newest = max(candidates, key=lambda p: p.stat().st_mtime)
    return art.make_tar(newest, session.workspace.root / "workshop" / "artifacts", "bundles")


@task(
    auto_shortflags=False,
    help=_help(
        source="the mobylab source tree to build the wheel from (default: this clone)",
        images="copy and load the labs' images (default yes; --no-images to skip)",
        lab="only the images of this lab",
        refresh_images="make the images archive again",
        bundles="also copy the workspace's newest dev build bundles",
        dev="give every host the last dev build (bundles and its dev image) for dev.up",
        python="the remote Python (default python3)",
    ),
)
@friendly_errors
@with_host_flags
def provision(
    c,
    flags: HostFlags,
    json_=False,
    source=None,
    images=True,
    lab=None,
    refresh_images=False,
    bundles=False,
    dev=False,
    python="python3",
):
    """Install or update mobylab, the labs and their images on every attendee machine."""
    from ..catalog import check_name
    from ..workshop import artifacts as art
    from ..workshop.provision import Provisioner

    session, workshop, specs = _setup(c, "provision", flags)
    if lab:
        check_name(lab)
    if not specs:
        return
    root = art.find_source(source)
    ui.step("building the wheelhouse (cached by a hash of the source)")
    started = time.monotonic()
    wheelhouse = art.build_wheelhouse(
        root, session.workspace.root / "wheelhouse", workshop.logs / "wheelhouse.log"
    )
    ui.info(f"wheelhouse: {len(wheelhouse.wheels)} wheels ({time.monotonic() - started:.0f}s)")
    dev_build, dev_image = _dev_archive(session) if dev else (None, None)
    artifacts = art.Artifacts(
        wheelhouse=wheelhouse,
        labs=art.make_tar(root / "labs", workshop.root / "artifacts", "labs"),
        images=_images_archive(session, root, lab, refresh_images, dev_image)
        if images or dev
        else None,
        bundles=_bundles_archive(session) if bundles else None,
        dev=dev_build,
    )
    outcomes = _run(workshop, "provision", specs, Provisioner(artifacts, python=python))
    if not json_:
        _outcome_table(outcomes, "Provisioning")
    _finish("provision", outcomes, json_)


@task(
    auto_shortflags=False,
    iterable=["env"],
    help=_help(
        lab="the lab to run",
        env="NAME=VALUE for the remote lab (repeatable)",
        detach="start the lab on every host and return; follow with workshop.status",
        engine="host (default), dev (each host's dev daemon, after provision --dev) or both",
    ),
)
@friendly_errors
@with_host_flags
def run(
    c,
    flags: HostFlags,
    lab,
    json_=False,
    env=None,
    detach=False,
    engine="host",
):
    """Run a lab on every attendee machine (`mobylab lab.run LAB --yes` there)."""
    from ..catalog import check_name
    from ..lab.engine_choice import parse_engine_choice
    from ..workshop.labrun import LabRunner

    check_name(lab)
    choice = parse_engine_choice(engine)
    variables = _parse_env(env)
    _, workshop, specs = _setup(c, "run", flags, env=variables)
    runner = LabRunner(lab, variables, detach=bool(detach), engine=choice)
    outcomes = _run(workshop, "run", specs, runner)
    if not json_:
        _outcome_table(outcomes, f"Lab {lab}")
    _finish("run", outcomes, json_)


@task(auto_shortflags=False, help=_help())
@friendly_errors
@with_host_flags
def collect(
    c,
    flags: HostFlags,
    json_=False,
):
    """Fetch each host's newest lab report and write one report (JSON, Markdown, HTML)."""
    from ..workshop.collect import ReportFetcher, aggregate, summarize_host, write_reports

    _, workshop, specs = _setup(c, "collect", flags)
    dest = workshop.root / "reports" / time.strftime("%Y%m%d-%H%M%S")
    fetcher = ReportFetcher(dest / "hosts", workshop.redactor)
    outcomes = _run(workshop, "collect", specs, fetcher)
    rows = [
        summarize_host(o.host, o.data.get("report"), "" if o.data.get("report") else o.message)
        for o in outcomes
    ]
    summary = aggregate(rows)
    paths = write_reports(summary, dest, workshop.redactor)
    if json_:
        print(json.dumps(summary, indent=2))
    else:
        table_rows = []
        for row in summary["results"]:
            verdict = "passed" if row["passed"] else ("FAILED" if row["finished"] else "no report")
            steps = ", ".join(
                f"{s['name']} {'ok' if s['passed'] else 'FAIL' if s['passed'] is False else '-'}"
                for s in row["steps"]
            )
            table_rows.append((row["host"], verdict, steps or row["error"]))
        ui.out.print(ui.table(["host", "result", "steps"], table_rows, title="Collected reports"))
    slow = summary["slowest_step"]
    ui.info(
        f"{summary['finished']}/{summary['hosts']} finished, {summary['passed']} passed"
        + (
            f"; slowest step {slow['step']} on {slow['host']} ({slow['seconds']:.1f}s)"
            if slow
            else ""
        )
    )
    ui.info(f"report: {paths['html']} (also {paths['md'].name}, {paths['json'].name})")
    _finish("collect", outcomes, False)


@task(
    auto_shortflags=False,
    help=_help(stuck_after="seconds without progress before a host counts as stuck"),
)
@friendly_errors
@with_host_flags
def status(
    c,
    flags: HostFlags,
    json_=False,
    stuck_after=300.0,
):
    """Show who is done, who is stuck and where, from each host's newest lab run."""
    from ..workshop.labrun import StatusReader

    _, workshop, specs = _setup(c, "status", flags)
    outcomes = _run(workshop, "status", specs, StatusReader(float(stuck_after)))
    if not json_:
        rows = []
        for o in outcomes:
            d = o.data
            idle = d.get("idle")
            rows.append(
                (
                    o.host,
                    ui.status_text(d.get("progress", o.state)),
                    d.get("lab", ""),
                    d.get("steps", ""),
                    d.get("where", o.message) if d else o.message,
                    f"{idle:.0f}s ago" if isinstance(idle, int | float) else "",
                )
            )
        ui.out.print(
            ui.table(["host", "state", "lab", "steps", "where", "last update"], rows, "Lab runs")
        )
        counts = Counter(o.data.get("progress", o.state) for o in outcomes)
        ui.info(", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
    _finish("status", outcomes, json_)


def _port(value: Any) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = -1
    if not 0 <= port <= 65535:
        raise UsageError(f"--port is {value!r}", "Use a port number, 0 to 65535 (0: a free one).")
    return port


BOARD_HELP = _help(
    port="the port on 127.0.0.1 (default 8090; 0 takes a free one)",
    interval="seconds between two reads of every host (default 3)",
    stuck_after="seconds on one step (practice) or without progress before a host is stuck",
)
BOARD_HELP.pop("json")  # a page, not a table: no --json


@task(auto_shortflags=False, help=BOARD_HELP)
@friendly_errors
@with_host_flags
def board(c, flags: HostFlags, port=8090, interval=3.0, stuck_after=300.0):
    """Serve a live page of every host's lab, step by step, on 127.0.0.1 (Ctrl-C stops it)."""
    from ..workshop.board import BoardServer

    port = _port(port)
    every = float(interval)
    if not every > 0:
        raise UsageError(f"--interval is {interval!r}", "Use a number of seconds more than 0.")
    _, workshop, specs = _setup(c, "board", flags)
    if not specs:
        raise UsageError("workshop.board has no hosts to show", "Give --hosts or --hosts-file.")
    server = BoardServer(workshop, specs, port=port, interval=every, stuck_after=float(stuck_after))
    url = server.start()
    ui.info(f"board: {url} ({len(specs)} hosts, read every {every:g}s; Ctrl-C stops it)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        ui.info("board stopped")
    finally:
        server.stop()


@task(
    auto_shortflags=False,
    iterable=["label"],
    help=_help(
        yes="really remove (without it, only list what would go)",
        label="also require this org.mobylab.* label, KEY=VALUE (repeatable)",
    ),
)
@friendly_errors
@with_host_flags
def teardown(
    c,
    flags: HostFlags,
    json_=False,
    yes=False,
    label=None,
):
    """List, then with --yes remove, what mobylab created on the hosts (by label only)."""
    from ..workshop.teardown import Teardown, label_filters

    label_filters(label or [])
    _, workshop, specs = _setup(c, "teardown", flags)
    outcomes = _run(workshop, "teardown", specs, Teardown(remove=bool(yes), labels=label or []))
    if not json_:
        _outcome_table(outcomes, "Teardown" if yes else "Teardown (listing only)")
    if not yes:
        ui.info("nothing was removed; run again with --yes to remove it")
    _finish("teardown", outcomes, json_)


ns = Collection("workshop", check, provision, run, collect, status, board, teardown)

"""The frame every workshop task shares: connect each host, run a body, record outcomes.

A body gets a connected RemoteHost, the host's RemoteLayout and its HostJob,
and returns a HostOutcome. The driver handles the pool, the live board, the
per-host logs, redaction of every message, and the state --only-failed reads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..jsondata import JsonDict
from ..workspace import Workspace
from .display import HostBoard
from .hosts import HostSpec
from .layout import DEFAULT_REMOTE_DIR, RemoteLayout
from .pool import HostJob, HostOutcome, run_on_hosts
from .redact import Redactor, redacted, secrets_in_env
from .remote import HostLog, RemoteHost, SshOptions

Body = Callable[[RemoteHost, RemoteLayout, HostJob], HostOutcome]
STATE_NAME = "workshop"


@dataclass(frozen=True)
class WorkshopOptions:
    ssh: SshOptions
    remote_dir: str = DEFAULT_REMOTE_DIR
    parallel: int = 8
    host_timeout: float = 600.0
    env: dict[str, str] = field(default_factory=dict)
    live: bool | None = None


def logs_folder(workspace: Workspace) -> Path:
    """Where each host's log of the workshop tasks is kept."""
    return workspace.root / "workshop" / "logs"


class Workshop:
    """One workshop task over a set of hosts."""

    def __init__(self, workspace: Workspace, options: WorkshopOptions) -> None:
        self.workspace = workspace
        self.options = options
        self.redactor = Redactor(secrets_in_env(options.env))

    @property
    def root(self) -> Path:
        path = self.workspace.root / "workshop"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def logs(self) -> Path:
        path = logs_folder(self.workspace)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def log_for(self, spec: HostSpec) -> HostLog:
        return HostLog(self.logs / f"{spec.file_name}.log", self.redactor)

    def run(
        self,
        task: str,
        specs: Sequence[HostSpec],
        body: Body,
        *,
        quiet: bool = False,
        stop: threading.Event | None = None,
    ) -> list[HostOutcome]:
        """Run `body` on every host. `quiet` (the board's repeated polls): no live table
        and no record for --only-failed; `stop` ends the jobs early (see run_on_hosts)."""

        def job_body(job: HostJob) -> HostOutcome:
            log = self.log_for(job.spec)
            log.write(f"--- workshop.{task} ---")
            remote = RemoteHost(job, self.options.ssh, log)
            try:
                job.begin("connect")
                remote.connect()
                layout = RemoteLayout(remote.path(self.options.remote_dir))
                outcome = body(remote, layout, job)
            except Exception as exc:
                log.write(f"stopped at {job.step}: {exc}")
                raise
            finally:
                remote.close()
            log.write(f"result: {outcome.state} {outcome.message}")
            return outcome

        def pool(update: Callable[[str, str, str], None]) -> list[HostOutcome]:
            return run_on_hosts(
                specs,
                job_body,
                parallel=self.options.parallel,
                timeout=self.options.host_timeout,
                update=update,
                stop=stop,
            )

        if quiet:
            outcomes = pool(lambda label, step, note: None)
        else:
            labels = [s.label for s in specs]
            with HostBoard(labels, f"workshop.{task}", live=self.options.live) as board:
                outcomes = pool(board.update)
        for outcome in outcomes:
            outcome.message = self.redactor.clean(outcome.message)
            outcome.data = redacted(outcome.data, self.redactor)
        if not quiet:
            self.record(task, outcomes)
        return outcomes

    # -- state for --only-failed -------------------------------------------
    def record(self, task: str, outcomes: Sequence[HostOutcome]) -> None:
        state: JsonDict = self.workspace.load_state(STATE_NAME, {}) or {}
        state[task] = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "hosts": [o.host for o in outcomes],
            "failed": [o.host for o in outcomes if o.failed],
            "outcomes": [o.as_dict() for o in outcomes],
        }
        self.workspace.save_state(STATE_NAME, state)

    def failed_last_time(self, task: str) -> list[str] | None:
        """The hosts that failed the last run of `task`; None if it never ran."""
        state = self.workspace.load_state(STATE_NAME, {}) or {}
        entry = state.get(task)
        if not isinstance(entry, dict):
            return None
        return [str(host) for host in entry.get("failed", [])]

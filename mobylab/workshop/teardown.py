"""workshop.teardown: list, then remove, what the workshop put on each host.

Docker objects are found by label (org.mobylab.managed=true). Without a narrowing
--label, only what this workshop's own runs made is taken: the lab images and
containers of the runs in its remote workspace, and the dev containers, volumes
and networks of that workspace; the base and dev images, the Go caches and every
other workspace's objects on the same engine stay. A --label narrows by label alone.
The remote folder is removed only when it carries mobylab's marker file, the
attendee's command only when it names that folder. Without --yes nothing is removed.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..dev.container import LABEL_KEY
from ..errors import UsageError
from ..labels import MANAGED, workspace_key
from .labrun import stop_detached_lab
from .layout import ATTENDEE_COMMAND, RemoteLayout, attendee_command_path
from .pool import OK, WARN, HostJob, HostOutcome, StepFailed
from .remote import RemoteHost, sh

RUN_LABEL = "org.mobylab.run"
# Each line: ID|NAME|RUN|DEV-KEY (the run and dev-key labels, '' when absent).
_LABELS = f'{{{{.Label "{RUN_LABEL}"}}}}|{{{{.Label "{LABEL_KEY}"}}}}'
_IMAGE_LABELS = (
    f'{{{{index .Config.Labels "{RUN_LABEL}"}}}}|{{{{index .Config.Labels "{LABEL_KEY}"}}}}'
)
# kind -> (list command, format, remove command)
KINDS = {
    "containers": (["docker", "ps", "-a"], "{{.ID}}|{{.Names}}|" + _LABELS, ["docker", "rm", "-f"]),
    "volumes": (
        ["docker", "volume", "ls"],
        "{{.Name}}|{{.Name}}|" + _LABELS,
        ["docker", "volume", "rm"],
    ),
    "networks": (
        ["docker", "network", "ls"],
        "{{.ID}}|{{.Name}}|" + _LABELS,
        ["docker", "network", "rm"],
    ),
    "images": (
        ["docker", "image", "ls", "-q"],
        "{{.Id}}|{{range $i, $t := .RepoTags}}{{if $i}},{{end}}{{$t}}{{end}}|" + _IMAGE_LABELS,
        ["docker", "image", "rm", "-f"],
    ),
}


@dataclass(frozen=True)
class Found:
    """A Docker object as listed: its id, its name, and the labels that say whose it is."""

    ident: str
    name: str
    run: str = ""
    dev_key: str = ""


def listing_command(kind: str, filters: Sequence[str]) -> str:
    """Shell: list `kind` as ID|NAME|RUN|DEV-KEY lines (images through inspect, since
    `docker image ls` cannot print labels)."""
    listing, fmt, _ = KINDS[kind]
    if kind == "images":
        return (
            sh(*listing, *filters)
            + " | sort -u | xargs -r "
            + sh("docker", "image", "inspect", "--format", fmt)
        )
    return sh(*listing, *filters, "--format", fmt)


def label_filters(extra: Sequence[str]) -> list[str]:
    """Pure: docker --filter arguments: mobylab's label, then the narrowing ones."""
    filters = ["--filter", f"label={MANAGED}=true"]
    for item in extra:
        key, sep, value = item.partition("=")
        if (
            not key.startswith("org.mobylab.")
            or not key.replace(".", "").replace("-", "").isalnum()
        ):
            raise UsageError(
                f"--label {item!r} is not an org.mobylab.* label",
                "Narrow teardown with labels mobylab sets, e.g. org.mobylab.component=lab.",
            )
        filters += ["--filter", f"label={key}={value}" if sep else f"label={key}"]
    return filters


def parse_listing(text: str) -> list[Found]:
    """Pure: `ID|NAME|RUN|DEV-KEY` lines -> objects (duplicates dropped, order kept)."""
    seen: set[str] = set()
    found: list[Found] = []
    for line in text.splitlines():
        # A label an image lacks prints as "<no value>".
        fields = [field.replace("<no value>", "") for field in line.strip().split("|")]
        ident, name, run, dev_key = [*fields, "", "", ""][:4]
        if ident and ident not in seen:
            seen.add(ident)
            found.append(Found(ident, name or ident, run, dev_key))
    return found


def workshop_made(found: Found, runs: set[str], dev_key: str) -> bool:
    """Pure: the object belongs to a run of the workshop's workspace, or to its dev
    environment."""
    return (bool(found.run) and found.run in runs) or (
        bool(found.dev_key) and found.dev_key == dev_key
    )


def removal_text(found: Mapping[str, Sequence[Found]], paths: Sequence[str]) -> str:
    """Pure: what goes, by name: 'containers a, b; images x:1; /home/u/.mobylab-workshop'."""
    parts = [
        f"{kind} {', '.join(item.name for item in items)}" for kind, items in found.items() if items
    ]
    return "; ".join([*parts, *paths]) or "nothing of the workshop's"


def already_gone(output: str) -> bool:
    """Pure: every error in a docker rm output says the object no longer exists."""
    errors = [line for line in output.splitlines() if line.lower().startswith("error")]
    return bool(errors) and all("no such" in line.lower() for line in errors)


def removal_problem(root: str, home: str) -> str:
    """Pure: why mobylab's remote folder must not be removed whole, or ''.

    `--remote-dir ~` (or /, or a parent of the home) marks a folder mobylab does not
    own alone: removing it would take the attendee's own files with it.
    """
    folder = posixpath.normpath(root)
    home = posixpath.normpath(home)
    if folder in ("/", ".", "") or folder == home or home.startswith(folder.rstrip("/") + "/"):
        return "it is the home folder, / or holds the home folder"
    return ""


@dataclass
class Teardown:
    """List (and with remove=True delete) what the workshop put on a host."""

    remove: bool
    labels: Sequence[str] = ()

    def _runs(self, remote: RemoteHost, layout: RemoteLayout) -> set[str]:
        """The run ids of the workshop's remote workspace (its reports' folders)."""
        listing = remote.run(sh("ls", "-1", layout.reports), check=False, log_output=False)
        return {name for name in listing.stdout.split() if name not in ("latest", "LATEST")}

    def __call__(self, remote: RemoteHost, layout: RemoteLayout, job: HostJob) -> HostOutcome:
        if self.remove:
            job.begin("stop lab")
            # A lab left running by workshop.run --detach would go on making containers.
            remote.run(stop_detached_lab(layout), check=False)
        filters = label_filters(self.labels)
        runs = self._runs(remote, layout)
        dev_key = workspace_key(Path(layout.workspace))
        found: dict[str, list[Found]] = {}
        unlisted: list[str] = []
        for kind in KINDS:
            job.begin(f"list {kind}")
            result = remote.run(listing_command(kind, filters), check=False)
            listed = parse_listing(result.stdout) if result.ok else []
            if not self.labels:  # not narrowed: only what the workshop's runs made
                listed = [item for item in listed if workshop_made(item, runs, dev_key)]
            found[kind] = listed
            if not result.ok:
                unlisted.append(kind)
        job.begin("list folder")
        paths = [layout.root] if remote.run(sh("test", "-f", layout.marker), check=False).ok else []
        command = attendee_command_path(remote.home())
        if f"{ATTENDEE_COMMAND}: mobylab of {layout.root}\n" in (remote.read_text(command) or ""):
            paths.append(command)
        data: dict[str, list[str]] = {k: [item.name for item in v] for k, v in found.items()}
        data["folder"] = [layout.root] if layout.root in paths else []
        data["command"] = [command] if command in paths else []
        state = WARN if unlisted else OK
        text = removal_text(found, paths)
        if unlisted:  # no engine there: say so rather than "nothing"
            text += f"; could not list {', '.join(unlisted)} (is Docker running?)"
        if not self.remove:
            return HostOutcome(job.label, state, "listed", f"would remove: {text}", data=data)
        for kind, (_, _, removal) in KINDS.items():
            if found[kind]:
                job.begin(f"remove {kind}")
                result = remote.run(sh(*removal, *(i.ident for i in found[kind])), check=False)
                if not result.ok and not already_gone(result.stdout + result.stderr):
                    reason = remote.log.redactor.clean(result.last_line())
                    raise StepFailed(f"{job.label}: removing {kind} failed: {reason}")
        if layout.root in paths:
            job.begin("remove folder")
            problem = removal_problem(layout.root, remote.home())
            if problem:
                raise StepFailed(f"{job.label}: not removing {layout.root}: {problem}")
            remote.run(sh("rm", "-rf", "--", layout.root), what=f"removing {layout.root}")
        if command in paths:
            remote.run(sh("rm", "-f", "--", command), what=f"removing {command}")
        return HostOutcome(job.label, state, "removed", f"removed: {text}", data=data)

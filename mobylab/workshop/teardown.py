"""workshop.teardown: list, then remove, what mobylab created on each host.

Docker objects are found by label only (org.mobylab.managed=true, plus any
--label the instructor adds to narrow it); the remote folder is removed only
when it carries mobylab's marker file. Without --yes nothing is removed.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import UsageError
from ..labels import MANAGED
from .labrun import stop_detached_lab
from .layout import RemoteLayout
from .pool import OK, WARN, HostJob, HostOutcome, StepFailed
from .remote import RemoteHost, sh

# kind -> (list command, format, remove command)
KINDS = {
    "containers": (["docker", "ps", "-a"], "{{.ID}} {{.Names}}", ["docker", "rm", "-f"]),
    "volumes": (["docker", "volume", "ls"], "{{.Name}} {{.Name}}", ["docker", "volume", "rm"]),
    "networks": (["docker", "network", "ls"], "{{.ID}} {{.Name}}", ["docker", "network", "rm"]),
    "images": (
        ["docker", "image", "ls"],
        "{{.ID}} {{.Repository}}:{{.Tag}}",
        ["docker", "image", "rm", "-f"],
    ),
}


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


def parse_listing(text: str) -> list[tuple[str, str]]:
    """Pure: `ID NAME` lines -> pairs (duplicates dropped, order kept)."""
    seen: set[str] = set()
    pairs: list[tuple[str, str]] = []
    for line in text.splitlines():
        ident, _, name = line.strip().partition(" ")
        if ident and ident not in seen:
            seen.add(ident)
            pairs.append((ident, name or ident))
    return pairs


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
    """List (and with remove=True delete) mobylab's objects and folder on a host."""

    remove: bool
    labels: Sequence[str] = ()

    def __call__(self, remote: RemoteHost, layout: RemoteLayout, job: HostJob) -> HostOutcome:
        if self.remove:
            job.begin("stop lab")
            # A lab left running by workshop.run --detach would go on making containers.
            remote.run(stop_detached_lab(layout), check=False)
        filters = label_filters(self.labels)
        found: dict[str, list[tuple[str, str]]] = {}
        unlisted: list[str] = []
        for kind, (listing, fmt, _) in KINDS.items():
            job.begin(f"list {kind}")
            result = remote.run(sh(*listing, *filters, "--format", fmt), check=False)
            found[kind] = parse_listing(result.stdout) if result.ok else []
            if not result.ok:
                unlisted.append(kind)
        job.begin("list folder")
        has_marker = remote.run(sh("test", "-f", layout.marker), check=False).ok
        summary = [f"{len(v)} {k}" for k, v in found.items() if v]
        if has_marker:
            summary.append(f"folder {layout.root}")
        data = {k: [name for _, name in v] for k, v in found.items()}
        data["folder"] = [layout.root] if has_marker else []
        state = WARN if unlisted else OK
        if unlisted:  # no engine there: say so rather than "nothing"
            summary.append(f"could not list {', '.join(unlisted)} (is Docker running?)")
        if not self.remove:
            text = ", ".join(summary) if summary else "nothing of mobylab's"
            return HostOutcome(job.label, state, "listed", f"would remove: {text}", data=data)
        for kind, (_, _, removal) in KINDS.items():
            if found[kind]:
                job.begin(f"remove {kind}")
                result = remote.run(sh(*removal, *(i for i, _ in found[kind])), check=False)
                if not result.ok and not already_gone(result.stdout + result.stderr):
                    reason = remote.log.redactor.clean(result.last_line())
                    raise StepFailed(f"{job.label}: removing {kind} failed: {reason}")
        if has_marker:
            job.begin("remove folder")
            problem = removal_problem(layout.root, remote.home())
            if problem:
                raise StepFailed(f"{job.label}: not removing {layout.root}: {problem}")
            remote.run(sh("rm", "-rf", "--", layout.root), what=f"removing {layout.root}")
        text = ", ".join(summary) if summary else "nothing of mobylab's"
        return HostOutcome(job.label, state, "removed", f"removed: {text}", data=data)

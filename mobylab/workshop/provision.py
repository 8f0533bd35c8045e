"""workshop.provision: install or update mobylab, the labs and their images on a host.

Steps: prepare (folder + marker), python, wheels (copy only files whose sha256
differs), venv (python3 -m venv --without-pip, then pip from the wheelhouse), labs,
images (one archive, loaded with the remote `mobylab images.load`), bundles, doctor. The
host's state.json records what was installed, so a second run skips each step
whose input did not change and says so.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

from ..jsondata import JsonDict, JsonObject
from ..workspace import file_sha256
from .artifacts import Artifacts
from .check import DEV_NEEDS, LAB_NEEDS, gather, summarize
from .layout import ATTENDEE_COMMAND, RemoteLayout, attendee_command_path
from .pool import HostJob, HostOutcome, StepFailed
from .remote import RemoteHost, sh

MIN_PYTHON = (3, 11)


def needed(
    remote_state: JsonObject, artifacts: Artifacts, installed: str | None
) -> dict[str, bool]:
    """Pure: which install steps have work to do on a host in `remote_state`."""
    wheels = artifacts.wheelhouse
    return {
        "venv": remote_state.get("wheelhouse") != wheels.source_hash
        or installed != artifacts.version,
        "labs": artifacts.labs is not None and remote_state.get("labs") != artifacts.labs[1],
        "images": artifacts.images is not None
        and remote_state.get("images") != artifacts.images[1],
        "bundles": artifacts.bundles is not None
        and remote_state.get("bundles") != artifacts.bundles[1],
        "dev": artifacts.dev is not None and remote_state.get("dev") != artifacts.dev[1],
    }


def stale_wheels(remote: dict[str, str], local: dict[str, str]) -> list[str]:
    """Pure: the local wheel names whose remote copy is missing or different."""
    return [name for name, digest in local.items() if remote.get(name) != digest]


def parse_python_version(text: str) -> tuple[int, int] | None:
    """Pure: `Python 3.11.2` -> (3, 11)."""
    words = text.strip().split()
    if len(words) < 2:
        return None
    parts = words[-1].split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (ValueError, IndexError):
        return None


@dataclass
class ProvisionReport:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def line(self) -> str:
        if not self.done:
            return "already up to date (" + ", ".join(self.skipped) + " skipped)"
        text = "; ".join(self.done)
        return text + (f" ({', '.join(self.skipped)} up to date)" if self.skipped else "")


class Provisioner:
    """The provision body for one set of artifacts."""

    def __init__(self, artifacts: Artifacts, python: str = "python3") -> None:
        self.artifacts = artifacts
        self.python = python

    def __call__(self, remote: RemoteHost, layout: RemoteLayout, job: HostJob) -> HostOutcome:
        report = ProvisionReport()
        job.begin("prepare")
        remote.run(
            sh("mkdir", "-p", layout.root, layout.wheelhouse, layout.workspace, layout.images)
            + " && "
            + sh("touch", layout.marker),
            what="preparing " + layout.root,
        )
        state = self._load_state(remote, layout)
        job.begin("python")
        version = remote.run(sh(self.python, "--version"), check=False, what="python3")
        found = parse_python_version(version.stdout or version.stderr)
        if found is None or found < MIN_PYTHON:
            raise StepFailed(
                f"{job.label}: needs Python >= 3.11 "
                f"(found {version.last_line() if version.ok else 'no ' + self.python})"
            )
        installed = self._installed_version(remote, layout)
        todo = needed(state, self.artifacts, installed)

        job.begin("wheels")
        copied = self._copy_wheels(remote, layout)
        if copied:
            report.done.append(f"{copied} wheels copied")
        else:
            report.skipped.append("wheels")

        job.begin("venv")
        if todo["venv"]:
            self._install(remote, layout)
            state["wheelhouse"] = self.artifacts.wheelhouse.source_hash
            self._save_state(remote, layout, state)
            report.done.append(f"mobylab {self.artifacts.version} installed")
        else:
            report.skipped.append("venv")

        job.begin("command")
        command = self._install_command(remote, layout, report)
        if remote.read_text(layout.config) != layout.config_text(command):
            remote.write_text(layout.config, layout.config_text(command))

        for step in ("labs", "images", "bundles", "dev"):
            job.begin(step)
            item = getattr(self.artifacts, step)
            if item is None:
                report.skipped.append(f"{step} (none)")
                continue
            if not todo[step]:
                report.skipped.append(step)
                continue
            getattr(self, f"_copy_{step}")(remote, layout, job)
            state[step] = item[1]
            self._save_state(remote, layout, state)
            report.done.append(f"{step} copied" if step != "images" else "images loaded")

        job.begin("doctor")
        # Only what the provisioned lab (and dev daemon) needs may warn.
        row = summarize(gather(remote, layout, job), DEV_NEEDS if self.artifacts.dev else LAB_NEEDS)
        notes = "; ".join([*row.notes, f"attendees type: {command} lab.practice LAB"])
        message = f"{report.line()}; {notes}"
        data = row.as_dict() | {"done": report.done, "skipped": report.skipped}
        return HostOutcome(job.label, row.state, "doctor", message, data=data)

    # -- state --------------------------------------------------------------
    def _load_state(self, remote: RemoteHost, layout: RemoteLayout) -> JsonDict:
        text = remote.read_text(layout.state)
        try:
            value = json.loads(text) if text else {}
        except ValueError:
            value = {}
        return value if isinstance(value, dict) else {}

    def _save_state(self, remote: RemoteHost, layout: RemoteLayout, state: JsonDict) -> None:
        remote.write_text(layout.state, json.dumps(state, indent=2, sort_keys=True) + "\n")

    def _installed_version(self, remote: RemoteHost, layout: RemoteLayout) -> str | None:
        result = remote.run(
            f"test -x {sh(layout.mobylab)} && {sh(layout.mobylab, '--version')}", check=False
        )
        words = result.stdout.split()
        return words[-1] if result.ok and words else None

    # -- steps ----------------------------------------------------------------
    def _install_command(
        self, remote: RemoteHost, layout: RemoteLayout, report: ProvisionReport
    ) -> str:
        """The attendee's command in ~/.local/bin; returns how attendees type it: its name
        when their login shell finds it there, else its path."""
        path = attendee_command_path(remote.home())
        script = layout.attendee_script()
        if remote.read_text(path) != script:
            remote.run(sh("mkdir", "-p", posixpath.dirname(path)), what="~/.local/bin")
            remote.write_text(path, script)
            remote.run(sh("chmod", "755", path), what=f"chmod {path}")
            report.done.append(f"{ATTENDEE_COMMAND} installed")
        found = remote.run(
            '"${SHELL:-/bin/sh}" -lc ' + sh(f"command -v {ATTENDEE_COMMAND}"),
            check=False,
            log_output=False,
        )
        lines = found.stdout.strip().splitlines()
        return ATTENDEE_COMMAND if lines and lines[-1] == path else path

    def _copy_wheels(self, remote: RemoteHost, layout: RemoteLayout) -> int:
        local = self.artifacts.wheelhouse
        names = list(local.wheels)
        remote_paths = [posixpath.join(layout.wheelhouse, n) for n in names]
        existing = {posixpath.basename(p): d for p, d in remote.sha256s(remote_paths).items()}
        stale = stale_wheels(existing, local.wheels)
        for name in stale:
            remote.put(local.path / name, posixpath.join(layout.wheelhouse, name))
        listing = remote.run(sh("ls", "-1", layout.wheelhouse), log_output=False).stdout.split()
        extra = [n for n in listing if n.endswith(".whl") and n not in local.wheels]
        if extra:
            remote.run(sh("rm", "-f", "--", *(posixpath.join(layout.wheelhouse, n) for n in extra)))
        return len(stale)

    def _install(self, remote: RemoteHost, layout: RemoteLayout) -> None:
        # A venv cut short (the host dropped, Ctrl-C) has a python but no pip: make it again.
        fresh = remote.run(sh(layout.python, "-m", "pip", "--version"), check=False).exited != 0
        if fresh:
            # Without ensurepip (hosts need no python3-venv package, and it compiled all
            # of pip): pip comes from the wheelhouse like everything else.
            remote.run(
                sh(self.python, "-m", "venv", "--clear", "--without-pip", layout.venv),
                what="python3 -m venv",
            )
        wheelhouse = self.artifacts.wheelhouse
        wheel = posixpath.join(layout.wheelhouse, wheelhouse.mobylab_wheel)
        # pip runs from its wheel file, so a venv without pip can install it too.
        pip = [layout.python, posixpath.join(layout.wheelhouse, wheelhouse.pip_wheel, "pip")]
        pip += ["install", "--disable-pip-version-check", "-q", "--no-index"]
        # --no-compile: compiling every installed module took as long as installing them;
        # Python compiles what mobylab imports the first time it runs.
        pip += ["--no-compile", "--find-links", layout.wheelhouse]
        remote.run(sh(*pip, wheel, "pip"), what="pip install", timeout=900)
        if not fresh:
            # Same version number, new source: replace mobylab itself, not the rest.
            remote.run(sh(*pip, "--force-reinstall", "--no-deps", wheel), what="pip install")

    def _upload_archive(
        self, remote: RemoteHost, folder: str, item: tuple[Any, str], job: HostJob
    ) -> str:
        local_path = item[0]
        target = posixpath.join(folder, local_path.name)
        have = remote.sha256s([target]).get(target)
        if have != file_sha256(local_path):
            job.note(f"copying {local_path.name}")
            remote.put(local_path, target)
        # images.load checks the archive against the PATH.sha256 written next to it.
        sidecar = local_path.with_name(local_path.name + ".sha256")
        if sidecar.is_file():
            remote.put(sidecar, target + ".sha256")
        return target

    def _unpack(
        self,
        remote: RemoteHost,
        layout: RemoteLayout,
        item: tuple[Any, str],
        folder: str,
        job: HostJob,
    ) -> None:
        """Copy a tar.gz (with its sha256) over and make `folder` exactly its content."""
        archive = self._upload_archive(remote, layout.root, item, job)
        remote.run(
            sh("rm", "-rf", folder)
            + " && "
            + sh("mkdir", "-p", folder)
            + " && "
            + sh("tar", "-xzf", archive, "-C", folder)
            + " && "
            + sh("rm", "-f", archive),
            what=f"unpacking {posixpath.basename(folder)}",
        )

    def _copy_labs(self, remote: RemoteHost, layout: RemoteLayout, job: HostJob) -> None:
        assert self.artifacts.labs is not None
        self._unpack(remote, layout, self.artifacts.labs, layout.labs, job)

    def _copy_images(self, remote: RemoteHost, layout: RemoteLayout, job: HostJob) -> None:
        assert self.artifacts.images is not None
        archive = self._upload_archive(remote, layout.images, self.artifacts.images, job)
        job.note("mobylab images.load")
        remote.run(
            remote.env_command(
                layout.mobylab_env(), layout.mobylab_argv("images.load", archive), layout.root
            ),
            what="mobylab images.load",
            timeout=1800,
        )

    def _copy_bundles(self, remote: RemoteHost, layout: RemoteLayout, job: HostJob) -> None:
        assert self.artifacts.bundles is not None
        self._unpack(remote, layout, self.artifacts.bundles, layout.bundles, job)

    def _copy_dev(self, remote: RemoteHost, layout: RemoteLayout, job: HostJob) -> None:
        """The dev build's bundles and manifest, registered as the host's last build (its
        dev image came in the images archive)."""
        assert self.artifacts.dev is not None
        self._unpack(remote, layout, self.artifacts.dev, layout.dev_build, job)
        job.note("mobylab dev.import")
        remote.run(
            remote.env_command(
                layout.mobylab_env(),
                layout.mobylab_argv("dev.import", layout.dev_build),
                layout.root,
            ),
            what="mobylab dev.import",
        )

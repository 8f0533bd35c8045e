"""Where mobylab keeps its things on an attendee machine (pure paths).

<remote dir>/                 default ~/.mobylab-workshop
  .mobylab-workshop           marker file: teardown removes the folder only if it is there
  mobylab.json                the remote mobylab's settings (workspace, labs_dir)
  state.json                  what provision installed (hashes), to skip work next time
  wheelhouse/                 the instructor's wheels
  venv/                       python3 -m venv, mobylab installed from the wheelhouse
  labs/                       the instructor's labs
  images/                     the images archive made by `mobylab images.save`
  bundles/                    a dev build's bundles (--bundles)
  dev-build/                  the last dev build with its manifest (--dev), for dev.up
  workspace/                  the remote mobylab's workspace (MOBYLAB_WORKSPACE)
~/.local/bin/mobylab-workshop   what attendees type: mobylab with this folder's settings
"""

from __future__ import annotations

import json
import posixpath
import shlex
from dataclasses import dataclass

from ..config import Settings

MARKER = ".mobylab-workshop"
DEFAULT_REMOTE_DIR = Settings().remote_dir
# The attendee's command: `mobylab-workshop lab.practice multistage`.
ATTENDEE_COMMAND = "mobylab-workshop"


def attendee_command_path(home: str) -> str:
    """Where the attendee's command goes: ~/.local/bin, which a login shell puts on PATH
    once the folder exists (Debian's and Ubuntu's ~/.profile)."""
    return posixpath.join(home, ".local", "bin", ATTENDEE_COMMAND)


@dataclass(frozen=True)
class RemoteLayout:
    root: str

    def _join(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    @property
    def marker(self) -> str:
        return self._join(MARKER)

    @property
    def state(self) -> str:
        return self._join("state.json")

    @property
    def config(self) -> str:
        """The remote mobylab's config file (`mobylab -f`): its workspace and labs."""
        return self._join("mobylab.json")

    def config_text(self, command: str = ATTENDEE_COMMAND) -> str:
        """The settings file; `command` is what the hints tell the attendee to type."""
        settings = {"workspace": self.workspace, "labs_dir": self.labs, "command": command}
        return json.dumps({"mobylab": settings}, indent=2) + "\n"

    def attendee_script(self) -> str:
        """The attendee's command: this folder's mobylab with its settings. Its second
        line names the folder, so teardown removes only a command of this workshop."""
        argv = " ".join(shlex.quote(part) for part in self.mobylab_argv())
        return f'#!/bin/sh\n# {ATTENDEE_COMMAND}: mobylab of {self.root}\nexec {argv} "$@"\n'

    def mobylab_argv(self, *args: str) -> list[str]:
        return [self.mobylab, "-f", self.config, *args]

    @property
    def wheelhouse(self) -> str:
        return self._join("wheelhouse")

    @property
    def venv(self) -> str:
        return self._join("venv")

    @property
    def python(self) -> str:
        return self._join("venv", "bin", "python")

    @property
    def mobylab(self) -> str:
        return self._join("venv", "bin", "mobylab")

    @property
    def labs(self) -> str:
        return self._join("labs")

    @property
    def images(self) -> str:
        return self._join("images")

    @property
    def bundles(self) -> str:
        return self._join("bundles")

    @property
    def dev_build(self) -> str:
        """The instructor's dev build (--dev): bundles/ and build.json, for dev.import."""
        return self._join("dev-build")

    @property
    def workspace(self) -> str:
        return self._join("workspace")

    @property
    def reports(self) -> str:
        return self._join("workspace", "reports")

    @property
    def lab_pid(self) -> str:
        """The process (and session) id of a lab started with workshop.run --detach."""
        return self._join("lab.pid")

    @property
    def lab_log(self) -> str:
        """The output of a detached lab run."""
        return self._join("lab-run.log")

    def mobylab_env(self) -> dict[str, str]:
        """The environment the remote mobylab runs with."""
        return {"MOBYLAB_WORKSPACE": self.workspace, "MOBYLAB_LABS_DIR": self.labs}


def remote_dir_problem(value: str) -> str:
    """Pure: why `--remote-dir` cannot be mobylab's own folder on the hosts, or ''.

    mobylab owns that folder whole (teardown removes it): the home folder, / or a
    folder holding the home would take the attendee's own files with them.
    """
    text = value.strip()
    if text.startswith("~"):
        text = "/HOME" + text[1:]
    folder = posixpath.normpath(text) if text else "."
    if (
        folder in ("/", ".", "/HOME")
        or folder.startswith("..")
        or "/HOME".startswith(folder.rstrip("/") + "/")
    ):
        return "it is the home folder, / or a folder above it"
    return ""

"""The `lab` command inside a sandbox, answered by the server.

The sandbox has no Python and no mobylab: its `lab` drops a request (its
arguments, one per line) into the sandbox's request folder and waits for the
answer. The server finds it there through the engine, runs the practice `lab` on
the seat's run, as lab.practice's shell would, against the sandbox's daemon, in a
process of its own (never typed into the attendee's terminal), on its copy of the
work folder taken from the sandbox just before, and writes the output and the
exit status back (and what `lab` changed in the work folder).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ... import process
from ...errors import MobylabError
from .files import IPC_DIR, REQUEST, SeatFiles

OUTPUT = ".out"
DONE = ".done"
# `lab solve` builds and runs the step's commands: give it time.
ANSWER_SECONDS = 900.0
# The requests the server answers: the practice `lab`'s own subcommands and options.
ALLOWED = frozenset(
    {"check", "hint", "solve", "next", "--skip", "status", "show", "reset", "--help", "-h"}
)


def lab_script() -> str:
    """Pure: the sandbox's `lab`: a request file in, the server's answer out."""
    return (
        "#!/bin/sh\n"
        "# lab: asks the workshop server to run `lab ARGS` on this seat's practice run.\n"
        f"ipc={IPC_DIR}\n"
        'id="$$-$(date +%s%N)"\n'
        f'printf \'%s\\n\' "$@" > "$ipc/.$id" && mv "$ipc/.$id" "$ipc/$id{REQUEST}"\n'
        f'while [ ! -e "$ipc/$id{DONE}" ]; do sleep 0.1; done\n'
        f'cat "$ipc/$id{OUTPUT}" 2>/dev/null\n'
        f'code=$(cat "$ipc/$id{DONE}")\n'
        f'rm -f "$ipc/$id{REQUEST}" "$ipc/$id{OUTPUT}" "$ipc/$id{DONE}"\n'
        'exit "${code:-1}"\n'
    )


def request_args(text: str) -> list[str] | None:
    """Pure: a request's arguments, or None when it asks for something `lab` does not do
    (any argument is allowed after `show`: a file name the practice `lab` checks)."""
    args = [line for line in text.split("\n") if line]
    if not args:
        return []
    if args[0] == "show":
        return args[:2]
    if any(arg not in ALLOWED for arg in args):
        return None
    return args


@dataclass
class LabBridge:
    """Where one seat's requests arrive and how its practice `lab` runs."""

    files: SeatFiles
    state_path: Path
    engine_env: Mapping[str, str]
    answered: set[str] = field(default_factory=set)

    def pending(self) -> list[tuple[str, str]]:
        """(id, text) of the requests not answered yet (a request stays in the
        sandbox until its `lab` has read the answer)."""
        waiting = self.files.requests()
        return [(key, waiting[key]) for key in sorted(waiting) if key not in self.answered]

    def answer(self, key: str, text: str, columns: int) -> None:
        """Run the request's `lab` and write its output and exit status for the sandbox."""
        self.answered.add(key)
        args = request_args(text)
        if args is None:
            self._reply(key, "error: lab: that is not a lab command. See `lab --help`.\n", 2)
            return
        try:
            before = self.files.take_workdir()
        except MobylabError as exc:
            self._reply(key, f"error: lab: {exc.one_line()}\n", 1)
            return
        lines: list[str] = []
        done = process.run(
            [sys.executable, "-m", "mobylab.lab.practice.cli", *args],
            env=self.environment(columns),
            on_line=lines.append,
            timeout=ANSWER_SECONDS,
        )
        self.files.give_back(before)
        self._reply(key, "".join(f"{line}\n" for line in lines), done.returncode)

    def _reply(self, key: str, output: str, code: int) -> None:
        self.files.answer({f"{key}{OUTPUT}": output, f"{key}{DONE}": f"{code}\n"})

    def environment(self, columns: int) -> dict[str, str]:
        package_parent = str(Path(__file__).resolve().parents[3])
        python_path = os.pathsep.join(
            p for p in (package_parent, os.environ.get("PYTHONPATH")) if p
        )
        return {
            **self.engine_env,
            "MOBYLAB_PRACTICE": str(self.state_path),
            "PYTHONPATH": python_path,
            "COLUMNS": str(columns),
            "TERM": "xterm-256color",
            "FORCE_COLOR": "1",
        }

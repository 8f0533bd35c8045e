"""What a scenario is: the smallest thing that states a behaviour of an engine.

An executable file (a shell script, usually), or a folder holding an executable
`run` and the files it uses (Dockerfiles, a build context). Exit 0 means the
behaviour is there, any other exit that it is not. The images it needs come from
`--seed` and, for a folder, its `seed` file (one image a line, `#` comments).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ..errors import UsageError

RUN = "run"
SEED_FILE = "seed"
# How long a scenario may take on one engine before it counts as not tested.
DEFAULT_TIMEOUT = 600.0


class ScenarioKind(StrEnum):
    SCRIPT = "script"
    FOLDER = "folder"


@dataclass(frozen=True)
class Scenario:
    """A scenario found on disk, with the images it needs seeded into a dev daemon."""

    name: str
    kind: ScenarioKind
    # The script, or the folder holding `run`.
    path: Path
    seeds: tuple[str, ...] = ()

    @property
    def entry(self) -> str:
        """What runs, relative to the scratch copy."""
        return RUN if self.kind is ScenarioKind.FOLDER else self.path.name

    def files(self) -> list[Path]:
        """Every file of the scenario, in a stable order."""
        if self.kind is ScenarioKind.SCRIPT:
            return [self.path]
        return sorted(p for p in self.path.rglob("*") if p.is_file())

    def digest(self) -> str:
        """Pure of its files: what it does. A changed scenario asks a new question, so a
        bisect log of the old one is not resumed."""
        digest = hashlib.sha256()
        for path in self.files():
            digest.update(str(path.relative_to(self.path.parent)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
        digest.update("\0".join(self.seeds).encode())
        return digest.hexdigest()[:16]


def parse_seed_file(text: str) -> tuple[str, ...]:
    """Pure: the images a `seed` file names, one a line; blank lines and `#` comments skipped."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return tuple(line for line in lines if line)


def load_scenario(given: str, seeds: Sequence[str] = ()) -> Scenario:
    """The scenario at `given`, or a UsageError saying why it cannot run."""
    path = Path(given).expanduser()
    if not path.exists():
        raise UsageError(
            f"no scenario at {given}",
            "Give an executable file, or a folder with an executable `run`.",
        )
    path = path.resolve()
    if path.is_dir():
        entry, kind = path / RUN, ScenarioKind.FOLDER
        if not entry.is_file():
            raise UsageError(
                f"the scenario folder {given} has no `run` file",
                "Put the executable that states the behaviour in it as `run`.",
            )
    else:
        entry, kind = path, ScenarioKind.SCRIPT
    if not os.access(entry, os.X_OK):
        raise UsageError(f"{entry} is not executable", f"Run `chmod +x {entry}`.")
    seed_file = path / SEED_FILE
    in_folder = kind is ScenarioKind.FOLDER and seed_file.is_file()
    listed = parse_seed_file(seed_file.read_text()) if in_folder else ()
    wanted = tuple(dict.fromkeys([*seeds, *listed]))
    return Scenario(name=path.name, kind=kind, path=path, seeds=wanted)

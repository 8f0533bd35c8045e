"""What a scenario is: the smallest thing that states a behaviour of an engine.

An executable file (a shell script, usually), or a folder holding an executable
`run` and the files it uses (Dockerfiles, a build context). Exit 0 means the
behaviour is there, any other exit that it is not. The images it needs come from
`--seed` and, for a folder, its `seed` file (one image a line, `#` comments).

A lab's step is one too, named `lab:NAME:STEP` (NAME as every lab task takes it, a
catalog name or a lab folder's path; STEP its number as the lab shows it): its
reference commands and checks say whether the behaviour is there (labstep.py).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ..config import Settings
from ..errors import LabError, UsageError
from ..lab.catalog import find_lab
from ..lab.model import Lab

RUN = "run"
SEED_FILE = "seed"
LAB_PREFIX = "lab:"
# How long a scenario may take on one engine before it counts as not tested.
DEFAULT_TIMEOUT = 600.0
# The last lines of its output a result keeps (the whole of it is in its log).
TAIL_LINES = 8
_NUMBER = re.compile(r"[0-9]{1,6}")


class ScenarioKind(StrEnum):
    SCRIPT = "script"
    FOLDER = "folder"
    LAB_STEP = "lab step"


@dataclass(frozen=True)
class LabStep:
    """A lab's step asked as a scenario; the steps before it set up its state."""

    lab: Lab
    # 1-based, as the lab shows it.
    number: int


@dataclass(frozen=True)
class Scenario:
    """A scenario found on disk, with the images it needs seeded into a dev daemon."""

    name: str
    kind: ScenarioKind
    # The script, the folder holding `run`, or the lab's folder.
    path: Path
    seeds: tuple[str, ...] = ()
    lab_step: LabStep | None = None

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
        if self.lab_step is not None:
            digest.update(f"\0step {self.lab_step.number}".encode())
        return digest.hexdigest()[:16]


def parse_seed_file(text: str) -> tuple[str, ...]:
    """Pure: the images a `seed` file names, one a line; blank lines and `#` comments skipped."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return tuple(line for line in lines if line)


def time_limit_or(message: str, seconds: float, timeout: float) -> str:
    """Pure: why a scenario could not test: the time limit when it ran that long, else
    what stopped it."""
    return f"the time limit ({timeout:g}s) stopped it" if seconds >= timeout else message


def steps_text(lab: Lab) -> str:
    """Pure: a lab's steps in one line, as a step of it is named: "1. Title; 2. Title"."""
    return "; ".join(f"{number}. {step.title}" for number, step in enumerate(lab.steps, 1))


def step_number(lab: Lab, text: str, given: str) -> int:
    """Pure: the 1-based step `text` names in `lab`, or a UsageError naming its steps."""
    count = len(lab.steps)
    if _NUMBER.fullmatch(text) and 1 <= int(text) <= count:
        return int(text)
    what = "names no step" if not text else f"{lab.name} has no step {text!r}"
    raise UsageError(
        f"{given}: {what}; its steps: {steps_text(lab)}",
        f"Give lab:{lab.name}:N, N from 1 to {count}.",
    )


def load_lab_step(given: str, seeds: Sequence[str], settings: Settings) -> Scenario:
    """The lab step `lab:NAME:STEP` names, or a UsageError: no such lab, no such step."""
    rest = given.removeprefix(LAB_PREFIX)
    # A lab folder's path may hold a colon; the step never does.
    name, colon, text = rest.rpartition(":")
    if not colon:
        name, text = rest, ""
    try:
        lab = find_lab(name, settings)
    except (LabError, UsageError) as exc:  # no such lab, or its lab.toml is broken
        raise UsageError(f"{given}: {exc.message}", exc.hint) from None
    number = step_number(lab, text, given)
    return Scenario(
        name=f"{LAB_PREFIX}{lab.name}:{number}",
        kind=ScenarioKind.LAB_STEP,
        path=lab.path,
        seeds=tuple(dict.fromkeys(seeds)),
        lab_step=LabStep(lab, number),
    )


def load_scenario(given: str, seeds: Sequence[str], settings: Settings) -> Scenario:
    """The scenario `given` names (a path, or `lab:NAME:STEP`), or a UsageError saying
    why it cannot run."""
    if given.startswith(LAB_PREFIX):
        return load_lab_step(given, seeds, settings)
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

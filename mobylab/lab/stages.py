"""Pure: which builder ran a `docker build`, and which stages it built, from its output.

The legacy builder prints `Step 3/10 : FROM golang AS builder` and builds every
stage up to the target; BuildKit prints `#7 [builder 3/5] RUN ...` and builds only
the stages the target needs. Both are read from what the build printed, never
assumed from versions, so a report can say what was really built and skipped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .records import Builder, StageReport

_BUILDKIT_STEP = re.compile(r"^#\d+ \[([A-Za-z0-9_.-]+)(?: \d+/\d+)?\]")
_BUILDKIT_ANY = re.compile(r"^#\d+ ")
# A step of the Dockerfile itself (`#7 [builder 3/5] RUN`, `#5 [2/3] COPY`), not
# BuildKit's own `[internal]` or `[auth]` work: the frontend accepted the Dockerfile.
_BUILDKIT_DOCKERFILE_STEP = re.compile(r"^#\d+ \[(?:\S+ )?\d+/\d+\]")
_LEGACY_STEP = re.compile(r"^Step (\d+)/\d+ : (\S+)(?:\s+(.*))?$")
_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*\S+(?:\s+AS\s+(\S+))?\s*$", re.IGNORECASE)


def dockerfile_stages(text: str) -> list[str]:
    """Pure: the stages of a Dockerfile in order, by name (`AS name`) or as BuildKit
    calls an unnamed one (`stage-N`)."""
    stages: list[str] = []
    for line in text.splitlines():
        match = _FROM.match(line)
        if match:
            name = match.group(1)
            stages.append(name.lower() if name else f"stage-{len(stages)}")
    return stages


@dataclass
class StageLog:
    """Fed a build's output line by line; knows the builder, the stages it built, and
    whether it got past what an engine refuses before building (BuildKit ran a step of
    the Dockerfile; the legacy builder reached its second instruction). Fed every line,
    not a tail: a build dying in a long dump still started."""

    stages: Sequence[str] = ()
    builder: Builder | None = None
    built: list[str] = field(default_factory=list)
    started: bool = False
    _legacy_froms: int = 0

    def feed(self, line: str) -> None:
        text = line.strip()
        if _BUILDKIT_ANY.match(text):
            self.builder = self.builder or Builder.BUILDKIT
            self.started = self.started or bool(_BUILDKIT_DOCKERFILE_STEP.match(text))
            match = _BUILDKIT_STEP.match(text)
            if match and match.group(1) != "internal":
                self._saw(match.group(1).lower())
            return
        match = _LEGACY_STEP.match(text)
        if match:
            self.builder = self.builder or Builder.LEGACY
            self.started = self.started or int(match.group(1)) > 1
            if match.group(2).upper() == "FROM":
                index = self._legacy_froms
                self._legacy_froms += 1
                named = re.search(r"\bAS\s+(\S+)", match.group(3) or "", re.IGNORECASE)
                if named:
                    self._saw(named.group(1).lower())
                elif index < len(self.stages):
                    self._saw(self.stages[index])
                else:
                    self._saw(f"stage-{index}")

    def _saw(self, stage: str) -> None:
        if stage not in self.built:
            self.built.append(stage)


def target_of(argv: Sequence[str]) -> str | None:
    """Pure: the --target of a docker build command line, if any."""
    words = list(argv)
    for index, word in enumerate(words):
        if word == "--target" and index + 1 < len(words):
            return words[index + 1]
        if word.startswith("--target="):
            return word.split("=", 1)[1]
    return None


def dockerfile_of(argv: Sequence[str]) -> str:
    """Pure: the -f/--file of a docker build command line, else "Dockerfile"."""
    words = list(argv)
    for index, word in enumerate(words):
        if word in ("-f", "--file") and index + 1 < len(words):
            return words[index + 1]
        if word.startswith("--file="):
            return word.split("=", 1)[1]
    return "Dockerfile"


def stage_report(
    stages: Sequence[str], built: Sequence[str], builder: Builder | None, target: str
) -> StageReport:
    """Pure: what a `--target` build built and skipped, and one line saying so."""
    skipped = [stage for stage in stages if stage not in built]
    position = stages.index(target) if target in stages else len(stages) - 1
    before = [s for s in skipped if s in stages[:position]]
    after = [s for s in skipped if s in stages[position + 1 :]]
    made = ", ".join(built) or "nothing"
    if builder == Builder.BUILDKIT:
        text = f"BuildKit built {made} for --target {target}"
        if skipped:
            text += f" and skipped {', '.join(skipped)}: not needed for that target"
            if before:
                text += f" ({', '.join(before)} even comes before it)"
    elif builder == Builder.LEGACY:
        text = f"the legacy builder built {made}: every stage up to --target {target}"
        if after:
            text += (
                f"; {', '.join(after)} {'comes' if len(after) == 1 else 'come'} after the target"
            )
    else:
        text = f"the build's output names no stages (built: {made})"
    return StageReport(
        builder=builder,
        target=target,
        stages=tuple(stages),
        built=tuple(built),
        skipped=tuple(skipped),
        skipped_before_target=tuple(before),
        text=text,
    )

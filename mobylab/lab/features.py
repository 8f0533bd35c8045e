"""Pure: does an engine lack a step's feature, and the matrix's words.

A step that declares what it needs (`needs_api`, `needs_builder`) is decided before
it runs, from what the engine reports (`lacking_need`); a step that declares no
need but shows a `feature` is told apart after it ran, by what the engine did,
never by a table of versions or dates:
- the engine refused the Dockerfile or an option before building anything (a
  2017 daemon reads `FROM x AS builder` as an image reference: "invalid reference
  format"): the step is "not in this engine", in the daemon's own words;
- or the engine built something else than asked without a word (a daemon that
  predates `--target` ignores it and builds every stage): a check marked
  `shows_feature` sees it in what was built.
Any other failure is a failure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .model import Step
from .records import CheckResult, CommandResult, EngineRecord, FeatureCell, Status

_DAEMON_WORDS = (
    re.compile(r"Error response from daemon: (.+)$"),
    re.compile(r"^ERROR: (?:failed to solve: )?(.+)$"),
    re.compile(r"^error: (.+)$"),
)


# Failures that say nothing of the engine's features: it could not be reached, an image
# could not be had, the context or disk failed. A build stopping early on these fails.
_NOT_ABOUT_FEATURES = re.compile(
    r"cannot connect to the docker daemon|connection refused|no such host|"
    r"pull access denied|manifest unknown|repository does not exist|not found: manifest|"
    r"failed to resolve source metadata|toomanyrequests|unauthorized|"
    r"unable to prepare context|no such file or directory|no space left on device|"
    r"context canceled|i/o timeout",
    re.IGNORECASE,
)


def api_tuple(version: str) -> tuple[int, ...]:
    """Pure: "1.44" as (1, 44); () for what is not a version."""
    parts = version.strip().split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else ()


def lacking_need(step: Step, engine: EngineRecord) -> str:
    """Pure: what the engine lacks of what the step declares it needs, or ''."""
    if step.needs_api:
        speaks = api_tuple(engine.api_version or "")
        if speaks and speaks < api_tuple(step.needs_api):
            return f"needs API {step.needs_api}; this engine speaks {engine.api_version}"
    if step.needs_builder is not None and engine.builder is not step.needs_builder:
        return (
            f"needs the {step.needs_builder} builder; this engine builds with "
            f"{engine.builder} ({engine.builder_reason})"
        )
    return ""


def refused_before_building(command: CommandResult) -> bool:
    """Pure: the build stopped before its second instruction (legacy) or any step of
    the Dockerfile (BuildKit), refusing what it was given: not unreachable, not an
    image it could not pull, not a missing context; the engine refused the Dockerfile
    or an option."""
    if command.role != "build" or command.started_building:
        return False
    return not any(_NOT_ABOUT_FEATURES.search(line) for line in command.output_tail)


def daemon_words(lines: Sequence[str]) -> str:
    """Pure: the daemon's own error message in a command's output."""
    for line in reversed(lines):
        for pattern in _DAEMON_WORDS:
            match = pattern.search(line.strip())
            if match:
                return match.group(1).strip()
    tail = [line.strip() for line in lines if line.strip()]
    return tail[-1] if tail else "no output"


def absent_reason(
    feature: str,
    commands: Sequence[CommandResult],
    checks: Sequence[CheckResult],
    shows_feature: Sequence[bool],
) -> str:
    """Pure: why the engine lacks the step's feature ('' when the step simply failed,
    passed, or shows no feature). `shows_feature`: for each check, whether its failure
    means the engine ignored the feature."""
    if not feature:
        return ""
    for command in commands:
        if command.exited_as_expected:
            continue
        if refused_before_building(command):
            return daemon_words(command.output_tail)
        return ""
    # The app works but what was built differs from what was asked: the option was
    # ignored. Any other failing check makes it a plain failure.
    failing = [
        (check, marked)
        for check, marked in zip(checks, shows_feature, strict=True)
        if check.passed is False
    ]
    if failing and all(marked for _, marked in failing):
        return f"it ignored it and built something else: {failing[0][0].seen}"
    return ""


def cell_text(cell: FeatureCell) -> str:
    """Pure: one cell of the features x engines matrix as a table shows it."""
    if cell.status is Status.PASSED:
        return "yes"
    if cell.status is Status.ABSENT:
        return f"not in this engine ({cell.reason or '?'})"
    if cell.status is Status.NOT_RUN:
        return "-"
    return f"{cell.status}: {cell.reason or '?'}"

"""Pure: placeholders, command words, and what a check concludes from plain data.

The runner gathers the facts (outputs, exit codes, whether an image or a file
exists) and these functions decide; tests feed them plain values.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import LabError
from ..ui import human_bytes
from .model import PLACEHOLDERS, Check

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def unknown_placeholders(text: str) -> list[str]:
    return [name for name in _PLACEHOLDER.findall(text) if name not in PLACEHOLDERS]


def fill(text: str, values: Mapping[str, str]) -> str:
    """Replace {name} for the known placeholders; other braces stay (e.g. Go templates)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in PLACEHOLDERS:
            return match.group(0)
        if name not in values:
            raise LabError(f"the placeholder {{{name}}} has no value in this run")
        return values[name]

    return _PLACEHOLDER.sub(replace, text)


def with_labels(argv: Sequence[str], label_flags: Sequence[str]) -> list[str]:
    """Add label flags to the docker commands that create something (build, create, run)."""
    words = list(argv)
    if not words or words[0] != "docker" or len(words) < 2:
        return words
    position = 2
    if words[1] in ("image", "container") and len(words) > 2:
        position = 3
    if words[position - 1] in ("build", "create", "run"):
        return [*words[:position], *label_flags, *words[position:]]
    return words


def argv_of(text: str, values: Mapping[str, str]) -> list[str]:
    """The words of a command with its placeholders filled (each word filled on its own)."""
    return [fill(word, values) for word in shlex.split(text)]


def shown(argv: Sequence[str]) -> str:
    """A command as a learner types it."""
    return shlex.join(argv)


def last_json(output: str) -> Any:
    """The last line of the output that is a JSON object, or None."""
    for line in reversed(output.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


@dataclass
class CheckResult:
    type: str
    passed: bool | None  # None: skipped
    expected: str
    seen: str
    hint: str = ""
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Facts:
    """What the runner saw in one step, plus lookups it answers on demand."""

    outputs: list[str] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)
    values: Mapping[str, str] = field(default_factory=dict)
    read_file: Callable[[str], str] = lambda path: ""
    image_exists: Callable[[str], bool] = lambda ref: False
    # Bytes as the engine reports them; None when there is no such image.
    image_size: Callable[[str], int | None] = lambda ref: None
    # An image's working folder (Config.WorkingDir), None when there is no such image.
    image_workdir: Callable[[str], str | None] = lambda ref: None
    file_exists: Callable[[str], bool] = lambda path: False
    # Variant name -> parsed JSON output, for variants-agree.
    variant_outputs: Mapping[str, Any] = field(default_factory=dict)
    # False when the lab runs against a real site: exact counts are unknown.
    exact: bool = True


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def evaluate(check: Check, facts: Facts) -> CheckResult:
    """Decide one check from the facts."""
    kind = check.type
    if kind in ("output-equals", "output-contains", "json-equals", "exit-code"):
        if not facts.outputs or not -len(facts.outputs) <= check.command < len(facts.outputs):
            return CheckResult(
                kind, False, "a command output", "the command did not run", check.hint
            )
        output = facts.outputs[check.command]
        code = facts.exit_codes[check.command]
    if kind == "output-equals":
        expected = fill(str(check.expected), facts.values).strip()
        return CheckResult(kind, output.strip() == expected, expected, _short(output), check.hint)
    if kind == "output-contains":
        expected = fill(str(check.expected), facts.values)
        return CheckResult(
            kind, expected in output, f"output containing {expected!r}", _short(output), check.hint
        )
    if kind == "exit-code":
        return CheckResult(
            kind,
            code == check.expected,
            f"exit code {check.expected}",
            f"exit code {code}",
            check.hint,
        )
    if kind == "json-equals":
        seen = last_json(output)
        seen_text = _short(seen) if seen is not None else f"no JSON line in: {_short(output)}"
        if not facts.exact:
            passed = isinstance(seen, dict)
            return CheckResult(
                kind,
                passed,
                "a JSON object (exact counts unknown for a real site)",
                seen_text,
                check.hint,
                note="exact comparison skipped: --url points at a real site",
            )
        if check.expected_file:
            try:
                expected = json.loads(facts.read_file(check.expected_file))
            except ValueError as exc:
                raise LabError(f"{check.expected_file} is not valid JSON ({exc})") from None
        else:
            expected = check.expected
            if isinstance(expected, str):
                expected = json.loads(fill(expected, facts.values))
        return CheckResult(kind, seen == expected, _short(expected), seen_text, check.hint)
    if kind == "image-exists":
        ref = fill(check.image, facts.values)
        found = facts.image_exists(ref)
        return CheckResult(
            kind, found, f"image {ref}", f"image {ref}" if found else "no such image", check.hint
        )
    if kind == "image-smaller":
        return smaller(check, facts)
    if kind == "image-workdir":
        ref = fill(check.image, facts.values)
        expected = str(check.expected).rstrip("/") or "/"
        workdir = facts.image_workdir(ref)
        seen = "no such image" if workdir is None else f"working folder {workdir or '/'}"
        passed = workdir is not None and (workdir.rstrip("/") or "/") == expected
        return CheckResult(kind, passed, f"working folder {expected}", seen, check.hint)
    if kind == "file-exists":
        found = facts.file_exists(check.path)
        return CheckResult(
            kind, found, f"file {check.path}", check.path if found else "no such file", check.hint
        )
    if kind == "variants-agree":
        return agree(facts.variant_outputs, check.hint)
    raise LabError(f"unknown check type {kind!r}")


def smaller(check: Check, facts: Facts) -> CheckResult:
    """The image is smaller than `factor` times the image `than`."""
    ref, than = fill(check.image, facts.values), fill(check.than, facts.values)
    size, limit_of = facts.image_size(ref), facts.image_size(than)
    share = f"{check.factor:g} of " if check.factor != 1 else ""
    expected = f"image {ref} smaller than {share}{than}"
    if size is None or limit_of is None:
        missing = ref if size is None else than
        return CheckResult("image-smaller", False, expected, f"no image {missing}", check.hint)
    seen = f"{human_bytes(size)} against {human_bytes(limit_of)}"
    return CheckResult("image-smaller", size < check.factor * limit_of, expected, seen, check.hint)


def agree(outputs: Mapping[str, Any], hint: str = "") -> CheckResult:
    """Every variant printed the same JSON."""
    if not outputs:
        return CheckResult(
            "variants-agree", False, "outputs of the variants", "no variant printed JSON", hint
        )
    distinct = {json.dumps(v, sort_keys=True) for v in outputs.values()}
    seen = "; ".join(f"{name}: {_short(value)}" for name, value in outputs.items())
    missing = [name for name, value in outputs.items() if value is None]
    passed = len(distinct) == 1 and not missing
    return CheckResult("variants-agree", passed, "the same JSON from every variant", seen, hint)


def step_status(exit_ok: Sequence[bool], checks: Sequence[CheckResult], ran_all: bool) -> str:
    """passed, or failed when a command or a check failed."""
    if not all(exit_ok) or not ran_all:
        return "failed"
    if any(c.passed is False for c in checks):
        return "failed"
    return "passed"

"""Pure: placeholders, command words, and the check kinds: what a check concludes.

The runner gathers the facts (outputs, exit codes, whether an image or a file
exists) and the check kinds decide; tests feed them plain values. Each kind is
one class in CHECK_KINDS: its lab.toml fields, its category, its rule.
"""

from __future__ import annotations

import json
import re
import shlex
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import LabError
from ..ui import human_bytes
from .records import CheckResult, Status

if TYPE_CHECKING:
    from .model import Check

#: Placeholders the runner fills in per run.
PLACEHOLDERS = (
    "tag_prefix",
    "builder_image",
    "runtime_image",
    "url",
    "run_id",
    "extract",
)

#: The shell variable practice mode gives each placeholder ($TAG for {tag_prefix}).
SHELL_NAMES = {
    "tag_prefix": "TAG",
    "url": "URL",
    "run_id": "RUN_ID",
    "extract": "EXTRACT",
    "builder_image": "BUILDER_IMAGE",
    "runtime_image": "RUNTIME_IMAGE",
}

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


def as_typed(text: str) -> str:
    """Text with each placeholder as the shell variable a learner types ($TAG)."""
    return fill(text, {name: f"${variable}" for name, variable in SHELL_NAMES.items()})


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
    # The tags of the images this run made, to say which one was built instead.
    run_images: Callable[[], Sequence[str]] = lambda: ()
    # Variant name -> parsed JSON output, for variants-agree.
    variant_outputs: Mapping[str, Any] = field(default_factory=dict)
    # False when the lab runs against a real site: exact counts are unknown.
    exact: bool = True


def no_image(check_image: str, ref: str, facts: Facts) -> str:
    """Why the image a check looks for is not there, with the tags this run built."""
    built = [tag for tag in facts.run_images() if tag != ref]
    if not built:
        return f"no image {ref}"
    wanted = as_typed(check_image)
    looks_for = f"{wanted} ({ref})" if wanted != ref else ref
    return f"you built {', '.join(built)}; the check looks for {looks_for}"


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


class CheckCategory(StrEnum):
    """What a check looks at, which decides when it can run."""

    # A command's output or exit code: the command must have run.
    OUTPUT = "output"
    # Whether an image is there (and small enough): when it fails, running the image
    # would say nothing more.
    IMAGE = "image"
    # Other state of the engine or the work folder.
    STATE = "state"
    # What the variants printed, compared.
    VARIANTS = "variants"


class CheckKind(ABC):
    """One kind of check: its lab.toml fields, its category, and how it decides.

    Adding a kind is one subclass decorated with `@check_kind`: lab.toml validation,
    the runner and practice mode all read it from CHECK_KINDS.
    """

    name: ClassVar[str]
    category: ClassVar[CheckCategory]
    required: ClassVar[tuple[str, ...]] = ()
    optional: ClassVar[tuple[str, ...]] = ()
    # lab.toml refuses it in a step without commands (it reads one's output).
    needs_command: ClassVar[bool] = False

    @abstractmethod
    def evaluate(self, check: Check, facts: Facts) -> CheckResult:
        """Decide the check from the facts (pure but for the lookups facts answer)."""

    def result(self, check: Check, passed: bool, expected: str, seen: str) -> CheckResult:
        return CheckResult(self.name, passed, expected, seen, check.hint)


#: Every check kind by its lab.toml name, in the order the docs list them.
CHECK_KINDS: dict[str, CheckKind] = {}


def check_kind(cls: type[CheckKind]) -> type[CheckKind]:
    """Register a check kind under its name."""
    CHECK_KINDS[cls.name] = cls()
    return cls


def category_of(kind: str) -> CheckCategory:
    """The category of a check kind (a LabError for an unknown one)."""
    found = CHECK_KINDS.get(kind)
    if found is None:
        raise LabError(f"unknown check type {kind!r}")
    return found.category


class OutputCheck(CheckKind):
    """A check on the output and exit code of one of the step's commands (`command`)."""

    category = CheckCategory.OUTPUT
    optional: ClassVar[tuple[str, ...]] = ("command",)
    needs_command = True

    def evaluate(self, check: Check, facts: Facts) -> CheckResult:
        if not facts.outputs or not -len(facts.outputs) <= check.command < len(facts.outputs):
            return self.result(check, False, "a command output", "the command did not run")
        return self.judge(
            check, facts.outputs[check.command], facts.exit_codes[check.command], facts
        )

    @abstractmethod
    def judge(self, check: Check, output: str, code: int, facts: Facts) -> CheckResult:
        """Decide from the command's output and exit code."""


@check_kind
class OutputEquals(OutputCheck):
    name = "output-equals"
    required = ("expected",)

    def judge(self, check: Check, output: str, code: int, facts: Facts) -> CheckResult:
        expected = fill(str(check.expected), facts.values).strip()
        return self.result(check, output.strip() == expected, expected, _short(output))


@check_kind
class OutputContains(OutputCheck):
    name = "output-contains"
    required = ("expected",)

    def judge(self, check: Check, output: str, code: int, facts: Facts) -> CheckResult:
        expected = fill(str(check.expected), facts.values)
        return self.result(
            check, expected in output, f"output containing {expected!r}", _short(output)
        )


@check_kind
class JsonEquals(OutputCheck):
    """The last JSON line of the output equals `expected` (or `expected_file`)."""

    name = "json-equals"
    optional = ("command", "expected", "expected_file")

    def judge(self, check: Check, output: str, code: int, facts: Facts) -> CheckResult:
        seen = last_json(output)
        seen_text = _short(seen) if seen is not None else f"no JSON line in: {_short(output)}"
        if not facts.exact:
            return CheckResult(
                self.name,
                isinstance(seen, dict),
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
        return self.result(check, seen == expected, _short(expected), seen_text)


@check_kind
class ImageExists(CheckKind):
    name = "image-exists"
    category = CheckCategory.IMAGE
    required = ("image",)

    def evaluate(self, check: Check, facts: Facts) -> CheckResult:
        ref = fill(check.image, facts.values)
        found = facts.image_exists(ref)
        seen = f"image {ref}" if found else no_image(check.image, ref, facts)
        return self.result(check, found, f"image {ref}", seen)


@check_kind
class ImageWorkdir(CheckKind):
    """The image's working folder (Config.WorkingDir) is `expected`."""

    name = "image-workdir"
    category = CheckCategory.STATE
    required = ("image", "expected")
    optional = ("shows_feature",)

    def evaluate(self, check: Check, facts: Facts) -> CheckResult:
        ref = fill(check.image, facts.values)
        expected = str(check.expected).rstrip("/") or "/"
        workdir = facts.image_workdir(ref)
        seen = (
            no_image(check.image, ref, facts)
            if workdir is None
            else f"working folder {workdir or '/'}"
        )
        passed = workdir is not None and (workdir.rstrip("/") or "/") == expected
        return self.result(check, passed, f"working folder {expected}", seen)


@check_kind
class ImageSmaller(CheckKind):
    """The image is smaller than `factor` times the image `than` (a runtime image
    without the SDK in it, say)."""

    name = "image-smaller"
    category = CheckCategory.IMAGE
    required = ("image", "than")
    optional = ("factor",)

    def evaluate(self, check: Check, facts: Facts) -> CheckResult:
        ref, than = fill(check.image, facts.values), fill(check.than, facts.values)
        size, limit_of = facts.image_size(ref), facts.image_size(than)
        share = f"{check.factor:g} of " if check.factor != 1 else ""
        expected = f"image {ref} smaller than {share}{than}"
        if size is None:
            return self.result(check, False, expected, no_image(check.image, ref, facts))
        if limit_of is None:
            return self.result(check, False, expected, f"no image {than}")
        seen = f"{human_bytes(size)} against {human_bytes(limit_of)}"
        return self.result(check, size < check.factor * limit_of, expected, seen)


@check_kind
class FileExists(CheckKind):
    name = "file-exists"
    category = CheckCategory.STATE
    required = ("path",)

    def evaluate(self, check: Check, facts: Facts) -> CheckResult:
        found = facts.file_exists(check.path)
        return self.result(
            check, found, f"file {check.path}", check.path if found else "no such file"
        )


@check_kind
class ExitCode(OutputCheck):
    name = "exit-code"
    required = ("expected",)
    # Without a command in its step it fails at run time ("the command did not run").
    needs_command = False

    def judge(self, check: Check, output: str, code: int, facts: Facts) -> CheckResult:
        return self.result(
            check, code == check.expected, f"exit code {check.expected}", f"exit code {code}"
        )


@check_kind
class VariantsAgree(CheckKind):
    """Every variant printed the same JSON."""

    name = "variants-agree"
    category = CheckCategory.VARIANTS

    def evaluate(self, check: Check, facts: Facts) -> CheckResult:
        outputs = facts.variant_outputs
        if not outputs:
            return self.result(check, False, "outputs of the variants", "no variant printed JSON")
        distinct = {json.dumps(v, sort_keys=True) for v in outputs.values()}
        seen = "; ".join(f"{name}: {_short(value)}" for name, value in outputs.items())
        missing = [name for name, value in outputs.items() if value is None]
        passed = len(distinct) == 1 and not missing
        return self.result(check, passed, "the same JSON from every variant", seen)


def evaluate(check: Check, facts: Facts) -> CheckResult:
    """Decide one check from the facts, by its kind."""
    kind = CHECK_KINDS.get(check.type)
    if kind is None:
        raise LabError(f"unknown check type {check.type!r}")
    return kind.evaluate(check, facts)


def step_status(exit_ok: Sequence[bool], checks: Sequence[CheckResult], ran_all: bool) -> Status:
    """passed, or failed when a command or a check failed."""
    if not all(exit_ok) or not ran_all:
        return Status.FAILED
    if any(c.passed is False for c in checks):
        return Status.FAILED
    return Status.PASSED

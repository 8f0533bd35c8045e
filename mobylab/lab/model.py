"""Labs are data: labs/<name>/lab.toml plus files, loaded and validated here.

A lab has a title, an introduction, steps and a closing. A step has narrative
(Markdown), files to show, commands (shown as a learner types them, then run),
checks and measurements; a step may also declare the variant it builds, which
feeds the comparison. For practice mode (lab.practice) a step also has a task
in words (what the learner builds, with which names) and hints; its checks then
look at the engine's state, so the commands they run are run or inspect ones.
Every error names the file and the field, e.g.
`labs/x/lab.toml: steps[2].commands[0]: expected a string`. Loading stops at the
first; `lab_problems` (lab.lint) reads on and returns every one.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from ..errors import LabError
from .checks import (
    CHECK_KINDS,
    PLACEHOLDERS,
    CheckCategory,
    category_of,
    unknown_placeholders,
)
from .records import Builder

# A table of lab.toml as tomllib reads it.
TomlTable = dict[str, Any]
T = TypeVar("T")
#: Programs a lab command may start (through process.run, never a shell).
PROGRAMS = ("docker", "ls", "cat")
MEASUREMENT_TYPES = ("image-size",)
ROLES = ("build", "run", "inspect")
LEFTOVER_KINDS = ("file", "image", "container")
# An engine API version as lab.toml declares it: "1.NN".
API_VERSION = re.compile(r"1\.(\d{1,3})")


@dataclass(frozen=True)
class Command:
    text: str
    # "build" (counted as typed to get the image, timed), "run" (prints the output)
    # or "inspect" (looks around).
    role: str
    expect_exit: int = 0


@dataclass(frozen=True)
class Check:
    type: str
    hint: str = ""
    command: int = -1
    expected: Any = None
    expected_file: str = ""
    image: str = ""
    path: str = ""
    than: str = ""
    factor: float = 1.0
    # A failure of this check means the engine ignored what the step shows (an
    # option it predates): the step is then "not in this engine", not failed.
    shows_feature: bool = False


@dataclass(frozen=True)
class Measurement:
    type: str
    name: str
    image: str


@dataclass(frozen=True)
class Variant:
    name: str
    image: str
    # Files a team keeps in the repository for this way of building.
    maintain: tuple[str, ...] = ()
    # What the way of building leaves on the host: "file:PATH", "image:REF", "container:NAME".
    leftovers: tuple[str, ...] = ()
    # Whether its image runs the app (and so must print the expected JSON).
    produces_app: bool = True


@dataclass(frozen=True)
class Step:
    title: str
    narrative: str = ""
    show: tuple[str, ...] = ()
    commands: tuple[Command, ...] = ()
    checks: tuple[Check, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    variant: Variant | None = None
    # Practice mode: what to do, in words (Markdown), and hints shown one by one.
    task: str = ""
    hints: tuple[str, ...] = ()
    # The engine feature the step shows ("named stages"): an engine without it gets
    # "not in this engine" for the step, in the report's features x engines matrix.
    feature: str = ""
    # What the engine must have for the step: an API version ("1.44") and a builder.
    # An engine without it gets "not in this engine" without running the step; one
    # with it that still fails the step fails.
    needs_api: str = ""
    needs_builder: Builder | None = None

    @property
    def declares_needs(self) -> bool:
        return bool(self.needs_api) or self.needs_builder is not None


@dataclass(frozen=True)
class Lab:
    name: str
    path: Path
    title: str
    summary: str = ""
    introduction: str = ""
    closing: str = ""
    images: tuple[str, ...] = ()
    app: str = ""
    site: str = ""
    site_port: int = 0
    expected_file: str = ""
    # Repository names of FROM lines replaced by the builder and runtime images.
    builder_bases: tuple[str, ...] = ()
    runtime_bases: tuple[str, ...] = ()
    steps: tuple[Step, ...] = field(default=())
    # An app folder outside the lab (lab.multistage --source), and where it came from.
    app_dir: Path | None = None
    source: str = ""

    @property
    def workdir_source(self) -> Path:
        """The folder copied per run, where commands run."""
        if self.app_dir is not None:
            return self.app_dir
        return self.path / self.app if self.app else self.path

    @property
    def variants(self) -> list[Variant]:
        return [s.variant for s in self.steps if s.variant is not None]


class FieldProblem(LabError):
    """A problem of one field of a lab.toml: the field (`steps[0].title`), and what is wrong."""

    def __init__(self, source: str, where: str, problem: str, hint: str) -> None:
        prefix = f"{source}: {where}: " if where else f"{source}: "
        super().__init__(prefix + problem, hint)
        self.where = where
        self.problem = problem


class _Reader:
    """Reads one lab.toml, raising a FieldProblem that names the field; `collect` (lab.lint)
    keeps each problem and reads on, leaving out the part that has it."""

    def __init__(self, source: str, lab_dir: Path, *, collect: bool = False) -> None:
        self.source = source
        self.lab_dir = lab_dir
        self.collect = collect
        self.problems: list[FieldProblem] = []

    def fail(self, where: str, problem: str, hint: str = "Fix the lab file.") -> FieldProblem:
        return FieldProblem(self.source, where, problem, hint)

    def attempt(self, parse: Callable[[], T]) -> T | None:
        """`parse()`; while collecting, a problem is kept and None returned."""
        if not self.collect:
            return parse()
        try:
            return parse()
        except FieldProblem as problem:
            self.problems.append(problem)
            return None

    def each(
        self, values: Sequence[Any], where: str, parse: Callable[[Any, str], T]
    ) -> tuple[T, ...]:
        """Each item of an array parsed (`where[i]`); while collecting, those with a
        problem are left out."""
        found = []
        for index, value in enumerate(values):
            item = self.attempt(partial(parse, value, f"{where}[{index}]"))
            if item is not None:
                found.append(item)
        return tuple(found)

    def get(self, table: TomlTable, key: str, where: str, kind: type, default: Any = None) -> Any:
        value = table.get(key, default)
        here = f"{where}.{key}" if where else key
        if value is None:
            raise self.fail(here, "is missing")
        if kind is int and isinstance(value, bool):
            raise self.fail(here, "expected an integer")
        if not isinstance(value, kind):
            raise self.fail(here, f"expected {_kind_name(kind)}")
        return value

    def strings(self, table: TomlTable, key: str, where: str) -> tuple[str, ...]:
        value = table.get(key, [])
        here = f"{where}.{key}" if where else key
        if not isinstance(value, list):
            raise self.fail(here, "expected an array of strings")
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise self.fail(f"{here}[{index}]", "expected a string")
        return tuple(value)

    def unknown(self, table: TomlTable, allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                # A key from the file may hold any character: quote odd ones, so the
                # error stays one readable line.
                name = key if key.replace("-", "_").isidentifier() else repr(key)
                here = f"{where}.{name}" if where else name
                problem = self.fail(
                    here, "unknown field", f"Known fields: {', '.join(sorted(allowed))}."
                )
                if not self.collect:
                    raise problem
                self.problems.append(problem)

    def local_path(
        self, value: str, where: str, *, base: Path | None = None, must_exist=True
    ) -> str:
        problem = outside_problem(value)
        if problem:
            raise self.fail(where, f"{value!r} {problem}", "Keep lab files inside the lab folder.")
        root = (base or self.lab_dir).resolve()
        if not (root / value).resolve().is_relative_to(root):
            raise self.fail(
                where,
                f"{value!r} leads outside its folder (a symlink)",
                "Keep lab files inside the lab folder.",
            )
        if must_exist and not ((base or self.lab_dir) / value).exists():
            raise self.fail(where, f"{value!r} does not exist in {base or self.lab_dir}")
        return value

    def text(self, table: TomlTable, key: str, where: str) -> str:
        """Inline Markdown, or the content of a .md file of the lab."""
        value = self.get(table, key, where, str, "")
        here = f"{where}.{key}" if where else key
        if value.endswith(".md") and "\n" not in value:
            self.local_path(value, here)
            return (self.lab_dir / value).read_text()
        return value


def _kind_name(kind: type) -> str:
    return {
        str: "a string",
        int: "an integer",
        bool: "true or false",
        list: "an array",
        dict: "a table",
    }.get(kind, kind.__name__)


def outside_problem(value: str) -> str:
    """Pure: why a relative path would reach outside its folder, or ''."""
    if not value:
        return "is empty"
    if value.startswith(("/", "~")) or PurePosixPath(value).is_absolute():
        return "is an absolute path"
    if ".." in PurePosixPath(value).parts:
        return "goes up with '..'"
    return ""


MOUNT_KEYS = ("type", "source", "src", "target", "dst", "destination", "readonly", "ro")


def command_problem(text: str) -> str:
    """Pure: why a command template may not run, or ''.

    Commands start one of PROGRAMS (no shell), and their local paths stay in the
    working folder: no absolute paths, no '..'. A `name:path` token (docker cp's
    container side, an image tag, a URL) names something that is not a local path.
    """
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        return f"cannot be split into words ({exc})"
    if not argv:
        return "is empty"
    if argv[0] not in PROGRAMS:
        return f"starts {argv[0]!r}; lab commands may start only {', '.join(PROGRAMS)}"
    for word in argv[1:]:
        value = word.split("=", 1)[1] if word.startswith("-") and "=" in word else word
        if "{" in value:
            # A placeholder: filled by the runner with names, never paths.
            value = value.split("}", 1)[-1] if value.startswith("{") else value
        if "=" in value and value.split("=", 1)[0] in MOUNT_KEYS:
            # --mount type=bind,source=PATH,...: the source is a path on the engine's host.
            for part in value.split(","):
                key, _, path = part.partition("=")
                if key in ("source", "src") and outside_problem(path) not in ("", "is empty"):
                    return f"has {word!r}, which mounts {path!r}: {outside_problem(path)}"
            continue
        if ":" in value and not value.startswith(("/", ".", "~")):
            continue
        if value.startswith("-"):
            continue
        problem = outside_problem(value)
        if problem and problem != "is empty":
            return f"has {word!r}, which {problem}"
    return ""


def infer_role(text: str) -> str:
    """Pure: the role of a command from its docker subcommand."""
    argv = shlex.split(text)
    if argv[0] != "docker" or len(argv) < 2:
        return "inspect"
    sub = argv[1]
    if sub == "image" and len(argv) > 2:
        sub = argv[2]
    if sub in ("build", "create", "cp", "rm"):
        return "build"
    if sub == "run":
        return "run"
    return "inspect"


def _command(reader: _Reader, value: Any, where: str) -> Command:
    if isinstance(value, str):
        table: TomlTable = {"run": value}
    elif isinstance(value, dict):
        table = value
        reader.unknown(table, {"run", "role", "expect_exit"}, where)
    else:
        raise reader.fail(where, "expected a string")
    text = reader.get(table, "run", where, str).strip()
    problem = command_problem(text)
    unknown = unknown_placeholders(text)
    if unknown:
        problem = (
            f"uses the unknown placeholder {{{unknown[0]}}} (known: {', '.join(PLACEHOLDERS)})"
        )
    if problem:
        raise reader.fail(where, f"the command {problem}", "Lab commands stay in the lab folder.")
    role = reader.get(table, "role", where, str, infer_role(text))
    if role not in ROLES:
        raise reader.fail(f"{where}.role", f"{role!r} is not one of {', '.join(ROLES)}")
    expect_exit = reader.get(table, "expect_exit", where, int, 0)
    return Command(text=text, role=role, expect_exit=expect_exit)


def _check(reader: _Reader, table: Any, where: str, commands: int) -> Check:
    if not isinstance(table, dict):
        raise reader.fail(where, "expected a table")
    kind = reader.get(table, "type", where, str)
    if kind not in CHECK_KINDS:
        raise reader.fail(f"{where}.type", f"{kind!r} is not one of {', '.join(CHECK_KINDS)}")
    spec = CHECK_KINDS[kind]
    reader.unknown(table, {"type", "hint", *spec.required, *spec.optional}, where)
    for key in spec.required:
        if key not in table:
            raise reader.fail(f"{where}.{key}", f"is missing (a {kind} check needs it)")
    command = reader.get(table, "command", where, int, -1)
    if "command" in table or spec.needs_command:
        if commands == 0:
            raise reader.fail(where, f"a {kind} check needs a command in its step")
        if not -commands <= command < commands:
            raise reader.fail(f"{where}.command", f"{command} is not a command of this step")
    if kind == "json-equals" and "expected" not in table and "expected_file" not in table:
        raise reader.fail(where, "a json-equals check needs expected or expected_file")
    expected_file = reader.get(table, "expected_file", where, str, "")
    if expected_file:
        reader.local_path(expected_file, f"{where}.expected_file")
    if kind == "exit-code":
        reader.get(table, "expected", where, int)
    path = reader.get(table, "path", where, str, "")
    if path:
        reader.local_path(path, f"{where}.path", must_exist=False)
    factor = table.get("factor", 1.0)
    if isinstance(factor, bool) or not isinstance(factor, int | float) or not 0 < factor <= 1:
        raise reader.fail(f"{where}.factor", "expected a number more than 0 and at most 1")
    return Check(
        type=kind,
        hint=reader.get(table, "hint", where, str, ""),
        command=command,
        expected=table.get("expected"),
        expected_file=expected_file,
        image=reader.get(table, "image", where, str, ""),
        path=path,
        than=reader.get(table, "than", where, str, ""),
        factor=float(factor),
        shows_feature=reader.get(table, "shows_feature", where, bool, False),
    )


def _measurement(reader: _Reader, table: Any, where: str) -> Measurement:
    if not isinstance(table, dict):
        raise reader.fail(where, "expected a table")
    reader.unknown(table, {"type", "name", "image"}, where)
    kind = reader.get(table, "type", where, str)
    if kind not in MEASUREMENT_TYPES:
        raise reader.fail(f"{where}.type", f"{kind!r} is not one of {', '.join(MEASUREMENT_TYPES)}")
    image = reader.get(table, "image", where, str)
    return Measurement(type=kind, name=reader.get(table, "name", where, str, image), image=image)


def _variant(reader: _Reader, table: Any, where: str, workdir: Path) -> Variant:
    if not isinstance(table, dict):
        raise reader.fail(where, "expected a table")
    reader.unknown(table, {"name", "image", "maintain", "leftovers", "produces_app"}, where)
    maintain = reader.strings(table, "maintain", where)
    for index, item in enumerate(maintain):
        reader.local_path(item, f"{where}.maintain[{index}]", base=workdir)
    leftovers = reader.strings(table, "leftovers", where)
    for index, item in enumerate(leftovers):
        kind, _, value = item.partition(":")
        if kind not in LEFTOVER_KINDS or not value:
            raise reader.fail(
                f"{where}.leftovers[{index}]",
                f"{item!r} is not KIND:VALUE with KIND one of {', '.join(LEFTOVER_KINDS)}",
            )
        if kind == "file":
            reader.local_path(value, f"{where}.leftovers[{index}]", must_exist=False)
    return Variant(
        name=reader.get(table, "name", where, str),
        image=reader.get(table, "image", where, str),
        maintain=maintain,
        leftovers=leftovers,
        produces_app=reader.get(table, "produces_app", where, bool, True),
    )


STEP_FIELDS = {
    "feature",
    "needs_api",
    "needs_builder",
    "title",
    "narrative",
    "show",
    "commands",
    "checks",
    "measurements",
    "variant",
    "task",
    "hints",
}
LAB_FIELDS = {
    "title",
    "summary",
    "introduction",
    "closing",
    "images",
    "app",
    "site",
    "site_port",
    "expected_file",
    "base_images",
    "steps",
}


def _show(reader: _Reader, table: TomlTable, where: str, workdir: Path) -> tuple[str, ...]:
    show = reader.strings(table, "show", where)
    for index, item in enumerate(show):
        reader.local_path(item, f"{where}.show[{index}]", base=workdir)
    return show


def _practice_checks(
    reader: _Reader, checks: Sequence[Check], commands: Sequence[Command], where: str
) -> None:
    """A practice step's output checks read run or inspect commands, never a build."""
    for index, check in enumerate(checks):
        if (
            category_of(check.type) is CheckCategory.OUTPUT
            and commands[check.command].role == "build"
        ):
            raise reader.fail(
                f"{where}.checks[{index}]",
                "in practice mode this check would run a build command for the learner",
                "Point it at a run or inspect command of the step.",
            )


def _needs_api(reader: _Reader, table: TomlTable, where: str) -> str:
    needs_api = reader.get(table, "needs_api", where, str, "")
    if needs_api and not API_VERSION.fullmatch(needs_api):
        raise reader.fail(
            f"{where}.needs_api",
            f"{needs_api!r} is not an engine API version",
            'Write it as the API version the feature came with, e.g. "1.44".',
        )
    return needs_api


def _needs_builder(reader: _Reader, table: TomlTable, where: str) -> Builder | None:
    needs_builder = reader.get(table, "needs_builder", where, str, "")
    if needs_builder and needs_builder not in tuple(Builder):
        raise reader.fail(
            f"{where}.needs_builder",
            f"{needs_builder!r} is not one of {', '.join(Builder)}",
            "A step needs the buildkit builder or the legacy one.",
        )
    return Builder(needs_builder) if needs_builder else None


def _step(reader: _Reader, table: Any, where: str, workdir: Path) -> Step:
    if not isinstance(table, dict):
        raise reader.fail(where, "expected a table")
    reader.unknown(table, STEP_FIELDS, where)
    show = reader.attempt(lambda: _show(reader, table, where, workdir)) or ()
    raw_commands = reader.attempt(lambda: reader.get(table, "commands", where, list, [])) or []
    commands = reader.each(
        raw_commands, f"{where}.commands", lambda value, here: _command(reader, value, here)
    )
    raw_checks = reader.attempt(lambda: reader.get(table, "checks", where, list, [])) or []
    checks = reader.each(
        raw_checks,
        f"{where}.checks",
        lambda value, here: _check(reader, value, here, len(raw_commands)),
    )
    raw_measurements = (
        reader.attempt(lambda: reader.get(table, "measurements", where, list, [])) or []
    )
    measurements = reader.each(
        raw_measurements,
        f"{where}.measurements",
        lambda value, here: _measurement(reader, value, here),
    )
    variant = None
    if "variant" in table:
        variant = reader.attempt(
            lambda: _variant(reader, table["variant"], f"{where}.variant", workdir)
        )
    task = reader.attempt(lambda: reader.text(table, "task", where)) or ""
    # Only when every command and check was read (lab.lint reads on past broken ones).
    whole = len(commands) == len(raw_commands) and len(checks) == len(raw_checks)
    if task and whole:
        reader.attempt(lambda: _practice_checks(reader, checks, commands, where))
    title = reader.attempt(lambda: reader.get(table, "title", where, str))
    narrative = reader.attempt(lambda: reader.text(table, "narrative", where))
    hints = reader.attempt(lambda: reader.strings(table, "hints", where))
    feature = reader.attempt(lambda: reader.get(table, "feature", where, str, ""))
    return Step(
        title=title or "",
        narrative=narrative or "",
        show=show,
        commands=commands,
        checks=checks,
        measurements=measurements,
        variant=variant,
        task=task,
        hints=hints or (),
        feature=feature or "",
        needs_api=reader.attempt(lambda: _needs_api(reader, table, where)) or "",
        needs_builder=reader.attempt(lambda: _needs_builder(reader, table, where)),
    )


def practice_problem(lab: Lab) -> str:
    """Pure: why a lab cannot run in practice mode (a step without a task), or ''."""
    for number, step in enumerate(lab.steps, 1):
        if not step.task.strip():
            return f"step {number} ({step.title}) has no task (steps[{number - 1}].task)"
    return ""


def _app(reader: _Reader, data: TomlTable) -> str:
    app = reader.get(data, "app", "", str, "")
    if app:
        reader.local_path(app, "app")
        if not (reader.lab_dir / app).is_dir():
            raise reader.fail("app", f"{app!r} is not a folder")
    return app


def _lab_file(reader: _Reader, data: TomlTable, key: str) -> str:
    value = reader.get(data, key, "", str, "")
    if value:
        reader.local_path(value, key)
    return value


def _site_port(reader: _Reader, data: TomlTable) -> int:
    site_port = reader.get(data, "site_port", "", int, 0)
    if not 0 <= site_port < 65536:
        raise reader.fail("site_port", f"{site_port} is not a port number")
    return site_port


def _bases(reader: _Reader, data: TomlTable) -> TomlTable:
    bases = reader.get(data, "base_images", "", dict, {})
    reader.unknown(bases, {"builder", "runtime"}, "base_images")
    return bases


def _raw_steps(reader: _Reader, data: TomlTable) -> list[Any]:
    raw_steps = reader.get(data, "steps", "", list)
    if not raw_steps:
        raise reader.fail("steps", "a lab needs at least one step")
    return raw_steps


def _distinct_variants(reader: _Reader, steps: Sequence[Step]) -> None:
    names = [s.variant.name for s in steps if s.variant]
    for name in names:
        if names.count(name) > 1:
            raise reader.fail("steps", f"two steps build the variant {name!r}")


def _parse(reader: _Reader, data: TomlTable) -> Lab:
    lab_dir = reader.lab_dir
    reader.unknown(data, LAB_FIELDS, "")
    app = reader.attempt(lambda: _app(reader, data)) or ""
    workdir = lab_dir / app if app else lab_dir
    bases = reader.attempt(lambda: _bases(reader, data)) or {}
    raw_steps = reader.attempt(lambda: _raw_steps(reader, data)) or []
    steps = reader.each(raw_steps, "steps", lambda value, here: _step(reader, value, here, workdir))
    reader.attempt(lambda: _distinct_variants(reader, steps))
    return Lab(
        name=lab_dir.name,
        path=lab_dir,
        title=reader.attempt(lambda: reader.get(data, "title", "", str)) or "",
        summary=reader.attempt(lambda: reader.get(data, "summary", "", str, "")) or "",
        introduction=reader.attempt(lambda: reader.text(data, "introduction", "")) or "",
        closing=reader.attempt(lambda: reader.text(data, "closing", "")) or "",
        images=reader.attempt(lambda: reader.strings(data, "images", "")) or (),
        app=app,
        site=reader.attempt(lambda: _lab_file(reader, data, "site")) or "",
        site_port=reader.attempt(lambda: _site_port(reader, data)) or 0,
        expected_file=reader.attempt(lambda: _lab_file(reader, data, "expected_file")) or "",
        builder_bases=reader.attempt(lambda: reader.strings(bases, "builder", "base_images")) or (),
        runtime_bases=reader.attempt(lambda: reader.strings(bases, "runtime", "base_images")) or (),
        steps=steps,
    )


def parse_lab(data: TomlTable, lab_dir: Path, source: str) -> Lab:
    """Validate the parsed TOML of a lab; the first error names its field."""
    return _parse(_Reader(source, lab_dir), data)


def field_problems(data: TomlTable, lab_dir: Path, source: str) -> list[FieldProblem]:
    """Every problem of the parsed TOML of a lab, each naming its field (lab.lint)."""
    reader = _Reader(source, lab_dir, collect=True)
    _parse(reader, data)
    return reader.problems


def load_lab(lab_dir: Path, display: str | None = None) -> Lab:
    """Read and validate labs/<name>/lab.toml."""
    path = lab_dir / "lab.toml"
    source = display or str(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise LabError(f"{source} does not exist", "A lab is a folder with a lab.toml.") from None
    except OSError as exc:
        raise LabError(f"cannot read {source}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LabError(f"{source}: not valid TOML ({exc})", "Fix the lab file.") from None
    return parse_lab(data, lab_dir, source)

"""Run a lab: narrative, commands as typed, live output, checks, measurements, a report.

Each run has its own id, so its image tags, container names and scratch folder
never collide with another run's, even five at once on one engine. Commands run
with the docker CLI against the chosen engine, in a scratch copy of the lab's app
folder. The report is written after every step, so a failure or Ctrl-C keeps what
was done and says which step failed and why.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rich.markdown import Markdown
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax

from .. import labels, process, ui
from ..engine import Engine, probe
from ..errors import Interrupted, LabError, MobylabError
from . import render
from . import report as report_mod
from .bases import BaseImages, prepare_bases, resolve_bases
from .checks import (
    CheckCategory,
    CheckResult,
    Facts,
    argv_of,
    category_of,
    evaluate,
    last_json,
    shown,
    step_status,
    with_labels,
)
from .dockerfile import base_replacements, is_dockerfile, maintained_lines, substitute_from
from .engine_choice import engine_label, engine_specs
from .features import ABSENT, absent_reason
from .metrics import container_exists, detect_builder, inspect_image
from .model import Lab, Step
from .site import ContainerSite, FixtureSite
from .stages import StageLog, dockerfile_of, dockerfile_stages, stage_report, target_of

if TYPE_CHECKING:
    from ..session import Session

COMMAND_TIMEOUT = 1800.0
LABEL_NOTE = (
    "mobylab adds `--label org.mobylab.run=<run id>` (and its other org.mobylab labels) to "
    "every `docker build`, `docker create` and `docker run` below, so `invoke lab.clean` "
    "finds what this lab made; the commands are shown as you would type them."
)


@dataclass
class RunOptions:
    yes: bool = False
    step: int | None = None
    from_step: int | None = None
    engine: str = "host"
    # A real site instead of the fixture site: exact counts unknown.
    url: str | None = None
    guided: bool = False
    extra_values: dict[str, str] = field(default_factory=dict)


def new_run_id(now: datetime.datetime | None = None) -> str:
    now = now or datetime.datetime.now(datetime.UTC)
    # Six hex digits: runs started in the same second (a class at once) never collide.
    return now.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def tag_prefix(lab_name: str, run_id: str) -> str:
    return f"mobylab-lab/{lab_name}-{run_id}"


def steps_to_run(count: int, step: int | None, from_step: int | None) -> list[int]:
    """Pure: the 1-based step numbers this run executes."""
    for name, value in (("--step", step), ("--from", from_step)):
        if value is not None and not 1 <= value <= count:
            raise LabError(f"{name} {value} is not a step of this lab", f"Steps are 1 to {count}.")
    if step is not None:
        return [step]
    return list(range(from_step or 1, count + 1))


def failure_reason(commands: list[dict[str, Any]], checks: list[CheckResult]) -> str:
    """Pure: one line on why a step failed."""
    for command in commands:
        if command["exit_code"] != command["expect_exit"]:
            tail = next((line for line in reversed(command["output_tail"]) if line.strip()), "")
            return f"`{command['shown']}` exited {command['exit_code']}" + (
                f": {tail}" if tail else ""
            )
    for check in checks:
        if check.passed is False:
            return f"{check.type}: expected {check.expected}, saw {check.seen}"
    return ""


def copy_workdir(source: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns(".git"))


def substitute_workdir(workdir: Path, replacements: dict[str, str]) -> list[dict[str, Any]]:
    """Rewrite the FROM lines of every Dockerfile in the scratch copy."""
    changes: list[dict[str, Any]] = []
    if not replacements:
        return changes
    for path in sorted(workdir.iterdir()):
        if not path.is_file() or not is_dockerfile(path.name):
            continue
        text, found = substitute_from(path.read_text(), replacements)
        if found:
            path.write_text(text)
            changes += [
                {"file": path.name, "line": c.line, "old": c.old, "new": c.new} for c in found
            ]
    return changes


def run_replacements(lab: Lab, bases: BaseImages) -> dict[str, str]:
    """The FROM repositories of the lab's Dockerfiles and the run's images for them."""
    return base_replacements(lab.builder_bases, lab.runtime_bases, bases.builder, bases.runtime)


def lexer_for(name: str) -> str:
    if is_dockerfile(name):
        return "docker"
    return {".sh": "bash", ".go": "go", ".json": "json", ".toml": "toml"}.get(
        Path(name).suffix, "text"
    )


class RunContext(Protocol):
    """What a step on an engine needs from its run: a LabRunner, or a practice run."""

    lab: Lab
    run_id: str
    bases: BaseImages
    url: str
    options: RunOptions
    report_dir: Path
    substitutions: list[dict[str, Any]]


class EngineRun:
    """The lab's steps on one engine."""

    def __init__(
        self,
        runner: RunContext,
        engine: Engine,
        engine_info: dict[str, Any],
        workdir: Path,
    ) -> None:
        self.runner = runner
        self.engine = engine
        self.info = engine_info
        self.workdir = workdir
        lab = runner.lab
        self.values = {
            "tag_prefix": tag_prefix(lab.name, runner.run_id),
            "builder_image": runner.bases.builder,
            "runtime_image": runner.bases.runtime,
            "url": runner.url,
            "run_id": runner.run_id,
            "extract": f"extract-{runner.run_id}",
            **runner.options.extra_values,
        }
        self.label_flags = labels.label_flags("lab", lab=lab.name, run=runner.run_id)
        self.env = {**engine.cli_env(), "DOCKER_CLI_HINTS": "false"}
        if engine_info.get("builder") == "legacy":
            # Say it to the CLI: with buildx it would try BuildKit on any engine, and an
            # engine that predates BuildKit (before 18.09) cannot build that way.
            self.env["DOCKER_BUILDKIT"] = "0"
        self.variant_outputs: dict[str, Any] = {}

    # -- presenting ----------------------------------------------------------
    def present(self, number: int, step: Step) -> None:
        total = len(self.runner.lab.steps)
        ui.out.rule(escape(f"Step {number}/{total}: {step.title}  [{self.engine.name} engine]"))
        if step.narrative:
            ui.out.print(Markdown(step.narrative), soft_wrap=False)
        for name in step.show:
            path = self.workdir / name
            text = path.read_text(errors="replace") if path.is_file() else "(missing)"
            ui.out.print(
                Panel(
                    Syntax(text.rstrip("\n"), lexer_for(path.name), line_numbers=False),
                    title=name,
                    title_align="left",
                    expand=False,
                )
            )
            subs = [c for c in self.runner.substitutions if c["file"] == path.name]
            for change in subs:
                ui.out.print(
                    f"  (line {change['line']}: {change['old']} replaced by {change['new']}: "
                    f"{self.runner.bases.reason})",
                    style="dim",
                    markup=False,
                )

    # -- running -------------------------------------------------------------
    def run_command(self, text: str, log: Path) -> dict[str, Any]:
        argv = argv_of(text, self.values)
        display = shown(argv)
        ui.out.print(f"$ {display}", style="bold", markup=False, highlight=False)
        full = with_labels(argv, self.label_flags)

        cached = [0]
        step_line = [""]
        stages = StageLog(self._stages_of(argv))

        def echo(line: str) -> None:
            # Count the Dockerfile's own steps, not the LABEL steps --label adds.
            if line.startswith("Step "):
                step_line[0] = line
            elif "LABEL org.mobylab." not in step_line[0]:
                cached[0] += cache_hits([line])
            stages.feed(line)
            ui.output_line("  " + line)

        with log.open("a") as handle:
            handle.write(f"$ {process_line(full)}\n")
        done = process.run(
            full,
            env=self.env,
            cwd=self.workdir,
            log=log,
            on_line=echo,
            timeout=COMMAND_TIMEOUT,
            tail_lines=60,
        )
        return {
            "shown": display,
            "argv": full,
            "exit_code": done.returncode,
            "seconds": round(done.seconds, 3),
            "output_tail": done.tail,
            "cached_steps": cached[0],
            "builder": stages.builder,
            "stages_built": stages.built,
            "target": target_of(argv),
            "stages": list(stages.stages),
        }

    def _stages_of(self, argv: list[str]) -> list[str]:
        """The stages of the Dockerfile a `docker build` command names ([] otherwise)."""
        if argv[:2] != ["docker", "build"]:
            return []
        path = self.workdir / dockerfile_of(argv)
        return dockerfile_stages(path.read_text(errors="replace")) if path.is_file() else []

    def facts(self, outputs: list[str], codes: list[int]) -> Facts:
        lab_path = self.runner.lab.path

        def exists_image(ref: str) -> bool:
            return inspect_image(self.engine, ref) is not None

        def size_of(ref: str) -> int | None:
            found = inspect_image(self.engine, ref)
            return found["size_bytes"] if found else None

        def workdir_of(ref: str) -> str | None:
            found = inspect_image(self.engine, ref)
            return found["workdir"] if found else None

        return Facts(
            outputs=outputs,
            exit_codes=codes,
            values=self.values,
            read_file=lambda name: (lab_path / name).read_text(),
            image_exists=exists_image,
            image_size=size_of,
            image_workdir=workdir_of,
            file_exists=lambda name: (self.workdir / name).exists(),
            variant_outputs=self.variant_outputs,
            exact=self.runner.options.url is None,
        )

    def run_step(self, number: int, step: Step) -> dict[str, Any]:
        log = self.runner.report_dir / "logs" / f"{self.engine.name}-step{number}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        record: dict[str, Any] = {
            "index": number,
            "engine": self.engine.name,
            "title": step.title,
            "status": "running",
            "reason": "",
            "log": str(log),
            "commands": [],
            "checks": [],
            "measurements": [],
        }
        outputs: list[str] = []
        codes: list[int] = []
        for command in step.commands:
            result = self.run_command(command.text, log)
            result.update(role=command.role, expect_exit=command.expect_exit)
            record["commands"].append(result)
            outputs.append("\n".join(result["output_tail"]))
            codes.append(result["exit_code"])
            if result["exit_code"] != command.expect_exit:
                break
        ran_all = len(record["commands"]) == len(step.commands)
        exit_ok = [c["exit_code"] == c["expect_exit"] for c in record["commands"]]
        if step.variant is not None and step.variant.produces_app:
            run_outputs = [
                o for o, c in zip(outputs, step.commands, strict=False) if c.role == "run"
            ]
            self.variant_outputs[step.variant.name] = (
                last_json(run_outputs[-1]) if run_outputs else None
            )
        checks: list[CheckResult] = []
        facts = self.facts(outputs, codes)
        for check in step.checks:
            if category_of(check.type) is CheckCategory.OUTPUT:
                index = check.command if check.command >= 0 else len(step.commands) + check.command
                if index >= len(outputs):
                    checks.append(
                        CheckResult(
                            check.type, False, "the command to run", "it did not run", check.hint
                        )
                    )
                    continue
            checks.append(evaluate(check, facts))
        record["checks"] = [c.to_dict() for c in checks]
        for command in record["commands"]:
            if command.get("target") and command.get("stages"):
                record["stages"] = stage_report(
                    command["stages"], command["stages_built"], command["builder"],
                    command["target"],
                )  # fmt: skip
                ui.out.print(record["stages"]["text"], style="cyan", markup=False)
        record["measurements"] = self.measure(step)
        record["status"] = step_status(exit_ok, checks, ran_all)
        record["reason"] = (
            failure_reason(record["commands"], checks) if record["status"] == "failed" else ""
        )
        missing = ""
        if record["status"] == "failed":
            marked = [
                {**result.to_dict(), "shows_feature": check.shows_feature}
                for result, check in zip(checks, step.checks, strict=True)
            ]
            missing = absent_reason(step.feature, record["commands"], marked)
        if missing:
            record.update(status=ABSENT, reason=missing)
            if step.variant is not None:
                # An engine without the feature is no variant to compare with the others.
                self.variant_outputs.pop(step.variant.name, None)
        if step.variant is not None:
            record["variant"] = self.measure_variant(step, record)
        self.report_checks(checks, record)
        return record

    def measure(self, step: Step) -> list[dict[str, Any]]:
        """The step's measurements, as the engine reports them."""
        found = []
        for measurement in step.measurements:
            ref = argv_of(measurement.image, self.values)[0]
            image = inspect_image(self.engine, ref)
            found.append({"name": measurement.name, "image": ref, **(image or {"missing": True})})
        return found

    def measure_variant(self, step: Step, record: dict[str, Any]) -> dict[str, Any]:
        variant = step.variant
        assert variant is not None
        ref = argv_of(variant.image, self.values)[0]
        found = inspect_image(self.engine, ref) if record["status"] != "interrupted" else None
        commands = record["commands"]
        output = None
        if variant.produces_app:
            output = self.variant_outputs.get(variant.name)
        lines = 0
        for name in variant.maintain:
            path = self.runner.lab.workdir_source / name
            lines += maintained_lines(path.read_text(errors="replace")) if path.is_file() else 0
        leftovers = []
        for item in variant.leftovers:
            kind, _, value = item.partition(":")
            value = argv_of(value, self.values)[0]
            entry: dict[str, Any] = {
                "kind": kind,
                "name": value,
                "present": False,
                "size_bytes": None,
            }
            if kind == "file":
                path = self.workdir / value
                entry["present"] = path.exists()
                entry["size_bytes"] = path.stat().st_size if path.is_file() else None
            elif kind == "image":
                image = inspect_image(self.engine, value)
                entry["present"] = image is not None
                entry["size_bytes"] = image["size_bytes"] if image else None
            elif kind == "container":
                entry["present"] = container_exists(self.engine, value)
            leftovers.append(entry)
        return {
            "name": variant.name,
            "engine": self.engine.name,
            "image": ref,
            "image_id": found["id"] if found else None,
            "size_bytes": found["size_bytes"] if found else None,
            "layers": found["layers"] if found else None,
            "build_seconds": round(sum(c["seconds"] for c in commands if c["role"] == "build"), 3),
            "cached_steps": sum(c.get("cached_steps", 0) for c in commands if c["role"] == "build"),
            "commands_typed": sum(1 for c in step.commands if c.role == "build"),
            "builder": next((c["builder"] for c in commands if c.get("builder")), None),
            "files": len(variant.maintain),
            "maintained_files": list(variant.maintain),
            "lines": lines,
            "output": output,
            "produces_app": variant.produces_app,
            "leftovers": leftovers,
            "passed": record["status"] == "passed" and found is not None,
            "absent": record["status"] == ABSENT,
        }

    def report_checks(self, checks: list[CheckResult], record: dict[str, Any]) -> None:
        for check in checks:
            if check.passed:
                ui.out.print(f"[green]✓[/] {check.type}: {check.seen}", highlight=False)
            elif check.passed is None:
                ui.out.print(f"[dim]- {check.type}: skipped ({check.note})[/]", highlight=False)
            else:
                ui.out.print(f"[red]✗[/] {check.type}", highlight=False)
                ui.out.print(f"    expected: {check.expected}", markup=False, highlight=False)
                ui.out.print(f"    seen:     {check.seen}", markup=False, highlight=False)
                if check.hint:
                    ui.out.print(f"    hint:     {check.hint}", markup=False, highlight=False)
            if check.note and check.passed is not None:
                ui.out.print(f"    note: {check.note}", style="dim", markup=False)
        status = record["status"]
        style = {"passed": "green", ABSENT: "yellow"}.get(status, "red")
        shown_status = "not in this engine" if status == ABSENT else status
        line = f"step {record['index']}: [{style}]{shown_status}[/]"
        if record["reason"]:
            line += f" — {record['reason']}"
        ui.out.print(line, highlight=False)

    def remove_containers(self) -> int:
        """Remove this run's containers (Ctrl-C can leave a `docker run` one behind)."""
        return remove_run_resources(self.engine, self.runner.run_id, images=False)


def cache_hits(lines: list[str]) -> int:
    """Pure: build steps the engine took from its cache (legacy and BuildKit wording)."""
    return sum(1 for line in lines if "Using cache" in line or line.rstrip().endswith(" CACHED"))


def process_line(argv: list[str]) -> str:
    return shown(argv)


def remove_run_resources(engine: Engine, run_id: str | None, *, images: bool = True) -> int:
    """Remove the containers (and images) a lab run made; only what carries its labels."""
    wanted = [f"{labels.MANAGED}=true", f"{labels.COMPONENT}=lab"]
    if run_id:
        wanted.append(f"org.mobylab.run={run_id}")
    removed = 0
    client = engine.client(timeout=120)
    try:
        for container in client.containers.list(all=True, filters={"label": wanted}):
            if labels.is_managed(container.labels):
                container.remove(force=True)
                removed += 1
        if images:
            for image in client.images.list(filters={"label": wanted}):
                if not labels.is_managed(image.labels):
                    continue
                for tag in image.tags or [image.id]:
                    try:
                        client.images.remove(tag, force=True, noprune=False)
                        removed += 1
                    except Exception:  # already gone with another tag
                        continue
    finally:
        client.close()
    return removed


class LabRunner:
    """One run of a lab on one or two engines."""

    def __init__(self, session: Session, lab: Lab, options: RunOptions) -> None:
        self.session = session
        self.lab = lab
        self.options = options
        self.numbers = steps_to_run(len(lab.steps), options.step, options.from_step)
        previous = self._previous_report() if (options.step or options.from_step) else None
        self.previous = previous
        self.run_id = previous["run_id"] if previous else new_run_id()
        self.report_dir = session.workspace.reports / self.run_id
        self.url = options.url or ""
        # A lab on the golang base image runs the blog's `go get`, which needs GOPATH mode.
        needs_go_path = bool(lab.builder_bases) and session.settings.builder_image == "auto"
        self.bases: BaseImages = resolve_bases(
            session.settings, session.engine(start=True), lab.images, needs_go_path
        )
        self.substitutions: list[dict[str, Any]] = []
        self.report: dict[str, Any] = {}

    def _previous_report(self) -> dict[str, Any] | None:
        run_id = report_mod.latest_run(self.session.workspace, self.lab.name)
        if not run_id:
            return None
        data = report_mod.load(self.session.workspace, run_id)
        if not data or data.get("lab") != self.lab.name:
            return None
        if data.get("options", {}).get("engine") != self.options.engine:
            return None
        return data

    def engines(self) -> list[Engine]:
        """The engines of `--engine`, in order; dev daemons up, with the lab's images."""
        host = self.session.engine(start=True)
        found: list[Engine] = []
        for spec in engine_specs(self.options.engine):
            if spec == "host":
                found.append(host)
                continue
            from ..dev.environment import ensure_dev_engine
            from ..dev.seed import seed_images

            build = spec.removeprefix("dev:") if spec.startswith("dev:") else None
            dev = ensure_dev_engine(self.session, start=True, build=build)
            # Named after what the user asked for, whichever dev daemon runs it.
            dev = dataclasses.replace(dev, name=engine_label(spec))
            if self.bases.offline:
                prepare_bases(host, self.session.workspace, self.session.settings, self.lab.images)
            wanted = {"golang": self.bases.builder, "runtime": self.bases.runtime}
            seed_images(host, dev, [wanted[n] for n in self.lab.images if n in wanted])
            found.append(dev)
        return found

    def engine_info(self, engine: Engine) -> dict[str, Any]:
        caps = probe(engine, self.session.workspace)
        builder, why = detect_builder(
            engine, self.session.workspace, caps.server_version, caps.api_version
        )
        base = inspect_image(engine, self.bases.builder) if self.lab.builder_bases else None
        return {
            "name": engine.name,
            "kind": engine.kind,
            "url": engine.url,
            "version": caps.server_version,
            "commit": caps.git_commit,
            "api_version": caps.api_version,
            "storage_driver": caps.storage_driver,
            "image_store": caps.image_store,
            "builder": builder,
            "builder_reason": why,
            "builder_image": self.bases.builder if self.lab.builder_bases else None,
            "builder_image_size_bytes": base["size_bytes"] if base else None,
        }

    def save(self) -> None:
        report_mod.write(self.report_dir, self.report)

    def start_report(self, infos: list[dict[str, Any]]) -> None:
        previous = self.previous or {}
        kept = [s for s in previous.get("steps", []) if s["index"] not in self.numbers]
        self.report = {
            "lab": self.lab.name,
            "title": self.lab.title,
            "features": {str(n): s.feature for n, s in enumerate(self.lab.steps, 1) if s.feature},
            "source": self.lab.source or None,
            "run_id": self.run_id,
            "status": "running",
            "started": previous.get("started") or _now(),
            "finished": None,
            "options": {"engine": self.options.engine, "url": self.options.url},
            "url": self.url,
            "site": "real" if self.options.url else ("fixture" if self.lab.site else None),
            "expected": self._expected(),
            "base_images": {
                "builder": self.bases.builder,
                "runtime": self.bases.runtime,
                "offline": self.bases.offline,
                "reason": self.bases.reason,
                "substitutions": self.substitutions,
            },
            "engines": infos,
            "builder_image_size_bytes": infos[0]["builder_image_size_bytes"] if infos else None,
            "steps": kept,
            "step_count": len(self.lab.steps),
            "workdirs": {},
            "failed_steps": [],
            "variants": [],
        }
        report_mod.refresh(self.report)

    def _expected(self) -> Any:
        if self.options.url or not self.lab.expected_file:
            return None
        return report_mod.read_expected(self.lab.path / self.lab.expected_file)

    def record_step(self, record: dict[str, Any]) -> None:
        steps = [
            s
            for s in self.report["steps"]
            if not (s["index"] == record["index"] and s["engine"] == record["engine"])
        ]
        steps.append(record)
        steps.sort(key=lambda s: (s["engine"], s["index"]))
        self.report["steps"] = steps
        report_mod.refresh(self.report)
        self.save()

    def run(self) -> dict[str, Any]:
        engines = self.engines()
        if self.bases.offline:
            for engine in engines:
                prepare_bases(
                    engine, self.session.workspace, self.session.settings, self.lab.images
                )
        infos = [self.engine_info(engine) for engine in engines]
        site: FixtureSite | None = None
        if self.lab.site and not self.options.url:
            site = FixtureSite(self.lab.path / self.lab.site, self.lab.site_port).start()
            self.url = site.url
        try:
            self.start_report(infos)
            self.report["url"] = self.url
            self.save()
            report_mod.point_latest(self.session.workspace, self.lab.name, self.run_id)
            self._introduce()
            for engine, info in zip(engines, infos, strict=True):
                self._run_on(engine, info)
        except (Interrupted, KeyboardInterrupt) as exc:
            # Ctrl-C: remove the run's containers (its images stay), keep the report.
            self.report["status"] = "interrupted"
            for engine in engines:
                remove_run_resources(engine, self.run_id, images=False)
            if isinstance(exc, Interrupted):
                raise
            raise Interrupted(
                f"lab {self.lab.name} interrupted",
                f"What was done is in {self.report_dir}.",
            ) from None
        finally:
            if site is not None:
                site.stop()
            if self.report:
                self.report["finished"] = _now()
            if self.report.get("status") == "running":
                self.report["status"] = "failed" if self.report["failed_steps"] else "passed"
            if self.report:
                self.save()
                paths = render.render_all(self.report_dir, self.report)
                self.report["paths"] = {k: str(v) for k, v in paths.items()}
        return self.report

    def _introduce(self) -> None:
        ui.out.rule(self.lab.title)
        ui.out.print(f"run {self.run_id} — report in {self.report_dir}", style="dim", markup=False)
        if self.lab.introduction and (self.options.step is None and self.options.from_step is None):
            ui.out.print(Markdown(self.lab.introduction), soft_wrap=False)
        ui.out.print(Markdown(LABEL_NOTE), style="dim", soft_wrap=False)
        if self.substitutions or self.bases.offline:
            ui.out.print(
                f"Base images: builder {self.bases.builder}, runtime {self.bases.runtime} "
                f"({self.bases.reason}).",
                style="dim",
                markup=False,
            )

    def prepare_workdir(self, engine: Engine, *, keep: bool = False) -> Path:
        """The run's copy of the app folder on `engine`, base images substituted
        (an existing copy is kept when resuming, or with `keep`)."""
        workdir = self.session.workspace.root / "runs" / self.run_id / engine.name
        if not ((self.previous or keep) and workdir.is_dir()):
            copy_workdir(self.lab.workdir_source, workdir)
        changes = substitute_workdir(workdir, run_replacements(self.lab, self.bases))
        if changes and not self.substitutions:
            self.substitutions.extend(changes)
        self.report["workdirs"][engine.name] = str(workdir)
        return workdir

    def start_container_site(self, engine: Engine, engine_run: EngineRun) -> ContainerSite | None:
        """On a dev daemon, the fixture site inside its container (whose host network
        the daemon's containers share); None elsewhere."""
        if engine.kind != "dev" or not self.lab.site or self.options.url:
            return None
        site = ContainerSite(
            engine,
            self.lab.path / self.lab.site,
            self.bases.runtime,
            self.lab.site_port,
            labels.labels("lab", lab=self.lab.name, run=self.run_id),
        ).start()
        engine_run.values["url"] = site.url
        return site

    def _run_on(self, engine: Engine, info: dict[str, Any]) -> None:
        engine_run = EngineRun(self, engine, info, self.prepare_workdir(engine))
        site = self.start_container_site(engine, engine_run)
        info["site_url"] = engine_run.values["url"]
        try:
            self._steps_on(engine, info, engine_run)
        finally:
            if site is not None:
                site.stop()

    def _steps_on(self, engine: Engine, info: dict[str, Any], engine_run: EngineRun) -> None:
        engine_run.variant_outputs.update(
            {
                v["name"]: v.get("output")
                for v in self.report["variants"]
                if v["engine"] == engine.name and v.get("produces_app")
            }
        )
        ui.info(
            f"{engine.name} engine: {info['url']} (version {info['version']}, "
            f"commit {info.get('commit') or '?'}, "
            f"{info['builder']} builder: {info['builder_reason']}; "
            f"image store {info['image_store']})"
        )
        for position, number in enumerate(self.numbers):
            step = self.lab.steps[number - 1]
            engine_run.present(number, step)
            try:
                record = engine_run.run_step(number, step)
            except (Interrupted, KeyboardInterrupt):
                removed = engine_run.remove_containers()
                self.record_step(
                    {
                        "index": number,
                        "engine": engine.name,
                        "title": step.title,
                        "status": "interrupted",
                        "reason": f"interrupted (Ctrl-C); {removed} container(s) removed",
                        "commands": [],
                        "checks": [],
                        "measurements": [],
                    }
                )
                self.report["status"] = "interrupted"
                raise Interrupted(
                    f"lab {self.lab.name} interrupted at step {number}",
                    f"What was done is in {self.report_dir}.",
                ) from None
            except MobylabError as exc:
                # The engine died or refused under the step: record it, stop there.
                self.record_step(
                    {
                        "index": number,
                        "engine": engine.name,
                        "title": step.title,
                        "status": "failed",
                        "reason": exc.message,
                        "commands": [],
                        "checks": [],
                        "measurements": [],
                    }
                )
                raise LabError(
                    f"lab {self.lab.name} stopped at step {number} on the {engine.name} "
                    f"engine: {exc.message}",
                    exc.hint or f"What was done is in {self.report_dir}.",
                ) from None
            self.record_step(record)
            last = position == len(self.numbers) - 1
            if self.options.guided and not last:
                _wait_for_enter()
        if self.lab.closing and self.numbers[-1] == len(self.lab.steps):
            ui.out.rule("Closing")
            ui.out.print(Markdown(self.lab.closing), soft_wrap=False)


def _wait_for_enter() -> None:
    with contextlib.suppress(EOFError):
        input("Press Enter for the next step (Ctrl-C stops the lab) ")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_lab(
    session: Session,
    lab: Lab,
    options: RunOptions,
    on_report: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run a lab; raises LabError (non-zero exit) when a step failed, after the report is out."""
    runner = LabRunner(session, lab, options)
    report = runner.run()
    if on_report:
        on_report(report)
    failed = report["failed_steps"]
    if failed:
        first = failed[0]
        raise LabError(
            f"lab {lab.name}: {len(failed)} step(s) failed; first: step {first['index']} "
            f"({first['title']}) on the {first['engine']} engine: {first['reason']}",
            f"See {report['paths'].get('md', runner.report_dir)}.",
        )
    return report


__all__ = ["LabRunner", "MobylabError", "RunOptions", "remove_run_resources", "run_lab"]

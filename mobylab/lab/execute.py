"""Execute a lab run: the engines, the work folders, and the commands on an engine (IO).

Commands run with the docker CLI against the chosen engine, in a scratch copy of
the lab's app folder, with mobylab's labels added to what they create. What they
did comes back as records and facts; judging them is judge.py's.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import labels, process
from ..engine import Engine, probe
from .bases import BaseImages, prepare_bases
from .checks import Facts, argv_of, shown, with_labels
from .dockerfile import base_replacements, is_dockerfile, maintained_lines, substitute_from
from .engine_choice import engine_label, engine_specs
from .judge import VariantFacts
from .metrics import container_exists, detect_builder, inspect_image, run_image_tags
from .model import Lab, Step
from .present import Presenter, ShownStep
from .records import Builder, CommandResult, EngineRecord, Leftover, Measurement, Substitution
from .setup import RunSetup
from .site import ContainerSite
from .stages import StageLog, dockerfile_of, dockerfile_stages, target_of

if TYPE_CHECKING:
    from ..session import Session

COMMAND_TIMEOUT = 1800.0


def cache_hits(lines: list[str]) -> int:
    """Pure: build steps the engine took from its cache (legacy and BuildKit wording)."""
    return sum(1 for line in lines if "Using cache" in line or line.rstrip().endswith(" CACHED"))


def run_replacements(lab: Lab, bases: BaseImages) -> dict[str, str]:
    """The FROM repositories of the lab's Dockerfiles and the run's images for them."""
    return base_replacements(lab.builder_bases, lab.runtime_bases, bases.builder, bases.runtime)


def copy_workdir(source: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns(".git"))


def substitute_workdir(workdir: Path, replacements: dict[str, str]) -> tuple[Substitution, ...]:
    """Rewrite the FROM lines of every Dockerfile in the scratch copy."""
    changes: list[Substitution] = []
    if not replacements:
        return ()
    for path in sorted(workdir.iterdir()):
        if not path.is_file() or not is_dockerfile(path.name):
            continue
        text, found = substitute_from(path.read_text(), replacements)
        if found:
            path.write_text(text)
            changes += [Substitution(path.name, c.line, c.old, c.new) for c in found]
    return tuple(changes)


def prepare_workdir(
    setup: RunSetup, engine_name: str, *, keep: bool = False
) -> tuple[Path, tuple[Substitution, ...]]:
    """The run's copy of the app folder for an engine, base images substituted (an
    existing copy is kept when resuming, or with `keep`), and the FROM lines replaced."""
    workdir = setup.workdir(engine_name)
    if not ((setup.previous or keep) and workdir.is_dir()):
        copy_workdir(setup.lab.workdir_source, workdir)
    return workdir, substitute_workdir(workdir, run_replacements(setup.lab, setup.bases))


def shown_step(
    setup: RunSetup,
    number: int,
    engine_name: str,
    workdir: Path,
    substitutions: tuple[Substitution, ...],
) -> ShownStep:
    """Step `number` as the run shows it on an engine: its files read from the work folder."""
    files = []
    for name in setup.lab.steps[number - 1].show:
        path = workdir / name
        files.append((name, path.read_text(errors="replace") if path.is_file() else "(missing)"))
    return ShownStep(setup, number, engine_name, tuple(files), substitutions)


def open_engines(session: Session, setup: RunSetup) -> list[Engine]:
    """The engines of `--engine`, in order; dev daemons up, with the lab's images."""
    host = session.engine(start=True)
    lab, bases = setup.lab, setup.bases
    found: list[Engine] = []
    for spec in engine_specs(setup.options.engine):
        if spec == "host":
            found.append(host)
            continue
        from ..dev.environment import ensure_dev_engine

        build = spec.removeprefix("dev:") if spec.startswith("dev:") else None
        dev = ensure_dev_engine(session, start=True, build=build)
        # Named after what the user asked for, whichever dev daemon runs it.
        dev = dataclasses.replace(dev, name=engine_label(spec))
        seed_bases(session, setup, host, dev)
        found.append(dev)
    if bases.offline:
        for engine in found:
            prepare_bases(engine, session.workspace, session.settings, lab.images)
    return found


def seed_bases(session: Session, setup: RunSetup, host: Engine, target: Engine) -> None:
    """Copy the lab's base images from the host engine (made there when offline) into
    `target`, which cannot pull them."""
    from ..dev.seed import seed_images

    if setup.bases.offline:
        prepare_bases(host, session.workspace, session.settings, setup.lab.images)
    seed_images(host, target, base_refs(setup.lab, setup.bases))


def base_refs(lab: Lab, bases: BaseImages) -> list[str]:
    """Pure: the images a run of `lab` builds on (lab.toml `images`), as this run names them."""
    wanted = {"golang": bases.builder, "runtime": bases.runtime}
    return [wanted[name] for name in lab.images if name in wanted]


def engine_record(session: Session, setup: RunSetup, engine: Engine) -> EngineRecord:
    """The engine as the report names it: what answers, and which builder it gets."""
    caps = probe(engine, session.workspace)
    builder, why = detect_builder(engine, session.workspace, caps.server_version, caps.api_version)
    has_sdk = bool(setup.lab.builder_bases)
    base = inspect_image(engine, setup.bases.builder) if has_sdk else None
    return EngineRecord(
        name=engine.name,
        kind=engine.kind,
        url=engine.url,
        version=caps.server_version,
        commit=caps.git_commit,
        api_version=caps.api_version,
        storage_driver=caps.storage_driver,
        image_store=caps.image_store,
        builder=Builder(builder),
        builder_reason=why,
        builder_image=setup.bases.builder if has_sdk else None,
        builder_image_size_bytes=base.size_bytes if base else None,
    )


def start_container_site(setup: RunSetup, engine: Engine) -> ContainerSite | None:
    """On a dev daemon, the fixture site inside its container (whose host network
    the daemon's containers share); None elsewhere."""
    lab = setup.lab
    if engine.kind != "dev" or not setup.fixture_site:
        return None
    return ContainerSite(
        engine,
        lab.path / lab.site,
        setup.bases.runtime,
        lab.site_port,
        setup.resource_labels,
    ).start()


def remove_run_resources(
    engine: Engine, run_id: str | None, *, images: bool = True, workspace: str | None = None
) -> int:
    """Remove the containers (and images) lab runs made, only what carries their labels:
    one run's (`run_id`), or every run's of one workspace (`workspace`, its key), or,
    with neither, every lab run's on the engine."""
    wanted = [f"{labels.MANAGED}=true", f"{labels.COMPONENT}=lab"]
    if run_id:
        wanted.append(f"{labels.RUN}={run_id}")
    if workspace:
        wanted.append(f"{labels.WORKSPACE}={workspace}")
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


class EngineRun:
    """The lab's commands on one engine, in the run's work folder there."""

    def __init__(
        self,
        setup: RunSetup,
        engine: Engine,
        workdir: Path,
        presenter: Presenter,
        *,
        url: str,
        builder: Builder | None = None,
        variant_outputs: MutableMapping[str, Any] | None = None,
    ) -> None:
        self.setup = setup
        self.engine = engine
        self.workdir = workdir
        self.presenter = presenter
        self.values = setup.values(url)
        self.env = {**engine.cli_env(), "DOCKER_CLI_HINTS": "false"}
        limit = setup.options.time_limit
        self.deadline = time.monotonic() + limit if limit is not None else None
        if builder == Builder.LEGACY:
            # Say it to the CLI: with buildx it would try BuildKit on any engine, and an
            # engine that predates BuildKit (before 18.09) cannot build that way.
            self.env["DOCKER_BUILDKIT"] = "0"
        # Variant name -> the JSON its image printed, for variants-agree.
        self.variant_outputs: MutableMapping[str, Any] = (
            {} if variant_outputs is None else variant_outputs
        )

    def log(self, name: str) -> Path:
        path = self.setup.log_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def run_command(self, text: str, role: str, expect_exit: int, log: Path) -> CommandResult:
        argv = argv_of(text, self.values)
        display = shown(argv)
        self.presenter.command(display)
        full = with_labels(argv, self.setup.label_flags)

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
            self.presenter.output(line)

        with log.open("a") as handle:
            handle.write(f"$ {shown(full)}\n")
        done = process.run(
            full,
            env=self.env,
            cwd=self.workdir,
            log=log,
            on_line=echo,
            timeout=self.command_timeout(),
            tail_lines=60,
        )
        return CommandResult(
            shown=display,
            argv=tuple(full),
            exit_code=done.returncode,
            seconds=round(done.seconds, 3),
            output_tail=tuple(done.tail),
            role=role,
            expect_exit=expect_exit,
            cached_steps=cached[0],
            builder=Builder(stages.builder) if stages.builder else None,
            stages_built=tuple(stages.built),
            target=target_of(argv),
            stages=tuple(stages.stages),
            started_building=stages.started,
        )

    def command_timeout(self) -> float:
        """How long the next command may take: what is left of the run's time limit."""
        if self.deadline is None:
            return COMMAND_TIMEOUT
        return min(COMMAND_TIMEOUT, max(self.deadline - time.monotonic(), 0.001))

    def run_commands(self, step: Step, log: Path) -> list[CommandResult]:
        """The step's commands in order, up to the first that exits otherwise than expected."""
        results: list[CommandResult] = []
        for command in step.commands:
            result = self.run_command(command.text, command.role, command.expect_exit, log)
            results.append(result)
            if not result.exited_as_expected:
                break
        return results

    def _stages_of(self, argv: list[str]) -> list[str]:
        """The stages of the Dockerfile a `docker build` command names ([] otherwise)."""
        if argv[:2] != ["docker", "build"]:
            return []
        path = self.workdir / dockerfile_of(argv)
        return dockerfile_stages(path.read_text(errors="replace")) if path.is_file() else []

    def facts(self, outputs: list[str], codes: list[int]) -> Facts:
        lab_path = self.setup.lab.path

        def exists_image(ref: str) -> bool:
            return inspect_image(self.engine, ref) is not None

        def size_of(ref: str) -> int | None:
            found = inspect_image(self.engine, ref)
            return found.size_bytes if found else None

        def workdir_of(ref: str) -> str | None:
            found = inspect_image(self.engine, ref)
            return found.workdir if found else None

        return Facts(
            outputs=outputs,
            exit_codes=codes,
            values=self.values,
            read_file=lambda name: (lab_path / name).read_text(),
            image_exists=exists_image,
            image_size=size_of,
            image_workdir=workdir_of,
            file_exists=lambda name: (self.workdir / name).exists(),
            run_images=lambda: run_image_tags(self.engine, self.setup.run_id),
            variant_outputs=self.variant_outputs,
            exact=self.setup.options.url is None,
        )

    def measure(self, step: Step) -> tuple[Measurement, ...]:
        """The step's measurements, as the engine reports them."""
        found = []
        for measurement in step.measurements:
            ref = argv_of(measurement.image, self.values)[0]
            image = inspect_image(self.engine, ref)
            found.append(
                Measurement(measurement.name, ref, missing=True)
                if image is None
                else Measurement(
                    measurement.name, ref, image.id, image.size_bytes, image.layers, image.workdir
                )
            )
        return tuple(found)

    def variant_facts(self, step: Step) -> VariantFacts:
        """What the step's variant left: its image, its files' lines, what else it left."""
        variant = step.variant
        assert variant is not None
        ref = argv_of(variant.image, self.values)[0]
        lines = 0
        for name in variant.maintain:
            path = self.setup.lab.workdir_source / name
            lines += maintained_lines(path.read_text(errors="replace")) if path.is_file() else 0
        return VariantFacts(
            image=ref,
            found=inspect_image(self.engine, ref),
            lines=lines,
            leftovers=tuple(self._leftover(item) for item in variant.leftovers),
            output=self.variant_outputs.get(variant.name) if variant.produces_app else None,
        )

    def _leftover(self, item: str) -> Leftover:
        kind, _, value = item.partition(":")
        value = argv_of(value, self.values)[0]
        if kind == "file":
            path = self.workdir / value
            size = path.stat().st_size if path.is_file() else None
            return Leftover(kind, value, path.exists(), size)
        if kind == "image":
            image = inspect_image(self.engine, value)
            return Leftover(kind, value, image is not None, image.size_bytes if image else None)
        if kind == "container":
            return Leftover(kind, value, container_exists(self.engine, value))
        return Leftover(kind, value)

    def remove_containers(self) -> int:
        """Remove this run's containers (Ctrl-C can leave a `docker run` one behind)."""
        return remove_run_resources(self.engine, self.setup.run_id, images=False)

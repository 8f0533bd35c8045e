"""Run a lab guided: prepare, then execute and judge each step on each engine, presenting it.

The four parts live apart: setup.py prepares (plain data in, a frozen `RunSetup`
out), execute.py runs commands on an engine, judge.py turns what they did into
records, present.py shows it. This module composes them for guided runs (and
`run_step` for practice mode's `lab solve`). The report is written after every
step, so a failure or Ctrl-C keeps what was done and says which step failed and why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .. import labels
from ..engine import Engine
from ..errors import Interrupted, LabError, MobylabError, UsageError
from ..workspace import Workspace
from . import render
from . import report as report_mod
from .execute import (
    EngineRun,
    engine_record,
    open_engines,
    prepare_workdir,
    remove_run_resources,
    shown_step,
    start_container_site,
)
from .features import lacking_need
from .judge import judge_checks, judge_step, variant_output, variant_record
from .model import Lab, Step
from .present import Presenter, TerminalPresenter
from .records import EngineRecord, Report, Status, StepRecord
from .setup import RunOptions, RunSetup, now_text, prepare
from .site import FixtureSite

if TYPE_CHECKING:
    from ..session import Session


def run_step(run: EngineRun, number: int, step: Step) -> StepRecord:
    """One step on one engine: its commands run, its checks judged, measured, presented."""
    log = run.log(f"{run.engine.name}-step{number}.log")
    commands = run.run_commands(step, log)
    variant = step.variant
    if variant is not None and variant.produces_app:
        run.variant_outputs[variant.name] = variant_output(commands)
    facts = run.facts([c.output for c in commands], [c.exit_code for c in commands])
    checks = judge_checks(step, facts, range(len(commands)))
    record = judge_step(number, step, run.engine.name, str(log), commands, checks)
    if record.stages is not None:
        run.presenter.stages(record.stages.text)
    record = replace(record, measurements=run.measure(step))
    if variant is not None:
        if record.status == Status.ABSENT:
            # An engine without the feature is no variant to compare with the others.
            run.variant_outputs.pop(variant.name, None)
        record = replace(record, variant=variant_record(step, record, run.variant_facts(step)))
    run.presenter.verdict(record)
    return record


def publish(setup: RunSetup, report: Report) -> Report:
    """Write the report and render it (Markdown, HTML); the report with their paths."""
    paths = render.render_all(setup.report_dir, report)
    return replace(report, paths={kind: str(path) for kind, path in paths.items()})


def render_again(workspace: Workspace, run_id: str | None) -> tuple[Report, dict[str, Path]]:
    """A run's report (default: the last run's) rendered again, and the files it is in."""
    run_id = run_id or report_mod.latest_run(workspace)
    if not run_id:
        raise LabError("no lab has run in this workspace yet", "Run `invoke lab.multistage --yes`.")
    report = report_mod.load(workspace, run_id)
    if report is None:
        raise LabError(f"no report for the run {run_id!r}", f"Runs are in {workspace.reports}.")
    return report, render.render_all(workspace.reports / run_id, report)


def clean_runs(session: Session, run_id: str | None, *, all_workspaces: bool = False) -> int:
    """Remove what lab runs made on the engine: one run's (of this workspace), this
    workspace's runs', or every workspace's; how many images and containers went."""
    workspace = session.workspace
    if run_id and report_mod.load(workspace, run_id) is None:
        raise UsageError(
            f"no lab run {run_id!r} in this workspace",
            f"Runs are in {workspace.reports} (`invoke lab.report` names the last one).",
        )
    key = None if all_workspaces or run_id else labels.workspace_key(workspace.root)
    engine = session.engine(start=False)
    return remove_run_resources(engine, run_id, workspace=key)


class GuidedRun:
    """One guided run of a lab on one or more engines."""

    def __init__(
        self,
        session: Session,
        setup: RunSetup,
        presenter: Presenter,
        engines: Sequence[Engine] | None = None,
    ) -> None:
        self.session = session
        self.setup = setup
        self.presenter = presenter
        # Engines handed in instead of --engine's (a lab step asked as a scenario, on the
        # engine under test): the run belongs to that task, and is not the lab's latest.
        self.engines = engines
        self.report: Report | None = None

    def _save(self, report: Report) -> None:
        self.report = report
        report_mod.write(self.setup.report_dir, report)

    def run(self) -> Report:
        setup = self.setup
        given = self.engines
        engines = list(given) if given is not None else open_engines(self.session, setup)
        records = [engine_record(self.session, setup, engine) for engine in engines]
        site: FixtureSite | None = None
        url = setup.options.url or ""
        if setup.fixture_site:
            site = FixtureSite(setup.lab.path / setup.lab.site, setup.lab.site_port).start()
            url = site.url
        try:
            self._save(replace(setup.start_report(records), url=url))
            if given is None:
                report_mod.point_latest(self.session.workspace, setup.lab.name, setup.run_id)
            self.presenter.introduce(setup)
            for engine, record in zip(engines, records, strict=True):
                self._run_on(engine, record, url)
        except (Interrupted, KeyboardInterrupt) as exc:
            # Ctrl-C: remove the run's containers (its images stay), keep the report.
            if self.report is not None:
                self.report = replace(self.report, status=Status.INTERRUPTED)
            for engine in engines:
                remove_run_resources(engine, setup.run_id, images=False)
            if isinstance(exc, Interrupted):
                raise
            raise Interrupted(
                f"lab {setup.lab.name} interrupted", f"What was done is in {setup.report_dir}."
            ) from None
        finally:
            if site is not None:
                site.stop()
            if self.report is not None:
                report = replace(self.report, finished=now_text())
                if report.status == Status.RUNNING:
                    failed = bool(report.failed_steps)
                    report = replace(report, status=Status.FAILED if failed else Status.PASSED)
                self.report = publish(setup, report)
        assert self.report is not None  # written before any step ran
        return self.report

    def _run_on(self, engine: Engine, record: EngineRecord, url: str) -> None:
        setup, report = self.setup, self.report
        assert report is not None and report.base_images is not None
        workdir, substitutions = prepare_workdir(setup, engine.name)
        if substitutions and not report.base_images.substitutions:
            bases = replace(report.base_images, substitutions=substitutions)
            report = replace(report, base_images=bases)
        site = start_container_site(setup, engine)
        engine_url = site.url if site is not None else url
        engines = tuple(
            replace(e, site_url=engine_url) if e.name == engine.name else e for e in report.engines
        )
        self.report = replace(
            report, engines=engines, workdirs={**report.workdirs, engine.name: str(workdir)}
        )
        kept = {
            v.name: v.output for v in report.variants if v.engine == engine.name and v.produces_app
        }
        run = EngineRun(
            setup,
            engine,
            workdir,
            self.presenter,
            url=engine_url,
            builder=record.builder,
            variant_outputs=kept,
        )
        try:
            self._steps_on(run, record)
        finally:
            if site is not None:
                site.stop()

    def _steps_on(self, run: EngineRun, record: EngineRecord) -> None:
        setup, lab, name = self.setup, self.setup.lab, run.engine.name
        self.presenter.engine(record)
        for number in setup.numbers:
            step = lab.steps[number - 1]
            assert self.report is not None and self.report.base_images is not None
            substitutions = self.report.base_images.substitutions
            self.presenter.step(shown_step(setup, number, name, run.workdir, substitutions))
            lacking = lacking_need(step, record)
            try:
                if lacking:
                    done = StepRecord.not_in_engine(number, name, step.title, lacking)
                    self.presenter.verdict(done)
                else:
                    done = run_step(run, number, step)
            except (Interrupted, KeyboardInterrupt):
                removed = run.remove_containers()
                interrupted = StepRecord.interrupted(number, name, step.title, removed)
                self._save(replace(self.report.with_step(interrupted), status=Status.INTERRUPTED))
                raise Interrupted(
                    f"lab {lab.name} interrupted at step {number}",
                    f"What was done is in {setup.report_dir}.",
                ) from None
            except MobylabError as exc:
                # The engine died or refused under the step: record it, stop there.
                self._save(
                    self.report.with_step(StepRecord.failed(number, name, step.title, exc.message))
                )
                raise LabError(
                    f"lab {lab.name} stopped at step {number} on the {name} engine: {exc.message}",
                    exc.hint or f"What was done is in {setup.report_dir}.",
                ) from None
            self._save(self.report.with_step(done))
        if setup.ends_the_lab:
            self.presenter.closing(lab)


def run_lab(
    session: Session,
    lab: Lab,
    options: RunOptions,
    on_report: Callable[[Report], None] | None = None,
) -> Report:
    """Run a lab; raises LabError (non-zero exit) when a step failed, after the report is out."""
    setup = prepare(session, lab, options)
    report = GuidedRun(session, setup, TerminalPresenter(pause=options.guided)).run()
    if on_report:
        on_report(report)
    if report.failed_steps:
        first = report.failed_steps[0]
        raise LabError(
            f"lab {lab.name}: {len(report.failed_steps)} step(s) failed; first: step "
            f"{first.index} ({first.title}) on the {first.engine} engine: {first.reason}",
            f"See {report.paths.get('md', setup.report_dir)}.",
        )
    return report

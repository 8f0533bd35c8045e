"""Scenarios without an engine: what one is, its records and reports, and the history a
bisect walks, read by real git from a repository of the test's own."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import pytest

from mobylab.config import merge_settings
from mobylab.errors import SourceError, UsageError
from mobylab.lab.records import Builder, CommandResult, Status, StepRecord
from mobylab.scenario.bisect import question_folder, resumed
from mobylab.scenario.history import (
    check_out,
    deepen,
    describe,
    head_kept,
    open_source,
    pull_request,
    resolve,
    walk,
)
from mobylab.scenario.labstep import step_verdict
from mobylab.scenario.model import ScenarioKind, load_scenario, parse_seed_file, time_limit_or
from mobylab.scenario.records import (
    BisectLog,
    BisectReport,
    BisectStep,
    Commit,
    EngineIdentity,
    ScenarioResult,
    TryReport,
    TryRow,
)
from mobylab.scenario.report import answer_line, bisect_markdown, try_html, try_markdown, try_rows
from mobylab.scenario.run import judge, scenario_env
from mobylab.scenario.search import Change, Outcome
from mobylab.scenario.trial import EngineWanted, engines_by_spec
from mobylab.workspace import Workspace

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios"
LABS = Path(__file__).resolve().parents[2] / "labs"
# The catalog as a clone has it: no labs_dir setting.
CATALOG = merge_settings({}, environ={})


# --- what a scenario is -------------------------------------------------------------------


def test_a_folder_scenario_runs_its_run_file_and_names_its_seeds() -> None:
    scenario = load_scenario(str(FIXTURES / "named-stages"), ["busybox:1", "mobylab/x:1"], CATALOG)
    assert scenario.kind is ScenarioKind.FOLDER
    assert scenario.entry == "run"
    assert scenario.seeds == ("busybox:1", "mobylab/x:1", "mobylab-test/scenario-seed:1")


def test_a_script_is_a_scenario_of_its_own(tmp_path: Path) -> None:
    script = tmp_path / "check.sh"
    script.write_text("#!/bin/sh\ndocker info\n")
    script.chmod(0o755)
    scenario = load_scenario(str(script), (), CATALOG)
    assert (scenario.kind, scenario.entry, scenario.seeds) == (ScenarioKind.SCRIPT, "check.sh", ())
    before = scenario.digest()
    script.write_text("#!/bin/sh\ndocker version\n")
    assert scenario.digest() != before


@pytest.mark.parametrize(
    ("name", "words"),
    [("missing", "no scenario at"), ("plain.sh", "is not executable"),
     ("folder", "has no `run` file")],
)  # fmt: skip
def test_a_scenario_that_cannot_run_is_refused_in_one_line(tmp_path: Path, name, words) -> None:
    (tmp_path / "plain.sh").write_text("exit 0\n")
    (tmp_path / "folder").mkdir()
    with pytest.raises(UsageError, match=words):
        load_scenario(str(tmp_path / name), (), CATALOG)


def test_a_lab_step_is_a_scenario_by_its_lab_and_number() -> None:
    scenario = load_scenario("lab:health:2", ["busybox:1"], CATALOG)
    assert (scenario.kind, scenario.name, scenario.seeds) == (
        ScenarioKind.LAB_STEP, "lab:health:2", ("busybox:1",)
    )  # fmt: skip
    assert scenario.lab_step is not None and scenario.lab_step.number == 2
    assert scenario.lab_step.lab.name == "health" and scenario.path == LABS / "health"
    # Another step of the same lab asks another question.
    assert load_scenario("lab:health:3", [], CATALOG).digest() != scenario.digest()
    # The lab by its folder's path, as every lab task takes it.
    by_path = load_scenario(f"lab:{LABS / 'hello'}:1", [], CATALOG)
    assert (by_path.name, by_path.path) == ("lab:hello:1", LABS / "hello")


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ("lab:nosuch:1", "lab:nosuch:1: no lab called 'nosuch'. Known labs: "),
        ("lab:hello:99", "hello has no step '99'; its steps: 1. Build and run a two-line image"),
        ("lab:hello", "lab:hello: names no step; its steps: 1. Build and run"),
        ("lab:hello:x", "hello has no step 'x'"),
        ("lab:health:0", "its steps: 1. A health check in the image: HEALTHCHECK; 2. Start it"),
        ("lab:./nowhere:1", "'./nowhere' is not a lab folder"),
        ("lab::1", "lab name '' is not valid"),
    ],
)
def test_a_lab_step_that_is_not_there_is_refused_in_one_line(given: str, words: str) -> None:
    with pytest.raises(UsageError) as caught:
        load_scenario(given, (), CATALOG)
    line = caught.value.one_line()
    assert words in line and "\n" not in line, line


def _record(index: int, status: Status, reason: str = "", tail: tuple[str, ...] = ()) -> StepRecord:
    command = CommandResult.from_dict(
        {"shown": "docker run x", "exit_code": 0, "seconds": 0.1, "output_tail": list(tail)}
    )
    return StepRecord(index, "host", f"step {index}", status, reason, commands=(command,))


def test_a_lab_step_says_present_when_its_steps_pass_and_its_checks_do() -> None:
    records = [_record(1, Status.PASSED), _record(2, Status.PASSED, tail=("2 exited 3",))]
    outcome, reason, decided = step_verdict(records, 2)
    assert (outcome, reason, decided) == (Outcome.PRESENT, "every check passed", records[1])


def test_a_lab_step_whose_check_fails_or_that_the_engine_refuses_is_absent() -> None:
    failed = _record(2, Status.FAILED, "output-equals: expected healthy, saw starting")
    assert step_verdict([_record(1, Status.PASSED), failed], 2)[:2] == (
        Outcome.ABSENT, "FAILED: output-equals: expected healthy, saw starting"
    )  # fmt: skip
    refused = _record(1, Status.ABSENT, "invalid reference format")
    assert step_verdict([refused], 1)[:2] == (
        Outcome.ABSENT, "not in this engine (invalid reference format)"
    )  # fmt: skip


def test_a_lab_step_that_could_not_run_could_not_test() -> None:
    # What the engine lacks of the step's declared needs: it was not run at all.
    lacking = "needs API 1.44; this engine speaks 1.41"
    assert step_verdict([], 3, lacking) == (
        Outcome.UNTESTED, "not in this engine: needs API 1.44; this engine speaks 1.41", None
    )  # fmt: skip
    # A step before it did not set up its state, whatever the step itself said.
    broken = _record(1, Status.FAILED, "`docker build` exited 1: no space left on device")
    outcome, reason, decided = step_verdict([broken, _record(2, Status.PASSED)], 2)
    assert (outcome, decided) == (Outcome.UNTESTED, broken)
    assert (
        reason == "step 1 did not set up: FAILED: `docker build` exited 1: no space left on device"
    )
    assert step_verdict([_record(1, Status.PASSED)], 2)[:2] == (
        Outcome.UNTESTED, "step 2 did not run"
    )  # fmt: skip
    assert step_verdict([], 2)[1] == "step 1 did not set up: not run"
    stopped = _record(1, Status.INTERRUPTED, "interrupted (Ctrl-C)")
    assert step_verdict([stopped], 1)[0] is Outcome.UNTESTED


def test_a_run_stopped_at_its_time_limit_says_so() -> None:
    assert time_limit_or("docker took longer", 5.2, 5.0) == "the time limit (5s) stopped it"
    assert time_limit_or("the engine went away", 1.0, 5.0) == "the engine went away"


def test_the_seed_file_skips_blank_lines_and_comments() -> None:
    assert parse_seed_file("# images\nbusybox:1 # the base\n\n  alpine \n") == (
        "busybox:1",
        "alpine",
    )


# --- one run's verdict --------------------------------------------------------------------


def test_an_exit_says_present_or_absent() -> None:
    assert judge(0) == (Outcome.PRESENT, "exit 0")
    assert judge(1) == (Outcome.ABSENT, "exit 1")
    assert judge(124)[0] is Outcome.ABSENT


def test_the_scenario_gets_the_engine_the_wrapper_and_the_builder(tmp_path: Path) -> None:
    env = scenario_env({"DOCKER_HOST": "unix:///x.sock"}, tmp_path, Builder.LEGACY, "/usr/bin")
    assert env["DOCKER_HOST"] == "unix:///x.sock"
    assert env["PATH"] == f"{tmp_path}{os.pathsep}/usr/bin"
    assert env["DOCKER_BUILDKIT"] == "0"
    assert scenario_env({}, tmp_path, Builder.BUILDKIT, "")["DOCKER_BUILDKIT"] == "1"


def test_engines_asked_for_by_spec_keep_their_order() -> None:
    assert engines_by_spec([], anything_else=False) == [EngineWanted("host", "host")]
    assert engines_by_spec([], anything_else=True) == []
    labels = [e.label for e in engines_by_spec(["dev:2fa8fe4", "host"], anything_else=True)]
    assert labels == ["dev:2fa8fe4", "host"]
    assert EngineWanted("ref v17.05.0-ce/x").folder == "ref-v17.05.0-ce-x"
    with pytest.raises(UsageError, match="not one of host"):
        engines_by_spec(["nowhere"], anything_else=False)


# --- records and reports ------------------------------------------------------------------

IDENTITY = EngineIdentity("dev:2fa8fe4", "dev", "17.05.0-dev", "2fa8fe400d92", "1.29")
PRESENT = ScenarioResult(
    Outcome.PRESENT,
    "exit 0",
    2.5,
    ("Step 1/3", "Successfully built"),
    "/r/output.log",
    Builder.LEGACY,
    "engine API 1.29 predates BuildKit",
    0,
)


def test_a_try_report_round_trips_and_draws_its_rows() -> None:
    untested = ScenarioResult.untested("the build failed: make exited 2")
    report = TryReport("r1", "named-stages", "t0", "t1", 600.0, ("busybox",),
                       (TryRow(IDENTITY, PRESENT), TryRow(IDENTITY, untested)))  # fmt: skip
    again = TryReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again == report
    assert not report.all_tested
    rows = try_rows(report, lines=1, width=10)
    assert rows[0][:5] == ("dev:2fa8fe4", "17.05.0-dev", "2fa8fe400d92", "present", "legacy")
    assert rows[0][6] == "Successfu…"
    assert rows[1][3] == "could not test (the build failed: make exited 2)"
    assert "| dev:2fa8fe4 | 17.05.0-dev |" in try_markdown(report)
    assert "could not test (the build failed" in try_html(report)


def _log(steps: tuple[BisectStep, ...] = ()) -> BisectLog:
    return BisectLog("named-stages", "d1", "a" * 40, "b" * 40, True, steps)


def test_a_bisect_report_names_the_pull_request_in_its_json() -> None:
    step = BisectStep("c" * 40, PRESENT, 61.0, IDENTITY, "Merge pull request #32063 from t/x")
    first = Commit("c" * 40, "Merge pull request #32063 from t/x", "Add support for named stages")
    report = BisectReport(_log((step,)), Change.ARRIVAL, first, Commit("a" * 40, ""),
                          ("c" * 40,), 57, "t2")  # fmt: skip
    data = json.loads(json.dumps(report.to_dict()))
    assert (data["first_commit"], data["pull_request"]) == ("c" * 40, 32063)
    assert data["steps"][0]["build_seconds"] == 61.0
    assert BisectReport.from_dict(data).log.steps == report.log.steps
    assert "pull request #32063: Add support for named stages" in answer_line(report)
    assert "| cccccccccccc | #32063 | present | 61s | 2.5s |" in bisect_markdown(report)


def test_a_resumed_log_keeps_its_steps_but_retries_an_untested_end(tmp_path: Path) -> None:
    untested_end = BisectStep("a" * 40, ScenarioResult.untested("no daemon"), 1.0)
    middle = BisectStep("e" * 40, ScenarioResult.untested("build failed"), 1.0)
    done = BisectStep("b" * 40, PRESENT, 1.0)
    saved = _log((untested_end, done, middle)).to_dict()
    assert resumed(_log(), saved).steps == (done, middle)
    other_question = {**saved, "scenario_digest": "changed"}
    assert resumed(_log(), other_question).steps == ()
    assert resumed(_log(), "not a log").steps == ()
    folder = question_folder(tmp_path, _log())
    assert folder.parent == tmp_path / "bisect"
    assert folder.name.startswith("named-stages-aaaaaaaaaaaa-bbbbbbbbbbbb-")
    # A lab step given by its folder's path is one folder too.
    lab_step = dataclasses.replace(_log(), scenario="lab:/home/me/labs/demo:2")
    assert question_folder(tmp_path, lab_step).parent == tmp_path / "bisect"
    assert question_folder(tmp_path, lab_step).name.startswith("lab-home-me-labs-demo-2-aaaa")


# --- the history a bisect walks -----------------------------------------------------------


def _git(cwd: Path, *args: str) -> str:
    who = {f"GIT_{role}_{what}": value for role in ("AUTHOR", "COMMITTER")
           for what, value in (("NAME", "t"), ("EMAIL", "t@t"))}  # fmt: skip
    env = {**os.environ, **who, "GIT_CONFIG_GLOBAL": "/dev/null"}
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, list[str], list[str]]:
    """A bare repository: master with three merged pull requests of two commits each.
    (the first-parent line, every commit), oldest first."""
    work = tmp_path / "work"
    work.mkdir()
    _git(work, "init", "-q", "-b", "master")
    (work / "f").write_text("0\n")
    _git(work, "add", "f")
    _git(work, "commit", "-q", "-m", "start")
    line, every = [_git(work, "rev-parse", "HEAD")], [_git(work, "rev-parse", "HEAD")]
    for number in (11, 12, 13):
        _git(work, "checkout", "-q", "-b", f"pr{number}")
        for part in (1, 2):
            (work / f"pr{number}").write_text(f"{part}\n")
            _git(work, "add", f"pr{number}")
            _git(work, "commit", "-q", "-m", f"pr {number} part {part}")
            every.append(_git(work, "rev-parse", "HEAD"))
        _git(work, "checkout", "-q", "master")
        message = f"Merge pull request #{number} from someone/pr{number}\n\nTitle {number}"
        _git(work, "merge", "-q", "--no-ff", f"pr{number}", "-m", message)
        line.append(_git(work, "rev-parse", "HEAD"))
        every.append(line[-1])
    bare = tmp_path / "moby.git"
    _git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    return bare, line, every


def _source(tmp_path: Path, bare: Path):
    workspace = Workspace(tmp_path / "ws")
    settings = merge_settings({"workspace": str(workspace.root), "repo": str(bare)}, environ={})
    return open_source(workspace, settings)


def test_the_walks_first_parent_and_every_commit(tmp_path: Path, history) -> None:
    bare, line, every = history
    source = _source(tmp_path, bare)
    old, new = resolve(source, line[0][:10]), resolve(source, "master")
    assert (old, new) == (line[0], line[-1])
    deepen(source, old, new)
    assert walk(source, old, new, first_parent=True) == line
    assert walk(source, old, new, first_parent=False) == every
    merge = describe(source, line[2])
    assert (merge.pull_request, merge.title) == (12, "Title 12")
    # A search leaves the checkout's HEAD as it found it.
    _git(source.checkout, "checkout", "-q", "-b", "mine", line[1])
    with head_kept(source):
        check_out(source, line[3])
        assert _git(source.checkout, "rev-parse", "HEAD") == line[3]
    assert _git(source.checkout, "symbolic-ref", "--short", "HEAD") == "mine"


def test_a_shallow_checkout_is_deepened_for_the_walk(tmp_path: Path, history) -> None:
    bare, line, _ = history
    source = _source(tmp_path, bare)
    _git(source.checkout, "fetch", "-q", "--depth", "1", "origin", line[-1])
    assert _git(source.checkout, "rev-parse", "--is-shallow-repository") == "true"
    new = resolve(source, line[-1])
    old = resolve(source, line[0])
    deepen(source, old, new)
    assert walk(source, old, new, first_parent=True) == line


def test_an_annotated_tag_is_the_commit_it_tags(tmp_path: Path, history) -> None:
    bare, line, _ = history
    _git(bare, "tag", "-a", "v1.0.0", "-m", "release", line[2])
    source = _source(tmp_path, bare)
    old, new = resolve(source, line[0]), resolve(source, "v1.0.0")
    assert new == line[2]
    deepen(source, old, new)
    assert walk(source, old, new, first_parent=True) == line[:3]


def test_a_pull_request_is_its_head_and_where_it_leaves_its_branch(tmp_path: Path, history) -> None:
    bare, line, _ = history
    # An open pull request: one commit on top of the first merge, not merged.
    head = _git(bare, "commit-tree", f"{line[1]}^{{tree}}", "-p", line[1], "-m", "pr 21")
    _git(bare, "update-ref", "refs/pull/21/head", head)
    source = _source(tmp_path, bare)
    assert pull_request(source, 21, "master") == (line[1], head)
    # A merged one: compared with where it left the branch, not with itself.
    merged_head = _git(bare, "rev-parse", f"{line[2]}^2")
    _git(bare, "update-ref", "refs/pull/12/head", merged_head)
    fork = _git(bare, "merge-base", f"{line[2]}^1", merged_head)
    assert pull_request(source, 12, "master") == (fork, merged_head) and fork != merged_head
    with pytest.raises(SourceError, match="pull request #99 is not in"):
        pull_request(source, 99, "master")
    with pytest.raises(SourceError, match="the branch 'main' that pull request #21 targets"):
        pull_request(source, 21, "main")


def test_bad_ends_are_refused_in_one_line(tmp_path: Path, history) -> None:
    bare, line, _ = history
    source = _source(tmp_path, bare)
    with pytest.raises(SourceError, match="unknown ref 'nosuchbranch'"):
        resolve(source, "nosuchbranch")
    with pytest.raises(SourceError, match="unknown ref 'abcdef1234'"):
        resolve(source, "abcdef1234")
    old, new = resolve(source, line[0]), resolve(source, line[-1])
    with pytest.raises(UsageError, match="the same commit"):
        walk(source, new, new, first_parent=True)
    with pytest.raises(UsageError, match="is not an ancestor of --new"):
        walk(source, new, old, first_parent=True)


def test_a_checkout_with_local_work_is_left_alone(tmp_path: Path, history) -> None:
    bare, line, _ = history
    source = _source(tmp_path, bare)
    resolve(source, line[-1])
    _git(source.checkout, "checkout", "-q", "--detach", line[-1])
    (source.checkout / "f").write_text("mine\n")
    with pytest.raises(SourceError, match="has local work"):
        _source(tmp_path, bare)
    assert (source.checkout / "f").read_text() == "mine\n"

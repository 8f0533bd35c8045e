"""Writing labs without an engine: lab.new's starting lab, lab.lint's every problem with
its line, a lab named by its folder's path, and lab.verify's matrix from reports."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mobylab.catalog import lab_folder
from mobylab.config import Settings
from mobylab.errors import LabError, UsageError
from mobylab.lab.authoring import field_line, lint_lab, new_lab
from mobylab.lab.model import Lab, Step, load_lab
from mobylab.lab.records import CheckResult, EngineRecord, Report, Status, StepRecord
from mobylab.lab.verify import (
    VerifyMatrix,
    VerifyPresenter,
    cell_of,
    failure,
    matrix_table_rows,
    verified_lab,
)
from tests.fixtures.cli import run_task

BROKEN = """\
title = "Broken"
colour = "red"
app = "app"

[[steps]]
title = "one"
needs_api = "latest"
show = ["../../etc/passwd"]
commands = ["docker run --rm x"]

[[steps.checks]]
type = "output-equals"
expected = "x"

[[steps.checks]]
type = "smells-right"

[[steps]]
title = "two"
needs_builder = "kaniko"
sparkle = true
"""


def broken_lab(tmp_path: Path, text: str = BROKEN) -> Path:
    folder = tmp_path / "broken"
    (folder / "app").mkdir(parents=True)
    (folder / "lab.toml").write_text(text)
    return folder


def test_lint_reports_every_problem_with_its_line(tmp_path: Path) -> None:
    folder = broken_lab(tmp_path)
    source = folder / "lab.toml"
    assert [str(p) for p in lint_lab(folder)] == [
        f"{source}:2: colour: unknown field",
        f"{source}:7: steps[0].needs_api: 'latest' is not an engine API version",
        f"{source}:8: steps[0].show[0]: '../../etc/passwd' goes up with '..'",
        f"{source}:16: steps[0].checks[1].type: 'smells-right' is not one of output-equals, "
        "output-contains, json-equals, image-exists, image-workdir, image-smaller, file-exists, "
        "exit-code, variants-agree",
        f"{source}:20: steps[1].needs_builder: 'kaniko' is not one of buildkit, legacy",
        f"{source}:21: steps[1].sparkle: unknown field",
    ]
    # Loading stops at the first, as every task that runs a lab does.
    with pytest.raises(LabError, match="colour: unknown field"):
        load_lab(folder)


def test_lint_names_the_line_and_column_of_what_is_not_toml(tmp_path: Path) -> None:
    folder = broken_lab(tmp_path, 'title = "T"\n[[steps]\ntitle = "x"\n')
    (problem,) = lint_lab(folder)
    assert str(problem).startswith(f"{folder / 'lab.toml'}:2:")
    assert "not valid TOML" in str(problem)
    assert str(lint_lab(tmp_path)[0]).endswith("not a lab folder: it has no lab.toml")


def test_a_field_is_found_in_its_table() -> None:
    text = textwrap.dedent(
        """\
        title = "T"
        [base_images]
        runtime = ["alpine"]
        [[steps]]
        title = "a"
        [[steps.checks]]
        type = "x"
        [[steps]]
        commands = ["docker ps"]
        [[steps.checks]]
        type = "y"
        [[steps.checks]]
        hint = "h"
        """
    )
    assert field_line(text, "title") == 1
    assert field_line(text, "base_images.runtime") == 3
    assert field_line(text, "steps[0].checks[0].type") == 7
    assert field_line(text, "steps[1].commands[0]") == 9
    assert field_line(text, "steps[1].checks[1].type") == 12  # no such key: its table
    assert field_line(text, "steps[1].checks[0].type") == 11
    assert field_line(text, "steps") is None


def test_new_writes_a_lab_that_loads_and_lints_clean_and_never_overwrites(
    tmp_path: Path,
) -> None:
    folder = new_lab(tmp_path, "mine")
    lab = load_lab(folder)
    assert lab.name == "mine" and len(lab.steps) == 1
    step = lab.steps[0]
    assert step.task and step.hints and step.checks[0].expected == "hello from mine"
    assert lint_lab(folder) == []
    (folder / "lab.toml").write_text("kept")
    with pytest.raises(LabError, match=r"exists: lab\.new writes a new folder"):
        new_lab(tmp_path, "mine")
    assert (folder / "lab.toml").read_text() == "kept"


def test_a_lab_is_named_by_its_folders_path(tmp_path: Path) -> None:
    folder = new_lab(tmp_path, "mine")
    assert lab_folder(str(folder), Settings()) == folder.resolve()
    with pytest.raises(UsageError, match=r"is not a lab folder: it has no lab\.toml"):
        lab_folder(str(tmp_path), Settings())
    with pytest.raises(UsageError, match=r"is not a lab folder: it is not a folder"):
        lab_folder(str(tmp_path / "nowhere"), Settings())


def test_the_tasks_refuse_bad_input_in_one_line(tmp_path: Path) -> None:
    broken = broken_lab(tmp_path)
    lint = run_task(tmp_path / "ws", "lab.lint", str(broken))
    assert lint.returncode == 1
    assert lint.stdout.splitlines()[0] == f"{broken / 'lab.toml'}:2: colour: unknown field"
    assert lint.stderr.strip() == f"error: 6 problem(s) in {broken / 'lab.toml'}. Fix the lab file."
    (tmp_path / "labs" / "taken").mkdir(parents=True)
    new = run_task(tmp_path / "ws", "lab.new", "taken", "--dir", str(tmp_path / "labs"))
    assert new.returncode == 1 and "exists: lab.new writes a new folder" in new.stderr
    assert list((tmp_path / "labs" / "taken").iterdir()) == []
    show = run_task(tmp_path / "ws", "lab.show", str(tmp_path))
    assert show.returncode == 2
    assert show.stderr.strip().startswith(f"error: '{tmp_path}' is not a lab folder")


ENGINES = (
    EngineRecord("host", "host", "unix:///h", "20.10", api_version="1.41"),
    EngineRecord("dev", "dev", "unix:///d", "dev", api_version="1.56"),
)


def test_the_matrix_is_read_from_the_reports() -> None:
    lab = Lab(
        name="x",
        path=Path("labs/x"),
        title="X",
        steps=(Step(title="a", feature="fa"), Step(title="b"), Step(title="c")),
    )
    failed_check = CheckResult("output-equals", False, "healthy", "starting", "wait")
    report = Report(
        lab="x",
        title="X",
        run_id="r1",
        status=Status.FAILED,
        engines=ENGINES,
        steps=(
            StepRecord(1, "host", "a", Status.PASSED),
            StepRecord(1, "dev", "a", Status.PASSED),
            StepRecord.not_in_engine(2, "host", "b", "needs API 1.44; this engine speaks 1.41"),
            StepRecord(
                2, "dev", "b", Status.FAILED, "output-equals: starting", checks=(failed_check,)
            ),
        ),
        paths={"md": "r1/report.md"},
    )
    matrix = VerifyMatrix((verified_lab(lab, report),))
    columns, rows = matrix_table_rows(matrix)
    assert columns == ["lab", "step", "host", "dev"]
    assert rows == [
        ["x", "1. a", "passed", "passed"],
        ["x", "2. b", "not in this engine (needs API 1.44; this engine speaks 1.41)",
         "FAILED: output-equals: starting"],
        ["x", "3. c", "not run", "not run"],
    ]  # fmt: skip
    error = failure(matrix)
    assert error is not None and error.message == (
        "lab.verify: 1 step(s) FAILED; first: x step 2 (b) on dev: output-equals: starting; "
        "check output-equals: starting"
    )
    data = matrix.to_dict()
    assert data["failed"] == 1 and data["labs"][0]["report"] == "r1/report.md"
    assert data["steps"][1]["engines"]["host"]["status"] == "absent"
    assert cell_of(None).status is Status.NOT_RUN
    empty = Report(lab="x", title="X", run_id="r2", status=Status.PASSED, engines=())
    passed = VerifyMatrix((verified_lab(lab, empty),))
    assert failure(passed) is None


def test_a_reason_in_the_engines_words_is_printed_as_it_is(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # BuildKit names the failing command in brackets, which rich took for a closing tag.
    reason = "executor failed running [/bin/sh -c go get -d -v golang.org/x/net/html]: exit code: 2"
    VerifyPresenter("multistage").verdict(StepRecord(1, "dev", "a", Status.FAILED, reason))
    assert f"multistage step 1 on dev: FAILED: {reason}" in capsys.readouterr().err

# ruff: noqa: E501  (tables of broken lab.toml snippets read best one per line)
"""The lab model: the shipped labs load, and each broken lab.toml names its field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mobylab.catalog import available
from mobylab.config import Settings
from mobylab.errors import LabError
from mobylab.lab import catalog
from mobylab.lab.model import command_problem, infer_role, load_lab, outside_problem

VALID = """
title = "T"
app = "app"
[[steps]]
title = "one"
show = ["Dockerfile"]
commands = ["docker build -t {tag_prefix}:x .", "docker run --rm {tag_prefix}:x"]
[[steps.checks]]
type = "output-equals"
expected = "hi"
"""


def write_lab(tmp_path: Path, text: str, name: str = "x") -> Path:
    folder = tmp_path / "labs" / name
    (folder / "app").mkdir(parents=True)
    (folder / "app" / "Dockerfile").write_text("FROM alpine\n")
    (folder / "lab.toml").write_text(textwrap.dedent(text))
    return folder


def error_of(tmp_path: Path, text: str) -> str:
    folder = write_lab(tmp_path, text)
    with pytest.raises(LabError) as caught:
        load_lab(folder, catalog.display_path(folder))
    return caught.value.message


def test_the_shipped_labs_load() -> None:
    labs = available(Settings())
    assert {"multistage", "hello"} <= set(labs)
    multistage = catalog.find_lab("multistage", Settings())
    names = [v.name for v in multistage.variants]
    assert names == ["builder-pattern", "multi-stage", "named-stages", "scratch", "target-builder"]
    builder = multistage.steps[0]
    assert [c.role for c in builder.commands] == ["build"] * 5 + ["run"]
    assert "docker cp {extract}:/go/src/github.com/alexellis/href-counter/app ./app" in [
        c.text for c in builder.commands
    ]
    assert multistage.introduction.startswith("In April 2017")
    hello = catalog.find_lab("hello", Settings())
    assert len(hello.steps) == 1 and hello.images == ("runtime",)


def test_a_valid_lab(tmp_path: Path) -> None:
    lab = load_lab(write_lab(tmp_path, VALID))
    assert lab.title == "T"
    assert lab.steps[0].commands[1].role == "run"
    assert lab.steps[0].checks[0].expected == "hi"
    assert lab.workdir_source == tmp_path / "labs" / "x" / "app"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("commands = [", "commands = [3, "), "labs/x/lab.toml: steps[0].commands[0]: expected a string"),
        (('title = "T"\n', ""), "labs/x/lab.toml: title: is missing"),
        (('show = ["Dockerfile"]', 'show = ["../secret"]'), "steps[0].show[0]: '../secret' goes up"),
        (('show = ["Dockerfile"]', 'show = ["/etc/passwd"]'), "steps[0].show[0]: '/etc/passwd' is an absolute"),
        (('show = ["Dockerfile"]', 'show = ["nope.txt"]'), "steps[0].show[0]: 'nope.txt' does not exist"),
        (("docker build -t", "docker build -f /etc/Dockerfile -t"), "steps[0].commands[0]: the command has"),
        (("docker build -t", "docker build -f ../Dockerfile -t"), "goes up with '..'"),
        (('"docker run --rm {tag_prefix}:x"', '"rm -rf {tag_prefix}"'), "steps[0].commands[1]: the command starts 'rm'"),
        (("{tag_prefix}:x .", "{home}:x ."), "unknown placeholder {home}"),
        (('type = "output-equals"', 'type = "output-matches"'), "steps[0].checks[0].type: 'output-matches' is not one of"),
        (('expected = "hi"', ""), "steps[0].checks[0].expected: is missing"),
        (('title = "one"', 'title = "one"\ncolour = "red"'), "steps[0].colour: unknown field"),
        (('app = "app"', 'app = "app"\nsite_port = "x"'), "site_port: expected an integer"),
        (('app = "app"', 'app = "../app"'), "app: '../app' goes up"),
        (("[[steps.checks]]", "[[steps.measurements]]\ntype = \"image-size\"\n[[steps.checks]]"), "steps[0].measurements[0].image: is missing"),
        (("[[steps.checks]]", 'variant = { name = "v", image = "i", leftovers = ["disk:x"] }\n[[steps.checks]]'), "steps[0].variant.leftovers[0]: 'disk:x' is not KIND:VALUE"),
        (("[[steps.checks]]", "[[steps.checks]]\ntype = \"exit-code\"\nexpected = 0\ncommand = 5\n[[steps.checks]]"), "steps[0].checks[0].command: 5 is not a command"),
        (("[[steps]]", "steps = 3\n[[stepz]]"), "not valid TOML"),
    ],
)  # fmt: skip
def test_broken_labs_name_the_field(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in VALID
    text = error_of(tmp_path, VALID.replace(old, new, 1))
    assert message in text
    assert text.startswith("labs/x/lab.toml")
    assert "\n" not in text


def test_a_lab_without_steps(tmp_path: Path) -> None:
    assert "steps: a lab needs at least one step" in error_of(tmp_path, 'title = "T"\nsteps = []\n')


def test_narrative_from_a_markdown_file(tmp_path: Path) -> None:
    folder = write_lab(
        tmp_path, VALID.replace('title = "one"', 'title = "one"\nnarrative = "n.md"')
    )
    (folder / "n.md").write_text("# Hello\n")
    assert load_lab(folder).steps[0].narrative == "# Hello\n"
    (folder / "n.md").unlink()
    with pytest.raises(LabError, match=r"steps\[0\]\.narrative: 'n.md' does not exist"):
        load_lab(folder)


def test_unknown_lab() -> None:
    with pytest.raises(LabError) as caught:
        catalog.find_lab("nope", Settings())
    assert caught.value.message == "no lab called 'nope'"
    assert "multistage" in caught.value.hint


def test_labs_dir_setting_comes_first(tmp_path: Path) -> None:
    write_lab(tmp_path, VALID, name="hello")
    lab = catalog.find_lab("hello", Settings(labs_dir=str(tmp_path / "labs")))
    assert lab.title == "T"


@pytest.mark.parametrize(
    ("value", "problem"),
    [("a/b", ""), ("../a", "goes up with '..'"), ("a/../../b", "goes up with '..'"),
     ("/etc", "is an absolute path"), ("~/x", "is an absolute path"), ("", "is empty")],
)  # fmt: skip
def test_outside_problem(value: str, problem: str) -> None:
    assert outside_problem(value) == problem


@pytest.mark.parametrize(
    ("command", "ok"),
    [
        ("docker cp {extract}:/go/src/app ./app", True),
        ("docker run --rm --network host -e url={url} {tag_prefix}:latest", True),
        ("docker build -t x:y . -f Dockerfile.build", True),
        ("docker run -v /:/host x", False),
        ("docker build -f=../Dockerfile .", False),
        ("docker build ..", False),
        ("sh -c 'rm -rf /'", False),
        ("docker run 'unterminated", False),
    ],
)
def test_command_problem(command: str, ok: bool) -> None:
    assert (command_problem(command) == "") is ok


def test_infer_role() -> None:
    assert infer_role("docker build .") == "build"
    assert infer_role("docker image build .") == "build"
    assert infer_role("docker run x") == "run"
    assert infer_role("docker images x") == "inspect"
    assert infer_role("ls -l app") == "inspect"

"""Bad input through the real command line, as a user types it.

Each answer must be one `error:` line naming the argument, a non-zero exit (2 for
a bad argument), no traceback, nothing executed (the payloads `touch` a marker
file) and nothing created (the workspace and mobylab's objects on the engine are
the same before and after). Subprocess start-up costs about a second, so the
hypothesis properties here use few examples; tests/reliability/test_validators.py
runs the same validators in-process with many.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobylab.engine import Engine
from tests.reliability.conftest import (
    TaskResult,
    UserCli,
    assert_refused,
    managed_objects,
    owns_engine,
    tree,
)

FEW = settings(
    max_examples=int(os.environ.get("MOBYLAB_CLI_EXAMPLES", "8")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SHELL = ";&|<>()$`\\\"' \t*?!{}~#"


class Marked:
    """A workspace and a marker file that a payload would create if anything ran it."""

    def __init__(self, root: Path) -> None:
        self.root = root / uuid.uuid4().hex[:8]
        self.root.mkdir(parents=True)
        self.marker = self.root / "PWNED"
        self.user = UserCli(self.root / "ws")
        self.before = tree(self.root)

    def payloads(self) -> list[str]:
        m = self.marker
        return [f"x;touch {m}", f"$(touch {m})", f"`touch {m}`", f"x|touch {m}", f"x&&touch {m}"]

    def run(self, *args: str, **kwargs: object) -> TaskResult:
        return self.user(*args, **kwargs)  # type: ignore[arg-type]

    def assert_untouched(self) -> None:
        assert not self.marker.exists(), "a payload ran"
        assert tree(self.root) == self.before, "the refused task created files"


@pytest.fixture
def marked(tmp_path: Path) -> Marked:
    return Marked(tmp_path)


@st.composite
def shell_words(draw: st.DrawFn) -> str:
    text = draw(st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=10))
    return text + draw(st.sampled_from(SHELL)) + draw(st.text(alphabet="abc/.-", max_size=6))


# ---- dev.clone: --ref, --pr, --repo ------------------------------------------------------------


def test_classic_refs(marked: Marked) -> None:
    for ref in [*marked.payloads(), "$(id)", "../../etc", "-uhack", "a..b", "x\ny"]:
        assert_refused(marked.run("dev.clone", "--repo", "/nonexistent", "--ref", ref), "ref")
    marked.assert_untouched()


@FEW
@given(ref=shell_words())
def test_refs_with_shell_syntax(tmp_path_factory: pytest.TempPathFactory, ref: str) -> None:
    marked = Marked(tmp_path_factory.mktemp("ref"))
    assert_refused(marked.run("dev.clone", "--ref", ref + f";touch {marked.marker}"), "ref")
    marked.assert_untouched()


@pytest.mark.parametrize("pr", ["-1", "abc", "0", "1e3", "99999999999", "1;id", " "])
def test_classic_pull_request_numbers(marked: Marked, pr: str) -> None:
    assert_refused(marked.run("dev.clone", "--pr", pr), "pull request")
    marked.assert_untouched()


@FEW
@given(pr=st.one_of(st.integers(max_value=0).map(str), shell_words()))
def test_pull_request_numbers(tmp_path_factory: pytest.TempPathFactory, pr: str) -> None:
    marked = Marked(tmp_path_factory.mktemp("pr"))
    assert_refused(marked.run("dev.clone", f"--pr={pr}"), "pull request")
    marked.assert_untouched()


def test_classic_repositories(marked: Marked) -> None:
    m = marked.marker
    for repo in [f"-uupload-pack=touch {m}", f"ext::sh -c touch% {m}", f"--upload-pack=touch {m}"]:
        assert_refused(marked.run("dev.clone", f"--repo={repo}"), "repositor")
    marked.assert_untouched()


def test_ref_and_pr_together(marked: Marked) -> None:
    assert_refused(marked.run("dev.clone", "--ref", "master", "--pr", "1"), "--pr")
    marked.assert_untouched()


def test_a_checkout_that_is_not_one(marked: Marked) -> None:
    result = marked.run("dev.plan", "--checkout", f"/nonexistent;touch {marked.marker}")
    assert_refused(result, "nonexistent", code=None)
    marked.assert_untouched()


# ---- workshop hosts ------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["workshop.check", "workshop.status", "workshop.teardown"])
def test_classic_host_lists(marked: Marked, task: str) -> None:
    for hosts in [f"a;touch {marked.marker}", f"ok-host,b$(touch {marked.marker})", "a b"]:
        assert_refused(marked.run(task, "--hosts", hosts), "host")
    marked.assert_untouched()


@FEW
@given(host=shell_words())
def test_host_lists(tmp_path_factory: pytest.TempPathFactory, host: str) -> None:
    marked = Marked(tmp_path_factory.mktemp("hosts"))
    if "," in host or not host.strip():
        return
    assert_refused(marked.run("workshop.check", "--hosts", f"good.example,{host}"), "host")
    marked.assert_untouched()


def test_workshop_lab_names(marked: Marked) -> None:
    for name in [f"hello;touch {marked.marker}", "../etc", "$(id)"]:
        result = marked.run("workshop.run", name, "--hosts", "127.0.0.1:1")
        assert_refused(result, "lab")
    marked.assert_untouched()


# ---- labs ------------------------------------------------------------------------------------


@FEW
@given(name=st.one_of(shell_words(), st.sampled_from(["../../etc", "/etc", "hello/..", ".."])))
def test_lab_names(tmp_path_factory: pytest.TempPathFactory, name: str) -> None:
    marked = Marked(tmp_path_factory.mktemp("lab"))
    # An unknown lab is a LabError (exit 1) today; either way one line, nothing run.
    assert_refused(marked.run("lab.run", name + f";touch {marked.marker}", "--yes"), code=None)
    marked.assert_untouched()


@pytest.mark.parametrize(
    "args,name",
    [
        (["--engine", "bogus"], "--engine"),
        (["--engine", "host;id"], "--engine"),
        (["--step", "abc"], "step"),
        (["--from", "x"], "from"),
    ],
)
def test_lab_run_flags(marked: Marked, args: list[str], name: str) -> None:
    result = marked.run("lab.run", "hello", "--yes", *args)
    assert_refused(result, name, code=None)
    marked.assert_untouched()


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "x;touch {m}",
        "gopher://a/",
        "http://a b/",
    ],
)
def test_lab_multistage_urls(marked: Marked, url: str) -> None:
    result = marked.run("lab.multistage", "--yes", "--url", url.format(m=marked.marker))
    assert_refused(result, "url", code=None)
    marked.assert_untouched()


def test_lab_multistage_sources(marked: Marked) -> None:
    for source in [f"x;touch {marked.marker}", f"$(touch {marked.marker})", "-uhack"]:
        assert_refused(marked.run("lab.multistage", "--yes", "--source", source), code=None)
    marked.assert_untouched()


def _lab(root: Path, name: str, toml: str) -> Path:
    folder = root / "labs" / name
    (folder / "app").mkdir(parents=True)
    (folder / "app" / "Dockerfile").write_text("FROM scratch\n")
    (folder / "lab.toml").write_text(toml)
    return folder


ESCAPES = {
    "app-up": ('app = "../.."', "app"),
    "app-abs": ('app = "/etc"', "app"),
    "show-abs": ('show = ["/etc/passwd"]', "show"),
    "narrative-up": ('narrative = "../../../etc/motd.md"', "narrative"),
    "cmd-shell": ("commands = [\"sh -c 'touch {m}'\"]", "commands"),
    "cmd-abs": ('commands = ["cat /etc/shadow"]', "commands"),
    "cmd-volume": ('commands = ["docker run -v /:/host {{tag_prefix}}"]', "commands"),
    "cmd-touch": ('commands = ["touch {m}"]', "commands"),
    "cmd-build-up": ('commands = ["docker build -f ../../x ."]', "commands"),
    "expected-up": ('checks = [{{ type = "json-equals", expected_file = "../../x" }}]', "checks"),
}


def _escape_toml(kind: str, marker: Path) -> str:
    line, _ = ESCAPES[kind]
    text = line.format(m=marker)
    top = text if kind.startswith("app") else 'app = "app"'
    step = "" if kind.startswith("app") else text
    return (
        f'title = "escape"\n{top}\n\n[[steps]]\ntitle = "s"\n'
        f"commands_placeholder = 0\n{step}\n".replace("commands_placeholder = 0\n", "")
    )


@pytest.mark.parametrize("kind", sorted(ESCAPES))
def test_a_lab_that_reaches_outside_its_folder(marked: Marked, kind: str) -> None:
    _lab(marked.root, kind, _escape_toml(kind, marked.marker))
    config = marked.root / "invoke.yaml"
    config.write_text(f"mobylab:\n  labs_dir: {marked.root / 'labs'}\n")
    before = tree(marked.root)
    for task in ("lab.show", "lab.run"):
        extra = ["--yes"] if task == "lab.run" else []
        result = marked.run(task, kind, *extra, config=config)
        line = assert_refused(result, ESCAPES[kind][1], code=None)
        assert "lab.toml" in line
    assert not marked.marker.exists()
    assert tree(marked.root) == before


def test_a_lab_whose_app_is_a_symlink_out_of_its_folder(marked: Marked) -> None:
    folder = _lab(marked.root, "linked", 'title = "t"\napp = "out"\n[[steps]]\ntitle = "s"\n')
    (folder / "out").symlink_to("/etc")
    config = marked.root / "invoke.yaml"
    config.write_text(f"mobylab:\n  labs_dir: {marked.root / 'labs'}\n")
    result = marked.run("lab.show", "linked", config=config)
    assert_refused(result, "app", code=None)


# ---- images and settings ---------------------------------------------------------------------


def test_images_save_lab_names(marked: Marked) -> None:
    for name in ["../../etc", "/tmp", f"x;touch {marked.marker}"]:
        assert_refused(marked.run("images.save", "--lab", name, str(marked.root / "o.tar")), "lab")
    marked.assert_untouched()


@pytest.mark.parametrize(
    "name,value",
    [
        ("ENGINE_TIMEOUT", "nan"),
        ("ENGINE_TIMEOUT", "-5"),
        ("PRIVILEGED", "maybe;id"),
        ("OFFLINE", "perhaps"),
        ("PARALLEL", "0"),
        ("HOST_TIMEOUT", "abc"),
    ],
)
def test_settings_from_the_environment(marked: Marked, name: str, value: str) -> None:
    result = marked.run("engine.status", env={f"MOBYLAB_{name}": value})
    assert_refused(result, name.lower())
    marked.assert_untouched()


def test_a_config_file_value(marked: Marked) -> None:
    config = marked.root / "invoke.yaml"
    config.write_text("mobylab:\n  engine_timeout: [1, 2]\n")
    before = tree(marked.root)
    assert_refused(marked.run("engine.status", config=config), "engine_timeout")
    assert tree(marked.root) == before


@pytest.mark.parametrize(
    "args,name",
    [(["--privileged", "bogus"], "privileged"), (["--timeout", "-1"], "timeout"),
     (["--timeout", "x;id"], "timeout")],
)  # fmt: skip
def test_dev_up_flags(marked: Marked, args: list[str], name: str) -> None:
    assert_refused(marked.run("dev.up", *args), name)
    marked.assert_untouched()


@FEW
@given(data=st.binary(max_size=2048))
def test_images_load_of_random_bytes(
    tmp_path_factory: pytest.TempPathFactory, engine: Engine, data: bytes
) -> None:
    marked = Marked(tmp_path_factory.mktemp("load"))
    archive = marked.root / "images.tar"
    archive.write_bytes(data)
    marked.before = tree(marked.root)
    objects = managed_objects(engine)
    result = marked.run("images.load", str(archive))
    assert_refused(result, str(archive), code=1)
    assert "nothing was loaded" in result.stderr or "refused" in result.stderr
    assert tree(marked.root) == marked.before
    if owns_engine():  # one test process owns the engine: not one object more or less
        assert managed_objects(engine) == objects

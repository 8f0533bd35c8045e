"""Bad input to the pure validators, in-process and many examples: every refusal is a
one-line UsageError (or the module's own error) naming what was wrong; nothing else
escapes, and what is accepted is safe to put on a command line."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mobylab.catalog import check_name
from mobylab.config import Settings, merge_settings
from mobylab.dev.source import ref_problem, repo_kind, validate_pr, validate_ref
from mobylab.errors import ImageError, LabError, MobylabError, UsageError
from mobylab.images import lab_image_names, verify_archive
from mobylab.lab.model import command_problem, outside_problem, parse_lab
from mobylab.workshop.hosts import SHELL_METACHARACTERS, parse_host, parse_host_list

SHELL = ";&|<>()$`\\\"' \t\n*?!{}~#"
MANY = settings(max_examples=300, deadline=None)


def one_line(error: MobylabError) -> str:
    text = error.one_line()
    assert "\n" not in text and "\r" not in text, text
    return text


def with_shell(draw: st.DrawFn) -> str:
    """A word with at least one shell metacharacter somewhere in it."""
    head = draw(st.text(max_size=12))
    tail = draw(st.text(max_size=12))
    return head + draw(st.sampled_from(SHELL)) + tail


@st.composite
def shell_words(draw: st.DrawFn) -> str:
    return with_shell(draw)


CLASSIC_REFS = ["x;touch /tmp/p", "$(id)", "`id`", "../../etc", "-x", "a\nb", "master\n", "a b"]


@pytest.mark.parametrize("ref", CLASSIC_REFS)
def test_classic_refs_are_refused(ref: str) -> None:
    with pytest.raises(UsageError) as info:
        validate_ref(ref)
    assert "ref" in one_line(info.value)


@MANY
@given(shell_words())
def test_a_ref_with_shell_syntax_is_refused(ref: str) -> None:
    with pytest.raises(UsageError) as info:
        validate_ref(ref)
    assert one_line(info.value).startswith("invalid ref")


@MANY
@given(st.text(max_size=40))
def test_an_accepted_ref_holds_no_shell_syntax(ref: str) -> None:
    if ref_problem(ref) is None:
        assert not set(ref) & set(SHELL)
        assert not ref.startswith("-") and ".." not in ref


@MANY
@given(
    st.one_of(
        st.integers(max_value=0),
        st.text().filter(lambda t: not t.strip().isdigit()),
        st.floats(allow_nan=True),
        st.integers(min_value=10**9),
    )
)
def test_a_bad_pull_request_number_is_refused(value: Any) -> None:
    with pytest.raises(UsageError) as info:
        validate_pr(value)
    assert "pull request" in one_line(info.value)


@MANY
@given(st.integers(min_value=1, max_value=10**9 - 1))
def test_a_good_pull_request_number_is_kept(value: int) -> None:
    assert validate_pr(value) == value
    assert validate_pr(str(value)) == value


@MANY
@given(st.text(max_size=60))
def test_repositories_are_refused_in_one_line_or_accepted(repo: str) -> None:
    try:
        kind = repo_kind(repo)
    except UsageError as exc:
        assert "repositor" in one_line(exc)
        return
    assert kind in ("url", "path")
    assert not repo.startswith("-")
    assert not any(ord(c) < 32 or c.isspace() for c in repo)


@pytest.mark.parametrize(
    "repo",
    ["-uupload-pack=touch /tmp/p", "ext::sh -c touch% /tmp/p", "", "https://[x/",
     "https://u:p@h:abc/x", "https://h:99999/x"],
)  # fmt: skip
def test_classic_repositories_are_refused(repo: str) -> None:
    with pytest.raises(UsageError):
        repo_kind(repo)


@MANY
@given(
    st.sampled_from(["https", "http", "ssh", "git", "ftp"]),
    st.text(alphabet="abcXYZ019-_.~%!$&'()*+,;=", min_size=6, max_size=20),
    st.text(max_size=20),
)
def test_a_password_in_a_repository_is_never_in_its_error(scheme: str, secret: str, rest: str):
    assume(secret not in rest and secret not in scheme)
    repo = f"{scheme}://user:{secret}@{rest}"
    try:
        repo_kind(repo)
    except UsageError as exc:
        assert secret not in one_line(exc)


@MANY
@given(shell_words())
def test_a_host_with_a_shell_metacharacter_is_refused(text: str) -> None:
    # Spaces around a host are trimmed (`--hosts "a, b"`); inside, they are refused.
    if not set(text.strip()) & SHELL_METACHARACTERS:
        return
    with pytest.raises(UsageError) as info:
        parse_host(text)
    assert one_line(info.value).startswith("host ")


@MANY
@given(st.lists(st.text(max_size=20), min_size=1, max_size=4).map(",".join))
def test_host_lists_never_raise_anything_but_usage_errors(text: str) -> None:
    try:
        specs = parse_host_list(text)
    except UsageError as exc:
        one_line(exc)
        return
    for spec in specs:
        assert not set(spec.host) & SHELL_METACHARACTERS
        assert spec.port is None or 0 < spec.port < 65536


@MANY
@given(st.text(max_size=70))
def test_an_accepted_lab_name_is_one_plain_word(name: str) -> None:
    try:
        check_name(name)
    except UsageError as exc:
        assert "lab name" in one_line(exc)
        return
    assert name.strip() == name and "\n" not in name
    assert all(c.isalnum() or c in "._-" for c in name)


def test_a_lab_name_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(UsageError):
        check_name("hello\n")


@MANY
@given(st.text(min_size=1, max_size=30))
def test_lab_paths_outside_their_folder_are_refused(value: str) -> None:
    for bad in ("/" + value, "../" + value, value + "/../../x", "~/" + value):
        assert outside_problem(bad), bad


ESCAPING_COMMANDS = [
    "docker run -v /:/host {tag_prefix}:latest",
    "docker run --volume=/etc:/e {tag_prefix}:latest",
    "docker build -f ../../Dockerfile .",
    "cat /etc/shadow",
    "ls ..",
    "sh -c 'touch /tmp/p'",
    "bash build.sh",
]
# A bind mount's source is a host path too.
MOUNT_ESCAPES = [
    "docker run --mount type=bind,source=/,target=/host {tag_prefix}:latest",
    "docker run --mount=type=bind,src=/etc,dst=/e {tag_prefix}:latest",
]


@pytest.mark.parametrize("command", ESCAPING_COMMANDS)
def test_lab_commands_that_reach_outside_the_lab_are_refused(command: str) -> None:
    assert command_problem(command), command


@pytest.mark.parametrize("command", MOUNT_ESCAPES)
def test_lab_bind_mounts_of_host_folders_are_refused(command: str) -> None:
    assert command_problem(command), command


SCALARS = st.one_of(
    st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
    st.sampled_from(["app", "../..", "/etc", "lab.toml", "x.md", "../x.md", "docker ps"]),
)  # fmt: skip
TOML_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
LAB_KEYS = st.sampled_from(
    ["title", "summary", "introduction", "closing", "images", "app", "site", "site_port",
     "expected_file", "base_images", "steps", "other"]
)  # fmt: skip
STEP = st.dictionaries(
    st.sampled_from(["title", "narrative", "show", "commands", "checks", "measurements",
                     "variant", "x"]),
    TOML_VALUES,
)  # fmt: skip


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    st.dictionaries(LAB_KEYS, TOML_VALUES),
    st.lists(STEP, max_size=3),
    st.booleans(),
)
def test_any_lab_toml_is_a_lab_or_one_line_lab_error(
    data: dict[str, Any], steps: list[dict[str, Any]], with_steps: bool
) -> None:
    lab_dir = Path(__file__).resolve().parents[2] / "labs" / "hello"
    if with_steps:
        data = {**data, "title": "t", "steps": steps}
    try:
        lab = parse_lab(data, lab_dir, "fuzz/lab.toml")
    except LabError as exc:
        assert one_line(exc).startswith("fuzz/lab.toml")
        return
    for step in lab.steps:
        for command in step.commands:
            assert not command_problem(command.text)


CONFIG_NAMES = st.sampled_from(
    ["workspace", "engine", "engine_timeout", "offline", "privileged", "hosts", "parallel",
     "host_timeout", "repo", "ref", "builder_image"]
)  # fmt: skip


@MANY
@given(st.dictionaries(CONFIG_NAMES, SCALARS, max_size=4))
def test_config_values_give_settings_or_a_usage_error_naming_them(values: dict[str, Any]) -> None:
    try:
        result = merge_settings(values, environ={})
    except UsageError as exc:
        assert any(name in one_line(exc) for name in values), exc.one_line()
        return
    assert isinstance(result, Settings)
    assert result.engine_timeout > 0 and result.host_timeout > 0
    assert result.parallel >= 1
    assert result.engine_timeout == result.engine_timeout  # not NaN


@pytest.mark.parametrize(
    "name,value",
    [("engine_timeout", "nan"), ("engine_timeout", "-1"), ("engine_timeout", "0"),
     ("host_timeout", "inf"), ("parallel", "0"), ("parallel", "-3")],
)  # fmt: skip
def test_config_values_out_of_range_are_usage_errors(name: str, value: str) -> None:
    with pytest.raises(UsageError) as info:
        merge_settings({}, environ={f"MOBYLAB_{name.upper()}": value})
    assert name in one_line(info.value)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes_are_never_an_image_archive(tmp_path_factory: Any, data: bytes) -> None:
    path = tmp_path_factory.mktemp("archive") / "images.tar"
    path.write_bytes(data)
    with pytest.raises(ImageError) as info:
        verify_archive(path)
    assert str(path) in one_line(info.value)


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=10**6), st.data())
def test_a_tar_without_docker_save_manifest_is_refused(
    tmp_path_factory: Any, size: int, data: st.DataObject
) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        payload = data.draw(st.binary(max_size=256))
        info = tarfile.TarInfo(data.draw(st.sampled_from(["x", "manifest.json", "a/b"])))
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    path = tmp_path_factory.mktemp("archive") / "images.tar"
    path.write_bytes(buffer.getvalue()[: size or None])
    with pytest.raises(ImageError):
        verify_archive(path)


@pytest.mark.parametrize("name", ["../../etc", "/tmp", "hello/../multistage", "a;b", ""])
def test_images_save_lab_names_stay_in_the_labs_folder(name: str) -> None:
    with pytest.raises((ImageError, UsageError)) as info:
        lab_image_names(name, Settings())
    assert "lab" in one_line(info.value)

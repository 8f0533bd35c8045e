"""Pure validation of what dev.clone accepts before git runs."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobylab.dev.source import (
    LocalWork,
    RemoteRef,
    check_ref_format,
    checkout_name,
    describe_loss,
    is_sha,
    local_branch,
    parse_ls_remote,
    pick_remote_ref,
    ref_problem,
    repo_kind,
    shown,
    tracking_ref,
    validate_pr,
    validate_ref,
    validate_sha,
)
from mobylab.errors import UsageError

GOOD_REFS = [
    "master",
    "v17.05.0-ce",
    "feature/multi-stage",
    "17.05.x",
    "refs/pull/32063/head",
    "release/v28.0",
    "user+topic",
    "abc",
]
BAD_REFS = [
    ("x;touch /tmp/p", "';'"),
    ("master;touch /tmp/x", "';'"),
    ("$(id)", "'$'"),
    ("`id`", "'`'"),
    ("../../etc", "'..'"),
    ("-x", "starts with '-'"),
    ("--upload-pack=touch", "starts with '-'"),
    ("", "empty"),
    ("a b", "' '"),
    ("a..b", "'..'"),
    ("a@{1}", "'{'"),
    ("topic.lock", ".lock"),
    ("topic/", "empty path component"),
    ("/topic", "empty path component"),
    ("a//b", "empty path component"),
    (".hidden", "starts with '.'"),
    ("a/.b", "starts with '.'"),
    ("@", "'@' alone"),
    ("a\nb", "'\\n'"),
    ("master\n", "'\\n'"),
    ("x" * 300, "longer than 255"),
]


@pytest.mark.parametrize("ref", GOOD_REFS)
def test_good_refs_pass_both_validators(ref):
    assert ref_problem(ref) is None
    assert validate_ref(ref) == ref
    check_ref_format(ref)  # git's own rules agree


@pytest.mark.parametrize(("ref", "reason"), BAD_REFS)
def test_bad_refs_are_one_line_usage_errors(ref, reason):
    with pytest.raises(UsageError) as info:
        validate_ref(ref)
    message = info.value.one_line()
    assert reason in message
    assert "\n" not in message.replace("'\\n'", "")
    assert info.value.exit_code == 2


def test_check_ref_format_never_runs_git_on_a_bad_ref(tmp_path, monkeypatch):
    marker = tmp_path / "p"
    with pytest.raises(UsageError):
        check_ref_format(f"x;touch {marker}")
    assert not marker.exists()


@pytest.mark.parametrize(("value", "expected"), [(1, 1), ("7", 7), ("32063", 32063), (" 12 ", 12)])
def test_pr_numbers(value, expected):
    assert validate_pr(value) == expected


@pytest.mark.parametrize("value", [-1, "-1", 0, "0", "abc", "1.5", "", " ", "1e3", "7;id", None])
def test_bad_pr_numbers(value):
    with pytest.raises(UsageError, match="positive integer"):
        validate_pr(value)


@pytest.mark.parametrize("value", ["abc1234", "0" * 40, "A" * 40, "f" * 64])
def test_shas(value):
    assert is_sha(value)
    assert validate_sha(value) == value.lower()


@pytest.mark.parametrize(
    "value", ["abc", "xyz1234", "-abc1234", "abc 1234", "abc1234\n", "f" * 65, ""]
)
def test_bad_shas(value):
    assert not is_sha(value)
    with pytest.raises(UsageError, match="hexadecimal"):
        validate_sha(value)


@pytest.mark.parametrize(
    ("repo", "kind"),
    [
        ("https://github.com/moby/moby", "url"),
        ("http://mirror.example/moby.git", "url"),
        ("ssh://git@github.com/moby/moby.git", "url"),
        ("git://example.org/moby", "url"),
        ("file:///srv/git/moby.git", "url"),
        ("/srv/git/moby.git", "path"),
        ("./moby", "path"),
        ("../../etc", "path"),
    ],
)
def test_repo_kinds(repo, kind):
    assert repo_kind(repo) == kind


@pytest.mark.parametrize(
    ("repo", "reason"),
    [
        ("", "empty"),
        ("-oProxyCommand=touch /tmp/p", "starts with '-'"),
        ("ext::sh -c touch% /tmp/p", "spaces"),
        ("ext::sh", "transports"),
        ("ftp://example.org/moby", "scheme 'ftp'"),
        ("https://", "no valid host"),
        ("ssh://-oProxyCommand=x/moby", "no valid host"),
        ("https://github.com/moby/moby;id", None),
        ("https://git hub.com/moby", "spaces"),
        ("file://", "no path"),
    ],
)
def test_bad_repos(repo, reason):
    if reason is None:  # odd but harmless: git gets it as one argument and fails
        assert repo_kind(repo) == "url"
        return
    with pytest.raises(UsageError) as info:
        repo_kind(repo)
    assert reason in info.value.one_line()


@pytest.mark.parametrize(
    ("repo", "name"),
    [
        ("https://github.com/moby/moby", "moby"),
        ("https://github.com/moby/moby.git", "moby"),
        ("https://github.com/docker/docker/", "docker"),
        ("file:///tmp/x/upstream.git", "upstream"),
        ("/srv/engine", "engine"),
        ("https://example.org/", "engine"),
    ],
)
def test_checkout_names(repo, name):
    assert checkout_name(repo) == name


LS_REMOTE = (
    "1111111111111111111111111111111111111111\tHEAD\n"
    "1111111111111111111111111111111111111111\trefs/heads/master\n"
    "2222222222222222222222222222222222222222\trefs/tags/v17.05.0-ce\n"
    "3333333333333333333333333333333333333333\trefs/tags/v17.05.0-ce^{}\n"
    "4444444444444444444444444444444444444444\trefs/pull/7/head\n"
    "5555555555555555555555555555555555555555\trefs/heads/v17.05.0-ce-branch\n"
)


def test_ls_remote_parsing_prefers_peeled_tags():
    refs = parse_ls_remote(LS_REMOTE)
    assert refs["refs/tags/v17.05.0-ce"] == "3" * 40
    assert refs["refs/heads/master"] == "1" * 40


def test_pick_remote_ref():
    refs = parse_ls_remote(LS_REMOTE)
    assert pick_remote_ref(refs, "master") == RemoteRef("refs/heads/master", "1" * 40, "branch")
    tag = pick_remote_ref(refs, "v17.05.0-ce")
    assert tag == RemoteRef("refs/tags/v17.05.0-ce", "3" * 40, "tag")
    pull = pick_remote_ref(refs, "refs/pull/7/head")
    assert pull == RemoteRef("refs/pull/7/head", "4" * 40, "pull")
    assert pick_remote_ref(refs, "nope") is None


def test_where_fetched_refs_live():
    assert tracking_ref(RemoteRef("refs/heads/a/b", "x", "branch")) == "refs/remotes/origin/a/b"
    assert tracking_ref(RemoteRef("refs/tags/v1", "x", "tag")) == "refs/tags/v1"
    assert tracking_ref(RemoteRef("refs/pull/7/head", "x", "pull")) == (
        "refs/remotes/origin/pull/7/head"
    )
    assert local_branch(RemoteRef("refs/heads/a/b", "x", "branch")) == "a/b"
    assert local_branch(RemoteRef("refs/pull/7/head", "x", "pull")) == "pr-7"
    assert local_branch(RemoteRef("refs/tags/v1", "x", "tag")) is None


def test_describe_loss_lists_files_then_commits():
    work = LocalWork(files=[" M Makefile", "?? notes.txt"], commits=["abc1234 wip"])
    assert describe_loss(work) == [
        "uncommitted changes that will be lost:",
        "   M Makefile",
        "  ?? notes.txt",
        "commits that will be lost (not on any remote):",
        "  abc1234 wip",
    ]
    assert work.summary() == "2 changed files and 1 commit not on any remote"
    assert not LocalWork()


# Property: what our validator accepts, git accepts too; shell syntax never gets through.
REF_ALPHABET = "abcXYZ019._/+@-;$()`'\" {}~^:?*[\\\n"


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=REF_ALPHABET, min_size=1, max_size=12))
def test_accepted_refs_are_git_refs_and_never_shell(ref):
    if ref_problem(ref) is not None:
        return
    assert not set(ref) & set(";$()`'\" {}~^:?*[\\\n")
    result = subprocess.run(
        ["git", "check-ref-format", "--allow-onelevel", ref], capture_output=True, check=False
    )
    assert result.returncode == 0, ref


@pytest.mark.parametrize(
    ("repo", "expected"),
    [
        ("https://user:secret@github.com/moby/moby", "https://***@github.com/moby/moby"),
        ("https://ghp_token@github.com:8443/moby/moby", "https://***@github.com:8443/moby/moby"),
        ("ssh://git@github.com/moby/moby.git", "ssh://git@github.com/moby/moby.git"),
        ("https://github.com/moby/moby", "https://github.com/moby/moby"),
        ("/srv/engine", "/srv/engine"),
    ],
)
def test_messages_never_show_credentials(repo, expected):
    assert shown(repo) == expected

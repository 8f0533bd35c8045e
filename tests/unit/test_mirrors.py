"""Mirror folders of bare repositories standing in for GitHub: names, the pick, remote_for.

remote_for is tried on real folders holding real bare repositories (`git init --bare`).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mobylab.dev.mirrors import (
    Remote,
    github_path,
    mirror_names,
    pick_mirror,
    remote_for,
)
from mobylab.errors import UsageError

MOBY = "https://github.com/moby/moby"


def bare(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    return path


@pytest.mark.parametrize(
    ("url", "owner_name"),
    [
        ("https://github.com/moby/moby", "moby/moby"),
        ("https://github.com/moby/moby.git", "moby/moby"),
        ("https://github.com/moby/moby/", "moby/moby"),
        ("https://www.github.com/Docker/Docker.git", "docker/docker"),
        ("http://GitHub.com/opencontainers/runc", "opencontainers/runc"),
        ("ssh://git@github.com/docker/containerd.git", "docker/containerd"),
        ("git@github.com:docker/libnetwork.git", "docker/libnetwork"),
        ("github.com:moby/moby", "moby/moby"),
    ],
)
def test_github_path(url, owner_name):
    assert github_path(url) == owner_name


@pytest.mark.parametrize(
    "url",
    [
        "https://gitlab.com/moby/moby",
        "https://github.com.evil.example/moby/moby",
        "https://github.com/moby",
        "https://github.com/moby/moby/pull/42",
        "git@gitlab.com:moby/moby.git",
        "/srv/mirrors/moby.git",
        "file:///srv/mirrors/moby.git",
    ],
)
def test_github_path_of_anything_else_is_none(url):
    assert github_path(url) is None


def test_mirror_names_most_specific_first():
    names = mirror_names("moby/moby")
    assert names[:3] == ["moby/moby.git", "moby/moby", "moby-moby.git"]
    # The old name of the repository is looked for too, after the current one.
    assert names.index("docker/docker.git") > names.index("moby-moby.git")
    assert names[-4:] == ["moby.git", "moby", "docker.git", "docker"]
    assert len(names) == len(set(names))


def test_mirror_names_of_renamed_repositories():
    assert "moby/moby.git" in mirror_names("docker/docker")
    assert mirror_names("docker/docker").index("docker/docker.git") == 0
    runc = mirror_names("docker/runc")
    assert runc[0] == "docker/runc.git"
    assert "opencontainers/runc.git" in runc
    assert "runc.git" in runc
    assert "docker/runc.git" in mirror_names("opencontainers/runc")
    assert "libnetwork.git" in mirror_names("docker/libnetwork")
    assert "containerd/containerd.git" in mirror_names("docker/containerd")
    # A repository that never moved has only its own names.
    assert mirror_names("docker/cli") == [
        "docker/cli.git",
        "docker/cli",
        "docker-cli.git",
        "cli.git",
        "cli",
    ]


def test_pick_mirror_first_folder_wins():
    folders = [Path("/m/one"), Path("/m/two")]
    # The first folder wins even with a less specific name.
    assert pick_mirror("moby/moby", folders, ["1:moby/moby.git", "0:docker.git"]) == (
        Path("/m/one"),
        Path("/m/one/docker.git"),
    )
    assert pick_mirror("moby/moby", folders, ["1:moby.git"]) == (
        Path("/m/two"),
        Path("/m/two/moby.git"),
    )
    assert pick_mirror("moby/moby", folders, ["1:runc.git"]) is None
    assert pick_mirror("moby/moby", [], []) is None


def test_pick_mirror_most_specific_name_wins():
    folders = [Path("/m")]
    exists = ["0:moby", "0:moby.git", "0:moby/moby.git", "0:docker.git"]
    assert pick_mirror("moby/moby", folders, exists) == (Path("/m"), Path("/m/moby/moby.git"))
    found = pick_mirror("moby/moby", folders, ["0:docker.git", "0:moby.git"])
    assert found == (Path("/m"), Path("/m/moby.git"))


def test_remote_for_finds_the_bare_repository(tmp_path: Path):
    mirror = tmp_path / "mirror"
    repo = bare(mirror / "moby.git")
    remote = remote_for(MOBY, [str(mirror)])
    assert remote == Remote(f"file://{repo.resolve()}", MOBY, mirror.resolve())
    # The old URL finds the same copy.
    old = remote_for("https://github.com/docker/docker.git", [str(mirror)])
    assert old.url == f"file://{repo.resolve()}"
    assert old.wanted == "https://github.com/docker/docker.git"


def test_remote_for_uses_the_first_folder_that_holds_it(tmp_path: Path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    runc = bare(second / "runc.git")
    remote = remote_for("https://github.com/docker/runc", [str(first), str(second)])
    assert remote.url == f"file://{runc.resolve()}"
    assert remote.mirror == second.resolve()
    also = bare(first / "opencontainers-runc.git")
    assert remote_for("https://github.com/opencontainers/runc", [str(first), str(second)]).url == (
        f"file://{also.resolve()}"
    )


def test_remote_for_takes_a_work_tree_clone_too(tmp_path: Path):
    mirror = tmp_path / "mirror"
    (mirror / "libnetwork").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(mirror / "libnetwork")], check=True)
    remote = remote_for("https://github.com/docker/libnetwork", [str(mirror)])
    assert remote.url == f"file://{(mirror / 'libnetwork').resolve()}"


def test_a_folder_that_is_not_a_repository_is_skipped(tmp_path: Path):
    mirror = tmp_path / "mirror"
    (mirror / "moby.git").mkdir(parents=True)  # an empty folder, not a repository
    (mirror / "moby").write_text("a file\n")
    assert remote_for(MOBY, [str(mirror)]) == Remote(MOBY, MOBY)


def test_a_mirror_lacking_the_repository_gives_the_original_url(tmp_path: Path):
    mirror = tmp_path / "mirror"
    bare(mirror / "containerd.git")
    assert remote_for(MOBY, [str(mirror)]) == Remote(MOBY, MOBY, None)


def test_no_mirrors_or_not_github(tmp_path: Path):
    assert remote_for(MOBY, []) == Remote(MOBY, MOBY)
    mirror = tmp_path / "mirror"
    bare(mirror / "moby.git")
    other = "https://gitlab.example/moby/moby.git"
    assert remote_for(other, [str(mirror)]) == Remote(other, other)


def test_a_mirror_folder_that_does_not_exist_is_a_usage_error(tmp_path: Path):
    missing = tmp_path / "nowhere"
    with pytest.raises(UsageError) as info:
        remote_for(MOBY, [str(missing)])
    assert info.value.message == f"the mirror folder {missing} does not exist"
    assert "mirrors" in info.value.hint
    # Even when the URL is not GitHub's: the setting itself is wrong.
    with pytest.raises(UsageError):
        remote_for("https://gitlab.example/x/y", [str(missing)])


def test_a_mirror_folder_given_with_a_tilde(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    repo = bare(tmp_path / "mirrors" / "moby.git")
    assert remote_for(MOBY, ["~/mirrors"]).url == f"file://{repo.resolve()}"


def test_the_mirror_of_a_nested_name_is_the_mirror_folder(tmp_path: Path):
    mirror = tmp_path / "mirror"
    repo = bare(mirror / "moby" / "moby.git")
    remote = remote_for(MOBY, [str(mirror)])
    assert remote.url == f"file://{repo.resolve()}"
    assert remote.mirror == mirror.resolve()

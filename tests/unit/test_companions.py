"""The 2017 daemon's companions: the commits its source names, and the offline build command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mobylab import labels
from mobylab.dev.companions import (
    COMMITS_FILE,
    INSTALL_SCRIPT,
    PROXY_INSTALLER,
    Companion,
    build_argv,
    cache_folder,
    companions_for,
    debian_aliases,
    parse_clones,
    parse_commits,
)
from mobylab.errors import SourceError

RUNC = "9c2d8d184e5da67c95d601382adf14862e4f2228"
CONTAINERD = "9048e5e50717ea4497b757314bad98ea3763c145"
TINI = "949e6facb77383876aeff8a6944dde66b3089574"
LIBNETWORK = "7b2b1feb1de4817d522cc372af149ff48d25028e"

# Shaped like hack/dockerfile/binaries-commits of March 2017.
COMMITS_2017 = f"""\
#!/bin/sh

TOMLV_COMMIT=9baf8a8a9f2ed20a8e54160840c492f937eeaf9a

# When updating RUNC_COMMIT, also update runc in vendor.conf accordingly
RUNC_COMMIT={RUNC}
CONTAINERD_COMMIT={CONTAINERD}
TINI_COMMIT={TINI}
LIBNETWORK_COMMIT={LIBNETWORK}
VNDR_COMMIT=c56e082291115e369f77601f9c071dd9b2f2a6ba

# Linting
GOMETALINTER_COMMIT="F7B6E55301C9C67035003B7BA7F8A1CDE532D338"
# OLD_COMMIT=0123456789abcdef0123456789abcdef01234567
BINDATA_COMMIT=a0ff2567cfb70903282db057e799fd826784d41d
DOCKERCLI_REPO=https://github.com/docker/cli
DOCKERCLI_COMMIT=v17.06.0-ce
"""


def files_with(text: str | None) -> dict[str, str | None]:
    return {"Makefile": "tgz:\n", COMMITS_FILE: text}


def test_parse_commits_reads_name_commit_lines():
    commits = parse_commits(COMMITS_2017)
    assert commits["RUNC_COMMIT"] == RUNC
    assert commits["CONTAINERD_COMMIT"] == CONTAINERD
    assert commits["TINI_COMMIT"] == TINI
    assert commits["LIBNETWORK_COMMIT"] == LIBNETWORK
    assert commits["TOMLV_COMMIT"] == "9baf8a8a9f2ed20a8e54160840c492f937eeaf9a"
    # Quoted and upper-case hashes come out plain and lower-case.
    assert commits["GOMETALINTER_COMMIT"] == "f7b6e55301c9c67035003b7ba7f8a1cde532d338"


def test_parse_commits_skips_comments_shebang_and_what_is_not_a_hash():
    commits = parse_commits(COMMITS_2017)
    assert "OLD_COMMIT" not in commits
    assert "DOCKERCLI_COMMIT" not in commits  # a tag, not a hash
    assert "DOCKERCLI_REPO" not in commits
    assert set(commits) == {
        "TOMLV_COMMIT",
        "RUNC_COMMIT",
        "CONTAINERD_COMMIT",
        "TINI_COMMIT",
        "LIBNETWORK_COMMIT",
        "VNDR_COMMIT",
        "GOMETALINTER_COMMIT",
        "BINDATA_COMMIT",
    }
    assert parse_commits("#!/bin/sh\n") == {}


def test_a_daemon_debian_serves_needs_only_the_docker_proxy_its_source_names():
    # 17.12 to 18.06: binaries-commits still names libnetwork; Debian ships no docker-proxy.
    companions, notes = companions_for(files_with(COMMITS_2017), companions_from_debian=True)
    assert [(c.name, c.commit, c.repo) for c in companions] == [
        ("docker-proxy", LIBNETWORK, "https://github.com/docker/libnetwork")
    ]
    assert notes == []
    assert companions_for({}, companions_from_debian=True) == ([], [])


PROXY = "a543cbc4871f904b0efe205708eb45d72e65fd8b"
# Shaped like hack/dockerfile/install/proxy.installer of 18.09 and of 20.10.
PROXY_INSTALLER_2018 = f"""\
#!/bin/sh
# LIBNETWORK_COMMIT is used to build the docker-userland-proxy binary.
LIBNETWORK_COMMIT={LIBNETWORK}
"""
PROXY_INSTALLER_2020 = f"""\
#!/bin/sh
: "${{LIBNETWORK_COMMIT:={PROXY}}}"
_install_proxy() {{
\tgit clone https://github.com/docker/libnetwork.git "$GOPATH/src/github.com/docker/libnetwork"
}}
"""


def test_the_proxy_installer_names_the_docker_proxy_of_2018_to_2020():
    assert parse_commits(PROXY_INSTALLER_2020) == {"LIBNETWORK_COMMIT": PROXY}
    assert parse_commits(PROXY_INSTALLER_2018) == {"LIBNETWORK_COMMIT": LIBNETWORK}
    for text, commit in ((PROXY_INSTALLER_2018, LIBNETWORK), (PROXY_INSTALLER_2020, PROXY)):
        companions, _ = companions_for({PROXY_INSTALLER: text}, companions_from_debian=True)
        (proxy,) = companions
        assert (proxy.name, proxy.commit) == ("docker-proxy", commit)
        assert proxy.outputs == (("docker-proxy", "docker-proxy"),)
        assert proxy.command[-1] == "github.com/docker/libnetwork/cmd/proxy"
    # 23.0 on: the engine builds its own docker-proxy and names no libnetwork commit.
    assert companions_for({"hack/make/binary-proxy": "#!/bin/sh\n"}, True) == ([], [])


def test_a_2017_daemon_without_the_commits_file_is_refused():
    with pytest.raises(SourceError) as info:
        companions_for(files_with(None), companions_from_debian=False)
    line = info.value.one_line()
    assert "containerd 0.2" in line
    assert f"{COMMITS_FILE} is missing" in line
    assert "\n" not in line


def test_the_three_companions_with_their_commits():
    companions, notes = companions_for(files_with(COMMITS_2017), companions_from_debian=False)
    assert [(c.name, c.commit) for c in companions] == [
        ("runc", RUNC),
        ("containerd", CONTAINERD),
        ("docker-proxy", LIBNETWORK),
    ]
    runc, containerd, proxy = companions
    assert runc.repo == "https://github.com/docker/runc"
    assert runc.import_path == "github.com/opencontainers/runc"
    assert runc.outputs == (("runc", "docker-runc"),)
    assert [name for _, name in containerd.outputs] == [
        "docker-containerd",
        "docker-containerd-shim",
        "docker-containerd-ctr",
    ]
    assert proxy.outputs == (("docker-proxy", "docker-proxy"),)
    assert ("CGO_ENABLED", "0") in proxy.env
    assert runc.key == f"runc-{RUNC[:12]}"
    assert notes == [f"docker-init: Debian's static tini stands in for tini {TINI[:12]}"]


# Shaped like hack/dockerfile/install-binaries.sh of mid-2017: containerd from its new home.
INSTALL_2017_06 = """\
install_runc() {
\tgit clone https://github.com/docker/runc.git "$GOPATH/src/github.com/opencontainers/runc"
\tcd "$GOPATH/src/github.com/opencontainers/runc"
}
install_containerd() {
\tgit clone https://github.com/containerd/containerd "$GOPATH/src/github.com/containerd/containerd"
}
install_proxy() {
\tgit clone https://github.com/docker/libnetwork.git "$GOPATH/src/github.com/docker/libnetwork"
}
\t\t\tgit clone https://github.com/krallin/tini.git "$GOPATH/tini"
    git clone https://github.com/jteeuwen/go-bindata "$GOPATH/src/github.com/jteeuwen/go-bindata"
"""


def test_parse_clones_reads_the_gopath_of_each_clone():
    assert parse_clones(INSTALL_2017_06) == {
        "github.com/opencontainers/runc": "https://github.com/docker/runc",
        "github.com/containerd/containerd": "https://github.com/containerd/containerd",
        "github.com/docker/libnetwork": "https://github.com/docker/libnetwork",
        "github.com/jteeuwen/go-bindata": "https://github.com/jteeuwen/go-bindata",
    }
    assert parse_clones(None) == {}
    assert parse_clones('# git clone https://github.com/x/y "$GOPATH/src/x/y"\n') == {}


def test_the_install_script_says_where_each_companion_comes_from():
    files = {**files_with(COMMITS_2017), INSTALL_SCRIPT: INSTALL_2017_06}
    companions, _ = companions_for(files, companions_from_debian=False)
    runc, containerd, proxy = companions
    assert (containerd.repo, containerd.import_path) == (
        "https://github.com/containerd/containerd",
        "github.com/containerd/containerd",
    )
    assert runc.import_path == "github.com/opencontainers/runc"
    assert proxy.command[-1] == "github.com/docker/libnetwork/cmd/proxy"
    # The outputs and their era names do not move with the repository.
    assert containerd.outputs[0][1] == "docker-containerd"
    # Without the script: the March 2017 places.
    old, _ = companions_for(files_with(COMMITS_2017), companions_from_debian=False)
    assert old[1].import_path == "github.com/docker/containerd"


# Shaped like hack/make/.binary-setup before and after 18.09.
SETUP_2018 = """\
#!/usr/bin/env bash

DOCKER_DAEMON_BINARY_NAME='dockerd'
DOCKER_RUNC_BINARY_NAME='docker-runc'
DOCKER_CONTAINERD_BINARY_NAME='docker-containerd'
DOCKER_CONTAINERD_CTR_BINARY_NAME='docker-containerd-ctr'
DOCKER_CONTAINERD_SHIM_BINARY_NAME='docker-containerd-shim'
DOCKER_PROXY_BINARY_NAME='docker-proxy'
DOCKER_INIT_BINARY_NAME='docker-init'
"""
SETUP_2019 = """\
DOCKER_DAEMON_BINARY_NAME='dockerd'
DOCKER_RUNC_BINARY_NAME='runc'
DOCKER_CONTAINERD_BINARY_NAME='containerd'
DOCKER_CONTAINERD_SHIM_BINARY_NAME='containerd-shim'
DOCKER_PROXY_BINARY_NAME='docker-proxy'
"""


def test_debian_aliases_are_the_era_names_that_differ_from_debians():
    assert debian_aliases(SETUP_2018) == (
        "docker-runc=runc",
        "docker-containerd=containerd",
        "docker-containerd-ctr=ctr",
        "docker-containerd-shim=containerd-shim",
    )
    # 18.09 on: Debian's own names.
    assert debian_aliases(SETUP_2019) == ()
    assert debian_aliases(None) == ()


def test_a_companion_whose_commit_is_missing_is_noted():
    text = f"RUNC_COMMIT={RUNC}\nLIBNETWORK_COMMIT={LIBNETWORK}\n"
    companions, notes = companions_for(files_with(text), companions_from_debian=False)
    assert [c.name for c in companions] == ["runc", "docker-proxy"]
    assert notes == [f"{COMMITS_FILE} names no CONTAINERD_COMMIT: containerd is not built"]
    nothing, all_missing = companions_for(files_with("#!/bin/sh\n"), companions_from_debian=False)
    assert nothing == []
    assert len(all_missing) == 3


def test_build_argv_builds_offline_in_gopath_mode():
    runc = companions_for(files_with(COMMITS_2017), False)[0][0]
    source = Path("/cache/companions/runc-9c2d8d184e5d.src")
    argv = build_argv(
        runc,
        image="mobylab/docker-dev:go1.15-bullseye-build-0a1b2c3d",
        source=source,
        build_id="b42",
    )
    assert argv[:6] == ["docker", "run", "--rm", "--network", "none", "--label"]
    assert "--privileged" not in argv
    flags = labels.label_flags("devbuild", build="b42", companion="runc")
    for key, value in zip(flags[::2], flags[1::2], strict=True):
        assert argv[argv.index(value) - 1] == key
    workdir = "/go/src/github.com/opencontainers/runc"
    assert argv[argv.index("-v") + 1] == f"{source}:{workdir}"
    assert argv[argv.index("-w") + 1] == workdir
    env = [argv[i + 1] for i, word in enumerate(argv) if word == "-e"]
    assert env == ["GO111MODULE=off", "GOPATH=/go"]
    assert argv[-4:] == [
        "mobylab/docker-dev:go1.15-bullseye-build-0a1b2c3d",
        "make",
        "BUILDTAGS=",
        "static",
    ]


def test_build_argv_carries_the_companions_own_env():
    proxy = companions_for(files_with(COMMITS_2017), False)[0][2]
    argv = build_argv(
        proxy, image="img", source=Path("/src"), build_id="b", docker="/usr/bin/docker"
    )
    assert argv[0] == "/usr/bin/docker"
    env = [argv[i + 1] for i, word in enumerate(argv) if word == "-e"]
    assert env == ["GO111MODULE=off", "GOPATH=/go", "CGO_ENABLED=0"]
    assert argv[argv.index("img") :] == [
        "img",
        "go",
        "build",
        "-o",
        "docker-proxy",
        "github.com/docker/libnetwork/cmd/proxy",
    ]


def test_companion_round_trips_through_json():
    for companion in companions_for(files_with(COMMITS_2017), False)[0]:
        again = Companion.from_dict(json.loads(json.dumps(companion.as_dict())))
        assert again == companion
        assert again.key == companion.key


def test_a_commit_neither_mirror_nor_repository_has(tmp_path):
    import subprocess

    from mobylab.dev.fetch import fetch_tree
    from mobylab.errors import SourceError

    remote = tmp_path / "runc.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    missing = "9c2d8d184e5da67c95d601382adf14862e4f2228"
    with pytest.raises(SourceError) as info:
        fetch_tree(f"file://{remote}", missing, tmp_path / "src")
    line = info.value.one_line()
    assert f"commit {missing[:12]} is not in file://{remote}" in line
    assert "Fetch it into the mirror" in line


def test_runc_has_the_build_tags_of_the_daemon_it_knows():
    # The daemon's seccomp profile needs a runc with seccomp, as the era's RUNC_BUILDTAGS had.
    daemon_tags = ("apparmor", "pkcs11", "seccomp", "selinux")
    runc = companions_for(files_with(COMMITS_2017), False, daemon_tags)[0][0]
    assert runc.command == ("make", "BUILDTAGS=seccomp apparmor selinux", "static")
    bare = companions_for(files_with(COMMITS_2017), False)[0][0]
    assert bare.command == ("make", "BUILDTAGS=", "static")
    # Built with other tags, it is another cached build.
    from tests.unit.test_source_plan import plan_of, toolchain_for
    from tests.unit.test_toolchain import DOCKERFILE_2017

    go = toolchain_for(plan_of("2017"), {"Dockerfile": DOCKERFILE_2017}, from_debian=False)
    assert cache_folder(Path("/c"), runc, go) != cache_folder(Path("/c"), bare, go)

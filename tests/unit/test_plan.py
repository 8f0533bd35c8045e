"""The build plan of each era, decided from file contents alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from mobylab.dev.plan import (
    BuildPlan,
    Era,
    clean_branch,
    dockerfile_path,
    dockerfile_workdir,
    logical_lines,
    makefile_rules,
    makefile_variables,
    plan_from_files,
    read_plan,
    read_plan_folders,
    speaks_containerd_02,
    tgz_script_is_stub,
    workdir_from_mounts,
)
from mobylab.errors import SourceError, UsageError
from tests.fixtures.enginesrc import era_files, git, make_engine_source

COMMIT = "0123456789abcdef0123456789abcdef01234567"
CHECKOUT = Path("/ws/checkouts/moby")


def files_of(era: str, **options) -> dict[str, str | None]:
    files: dict[str, str | None] = {
        name: text for name, (text, _) in era_files(era, **options).items()
    }
    for name in ("VERSION", "hack/make/tgz", "Dockerfile"):
        files.setdefault(name, None)
    return files


def plan_of(era: str, branch: str | None = "master", **kwargs) -> BuildPlan:
    return plan_from_files(files_of(era), checkout=CHECKOUT, commit=COMMIT, branch=branch, **kwargs)


def test_march_2017_builds_make_tgz():
    plan = plan_of("2017")
    assert plan.era == Era.TGZ
    assert plan.target == "tgz"
    assert plan.dev_image == "docker-dev:master"
    assert plan.workdir == "/go/src/github.com/docker/docker"
    assert plan.version == "17.05.0-dev"
    assert plan.daemon_dirs == ("bundles/latest/dynbinary-daemon", "bundles/latest/binary-daemon")
    assert plan.client_dirs[0] == "bundles/latest/binary-client"
    assert plan.container_path.startswith(
        "/go/src/github.com/docker/docker/bundles/latest/dynbinary-daemon:"
    )
    assert ":/usr/bin:" in plan.container_path
    assert plan.run_var == "DOCKER_FLAGS"
    assert plan.run_value.startswith("docker run --rm -i --privileged $(DOCKER_ENVS)")
    assert plan.build_args_var == "DOCKER_BUILD_ARGS"
    # The Makefile drops the bundles mount when DOCKER_HOST is set: mobylab pins it.
    assert plan.upstream_route().make_vars == ("BIND_DIR=bundles",)
    assert any("DOCKER_CROSSPLATFORMS=" in w for w in plan.warnings)
    assert {"all", "binary", "build", "cross", "deb", "rpm", "shell", "tgz", "win"} <= set(
        plan.make_targets
    )
    assert "dynbinary" not in plan.make_targets


@pytest.mark.parametrize(
    ("branch", "image"),
    [
        ("master", "docker-dev:master"),
        ("feature/multi-stage", "docker-dev:feature-multi-stage"),
        ("17.05.x", "docker-dev:17-05-x"),
        ("pr-32063", "docker-dev:pr-32063"),
    ],
)
def test_2017_image_is_named_after_the_branch(branch, image):
    assert plan_of("2017", branch).dev_image == image
    assert clean_branch(branch) == image.split(":", 1)[1]


def test_2017_detached_head_pins_the_image_name():
    plan = plan_of("2017", None)
    assert plan.dev_image == f"docker-dev:{COMMIT[:12]}"
    assert f"DOCKER_IMAGE=docker-dev:{COMMIT[:12]}" in plan.upstream_route().make_vars
    assert any("docker-dev:HEAD" in note and "DOCKER_IMAGE=" in note for note in plan.notes)


def test_may_2017_stub_builds_make_binary():
    plan = plan_from_files(files_of("2017-stub"), checkout=CHECKOUT, commit=COMMIT, branch="master")
    assert plan.era == Era.DEV_CONTAINER
    assert plan.target == "binary"
    assert plan.version == "17.06.0-dev"
    assert plan.daemon_dirs[0] == "bundles/latest/binary-daemon"
    assert any("stub" in note for note in plan.notes)


def test_tgz_stub_detection_reads_the_content():
    assert tgz_script_is_stub(files_of("2017-stub")["hack/make/tgz"])
    assert not tgz_script_is_stub(files_of("2017")["hack/make/tgz"])
    assert tgz_script_is_stub(None)
    assert tgz_script_is_stub("#!/bin/sh\n# tar is gone\necho moved\n")


def test_today_in_container_binary():
    plan = plan_of("today")
    assert plan.era == Era.DEV_CONTAINER
    assert plan.target == "binary"
    assert plan.dev_image == "docker-dev"
    assert plan.workdir == "/usr/src/moby"
    assert plan.version == "dev"
    assert plan.daemon_dirs == ("bundles/binary-daemon",)
    assert plan.client_dirs == ("/usr/local/cli",)
    assert plan.container_path.startswith("/usr/src/moby/bundles/binary-daemon:/usr/local/cli:")
    assert plan.container_path.count("/usr/local/cli") == 1
    assert plan.upstream_route().make_vars == ()
    assert plan.run_value.startswith("$(DOCKER) run --rm --privileged")


def test_today_detached_head_needs_no_pin():
    plan = plan_of("today", None)
    assert plan.dev_image == "docker-dev"
    assert plan.upstream_route().make_vars == ()


def test_2026_master_uses_bake():
    plan = plan_of("bake", buildx=False)
    assert plan.era == Era.BAKE
    assert plan.target == "binary"
    assert plan.workdir == "/usr/src/moby"
    assert plan.daemon_dirs[0] == "bundles/binary"
    assert plan.build_args_var == "DOCKER_BUILD_ARGS"
    assert any("buildx" in w for w in plan.warnings)
    assert not any("buildx" in w for w in plan_of("bake", buildx=True).warnings)
    assert "tgz" not in plan.make_targets and "deb" not in plan.make_targets


def test_old_daemon_on_cgroup_v2_host_warns():
    assert any("cgroup v2" in w for w in plan_of("2017", host_cgroup_version="2").warnings)
    assert not any("cgroup" in w for w in plan_of("2017", host_cgroup_version="1").warnings)
    assert not any("cgroup" in w for w in plan_of("today", host_cgroup_version="2").warnings)


def test_target_override():
    assert plan_of("2017", target="binary").target == "binary"
    with pytest.raises(UsageError, match="no target 'dynbinary'"):
        plan_of("2017", target="dynbinary")
    with pytest.raises(UsageError, match="invalid make target"):
        plan_of("2017", target="-j99")
    with pytest.raises(UsageError, match="invalid make target"):
        plan_of("2017", target="binary\n")
    with pytest.raises(UsageError, match="invalid make target"):
        plan_of("2017", target="DOCKER_FLAGS=x")


def test_unknown_makefile_lists_its_targets():
    files = {"Makefile": "all: lib\n\tcc -o all\n\nlib:\n\tar x\n\n.PHONY: clean\nclean:\n\trm x\n"}
    with pytest.raises(SourceError) as info:
        plan_from_files(files, checkout=CHECKOUT, commit=COMMIT, branch="master")
    assert "(targets: all, clean, lib)" in info.value.one_line()


def test_no_makefile():
    with pytest.raises(SourceError, match="no Makefile"):
        plan_from_files({}, checkout=CHECKOUT, commit=COMMIT, branch="master")


def test_makefile_reading():
    text = (
        "A := one \\\n\ttwo\nA := $(A) three\nB ?= b\nB ?= ignored\nC = c\nC += d\n"
        "x y: z ; echo inline\n\techo more\nbuild: shell_target := --target=dev\n"
        "build:\n\tdocker build .\n"
    )
    assert logical_lines("a \\\n  b\nc")[0] == "a b"
    variables = makefile_variables(text)
    assert variables == {"A": "one two three", "B": "b", "C": "c d"}
    rules = makefile_rules(text)
    assert rules["x"] == ["echo inline", "echo more"]
    assert rules["build"] == ["docker build ."]


def test_workdir_and_path_readers():
    assert workdir_from_mounts('-v "$(CURDIR):/usr/src/moby/." -v x:/y') == "/usr/src/moby"
    assert (
        workdir_from_mounts('$(if $(BIND_DIR),-v "$(CURDIR)/$(BIND_DIR):/go/src/x/$(BIND_DIR)")')
        == "/go/src/x"
    )
    assert workdir_from_mounts("-v docker-dev-cache:/root/.cache") is None
    assert dockerfile_workdir("FROM a\nWORKDIR /a\nWORKDIR $X/b\nWORKDIR /c/\n") == "/c"
    assert dockerfile_path("FROM a\nENV PATH=/x:$PATH\n").startswith("/x:/usr/local/sbin:")
    assert dockerfile_path("FROM a\nENV PATH /only\n") == "/only"


def test_plan_round_trips_through_json():
    plan = plan_of("2017", None)
    again = BuildPlan.from_dict(plan.as_dict())
    assert again == plan
    assert again.key == plan.key


def test_read_plan_on_real_checkouts(tmp_path: Path):
    source = make_engine_source(tmp_path / "engine", "2017", branch="release/17.05")
    plan = read_plan(source.path)
    assert (plan.commit, plan.branch) == (source.commit, "release/17.05")
    assert plan.dev_image == "docker-dev:release-17-05"
    git(source.path, "checkout", "-q", "--detach")
    detached = read_plan(source.path)
    assert detached.branch is None
    assert detached.dev_image == f"docker-dev:{source.commit[:12]}"
    assert detached.upstream_route().make_vars[0] == f"DOCKER_IMAGE=docker-dev:{source.commit[:12]}"


def test_read_plan_outside_a_checkout(tmp_path: Path):
    with pytest.raises(SourceError, match="not a git checkout"):
        read_plan(tmp_path)
    with pytest.raises(SourceError, match="does not exist"):
        read_plan(tmp_path / "missing")


@pytest.mark.parametrize(
    ("vendored", "old_api"),
    [
        ("github.com/docker/containerd/api/grpc/types", True),  # March 2017
        ("github.com/containerd/containerd/api/grpc/types", True),  # 17.06-17.10: moved, still 0.2
        ("github.com/containerd/containerd/api/services", False),  # 17.12 on: containerd 1.x
    ],
)
def test_the_containerd_api_a_checkout_vendors(tmp_path: Path, vendored: str, old_api: bool):
    (tmp_path / "vendor" / vendored).mkdir(parents=True)
    folders = read_plan_folders(tmp_path)
    assert "vendor" in folders
    assert speaks_containerd_02(folders) is old_api

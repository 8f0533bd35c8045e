"""Pure parts of the source route's build: cache volumes, DOCKER_GITCOMMIT, the `docker run`
that builds, and what the manifest says of the build copy."""

from __future__ import annotations

from pathlib import Path

from mobylab import labels
from mobylab.dev.build_source import (
    GO_BUILD_CACHE,
    GO_MOD_CACHE,
    cache_volumes,
    copy_manifest,
    git_commit,
    source_build_argv,
)
from mobylab.dev.buildcopy import BuildCopy
from mobylab.dev.devimage import dev_image_recipe
from mobylab.dev.plan import BuildPlan
from tests.unit.test_source_plan import COMMIT, plan_of, source_2017, to_source, toolchain_for
from tests.unit.test_toolchain import GO_MOD_TODAY, OFFERS

COPY = Path("/ws/builds/0123456789ab-source/src")
COMPANIONS = [
    Path("/ws/builds/0123456789ab-source/companions/docker-containerd"),
    Path("/ws/builds/0123456789ab-source/companions/docker-runc"),
]


def today_source() -> BuildPlan:
    plan = plan_of("today")
    return to_source(plan, toolchain_for(plan, {"go.mod": GO_MOD_TODAY}, from_debian=True))


def values_of(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, word in enumerate(argv) if word == flag]


def test_cache_volumes_are_named_after_the_toolchain():
    _, old = source_2017()
    assert cache_volumes(old.source_route().toolchain) == {
        "mobylab-go-build-go1.15-bullseye": GO_BUILD_CACHE,
        "mobylab-go-mod-go1.15-bullseye": GO_MOD_CACHE,
    }
    new = today_source()
    assert set(cache_volumes(new.source_route().toolchain)) == {
        "mobylab-go-build-go1.26-sid",
        "mobylab-go-mod-go1.26-sid",
    }
    assert GO_BUILD_CACHE == "/root/.cache/go-build"
    assert GO_MOD_CACHE == "/go/pkg/mod"


def test_git_commit():
    assert git_commit(COMMIT, dirty=False) == "0123456789ab"
    assert git_commit(COMMIT, dirty=True) == "0123456789ab-unsupported"


def test_source_build_argv_of_a_2017_build():
    _, plan = source_2017(target="tgz")
    volumes = cache_volumes(plan.source_route().toolchain)
    argv = source_build_argv(
        plan,
        build_id="b7",
        copy=COPY,
        volumes=volumes,
        gitcommit="0123456789ab-unsupported",
        companions=COMPANIONS,
    )
    assert argv[:5] == ["docker", "run", "--rm", "--network", "none"]
    assert "--privileged" not in argv and "--cap-add" not in " ".join(argv)
    flags = labels.label_flags("devbuild", build="b7", commit="0123456789ab")
    for key, value in zip(flags[::2], flags[1::2], strict=True):
        assert argv[argv.index(value) - 1] == key
    workdir = "/go/src/github.com/docker/docker"
    mounts = values_of(argv, "-v")
    assert mounts[0] == f"{COPY}:{workdir}"
    # Companions one file each, read-only, beside the image's own /usr/local/bin.
    assert mounts[1:] == [
        f"{COMPANIONS[0]}:/usr/local/bin/docker-containerd:ro",
        f"{COMPANIONS[1]}:/usr/local/bin/docker-runc:ro",
    ]
    assert values_of(argv, "-w") == [workdir]
    assert values_of(argv, "--mount") == [
        f"type=volume,source=mobylab-go-build-go1.15-bullseye,target={GO_BUILD_CACHE}",
        f"type=volume,source=mobylab-go-mod-go1.15-bullseye,target={GO_MOD_CACHE}",
    ]
    env = values_of(argv, "-e")
    assert env[-1] == "DOCKER_GITCOMMIT=0123456789ab-unsupported"
    toolchain_env = [f"{key}={value}" for key, value in plan.source_route().toolchain.env]
    # tgz packs what cross made, for this machine's platform only.
    assert env[:-1] == [*toolchain_env, "DOCKER_CROSSPLATFORMS="]
    assert "GO111MODULE=off" in env and "GOTOOLCHAIN=local" in env
    assert argv[-5:] == [plan.dev_image, "hack/make.sh", "binary", "cross", "tgz"]


def test_source_build_argv_of_a_module_without_companions():
    plan = today_source()
    argv = source_build_argv(
        plan,
        build_id="b8",
        copy=COPY,
        volumes={},
        gitcommit="0123456789ab",
        docker="/usr/bin/docker",
    )
    assert argv[0] == "/usr/bin/docker"
    assert values_of(argv, "-v") == [f"{COPY}:/usr/src/moby"]
    assert values_of(argv, "--mount") == []
    env = values_of(argv, "-e")
    assert "GOFLAGS=-mod=vendor" in env
    assert "GO111MODULE=off" not in env
    assert argv[-3:] == [plan.dev_image, "hack/make.sh", "binary"]
    assert argv.index(plan.dev_image) > max(i for i, w in enumerate(argv) if w == "-e")


def test_copy_manifest():
    _, plan = source_2017()
    recipe, _ = dev_image_recipe(plan.source_route().toolchain, OFFERS)
    volumes = cache_volumes(plan.source_route().toolchain)
    copy = BuildCopy(COPY, COMMIT, True, "ab" * 32)
    manifest = copy_manifest(copy, recipe, volumes)
    assert manifest["dirty"] is True
    assert manifest["changes_sha256"] == "ab" * 32
    assert manifest["dev_image"] == recipe.tag == plan.dev_image
    assert manifest["dev_image_packages"] == [*recipe.packages, *recipe.extra_packages]
    assert manifest["cache_volumes"] == sorted(volumes)
    assert "no network" in str(manifest["security"])
    clean = copy_manifest(BuildCopy(COPY, COMMIT, False), recipe, volumes)
    assert (clean["dirty"], clean["changes_sha256"]) == (False, "")

"""An era's plan turned to the source route: mobylab's dev image, the toolchain's workdir,
PATH, hack/make.sh bundles, and a cache key that tells builds apart."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from mobylab.dev.companions import companions_for
from mobylab.dev.devimage import dev_image_recipe
from mobylab.dev.fixes import FIXES
from mobylab.dev.plan import (
    BuildPlan,
    Era,
    UpstreamRoute,
    plan_from_files,
    source_bundles,
    source_plan,
)
from mobylab.dev.planner import companions_row
from mobylab.dev.toolchain import Toolchain, choose_go, go_need, make_toolchain
from tests.fixtures.enginesrc import era_files
from tests.unit.test_toolchain import (
    DOCKERFILE_2017,
    DOCKERFILE_2023,
    GO_MOD_TODAY,
    MAKE_SH_2023,
    NATIVE,
    OFFERS,
    VENDOR_MOD_2023,
)

COMMIT = "0123456789abcdef0123456789abcdef01234567"
CHECKOUT = Path("/ws/checkouts/moby")
COMMITS_2017 = (
    "#!/bin/sh\n"
    "RUNC_COMMIT=9c2d8d184e5da67c95d601382adf14862e4f2228\n"
    "CONTAINERD_COMMIT=9048e5e50717ea4497b757314bad98ea3763c145\n"
    "LIBNETWORK_COMMIT=7b2b1feb1de4817d522cc372af149ff48d25028e\n"
)


def plan_of(era: str, branch: str | None = "master") -> BuildPlan:
    files: dict[str, str | None] = {name: text for name, (text, _) in era_files(era).items()}
    for name in ("VERSION", "hack/make/tgz", "Dockerfile"):
        files.setdefault(name, None)
    return plan_from_files(files, checkout=CHECKOUT, commit=COMMIT, branch=branch)


def toolchain_for(plan: BuildPlan, files: dict[str, str | None], from_debian: bool) -> Toolchain:
    need = go_need(files, has_vendor=True)
    return make_toolchain(
        need,
        choose_go(need, OFFERS, NATIVE),
        dockerfile=files.get("Dockerfile"),
        cgo_includes=[],
        workdir=plan.workdir,
        companions_from_debian=from_debian,
    )


def to_source(plan: BuildPlan, toolchain: Toolchain, **kwargs) -> BuildPlan:
    recipe, _ = dev_image_recipe(toolchain, OFFERS)
    return source_plan(
        plan,
        toolchain,
        image=recipe.tag,
        image_path=dict(recipe.env)["PATH"],
        reason=kwargs.pop("reason", "asked for (--route source)"),
        **kwargs,
    )


def source_2017(branch: str | None = "master", **kwargs) -> tuple[BuildPlan, BuildPlan]:
    plan = plan_of("2017", branch)
    toolchain = toolchain_for(plan, {"Dockerfile": DOCKERFILE_2017}, from_debian=False)
    return plan, to_source(plan, toolchain, **kwargs)


def test_a_2017_source_plan():
    plan, source = source_2017()
    route = source.source_route()
    assert route.toolchain.go.suite == "bullseye"
    assert route.name == "source"
    assert route.reason == "asked for (--route source)"
    assert source.era == Era.TGZ
    assert source.dev_image.startswith("mobylab/docker-dev:go1.15-bullseye-build-")
    assert source.workdir == "/go/src/github.com/docker/docker"
    assert source.target == "binary"
    assert route.bundles == ("binary",)
    assert source.command == "hack/make.sh binary"
    assert source.as_dict()["make_vars"] == [] and source.as_dict()["then_targets"] == []
    # The binaries are still found where the era puts them.
    assert source.daemon_dirs == plan.daemon_dirs
    assert source.commit == plan.commit and source.checkout == plan.checkout


def test_the_path_is_the_bundles_under_the_workdir_then_the_images_own():
    _, source = source_2017()
    recipe, _ = dev_image_recipe(source.source_route().toolchain, OFFERS)
    image_path = dict(recipe.env)["PATH"]
    workdir = "/go/src/github.com/docker/docker"
    assert source.container_path.split(":")[:4] == [
        f"{workdir}/bundles/latest/dynbinary-daemon",
        f"{workdir}/bundles/latest/binary-daemon",
        f"{workdir}/bundles/latest/binary-client",
        f"{workdir}/bundles/latest/dynbinary-client",
    ]
    assert source.container_path.endswith(":" + image_path)
    assert image_path.startswith("/usr/lib/go-1.15/bin:")
    parts = source.container_path.split(":")
    assert len(parts) == len(set(parts))


def test_gopath_mode_works_at_the_import_path_whatever_the_eras_mount():
    plan = plan_of("today")
    assert plan.workdir == "/usr/src/moby"
    files = {
        "vendor.mod": VENDOR_MOD_2023,
        "Dockerfile": DOCKERFILE_2023,
        "hack/make.sh": MAKE_SH_2023,
    }
    source = to_source(plan, toolchain_for(plan, files, from_debian=True))
    assert source.workdir == "/go/src/github.com/docker/docker"
    assert source.container_path.startswith(
        "/go/src/github.com/docker/docker/bundles/binary-daemon:/usr/local/cli:/usr/lib/go-1.23/bin:"
    )
    assert source.container_path.count("/usr/local/cli") == 1
    assert "/usr/src/moby" not in source.container_path


def test_a_module_keeps_the_eras_workdir():
    plan = plan_of("today")
    files = {"go.mod": GO_MOD_TODAY, "Dockerfile": None}
    source = to_source(plan, toolchain_for(plan, files, from_debian=True))
    assert source.workdir == "/usr/src/moby"
    assert source.dev_image.startswith("mobylab/docker-dev:go1.26-sid-")
    assert source.container_path.startswith("/usr/src/moby/bundles/binary-daemon:/usr/local/cli:")


def test_bundles():
    tgz, stub = plan_of("2017"), plan_of("2017-stub")
    assert stub.era == Era.DEV_CONTAINER
    assert source_bundles(tgz, None) == ("binary",)
    assert source_bundles(tgz, "binary") == ("binary",)
    assert source_bundles(tgz, "tgz") == ("binary", "cross", "tgz")
    # The May 2017 stub packs no archives.
    assert source_bundles(stub, "tgz") == ("binary",)
    _, asked = source_2017(target="tgz")
    assert asked.source_route().bundles == ("binary", "cross", "tgz")
    assert asked.target == "tgz"
    assert asked.command == "hack/make.sh binary cross tgz"


def test_make_only_notes_and_warnings_are_dropped():
    plan, source = source_2017(None, target="tgz")
    assert any("DOCKER_IMAGE=" in n for n in plan.notes)
    assert any("cross-compiles" in w for w in plan.warnings)
    assert not any("DOCKER_IMAGE=" in n for n in source.notes)
    assert not any("bind mount" in n for n in source.notes)
    assert not any("cross" in w for w in source.warnings)
    # The toolchain's notes and the caller's come along.
    _, noted = source_2017(notes=("era fix a422774e593b: without it, builds fail",))
    assert noted.notes[-1] == "era fix a422774e593b: without it, builds fail"
    assert all(n in noted.notes for n in noted.source_route().toolchain.notes)


def test_the_key_tells_the_routes_fixes_and_companions_apart():
    plan, source = source_2017()
    fix = FIXES[0].commit
    companions, _ = companions_for({"hack/dockerfile/binaries-commits": COMMITS_2017}, False)
    _, with_fix = source_2017(fixes=(fix,))
    _, with_companions = source_2017(fixes=(fix,), companions=tuple(companions))
    _, tgz = source_2017(target="tgz")
    keys = [plan.key, source.key, with_fix.key, with_companions.key, tgz.key]
    assert len(set(keys)) == len(keys)
    assert COMMIT in source.key
    # The same decisions give the same key.
    assert source_2017(fixes=(fix,))[1].key == with_fix.key
    # Another companion commit is another build.
    other = (dataclasses.replace(companions[0], commit="f" * 40), *companions[1:])
    assert source_2017(fixes=(fix,), companions=other)[1].key != with_companions.key


def test_the_key_changes_with_the_toolchain():
    plan = plan_of("today")
    vendor_era = {"vendor.mod": VENDOR_MOD_2023, "Dockerfile": DOCKERFILE_2023}
    module_era = {"go.mod": GO_MOD_TODAY}
    one = to_source(plan, toolchain_for(plan, vendor_era, from_debian=True))
    two = to_source(plan, toolchain_for(plan, module_era, from_debian=True))
    assert one.key != two.key


def test_a_source_plan_round_trips_through_json():
    fix = FIXES[0].commit
    companions, _ = companions_for({"hack/dockerfile/binaries-commits": COMMITS_2017}, False)
    _, source = source_2017(
        None,
        fixes=(fix,),
        companions=tuple(companions),
        with_fixes=True,
        target="tgz",
    )
    again = BuildPlan.from_dict(json.loads(json.dumps(source.as_dict())))
    route = again.source_route()
    assert route.toolchain == source.source_route().toolchain
    assert again.key == source.key
    assert (route.name, route.bundles, route.fixes) == (
        "source",
        ("binary", "cross", "tgz"),
        (fix,),
    )
    assert again.container_path == source.container_path
    assert list(route.companions) == companions
    assert again == source


def test_an_upstream_plan_round_trips_without_a_toolchain():
    plan = plan_of("today")
    again = BuildPlan.from_dict(json.loads(json.dumps(plan.as_dict())))
    assert isinstance(again.route, UpstreamRoute)
    assert again == plan


def test_the_companions_row_says_what_is_built_and_what_is_debians():
    plan = plan_of("2017")
    records = tuple(companions_for({"hack/dockerfile/binaries-commits": COMMITS_2017}, False)[0])
    built = toolchain_for(plan, {"Dockerfile": DOCKERFILE_2017}, from_debian=False)
    debian = dataclasses.replace(built, companions_from_debian=True)
    row = companions_row(to_source(plan, built, companions=records).source_route())
    assert row == "runc 9c2d8d184e5d, containerd 9048e5e50717, docker-proxy 7b2b1feb1de4"
    proxy = records[2:]
    aliases = ("docker-runc=runc",)
    with_aliases = to_source(plan, debian, companions=proxy, companion_aliases=aliases)
    assert companions_row(with_aliases.source_route()) == (
        "the dev image's Debian packages, as docker-runc (the names this daemon looks for); "
        "docker-proxy 7b2b1feb1de4 from source"
    )
    assert companions_row(to_source(plan, debian).source_route()) == (
        "the dev image's Debian packages"
    )

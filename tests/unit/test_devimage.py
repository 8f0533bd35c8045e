"""The recipe of mobylab's docker-dev image for a toolchain: its tag, suite, packages, PATH."""

from __future__ import annotations

import re

from mobylab.dev.devimage import REPOSITORY, dev_image_recipe
from mobylab.dev.toolchain import GoNeed, Toolchain, choose_go, go_need, make_toolchain
from mobylab.images.recipes import DEBOOTSTRAP
from tests.unit.test_toolchain import (
    DOCKERFILE_2017,
    GO_MOD_TODAY,
    NATIVE,
    OFFERS,
    module_need,
    pkg,
)


def toolchain(need: GoNeed, from_debian: bool = True, offers=OFFERS) -> Toolchain:
    return make_toolchain(
        need,
        choose_go(need, offers, NATIVE),
        dockerfile=None,
        cgo_includes=[],
        workdir="/usr/src/moby",
        companions_from_debian=from_debian,
    )


def today() -> Toolchain:
    return toolchain(go_need({"go.mod": GO_MOD_TODAY}, has_vendor=True))


def old(from_debian: bool = False) -> Toolchain:
    return toolchain(go_need({"Dockerfile": DOCKERFILE_2017}, has_vendor=True), from_debian)


def test_the_tag_names_go_and_the_suite_with_a_digest():
    recipe, notes = dev_image_recipe(today(), OFFERS)
    assert re.fullmatch(rf"{REPOSITORY}:go1\.26-sid-[0-9a-f]{{8}}", recipe.tag)
    assert recipe.name == "docker-dev-go1.26-sid"
    assert recipe.method == DEBOOTSTRAP
    assert recipe.suite == "sid"
    assert recipe.extra_suite == "" and recipe.extra_packages == ()
    assert notes == ()


def test_the_recipe_holds_go_the_build_tools_and_debians_companions():
    recipe, _ = dev_image_recipe(today(), OFFERS)
    assert recipe.packages[0] == "golang-1.26-go"
    expected = {"git", "make", "gcc", "libc6-dev", "pkg-config", "libsystemd-dev", "iptables"}
    assert expected | {"tini-static", "containerd", "runc", "docker-cli", "docker-buildx"} <= set(
        recipe.packages
    )
    assert len(recipe.packages) == len(set(recipe.packages))
    assert ("/usr/local/cli/docker", "/usr/bin/docker") in recipe.links
    assert ("/usr/local/bin/docker-init", "/usr/bin/tini-static") in recipe.links
    assert "with Debian's containerd, runc, docker CLI" in recipe.description
    assert {"go/src", "go/pkg/mod", "root/.cache/go-build"} <= set(recipe.folders)


def test_path_starts_with_the_go_roots_bin():
    recipe, _ = dev_image_recipe(today(), OFFERS)
    env = dict(recipe.env)
    assert env["PATH"].startswith("/usr/lib/go-1.26/bin:/go/bin:/usr/local/cli:")
    assert env["PATH"].endswith(":/usr/bin:/sbin:/bin")
    assert env["GOPATH"] == "/go"
    assert env["GOTOOLCHAIN"] == "local"
    old_recipe, _ = dev_image_recipe(old(), OFFERS)
    assert dict(old_recipe.env)["PATH"].startswith("/usr/lib/go-1.15/bin:")


def test_a_backports_go_comes_from_backports_on_its_base_suite():
    recipe, _ = dev_image_recipe(toolchain(module_need((1, 22))), OFFERS)
    assert recipe.suite == "bookworm"
    assert recipe.extra_suite == "bookworm-backports"
    assert recipe.extra_packages == ("golang-1.23-go",)
    assert "golang-1.23-go" not in recipe.packages
    assert {"git", "containerd", "runc", "tini"} <= set(recipe.packages)
    assert re.fullmatch(rf"{REPOSITORY}:go1\.23-bookworm-backports-[0-9a-f]{{8}}", recipe.tag)
    assert dict(recipe.env)["PATH"].startswith("/usr/lib/go-1.23/bin:")


def test_companions_built_from_source_make_the_build_flavour():
    recipe, notes = dev_image_recipe(old(from_debian=False), OFFERS)
    assert re.fullmatch(rf"{REPOSITORY}:go1\.15-bullseye-build-[0-9a-f]{{8}}", recipe.tag)
    assert recipe.name == "docker-dev-go1.15-bullseye-build"
    assert not {"containerd", "runc", "docker-cli"} & set(recipe.packages)
    assert "tini" in recipe.packages
    assert "containerd" not in recipe.description
    assert notes == ()
    debian, debian_notes = dev_image_recipe(old(from_debian=True), OFFERS)
    assert "-build-" not in debian.tag
    assert {"containerd", "runc"} <= set(debian.packages)
    assert debian_notes == (
        "Debian bullseye has no docker-cli: use the host's CLI with DOCKER_HOST",
    )


def test_the_digest_changes_when_the_packages_change():
    recipe, _ = dev_image_recipe(today(), OFFERS)
    assert dev_image_recipe(today(), OFFERS)[0] == recipe
    fewer = {**OFFERS, "sid": {k: v for k, v in OFFERS["sid"].items() if k != "docker-buildx"}}
    other, _ = dev_image_recipe(today(), fewer)
    assert "docker-buildx" not in other.packages
    assert other.tag.rsplit("-", 1)[0] == recipe.tag.rsplit("-", 1)[0]
    assert other.tag != recipe.tag
    # A new Debian revision of a package is a new image: never one made from the old.
    newer = {**OFFERS, "sid": {**OFFERS["sid"], "runc": pkg("runc", "1.3.0+ds1-2")}}
    assert dev_image_recipe(today(), newer)[0].tag != recipe.tag


def test_a_companion_only_in_backports_is_installed_from_backports():
    offers = {
        "bookworm": {"tini": pkg("tini", "0.19.0-1"), "containerd": pkg("containerd", "1.6.20")}
        | {"runc": pkg("runc", "1.1.5+ds1-1")},
        "bookworm-backports": {
            "golang-1.23-go": pkg("golang-1.23-go", "1.23.5-1~bpo12+1"),
            "docker-cli": pkg("docker-cli", "26.1.5+dfsg1-9~bpo12+1"),
        },
    }
    recipe, _ = dev_image_recipe(toolchain(module_need((1, 22)), offers=offers), offers)
    assert "docker-cli" in recipe.packages + recipe.extra_packages
    assert "docker-cli" not in recipe.packages

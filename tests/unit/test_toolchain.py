"""Which Go a checkout needs, which Debian Go builds it, and how the source route builds it.

The offers below are modelled on what a Debian mirror serves (each suite's
golang-1.NN-go, tini, containerd, runc, docker-cli); debootstrap knows bullseye,
bookworm, trixie and sid natively, not forky.
"""

from __future__ import annotations

import json

import pytest

from mobylab.dev.toolchain import (
    GOPATH,
    IMPORT_PATH_2017,
    MODULE,
    GoChoice,
    GoNeed,
    Toolchain,
    build_env,
    build_packages,
    build_tags,
    cgo_includes,
    choose_go,
    companion_packages,
    dockerfile_build_tags,
    dockerfile_go,
    go_need,
    import_path,
    make_toolchain,
    parse_version,
)
from mobylab.errors import SourceError
from mobylab.images.debian import Package


def pkg(name: str, version: str) -> Package:
    return Package(name, version, f"pool/main/{name[0]}/{name}/{name}_{version}_amd64.deb")


def suite_of(*packages: tuple[str, str]) -> dict[str, Package]:
    return {name: pkg(name, version) for name, version in packages}


OFFERS: dict[str, dict[str, Package]] = {
    "bullseye": suite_of(
        ("golang-1.15-go", "1.15.15-1~deb11u4"),
        ("tini", "0.19.0-1"),
        ("containerd", "1.4.13~ds1-1~deb11u4"),
        ("runc", "1.0.0~rc93+ds1-5+deb11u5"),
    ),
    "bookworm": suite_of(
        ("golang-1.19-go", "1.19.8-2"),
        ("tini", "0.19.0-1"),
        ("containerd", "1.6.20~ds1-1+b1"),
        ("runc", "1.1.5+ds1-1+deb12u1"),
    ),
    "bookworm-backports": suite_of(("golang-1.23-go", "1.23.5-1~bpo12+1")),
    "trixie": suite_of(
        ("golang-1.24-go", "1.24.4-1"),
        ("tini", "0.19.0-3"),
        ("containerd", "1.7.24~ds1-6+b4"),
        ("runc", "1.1.15+ds1-2+b4"),
        ("docker-cli", "26.1.5+dfsg1-9+b9"),
        ("docker-buildx", "0.13.1+ds1-3"),
    ),
    "trixie-backports": suite_of(("golang-1.26-go", "1.26.11-1~bpo13+1")),
    "forky": suite_of(
        ("golang-1.26-go", "1.26.10-1"),
        ("golang-1.27-go", "1.27.3-1"),
        ("tini-static", "0.19.0-4"),
        ("tini", "0.19.0-4"),
    ),
    "sid": suite_of(
        ("golang-1.26-go", "1.26.10-1"),
        ("golang-1.27-go", "1.27.3-1"),
        ("tini-static", "0.19.0-4"),
        ("tini", "0.19.0-4"),
        ("containerd", "1.7.24~ds1-7"),
        ("runc", "1.3.0+ds1-1"),
        ("docker-cli", "26.1.5+dfsg1-10"),
        ("docker-buildx", "0.19.3+ds1-1"),
    ),
}
NATIVE = ("bullseye", "bookworm", "trixie", "sid")

GO_MOD_TODAY = """\
module github.com/moby/moby/v2

go 1.26.3

toolchain go1.26.7

require (
\tgithub.com/containerd/containerd/v2 v2.1.4
)
"""
DOCKERFILE_TODAY = """\
# syntax=docker/dockerfile:1
ARG GO_VERSION=1.26.7
ARG BASE_DEBIAN_DISTRO="bookworm"
FROM golang:${GO_VERSION}-${BASE_DEBIAN_DISTRO} AS base
"""
VENDOR_MOD_2023 = """\
// This is a vendor.mod: moby is not a Go module yet.
module github.com/docker/docker

go 1.20

require github.com/containerd/containerd v1.7.11
"""
DOCKERFILE_2023 = 'ARG GO_VERSION=1.21.5\nARG BASE_DEBIAN_DISTRO="bookworm"\nFROM scratch\n'
DOCKERFILE_2017 = """\
FROM debian:jessie
ENV GO_VERSION 1.7.5
RUN curl -fsSL "https://golang.org/dl/go${GO_VERSION}.linux-amd64.tar.gz" | tar -xzC /usr/local
ENV DOCKER_BUILDTAGS apparmor pkcs11 seccomp selinux
WORKDIR /go/src/github.com/docker/docker
"""
MAKE_SH_2023 = "#!/usr/bin/env bash\nset -e\nexport DOCKER_PKG='github.com/docker/docker'\n"

BTRFS_GO = """\
//go:build linux

package btrfs

/*
#include <stdlib.h>
#include <dirent.h>
#include <btrfs/ioctl.h>
#include <btrfs/ctree.h>
*/
import "C"
"""
DEVMAPPER_GO = """\
package devicemapper

/*
#cgo LDFLAGS: -ldevmapper
  #  include <libdevmapper.h>
*/
import "C"
"""
PLAIN_GO = (
    "package btrfs\n\n// #include <btrfs/ioctl.h> is only a comment here: no cgo.\nfunc x() {}\n"
)


def need_2017() -> GoNeed:
    return go_need({"Dockerfile": DOCKERFILE_2017}, has_vendor=True)


def need_today(vendored: bool = True) -> GoNeed:
    return go_need({"go.mod": GO_MOD_TODAY, "Dockerfile": DOCKERFILE_TODAY}, has_vendor=vendored)


def module_need(minimum: tuple[int, ...]) -> GoNeed:
    return GoNeed(minimum, f"go.mod: go {'.'.join(map(str, minimum))}", MODULE, True)


# --- reading the source ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("1.26.3", (1, 26, 3)),
        ("go1.26.7", (1, 26, 7)),
        ("1.7.5", (1, 7, 5)),
        (" 1.21 \n", (1, 21)),
        ("1.22rc1", (1, 22)),
        ("1.25", (1, 25)),
        ("latest", ()),
        ("", ()),
    ],
)
def test_parse_version(text, version):
    assert parse_version(text) == version


def test_dockerfile_go_reads_arg_and_env():
    assert dockerfile_go(DOCKERFILE_TODAY) == ("1.26.7", "Dockerfile: GO_VERSION 1.26.7")
    assert dockerfile_go(DOCKERFILE_2017)[0] == "1.7.5"
    assert dockerfile_go('FROM x\narg GO_VERSION="1.20.4"\n')[0] == "1.20.4"
    assert dockerfile_go("ENV GO_VERSION=1.8.3\n")[0] == "1.8.3"
    # The first one counts; a later stage's override does not.
    assert dockerfile_go("ARG GO_VERSION=1.21.5\nFROM a\nARG GO_VERSION=1.9\n")[0] == "1.21.5"


def test_dockerfile_go_reads_a_literal_golang_base_when_no_go_version_is_set():
    # The 2019 layout: the Go is only in the first stage's base image.
    text = "FROM golang:1.12.5 AS base\nFROM base AS criu\n"
    assert dockerfile_go(text) == ("1.12.5", "Dockerfile: FROM golang:1.12.5")
    assert dockerfile_go("FROM docker.io/library/golang:1.10.4 AS base\n")[0] == "1.10.4"
    # GO_VERSION wins over the base image wherever it is.
    assert dockerfile_go("FROM golang:1.10.3 AS base\nENV GO_VERSION 1.10.4\n")[0] == "1.10.4"


def test_dockerfile_go_ignores_what_is_not_a_version():
    assert dockerfile_go(None) == ("", "")
    assert dockerfile_go("FROM golang:${GO_VERSION}-buster\n") == ("", "")
    assert dockerfile_go("FROM golang:latest\n") == ("", "")
    assert dockerfile_go("FROM golang\n") == ("", "")
    assert dockerfile_go("ARG GO_VERSION\n") == ("", "")
    assert dockerfile_go("ARG GO_VERSION_OTHER=1.2\n") == ("", "")
    assert dockerfile_go("# ENV GO_VERSION 1.7.5\n") == ("", "")


def test_dockerfile_build_tags_either_spelling():
    assert dockerfile_build_tags(DOCKERFILE_2017) == ("apparmor", "pkcs11", "seccomp", "selinux")
    assert dockerfile_build_tags('ENV DOCKER_BUILDTAGS="apparmor seccomp"\n') == (
        "apparmor",
        "seccomp",
    )
    assert dockerfile_build_tags("FROM x\n") == ()
    assert dockerfile_build_tags(None) == ()


def test_import_path_from_make_sh():
    assert import_path(MAKE_SH_2023) == "github.com/docker/docker"
    assert import_path('DOCKER_PKG="github.com/moby/moby"\n') == "github.com/moby/moby"
    assert import_path("#!/bin/sh\necho no package here\n") == IMPORT_PATH_2017
    assert import_path(None) == IMPORT_PATH_2017


def test_go_need_of_a_vendored_module():
    need = need_today()
    assert need.minimum == (1, 26, 3)
    assert need.source == "go.mod: go 1.26.3"
    assert need.mode == MODULE
    assert need.vendored
    assert need.import_path == ""
    # The toolchain line is the Go the era built with.
    assert need.preferred == "1.26.7"
    assert need.describe() == "Go >= 1.26.3 (go.mod: go 1.26.3), a module with vendor/"


def test_go_need_of_a_module_without_a_toolchain_line_prefers_the_dockerfile_go():
    go_mod = "module github.com/moby/moby/v2\n\ngo 1.24.0\n"
    need = go_need({"go.mod": go_mod, "Dockerfile": DOCKERFILE_TODAY}, has_vendor=False)
    assert (need.minimum, need.mode, need.vendored) == ((1, 24, 0), MODULE, False)
    assert need.preferred == "1.26.7"
    assert "vendor" not in need.describe()


def test_go_need_of_a_vendor_mod_source_takes_the_higher_of_its_two_versions():
    files = {
        "vendor.mod": VENDOR_MOD_2023,
        "Dockerfile": DOCKERFILE_2023,
        "hack/make.sh": MAKE_SH_2023,
    }
    need = go_need(files, has_vendor=True)
    assert need.mode == GOPATH
    assert need.minimum == (1, 21, 5)
    assert need.source == "Dockerfile: GO_VERSION 1.21.5"
    assert need.import_path == "github.com/docker/docker"
    assert need.preferred == "1.21.5"
    # Without the Dockerfile's Go, vendor.mod's go line decides.
    alone = go_need({"vendor.mod": VENDOR_MOD_2023}, has_vendor=True)
    assert (alone.minimum, alone.source) == ((1, 20), "vendor.mod: go 1.20")


def test_go_need_of_a_2017_source_reads_the_dockerfile():
    need = need_2017()
    assert need.minimum == (1, 7, 5)
    assert need.source == "Dockerfile: GO_VERSION 1.7.5"
    assert need.mode == GOPATH
    assert need.import_path == IMPORT_PATH_2017
    assert need.describe() == (
        "Go >= 1.7.5 (Dockerfile: GO_VERSION 1.7.5), GOPATH mode as github.com/docker/docker "
        "with vendor/"
    )


def test_go_need_of_a_checkout_naming_no_go():
    with pytest.raises(SourceError, match="names no Go version") as info:
        go_need({"Makefile": "all:\n", "Dockerfile": "FROM debian\n"}, has_vendor=False)
    assert "\n" not in info.value.one_line()
    with pytest.raises(SourceError):
        go_need({}, has_vendor=False)
    # A vendor.mod without a go line names nothing either.
    with pytest.raises(SourceError):
        go_need({"vendor.mod": "module github.com/docker/docker\n"}, has_vendor=True)


def test_a_go_mod_without_a_go_line_is_still_a_module():
    files = {"go.mod": "module github.com/moby/moby/v2\n", "Dockerfile": DOCKERFILE_TODAY}
    assert go_need(files, has_vendor=True).mode == MODULE


# --- choosing Debian's Go ----------------------------------------------------------------


def test_go_1_26_3_gets_sids_oldest_new_enough_go():
    choice = choose_go(need_today(), OFFERS, NATIVE)
    # trixie-backports' 1.26.11 is newer than needed; forky and sid tie at 1.26.10 and
    # debootstrap knows sid natively.
    assert choice == GoChoice("sid", "golang-1.26-go", "1.26.10-1", (1, 26, 10))
    assert choice.goroot == "/usr/lib/go-1.26"
    assert choice.short == "go1.26"


def test_go_1_7_5_gets_bullseyes_1_15():
    choice = choose_go(need_2017(), OFFERS, NATIVE)
    assert (choice.suite, choice.package, choice.version) == (
        "bullseye",
        "golang-1.15-go",
        (1, 15, 15),
    )
    assert choice.debian_version == "1.15.15-1~deb11u4"


def test_go_1_22_gets_bookworm_backports_1_23():
    choice = choose_go(module_need((1, 22)), OFFERS, NATIVE)
    assert (choice.suite, choice.package, choice.version) == (
        "bookworm-backports",
        "golang-1.23-go",
        (1, 23, 5),
    )


def test_a_go_nobody_offers_yet_is_refused_naming_the_newest_offered():
    with pytest.raises(SourceError) as info:
        choose_go(module_need((1, 30)), OFFERS, NATIVE)
    line = info.value.one_line()
    assert "needs Go 1.30 or newer (go.mod: go 1.30)" in line
    assert "the newest the Debian mirror offers is 1.27.3 (golang-1.27-go in" in line
    assert "debian_mirror" in line
    assert "\n" not in line


def test_a_mirror_without_any_go():
    offers = {"bookworm": suite_of(("tini", "0.19.0-1"), ("golang-1.19-src", "1.19.8-2"))}
    with pytest.raises(SourceError, match=r"offers no golang-1\.NN-go package"):
        choose_go(need_2017(), offers, NATIVE)


def test_the_exact_minimum_is_new_enough():
    choice = choose_go(module_need((1, 24, 4)), OFFERS, NATIVE)
    assert (choice.suite, choice.version) == ("trixie", (1, 24, 4))
    # One patch more than trixie has: the next Go up.
    assert choose_go(module_need((1, 24, 5)), OFFERS, NATIVE).suite == "sid"


def test_ties_between_releases_go_to_the_one_debootstrap_knows():
    assert choose_go(module_need((1, 27)), OFFERS, NATIVE).suite == "sid"
    # On a machine whose debootstrap knows forky too, the older suite wins the tie.
    assert choose_go(module_need((1, 27)), OFFERS, (*NATIVE, "forky")).suite == "forky"


def test_ties_between_a_release_and_its_backports_go_to_the_release():
    offers = {
        "trixie": suite_of(("golang-1.24-go", "1.24.4-1")),
        "trixie-backports": suite_of(("golang-1.24-go", "1.24.4-1~bpo13+1")),
    }
    assert choose_go(module_need((1, 24)), offers, NATIVE).suite == "trixie"


def test_ties_prefer_a_native_suite_over_a_release_debootstrap_does_not_know():
    offers = {
        "trixie-backports": suite_of(("golang-1.27-go", "1.27.3-1~bpo13+1")),
        "forky": suite_of(("golang-1.27-go", "1.27.3-1")),
    }
    assert choose_go(module_need((1, 27)), offers, NATIVE).suite == "trixie-backports"


def test_only_golang_1_nn_go_packages_count():
    offers = {
        "bookworm": suite_of(
            ("golang-1.19-go", "1.19.8-2"),
            ("golang-1.21-src", "1.21.0-1"),
            ("golang-go", "2:1.21~2"),
        )
    }
    assert choose_go(module_need((1, 19)), offers, NATIVE).package == "golang-1.19-go"
    with pytest.raises(SourceError, match=r"offers is 1\.19\.8"):
        choose_go(module_need((1, 20)), offers, NATIVE)


# --- build tags, environment, toolchain ------------------------------------------------------


def test_cgo_includes_reads_only_cgo_preambles():
    assert cgo_includes([BTRFS_GO, DEVMAPPER_GO, PLAIN_GO]) == [
        "stdlib.h",
        "dirent.h",
        "btrfs/ioctl.h",
        "btrfs/ctree.h",
        "libdevmapper.h",
    ]
    assert cgo_includes([PLAIN_GO]) == []
    assert cgo_includes([]) == []


LIBRARIES = {"libseccomp-dev", "libapparmor-dev", "libltdl-dev", "automake",
             "libselinux1-dev", "libbtrfs-dev"}  # fmt: skip
NO_DEVMAPPER = (
    "exclude_graphdriver_devicemapper: the static daemon needs libdevmapper.a, which Debian's "
    "libdevmapper-dev does not ship"
)


def test_build_tags_get_their_libraries_from_the_suite():
    includes = cgo_includes([BTRFS_GO, DEVMAPPER_GO])
    tags, packages, notes = build_tags(need_2017(), DOCKERFILE_2017, includes, LIBRARIES)
    # The release's tags and its btrfs driver; devicemapper cannot be linked statically.
    assert tags == ("apparmor", "pkcs11", "seccomp", "selinux", "exclude_graphdriver_devicemapper")
    assert packages == ("libapparmor-dev", "libltdl-dev", "automake", "libseccomp-dev",
                        "libselinux1-dev", "libbtrfs-dev")  # fmt: skip
    assert notes == (NO_DEVMAPPER,)


def test_build_tags_whose_library_the_suite_lacks_are_left_out_with_a_note():
    tags, packages, notes = build_tags(need_2017(), DOCKERFILE_2017, [], {"libseccomp-dev"})
    assert (tags, packages) == (("seccomp",), ("libseccomp-dev",))
    assert len(notes) == 3
    assert "build tag 'apparmor' left out: it needs libapparmor-dev, which the suite lacks" in notes
    kept, _, kept_notes = build_tags(need_2017(), 'ENV DOCKER_BUILDTAGS="journald seccomp"\n', [])
    assert kept == ("journald",)
    assert len(kept_notes) == 1


def test_graph_drivers_whose_headers_are_missing_are_excluded_once():
    includes = cgo_includes([BTRFS_GO, DEVMAPPER_GO])
    tags, packages, notes = build_tags(need_2017(), DOCKERFILE_2017, includes)
    assert tags == ("exclude_graphdriver_btrfs", "exclude_graphdriver_devicemapper")
    assert packages == ()
    graph_notes = [n for n in notes if n.startswith("exclude_graphdriver")]
    assert graph_notes == [
        "exclude_graphdriver_btrfs: that graph driver needs <btrfs/ioctl.h> from libbtrfs-dev, "
        "which the suite lacks",
        NO_DEVMAPPER,
    ]
    # Headers libc6-dev brings (today's btrfs driver) turn nothing off.
    assert build_tags(need_today(), None, ["linux/btrfs.h", "stdlib.h"]) == ((), (), ())
    # An exclusion the Dockerfile already asks for is not added again.
    asked = "ENV DOCKER_BUILDTAGS exclude_graphdriver_btrfs\n"
    assert build_tags(need_2017(), asked, ["btrfs/ioctl.h"]) == (
        ("exclude_graphdriver_btrfs",),
        (),
        (),
    )


def test_build_env_in_gopath_mode_turns_modules_off():
    env = dict(build_env(need_2017(), ("exclude_graphdriver_btrfs", "journald")))
    assert env["GO111MODULE"] == "off"
    assert env["GOTOOLCHAIN"] == "local"
    assert env["GOPATH"] == "/go"
    assert env["DOCKER_BUILDTAGS"] == "exclude_graphdriver_btrfs journald"
    assert "GOFLAGS" not in env


def test_build_env_of_a_vendored_module_uses_vendor():
    env = dict(build_env(need_today(vendored=True), ()))
    assert env["GOFLAGS"] == "-mod=vendor"
    assert env["GOTOOLCHAIN"] == "local"
    assert env["DOCKER_BUILDTAGS"] == ""
    assert "GO111MODULE" not in env
    plain = dict(build_env(need_today(vendored=False), ()))
    assert "GOFLAGS" not in plain and "GO111MODULE" not in plain
    assert plain["GOTOOLCHAIN"] == "local"


def test_make_toolchain_in_gopath_mode_works_at_the_import_path():
    need = go_need(
        {
            "vendor.mod": VENDOR_MOD_2023,
            "Dockerfile": DOCKERFILE_2023,
            "hack/make.sh": MAKE_SH_2023,
        },
        has_vendor=True,
    )
    go = choose_go(need, OFFERS, NATIVE)
    toolchain = make_toolchain(
        need,
        go,
        dockerfile=DOCKERFILE_2023,
        cgo_includes=[],
        workdir="/usr/src/moby",
        companions_from_debian=True,
    )
    assert toolchain.workdir == "/go/src/github.com/docker/docker"
    assert dict(toolchain.env)["GO111MODULE"] == "off"
    assert toolchain.go.suite == "bookworm-backports"
    assert toolchain.describe() == (
        "golang-1.23-go 1.23.5-1~bpo12+1 from Debian bookworm-backports for Go >= 1.21.5 "
        "(Dockerfile: GO_VERSION 1.21.5), GOPATH mode as github.com/docker/docker with vendor/"
    )


def test_make_toolchain_of_a_module_keeps_the_eras_workdir():
    need = need_today()
    toolchain = make_toolchain(
        need,
        choose_go(need, OFFERS, NATIVE),
        dockerfile=DOCKERFILE_TODAY,
        cgo_includes=["linux/btrfs.h"],
        workdir="/usr/src/moby",
        companions_from_debian=True,
    )
    assert toolchain.workdir == "/usr/src/moby"
    assert toolchain.build_tags == ()
    assert toolchain.notes == ()
    assert dict(toolchain.env)["GOFLAGS"] == "-mod=vendor"


def test_make_toolchain_of_2017_carries_tags_and_notes():
    need = need_2017()
    toolchain = make_toolchain(
        need,
        choose_go(need, OFFERS, NATIVE),
        dockerfile=DOCKERFILE_2017,
        cgo_includes=cgo_includes([BTRFS_GO, DEVMAPPER_GO]),
        workdir="/go/src/github.com/docker/docker",
        companions_from_debian=False,
    )
    assert toolchain.build_tags == ("exclude_graphdriver_btrfs", "exclude_graphdriver_devicemapper")
    assert len(toolchain.notes) == 6
    assert dict(toolchain.env)["DOCKER_BUILDTAGS"] == (
        "exclude_graphdriver_btrfs exclude_graphdriver_devicemapper"
    )
    assert not toolchain.companions_from_debian


def test_toolchain_round_trips_through_json():
    need = need_2017()
    toolchain = make_toolchain(
        need,
        choose_go(need, OFFERS, NATIVE),
        dockerfile=DOCKERFILE_2017,
        cgo_includes=["btrfs/ioctl.h"],
        workdir="/x",
        companions_from_debian=False,
    )
    again = Toolchain.from_dict(json.loads(json.dumps(toolchain.as_dict())))
    assert again == toolchain
    assert again.go.goroot == "/usr/lib/go-1.15"
    assert again.need.minimum == (1, 7, 5)


# --- the dev image's packages ----------------------------------------------------------------


def test_companions_from_debian_in_sid():
    packages, links, notes = companion_packages(OFFERS, "sid", from_debian=True)
    assert packages == [
        "iptables",
        "procps",
        "tini-static",
        "containerd",
        "runc",
        "docker-cli",
        "docker-buildx",
    ]
    assert ("/usr/local/bin/docker-init", "/usr/bin/tini-static") in links
    assert ("/usr/local/cli/docker", "/usr/bin/docker") in links
    assert notes == []


def test_companions_where_tini_is_not_split_out_and_there_is_no_docker_cli():
    packages, links, notes = companion_packages(OFFERS, "bookworm", from_debian=True)
    assert packages == ["iptables", "procps", "tini", "containerd", "runc"]
    assert links == [("/usr/local/bin/docker-init", "/usr/bin/tini-static")]
    assert notes == ["Debian bookworm has no docker-cli: use the host's CLI with DOCKER_HOST"]


def test_companions_of_a_backports_suite_come_from_its_base_suite():
    packages, links, notes = companion_packages(OFFERS, "trixie-backports", from_debian=True)
    assert packages == [
        "iptables",
        "procps",
        "tini",
        "containerd",
        "runc",
        "docker-cli",
        "docker-buildx",
    ]
    assert ("/usr/local/cli/docker", "/usr/bin/docker") in links
    assert notes == []


def test_companions_built_from_source_leave_out_debians_daemon_parts():
    packages, links, notes = companion_packages(OFFERS, "bullseye", from_debian=False)
    assert packages == ["iptables", "procps", "tini"]
    assert links == [("/usr/local/bin/docker-init", "/usr/bin/tini-static")]
    assert notes == []
    assert not {"containerd", "runc", "docker-cli"} & set(packages)


def test_missing_companions_are_said():
    offers = {"bookworm": suite_of(("golang-1.19-go", "1.19.8-2"))}
    packages, links, notes = companion_packages(offers, "bookworm", from_debian=True)
    assert packages == ["iptables", "procps"]
    assert links == []
    assert "Debian bookworm has no tini: `docker run --init` will not work" in notes
    assert "Debian bookworm has no containerd: the daemon cannot run containers" in notes
    assert "Debian bookworm has no runc: the daemon cannot run containers" in notes
    assert any("no docker-cli" in n for n in notes)


def test_build_packages():
    need = need_today()
    go = choose_go(need, OFFERS, NATIVE)
    module = build_packages(need, go)
    assert module[0] == "golang-1.26-go"
    assert {"git", "make", "gcc", "libc6-dev", "pkg-config", "ca-certificates"} <= set(module)
    assert "libsystemd-dev" in module
    gopath = build_packages(need_2017(), choose_go(need_2017(), OFFERS, NATIVE))
    assert gopath[0] == "golang-1.15-go"
    assert "libsystemd-dev" not in gopath

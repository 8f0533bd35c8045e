"""Which route builds a checkout: the base images of its Dockerfile, and upstream vs source."""

from __future__ import annotations

import pytest

from mobylab.dev.routes import (
    Route,
    RouteFacts,
    choose_route,
    external_images,
    needs_buildx,
    upstream_problem,
)
from mobylab.errors import BuildError, UsageError

DOCKERFILE = """\
# syntax=docker/dockerfile:1

ARG GO_VERSION=1.21.5
ARG BASE_DEBIAN_DISTRO="bookworm"
ARG XX_VERSION=1.2.1
ARG SYSTEMD="false"
ARG REGISTRY

# xx is a helper for cross-compilation
FROM --platform=$BUILDPLATFORM tonistiigi/xx:${XX_VERSION} AS xx

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-${BASE_DEBIAN_DISTRO} AS base
RUN echo building \\
    FROM notanimage

FROM base AS criu
FROM Base AS other
FROM scratch AS binary-dummy
FROM ${REGISTRY:-docker.io}/library/debian:$BASE_DEBIAN_DISTRO AS runtime
FROM ${UNSET_IMAGE} AS from-a-variable
FROM golang:${GO_VERSION}-${BASE_DEBIAN_DISTRO} AS again
FROM xx AS xx-again
FROM --platform=linux/amd64 busybox:1.36
"""


def facts(**changes) -> RouteFacts:
    values = {
        "buildx": True,
        "make": True,
        "registry_answers": True,
        "registry_detail": "registry-1.docker.io:443 answers",
        "missing_images": (),
    }
    values.update(changes)
    return RouteFacts(**values)


# --- base images -----------------------------------------------------------------------------


def test_external_images_of_a_multi_stage_dockerfile():
    assert external_images(DOCKERFILE) == [
        "tonistiigi/xx:1.2.1",
        "golang:1.21.5-bookworm",
        "docker.io/library/debian:bookworm",
        "busybox:1.36",
    ]


def test_stage_names_and_scratch_are_not_images():
    images = external_images(DOCKERFILE)
    assert "base" not in images and "Base" not in images
    assert "xx" not in images
    assert not any(i.lower() == "scratch" for i in images)
    assert external_images("FROM SCRATCH\nCOPY x /\n") == []


def test_arg_defaults_quotes_and_the_default_form():
    text = "ARG A='alpine'\nARG TAG=\"3.19\"\nFROM ${A}:$TAG\nFROM ${MISSING:-debian:bookworm}\n"
    assert external_images(text) == ["alpine:3.19", "debian:bookworm"]


def test_the_first_arg_default_counts():
    text = "ARG IMAGE=alpine:3.19\nARG IMAGE=busybox\nFROM $IMAGE\n"
    assert external_images(text) == ["alpine:3.19"]


def test_an_image_that_stays_a_variable_is_left_out():
    assert external_images("FROM ${UNSET}\nFROM $ALSO_UNSET AS x\n") == []
    assert external_images("ARG NO_DEFAULT\nFROM $NO_DEFAULT\n") == []


def test_duplicates_once_in_first_seen_order():
    text = "FROM debian:bookworm AS a\nFROM alpine\nFROM debian:bookworm AS b\nFROM alpine\n"
    assert external_images(text) == ["debian:bookworm", "alpine"]


def test_no_dockerfile_no_images():
    assert external_images("") == []
    assert external_images("# only a comment\nRUN true\n") == []


def test_continued_from_lines_and_comments():
    text = "# FROM commented:out\nFROM \\\n  --platform=$TARGETPLATFORM \\\n  alpine:3.19 AS x\n"
    assert external_images(text) == ["alpine:3.19"]


def test_an_image_with_an_unset_variable_inside_is_left_out():
    assert external_images("FROM golang:${GO_VERSION}-alpine AS base\n") == []


def test_an_arg_default_built_from_earlier_args():
    text = (
        "ARG GO_VERSION=1.21.5\n"
        'ARG BASE_DEBIAN_DISTRO="bookworm"\n'
        'ARG GOLANG_IMAGE="golang:${GO_VERSION}-${BASE_DEBIAN_DISTRO}"\n'
        "FROM --platform=$BUILDPLATFORM ${GOLANG_IMAGE} AS base\n"
    )
    assert external_images(text) == ["golang:1.21.5-bookworm"]


# --- the route -----------------------------------------------------------------------------


def test_upstream_when_everything_is_at_hand():
    assert upstream_problem(True, facts()) == ""
    route, why = choose_route("auto", True, facts())
    assert route == Route.UPSTREAM
    assert "can work here" in why
    # Missing images are fine when a registry answers.
    assert choose_route("auto", False, facts(missing_images=("golang:1.21",)))[0] == Route.UPSTREAM


def test_auto_picks_source_without_make():
    route, why = choose_route("auto", False, facts(make=False))
    assert route == Route.SOURCE
    assert why == "the era's own make cannot work here: make is not installed"


def test_auto_picks_source_without_buildx_where_the_makefile_needs_it():
    route, why = choose_route("auto", True, facts(buildx=False))
    assert route == Route.SOURCE
    assert "docker buildx" in why and "no buildx plugin" in why
    # A Makefile that never calls buildx does not need it.
    assert choose_route("auto", False, facts(buildx=False))[0] == Route.UPSTREAM


def test_auto_picks_source_when_base_images_are_missing_and_no_registry_answers():
    missing = ("golang:1.21.5-bookworm", "tonistiigi/xx:1.2.1", "debian:bookworm", "busybox")
    route, why = choose_route(
        "auto",
        False,
        facts(registry_answers=False, registry_detail="connection refused", missing_images=missing),
    )
    assert route == Route.SOURCE
    assert "golang:1.21.5-bookworm, tonistiigi/xx:1.2.1, debian:bookworm and 1 more" in why
    assert "no registry answers (connection refused)" in why
    one = upstream_problem(False, facts(registry_answers=False, missing_images=("alpine",)))
    assert "FROM alpine, which" in one and "more" not in one


def test_nothing_missing_needs_no_registry():
    assert choose_route("auto", False, facts(registry_answers=False))[0] == Route.UPSTREAM


def test_make_is_the_first_problem_said():
    problem = upstream_problem(True, facts(make=False, buildx=False, registry_answers=False))
    assert problem == "make is not installed"


def test_route_upstream_with_a_problem_says_why_and_names_the_source_route():
    with pytest.raises(BuildError) as info:
        choose_route("upstream", True, facts(buildx=False))
    error = info.value
    assert error.message.startswith("the upstream route cannot work here: its Makefile runs")
    assert "--route source" in error.hint
    assert "invoke engine.buildx" in error.hint
    with pytest.raises(BuildError) as no_make:
        choose_route("upstream", False, facts(make=False))
    assert "make is not installed" in no_make.value.message
    assert "--route source" in no_make.value.hint
    assert "buildx" not in no_make.value.hint


def test_asked_routes():
    assert choose_route("upstream", True, facts()) == (
        Route.UPSTREAM,
        "asked for (--route upstream)",
    )
    # --route source is taken even when upstream would work, and when it would not.
    assert choose_route("source", True, facts()) == (Route.SOURCE, "asked for (--route source)")
    assert choose_route("source", True, facts(make=False))[0] == Route.SOURCE


def test_an_unknown_route_is_a_usage_error():
    with pytest.raises(UsageError, match="--route 'fast' is not a route"):
        choose_route("fast", False, facts())
    with pytest.raises(UsageError):
        choose_route("Upstream", False, facts())


def test_needs_buildx():
    assert needs_buildx([["$(BAKE_CMD) binary"]])
    assert needs_buildx([["mkdir bundles"], ["docker buildx bake binary"]])
    assert needs_buildx([["$(BUILDX) build --load -t x ."]])
    assert needs_buildx([["${BUILDX} build ."]])
    assert not needs_buildx(
        [["docker build -t docker-dev ."], ["$(DOCKER_RUN_DOCKER) hack/make.sh"]]
    )
    assert not needs_buildx([])

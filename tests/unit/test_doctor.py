"""The doctor's decisions, from plain facts."""

from __future__ import annotations

import json
import socket
from dataclasses import replace

import pytest

from mobylab import __version__
from mobylab.config import merge_settings
from mobylab.doctor import (
    FAIL,
    OK,
    WARN,
    Facts,
    evaluate,
    reach,
    registry_address,
    summary,
)

GB = 1000**3

HEALTHY = Facts(
    python=(3, 11, 7),
    docker_cli="/usr/bin/docker",
    dockerd="/usr/sbin/dockerd",
    engine_url="unix:///var/run/docker.sock",
    engine_kind="host",
    server_version="20.10.24",
    api_version="1.41",
    privileged=True,
    cgroup_version="1",
    buildkit=True,
    buildx=True,
    workspace="/w",
    free_bytes=50 * GB,
    git="/usr/bin/git",
    make="/usr/bin/make",
    debootstrap="/usr/sbin/debootstrap",
    registry="online",
    registry_detail="registry-1.docker.io:443 answers",
    images={"golang": True, "runtime": True, "dind": True},
    is_root=True,
)


def statuses(facts: Facts) -> dict[str, str]:
    return {check.name: check.status for check in evaluate(facts)}


def check(facts: Facts, name: str):
    return next(c for c in evaluate(facts) if c.name == name)


def test_a_healthy_machine_is_all_ok() -> None:
    assert set(statuses(HEALTHY).values()) == {OK}
    assert summary(evaluate(HEALTHY))["ok"] is True


def test_every_check_that_is_not_ok_has_a_hint() -> None:
    broken = Facts()
    for item in evaluate(broken):
        assert item.status in (OK, WARN, FAIL)
        if item.status != OK:
            assert item.hint, item.name


def test_no_docker_cli_fails() -> None:
    assert statuses(replace(HEALTHY, docker_cli=""))["docker CLI"] == FAIL


def test_old_python_fails() -> None:
    assert statuses(replace(HEALTHY, python=(3, 9, 2)))["python"] == FAIL


def test_no_engine_warns_when_the_private_one_can_start() -> None:
    facts = replace(HEALTHY, engine_url="", engine_error="no Docker engine answers")
    result = statuses(facts)
    assert result["engine"] == WARN
    assert "engine.up" in check(facts, "engine").hint
    assert result["engine API"] == WARN


@pytest.mark.parametrize("change", [{"dockerd": ""}, {"is_root": False}])
def test_no_engine_fails_when_none_can_start(change: dict) -> None:
    facts = replace(HEALTHY, engine_url="", engine_error="no Docker engine answers", **change)
    assert statuses(facts)["engine"] == FAIL
    assert summary(evaluate(facts))["ok"] is False


def test_a_configured_engine_that_does_not_answer_fails() -> None:
    facts = replace(HEALTHY, engine_url="", engine_error="refused", engine_explicit=True)
    assert statuses(facts)["engine"] == FAIL


def test_engines_older_than_multistage_fail() -> None:
    facts = replace(HEALTHY, server_version="17.03.2", api_version="1.27")
    assert statuses(facts)["engine API"] == FAIL
    assert statuses(replace(HEALTHY, api_version="1.29"))["engine API"] == OK


def test_privileged_refused_with_working_fallback_is_ok() -> None:
    facts = replace(
        HEALTHY, privileged=False, fallback_works=True, missing_capabilities=["SYS_RESOURCE"]
    )
    item = check(facts, "privileged containers")
    assert item.status == OK and "SYS_RESOURCE" in item.detail


def test_privileged_and_fallback_refused_is_only_a_warning() -> None:
    facts = replace(HEALTHY, privileged=False, fallback_works=False)
    assert statuses(facts)["privileged containers"] == WARN
    assert summary(evaluate(facts))["ok"] is True


def test_cgroup_v2_warns_for_old_daemons() -> None:
    assert statuses(replace(HEALTHY, cgroup_version="2"))["cgroups"] == WARN


def test_buildkit_without_buildx_warns() -> None:
    assert statuses(replace(HEALTHY, buildx=False))["BuildKit"] == WARN
    assert statuses(replace(HEALTHY, buildkit=False, buildx=False))["BuildKit"] == WARN


@pytest.mark.parametrize(
    ("free", "status"), [(1 * GB, FAIL), (5 * GB, WARN), (20 * GB, OK), (None, WARN)]
)
def test_free_disk(free: int | None, status: str) -> None:
    assert statuses(replace(HEALTHY, free_bytes=free))["free disk"] == status


def test_missing_tools_warn() -> None:
    result = statuses(replace(HEALTHY, git="", make="", debootstrap=""))
    assert (result["git"], result["make"], result["debootstrap"]) == (WARN, WARN, WARN)


def test_offline_is_a_warning_not_a_failure() -> None:
    facts = replace(HEALTHY, registry="offline", registry_detail="no route")
    item = check(facts, "registry")
    assert item.status == WARN and "offline" in item.detail


def test_missing_images_warn_when_they_can_be_made() -> None:
    facts = replace(HEALTHY, registry="offline", images={"golang": False, "runtime": True})
    item = check(facts, "offline images")
    assert item.status == WARN and "images.bootstrap" in item.hint and "golang" in item.detail


def test_missing_images_fail_offline_when_they_cannot_be_made() -> None:
    facts = replace(HEALTHY, registry="offline", debootstrap="", images={"golang": False})
    item = check(facts, "offline images")
    assert item.status == FAIL and "images.load" in item.hint
    # Online, a registry can stand in for them.
    online = replace(facts, registry="online")
    assert check(online, "offline images").status == WARN


def test_not_root_warns() -> None:
    assert statuses(replace(HEALTHY, is_root=False))["root"] == WARN


def test_summary_is_plain_json() -> None:
    document = summary(evaluate(replace(HEALTHY, docker_cli="")))
    again = json.loads(json.dumps(document))
    assert again["ok"] is False and again["version"] == __version__
    assert set(again["checks"][0]) == {"name", "status", "detail", "hint"}


def test_registry_address() -> None:
    assert registry_address(merge_settings(environ={})) == ("registry-1.docker.io", 443)
    probe = {"MOBYLAB_REGISTRY_PROBE": "127.0.0.1:5000"}
    assert registry_address(merge_settings(environ=probe)) == ("127.0.0.1", 5000)


def test_reach_a_listening_and_a_closed_loopback_port() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert reach(("127.0.0.1", port), timeout=2)[0] is True
    ok, detail = reach(("127.0.0.1", port), timeout=2)
    assert ok is False and str(port) in detail

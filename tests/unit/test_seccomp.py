"""The seccomp profile a dev daemon gets when its source's default predates clone3."""

from __future__ import annotations

import json

from mobylab.dev.container import daemon_seccomp_profile, dockerd_args
from mobylab.dev.plan import plan_from_files, read_plan
from mobylab.dev.seccomp import BUILDKIT_EXECUTOR, buildkit_note, outdated_profile, with_clone3
from tests.fixtures.enginesrc import git, make_engine_source
from tests.unit.test_plan import CHECKOUT, COMMIT, files_of, plan_of

PROFILE_2017 = json.dumps(
    {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0}]},
            {"names": ["chown"], "action": "SCMP_ACT_ALLOW", "args": []},
        ],
    }
)
PROFILE_2021 = '{"defaultErrnoRet": 1, "syscalls": [{"names": ["clone3"], "errnoRet": 38}]}'


def test_a_profile_without_clone3_is_the_one_the_daemon_replaces():
    assert outdated_profile({"profiles/seccomp/default.json": PROFILE_2017}) == (
        "profiles/seccomp/default.json"
    )
    # Today's source keeps it as a module; it names clone3.
    vendored = "vendor/github.com/moby/profiles/seccomp/default.json"
    assert outdated_profile({vendored: PROFILE_2021}) == ""
    assert outdated_profile({}) == ""


def test_clone3_is_allowed_and_every_other_rule_kept():
    patched = json.loads(with_clone3(PROFILE_2017))
    original = json.loads(PROFILE_2017)
    assert patched["defaultAction"] == "SCMP_ACT_ERRNO"
    assert patched["syscalls"][:2] == original["syscalls"]
    assert patched["syscalls"][2]["names"] == ["clone3"]
    assert patched["syscalls"][2]["action"] == "SCMP_ACT_ALLOW"
    assert outdated_profile({"profiles/seccomp/default.json": with_clone3(PROFILE_2017)}) == ""


def test_the_plan_names_the_profile_and_the_daemon_gets_the_flag():
    files = files_of("2017") | {"profiles/seccomp/default.json": PROFILE_2017}
    plan = plan_from_files(files, checkout=CHECKOUT, commit=COMMIT, branch="master")
    assert plan.seccomp_profile == "profiles/seccomp/default.json"
    assert any("predates clone3" in note for note in plan.notes)
    inside = daemon_seccomp_profile(plan)
    assert inside == "/go/src/github.com/docker/docker/bundles/mobylab-seccomp.json"
    assert f"--seccomp-profile={inside}" in dockerd_args("overlay2", False, None, inside)
    # The cache tells the two apart, and the manifest keeps the fact.
    without = plan_of("2017")
    assert without.seccomp_profile == "" and daemon_seccomp_profile(without) == ""
    assert plan.key != without.key
    assert type(plan).from_dict(plan.as_dict()).seccomp_profile == plan.seccomp_profile
    assert not any(a.startswith("--seccomp") for a in dockerd_args("overlay2", False))


def test_a_buildkit_with_its_own_old_profile_is_said_in_the_plan(tmp_path):
    """2018-2021 sources vendor a BuildKit whose RUN steps keep a compiled-in profile:
    the daemon's flag does not reach them, and dev.plan says what that means."""
    source = make_engine_source(tmp_path / "engine", "2017")
    (source.path / "profiles" / "seccomp").mkdir(parents=True)
    (source.path / "profiles" / "seccomp" / "default.json").write_text(PROFILE_2017)
    git(source.path, "add", "-A")
    git(source.path, "commit", "-q", "-m", "profile")
    assert not any("BuildKit runs RUN steps" in note for note in read_plan(source.path).notes)
    (source.path / BUILDKIT_EXECUTOR).mkdir(parents=True)
    noted = [note for note in read_plan(source.path).notes if "BuildKit runs RUN steps" in note]
    assert len(noted) == 1 and "DOCKER_BUILDKIT=0" in noted[0]
    assert buildkit_note("", [BUILDKIT_EXECUTOR]) == ""

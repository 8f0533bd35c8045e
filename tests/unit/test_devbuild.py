"""Pure parts of dev.build: the make command line, its docker run override, phases, the cache."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from mobylab.dev.build import (
    BuildView,
    PhaseClock,
    phase_of,
    place_beside_daemon,
    recipe_exit_code,
    scan_bundles,
)
from mobylab.dev.build_upstream import docker_run_override, make_argv
from mobylab.dev.manifest import BuildManifest, BundleLink, Bundles, Phase
from mobylab.dev.plan import plan_from_files
from mobylab.engine import PRIVILEGED
from mobylab.engine._probe import fallback_security
from tests.fixtures.enginesrc import era_files

COMMIT = "0123456789abcdef0123456789abcdef01234567"
# A bounding set without CAP_SYS_RESOURCE (bit 24), like the machines that refuse --privileged.
REFUSING = fallback_security((1 << 41) - 1 & ~(1 << 24), 40)


def plan_of(era: str, branch: str | None = "master", checkout: Path = Path("/src")):
    files: dict[str, str | None] = {name: text for name, (text, _) in era_files(era).items()}
    return plan_from_files(files, checkout=checkout, commit=COMMIT, branch=branch)


def test_override_replaces_privileged_and_keeps_make_references():
    value = "docker run --rm -i --privileged $(DOCKER_ENVS) $(DOCKER_MOUNT) $(DOCKER_PORT_FORWARD)"
    flags = REFUSING.cli_flags()
    out = docker_run_override(value, flags, ["--label", "org.mobylab.build=abc"])
    assert "--privileged" not in out
    assert out.startswith("docker run --cap-add=ALL --cap-drop=SYS_RESOURCE ")
    assert "'--device-cgroup-rule=a *:* rwm'" in out
    assert "--label org.mobylab.build=abc" in out
    assert out.endswith("--rm -i $(DOCKER_ENVS) $(DOCKER_MOUNT) $(DOCKER_PORT_FORWARD)")


def test_override_keeps_privileged_when_the_engine_allows_it():
    value = "$(DOCKER) run --rm --privileged $(DOCKER_CONTAINER_NAME) -t $(DOCKER_ENVS)"
    out = docker_run_override(value, PRIVILEGED.cli_flags(), ["--label", "x=1"])
    assert (
        out == "$(DOCKER) run --privileged --label x=1 --rm $(DOCKER_CONTAINER_NAME) $(DOCKER_ENVS)"
    )


def test_make_argv_for_2017_on_a_refusing_engine():
    plan = plan_of("2017")
    argv, notes = make_argv(plan, security=REFUSING, build_id="b123")
    assert argv[0] == "make" and argv[-1] == "tgz"
    assert "BIND_DIR=bundles" in argv
    flags = next(a for a in argv if a.startswith("DOCKER_FLAGS="))
    assert "--privileged" not in flags
    assert "--label org.mobylab.build=b123" in flags
    assert "--label org.mobylab.managed=true" in flags
    build_args = next(a for a in argv if a.startswith("DOCKER_BUILD_ARGS="))
    assert "--label org.mobylab.managed=true" in build_args
    assert any("refuses --privileged" in note and "DOCKER_FLAGS=" in note for note in notes)


def test_make_argv_pins_the_image_on_a_detached_head():
    argv, _ = make_argv(plan_of("2017", None), security=PRIVILEGED, build_id="b")
    assert argv[1] == f"DOCKER_IMAGE=docker-dev:{COMMIT[:12]}"


def test_make_argv_today():
    argv, notes = make_argv(plan_of("today"), security=PRIVILEGED, build_id="b")
    assert argv[-1] == "binary"
    assert next(a for a in argv if a.startswith("DOCKER_FLAGS=")).startswith(
        "DOCKER_FLAGS=$(DOCKER) run --privileged --label"
    )
    assert notes == []


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_the_override_reaches_the_recipe_as_separate_words(tmp_path: Path):
    """Real make and sh: each flag arrives as one word, the quoted rule with its spaces."""
    (tmp_path / "Makefile").write_text(
        "DOCKER_ENVS := -e A\n"
        "DOCKER_FLAGS := printf '[%s]\\n' run --rm -i --privileged $(DOCKER_ENVS)\n"
        "INTERACTIVE := 1\n"
        "ifeq ($(INTERACTIVE), 1)\n\tDOCKER_FLAGS += -t\nendif\n"
        "tgz:\n\t$(DOCKER_FLAGS) image\n"
    )
    plan = plan_from_files(
        {
            "Makefile": (tmp_path / "Makefile")
            .read_text()
            .replace("printf '[%s]\\n' run", "docker run")
            + "\nbinary:\n\techo\n"
        },
        checkout=tmp_path,
        commit=COMMIT,
        branch="master",
    )
    argv, _ = make_argv(plan, security=REFUSING, build_id="b1")
    flags = next(a for a in argv if a.startswith("DOCKER_FLAGS="))
    flags = flags.replace("DOCKER_FLAGS=docker run", "DOCKER_FLAGS=printf '[%s]\\n' run", 1)
    result = subprocess.run(
        ["make", "-s", flags, "tgz"], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    words = result.stdout.splitlines()
    assert "[--device-cgroup-rule=a *:* rwm]" in words
    assert "[--security-opt=systempaths=unconfined]" in words
    assert "[--privileged]" not in words and "[-t]" not in words
    assert words[-3:] == ["[-e]", "[A]", "[image]"]


def test_recipe_exit_code():
    tail = ["hack/make.sh: failing", "make: *** [Makefile:79: tgz] Error 3"]
    assert recipe_exit_code(tail) == 3
    assert recipe_exit_code(["make[1]: *** [Makefile:9: all] Error 127"]) == 127
    assert recipe_exit_code(["nothing"]) is None


def test_phases():
    assert phase_of("---> Making bundle: dynbinary (in bundles/17.05.0-dev/dynbinary)") == (
        "bundle dynbinary"
    )
    assert phase_of("Sending build context to Docker daemon  1.2MB") == "dev image"
    assert phase_of("Step 1/9 : FROM mobylab/dind:bookworm") == "dev image"
    assert phase_of("Step 2/9 : ENV X") is None
    clock = PhaseClock(now=0.0)
    clock.switch("dev image", now=1.0)
    clock.switch("bundle binary", now=4.0)
    clock.switch("bundle binary", now=5.0)
    assert clock.finish(now=6.5) == [
        Phase("make", 1.0),
        Phase("dev image", 3.0),
        Phase("bundle binary", 2.5),
    ]


def test_a_build_inside_a_larger_run_shows_its_phases_only(capsys: pytest.CaptureFixture[str]):
    """Off a terminal dev.build echoes every line; a scenario's build, one line a phase."""
    lines = ["Sending build context to Docker daemon", "Step 2/9 : ENV X",
             "---> Making bundle: binary (in bundles/binary)", "go build ..."]  # fmt: skip
    every = BuildView(False, PhaseClock(), "build abc")
    for line in lines:
        every.on_line(line)
    assert capsys.readouterr().err.splitlines() == lines
    phases = BuildView(False, PhaseClock(), "build abc", every_line=False)
    for line in lines:
        phases.on_line(line)
    shown = [line.rsplit(" (", 1)[0] for line in capsys.readouterr().err.splitlines()]
    assert shown == ["  build abc: dev image", "  build abc: bundle binary"]


def test_scan_and_cache(tmp_path: Path):
    plan = plan_of("today", checkout=tmp_path)
    daemon = tmp_path / "bundles" / "binary-daemon"
    daemon.mkdir(parents=True)
    binary = daemon / "dockerd"
    binary.write_bytes(b"\x7fELF" + b"\0" * 60)  # not runnable: version None
    (daemon / "dockerd.sha256").write_text("x\n")
    (tmp_path / "bundles" / "latest").symlink_to(".")
    (daemon / "docker.tgz").write_bytes(b"archive")
    found = scan_bundles(tmp_path)
    assert [b.path for b in found.binaries] == ["bundles/binary-daemon/dockerd"]
    assert found.binaries[0].version is None
    assert found.binaries[0].size == 64
    assert [a.path for a in found.archives] == ["bundles/binary-daemon/docker.tgz"]
    assert found.symlinks == (BundleLink("bundles/latest", "."),)
    manifest = BuildManifest(plan, plan.key, found, tmp_path, tmp_path / "bundles")
    assert manifest.cache_valid(plan)
    assert not replace(manifest, plan_key="other").cache_valid(plan)
    assert not replace(manifest, bundles=Bundles()).cache_valid(plan)
    binary.write_bytes(b"\x7fELF" + b"\1" * 70)  # rebuilt by something else
    assert not manifest.cache_valid(plan)


def test_a_manifest_reads_and_writes_the_json_it_always_had(tmp_path: Path):
    """Every key dev.build wrote before it had records, the route's own facts included."""
    plan = plan_of("today", checkout=tmp_path)
    data = {
        "commit": plan.commit, "plan_key": plan.key, "plan": plan.as_dict(),
        "route": plan.route.name.value, "target": plan.target,
        "argv": ["make", "binary"], "commands": [["make", "binary"]],
        "built_at": "2026-12-05T05:00:00+0000", "seconds": 74.5,
        "phases": [{"name": "make", "seconds": 70.0}, {"name": "manifest", "seconds": 4.5}],
        "log": str(tmp_path / "build.log"), "engine": "unix:///var/run/docker.sock",
        "source_dir": str(tmp_path), "bundles_dir": str(tmp_path / "bundles"),
        "security": "no privileges", "dev_image": "mobylab/docker-dev:x", "cache_volumes": ["v"],
        "binaries": [{"path": "bundles/binary-daemon/dockerd", "name": "dockerd", "size": 64,
                      "mtime_ns": 5, "sha256": "ab" * 32, "version": "Docker version dev"}],
        "archives": [{"path": "bundles/x.tgz", "size": 7, "sha256": "cd" * 32}],
        "symlinks": [{"path": "bundles/latest", "target": "."}],
    }  # fmt: skip
    manifest = BuildManifest.from_dict(data)
    assert manifest.to_dict() == data
    assert manifest.route_facts == {
        "security": "no privileges", "dev_image": "mobylab/docker-dev:x", "cache_volumes": ["v"]
    }  # fmt: skip
    assert manifest.phases[1] == Phase("manifest", 4.5)
    # An older manifest without source_dir or bundles_dir: the plan's checkout.
    older = BuildManifest.from_dict({"plan": plan.as_dict(), "plan_key": plan.key})
    assert older.bundles_dir == plan.checkout / "bundles" and older.bundles == Bundles()


def test_one_build_at_a_time_per_checkout(tmp_path: Path, workspace, session):
    from mobylab.dev.build import build_lock, run_build
    from mobylab.errors import BuildError

    plan = plan_of("today", checkout=tmp_path)
    busy = pytest.raises(BuildError, match=r"another dev\.build")
    with build_lock(workspace, tmp_path), busy:
        run_build(workspace, plan, None, PRIVILEGED, settings=session.settings)  # type: ignore[arg-type]


def test_a_build_named_by_a_commit_prefix(tmp_path: Path) -> None:
    from mobylab.dev.build import BuildRecord, pick_build
    from mobylab.errors import BuildError, UsageError
    from tests.unit.test_build_source import today_source

    def record(commit: str, route: str = "source") -> BuildRecord:
        plan = today_source() if route == "source" else plan_of("today")
        built = dataclasses.replace(plan, commit=commit)
        manifest = BuildManifest(built, built.key, Bundles(), tmp_path, tmp_path / "bundles")
        return BuildRecord(manifest, tmp_path / "m.json")

    builds = [
        record("2fa8fe400d926b3ceb0c84640a8f4e0f36e51463"),
        record("2fa8fe400d926b3ceb0c84640a8f4e0f36e51463", "upstream"),
        record("2e96c1739be45f2ff8342cb3e222db3eb1616839"),
        record("2e96c17aaaa5aaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
    ]
    # Two routes of one commit are one build (the newest first).
    assert pick_build(builds, "2fa8fe4").plan.route.name == "source"
    with pytest.raises(UsageError, match="'2e96c17' names 2 builds"):
        pick_build(builds, "2e96c17")
    assert pick_build(builds, "2E96C1739").plan.commit.startswith("2e96c1739")
    with pytest.raises(BuildError, match="no build of a commit starting with 'abcdef0'"):
        pick_build(builds, "abcdef0")


def test_companions_are_put_beside_the_daemon_where_the_build_did_not(tmp_path: Path):
    made = tmp_path / "companions"
    made.mkdir()
    for name in ("docker-proxy", "docker-runc"):
        (made / name).write_text(f"#!/bin/sh\necho {name}\n")
    daemon = tmp_path / "src" / "bundles" / "binary-daemon"
    daemon.mkdir(parents=True)
    (daemon / "docker-runc").write_text("the build's own\n")
    dirs = ("bundles/latest/binary-daemon", "bundles/binary-daemon")
    files = sorted(made.iterdir())
    placed = place_beside_daemon(tmp_path / "src", dirs, files)
    assert placed == [daemon / "docker-proxy"]
    assert (daemon / "docker-proxy").read_text() == "#!/bin/sh\necho docker-proxy\n"
    assert (daemon / "docker-runc").read_text() == "the build's own\n"
    # Nothing to put, or no daemon folder: nothing happens.
    assert place_beside_daemon(tmp_path / "src", dirs, files) == []
    assert place_beside_daemon(tmp_path / "none", dirs, files) == []

"""Pure decisions of the dev environment: names, security, daemon flags, seeding, cleaning."""

from __future__ import annotations

from pathlib import Path

import pytest

from mobylab import labels
from mobylab.dev.clean import is_dev_resource, label_filters
from mobylab.dev.container import (
    LABEL_KEY,
    DevNames,
    DevStatus,
    bundle_mount_target,
    choose_security,
    dockerd_args,
    host_daemon_dirs,
    last_start_section,
    resource_labels,
    start_failure,
    status_rows,
    storage_driver_refused,
    uptime_text,
)
from mobylab.dev.plan import BuildPlan, Era
from mobylab.dev.seed import _load_errors, needs_copy, normalise_ref, save_name
from mobylab.engine import RunSecurity
from mobylab.errors import DevEnvError
from mobylab.tasks.dev.console import command_after_dashes

FALLBACK = RunSecurity(
    privileged=False,
    cap_add=("ALL",),
    cap_drop=("SYS_RESOURCE",),
    security_opt=("seccomp=unconfined",),
    device_cgroup_rules=("a *:* rwm",),
)


def _plan(**changes: object) -> BuildPlan:
    values: dict[str, object] = dict(
        checkout=Path("/src/engine"),
        commit="a" * 40,
        era=Era.TGZ,
        target="tgz",
        dev_image="docker-dev:master",
        workdir="/go/src/github.com/docker/docker",
        version="17.05.0-dev",
        daemon_dirs=("bundles/latest/dynbinary-daemon", "bundles/latest/binary-daemon"),
        client_dirs=("bundles/latest/binary-client",),
        container_path="/go/src/github.com/docker/docker/bundles/latest/dynbinary-daemon:/bin",
    )
    values.update(changes)
    return BuildPlan(**values)  # type: ignore[arg-type]


class TestNames:
    def test_same_workspace_same_names_and_others_differ(self) -> None:
        one = DevNames.for_workspace(Path("/home/a/.mobylab"))
        assert one == DevNames.for_workspace(Path("/home/a/.mobylab"))
        other = DevNames.for_workspace(Path("/home/b/.mobylab"))
        assert one.container != other.container
        assert one.socket != other.socket
        assert one.container.startswith("mobylab-dev-")

    def test_socket_path_fits_a_unix_socket_even_for_deep_workspaces(self) -> None:
        deep = Path("/" + "/".join(["very-long-folder-name"] * 20))
        names = DevNames.for_workspace(deep)
        assert len(str(names.socket).encode()) < 108
        assert names.url == f"unix://{names.socket}"
        assert names.log.is_relative_to(deep)

    def test_one_volume_per_era_with_a_valid_name(self) -> None:
        names = DevNames.for_workspace(Path("/w"))
        assert names.volume("2017-tgz") != names.volume("dev-container")
        assert (
            names.volume("weird era/with spaces")
            == f"mobylab-dev-{names.key}-weird-era-with-spaces"
        )

    def test_labels_carry_the_workspace_commit_and_era(self) -> None:
        found = resource_labels("abc", _plan())
        assert labels.is_managed(found)
        assert found[labels.COMPONENT] == "dev"
        assert found[LABEL_KEY] == "abc"
        assert found["org.mobylab.commit"] == "a" * 40
        assert found["org.mobylab.era"] == "2017-tgz"


class TestSecurity:
    def test_auto_uses_privileged_when_it_works(self) -> None:
        assert choose_security("auto", True, FALLBACK).privileged
        assert choose_security("auto", None, FALLBACK).privileged

    def test_auto_falls_back_when_refused(self) -> None:
        assert choose_security("auto", False, FALLBACK) == FALLBACK

    def test_always_fails_with_one_clear_line_when_refused(self) -> None:
        with pytest.raises(DevEnvError) as info:
            choose_security("always", False, FALLBACK)
        line = info.value.one_line()
        assert "refuses --privileged" in line
        assert "--privileged auto" in line
        assert "\n" not in line

    def test_always_when_it_works_and_never_always_falls_back(self) -> None:
        assert choose_security("always", True, FALLBACK).privileged
        assert choose_security("never", True, FALLBACK) == FALLBACK

    def test_unknown_choice(self) -> None:
        with pytest.raises(DevEnvError):
            choose_security("sometimes", True, FALLBACK)


class TestDaemon:
    def test_unix_sockets_only_by_default(self) -> None:
        args = dockerd_args("overlay2", tcp=False)
        hosts = [a for a in args if a.startswith("--host=")]
        assert hosts == [
            "--host=unix:///var/run/docker.sock",
            "--host=unix:///mobylab/run/docker.sock",
        ]
        assert "--storage-driver=overlay2" in args

    def test_tcp_on_request_without_tls(self) -> None:
        args = dockerd_args("vfs", tcp=True)
        assert "--host=tcp://0.0.0.0:2375" in args
        assert "--tls=false" in args
        assert "--storage-driver=vfs" in args

    def test_bundles_mount_where_the_era_expects_them(self) -> None:
        assert bundle_mount_target(_plan()) == "/go/src/github.com/docker/docker/bundles"
        assert bundle_mount_target(_plan(workdir="/usr/src/moby/")) == "/usr/src/moby/bundles"

    def test_daemon_dirs_map_to_the_host_bundles_folder(self) -> None:
        dirs = host_daemon_dirs(_plan(), Path("/cache/bundles"))
        assert dirs == [
            Path("/cache/bundles/latest/dynbinary-daemon"),
            Path("/cache/bundles/latest/binary-daemon"),
        ]
        other = host_daemon_dirs(_plan(daemon_dirs=("out/daemon",)), Path("/b"))
        assert other == [Path("/src/engine/out/daemon")]

    def test_storage_driver_failures_are_recognised(self) -> None:
        assert storage_driver_refused(
            'level=fatal msg="Error starting daemon: error initializing graphdriver: '
            'driver not supported"'
        )
        assert not storage_driver_refused('level=info msg="API listen on /var/run/docker.sock"')

    def test_log_section_of_the_last_start(self) -> None:
        text = "--- mobylab: starting a\nold line\n--- mobylab: starting b\nnew line\n"
        assert last_start_section(text) == "--- mobylab: starting b\nnew line\n"
        assert last_start_section("no marker") == "no marker"


class TestStartFailure:
    def test_still_starting_while_nothing_says_otherwise(self) -> None:
        assert start_failure("", None, None) == ""
        assert start_failure("ok", None, "running") == ""

    def test_the_entry_scripts_word_comes_first(self) -> None:
        # A failed cgroup set-up also stops the daemon and may stop the container.
        assert start_failure("failed: cgroup v1 remount", 1, "exited") == "init"

    def test_no_dockerd_in_path_and_a_daemon_that_exited(self) -> None:
        assert start_failure("ok", 127, "running") == "no-dockerd"
        assert start_failure("ok", 1, "running") == "exited"
        assert start_failure("ok", 1, "exited") == "exited"

    def test_the_container_itself_stopped_or_went(self) -> None:
        assert start_failure("", None, "exited") == "container"
        assert start_failure("", None, "gone") == "container"


class TestStatus:
    def test_uptime(self) -> None:
        assert uptime_text(None) == "-"
        assert uptime_text(5) == "5s"
        assert uptime_text(125) == "2m 5s"
        assert uptime_text(7260) == "2h 1m"
        assert uptime_text(90000) == "1d 1h"

    def test_rows_name_the_daemon_state_and_version(self) -> None:
        rows = dict(
            status_rows(
                DevStatus(
                    container="mobylab-dev-x",
                    socket="unix:///run/mobylab/x/docker.sock",
                    log="/ws/logs/dev.log",
                    container_state="running",
                    daemon_state="running",
                    daemon_version="17.05.0-dev",
                    daemon_api="1.29",
                    daemon_commit="2fa8fe400d92",
                    images=3,
                    tcp="tcp://127.0.0.1:5555",
                )
            )
        )
        assert rows["daemon"] == "running, 17.05.0-dev (API 1.29, commit 2fa8fe400d92)"
        assert rows["images inside"] == "3"
        assert rows["tcp"] == "tcp://127.0.0.1:5555"

    def test_rows_of_a_dead_daemon(self) -> None:
        dead = DevStatus("c", "", "", daemon_state="dead (exited with status 1)")
        rows = dict(status_rows(dead))
        assert rows["daemon"] == "dead (exited with status 1)"
        assert rows["images inside"] == "-"


class TestCommandLine:
    def test_words_after_the_first_double_dash_stay_whole(self) -> None:
        argv = ["invoke", "dev.exec", "--", "sh", "-c", "echo 'a  b'", "--", "x"]
        assert command_after_dashes(argv) == ["sh", "-c", "echo 'a  b'", "--", "x"]
        assert command_after_dashes(["invoke", "dev.exec"]) == []


class TestSeedDecisions:
    def test_refs_without_a_tag_mean_latest(self) -> None:
        assert normalise_ref("busybox") == "busybox:latest"
        assert normalise_ref("localhost:5000/app") == "localhost:5000/app:latest"
        assert normalise_ref("mobylab/runtime:busybox") == "mobylab/runtime:busybox"
        assert normalise_ref("sha256:abc") == "sha256:abc"

    def test_the_archive_keeps_the_tag_asked_for(self) -> None:
        tags = ["a/b:1", "a/b:latest"]
        assert save_name("a/b", tags) == "a/b:latest"
        assert save_name("a/b:1", tags) == "a/b:1"
        assert save_name("sha256:abc", ["x:1"]) == "x:1"
        assert save_name("sha256:abc", []) is False

    def test_same_id_is_skipped(self) -> None:
        assert not needs_copy("sha256:1", "sha256:1")
        assert needs_copy("sha256:1", None)
        assert needs_copy("sha256:1", "sha256:2")

    def test_load_errors_are_found_in_the_stream(self) -> None:
        assert _load_errors([{"stream": "Loaded image: x"}]) == []
        assert _load_errors([{"stream": "x"}, {"error": "bad tar"}]) == ["bad tar"]
        assert _load_errors({"error": "one"}) == ["one"]


class TestCleanDecisions:
    def test_filters_of_one_workspace_or_all(self) -> None:
        assert f"{LABEL_KEY}=k" in label_filters("k")
        assert all(not f.startswith(LABEL_KEY) for f in label_filters(None))
        assert "org.mobylab.managed=true" in label_filters(None)

    def test_only_dev_resources_of_mobylab_are_removed(self) -> None:
        mine = resource_labels("k")
        assert is_dev_resource(mine, "k")
        assert is_dev_resource(mine, None)
        assert not is_dev_resource(mine, "other")
        assert not is_dev_resource({}, None)
        assert not is_dev_resource(labels.labels("probe"), None)
        assert not is_dev_resource({labels.COMPONENT: "dev", LABEL_KEY: "k"}, "k")


class TestDaemonIdentity:
    """The daemon that answers must be the build's: version AND commit."""

    def test_dockerd_version_lines(self) -> None:
        from mobylab.dev.container import parse_daemon_version

        assert parse_daemon_version("Docker version dev, build b985e2313a86") == (
            "dev",
            "b985e2313a86",
        )
        assert parse_daemon_version("Docker version 17.05.0-dev, build 2fa8fe400d92") == (
            "17.05.0-dev",
            "2fa8fe400d92",
        )
        assert parse_daemon_version("Docker version 20.10.24+dfsg1, build 5d6db84") == (
            "20.10.24+dfsg1",
            "5d6db84",
        )
        assert parse_daemon_version("dockerd: unknown flag --version") is None
        assert parse_daemon_version(None) is None

    def test_only_the_same_version_and_commit_pass(self) -> None:
        from mobylab.dev.container import identity_problem

        built = ("dev", "b985e2313a86")
        assert identity_problem(built, {"Version": "dev", "GitCommit": "b985e2313a86"}) == ""
        # The image's own Debian dockerd on PATH: another version and commit.
        other = identity_problem(built, {"Version": "28.5.2+dfsg4", "GitCommit": "89c5d5b"})
        assert "28.5.2+dfsg4 (commit 89c5d5b)" in other and "b985e2313a86" in other
        # Same version string, another commit: still not the build.
        assert identity_problem(built, {"Version": "dev", "GitCommit": "0123456789ab"})
        assert identity_problem(None, {"Version": "x"}) == ""

    def test_the_manifest_names_the_bundle_daemon(self) -> None:
        from mobylab.dev.environment import bundle_identity
        from mobylab.dev.manifest import BundleBinary, Bundles

        daemon = "Docker version 17.05.0-dev, build 2fa8fe4"
        bundles = Bundles(
            binaries=(
                BundleBinary("bundles/a/docker-proxy", "docker-proxy", 1, 1, "x"),
                BundleBinary("bundles/a/dockerd-dev", "dockerd-17.05.0-dev", 1, 2, "y", daemon),
            )
        )
        assert bundle_identity(bundles) == ("17.05.0-dev", "2fa8fe4")
        assert bundle_identity(Bundles()) is None


def test_a_daemon_before_cgroup_v2_is_refused_on_a_v2_only_host() -> None:
    import dataclasses

    from mobylab.dev.container import cgroup_problem
    from mobylab.dev.plan import BuildPlan, Era

    plan = BuildPlan(
        checkout=Path("/src"),
        commit="2fa8fe400d926b3ceb0c84640a8f4e0f36e51463",
        era=Era.TGZ,
        target="tgz",
        dev_image="x",
        workdir="/go/src/github.com/docker/docker",
        version="17.05.0-dev",
        daemon_dirs=(),
        client_dirs=(),
        container_path="",
        cgroup_v2=False,
    )
    problem = cgroup_problem(plan, "2")
    assert "17.05.0-dev daemon (2fa8fe400d92) predates cgroup v2" in problem
    assert cgroup_problem(plan, "1") == ""
    assert cgroup_problem(dataclasses.replace(plan, cgroup_v2=True), "2") == ""
    # Not known (a plan read from files alone): not refused.
    assert cgroup_problem(dataclasses.replace(plan, cgroup_v2=None), "2") == ""


def test_sockets_of_a_user_who_is_not_root() -> None:
    from mobylab.dev.container import host_run_root

    assert host_run_root(0, "/run/user/0") == Path("/run/mobylab")
    assert host_run_root(1001, "/run/user/1001") == Path("/run/user/1001/mobylab")
    assert host_run_root(1001, None) == Path("/tmp/mobylab-1001")
    assert host_run_root(1001, "relative") == Path("/tmp/mobylab-1001")


def test_a_user_who_is_not_root_gets_the_daemon_sockets_group() -> None:
    from mobylab.dev.container import dockerd_args, socket_group

    assert socket_group(0, 0) is None
    assert socket_group(1001, 1001) == 1001
    assert "--group=1001" in dockerd_args("overlay2", False, socket_group(1001, 1001))
    assert not any(a.startswith("--group") for a in dockerd_args("overlay2", False))

"""The two build routes on fixtures of today's layout, built for real, and their faults.

- upstream: a bake-era Makefile (`make binary` = `docker buildx bake`, `make build` =
  the dev-base target) on Debian's buildx, ending with a docker-dev image dev.up runs;
- source: a module-mode source whose hack/make.sh compiles a small dockerd with the
  dev image's Go (the same Debian-made image as today's master): dirty checkouts,
  Ctrl-C in the Go build, a full disk, a refused route, an unreachable Debian mirror.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from mobylab.dev.job import BUILD_LABEL
from mobylab.engine import Engine
from mobylab.engine._cli import local_buildx
from mobylab.labels import MANAGED
from mobylab.workspace import Workspace
from tests.fixtures.cli import invoke_argv, run_task
from tests.fixtures.enginesrc import ensure_dind_image, git, make_engine_source, rewrite
from tests.fixtures.upstream import mirror_folder
from tests.unit.test_companions import LIBNETWORK
from tests.unit.test_source_cli import one_error_line

pytestmark = pytest.mark.engine
# Never a registry or a mirror off this machine: a refused loopback port stands in.
NO_REGISTRY = {"MOBYLAB_REGISTRY_PROBE": "127.0.0.1:9"}


def build_containers(engine: Engine, *only: str) -> list[str]:
    """The build containers on the engine; `only`: labels that pick this test's build
    (its commit, its companion) out of others another run may have going."""
    wanted = [f"{MANAGED}=true", "org.mobylab.component=devbuild", *only]
    api = engine.api(timeout=30)
    try:
        found = api.containers(all=True, filters={"label": wanted})
    finally:
        api.close()
    return [c["Id"] for c in found if BUILD_LABEL in (c.get("Labels") or {})]


def test_the_upstream_route_of_todays_layout_with_buildx(
    engine: Engine, workspace: Workspace, tmp_path: Path
) -> None:
    if not local_buildx():
        pytest.fail("the docker CLI has no buildx plugin: scripts/setup installs Debian's")
    ensure_dind_image(engine, workspace)
    source = make_engine_source(tmp_path / "engine", "bake-local")
    planned = run_task(workspace, "dev.plan", "--checkout", str(source.path), "--json")
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert (plan["era"], plan["route"]) == ("bake", "upstream")
    assert plan["then_targets"] == ["build"]
    built = run_task(workspace, "dev.build", "--checkout", str(source.path), timeout=900)
    assert built.returncode == 0, built.stderr[-3000:]
    manifest = json.loads(run_task(workspace, "dev.bundles", "--json").stdout)
    assert {b["path"] for b in manifest["binaries"]} >= {"bundles/binary/dockerd"}
    assert [argv[-1] for argv in manifest["commands"]] == ["binary", "build"]
    # `make build` made the docker-dev image the way that era makes it: dev.up runs it.
    up = run_task(workspace, "dev.up", timeout=300)
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        status = json.loads(run_task(workspace, "dev.status", "--json").stdout)
        assert status["state"] == "running" and status["image"] == "docker-dev"
    finally:
        run_task(workspace, "dev.down")
        run_task(workspace, "dev.clean", "--yes")


def test_the_upstream_route_is_refused_where_it_cannot_work(
    engine: Engine, workspace: Workspace, tmp_path: Path
) -> None:
    source = make_engine_source(tmp_path / "engine", "bake")  # FROM golang:1.25, not here
    result = run_task(
        workspace, "dev.build", "--checkout", str(source.path), "--route", "upstream",
        env=NO_REGISTRY,
    )  # fmt: skip
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert "the upstream route cannot work here" in line
    assert "which the engine does not have, and no registry answers" in line
    assert "Use --route source" in line
    bad = run_task(workspace, "dev.build", "--checkout", str(source.path), "--route", "fast")
    assert bad.returncode == 2
    assert "--route 'fast' is not a route" in one_error_line(bad.stderr)


@pytest.fixture
def module_source(engine: Engine, tmp_path: Path) -> Iterator[Path]:
    source = make_engine_source(tmp_path / "engine", "module")
    yield source.path


def test_the_source_route_builds_a_dirty_checkout_as_it_is(
    engine: Engine, workspace: Workspace, module_source: Path
) -> None:
    (module_source / "cmd" / "dockerd" / "extra.go").write_text("package main\n")
    before = git(module_source, "status", "--porcelain")
    result = run_task(
        workspace, "dev.build", "--checkout", str(module_source), "--route", "source",
        timeout=1800,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "uncommitted changes: they are built as they are" in result.stderr
    manifest = json.loads(run_task(workspace, "dev.bundles", "--json").stdout)
    assert manifest["dirty"] is True and manifest["changes_sha256"]
    commit = git(module_source, "rev-parse", "HEAD")
    dockerd = next(b for b in manifest["binaries"] if b["name"] == "dockerd")
    assert dockerd["version"] == f"Docker version dev, build {commit[:12]}-unsupported"
    assert manifest["cache_volumes"] and manifest["dev_image"].startswith("mobylab/docker-dev:")
    # The checkout is as the user left it: nothing built or written there.
    assert git(module_source, "status", "--porcelain") == before
    assert not (module_source / "bundles").exists()


def test_a_built_commit_whose_dev_image_is_gone_gets_the_image_again(
    engine: Engine, workspace: Workspace, module_source: Path
) -> None:
    args = ("dev.build", "--checkout", str(module_source), "--route", "source")
    first = run_task(workspace, *args, timeout=1800)
    assert first.returncode == 0, first.stderr[-3000:]
    manifest = json.loads(run_task(workspace, "dev.bundles", "--json").stdout)
    client = engine.client()
    try:
        client.images.remove(manifest["dev_image"])
    finally:
        client.close()
    again = run_task(workspace, *args, timeout=1800)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"the dev image {manifest['dev_image']} is gone from the engine" in again.stderr
    assert "the bundles of" in again.stderr and "are unchanged" in again.stderr
    # Only the image was made: the build is the same one, and dev.up would find it.
    assert json.loads(run_task(workspace, "dev.bundles", "--json").stdout) == manifest
    client = engine.client()
    try:
        assert client.images.get(manifest["dev_image"])
    finally:
        client.close()
    third = run_task(workspace, *args)
    assert "is already built (source route" in third.stderr


def slow_libnetwork(bare: Path, work: Path) -> str:
    """A libnetwork of the test's own whose cmd/proxy takes seconds to compile (a large
    map literal, new each run so no Go cache has it): a Ctrl-C can land in its build."""
    proxy = work / "cmd" / "proxy"
    proxy.mkdir(parents=True)
    (proxy / "main.go").write_text(
        'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println(len(table)) }\n'
    )
    nonce = time.time_ns()
    entries = "".join(f'\t"s{i}-{nonce}": {i},\n' for i in range(200_000))
    (proxy / "table.go").write_text(f"package main\n\nvar table = map[string]int{{\n{entries}}}\n")
    git(work.parent, "init", "-q", "-b", "master", str(work))
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "a slow proxy")
    git(work.parent, "clone", "-q", "--bare", str(work), str(bare))
    git(bare, "config", "uploadpack.allowAnySHA1InWant", "true")
    return git(work, "rev-parse", "HEAD")


def name_a_docker_proxy(source: Path, commit: str) -> None:
    installer = source / "hack" / "dockerfile" / "install" / "proxy.installer"
    installer.parent.mkdir(parents=True, exist_ok=True)
    installer.write_text(f': "${{LIBNETWORK_COMMIT:={commit}}}"\n')
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", "name a docker-proxy")


def test_the_docker_proxy_a_source_names_is_built_and_put_beside_its_daemon(
    engine: Engine, workspace: Workspace, module_source: Path
) -> None:
    """A daemon Debian's containerd and runc serve, whose source names the libnetwork
    commit of its docker-proxy (as 18.09 to 20.10 do): the real libnetwork from the
    mirror is built, and the proxy lands in the bundle beside dockerd."""
    mirror = mirror_folder()
    name_a_docker_proxy(module_source, LIBNETWORK)
    env = {"MOBYLAB_MIRRORS": str(mirror)}
    args = ("--checkout", str(module_source), "--route", "source")
    planned = run_task(workspace, "dev.plan", *args, "--json", env=env)
    assert planned.returncode == 0, planned.stderr
    companions = json.loads(planned.stdout)["companions"]
    assert [(c["name"], c["commit"]) for c in companions] == [("docker-proxy", LIBNETWORK)]
    built = run_task(workspace, "dev.build", *args, env=env, timeout=1800)
    assert built.returncode == 0, built.stderr[-3000:]
    assert "docker-proxy put beside the daemon" in built.stderr
    manifest = json.loads(run_task(workspace, "dev.bundles", "--json").stdout)
    paths = {b["path"] for b in manifest["binaries"]}
    assert {"bundles/binary-daemon/dockerd", "bundles/binary-daemon/docker-proxy"} <= paths
    assert manifest["companion_files"] == ["docker-proxy"]
    assert [(c["name"], c["commit"]) for c in manifest["companions"]] == [
        ("docker-proxy", LIBNETWORK)
    ]


@contextmanager
def build_in_its_session(
    workspace: Workspace, args: Sequence[str], env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[str]]:
    """`invoke dev.build ARGS` in a session of its own, for a Ctrl-C to its process group;
    killed at the end if it still runs."""
    process = subprocess.Popen(
        invoke_argv("dev.build", *args),
        env={**os.environ, "MOBYLAB_WORKSPACE": str(workspace.root), **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def test_ctrl_c_during_the_go_build(engine: Engine, workspace: Workspace, tmp_path: Path) -> None:
    source = make_engine_source(tmp_path / "engine", "module", sleep_seconds=120)
    args = ("--checkout", str(source.path), "--route", "source")
    this_build = f"org.mobylab.commit={source.commit[:12]}"
    with build_in_its_session(workspace, args) as process:
        deadline = time.monotonic() + 600
        while not build_containers(engine, this_build):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the build container never started"
            time.sleep(0.5)
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "build interrupted" in stderr
    assert build_containers(engine, this_build) == []
    # The caches are intact, and the next build works.
    source = rewrite(source, "no more waiting", sleep_seconds=0)
    again = run_task(
        workspace, "dev.build", "--checkout", str(source.path), "--route", "source",
        timeout=1800,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]


def test_ctrl_c_while_a_companion_builds(
    engine: Engine, workspace: Workspace, module_source: Path, tmp_path: Path
) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    commit = slow_libnetwork(mirror / "libnetwork.git", tmp_path / "libnetwork")
    name_a_docker_proxy(module_source, commit)
    env = {"MOBYLAB_MIRRORS": str(mirror)}
    args = ("--checkout", str(module_source), "--route", "source")
    shown: list[str] = []
    with build_in_its_session(workspace, args, env) as process:
        assert process.stderr is not None
        for line in process.stderr:
            shown.append(line)
            if f"docker-proxy {commit[:12]}: go build" in line:
                time.sleep(0.3)  # the build container is starting or compiling
                os.killpg(process.pid, signal.SIGINT)
                break
        shown.append(process.stderr.read())
        process.wait(timeout=120)
    stderr = "".join(shown)
    assert process.returncode == 130, stderr
    assert "interrupted while building docker-proxy" in stderr
    assert build_containers(engine, "org.mobylab.companion=docker-proxy") == []
    # Nothing half-built was kept: the next build builds the proxy, and works.
    again = run_task(workspace, "dev.build", *args, env=env, timeout=1800)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"docker-proxy {commit[:12]}: go build" in again.stderr
    manifest = json.loads(run_task(workspace, "dev.bundles", "--json").stdout)
    assert "bundles/binary-daemon/docker-proxy" in {b["path"] for b in manifest["binaries"]}


def test_a_full_disk_during_the_build(engine: Engine, workspace: Workspace, tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(small)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        source = make_engine_source(small / "engine", "module", fill_mb=64)
        tiny = Workspace(small / "ws")
        result = run_task(
            tiny, "dev.build", "--checkout", str(source.path), "--route", "source",
            timeout=1800,
        )  # fmt: skip
        assert result.returncode == 1
        # The build's own output comes first; the error is one line at the end.
        line = result.stderr.strip().splitlines()[-1]
        assert line.startswith("error: hack/make.sh binary failed")
        assert "ran out of disk space" in line
        assert build_containers(engine) == []
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


def test_an_unreachable_debian_mirror_tags_nothing(
    engine: Engine, workspace: Workspace, module_source: Path, tmp_path: Path
) -> None:
    mirror = "http://127.0.0.1:9/debian"
    env = {"MOBYLAB_DEBIAN_MIRROR": mirror, "MOBYLAB_ROOTFS_CACHE": str(tmp_path / "rootfs")}
    planned = run_task(
        workspace, "dev.plan", "--checkout", str(module_source), "--route", "source", env=env
    )
    assert planned.returncode == 1
    line = one_error_line(planned.stderr)
    assert "the Debian mirror is unreachable" in line and "127.0.0.1:9" in line
    # With the indexes at hand (read earlier), making the image itself fails: no tag.
    from mobylab.images.debian import _cache_file, cache_folder

    index = {"golang-1.26-go": ["1.26.10-1", "pool/g.deb"], "tini-static": ["0.19", "t.deb"]}
    for suite in ("bullseye", "bookworm", "bookworm-backports", "trixie", "trixie-backports",
                  "forky", "sid"):  # fmt: skip
        path = _cache_file(cache_folder(tmp_path / "rootfs"), mirror, suite)
        path.parent.mkdir(parents=True, exist_ok=True)
        packages = index if suite == "sid" else {}
        path.write_text(json.dumps({"read": time.time(), "packages": packages}))
    client = engine.client()
    try:
        before = {tag for image in client.images.list() for tag in image.tags}
    finally:
        client.close()
    built = run_task(
        workspace, "dev.build", "--checkout", str(module_source), "--route", "source", env=env
    )
    assert built.returncode == 1
    assert "the Debian mirror" in built.stderr.strip().splitlines()[-1]
    client = engine.client()
    try:
        after = {tag for image in client.images.list() for tag in image.tags}
    finally:
        client.close()
    assert not {tag for tag in after - before if tag.startswith("mobylab/docker-dev:")}

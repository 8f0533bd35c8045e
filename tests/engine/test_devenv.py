"""The dev environment on the real engine: a build's dockerd inside the dev container.

Each test has its own workspace, so its container, volume and socket folder are
its own; everything is removed afterwards (labelled resources only).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker.errors
import pytest

from mobylab import labels
from mobylab.config import merge_settings
from mobylab.dev.clean import find_dev_resources, remove_dev_resources
from mobylab.dev.container import last_start_section
from mobylab.dev.environment import DevEnvironment, DevTarget, ensure_dev_engine
from mobylab.dev.seed import seed_images
from mobylab.engine import Engine, probe
from mobylab.errors import DevEnvError
from mobylab.images import ensure_images
from mobylab.session import Session
from mobylab.workspace import Workspace
from tests.engine.test_devenv_helpers import (
    bundles_2017,
    dev_environment,
    plan_2017,
    run_in_terminal,
    target_2017,
    target_today,
)
from tests.fixtures.cli import run_task

REPO = Path(__file__).resolve().parents[2]
RUNTIME = "mobylab/runtime:busybox"


@pytest.fixture(scope="session")
def dev_images(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The offline dev image stand-in and the tiny runtime image (made once)."""
    workspace = Workspace(tmp_path_factory.mktemp("images-ws"))
    return ensure_images(engine, workspace, ["dind", "runtime"], settings=merge_settings())


@pytest.fixture
def env(
    engine: Engine, workspace: Workspace, dev_images: dict[str, str]
) -> Iterator[DevEnvironment]:
    with dev_environment(engine, workspace) as environment:
        yield environment


def _context(dockerfile: str) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def _inner_images(engine: Engine) -> list[str]:
    client = engine.client()
    try:
        return [tag for image in client.images.list() for tag in image.tags]
    finally:
        client.close()


MULTI_STAGE = f"""\
FROM {RUNTIME} AS builder
RUN echo "built in stage one" > /message
FROM scratch
COPY --from=builder /bin/busybox /bin/busybox
COPY --from=builder /message /message
CMD ["/bin/busybox", "cat", "/message"]
"""


def test_up_runs_the_builds_daemon_as_an_engine(
    env: DevEnvironment, engine: Engine, tmp_path: Path
) -> None:
    target = target_2017(tmp_path)
    dev = env.up(target, timeout=120)
    assert dev.kind == "dev"
    assert dev.ping()
    assert dev.url == f"unix://{env.names.socket}"
    # The SDK and the docker CLI on the host talk to it through the socket folder.
    assert dev.version()["Version"] == engine.version()["Version"]
    cli = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        env={**os.environ, **dev.cli_env()},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.strip() == dev.version()["Version"]
    # The daemon that runs is the bundles' one, found through the era's PATH.
    started = (env.names.run_dir / "dockerd.path").read_text().strip()
    assert started == "/go/src/github.com/docker/docker/bundles/latest/dynbinary-daemon/dockerd"
    container = env.container.find()
    assert container is not None
    assert container.labels[labels.MANAGED] == "true"
    assert container.labels["org.mobylab.era"] == "2017-tgz"
    assert container.labels["org.mobylab.commit"] == target.plan.commit
    mounts = {m["Destination"]: m for m in container.attrs["Mounts"]}
    assert mounts["/var/lib/docker"]["Type"] == "volume"
    assert mounts["/go/src/github.com/docker/docker/bundles"]["RW"] is False
    # No TCP unless asked for.
    assert not container.attrs["HostConfig"].get("PortBindings")
    # A second up reuses what runs.
    started_at = container.attrs["State"]["StartedAt"]
    env.up(target, timeout=120)
    again = env.container.find()
    assert again is not None and again.attrs["State"]["StartedAt"] == started_at


def test_seed_run_and_multi_stage_build_inside(env: DevEnvironment, tmp_path: Path) -> None:
    dev = env.up(target_2017(tmp_path), timeout=120)
    first = seed_images(env.host, dev, [RUNTIME])
    assert first[0].status == "loaded"
    assert first[0].bytes > 100_000
    second = seed_images(env.host, dev, [RUNTIME])
    assert second[0].status == "present"
    client = dev.client()
    try:
        output = client.containers.run(RUNTIME, ["sh", "-c", "echo inner run"], remove=True)
        assert output.decode().strip() == "inner run"
        tag = f"mobylab-test/multi:{uuid.uuid4().hex[:8]}"
        chunks = list(
            client.api.build(
                fileobj=_context(MULTI_STAGE), custom_context=True, tag=tag, decode=True
            )
        )
        errors = [c["error"] for c in chunks if "error" in c]
        assert not errors, errors
        result = client.containers.run(tag, remove=True)
        assert result.decode().strip() == "built in stage one"
        assert client.images.get(tag).attrs["Size"] < 5_000_000
    finally:
        client.close()


def test_restart_and_down_up_keep_the_images(env: DevEnvironment, tmp_path: Path) -> None:
    target = target_2017(tmp_path)
    dev = env.up(target, timeout=120)
    seed_images(env.host, dev, [RUNTIME])
    env.restart(timeout=120)
    assert RUNTIME in _inner_images(dev)
    assert env.down()
    assert env.container.find() is None
    volume = env.names.volume(target.plan.era)
    assert env.container.client.volumes.get(volume).attrs["Labels"][labels.MANAGED] == "true"
    assert env.console.status().state == "no container"
    env.up(target, timeout=120)
    assert RUNTIME in _inner_images(dev)
    assert env.down() is True
    assert env.down() is False


def test_todays_bundles_layout(env: DevEnvironment, tmp_path: Path) -> None:
    dev = env.up(target_today(tmp_path), timeout=120)
    assert dev.ping()
    started = (env.names.run_dir / "dockerd.path").read_text().strip()
    assert started == "/usr/src/moby/bundles/binary-daemon/dockerd"
    assert env.console.status().era == "dev-container"


def test_privileged_always_fails_clearly_and_auto_falls_back(
    env: DevEnvironment, engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    caps = probe(engine, env.workspace)
    target = target_2017(tmp_path)
    if caps.privileged is not False:
        pytest.skip("this engine grants --privileged; nothing to fall back from")
    with pytest.raises(DevEnvError) as info:
        env.up(target, privileged="always", timeout=120)
    assert "refuses --privileged" in info.value.one_line()
    assert "\n" not in info.value.one_line()
    assert env.container.find() is None
    capsys.readouterr()
    dev = env.up(target, privileged="auto", timeout=120)
    assert dev.ping()
    assert "all capabilities except" in capsys.readouterr().err
    host_config = env.container.find().attrs["HostConfig"]  # type: ignore[union-attr]
    assert host_config["Privileged"] is False
    assert "ALL" in host_config["CapAdd"]
    assert env.console.status().security.startswith("all capabilities except")


def test_never_privileged_works_too(env: DevEnvironment, tmp_path: Path) -> None:
    dev = env.up(target_2017(tmp_path), privileged="never", timeout=120)
    assert dev.ping()
    assert env.container.find().attrs["HostConfig"]["Privileged"] is False  # type: ignore[union-attr]


def test_tcp_is_published_on_the_host_loopback_only(env: DevEnvironment, tmp_path: Path) -> None:
    env.up(target_2017(tmp_path), tcp=True, timeout=120)
    url = env.console.status().tcp
    assert url.startswith("tcp://127.0.0.1:")
    assert Engine(url, kind="dev", name="dev-tcp").ping(timeout=10)
    networks = env.container.client.networks.list(names=[env.names.network])
    assert networks and networks[0].attrs["Labels"][labels.MANAGED] == "true"
    env.down()
    assert not [
        n
        for n in env.container.client.networks.list(names=[env.names.network])
        if n.name == env.names.network
    ]


def test_no_dockerd_in_the_bundles(env: DevEnvironment, tmp_path: Path) -> None:
    checkout = tmp_path / "src"
    (checkout / "bundles" / "17.05.0-dev" / "dynbinary-daemon").mkdir(parents=True)
    (checkout / "bundles" / "latest").symlink_to("17.05.0-dev")
    target = DevTarget(plan_2017(checkout), checkout / "bundles")
    with pytest.raises(DevEnvError) as info:
        env.up(target, timeout=60)
    assert "hold no dockerd" in info.value.one_line()
    assert env.container.find() is None


def _failing_bundles(checkout: Path, script: str) -> DevTarget:
    bundles = bundles_2017(checkout)
    daemon = bundles / "17.05.0-dev" / "dynbinary-daemon" / "dockerd-17.05.0-dev"
    daemon.unlink()
    daemon.write_text(script)
    daemon.chmod(0o755)
    return DevTarget(plan_2017(checkout), bundles)


def test_a_daemon_that_exits_at_start_shows_its_log(env: DevEnvironment, tmp_path: Path) -> None:
    target = _failing_bundles(
        tmp_path / "src",
        '#!/bin/sh\necho "mobylab-test: this daemon refuses to start" >&2\nexit 1\n',
    )
    with pytest.raises(DevEnvError) as info:
        env.up(target, timeout=60)
    assert "exited while starting" in info.value.message
    assert "this daemon refuses to start" in info.value.detail
    # Nothing is left half-running; the log stays for dev.logs.
    assert env.container.find() is None
    assert "this daemon refuses to start" in env.names.log.read_text()


def test_a_container_name_mobylab_did_not_create(env: DevEnvironment, tmp_path: Path) -> None:
    foreign = env.container.client.containers.create(
        RUNTIME, ["sleep", "60"], name=env.names.container
    )
    try:
        with pytest.raises(DevEnvError) as info:
            env.up(target_2017(tmp_path), timeout=60)
        assert "mobylab did not create it" in info.value.one_line()
        foreign.reload()
        assert foreign.status == "created"
        with pytest.raises(DevEnvError):
            env.down()
        foreign.reload()
    finally:
        foreign.remove(force=True)


def test_a_killed_daemon_is_reported_and_recovered(
    env: DevEnvironment, tmp_path: Path, session: Session
) -> None:
    dev = env.up(target_2017(tmp_path), timeout=120)
    code = env.console.exec(["sh", "-c", "kill -9 $(cat /mobylab/run/dockerd.pid)"])
    assert code == 0
    deadline = time.monotonic() + 20
    while env.daemon.exit_status() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    status = env.console.status()
    assert status.state == "daemon dead"
    assert "137" in status.daemon_state
    with pytest.raises(DevEnvError):
        ensure_dev_engine(session, start=False)
    recovered = ensure_dev_engine(session)
    assert recovered == dev and recovered.ping()
    assert env.console.status().state == "running"


def test_ensure_dev_engine_reuses_a_running_daemon(
    env: DevEnvironment, tmp_path: Path, session: Session
) -> None:
    with pytest.raises(DevEnvError):
        ensure_dev_engine(session, start=False)
    dev = env.up(target_2017(tmp_path), timeout=120)
    assert ensure_dev_engine(session, start=False) == dev


def test_the_container_gone_is_reported(env: DevEnvironment, tmp_path: Path) -> None:
    env.up(target_2017(tmp_path), timeout=120)
    container = env.container.find()
    assert container is not None
    container.remove(force=True)
    assert env.console.status().state == "container gone"
    with pytest.raises(DevEnvError):
        env.restart(timeout=30)


UP_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from mobylab.dev.environment import DevEnvironment, DevTarget
from mobylab.engine import Engine
from mobylab.dev.plan import BuildPlan
from mobylab.workspace import Workspace
import json
data = json.loads(Path({plan!r}).read_text())
target = DevTarget(BuildPlan.from_dict(data), Path({bundles!r}))
env = DevEnvironment(Engine({url!r}), Workspace(Path({ws!r})))
env.up(target, timeout=120)
"""


def test_ctrl_c_during_up_leaves_nothing_running(
    env: DevEnvironment, engine: Engine, tmp_path: Path
) -> None:
    # A daemon that never answers keeps dev.up waiting until Ctrl-C.
    target = _failing_bundles(tmp_path / "src", "#!/bin/sh\nexec sleep 300\n")
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(target.plan.as_dict()))
    script = UP_SCRIPT.format(
        repo=str(REPO),
        plan=str(plan_file),
        bundles=str(target.bundles_dir),
        url=engine.url,
        ws=str(env.workspace.root),
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (env.names.run_dir / "dockerd.path").exists():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "dev.up never started the daemon"
            time.sleep(0.1)
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)
        output = proc.communicate(timeout=60)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert "Interrupted" in output
    assert env.container.find() is None
    assert env.container.state() is None


def test_clean_removes_only_labelled_resources(
    env: DevEnvironment, engine: Engine, tmp_path: Path
) -> None:
    client = env.container.client
    suffix = uuid.uuid4().hex[:8]
    decoys: list[object] = []
    try:
        # Look-alikes without mobylab's label, and a mobylab resource of another component.
        decoy_container = client.containers.create(
            RUNTIME, ["true"], name=f"mobylab-dev-decoy-{suffix}"
        )
        decoys.append(decoy_container)
        decoy_volume = client.volumes.create(f"mobylab-dev-{env.names.key}-decoy-{suffix}")
        decoys.append(decoy_volume)
        other_component = client.volumes.create(
            f"mobylab-test-{suffix}", labels=labels.labels("test", dev_key=env.names.key)
        )
        decoys.append(other_component)
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            info = tarfile.TarInfo("hello")
            info.size = 2
            tar.addfile(info, io.BytesIO(b"hi"))
        decoy_image = f"mobylab-dev-decoy:{suffix}"
        client.api.import_image_from_data(archive.getvalue(), repository=decoy_image)
        env.up(target_2017(tmp_path), timeout=120)
        found = find_dev_resources(client, env.workspace)
        kinds = {(item.kind, item.name) for item in found.items}
        assert ("container", env.names.container) in kinds
        assert ("volume", env.names.volume("2017-tgz")) in kinds
        assert all(suffix not in name for _, name in kinds)

        refused = run_task(env.workspace, "dev.clean")
        assert refused.returncode == 2
        assert "--yes" in refused.stderr
        assert env.container.find() is not None

        done = run_task(env.workspace, "dev.clean", "--yes")
        assert done.returncode == 0, done.stderr
        assert env.container.find() is None
        with pytest.raises(docker.errors.NotFound):
            client.volumes.get(env.names.volume("2017-tgz"))
        assert not env.workspace.state_file("dev").exists()
        assert not env.names.run_dir.exists()
        decoy_container.reload()
        decoy_volume.reload()
        other_component.reload()
        client.images.get(decoy_image)
        again = run_task(env.workspace, "dev.clean", "--yes")
        assert "nothing to clean" in again.stderr
    finally:
        for decoy in decoys:
            with contextlib.suppress(docker.errors.APIError):
                if hasattr(decoy, "status"):
                    decoy.remove(force=True)  # type: ignore[attr-defined]
                else:
                    decoy.remove()  # type: ignore[attr-defined]
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(f"mobylab-dev-decoy:{suffix}")


def test_tasks_without_a_build_say_what_to_do(env: DevEnvironment) -> None:
    result = run_task(env.workspace, "dev.up")
    assert result.returncode == 1
    assert "nothing has been built" in result.stderr
    assert "dev.build" in result.stderr
    assert "Traceback" not in result.stderr
    status = run_task(env.workspace, "dev.status")
    assert status.returncode == 0
    assert "not up" in status.stderr
    shell = run_task(env.workspace, "dev.shell")
    assert shell.returncode == 1
    assert "needs a terminal" in shell.stderr
    exec_ = run_task(env.workspace, "dev.exec", "--", "true")
    assert exec_.returncode == 1
    assert "does not exist" in exec_.stderr


def test_clean_with_nothing_to_clean(env: DevEnvironment) -> None:
    assert not find_dev_resources(env.container.client, env.workspace)
    assert (
        remove_dev_resources(find_dev_resources(env.container.client, env.workspace), env.names.key)
        == []
    )


def test_overlay2_refused_falls_back_to_vfs_and_remembers(
    env: DevEnvironment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A daemon that refuses overlay2 the way dockerd does, and runs with anything else.
    real = "/usr/sbin/dockerd"
    script = (
        "#!/bin/sh\n"
        'case "$*" in *--storage-driver=overlay2*)\n'
        "  echo 'level=fatal msg=\"Error starting daemon: error initializing graphdriver: "
        "driver not supported\"' >&2; exit 1;;\n"
        "esac\n"
        f'exec {real} "$@"\n'
    )
    target = _failing_bundles(tmp_path / "src", script)
    dev = env.up(target, timeout=120)
    assert dev.ping()
    assert "using vfs" in capsys.readouterr().err
    client = dev.client()
    try:
        assert client.info()["Driver"] == "vfs"
    finally:
        client.close()
    env.restart(timeout=120)
    start_line = last_start_section(env.names.log.read_text()).splitlines()[0]
    assert "--storage-driver=vfs" in start_line


def test_logs_follow_until_ctrl_c(workspace: Workspace) -> None:
    log = workspace.root / "logs" / "dev" / "dockerd.log"
    log.parent.mkdir(parents=True)
    log.write_text("first line\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "--search-root", str(REPO), "dev.logs", "-f"],
        env={**os.environ, "MOBYLAB_WORKSPACE": str(workspace.root)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().decode().strip() == "first line"
        time.sleep(1)
        with log.open("a") as handle:
            handle.write("a later line\n")
        assert proc.stdout.readline().decode().strip() == "a later line"
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_clean_asks_on_a_terminal(env: DevEnvironment, tmp_path: Path) -> None:
    env.up(target_2017(tmp_path), timeout=120)
    kept = run_in_terminal(env.workspace, ["dev.clean"], b"n\n")
    assert "Remove all of the above?" in kept
    assert "nothing removed" in kept
    assert env.container.find() is not None
    removed = run_in_terminal(env.workspace, ["dev.clean"], b"y\n")
    assert "removed" in removed
    assert env.container.find() is None

"""Faults, each with its expected outcome: a full disk, a truncated archive, the dev
daemon killed in the middle of a lab, and the host engine restarted under the dev
container (a private engine stands in for the host's, which others use)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobylab.config import Settings, merge_settings
from mobylab.dev.environment import DevEnvironment, ensure_dev_engine
from mobylab.engine import Engine, PrivateEngine
from mobylab.errors import ImageError, MobylabError
from mobylab.images import ensure_images, save_images, verify_archive
from mobylab.lab import catalog
from mobylab.lab.execute import remove_run_resources
from mobylab.lab.runner import run_lab
from mobylab.lab.setup import RunOptions
from mobylab.session import Session
from mobylab.workspace import Workspace
from tests.engine.test_devenv_helpers import dev_environment, target_2017, tear_down
from tests.reliability.conftest import IN_CI, UserCli, assert_refused, managed_objects, owns_engine

pytestmark = [pytest.mark.engine, pytest.mark.slow]
RUNTIME = "mobylab/runtime:busybox"


# ---- a full disk ----------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs (needs root): the workspace lives there."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(mount)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        if IN_CI:
            pytest.fail(f"cannot mount a tmpfs: {done.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path) -> None:
    """Fill the file system holding `folder` up to the last byte."""
    for name, size in (("filler", 65536), ("filler-small", 1)):
        try:
            with (folder / name).open("wb", buffering=0) as handle:
                while True:
                    handle.write(b"\0" * size)
        except OSError:
            pass


def test_a_full_disk_is_one_clear_error_and_keeps_state_whole(
    engine: Engine, small_disk: Path
) -> None:
    workspace = Workspace(small_disk / "ws")
    workspace.save_state("kept", {"valid": True, "words": ["x"] * 50})
    _fill(small_disk)
    user = UserCli(workspace.root)
    # engine.up probes the engine and saves what it found in the workspace's state.
    result = user("engine.up", "--refresh", timeout=300)
    line = assert_refused(result, "no space left", code=1)
    assert str(small_disk) in line
    assert workspace.load_state("kept") == {"valid": True, "words": ["x"] * 50}
    for path in (workspace.root / "state").glob("*.json"):
        json.loads(path.read_text())
    assert not list((workspace.root / "state").glob(".*")), "a half-written temporary is left"


def test_a_clone_onto_a_full_disk(small_disk: Path, tmp_path: Path) -> None:
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", "-b", "master"], cwd=upstream, check=True)
    (upstream / "big").write_bytes(uuid.uuid4().bytes * 400_000)  # 6.4 MB, incompressible-ish
    subprocess.run([*git, "add", "big"], cwd=upstream, check=True)
    subprocess.run([*git, "commit", "-qm", "big"], cwd=upstream, check=True)
    user = UserCli(small_disk / "ws")
    result = user("dev.clone", "--repo", str(upstream), timeout=300)
    assert result.returncode != 0
    assert "Traceback" not in result.output
    assert result.error_lines()[-1].startswith("error: ")
    for path in (small_disk / "ws").rglob("state/*.json"):
        json.loads(path.read_text())


# ---- truncated archives ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_archive(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Path:
    workspace = Workspace(tmp_path_factory.mktemp("archive-ws"))
    ensure_images(engine, workspace, ["runtime"], settings=merge_settings())
    path = tmp_path_factory.mktemp("archive") / "runtime.tar"
    save_images(engine, [RUNTIME], path)
    return path


def _content_end(path: Path) -> int:
    """Where the last member's data ends: after it come only tar's zero blocks, whose
    loss changes nothing (the content and its checksum are whole)."""
    with tarfile.open(path) as tar:
        last = tar.getmembers()[-1]
    return last.offset_data + last.size


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(fraction=st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_an_archive_cut_anywhere_is_refused(
    small_archive: Path, tmp_path_factory: pytest.TempPathFactory, fraction: float
) -> None:
    data = small_archive.read_bytes()
    end = _content_end(small_archive)
    cut = tmp_path_factory.mktemp("cut") / "runtime.tar"
    cut.write_bytes(data[: int(end * fraction)])
    with pytest.raises(ImageError) as info:
        verify_archive(cut)
    assert "\n" not in info.value.one_line()


def test_images_load_of_a_truncated_archive(
    engine: Engine, small_archive: Path, user: UserCli, tmp_path: Path
) -> None:
    cut = tmp_path / "runtime.tar"
    data = small_archive.read_bytes()
    cut.write_bytes(data[: len(data) * 3 // 4])
    before = managed_objects(engine)
    line = assert_refused(user("images.load", str(cut)), str(cut), code=1)
    assert "nothing was loaded" in line
    if owns_engine():
        assert managed_objects(engine) == before


# ---- the dev daemon killed in the middle of a lab ---------------------------------------------


@pytest.fixture
def dev_up(engine: Engine, workspace: Workspace, tmp_path: Path) -> Iterator[DevEnvironment]:
    ensure_images(engine, workspace, ["dind", "runtime"], settings=merge_settings())
    with dev_environment(engine, workspace) as environment:
        environment.up(target_2017(tmp_path), timeout=120)
        yield environment


def test_the_dev_daemon_killed_mid_lab(
    engine: Engine, dev_up: DevEnvironment, workspace: Workspace
) -> None:
    session = Session(
        merge_settings({"workspace": str(workspace.root), "offline": "yes"}, environ={})
    )
    lab = catalog.find_lab("multistage", Settings())
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["report"] = run_lab(session, lab, RunOptions(yes=True, engine="dev"))
        except BaseException as exc:  # what a user would see, whatever it is
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    # Kill the daemon as soon as the first step runs commands on it.
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and worker.is_alive():
        if list((workspace.root / "reports").glob("*/logs/*step1.log")):
            break
        time.sleep(0.05)
    time.sleep(0.5)
    assert worker.is_alive(), outcome
    assert dev_up.console.exec(["sh", "-c", "kill -9 $(cat /mobylab/run/dockerd.pid)"]) == 0
    worker.join(900)
    assert not worker.is_alive(), "the lab kept waiting on a dead daemon"
    try:
        error = outcome.get("error")
        assert isinstance(error, MobylabError), repr(error)
        text = error.one_line()
        assert "\n" not in text and "step " in text, text
        print(f"the lab stopped with: {text}")
        # What ran so far is kept: the report of the run, with the failed step in it.
        reports = [p for p in (workspace.root / "reports").glob("*/report.json")]
        assert reports, "no report kept"
        report = json.loads(reports[0].read_text())
        assert report["status"] != "passed"
        # The dev environment says what happened, and recovers.
        assert dev_up.console.status().state in ("daemon dead", "daemon not answering")
        recovered = ensure_dev_engine(session)
        assert recovered.ping()
    finally:
        for path in (workspace.root / "reports").glob("*/report.json"):
            with contextlib.suppress(Exception):
                remove_run_resources(engine, json.loads(path.read_text())["run_id"])


# ---- the host engine restarted under the dev container ----------------------------------------


@pytest.fixture
def private_host(engine: Engine, tmp_path: Path) -> Iterator[tuple[PrivateEngine, Engine]]:
    """A private engine in a temporary workspace, holding the dev image: "the host engine"."""
    private = PrivateEngine(Workspace(tmp_path / "host-ws"))
    started = private.start(timeout=120)
    try:
        ensure_images(
            engine, Workspace(tmp_path / "img-ws"), ["dind", "runtime"], settings=merge_settings()
        )
        source = engine.client()
        target = started.client()
        try:
            for ref in ("mobylab/dind:bookworm", RUNTIME):
                target.images.load(b"".join(source.images.get(ref).save(named=True)))
        finally:
            source.close()
            target.close()
        yield private, started
    finally:
        private.stop()


def test_the_host_engine_restarted_under_the_dev_container(
    private_host: tuple[PrivateEngine, Engine], tmp_path: Path
) -> None:
    private, host = private_host
    workspace = Workspace(tmp_path / "ws")
    env = DevEnvironment(host, workspace)
    try:
        target = target_2017(tmp_path)
        assert env.up(target, timeout=180).ping()
        private.stop()
        private.start(timeout=120)
        env.close()
        env = DevEnvironment(host, workspace)
        # dev.status prints "container exited: start it again with `invoke dev.up`".
        assert env.console.status().state == "container exited"
        # dev.up brings it back, on the same volume.
        dev = env.up(target, timeout=180)
        assert dev.ping()
        assert env.console.status().state == "running"
    finally:
        with contextlib.suppress(Exception):
            tear_down(host, workspace)
        env.close()

"""The doctor on this machine, as a library call and as `invoke doctor --json`."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from mobylab import __version__, process
from mobylab.config import merge_settings
from mobylab.doctor import FAIL, OK, WARN, collect_facts, evaluate, run_doctor
from mobylab.engine import Engine, PrivateEngine
from mobylab.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def closed_port_probe() -> str:
    """A closed loopback port for the registry check (the registry_probe setting): tests
    stay on this machine."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def test_the_doctor_sees_the_running_engine(
    engine: Engine, closed_port_probe: str, tmp_path: Path
) -> None:
    config = {"workspace": str(tmp_path / "ws"), "engine": engine.url}
    settings = merge_settings(config | {"registry_probe": closed_port_probe}, {})
    checks = {check.name: check for check in run_doctor(settings)}
    assert checks["engine"].status == OK and engine.url in checks["engine"].detail
    assert checks["engine API"].status == OK
    assert checks["privileged containers"].status in (OK, WARN)
    assert checks["docker CLI"].status == OK
    assert checks["registry"].status == WARN and closed_port_probe in checks["registry"].detail


def test_offline_by_setting_makes_no_connection(engine: Engine, tmp_path: Path) -> None:
    settings = merge_settings(
        {"workspace": str(tmp_path / "ws"), "engine": engine.url, "offline": "yes"}, {}
    )
    facts = collect_facts(settings)
    assert facts.registry == "offline by setting"


def test_the_doctor_never_starts_an_engine(closed_port_probe: str, tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws")
    config = {"workspace": str(workspace.root), "engine": "private"}
    settings = merge_settings(config | {"registry_probe": closed_port_probe}, {})
    checks = {check.name: check for check in evaluate(collect_facts(settings))}
    assert checks["engine"].status in (WARN, FAIL)
    assert not PrivateEngine(workspace).running()
    assert workspace.load_state("private-engine") is None


def test_a_configured_engine_that_is_down_fails(closed_port_probe: str, tmp_path: Path) -> None:
    config = {"workspace": str(tmp_path / "ws"), "engine": f"unix://{tmp_path}/none.sock"}
    settings = merge_settings(config | {"registry_probe": closed_port_probe}, {})
    checks = {check.name: check for check in run_doctor(settings)}
    assert checks["engine"].status == FAIL


def test_doctor_json_from_the_command_line(
    engine: Engine, closed_port_probe: str, tmp_path: Path
) -> None:
    env = {
        "MOBYLAB_WORKSPACE": str(tmp_path / "ws"),
        "MOBYLAB_ENGINE": engine.url,
        "MOBYLAB_REGISTRY_PROBE": closed_port_probe,
        "CI": os.environ.get("CI", ""),
    }
    result = process.capture(["invoke", "doctor", "--json"], cwd=REPO, env=env, timeout=120)
    document = json.loads(result.stdout)
    assert set(document) == {"ok", "checks", "version"}
    assert document["version"] == __version__
    assert all(set(c) == {"name", "status", "detail", "hint"} for c in document["checks"])
    assert result.returncode == (0 if document["ok"] else 1)


def test_doctor_fails_with_a_non_zero_exit_when_the_engine_is_down(
    closed_port_probe: str, tmp_path: Path
) -> None:
    env = {
        "MOBYLAB_WORKSPACE": str(tmp_path / "ws"),
        "MOBYLAB_ENGINE": f"unix://{tmp_path}/none.sock",
        "MOBYLAB_REGISTRY_PROBE": closed_port_probe,
    }
    result = process.capture(["invoke", "doctor", "--json"], cwd=REPO, env=env, timeout=120)
    assert result.returncode == 1
    assert json.loads(result.stdout)["ok"] is False
    assert "engine" in result.stderr and "Traceback" not in result.stderr

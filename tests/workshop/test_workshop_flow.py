"""The whole workshop on eight real sshd hosts: check, provision (one host fails a step,
then --only-failed), a second nearly no-op provision, run the hello lab, status,
collect, teardown listing, and no secret anywhere in what was written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import NOTHING_ELSE, MobylabCli, SshFarm, make_cli

pytestmark = [pytest.mark.workshop, pytest.mark.slow]

FAKE_TOKEN = "tok3n-s3cr3t-" + "a1b2c3d4"
FAILING_HOST = 9


@pytest.fixture(scope="module")
def flow(
    tmp_path_factory: pytest.TempPathFactory,
    ssh_farm: SshFarm,
    wheelhouse_cache: Path,
    source_snapshot: Path,
    engine,
):
    cli = make_cli(tmp_path_factory.mktemp("flow"), ssh_farm, wheelhouse_cache, source_snapshot)
    # The instructor's own preparation: the offline base images on the engine (the hosts
    # share it; the remote doctor wants them). A no-op when earlier tests made them.
    made = cli("images.bootstrap", timeout=1800)
    assert made.returncode == 0, made.stdout + made.stderr
    yield cli
    # What the hosts' labs and dev daemons made; the base and dev images and the Go
    # caches on the shared engine stay for the other tests and the next run.
    for component in ("lab", "dev"):
        label = f"org.mobylab.component={component}"
        cli("workshop.teardown", "--hosts", ssh_farm.specs(), "--yes", "--label", label)


def _rows_of(output: str, specs: str) -> dict[str, str]:
    """host spec -> its table line, for a comma-separated list of specs."""
    rows = {}
    for spec in specs.split(","):
        lines = [line for line in output.splitlines() if spec in line]
        assert lines, f"{spec} missing from the table:\n{output}"
        rows[spec] = lines[0]
    return rows


def _rows(output: str, farm: SshFarm) -> dict[str, str]:
    """host spec -> its table line, for every host of the farm."""
    return _rows_of(output, farm.specs())


def test_check_before_provision_says_not_installed(flow: MobylabCli, ssh_farm: SshFarm):
    result = flow("workshop.check", "--hosts", ssh_farm.specs())
    assert result.returncode == 0, result.stderr
    rows = _rows(result.stdout, ssh_farm)
    for line in rows.values():
        assert "not installed" in line
        assert "WARN" in line
    assert "8 hosts: 8 WARN" in result.stderr


def test_provision_reports_the_failing_host_and_carries_on(flow: MobylabCli, ssh_farm: SshFarm):
    blocked = ssh_farm.host(FAILING_HOST)
    blocked.remote_dir.write_text("a file where the folder should be\n")
    started = time.monotonic()
    result = flow.provision("--hosts", ssh_farm.specs(), "--no-images")
    elapsed = time.monotonic() - started
    print(f"first provision of 8 hosts: {elapsed:.0f}s")
    assert result.returncode == 1
    rows = _rows(result.stdout, ssh_farm)
    assert "FAIL" in rows[blocked.spec]
    assert "preparing" in rows[blocked.spec]
    for spec, line in rows.items():
        if spec != blocked.spec:
            assert "mobylab 0.1.0 installed" in line, line
            assert re.search(r"\b(OK|WARN)\b", line), line
    assert f"error: workshop.provision: 1 of 8 hosts failed ({blocked.spec})" in result.stderr
    log = flow.workspace / "workshop" / "logs" / f"{blocked.spec.replace(':', '_')}.log"
    assert "File exists" in log.read_text()


def test_only_failed_retries_just_that_host(flow: MobylabCli, ssh_farm: SshFarm):
    blocked = ssh_farm.host(FAILING_HOST)
    blocked.remote_dir.unlink()
    result = flow.provision("--hosts", ssh_farm.specs(), "--no-images", "--only-failed")
    assert result.returncode == 0, result.stdout + result.stderr
    assert blocked.spec in result.stdout
    others = [h.spec for h in ssh_farm.hosts if h.number != FAILING_HOST]
    assert not any(spec in result.stdout for spec in others)
    assert "1 host: 1 OK" in result.stderr
    assert (blocked.remote_dir / ".mobylab-workshop").is_file()


def test_second_provision_does_little_and_says_so(flow: MobylabCli, ssh_farm: SshFarm):
    started = time.monotonic()
    result = flow.provision("--hosts", ssh_farm.specs(), "--no-images")
    elapsed = time.monotonic() - started
    print(f"second provision of 8 hosts: {elapsed:.0f}s")
    assert result.returncode == 0, result.stdout + result.stderr
    for line in _rows(result.stdout, ssh_farm).values():
        assert "already up to date" in line, line


def _register_build(workspace: Path, folder: Path, era: str) -> None:
    """`folder`'s bundles made the workspace's last dev build, as dev.import would."""
    from mobylab.dev.build import EXPORT_MANIFEST, import_build
    from mobylab.dev.plan import plan_from_files
    from mobylab.workspace import Workspace, write_json
    from tests.fixtures.enginesrc import era_files

    files: dict[str, str | None] = {name: text for name, (text, _) in era_files(era).items()}
    plan = plan_from_files(files, checkout=folder, commit="0" * 40, branch="master")
    write_json(folder / EXPORT_MANIFEST, {"plan": plan.as_dict(), "binaries": []})
    import_build(Workspace(workspace), folder)


def test_provision_copies_images_and_bundles_once(flow: MobylabCli, ssh_farm: SshFarm):
    # The 2017 layout: bundles/<version>/binary-daemon, and bundles/latest linking to it,
    # registered as the workspace's last dev build.
    build = flow.workspace / "a-dev-build"
    root = build / "bundles"
    bundles = root / "17.05.0-dev" / "binary-daemon"
    bundles.mkdir(parents=True)
    (bundles / "dockerd").write_text("#!/bin/sh\necho a dev build\n")
    (bundles / "dockerd").chmod(0o755)
    (root / "latest").symlink_to("17.05.0-dev")
    _register_build(flow.workspace, build, "2017")
    flags = ("--hosts", ssh_farm.specs(), "--lab", "hello", "--bundles")
    result = flow.provision(*flags)
    assert result.returncode == 0, result.stdout + result.stderr
    for line in _rows(result.stdout, ssh_farm).values():
        assert "images loaded" in line and "bundles copied" in line, line
    for host in ssh_farm.hosts:
        archives = list((host.remote_dir / "images").glob("images-hello.tar*"))
        assert sorted(p.name for p in archives) == ["images-hello.tar", "images-hello.tar.sha256"]
        copied = host.remote_dir / "bundles" / "latest" / "binary-daemon" / "dockerd"
        assert copied.read_text() == "#!/bin/sh\necho a dev build\n"
        assert (host.remote_dir / "bundles" / "latest").is_symlink()
    again = flow.provision(*flags)
    assert again.returncode == 0, again.stdout + again.stderr
    for line in _rows(again.stdout, ssh_farm).values():
        assert "already up to date" in line, line


def test_provision_dev_gives_hosts_the_build_and_they_run_the_lab_on_it(
    flow: MobylabCli, ssh_farm: SshFarm, tmp_path: Path, engine
):
    from mobylab import labels
    from tests.fixtures.enginesrc import make_engine_source

    source = make_engine_source(tmp_path / "engine", "today")
    built = flow("dev.build", "--checkout", str(source.path), timeout=1800)
    assert built.returncode == 0, built.stdout + built.stderr[-3000:]
    two = ",".join(ssh_farm.specs().split(",")[:2])
    result = flow.provision("--hosts", two, "--lab", "hello", "--dev")
    assert result.returncode == 0, result.stdout + result.stderr
    for line in _rows_of(result.stdout, two).values():
        assert "dev copied" in line, line
    try:
        run = flow("workshop.run", "hello", "--hosts", two, "--engine", "dev", timeout=1800)
        assert run.returncode == 0, run.stdout + run.stderr
        for line in _rows_of(run.stdout, two).values():
            assert "hello passed" in line, line
        for host in ssh_farm.hosts[:2]:
            workspace = host.remote_dir / "workspace"
            report = json.loads((workspace / "reports" / "latest" / "report.json").read_text())
            (dev,) = report["engines"]
            assert dev["name"] == "dev" and dev["commit"]
            state = json.loads((workspace / "state" / "last-build.json").read_text())
            assert state["commit"] == source.commit
            manifest = json.loads(Path(state["manifest"]).read_text())
            assert manifest["bundles_dir"] == str(host.remote_dir / "dev-build" / "bundles")
    finally:
        client = engine.client()
        try:
            for container in client.containers.list(
                all=True, filters={"label": [f"{labels.MANAGED}=true", "org.mobylab.component=dev"]}
            ):
                if str(container.labels.get("org.mobylab.version")) and any(
                    str(h.remote_dir) in str(container.attrs.get("HostConfig", {}).get("Binds"))
                    for h in ssh_farm.hosts[:2]
                ):
                    container.remove(force=True)
        finally:
            client.close()


def test_check_after_provision_runs_the_remote_doctor(flow: MobylabCli, ssh_farm: SshFarm):
    result = flow("workshop.check", "--hosts", ssh_farm.specs(), "--json")
    assert result.returncode == 0, result.stderr
    outcomes = json.loads(result.stdout[result.stdout.index("[") :])
    assert len(outcomes) == 8
    for outcome in outcomes:
        assert outcome["data"]["mobylab"] == "0.1.0"
        assert outcome["data"]["engine"] not in ("none", "-")
        assert "doctor gave no report" not in outcome["message"]
    # The venv was made without ensurepip; pip came from the wheelhouse and stays usable.
    for host in ssh_farm.hosts:
        assert (host.remote_dir / "venv" / "bin" / "pip").is_file()


def test_run_hello_on_every_host(flow: MobylabCli, ssh_farm: SshFarm):
    started = time.monotonic()
    result = flow(
        "workshop.run", "hello", "--hosts", ssh_farm.specs(),
        "--env", f"MOBYLAB_TEST_URL=https://attendee:{FAKE_TOKEN}@127.0.0.1:9/",
    )  # fmt: skip
    print(f"hello lab on 8 hosts: {time.monotonic() - started:.0f}s")
    assert result.returncode == 0, result.stdout + result.stderr
    for line in _rows(result.stdout, ssh_farm).values():
        assert "hello passed" in line
    for host in ssh_farm.hosts:
        reports = host.remote_dir / "workspace" / "reports"
        assert (reports / "latest" / "report.json").is_file()


def test_status_shows_everyone_finished(flow: MobylabCli, ssh_farm: SshFarm):
    result = flow("workshop.status", "--hosts", ssh_farm.specs())
    assert result.returncode == 0, result.stdout + result.stderr
    for line in _rows(result.stdout, ssh_farm).values():
        assert "finished" in line
        assert "hello" in line


def test_collect_writes_one_report(flow: MobylabCli, ssh_farm: SshFarm):
    result = flow("workshop.collect", "--hosts", ssh_farm.specs())
    assert result.returncode == 0, result.stdout + result.stderr
    reports = sorted((flow.workspace / "workshop" / "reports").glob("*/report.json"))
    summary = json.loads(reports[-1].read_text())
    assert summary["hosts"] == 8
    assert summary["finished"] == 8
    assert summary["passed"] == 8
    assert summary["labs"] == ["hello"]
    assert summary["slowest_step"]["seconds"] > 0
    markdown = reports[-1].with_name("report.md").read_text()
    html = reports[-1].with_name("report.html").read_text()
    for host in ssh_farm.hosts:
        assert host.spec in markdown
        assert host.spec in html
    assert "8/8 hosts finished" in markdown


def test_status_names_a_stuck_host_and_where(flow: MobylabCli, ssh_farm: SshFarm):
    stuck = ssh_farm.host(3)
    report_file = stuck.remote_dir / "workspace" / "reports" / "latest" / "report.json"
    report = json.loads(report_file.read_text())
    report.update(status="running", finished=None)
    report["steps"][0]["status"] = "running"
    report_file.write_text(json.dumps(report))
    an_hour_ago = time.time() - 3600
    os.utime(report_file, (an_hour_ago, an_hour_ago))
    result = flow("workshop.status", "--hosts", ssh_farm.specs(), "--stuck-after", "600")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = _rows(result.stdout, ssh_farm)
    assert "STUCK" in rows[stuck.spec]
    assert re.search(r"stuck at Build and run a two-line image for 36\d\ds", rows[stuck.spec])
    assert sum("finished" in line for line in rows.values()) == 7
    assert "1 STUCK" in result.stderr


def test_a_detached_run_returns_at_once_and_status_follows_it(flow: MobylabCli, ssh_farm: SshFarm):
    hosts = ssh_farm.specs([4, 5])
    result = flow("workshop.run", "hello", "--hosts", hosts, "--detach")
    assert result.returncode == 0, result.stdout + result.stderr
    assert all("started (pid" in line for line in _rows_of(result.stdout, hosts).values())
    deadline = time.monotonic() + 180
    while True:
        status = flow("workshop.status", "--hosts", hosts, "--json")
        outcomes = json.loads(status.stdout[status.stdout.index("[") :])
        if [o["data"]["where"] for o in outcomes] == ["finished", "finished"]:
            break
        assert time.monotonic() < deadline, status.stdout
        time.sleep(1)
    for number in (4, 5):
        root = ssh_farm.host(number).remote_dir
        assert (root / "lab.pid").read_text().strip().isdigit()
        assert (root / "workspace" / "reports" / "latest" / "report.json").is_file()


def test_teardown_without_yes_only_lists(flow: MobylabCli, ssh_farm: SshFarm):
    result = flow("workshop.teardown", "--hosts", ssh_farm.specs())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nothing was removed" in result.stderr
    for host in ssh_farm.hosts:
        assert host.remote_dir.is_dir()


def test_no_secret_in_logs_tables_or_reports(flow: MobylabCli, ssh_farm: SshFarm):
    private_key = ssh_farm.client_key.read_text()
    key_body = private_key.splitlines()[1]
    written = [p for p in flow.workspace.rglob("*") if p.is_file() and "wheelhouse" not in p.parts]
    assert any(p.suffix == ".log" for p in written)
    for path in written:
        text = path.read_text(errors="replace")
        assert FAKE_TOKEN not in text, path
        assert key_body not in text, path
    for output in flow.outputs:
        assert FAKE_TOKEN not in output
        assert key_body not in output
    # The command line with the token was logged, masked.
    logs = "".join(p.read_text() for p in (flow.workspace / "workshop" / "logs").glob("*.log"))
    assert "https://***@127.0.0.1:9/" in logs


def test_a_running_detached_lab_refuses_another_and_teardown_stops_it(
    flow: MobylabCli, ssh_farm: SshFarm
):
    host = ssh_farm.host(6)
    # Stands in for a long detached lab: the host user's own process, in its own session.
    lab = subprocess.Popen(["setsid", "sleep", "300"], user=host.user)
    try:
        (host.remote_dir / "lab.pid").write_text(f"{lab.pid}\n")
        again = flow("workshop.run", "hello", "--hosts", host.spec)
        assert again.returncode == 1
        assert f"still runs here (pid {lab.pid})" in again.stdout + again.stderr
        status = flow("workshop.status", "--hosts", host.spec, "--json")
        outcome = json.loads(status.stdout[status.stdout.index("[") :])[0]
        assert (outcome["data"]["progress"], outcome["data"]["where"]) == ("RUNNING", "starting")
        removed = flow("workshop.teardown", "--hosts", host.spec, "--yes", "--label", NOTHING_ELSE)
        assert removed.returncode == 0, removed.stdout + removed.stderr
        assert lab.wait(timeout=30) == -15  # SIGTERM, to the whole session
        assert not host.remote_dir.exists()
    finally:
        if lab.poll() is None:
            lab.kill()

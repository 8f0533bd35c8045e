"""Partial failure against real sshd: a host that is down, a changed host key, an
unknown host (refused, then accepted with --trust-new-hosts), a bad host string,
a host past its deadline, teardown by label, and redaction of what is logged."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import paramiko
import pytest

from mobylab.labels import label_flags
from mobylab.workshop import hostkeys
from mobylab.workshop.driver import Workshop, WorkshopOptions
from mobylab.workshop.hosts import parse_host, parse_host_list
from mobylab.workshop.pool import OK, HostOutcome
from mobylab.workshop.remote import RemoteHost, SshOptions, make_connection
from mobylab.workspace import Workspace

from .conftest import MobylabCli, SshFarm, keygen

pytestmark = pytest.mark.workshop


def _line(output: str, spec: str) -> str:
    lines = [line for line in output.splitlines() if spec in line]
    assert lines, f"{spec} missing from:\n{output}"
    return lines[0]


def test_a_host_that_is_down_is_reported_and_the_others_carry_on(
    cli: MobylabCli, ssh_farm: SshFarm
):
    up = ssh_farm.host(2).spec
    result = cli("workshop.check", "--hosts", f"{up},{ssh_farm.down_spec}", "--retries", "1")
    assert result.returncode == 1
    assert "UNREACHABLE" in _line(result.stdout, ssh_farm.down_spec)
    assert "connection refused" in _line(result.stdout, ssh_farm.down_spec)
    assert "UNREACHABLE" not in _line(result.stdout, up)
    assert "2 hosts:" in result.stderr and "1 UNREACHABLE" in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and ssh_farm.down_spec in errors[0]


def test_a_changed_host_key_is_refused_with_one_line_naming_the_host(
    cli: MobylabCli, ssh_farm: SshFarm, tmp_path: Path
):
    changed = ssh_farm.host(3)
    other_key = keygen(tmp_path / "impostor", "impostor").split()[:2]
    text = ssh_farm.known_hosts_text(skip=[3])
    cli.known_hosts.write_text(text + f"[{changed.address}]:{changed.port} {' '.join(other_key)}\n")
    specs = f"{ssh_farm.host(2).spec},{changed.spec}"
    for extra in ([], ["--trust-new-hosts"]):  # never accepted, even with --trust-new-hosts
        result = cli("workshop.check", "--hosts", specs, *extra)
        assert result.returncode == 1
        row = _line(result.stdout, changed.spec)
        assert "REFUSED" in row and "host key changed" in row
        assert "REFUSED" not in _line(result.stdout, ssh_farm.host(2).spec)
    assert " ".join(other_key) in cli.known_hosts.read_text()
    assert changed.host_key_line not in cli.known_hosts.read_text()


def test_an_unknown_host_is_refused_then_accepted_with_trust_new_hosts(
    cli: MobylabCli, ssh_farm: SshFarm
):
    unknown = ssh_farm.host(4)
    cli.known_hosts.write_text(ssh_farm.known_hosts_text(skip=[4]))
    result = cli("workshop.check", "--hosts", unknown.spec)
    assert result.returncode == 1
    assert "unknown host key" in _line(result.stdout, unknown.spec)
    assert f"{unknown.spec}: unknown host key" in result.stderr

    result = cli("workshop.check", "--hosts", unknown.spec, "--trust-new-hosts")
    assert result.returncode == 0, result.stdout + result.stderr
    assert unknown.known_hosts_line in cli.known_hosts.read_text().splitlines()

    result = cli("workshop.check", "--hosts", unknown.spec)  # now known, no flag needed
    assert result.returncode == 0, result.stdout + result.stderr


def test_reject_policy_is_in_force_when_connect_runs(ssh_farm: SshFarm, tmp_path: Path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    options = SshOptions(known_hosts=empty, ssh_config=ssh_farm.ssh_config)
    cxn = make_connection(parse_host(ssh_farm.host(5).spec), options)
    assert isinstance(hostkeys.policy_in_force(cxn), paramiko.AutoAddPolicy)  # Fabric's default
    hostkeys.secure(cxn, empty, trust_new=False)
    assert isinstance(hostkeys.policy_in_force(cxn), paramiko.RejectPolicy)
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        cxn.open()
    cxn.close()
    assert empty.read_text() == ""


def test_an_alias_from_ssh_config_in_a_hosts_file(cli: MobylabCli, ssh_farm: SshFarm, tmp_path):
    hosts_file = tmp_path / "hosts.txt"
    hosts_file.write_text("# attendees\nattendee-6   # row 1\n\nattendee-7\n")
    result = cli("workshop.check", "--hosts-file", str(hosts_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "attendee-6" in result.stdout and "attendee-7" in result.stdout


def test_proxyjump_hops_are_verified_too(cli: MobylabCli, ssh_farm: SshFarm):
    result = cli("workshop.check", "--hosts", "via-jump-5")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "via-jump-5" in result.stdout
    cli.known_hosts.write_text(ssh_farm.known_hosts_text(skip=[2]))  # the jump host's key
    result = cli("workshop.check", "--hosts", "via-jump-5")
    assert result.returncode == 1
    assert "via-jump-5: unknown host key for [127.0.0.2]:" in result.stderr


def test_a_host_string_with_a_shell_metacharacter_is_a_usage_error(cli: MobylabCli):
    result = cli("workshop.check", "--hosts", "good.example,bad;rm -rf ~")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1
    assert "bad;rm" in errors[0] and "shell metacharacter" in errors[0]


def test_a_host_past_its_deadline_times_out_while_the_others_finish(
    ssh_farm: SshFarm, tmp_path: Path
):
    options = WorkshopOptions(
        ssh=SshOptions(known_hosts=Path(ssh_farm.known_hosts), ssh_config=ssh_farm.ssh_config),
        parallel=2,
        host_timeout=3,
        live=False,
    )
    workshop = Workshop(Workspace(tmp_path / "ws"), options)
    slow = ssh_farm.host(2)

    def body(remote: RemoteHost, layout, job) -> HostOutcome:
        if remote.job.spec.host == slow.address:
            remote.run("sleep 60")
        remote.run("true")
        return HostOutcome(job.label, OK, job.step, "fine")

    specs = parse_host_list(ssh_farm.specs([2, 3, 4]))
    started = time.monotonic()
    outcomes = workshop.run("deadline", specs, body)
    assert time.monotonic() - started < 20
    states = {o.host: o.state for o in outcomes}
    assert states[slow.spec] == "TIMEOUT"
    assert states[ssh_farm.host(3).spec] == OK and states[ssh_farm.host(4).spec] == OK
    assert workshop.failed_last_time("deadline") == [slow.spec]
    time.sleep(1)
    assert not [t for t in threading.enumerate() if t.name.startswith("workshop") and t.is_alive()]


def test_what_a_host_prints_is_logged_without_secrets(ssh_farm: SshFarm, tmp_path: Path):
    token = "fake-" + uuid.uuid4().hex
    private_key = ssh_farm.client_key.read_text()
    options = WorkshopOptions(
        ssh=SshOptions(known_hosts=Path(ssh_farm.known_hosts), ssh_config=ssh_farm.ssh_config),
        env={"PROXY": f"http://user:{token}@127.0.0.1:9"},
        live=False,
    )
    workshop = Workshop(Workspace(tmp_path / "ws"), options)
    key_copy = ssh_farm.host(8).home / "copied_key"
    key_copy.write_text(private_key)

    def body(remote: RemoteHost, layout, job) -> HostOutcome:
        remote.run(f"echo https://someone:{token}@127.0.0.1/repo.git; cat {key_copy}")
        remote.run(f"echo password={token}; false", check=True)
        return HostOutcome(job.label, OK, job.step, "")

    [outcome] = workshop.run("secrets", parse_host_list(ssh_farm.host(8).spec), body)
    key_copy.unlink()
    assert outcome.state == "FAIL"
    log = next((tmp_path / "ws" / "workshop" / "logs").glob("*.log")).read_text()
    assert "https://***@127.0.0.1/repo.git" in log
    assert token not in log and token not in outcome.message
    assert private_key.splitlines()[1] not in log
    assert "***private key***" in log


def test_teardown_removes_only_labelled_objects_and_the_marked_folder(
    cli: MobylabCli, ssh_farm: SshFarm, engine
):
    marker = f"t{uuid.uuid4().hex[:12]}"
    name = f"mobylab-workshop-test-{marker}"
    subprocess.run(
        ["docker", "create", "--name", name,
         *label_flags("workshop-test", test=marker), "busybox-does-not-matter:none"],
        capture_output=True, env=engine.cli_env(),
    )  # fmt: skip
    subprocess.run(
        ["docker", "volume", "create", *label_flags("workshop-test", test=marker), name],
        check=True, capture_output=True, env=engine.cli_env(),
    )  # fmt: skip
    marked, unmarked = ssh_farm.host(6), ssh_farm.host(7)
    for host in (marked, unmarked):
        (host.home / "teardown-dir").mkdir(exist_ok=True)
        shutil.chown(host.home / "teardown-dir", host.user, host.user)
    (marked.home / "teardown-dir" / ".mobylab-workshop").write_text("")
    specs = f"{marked.spec},{unmarked.spec}"
    try:
        common = ("--hosts", specs, "--remote-dir", "~/teardown-dir", "--label")
        listing = cli("workshop.teardown", *common, f"org.mobylab.test={marker}")
        assert listing.returncode == 0, listing.stdout + listing.stderr
        assert name in listing.stdout or "1 volumes" in listing.stdout
        assert (marked.home / "teardown-dir").is_dir()
        removed = cli("workshop.teardown", *common, f"org.mobylab.test={marker}", "--yes")
        assert removed.returncode == 0, removed.stdout + removed.stderr
        assert not (marked.home / "teardown-dir").exists()
        assert (unmarked.home / "teardown-dir").is_dir()  # no marker: kept
        volumes = subprocess.run(
            ["docker", "volume", "ls", "-q", "--filter", f"name={name}"],
            capture_output=True, text=True, env=engine.cli_env(),
        ).stdout  # fmt: skip
        assert name not in volumes
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, env=engine.cli_env())
        subprocess.run(["docker", "volume", "rm", name], capture_output=True, env=engine.cli_env())

"""Host strings, inventories and host key decisions (pure)."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest
from fabric import Connection
from hypothesis import given
from hypothesis import strategies as st

from mobylab.errors import UsageError
from mobylab.workshop import hostkeys
from mobylab.workshop.commands import (
    failure_line,
    hosts_failed,
    parse_env,
    port_number,
    summary_line,
)
from mobylab.workshop.hosts import (
    HostSpec,
    parse_host,
    parse_host_list,
    parse_hosts_file_text,
    resolve_inventory,
    select,
)
from mobylab.workshop.pool import HostOutcome


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("vm1", HostSpec("vm1")),
        ("alice@vm1.example.org", HostSpec("vm1.example.org", "alice")),
        ("alice@10.0.0.5:2222", HostSpec("10.0.0.5", "alice", 2222)),
        ("[::1]", HostSpec("::1")),
        ("bob@[fe80::1%eth0]:22", HostSpec("fe80::1%eth0", "bob", 22)),
        ("  attendee-7  ", HostSpec("attendee-7")),
    ],
)
def test_valid_hosts(text: str, spec: HostSpec):
    assert parse_host(text) == spec


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("vm1;reboot", "shell metacharacter ';'"),
        ("$(id)@vm1", "shell metacharacter"),
        ("vm1 vm2", "shell metacharacter ' '"),
        ("vm1`x`", "shell metacharacter '`'"),
        ("vm1:0", "port"),
        ("vm1:70000", "port"),
        ("vm1:ssh", "port"),
        ("::1", "brackets"),
        ("[::1", "closing bracket"),
        ("[vm1]:22", "not an IPv6"),
        ("-oProxyCommand=x", "metacharacter"),
        ("-vm1", "not a host name"),
        ("9bad user@vm1", "metacharacter"),
        ("", "empty"),
    ],
)
def test_invalid_hosts_are_one_line_usage_errors_naming_the_host(text: str, why: str):
    with pytest.raises(UsageError) as caught:
        parse_host(text)
    line = caught.value.one_line()
    assert "\n" not in line
    assert why in line
    assert caught.value.exit_code == 2
    if text.strip():
        assert repr(text.strip()) in line


@given(st.text(min_size=1, max_size=30))
def test_any_accepted_host_has_no_shell_metacharacter(text: str):
    try:
        spec = parse_host(text)
    except UsageError:
        return
    assert not set(spec.label) & set(";&|<>()$`\\\"' \t\n*?!{}~#=,")


def test_labels_and_file_names():
    spec = parse_host("alice@[::1]:2222")
    assert spec.label == "alice@[::1]:2222"
    assert "/" not in spec.file_name and ":" not in spec.file_name
    assert parse_host("vm1").label == "vm1"


def test_lists_files_and_inventory(tmp_path: Path):
    assert parse_host_list("a, b@c:2,,a") == [HostSpec("a"), HostSpec("c", "b", 2), HostSpec("a")]
    text = "# attendees\nvm1  # first row\n\n  vm2\n# vm3\n"
    assert parse_hosts_file_text(text) == [HostSpec("vm1"), HostSpec("vm2")]
    hosts_file = tmp_path / "hosts"
    hosts_file.write_text(text)
    assert resolve_inventory("x,x,y", None, ["z"]) == [HostSpec("x"), HostSpec("y")]
    assert resolve_inventory(None, str(hosts_file), ["z"]) == [HostSpec("vm1"), HostSpec("vm2")]
    assert resolve_inventory(None, None, ["z"]) == [HostSpec("z")]
    with pytest.raises(UsageError, match="no hosts"):
        resolve_inventory(None, None, [])
    with pytest.raises(UsageError, match="cannot read the hosts file"):
        resolve_inventory(None, str(tmp_path / "missing"), [])
    specs = resolve_inventory("a,b,c", None, [])
    assert select(specs, ["c", "a", "zz"]) == [HostSpec("a"), HostSpec("c")]


def test_known_hosts_names():
    assert hostkeys.known_hosts_name("vm1", 22) == "vm1"
    assert hostkeys.known_hosts_name("127.0.0.2", 2222) == "[127.0.0.2]:2222"


def _key() -> paramiko.PKey:
    return paramiko.RSAKey.generate(1024)


def test_errors_while_connecting_become_one_line_naming_the_host():
    known = Path("/k")
    changed = hostkeys.translate(paramiko.BadHostKeyException("h", _key(), _key()), "vm1", known)
    assert isinstance(changed, hostkeys.HostKeyChanged)
    assert changed.message.startswith("vm1: host key changed for h (")
    # Through a ProxyJump hop the refused key may be the hop's: the message names it.
    unknown = hostkeys.translate(
        paramiko.SSHException("Server '[jump.example]:2200' not found in known_hosts"),
        "vm1",
        known,
    )
    assert isinstance(unknown, hostkeys.HostKeyUnknown)
    assert unknown.message.startswith("vm1: unknown host key for [jump.example]:2200 (not in")
    assert "--trust-new-hosts" in unknown.one_line()
    refused = hostkeys.translate(
        paramiko.ssh_exception.NoValidConnectionsError({("127.0.0.1", 22): OSError("x")}),
        "vm1",
        known,
    )
    assert isinstance(refused, hostkeys.HostUnreachable)
    assert hostkeys.retryable(refused)
    timeout = hostkeys.translate(TimeoutError("timed out"), "vm1", known)
    assert "timed out" in timeout.message and hostkeys.retryable(timeout)
    auth = hostkeys.translate(paramiko.AuthenticationException("no"), "vm1", known)
    assert not hostkeys.retryable(auth) and not hostkeys.retryable(changed)
    for error in (changed, unknown, refused, auth):
        assert "\n" not in error.one_line()


def test_secure_replaces_fabrics_auto_add_policy_on_every_hop(tmp_path: Path):
    known = tmp_path / "known_hosts"
    known.write_text("")
    jump = Connection("jump.example", port=2200)
    cxn = Connection("vm1.example", gateway=jump)
    assert isinstance(hostkeys.policy_in_force(cxn), paramiko.AutoAddPolicy)
    hostkeys.secure(cxn, known, trust_new=False)
    assert isinstance(hostkeys.policy_in_force(cxn), paramiko.RejectPolicy)
    assert isinstance(hostkeys.policy_in_force(jump), paramiko.RejectPolicy)
    hostkeys.secure(cxn, known, trust_new=True)
    assert isinstance(hostkeys.policy_in_force(cxn), hostkeys.RecordNewHostPolicy)


def test_trusting_a_new_host_appends_it_in_the_port_form(tmp_path: Path):
    known = tmp_path / "known_hosts"
    known.write_text("vm0 ssh-rsa AAAA")  # no final newline
    client = paramiko.SSHClient()
    key = _key()
    hostkeys.RecordNewHostPolicy(known).missing_host_key(client, "[127.0.0.2]:2222", key)
    lines = known.read_text().splitlines()
    assert lines[0] == "vm0 ssh-rsa AAAA"
    assert lines[1] == f"[127.0.0.2]:2222 ssh-rsa {key.get_base64()}"
    assert client.get_host_keys().lookup("[127.0.0.2]:2222") is not None


@pytest.mark.parametrize("value", ["~", "~/", ".", "/", "", "~/..", "/home/..", "../x"])
def test_a_remote_dir_that_holds_the_home_is_refused(value: str) -> None:
    from mobylab.workshop.layout import remote_dir_problem

    assert remote_dir_problem(value)


@pytest.mark.parametrize("value", ["~/.mobylab-workshop", "/srv/mobylab", "~/work/ml"])
def test_a_folder_of_its_own_is_fine(value: str) -> None:
    from mobylab.workshop.layout import remote_dir_problem

    assert remote_dir_problem(value) == ""


def test_env_items_become_a_mapping_and_a_bad_one_is_named() -> None:
    assert parse_env(["A=1", "B_2=x=y", "EMPTY="]) == {"A": "1", "B_2": "x=y", "EMPTY": ""}
    for bad in ("NOVALUE", "1A=x", "A-B=x", "=x"):
        with pytest.raises(UsageError, match="is not NAME=VALUE"):
            parse_env([bad])


@pytest.mark.parametrize(("value", "port"), [("0", 0), (8090, 8090), ("65535", 65535)])
def test_a_board_port_is_a_number_from_0_to_65535(value: object, port: int) -> None:
    assert port_number(value) == port


@pytest.mark.parametrize("value", ["-1", "65536", "http", None])
def test_a_board_port_out_of_range_is_refused(value: object) -> None:
    with pytest.raises(UsageError, match="--port is"):
        port_number(value)


def test_the_summary_counts_states_and_the_error_names_the_failed_hosts() -> None:
    ok = [HostOutcome(f"h{n}", "OK") for n in range(6)]
    down = HostOutcome("h6", "UNREACHABLE", step="connect")
    failed = HostOutcome("h7", "FAIL", message="h7: pip failed")
    outcomes = [*ok, down, failed]
    assert summary_line(outcomes) == "8 hosts: 6 OK, 1 FAIL, 1 UNREACHABLE"
    assert failure_line(down) == "UNREACHABLE: h6: stopped at connect"
    assert failure_line(failed) == "FAIL: h7: pip failed"
    error = hosts_failed("provision", outcomes, Path("logs"))
    assert error is not None
    assert error.message == "workshop.provision: 2 of 8 hosts failed (h6, h7)"
    assert hosts_failed("provision", ok, Path("logs")) is None

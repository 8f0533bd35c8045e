"""workshop.serve --hosts, the pure parts: seats placed over hosts, what ssh is asked
and what its failures say, the host's facts, and a work folder's changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from mobylab.errors import WorkshopError
from mobylab.workshop.hostkeys import (
    HostAuthFailed,
    HostKeyChanged,
    HostKeyUnknown,
    HostUnreachable,
)
from mobylab.workshop.hosts import HostSpec, parse_host_list
from mobylab.workshop.remote import SshOptions
from mobylab.workshop.serve.bridge import lab_script
from mobylab.workshop.serve.files import changes
from mobylab.workshop.serve.links import is_local, parse_facts, ssh_argv, ssh_failure
from mobylab.workshop.serve.seats import place_seats

KNOWN = Path("/k/known_hosts")


def test_seats_go_round_robin_over_the_hosts() -> None:
    assert place_seats(5, 2) == (0, 1, 0, 1, 0)
    assert place_seats(2, 3) == (0, 1)
    assert place_seats(3, 1) == (0, 0, 0)


def test_local_in_the_hosts_list_is_this_machine_and_nothing_else_is() -> None:
    local, farm, named = parse_host_list("local,me@local:22,local.example")
    assert is_local(local)
    assert not is_local(farm) and not is_local(named)


def test_ssh_keeps_workshop_host_key_rules() -> None:
    options = SshOptions(known_hosts=KNOWN, ssh_config=Path("/k/config"))
    argv = ssh_argv(HostSpec("10.0.0.5", "ann", 2222), options, Path("/r/ctl"), master=True)
    pairs = {argv[i + 1] for i, word in enumerate(argv) if word == "-o"}
    assert {
        "BatchMode=yes",
        f"UserKnownHostsFile={KNOWN}",
        "GlobalKnownHostsFile=/dev/null",
        "StrictHostKeyChecking=yes",
        "ControlPath=/r/ctl",
        "ControlMaster=yes",
    } <= pairs
    assert argv[-7:] == ["-F", "/k/config", "-l", "ann", "-p", "2222", "10.0.0.5"]
    trusting = ssh_argv(
        HostSpec("h"), SshOptions(known_hosts=KNOWN, trust_new_hosts=True), Path("/c"), master=False
    )
    assert "StrictHostKeyChecking=accept-new" in trusting and "ControlMaster=no" in trusting
    assert trusting[-1] == "h" and "-p" not in trusting and "-F" not in trusting


@pytest.mark.parametrize(
    ("said", "kind", "words"),
    [
        (
            "No ED25519 host key is known for [127.0.0.2]:2222 and you have requested strict "
            "checking.\nHost key verification failed.\n",
            HostKeyUnknown,
            "unknown host key",
        ),
        (
            "@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
            "Host key verification failed.\n",
            HostKeyChanged,
            "host key changed",
        ),
        ("ann@h: Permission denied (publickey).\n", HostAuthFailed, "authentication failed"),
        (
            "ssh: connect to host 127.0.0.10 port 2222: Connection refused\n",
            HostUnreachable,
            "unreachable (ssh: connect to host 127.0.0.10 port 2222: Connection refused)",
        ),
    ],
)
def test_what_ssh_said_becomes_one_line_naming_the_host(
    said: str, kind: type[WorkshopError], words: str
) -> None:
    error = ssh_failure(said, "ann@h:2222", KNOWN)
    assert isinstance(error, kind)
    assert error.one_line().startswith(f"ann@h:2222: {words}")
    assert "\n" not in error.one_line()


def test_the_hosts_engine_socket_comes_from_its_docker_host() -> None:
    facts = parse_facts("1001\n1001\n/run/user/1001\n\n4194304\n", "h")
    assert (facts.uid, facts.gid, facts.runtime_dir) == (1001, 1001, "/run/user/1001")
    assert facts.engine_socket == "/var/run/docker.sock" and facts.pid_max == 4194304
    other = parse_facts("0\n0\n\nunix:///srv/docker.sock\n\n", "h")
    assert other.engine_socket == "/srv/docker.sock" and other.pid_max is None
    with pytest.raises(WorkshopError, match=r"DOCKER_HOST is tcp://10\.0\.0\.1:2375"):
        parse_facts("0\n0\n\ntcp://10.0.0.1:2375\n1\n", "h")
    with pytest.raises(WorkshopError, match="could not tell its user"):
        parse_facts("", "h")


def test_a_work_folders_changes_name_a_removed_folder_once() -> None:
    before = {"Dockerfile": (10, 1, 0o644), "old": (0, 1, 0o40755), "old/a": (1, 1, 0o644)}
    after = {"Dockerfile": (12, 2, 0o644), "new.txt": (3, 2, 0o644)}
    assert changes(before, after) == (["Dockerfile", "new.txt"], ["old"])
    assert changes(after, after) == ([], [])


def test_the_sandboxes_lab_removes_its_request_once_answered() -> None:
    script = lab_script()
    assert 'rm -f "$ipc/$id.req" "$ipc/$id.out" "$ipc/$id.done"' in script


def test_only_this_machines_dead_servers_are_reaped_on_a_shared_host() -> None:
    from mobylab.workshop.serve.sandbox import is_orphan

    here = "machine-a"
    assert is_orphan(here, here, alive=False, remote=True)
    assert not is_orphan(here, here, alive=True, remote=True)
    # Another machine's server on the same host: its pid means nothing here.
    assert not is_orphan("machine-b", here, alive=False, remote=True)
    assert not is_orphan("machine-b", here, alive=False, remote=False)
    # Sandboxes from before the label: judged on this machine's own engine only.
    assert is_orphan(None, here, alive=False, remote=False)
    assert not is_orphan(None, here, alive=False, remote=True)


def test_a_sandbox_is_labelled_with_its_servers_machine() -> None:
    from mobylab.workshop.serve.sandbox import MACHINE_LABEL, SandboxNames, machine_id

    values = SandboxNames("abc", 2, Path("/run"), Path("/seat")).labels()
    assert values[MACHINE_LABEL] == machine_id() != ""

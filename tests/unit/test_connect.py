from mobylab.engine._connect import Candidate, candidates


def test_auto_tries_the_default_socket_and_may_fall_back():
    assert candidates("auto", None, None, "/var/run/docker.sock") == [
        Candidate("unix:///var/run/docker.sock", "the default socket", False)
    ]


def test_docker_host_wins_over_the_context_and_must_answer():
    got = candidates("auto", "tcp://127.0.0.1:2375", "unix:///ctx.sock", "/var/run/docker.sock")
    assert got == [Candidate("tcp://127.0.0.1:2375", "DOCKER_HOST", True)]


def test_the_docker_context_is_used_when_no_docker_host():
    got = candidates("auto", None, "unix:///ctx.sock", "/var/run/docker.sock")
    assert got == [Candidate("unix:///ctx.sock", "the docker context", True)]


def test_an_engine_setting_is_explicit_and_bare_paths_become_urls():
    got = candidates("/tmp/d.sock", "tcp://ignored:1", None, "/var/run/docker.sock")
    assert got == [Candidate("unix:///tmp/d.sock", "the engine setting", True)]


def test_private_means_no_user_engine():
    assert candidates("private", "tcp://x:1", None, "/var/run/docker.sock") == []


def test_mounts_at_counts_only_exact_mount_points():
    from pathlib import Path

    from mobylab.engine._private import mounts_at

    text = (
        "/dev/vda /ws/engine/data ext4 rw 0 0\n"
        "/dev/vda /ws/engine/data ext4 rw 0 0\n"
        "/dev/vda /ws/engine/data/overlay2 ext4 rw 0 0\n"
    )
    assert mounts_at(text, Path("/ws/engine/data")) == 2
    assert mounts_at(text, Path("/ws/engine")) == 0

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from mobylab import process
from mobylab.errors import MobylabError


def test_run_streams_lines_keeps_a_tail_and_a_log(tmp_path):
    seen: list[str] = []
    log = tmp_path / "out.log"
    script = "for i in range(100): print(i)\nimport sys; sys.exit(3)"
    result = process.run([sys.executable, "-c", script], log=log, on_line=seen.append)
    assert result.returncode == 3 and not result.ok
    assert seen == [str(i) for i in range(100)]
    assert result.tail == [str(i) for i in range(60, 100)]
    assert log.read_text().splitlines() == seen


def test_arguments_are_never_interpreted_by_a_shell(tmp_path):
    marker = tmp_path / "p"
    result = process.run(["echo", f"x; touch {marker}", "$(id)"])
    assert result.output == f"x; touch {marker} $(id)"
    assert not marker.exists()


def test_a_missing_program_is_one_clear_error():
    with pytest.raises(MobylabError, match="not-a-program-here is not installed"):
        process.run(["not-a-program-here"])


def test_a_known_program_names_the_package_that_provides_it(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MobylabError) as caught:
        process.require("debootstrap")
    assert caught.value.hint == "Install debootstrap (apt-get install debootstrap)."


def test_ctrl_c_stops_the_child_tree_and_raises_interrupted(tmp_path):
    # A parent Python process runs process.run on a long sleep; SIGINT to it must
    # stop the sleep too and exit with the Interrupted error.
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(__import__("pathlib").Path(process.__file__).parents[1])!r})
        from mobylab import process
        from mobylab.errors import Interrupted
        try:
            process.run(["sh", "-c", "echo started; sleep 30; echo late"], on_line=print)
        except Interrupted as exc:
            print("interrupted:", exc.message, flush=True)
            sys.exit(130)
        """
    )
    proc = subprocess.Popen([sys.executable, "-u", "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "started"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert "interrupted: interrupted while running sh" in out
    assert "late" not in out


def test_capture_bytes_keeps_every_byte_and_capture_shows_text():
    script = "import sys; sys.stdout.buffer.write(b'a\\xffb\\r\\nc')"
    raw = process.capture_bytes([sys.executable, "-c", script])
    assert raw.stdout == b"a\xffb\r\nc"
    text = process.capture([sys.executable, "-c", script])
    assert text.stdout == "a\ufffdb\nc"


def test_a_capture_that_takes_too_long_names_the_program_and_the_hint():
    with pytest.raises(MobylabError) as caught:
        process.capture_bytes(["sleep", "5"], timeout=1, timeout_hint="Check the server.")
    assert caught.value.message == "sleep did not finish within 1s"
    assert caught.value.hint == "Check the server."


def test_a_detached_program_has_a_session_of_its_own_and_writes_to_its_log(tmp_path):
    log = tmp_path / "daemon.log"
    log.write_text("before\n")
    proc = process.start_detached([sys.executable, "-c", "import os; print(os.getsid(0))"], log)
    assert proc.wait(timeout=20) == 0
    lines = log.read_text().splitlines()
    assert lines[0] == "before" and int(lines[1]) == proc.pid


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)], ids=["SIGTERM", "SIGHUP"]
)
def test_sigterm_and_sighup_stop_the_child_tree_as_ctrl_c_does(signum: int, code: int):
    code_text = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(__import__("pathlib").Path(process.__file__).parents[1])!r})
        from mobylab import process
        from mobylab.errors import Interrupted
        with process.stopped_like_ctrl_c() as stop:
            try:
                process.run(["sh", "-c", "echo $$; sleep 30; echo late"], on_line=print)
            except Interrupted as exc:
                print("interrupted:", exc.message, flush=True)
        sys.exit(stop.exit_code)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", code_text], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == code
    assert "interrupted: interrupted while running sh" in out
    assert "late" not in out
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)


def test_the_time_limit_stops_a_silent_child_and_what_it_started() -> None:
    """A child that prints nothing is stopped at the limit, and so is a grandchild that
    ignores SIGINT and SIGTERM (as a `docker run` attached to a container does) and
    holds the output open after the child is gone."""
    started = time.monotonic()
    with pytest.raises(MobylabError, match="took longer than 1s"):
        process.run(["sh", "-c", "(trap '' INT TERM; exec sleep 60) & wait"], timeout=1)
    assert time.monotonic() - started < 20

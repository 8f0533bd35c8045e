import signal
import subprocess
import sys
import textwrap

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

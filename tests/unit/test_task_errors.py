import pytest
from invoke.exceptions import Exit

from mobylab.errors import BuildError, UsageError
from mobylab.tasks.base import friendly_errors


def test_a_mobylab_error_becomes_one_line_and_its_exit_code(capsys):
    @friendly_errors
    def failing():
        raise BuildError("make exited with 2", "See the log.", detail="last line of log")

    with pytest.raises(Exit) as caught:
        failing()
    assert caught.value.code == 1
    assert caught.value.message == "error: make exited with 2. See the log."
    assert "last line of log" in capsys.readouterr().err


def test_usage_errors_exit_2_and_ctrl_c_exits_130():
    @friendly_errors
    def bad_usage():
        raise UsageError("--pr must be a positive integer, not -1")

    @friendly_errors
    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(Exit) as usage:
        bad_usage()
    with pytest.raises(Exit) as ctrl_c:
        interrupted()
    assert usage.value.code == 2
    assert ctrl_c.value.code == 130 and "interrupted" in ctrl_c.value.message

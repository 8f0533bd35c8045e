import os
import signal
import time

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


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)], ids=["SIGTERM", "SIGHUP"]
)
def test_sigterm_and_sighup_stop_a_task_as_ctrl_c_does(signum: int, code: int):
    unwound: list[str] = []

    @friendly_errors
    def long_task():
        try:
            os.kill(os.getpid(), signum)
            time.sleep(30)
        finally:
            unwound.append("cleaned up")

    before = signal.getsignal(signum)
    with pytest.raises(Exit) as caught:
        long_task()
    assert caught.value.code == code and "interrupted" in caught.value.message
    assert unwound == ["cleaned up"]
    assert signal.getsignal(signum) is before


def test_a_stop_signal_runs_the_ctrl_c_handler_in_force_and_a_second_one_waits():
    seen: list[str] = []

    def on_ctrl_c(signum, frame):
        seen.append("the task's own Ctrl-C handler")
        raise KeyboardInterrupt

    @friendly_errors
    def task_with_its_own_ctrl_c():
        previous = signal.signal(signal.SIGINT, on_ctrl_c)
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)
        except KeyboardInterrupt:
            # Cleaning up: a second SIGTERM must not cut it short.
            os.kill(os.getpid(), signal.SIGTERM)
            seen.append("cleanup finished")
            raise
        finally:
            signal.signal(signal.SIGINT, previous)

    with pytest.raises(Exit) as caught:
        task_with_its_own_ctrl_c()
    assert caught.value.code == 143
    assert seen == ["the task's own Ctrl-C handler", "cleanup finished"]

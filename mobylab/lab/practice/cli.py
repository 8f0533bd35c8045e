"""The `lab` command inside a practice shell: check, hint, solve, next, status, show, reset.

It reads the run from MOBYLAB_PRACTICE (the state file lab.practice set) and
starts without invoke's task tree; the engine-facing parts load only for the
subcommands that need them. Errors are one line and a non-zero exit, as in
every task (2 for a bad argument, 130 for Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

USAGE_EXIT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: lab: {message}. See `lab --help`.\n")
        raise SystemExit(USAGE_EXIT)


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog="lab", description="Practice a lab step by step.")
    sub = top.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("check", help="check this step against the engine now (counts an attempt)")
    sub.add_parser("hint", help="the next hint for this step")
    sub.add_parser("solve", help="run the step's reference commands, then check")
    following = sub.add_parser("next", help="move on to the next step (once this one passed)")
    following.add_argument("--skip", action="store_true", help="move on without passing")
    sub.add_parser("status", help="every step: passed, attempts, hints, time")
    show = sub.add_parser("show", help="print a file of the work folder")
    show.add_argument("file")
    sub.add_parser("reset", help="restore this step's files as the lab made them")
    return top


def _without_practice_bin(path: str, bin_dir: str) -> str:
    """Pure: PATH without the practice bin folder (the reference commands add the
    run's labels themselves; the shell's docker wrapper would add them twice)."""
    return os.pathsep.join(part for part in path.split(os.pathsep) if part and part != bin_dir)


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from ... import ui
    from ...errors import UsageError
    from .run import PracticeRun

    state = os.environ.get("MOBYLAB_PRACTICE")
    if not state:
        raise UsageError(
            "lab: not inside a practice shell (MOBYLAB_PRACTICE is not set)",
            "Start one with `invoke lab.practice NAME`.",
        )
    bin_dir = os.environ.get("MOBYLAB_PRACTICE_BIN", "")
    os.environ["PATH"] = _without_practice_bin(os.environ.get("PATH", ""), bin_dir)
    current = PracticeRun.open(Path(state))
    if args.command == "check":
        return 0 if current.check() else 1
    if args.command == "solve":
        return 0 if current.solve() else 1
    if args.command == "hint":
        ui.out.print(current.hint(), markup=False, highlight=False)
    elif args.command == "next":
        if current.next(args.skip) is None:
            ui.out.print(
                "every step is done: `exit` leaves the lab and shows the comparison",
                markup=False,
            )
    elif args.command == "status":
        rows = current.status_rows()
        header = ["step", "title", "status", "attempts", "hints", "how", "time"]
        ui.out.print(ui.table(header, rows, title=f"{current.lab.title} — practice"))
    elif args.command == "show":
        current.show(args.file)
    elif args.command == "reset":
        replaced = current.reset()
        for line in replaced:
            ui.out.print(f"restored {line}", markup=False, highlight=False)
        if not replaced:
            ui.out.print("nothing to restore: this step's files are as the lab made them")
    return 0


def main(argv: list[str] | None = None) -> None:
    from ...errors import Interrupted, MobylabError

    try:
        code = run(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:
        error: MobylabError = Interrupted("lab: interrupted")
    except MobylabError as exc:
        error = exc
    else:
        raise SystemExit(code)
    sys.stderr.write(f"error: {error.one_line()}\n")
    raise SystemExit(error.exit_code)


if __name__ == "__main__":
    main()

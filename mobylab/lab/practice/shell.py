"""The practice shell: the learner's own shell in the run's work folder, with `lab` on PATH.

<report dir>/practice/ holds what the shell uses: bin/lab (the `lab` command:
`python -m mobylab.lab.practice.cli`, the state read from MOBYLAB_PRACTICE),
bin/docker (the real docker CLI with mobylab's labels added to what it builds
and runs, so lab.clean finds what the learner made), bashrc (the prompt naming
the lab and the step) and prompt (the text it shows, rewritten by `lab`).
The text of each file comes from a pure function; process.interactive runs the shell.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from ...workspace import write_atomic
from ..checks import SHELL_NAMES

# Subcommands of the docker CLI that create something, so they get the labels.
CREATING = ("build", "create", "run")


def lab_command(python: str, package_parent: Path) -> str:
    """Pure: the `lab` script: this Python, with this mobylab first on its path."""
    parent = shlex.quote(str(package_parent))
    return (
        "#!/bin/sh\n"
        f"PYTHONPATH={parent}${{PYTHONPATH:+:$PYTHONPATH}} exec {shlex.quote(python)} "
        '-m mobylab.lab.practice.cli "$@"\n'
    )


def docker_wrapper(real_docker: str, label_flags: Sequence[str]) -> str:
    """Pure: a `docker` that adds the run's labels to build, create and run (also as
    `docker image build`, `docker container create|run`) and passes the rest through."""
    flags = " ".join(shlex.quote(flag) for flag in label_flags)
    real = shlex.quote(real_docker)
    creating = "|".join(CREATING)
    return (
        "#!/bin/sh\n"
        "# mobylab: the run's labels on what you build and run, so `lab.clean` finds it.\n"
        'case "$1" in\n'
        f'  {creating}) sub=$1; shift; exec {real} "$sub" {flags} "$@" ;;\n'
        "  image|container)\n"
        '    case "$2" in\n'
        f'      {creating}) group=$1 sub=$2; shift 2; exec {real} "$group" "$sub" {flags} "$@" ;;\n'
        "    esac ;;\n"
        "esac\n"
        f'exec {real} "$@"\n'
    )


def bash_rc() -> str:
    """Pure: the shell's rc file: the user's own first, then the prompt and PATH."""
    return (
        '[ -r "$HOME/.bashrc" ] && . "$HOME/.bashrc"\n'
        'PATH="$MOBYLAB_PRACTICE_BIN:$PATH"\n'
        '__mobylab_step() { read -r MOBYLAB_STEP < "$MOBYLAB_PRACTICE_PROMPT"; } 2>/dev/null\n'
        'PROMPT_COMMAND="__mobylab_step${PROMPT_COMMAND:+; $PROMPT_COMMAND}"\n'
        "PS1='[lab $MOBYLAB_STEP] \\W \\$ '\n"
    )


def shell_argv(shell: str | None, rc: Path) -> list[str]:
    """Pure: the user's $SHELL (else bash), interactive; bash reads the practice rc file."""
    program = shell or "bash"
    if Path(program).name == "bash":
        return [program, "--rcfile", str(rc), "-i"]
    return [program, "-i"]


def shell_environment(
    base: Mapping[str, str],
    engine_env: Mapping[str, str],
    values: Mapping[str, str],
    folder: Path,
    state_path: Path,
    prompt: str,
) -> dict[str, str]:
    """Pure: the shell's environment: the engine, the run's names ($TAG, $URL, ...),
    where the state is, and the practice bin folder first on PATH."""
    names = {variable: values.get(name, "") for name, variable in SHELL_NAMES.items()}
    bin_dir = folder / "bin"
    return {
        **base,
        **engine_env,
        **{key: value for key, value in names.items() if value},
        "DOCKER_CLI_HINTS": "false",
        "MOBYLAB_PRACTICE": str(state_path),
        "MOBYLAB_PRACTICE_BIN": str(bin_dir),
        "MOBYLAB_PRACTICE_PROMPT": str(folder / "prompt"),
        "PATH": f"{bin_dir}{os.pathsep}{base.get('PATH', os.defpath)}",
        # Shells other than bash show this prompt as it is.
        "PS1": f"[lab {prompt}] $ ",
    }


def write_prompt(folder: Path, text: str) -> None:
    write_atomic(folder / "prompt", text + "\n")


def write_shell_files(
    folder: Path, *, python: str, package_parent: Path, real_docker: str, label_flags: list[str]
) -> None:
    bin_dir = folder / "bin"
    write_atomic(bin_dir / "lab", lab_command(python, package_parent), mode=0o755)
    write_atomic(bin_dir / "docker", docker_wrapper(real_docker, label_flags), mode=0o755)
    write_atomic(folder / "bashrc", bash_rc())

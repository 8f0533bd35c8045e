"""The upstream route: the era's own Makefile, `make tgz` or `make binary`.

The engine's Makefile builds the dev image with `docker build` and runs the
target in `docker run --privileged ...`. mobylab overrides the Makefile variable
holding that `docker run` on the make command line: the engine's working
docker-in-docker flags replace --privileged when it is refused, and labels let
Ctrl-C find and remove the build container that killing make leaves running.
The bake era's `make binary` builds on the host and makes no dev image: `make
build` follows it, the way that era makes its docker-dev image.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from .. import labels, ui
from ..engine import Engine, RunSecurity
from .job import COMPONENT, BuildJob
from .plan import BuildPlan


def _make_quote(value: str) -> str:
    """A word for the shell that runs make's recipe, with make's own `$` escaped."""
    return shlex.quote(value).replace("$", "$$")


def docker_run_override(
    run_value: str, security_flags: Sequence[str], extra_flags: Sequence[str]
) -> str:
    """Pure: the Makefile's `docker run ...` text with our flags in place of --privileged.

    Make references ($(DOCKER_ENVS), $(DOCKER_MOUNT), ...) stay as they are, so make
    still expands them. A pseudo-tty flag is dropped: the build never has a terminal.
    """
    tokens = [t for t in run_value.split() if t not in ("--privileged", "-t", "--tty")]
    added = [_make_quote(flag) for flag in [*security_flags, *extra_flags]]
    try:
        at = tokens.index("run") + 1
    except ValueError:
        at = len(tokens)
    return " ".join([*tokens[:at], *added, *tokens[at:]])


def make_argv(
    plan: BuildPlan,
    *,
    security: RunSecurity,
    build_id: str,
) -> tuple[list[str], list[str]]:
    """Pure: the make command line for a plan, and notes on what was overridden."""
    argv = ["make", *plan.upstream_route().make_vars]
    notes: list[str] = []
    if plan.run_var:
        extra = labels.label_flags(COMPONENT, build=build_id, commit=plan.commit[:12])
        override = docker_run_override(plan.run_value, security.cli_flags(), extra)
        argv.append(f"{plan.run_var}={override}")
        if not security.privileged:
            notes.append(
                f"the engine refuses --privileged: the build container gets "
                f"{security.describe()} ({plan.run_var}=... on the make command line)"
            )
    elif not security.privileged:
        notes.append(
            "the engine refuses --privileged and the Makefile's docker run flags were not "
            "found: the build container may fail to start"
        )
    if plan.build_args_var:
        image_labels = [_make_quote(flag) for flag in labels.label_flags("dev-image")]
        value = " ".join([plan.build_args_value, *image_labels]).strip()
        argv.append(f"{plan.build_args_var}={value}")
    argv.append(plan.target)
    return argv, notes


def upstream_job(
    plan: BuildPlan, engine: Engine, security: RunSecurity, build_id: str, *, skip_cross: bool
) -> BuildJob:
    """The make command lines of a plan, run in the checkout against `engine`."""
    argv, notes = make_argv(plan, security=security, build_id=build_id)
    commands = [tuple(argv)]
    commands += [(*argv[:-1], then) for then in plan.upstream_route().then_targets]
    if not engine.url.startswith("unix://"):
        ui.warn(
            f"the engine at {engine.url} may not be on this machine: make bind-mounts "
            f"{plan.checkout} into the build container, which only a local engine can do"
        )
    ui.step(f"{plan.command} in {plan.checkout} (commit {plan.commit[:12]})")
    env = {**engine.cli_env()}
    if skip_cross:
        env["DOCKER_CROSSPLATFORMS"] = ""
    return BuildJob(
        commands=tuple(commands),
        env=env,
        cwd=plan.checkout,
        source_dir=plan.checkout,
        build_id=build_id,
        notes=tuple(notes),
        manifest={"security": security.describe()},
    )

"""The docker CLI on this machine: its version, and whether it has the buildx plugin.

Asking costs CLI processes, so answers are kept until the CLI or the plugin changes:
the key is the path, size and mtime of each (cli_fingerprint).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence

from .. import process
from ..workspace import Workspace
from ._engine import Engine

CLI_FACTS_STATE = "docker-cli"
BUILDX_PLUGIN = "docker-buildx"

# Where the docker CLI looks for plugins, besides $DOCKER_CONFIG/cli-plugins.
SYSTEM_PLUGIN_DIRS = (
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)


def cli_fingerprint(cli: str, plugin_dirs: Sequence[str]) -> str:
    """Which docker CLI and buildx plugin `docker build` would run: a key that changes
    when either is installed, upgraded or removed (path, size and mtime of each)."""
    parts = []
    for path in (cli, *(os.path.join(d, BUILDX_PLUGIN) for d in plugin_dirs)):
        try:
            found = os.stat(path)
        except OSError:
            parts.append(f"{path}:-")
            continue
        parts.append(f"{path}:{found.st_size}:{found.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def plugin_dirs(environ: Mapping[str, str]) -> list[str]:
    """Pure: the CLI's plugin folders for this environment, the user's first."""
    config = environ.get("DOCKER_CONFIG") or os.path.join(environ.get("HOME", "/"), ".docker")
    return [os.path.join(config, "cli-plugins"), *SYSTEM_PLUGIN_DIRS]


def cli_facts(engine: Engine, workspace: Workspace) -> tuple[str, bool]:
    """The docker CLI's version and whether it has buildx.

    Asking costs two CLI processes (about 0.2 s), so the answer is kept in the
    workspace until the CLI or the plugin changes.
    """
    cli = os.path.realpath(process.require("docker"))
    key = cli_fingerprint(cli, plugin_dirs(os.environ))
    cached = workspace.load_state(CLI_FACTS_STATE) or {}
    if isinstance(cached, dict) and cached.get("key") == key:
        return str(cached.get("version", "")), bool(cached.get("buildx"))
    env = engine.cli_env()
    version = process.capture(
        [cli, "version", "--format", "{{.Client.Version}}"], env=env, timeout=30
    )
    buildx = process.capture([cli, "buildx", "version"], env=env, timeout=30)
    lines = version.stdout.strip().splitlines()
    facts = (lines[0] if lines else "", buildx.returncode == 0)
    workspace.save_state(CLI_FACTS_STATE, {"key": key, "version": facts[0], "buildx": facts[1]})
    return facts


def local_fingerprint() -> str:
    """cli_fingerprint of the docker CLI in PATH ('' when there is none)."""
    cli = _cli_path()
    return cli_fingerprint(cli, plugin_dirs(os.environ)) if cli else ""


def _cli_path() -> str:
    import shutil

    found = shutil.which("docker")
    return os.path.realpath(found) if found else ""


def local_buildx() -> bool:
    """Whether this machine's docker CLI has the buildx plugin (asked, not guessed)."""
    cli = _cli_path()
    if not cli:
        return False
    return process.capture([cli, "buildx", "version"], timeout=20).returncode == 0

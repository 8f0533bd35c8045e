"""Settings: defaults < project config file < environment variables < flags.

The project config file is invoke's own: a `mobylab:` section in invoke.yaml next
to tasks.py (for `invoke`), or in ~/.mobylab.yaml, /etc/mobylab.yaml or `-f FILE`
(for `mobylab`). Each setting KEY is also read from the environment variable
MOBYLAB_<KEY> (upper case). Flags given to a task win over everything.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .errors import UsageError

ENV_PREFIX = "MOBYLAB_"


@dataclass(frozen=True)
class Settings:
    # Folder holding checkouts, logs, state and reports.
    workspace: str = ".mobylab"
    # "auto" (the user's engine, else mobylab's private one), "private", or a URL.
    engine: str = "auto"
    # Seconds to wait for an engine or a daemon to answer.
    engine_timeout: float = 60.0
    # "auto" (offline images when present or makeable, else a registry's), "yes" or "no".
    offline: str = "auto"
    # Base images of the labs; "auto" follows `offline`.
    builder_image: str = "auto"
    runtime_image: str = "auto"
    # Debian mirror and suite for offline base images.
    debian_mirror: str = "http://deb.debian.org/debian"
    debian_suite: str = "bookworm"
    # Engine source defaults for dev.clone.
    repo: str = "https://github.com/moby/moby"
    ref: str = "master"
    # Folders of bare git repositories standing in for GitHub (moby.git, runc.git ...).
    mirrors: tuple[str, ...] = ()
    # "always", "auto" or "never": whether the dev container asks for --privileged.
    privileged: str = "auto"
    # Workshop inventory and SSH behaviour.
    hosts: tuple[str, ...] = ()
    known_hosts: str = "~/.ssh/known_hosts"
    parallel: int = 8
    host_timeout: float = 600.0
    # How often a dropped SSH connection is tried again.
    ssh_retries: int = 2
    # The ssh config read for the hosts ("" for none).
    ssh_config: str = ""
    # mobylab's folder on each workshop host (it owns that folder whole).
    remote_dir: str = "~/.mobylab-workshop"
    # A folder of labs looked at before the clone's labs/ and the installed ones.
    labs_dir: str = ""
    # Cached root filesystems of the offline images (package indexes and .debs beside it).
    rootfs_cache: str = "/var/cache/mobylab/rootfs"
    # HOST:PORT that says whether a registry is reachable ("" for Docker Hub's).
    registry_probe: str = ""
    # How a task is typed here, for the hints that name one: `invoke` in a clone, `mobylab`
    # once installed, the workshop's own command on an attendee's machine.
    command: str = "invoke"

    @property
    def workspace_path(self) -> Path:
        return Path(self.workspace).expanduser().resolve()

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


_CHOICES = {
    "offline": ("auto", "yes", "no"),
    "privileged": ("always", "auto", "never"),
}

# Numbers that must be more than zero (and finite): a timeout of 0, -1 or NaN would
# make every wait fail at once or never end.
_POSITIVE = ("engine_timeout", "host_timeout", "parallel")
_NOT_NEGATIVE = ("ssh_retries",)


def range_problem(name: str, value: Any) -> str:
    """Pure: why a numeric setting's value is out of range, or ''."""
    if name in _POSITIVE and not (math.isfinite(value) and value > 0):
        return "must be a number more than 0"
    if name in _NOT_NEGATIVE and value < 0:
        return "must be 0 or more"
    return ""


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Convert a config or environment value to the type of the setting's default."""
    try:
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            return str(value).strip().lower() in ("1", "true", "yes", "on")
        if isinstance(default, (int, float)) and isinstance(value, bool):
            raise ValueError("true or false is not a number")
        if isinstance(default, int) and not isinstance(default, bool):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, tuple):
            if isinstance(value, str):
                return tuple(part.strip() for part in value.split(",") if part.strip())
            return tuple(str(v) for v in value)
    except (TypeError, ValueError):
        raise UsageError(
            f"setting {name!r} has the value {value!r}, which is not a {type(default).__name__}",
            "Fix it in the config file, the environment or the flag.",
        ) from None
    return str(value)


def merge_settings(
    config_section: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Settings:
    """Pure: layer the config file section, the environment and flags over the defaults."""
    defaults = Settings()
    known = {f.name: getattr(defaults, f.name) for f in fields(Settings)}
    values: dict[str, Any] = {}
    for key, value in (config_section or {}).items():
        name = str(key).replace("-", "_")
        if name not in known:
            raise UsageError(
                f"the config file has an unknown setting {key!r}",
                f"Remove it, or use one of: {', '.join(sorted(known))}.",
            )
        values[name] = _coerce(name, value, known[name])
    env = os.environ if environ is None else environ
    for name, default in known.items():
        env_value = env.get(ENV_PREFIX + name.upper())
        if env_value not in (None, ""):
            values[name] = _coerce(name, env_value, default)
    for name, value in (flags or {}).items():
        if value is None:
            continue
        if name not in known:
            raise UsageError(f"unknown setting {name!r}")
        values[name] = _coerce(name, value, known[name])
    for name, value in values.items():
        problem = range_problem(name, value)
        if problem:
            raise UsageError(
                f"setting {name!r} is {value!r}: it {problem}",
                "Fix it in the config file, the environment or the flag.",
            )
    for name, choices in _CHOICES.items():
        if name in values and values[name] not in choices:
            raise UsageError(
                f"setting {name!r} is {values[name]!r}", f"Use one of: {', '.join(choices)}."
            )
    return Settings(**values)


def settings_from_context(ctx: Any, **flags: Any) -> Settings:
    """Settings for a task: its invoke context's `mobylab` section, env, then flags."""
    section: Mapping[str, Any] = {}
    config = getattr(ctx, "config", None)
    if config is not None:
        try:
            section = dict(config.get("mobylab", {}) or {})
        except (AttributeError, TypeError):
            section = {}
    return merge_settings(section, None, flags)

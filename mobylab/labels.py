"""The labels on everything mobylab creates, so cleanup never touches anything else."""

from __future__ import annotations

import hashlib
from pathlib import Path

from . import __version__

MANAGED = "org.mobylab.managed"
COMPONENT = "org.mobylab.component"
VERSION = "org.mobylab.version"
# A lab run's id, and the workspace whose run made it (lab.clean keeps to its own).
RUN = "org.mobylab.run"
WORKSPACE = "org.mobylab.workspace"


def workspace_key(workspace_root: Path) -> str:
    """The short name of a workspace, on what its dev environment and lab runs make (the
    private engine uses the same one)."""
    return hashlib.sha256(str(workspace_root).encode()).hexdigest()[:10]


def labels(component: str, **extra: str) -> dict[str, str]:
    """Labels for a new container, image, volume or network."""
    values = {MANAGED: "true", COMPONENT: component, VERSION: __version__}
    values.update({f"org.mobylab.{key.replace('_', '-')}": value for key, value in extra.items()})
    return values


def label_flags(component: str, **extra: str) -> list[str]:
    """The same labels as docker CLI flags."""
    return flags_of(labels(component, **extra))


def flags_of(values: dict[str, str]) -> list[str]:
    """Labels as docker CLI flags."""
    flags: list[str] = []
    for key, value in values.items():
        flags += ["--label", f"{key}={value}"]
    return flags


def is_managed(resource_labels: dict[str, str] | None) -> bool:
    return (resource_labels or {}).get(MANAGED) == "true"


MANAGED_FILTER = {"label": f"{MANAGED}=true"}

"""The labels on everything mobylab creates, so cleanup never touches anything else."""

from __future__ import annotations

from . import __version__

MANAGED = "org.mobylab.managed"
COMPONENT = "org.mobylab.component"
VERSION = "org.mobylab.version"
# A lab run's id, and the workspace whose run made it (lab.clean keeps to its own).
RUN = "org.mobylab.run"
WORKSPACE = "org.mobylab.workspace"


def labels(component: str, **extra: str) -> dict[str, str]:
    """Labels for a new container, image, volume or network."""
    values = {MANAGED: "true", COMPONENT: component, VERSION: __version__}
    values.update({f"org.mobylab.{key.replace('_', '-')}": value for key, value in extra.items()})
    return values


def label_flags(component: str, **extra: str) -> list[str]:
    """The same labels as docker CLI flags."""
    flags: list[str] = []
    for key, value in labels(component, **extra).items():
        flags += ["--label", f"{key}={value}"]
    return flags


def is_managed(resource_labels: dict[str, str] | None) -> bool:
    return (resource_labels or {}).get(MANAGED) == "true"


MANAGED_FILTER = {"label": f"{MANAGED}=true"}

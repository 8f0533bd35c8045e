"""Pure: inspect an engine-source checkout and say how its era builds (a BuildPlan)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class BuildPlan:
    """How one checkout builds and where its binaries land."""

    checkout: Path
    commit: str
    # "2017-tgz" (make tgz), "dev-container" (hack/make.sh binary) or "bake" (buildx bake).
    era: str
    # The make target: "tgz" or "binary".
    target: str
    # The docker-dev image the Makefile builds and runs (e.g. docker-dev:master).
    dev_image: str
    # The source folder inside the dev container.
    workdir: str
    # The VERSION file's content, or "dev" when there is none.
    version: str
    # Folders holding dockerd and the docker CLI, relative to the checkout
    # (through bundles/latest when the era has it), bundle folders first.
    daemon_dirs: tuple[str, ...]
    client_dirs: tuple[str, ...]
    # PATH inside the dev container: the bundle folders first, then the image's own.
    container_path: str
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["checkout"] = str(self.checkout)
        return data

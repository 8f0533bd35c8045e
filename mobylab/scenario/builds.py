"""A commit of the engine as a running daemon: built on the source route (cached by
commit, with the Go caches warm), its daemon in a dev environment, seeded from the host.

Shared by dev.try (daemons side by side, left running as lab runs leave them) and
dev.bisect (one dev environment of its own, stopped after each step).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import docker.errors

from ..dev.build import BuildRecord
from ..dev.pipeline import build_checkout
from ..dev.routes import Route
from ..dev.seed import seed_images
from ..engine import Engine
from ..errors import ImageError
from ..session import Session
from .history import Source, check_out
from .labstep import with_lab_seeds
from .model import Scenario


@dataclass(frozen=True)
class Built:
    """A commit's build and how long getting it took (a cached one: about nothing)."""

    record: BuildRecord
    seconds: float


def build_commit(session: Session, source: Source, sha: str) -> Built:
    """The source-route build of `sha`: the cached one when its bundles and dev image are
    there. A failure raises (BuildError) and caches nothing."""
    started = time.monotonic()
    check_out(source, sha)
    done = build_checkout(
        session,
        source.checkout,
        route=Route.SOURCE,
        target=None,
        with_fixes=True,
        force=False,
        skip_cross=False,
        every_line=False,  # a step of a larger run: its log keeps every line
    )
    return Built(done.record, time.monotonic() - started)


def ready_seeds(session: Session, host: Engine, scenario: Scenario) -> Scenario:
    """The scenario with every image it seeds on the host engine (a lab step's own base
    images among them), or an ImageError naming the first missing."""
    scenario = with_lab_seeds(session, host, scenario)
    require_seeds(host, scenario.seeds)
    return scenario


def require_seeds(host: Engine, seeds: Sequence[str]) -> None:
    """Every image to seed is on the host engine, or an ImageError naming the first missing."""
    if not seeds:
        return
    client = host.client(timeout=60)
    try:
        for ref in seeds:
            try:
                client.images.get(ref)
            except docker.errors.ImageNotFound:
                raise ImageError(
                    f"the image {ref} to seed is not on the {host.name} engine",
                    "Build or pull it there first; it is copied into each dev daemon.",
                ) from None
    finally:
        client.close()


def seed(host: Engine, dev: Engine, seeds: Sequence[str]) -> None:
    """Copy the scenario's images from the host engine into a dev daemon."""
    if seeds:
        seed_images(host, dev, list(seeds))

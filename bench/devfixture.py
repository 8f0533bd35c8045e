"""One real dev.build of the 2017 engine-source fixture, shared by the dev benchmarks.

The fixture (tests/fixtures/enginesrc.py) is a git repository laid out like the
engine source of March 2017; its `make tgz` builds a dev image and copies real
daemon binaries into bundles/. It is built once, the first time a benchmark
needs it, with `invoke dev.build` as a user runs it, and removed at the end.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import ROOT, host_engine, remove_folder, retrying, run_quiet, run_task, scratch


@dataclass
class DevBuild:
    root: Path
    workspace: Path
    checkout: Path
    # A second clone of the same commit for the by-hand `make tgz`: its bundles are
    # its own, so it never invalidates the build mobylab recorded.
    by_hand: Path
    commit: str
    dev_image: str
    plan: Any
    security: Any


_shared: DevBuild | None = None


def _import_fixture() -> Any:
    import sys

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.fixtures import enginesrc

    return enginesrc


def shared_build() -> DevBuild:
    """The fixture built once in its own workspace (later calls reuse it)."""
    global _shared
    if _shared is not None:
        return _shared
    from mobylab.config import merge_settings
    from mobylab.dev.plan import read_plan
    from mobylab.engine import probe
    from mobylab.images import ensure_images
    from mobylab.workspace import Workspace

    enginesrc = _import_fixture()
    root = scratch("dev")
    workspace = root / "ws"
    engine = host_engine()
    branch = f"mobylab-bench-{secrets.token_hex(4)}"
    try:
        ensure_images(engine, Workspace(workspace), ["dind", "runtime"], settings=merge_settings())
        source = enginesrc.make_engine_source(root / "engine", "2017", branch=branch)
        by_hand = root / "engine-by-hand"
        run_quiet(["git", "clone", "-q", "-b", branch, str(source.path), str(by_hand)])
        retrying(lambda: run_task(workspace, "dev.build", "--checkout", str(source.path)))
        caps = probe(engine, Workspace(workspace))
        plan = read_plan(by_hand, host_cgroup=caps.cgroup_version, buildx=caps.buildx)
    except BaseException:
        _remove(root, workspace, f"docker-dev:{branch}")
        raise
    _shared = DevBuild(
        root=root,
        workspace=workspace,
        checkout=source.path,
        by_hand=by_hand,
        commit=source.commit,
        dev_image=plan.dev_image,
        plan=plan,
        security=caps.dind_security,
    )
    return _shared


def close() -> None:
    """Remove the dev environment, the dev image and the folders (labelled resources only)."""
    global _shared
    if _shared is None:
        return
    build, _shared = _shared, None
    _remove(build.root, build.workspace, build.dev_image)


def _remove(root: Path, workspace: Path, dev_image: str) -> None:
    from mobylab import labels

    if workspace.exists():
        run_task(workspace, "dev.clean", "--yes", check=False, timeout=300)
    client = host_engine().client(timeout=300)
    try:
        for container in client.containers.list(
            all=True, filters={"label": f"{labels.MANAGED}=true"}
        ):
            # The by-hand dind containers this benchmark made.
            if container.labels.get("org.mobylab.bench-root") == str(root):
                container.remove(force=True)
        try:
            image = client.images.get(dev_image)
            if labels.is_managed(image.labels):
                client.images.remove(image.id, force=True)
        except Exception:
            pass
    finally:
        client.close()
    remove_folder(root)

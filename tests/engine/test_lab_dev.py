"""The multistage lab on the dev daemon (the 2017-era fixture) and the host, side by side."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mobylab.config import Settings, merge_settings
from mobylab.engine import Engine
from mobylab.images import ensure_images
from mobylab.lab import catalog
from mobylab.lab.execute import remove_run_resources
from mobylab.lab.runner import run_lab
from mobylab.lab.setup import RunOptions
from mobylab.session import Session
from mobylab.workspace import Workspace
from tests.engine.test_devenv_helpers import dev_environment, target_2017

pytestmark = [pytest.mark.engine, pytest.mark.slow]
LAB_DIR = Path(__file__).resolve().parents[2] / "labs" / "multistage"
EXPECTED = json.loads((LAB_DIR / "site" / "EXPECTED.json").read_text())


@pytest.fixture
def dev_engine(engine: Engine, workspace: Workspace, tmp_path: Path) -> Iterator[Engine]:
    ensure_images(engine, workspace, ["dind", "runtime"], settings=merge_settings())
    with dev_environment(engine, workspace) as environment:
        yield environment.up(target_2017(tmp_path), timeout=120)


def test_both_engines_side_by_side(
    engine: Engine, dev_engine: Engine, workspace: Workspace
) -> None:
    session = Session(
        merge_settings({"workspace": str(workspace.root), "offline": "yes"}, environ={})
    )
    lab = catalog.find_lab("multistage", Settings())
    report = None
    try:
        report = run_lab(session, lab, RunOptions(yes=True, engine="both")).to_dict()
    finally:
        run_id = (report or {}).get("run_id")
        if run_id:
            remove_run_resources(engine, run_id)
    assert report is not None
    names = [e["name"] for e in report["engines"]]
    assert len(names) == 2 and names[0] == "host" and names[1] != "host"
    dev = report["engines"][1]
    assert dev["kind"] == "dev" and dev["version"] and dev["url"] == dev_engine.url
    # The dev daemon's host network is its container's: the site was served there.
    assert dev["site_url"].startswith("http://127.0.0.1:")
    for name in names:
        variants = [v for v in report["variants"] if v["engine"] == name]
        assert len(variants) == 5
        assert all(v["output"] == EXPECTED and v["passed"] for v in variants), variants
    assert report["status"] == "passed"

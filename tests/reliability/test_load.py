"""Several attendees sharing one engine: five labs at once, each with its own workspace.

All pass, no two runs share a tag or a name, and once each attendee's `lab.clean --run`
ran nothing of theirs is left (no container at all, even while running: `--rm`).
The same with five `lab.multistage --yes` was run by hand (docs/reliability.md): too
slow for every CI run on two cores.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mobylab.engine import Engine
from mobylab.lab.execute import remove_run_resources
from tests.reliability.conftest import UserCli

pytestmark = [pytest.mark.engine, pytest.mark.slow]
ATTENDEES = 5


def _report(workspace: Path) -> dict:
    found = sorted((workspace / "reports").glob("*/report.json"))
    reports = [p for p in found if not p.parent.is_symlink()]
    assert len(reports) == 1, reports
    return json.loads(reports[0].read_text())


def _run_labels(engine: Engine, run_id: str) -> tuple[list[str], list[str]]:
    client = engine.client()
    try:
        wanted = {"label": [f"org.mobylab.run={run_id}"]}
        containers = [c.name for c in client.containers.list(all=True, filters=wanted)]
        tags = [t for i in client.images.list(filters=wanted) for t in i.tags]
    finally:
        client.close()
    return containers, tags


def test_five_attendees_at_once(engine: Engine, tmp_path: Path) -> None:
    users = [UserCli(tmp_path / f"attendee{n}" / "ws") for n in range(ATTENDEES)]
    env = {"MOBYLAB_OFFLINE": "yes", "DOCKER_HOST": os.environ.get("DOCKER_HOST") or engine.url}
    # The offline runtime image once, as the instructor's preparation does.
    warm = users[0]("images.bootstrap", "--only", "runtime", env=env, timeout=1800)
    assert warm.returncode == 0, warm.output

    with ThreadPoolExecutor(max_workers=ATTENDEES) as pool:
        results = list(pool.map(lambda u: u("lab.run", "hello", "--yes", env=env), users))
    run_ids: list[str] = []
    try:
        for result, user in zip(results, users, strict=True):
            assert result.returncode == 0, result.output
            assert "hello from mobylab" in result.stdout
            run_ids.append(_report(user.workspace)["run_id"])
        assert len(set(run_ids)) == ATTENDEES, run_ids
        all_tags: list[str] = []
        for run_id in run_ids:
            containers, tags = _run_labels(engine, run_id)
            assert containers == [], containers  # every container ran with --rm
            assert tags and all(run_id in tag for tag in tags), tags
            all_tags += tags
        assert len(all_tags) == len(set(all_tags)), "two runs share a tag"
        for user, run_id in zip(users, run_ids, strict=True):
            cleaned = user("lab.clean", "--run", run_id, env=env)
            assert cleaned.returncode == 0, cleaned.output
            assert _run_labels(engine, run_id) == ([], [])
    finally:
        for run_id in run_ids:
            remove_run_resources(engine, run_id)

"""The multistage lab end to end on the real engine (host, --yes, offline base images)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mobylab.config import Settings, merge_settings
from mobylab.engine import Engine
from mobylab.errors import LabError
from mobylab.lab import catalog
from mobylab.lab import report as report_mod
from mobylab.lab.execute import remove_run_resources
from mobylab.lab.external import source_lab
from mobylab.lab.runner import run_lab
from mobylab.lab.setup import RunOptions
from mobylab.lab.site import FixtureSite
from mobylab.session import Session
from mobylab.workspace import Workspace

pytestmark = [pytest.mark.engine, pytest.mark.slow]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
LAB_DIR = Path(__file__).resolve().parents[2] / "labs" / "multistage"
EXPECTED = json.loads((LAB_DIR / "site" / "EXPECTED.json").read_text())


def lab_session(workspace: Workspace, **extra: Any) -> Session:
    config = {"workspace": str(workspace.root), "offline": "yes", **extra}
    return Session(merge_settings(config, environ={}))


def inspect(engine: Engine, ref: str) -> tuple[int, int]:
    result = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Size}} {{len .RootFS.Layers}}", ref],
        env={**os.environ, **engine.cli_env()},
        capture_output=True,
        text=True,
        check=True,
    )
    size, layers = result.stdout.split()
    return int(size), int(layers)


@contextlib.contextmanager
def hold_port(port: int) -> Iterator[bool]:
    """Keep a port busy on 127.0.0.1 (False when someone else already holds it)."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        yield True
    except OSError:
        yield False
    finally:
        sock.close()


@pytest.fixture
def cleanup(engine: Engine) -> Iterator[list[str]]:
    run_ids: list[str] = []
    yield run_ids
    for run_id in run_ids:
        remove_run_resources(engine, run_id)


def render_in_chromium(html: Path, tmp_path: Path) -> Path | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if IN_CI:
            pytest.fail("chromium is not installed (apt-get install -y chromium)")
        return None
    png = tmp_path / "report.png"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}", f"--screenshot={png}",
         "--window-size=1200,1600", html.as_uri()],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    return png


def test_the_whole_lab_on_the_host_engine(
    engine: Engine, workspace: Workspace, cleanup: list[str], tmp_path: Path
) -> None:
    session = lab_session(workspace)
    lab = catalog.find_lab("multistage", Settings())
    with hold_port(lab.site_port) as held:
        report = run_lab(session, lab, RunOptions(yes=True)).to_dict()
    cleanup.append(report["run_id"])

    assert report["status"] == "passed"
    if held:  # the preferred port was taken: another was picked
        assert f":{lab.site_port}/" not in report["url"]
    assert [v["name"] for v in report["variants"]] == [
        "builder-pattern", "multi-stage", "named-stages", "scratch", "target-builder",
    ]  # fmt: skip
    for variant in report["variants"]:
        assert variant["output"] == EXPECTED, variant["name"]
        assert variant["passed"], variant["name"]
        # Numbers come from the engine.
        assert (variant["size_bytes"], variant["layers"]) == inspect(engine, variant["image"])
    builder = report["engines"][0]
    assert builder["builder_image_size_bytes"] == inspect(engine, builder["builder_image"])[0]
    assert report["builder_image_size_bytes"] == builder["builder_image_size_bytes"]
    assert builder["builder"] in ("legacy", "buildkit") and builder["image_store"]
    assert builder["version"]

    by_name = {v["name"]: v for v in report["variants"]}
    assert by_name["builder-pattern"]["commands_typed"] == 5
    assert by_name["multi-stage"]["commands_typed"] == 1
    assert by_name["builder-pattern"]["files"] == 3
    leftovers = {item["kind"]: item for item in by_name["builder-pattern"]["leftovers"]}
    assert leftovers["file"]["present"] and leftovers["image"]["present"]
    assert not leftovers["container"]["present"]  # build.sh's rm -f removed it
    # The runtime images are small, the SDK stage is not.
    assert by_name["multi-stage"]["size_bytes"] * 10 < by_name["target-builder"]["size_bytes"]
    assert by_name["scratch"]["size_bytes"] <= by_name["multi-stage"]["size_bytes"]
    # The extracted binary landed in the run's scratch folder, not in the repository.
    assert not (LAB_DIR / "app" / "app").exists()
    assert (Path(report["workdirs"]["host"]) / "app").is_file()

    steps = report["steps"]
    assert [s["status"] for s in steps] == ["passed"] * 6
    shown = steps[0]["commands"][0]["shown"]
    assert shown.startswith("docker build -t mobylab-lab/multistage-") and "--label" not in shown
    assert "--label" in steps[0]["commands"][0]["argv"]

    report_dir = workspace.root / "reports" / report["run_id"]
    on_disk = json.loads((report_dir / "report.json").read_text())
    assert on_disk["lab"] == "multistage" and on_disk["variants"][0]["size_bytes"]
    assert {"name", "url", "version"} <= set(on_disk["engines"][0])
    assert (workspace.root / "reports" / "latest").resolve() == report_dir.resolve()
    assert "| multi-stage | host |" in (report_dir / "report.md").read_text()

    png = render_in_chromium(report_dir / "report.html", tmp_path)
    if png is not None:
        assert png.is_file() and png.stat().st_size > 10_000
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_variant_that_fails_to_build(
    engine: Engine, workspace: Workspace, cleanup: list[str], tmp_path: Path
) -> None:
    labs = tmp_path / "labs"
    shutil.copytree(LAB_DIR, labs / "multistage")
    broken = labs / "multistage" / "app" / "Dockerfile.multi"
    broken.write_text(broken.read_text().replace("COPY --from=0 ", "COPY --from=0 /no/such/file "))
    session = lab_session(workspace, labs_dir=str(labs))
    lab = catalog.find_lab("multistage", session.settings)
    with pytest.raises(LabError) as caught:
        run_lab(session, lab, RunOptions(yes=True))
    run_id = report_mod.latest_run(workspace, "multistage")
    assert run_id
    cleanup.append(run_id)
    assert "step 2 (Multi-stage build: COPY --from=0)" in caught.value.message
    assert "exited 1" in caught.value.message

    loaded = report_mod.load(workspace, run_id)
    report = loaded.to_dict() if loaded else None
    assert report is not None and report["status"] == "failed"
    status = {s["index"]: s["status"] for s in report["steps"]}
    assert status == {1: "passed", 2: "failed", 3: "passed", 4: "passed", 5: "passed", 6: "failed"}
    passed = {v["name"]: v["passed"] for v in report["variants"]}
    assert passed == {
        "builder-pattern": True, "multi-stage": False, "named-stages": True,
        "scratch": True, "target-builder": True,
    }  # fmt: skip
    assert "Dockerfile.multi" in report["steps"][1]["reason"]


def test_source_repository_like_href_counter(
    engine: Engine, workspace: Workspace, cleanup: list[str], tmp_path: Path
) -> None:
    repo = tmp_path / "href-counter"
    repo.mkdir()
    for name in ("app.go", "Dockerfile", "Dockerfile.build", "Dockerfile.multi"):
        shutil.copy(LAB_DIR / "app" / name, repo / name)
    (repo / "build.sh").write_text(
        "#!/bin/sh\n"
        "docker build -t someone/href-counter:build . -f Dockerfile.build\n"
        "docker create --name extract someone/href-counter:build\n"
        "docker cp extract:/go/src/github.com/alexellis/href-counter/app ./app\n"
        "docker rm -f extract\n"
        "docker build --no-cache -t someone/href-counter:latest .\n"
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "layout"], check=True)

    session = lab_session(workspace)
    lab = source_lab(session, catalog.find_lab("multistage", Settings()), repo.as_uri())
    report = run_lab(session, lab, RunOptions(yes=True)).to_dict()
    cleanup.append(report["run_id"])
    assert report["source"] == repo.as_uri()
    assert [(v["name"], v["output"], v["passed"]) for v in report["variants"]] == [
        ("builder-pattern", EXPECTED, True),
        ("multi-stage", EXPECTED, True),
    ]
    # Its own Dockerfiles, with only the FROM lines swapped for the offline images.
    subs = report["base_images"]["substitutions"]
    assert {c["file"] for c in subs} == {"Dockerfile", "Dockerfile.build", "Dockerfile.multi"}
    workdir = Path(report["workdirs"]["host"])
    original = (repo / "Dockerfile.multi").read_text().splitlines()
    built = (workdir / "Dockerfile.multi").read_text().splitlines()
    assert [a for a, b in zip(original, built, strict=True) if a != b] == [
        line for line in original if line.startswith("FROM ")
    ]


def test_url_uses_another_site_and_only_checks_agreement(
    engine: Engine, workspace: Workspace, cleanup: list[str], tmp_path: Path
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(
        '<a href="/a">a</a> <a href="https://example.com/">b</a> <a href="#c">c</a>'
    )
    session = lab_session(workspace)
    lab = catalog.find_lab("multistage", Settings())
    with FixtureSite(site) as other:
        report = run_lab(session, lab, RunOptions(yes=True, from_step=2, url=other.url)).to_dict()
    cleanup.append(report["run_id"])
    assert report["site"] == "real" and report["expected"] is None
    outputs = [v["output"] for v in report["variants"]]
    assert outputs == [{"internal": 2, "external": 1}] * 4
    checks = [c for s in report["steps"] for c in s["checks"] if c["type"] == "json-equals"]
    assert checks and all("skipped" in c["note"] for c in checks)
    assert report["status"] == "passed"

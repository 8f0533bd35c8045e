"""Today's engine, built for real by the source route, against the same build by hand.

The checkout is moby master cloned from a mirror folder (MOBYLAB_TEST_MIRRORS, else
../shared/upstream beside the clone). The by-hand side runs what the source route
runs, with nothing of mobylab around it: `docker run` of the same dev image with a
git clone of the same commit mounted at /usr/src/moby, the same environment, and
Go caches on volumes of its own. Cold rounds empty both sides' Go caches first
(untimed); warm rounds change one .go file on both sides, as a contributor does.

- source-cold: `invoke dev.build --route source --force` vs `hack/make.sh binary` by
  hand, caches empty: within 10% of the by-hand build;
- source-warm: the same with warm caches and one touched file: within 10%, and
  mobylab's side under 90 s;
- dev-up-master: `invoke dev.up` of the real master daemon vs `docker run` of the
  same image and bundles with a ping loop (bench/raw_dind.sh);
- lab-dev: the flagship on the master dev daemon vs on the host engine.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import ROOT, host_engine, remove_folder, run_quiet, run_task, scratch
from .harness import Benchmark, Ratio, Side, Stats

WARM_LIMIT = 90.0
WITHIN = 1.10
TOUCHED = "daemon/daemon.go"


@dataclass
class MasterBuild:
    root: Path
    workspace: Path
    checkout: Path
    by_hand: Path
    manifest: dict[str, Any]


_shared: MasterBuild | None = None


def mirror() -> Path:
    folder = Path(os.environ.get("MOBYLAB_TEST_MIRRORS") or ROOT.parent / "shared" / "upstream")
    if not (folder / "moby.git").is_dir():
        raise RuntimeError(f"no mirror of moby.git at {folder} (set MOBYLAB_TEST_MIRRORS)")
    return folder


def shared_master() -> MasterBuild:
    """moby master cloned from the mirror and built once with the source route."""
    global _shared
    if _shared is not None:
        return _shared
    root = scratch("master")
    workspace = root / "ws"
    run_task(workspace, "dev.clone", "--repo", f"file://{mirror()}/moby.git", timeout=600)
    run_task(workspace, "dev.build", "--route", "source", timeout=3600)
    manifest = json.loads(run_task(workspace, "dev.bundles", "--json").stdout)
    checkout = Path(manifest["plan"]["checkout"])
    by_hand = root / "by-hand"
    run_quiet(["git", "clone", "-q", str(checkout), str(by_hand)])
    _shared = MasterBuild(root, workspace, checkout, by_hand, manifest)
    return _shared


def close() -> None:
    global _shared
    if _shared is None:
        return
    run_task(_shared.workspace, "dev.down", check=False)
    run_task(_shared.workspace, "dev.clean", "--yes", check=False)
    for volume in by_hand_volumes():
        run_quiet(["docker", "volume", "rm", "-f", volume], check=False)
    remove_folder(_shared.root)
    _shared = None


def by_hand_volumes() -> dict[str, str]:
    return {
        "mobylab-bench-go-build": "/root/.cache/go-build",
        "mobylab-bench-go-mod": "/go/pkg/mod",
    }


def by_hand_argv(build: MasterBuild) -> list[str]:
    """What the source route runs, typed by hand (labelled so cleanup can find it)."""
    plan = build.manifest["plan"]
    argv = ["docker", "run", "--rm", "--network", "none",
            "--label", "org.mobylab.managed=true", "--label", "org.mobylab.component=bench",
            "-v", f"{build.by_hand}:{plan['workdir']}", "-w", plan["workdir"]]  # fmt: skip
    for name, target in by_hand_volumes().items():
        argv += ["--mount", f"type=volume,source={name},target={target}"]
    for key, value in plan["toolchain"]["env"]:
        argv += ["-e", f"{key}={value}"]
    argv += ["-e", f"DOCKER_GITCOMMIT={plan['commit'][:12]}-unsupported"]
    return [*argv, build.manifest["dev_image"], "hack/make.sh", *plan["bundles"]]


def empty_caches(names: list[str]) -> None:
    for name in names:
        run_quiet(["docker", "volume", "rm", "-f", name], check=False)
    for name in names:
        run_quiet(["docker", "volume", "create", "--label", "org.mobylab.managed=true",
                   "--label", "org.mobylab.component=go-cache", name])  # fmt: skip


def touch_go_file(folder: Path, stamp: str) -> None:
    """One small change in a Go file, as a contributor makes between two builds."""
    path = folder / TOUCHED
    text = path.read_text()
    marker = "\n// mobylab bench: "
    path.write_text(text.split(marker)[0] + f"{marker}{stamp}\n")


def _mobylab_caches() -> list[str]:
    build = shared_master()
    return list(build.manifest["cache_volumes"])


def _sides(cold: bool) -> list[Side]:
    rounds = {"n": 0}

    def prepare_mobylab() -> None:
        rounds["n"] += 1
        if cold:
            empty_caches(_mobylab_caches())
        else:
            touch_go_file(shared_master().checkout, f"round {rounds['n']}")

    def prepare_by_hand() -> None:
        if cold:
            empty_caches(list(by_hand_volumes()))
        else:
            touch_go_file(shared_master().by_hand, f"round {rounds['n']}")

    def mobylab_build() -> None:
        build = shared_master()
        run_task(build.workspace, "dev.build", "--route", "source", "--force", timeout=3600)

    def by_hand_build() -> None:
        run_quiet(by_hand_argv(shared_master()), timeout=3600)

    return [
        Side("dev.build --route source", mobylab_build, prepare_mobylab),
        Side("hack/make.sh by hand", by_hand_build, prepare_by_hand),
    ]


def cold() -> Benchmark:
    def setup() -> None:
        shared_master()
        # A by-hand build first: its volumes exist, then each round empties them.
        empty_caches(list(by_hand_volumes()))

    return Benchmark(
        name="source-cold",
        description="moby master, source route, Go caches emptied before every round: "
        "`invoke dev.build --route source --force` vs the same `docker run ... hack/make.sh "
        "binary` by hand",
        target=f"within {WITHIN - 1:.0%} of by hand",
        sides=_sides(cold=True),
        ratios=[
            Ratio("mobylab / by hand", "dev.build --route source", "hack/make.sh by hand", WITHIN)
        ],
        setup=setup,
        rounds=1,
    )


def warm() -> Benchmark:
    def setup() -> None:
        build = shared_master()
        run_quiet(by_hand_argv(build), timeout=3600)  # warms the by-hand caches

    def judge(stats: dict[str, Stats]) -> bool:
        return stats["dev.build --route source"].median < WARM_LIMIT

    return Benchmark(
        name="source-warm",
        description=f"moby master, source route, warm caches, {TOUCHED} changed before every "
        "round: `invoke dev.build --route source --force` vs the same build by hand",
        target=f"within {WITHIN - 1:.0%} of by hand, under {WARM_LIMIT:.0f} s",
        sides=_sides(cold=False),
        ratios=[
            Ratio("mobylab / by hand", "dev.build --route source", "hack/make.sh by hand", WITHIN)
        ],
        judge=judge,
        setup=setup,
    )


def lab_dev() -> Benchmark:
    def on(engine: str) -> Side:
        def run() -> None:
            build = shared_master()
            run_task(build.workspace, "lab.multistage", "--engine", engine, "--yes", timeout=2400)

        return Side(f"lab on {engine}", run)

    def setup() -> None:
        build = shared_master()
        run_task(build.workspace, "dev.up", timeout=600)
        run_task(build.workspace, "lab.multistage", "--engine", "both", "--yes", timeout=2400)

    return Benchmark(
        name="lab-dev",
        description="the flagship with --yes on the moby master dev daemon vs on the host "
        "engine (base images seeded and build caches warm on both)",
        target="reported (the dev daemon's builds are BuildKit's as on the host)",
        sides=[on("dev"), on("host")],
        ratios=[Ratio("dev / host", "lab on dev", "lab on host")],
        setup=setup,
    )


def dev_up() -> Benchmark:
    from mobylab.dev.plan import BuildPlan
    from mobylab.engine import probe

    from .devup import RawDind, storage_driver

    state: dict[str, Any] = {}

    def setup() -> None:
        build = shared_master()
        run_task(build.workspace, "dev.up", timeout=600)  # the volume and its driver
        state["raw"] = RawDind(
            BuildPlan.from_dict(build.manifest["plan"]),
            Path(build.manifest["bundles_dir"]),
            probe(host_engine()).dind_security,
            build.root,
            storage_driver(build.workspace),
        )

    def down_both() -> None:
        run_task(shared_master().workspace, "dev.down", check=False)
        state["raw"].remove()

    def mobylab_up() -> None:
        run_task(shared_master().workspace, "dev.up", timeout=600)

    def teardown() -> None:
        if "raw" in state:
            state["raw"].close()

    return Benchmark(
        name="dev-up-master",
        description="`invoke dev.up` of the moby master build until its daemon answers "
        "(and is checked to be the build) vs `docker run -d` of the same image, bundles and "
        "security options with a polling loop",
        target="reported (dev-up holds its 20% target on the fixture build)",
        sides=[
            Side("dev.up", mobylab_up, down_both),
            Side("docker run + poll", lambda: state["raw"].start(), down_both),
        ],
        ratios=[Ratio("dev.up / raw", "dev.up", "docker run + poll")],
        setup=setup,
        teardown=teardown,
    )

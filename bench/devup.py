"""Dev daemon start: `invoke dev.up` until the inner daemon answers, against a raw
`docker run -d ... dockerd` (same image, security options and bundles mount) and a
polling loop (bench/raw_dind.sh). Both are torn down before every round, untimed;
both keep a data volume across rounds, as a user's would.

A third side runs the same start in-process (DevEnvironment.up, modules already
loaded): what dev.up costs without the interpreter's start and the imports, which
`invoke` pays before any task runs (see the startup benchmark).

The readiness wait is measured on its own, in-process: a watcher pings the dev
daemon's socket every 2 ms while mobylab's DevDaemon.start() runs;
the wait adds (start_daemon returns) - (the first answered ping).
"""

from __future__ import annotations

import importlib
import secrets
import socket
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from .common import (
    engine_hiccup,
    host_engine,
    remove_folder,
    retrying,
    run_quiet,
    run_task,
    scratch,
    wait_for_bridge,
)
from .devfixture import DevBuild, shared_build
from .harness import Benchmark, Ratio, Side

SCRIPT = Path(__file__).with_name("raw_dind.sh")
RAW_LIMIT = 1.20
READINESS_LIMIT = 0.100
READINESS_SAMPLES = 5


def ping_socket(path: Path, timeout: float = 0.5) -> bool:
    """One GET /_ping over a unix socket; True on an OK answer."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(timeout)
            client.connect(str(path))
            client.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            answer = client.recv(64)
    except OSError:
        return False
    return answer.startswith(b"HTTP/1.") and b" 200 " in answer[:16]


def first_answer(path: Path, stop: threading.Event, found: list[float]) -> None:
    """Poll every 2 ms; record when the socket first answers."""
    while not stop.is_set():
        if ping_socket(path):
            found.append(time.perf_counter())
            return
        time.sleep(0.002)


class RawDind:
    """The by-hand side: its own container, volume and socket folder, for a build's
    plan, its bundles folder and the security options mobylab would use."""

    def __init__(self, plan: Any, bundles: Path, security: Any, root: Path, driver: str) -> None:
        from mobylab import labels

        key = secrets.token_hex(4)
        self.name = f"mobylab-bench-dind-{key}"
        self.volume = f"mobylab-bench-dind-{key}"
        self.run_dir = scratch("dind-run")
        self.plan = plan
        self.bundles = bundles
        self.security = security
        self.driver = driver
        self.labels = labels.labels("bench", bench_root=str(root))
        client = host_engine().client()
        try:
            client.volumes.create(self.volume, labels=self.labels)
        finally:
            client.close()

    def start(self) -> None:
        from mobylab.dev.container import bundle_mount_target

        plan = self.plan
        label_flags = [f for k, v in self.labels.items() for f in ("--label", f"{k}={v}")]
        run_quiet(
            [
                "sh",
                str(SCRIPT),
                plan.dev_image,
                self.name,
                self.volume,
                str(self.bundles),
                bundle_mount_target(plan),
                str(self.run_dir),
                plan.container_path,
                self.driver,
                *self.security.cli_flags(),
                "--init",
                *label_flags,
            ],
            timeout=300,
        )

    def remove(self) -> None:
        from mobylab import labels

        client = host_engine().client()
        try:
            try:
                container = client.containers.get(self.name)
            except Exception:
                return
            if labels.is_managed(container.labels):
                container.remove(force=True)
        finally:
            client.close()

    def close(self) -> None:
        self.remove()
        remove_folder(self.run_dir)
        client = host_engine().client()
        try:
            volume = client.volumes.get(self.volume)
            if labels_managed(volume.attrs.get("Labels")):
                volume.remove(force=True)
        except Exception:
            pass
        finally:
            client.close()


def labels_managed(found: dict[str, str] | None) -> bool:
    from mobylab import labels

    return labels.is_managed(found)


def storage_driver(workspace: Path) -> str:
    """The driver mobylab settled on for the dev volume (overlay2, or vfs as fallback)."""
    from mobylab.dev.daemon import VOLUMES_STATE
    from mobylab.workspace import Workspace

    drivers = Workspace(workspace).load_state(VOLUMES_STATE) or {}
    return str(next(iter(drivers.values()), "overlay2"))


def readiness_lags(build: DevBuild, samples: int) -> list[float]:
    """Seconds between the dev daemon's first answer and mobylab noticing, per restart."""
    from mobylab.dev.environment import DevEnvironment
    from mobylab.workspace import Workspace

    env = DevEnvironment(host_engine(), Workspace(build.workspace))
    lags = []
    try:
        for _ in range(samples):
            env.daemon.stop(grace=20)
            socket_path = env.names.socket
            stop = threading.Event()
            found: list[float] = []
            watcher = threading.Thread(target=first_answer, args=(socket_path, stop, found))
            watcher.start()
            try:
                env.daemon.start(timeout=120)
                noticed = time.perf_counter()
            finally:
                stop.set()
                watcher.join()
            if found:
                lags.append(max(0.0, noticed - found[0]))
    finally:
        env.close()
    return lags


def benchmark() -> Benchmark:
    state: dict[str, Any] = {}

    def setup() -> None:
        build = state["build"] = shared_build()
        # Makes the volume and picks the storage driver.
        retrying(lambda: run_task(build.workspace, "dev.up", "--timeout", "120"))
        state["raw"] = RawDind(
            build.plan,
            build.checkout / "bundles",
            build.security,
            build.root,
            storage_driver(build.workspace),
        )
        # Loaded before the rounds: the in-process side times the work, not the imports.
        importlib.import_module("mobylab.dev.environment")

    def down_both() -> None:
        run_task(state["build"].workspace, "dev.down", timeout=300)
        state["raw"].remove()

    def mobylab_up() -> None:
        run_task(state["build"].workspace, "dev.up", "--timeout", "120", timeout=300)

    def library_up() -> None:
        from mobylab.dev.environment import DevEnvironment, target_from_last_build
        from mobylab.workspace import Workspace

        workspace = Workspace(state["build"].workspace)
        env = DevEnvironment(host_engine(), workspace)
        try:
            env.up(target_from_last_build(workspace), timeout=120)
        finally:
            env.close()

    def extra(stats: Any) -> dict[str, Any]:
        mobylab_up()  # leave it up for the seed benchmark, and measure the wait
        lags = readiness_lags(state["build"], READINESS_SAMPLES)
        median = statistics.median(lags) if lags else None
        return {
            "met": median is not None and median < READINESS_LIMIT,
            "readiness_lag_seconds": lags,
            "readiness_lag_median": median,
            "readiness_limit": READINESS_LIMIT,
            "storage_driver": state["raw"].driver,
            "poll_intervals": "mobylab: 20 ms growing x1.5 to 50 ms (Engine.wait_ready); "
            "script: 50 ms",
        }

    def teardown() -> None:
        if "raw" in state:
            state["raw"].close()

    bench = Benchmark(
        name="dev-up",
        description="`invoke dev.up` until the inner daemon answers vs `docker run -d` with "
        "the same image, security options and bundles mount, and a polling loop",
        target=f"within {RAW_LIMIT - 1:.0%} of raw; readiness wait adds < "
        f"{READINESS_LIMIT * 1000:.0f} ms",
        sides=[
            Side("dev.up", mobylab_up, down_both),
            Side("docker run + poll", lambda: state["raw"].start(), down_both),
            Side("DevEnvironment.up in-process", library_up, down_both),
        ],
        ratios=[
            Ratio("dev.up / raw", "dev.up", "docker run + poll", RAW_LIMIT),
            Ratio("in-process / raw", "DevEnvironment.up in-process", "docker run + poll"),
        ],
        setup=setup,
        teardown=teardown,
        extra=extra,
        transient=engine_hiccup,
        recover=wait_for_bridge,
    )
    return bench

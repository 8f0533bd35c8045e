"""Image seeding: `invoke dev.seed` of the builder image into the dev daemon, against
`docker save | docker load` by hand, and against what a registry pull would move
(the save stream gzipped: about the image's compressed size).

Before every round the image is removed from the dev daemon (untimed).
"""

from __future__ import annotations

import subprocess
import threading
from typing import IO, Any

from .common import BenchError, host_engine, retrying, run_task
from .devfixture import shared_build
from .harness import Benchmark, Side

IMAGE = "mobylab/golang:1.19-bookworm"
MB = 1_000_000


def dev_socket_url(workspace: Any) -> str:
    from mobylab.dev.container import DevNames

    return DevNames.for_workspace(workspace.resolve()).url


def stream_sizes(image: str) -> tuple[int, int]:
    """(bytes of `docker save`, bytes of that stream through gzip -6)."""
    save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    gzip = subprocess.Popen(["gzip", "-6", "-c"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert save.stdout is not None and gzip.stdin is not None and gzip.stdout is not None
    raw = 0
    compressed = [0]

    def count(out: IO[bytes]) -> None:
        for chunk in iter(lambda: out.read(1 << 20), b""):
            compressed[0] += len(chunk)

    reader = threading.Thread(target=count, args=(gzip.stdout,))
    reader.start()
    source = save.stdout
    for chunk in iter(lambda: source.read(1 << 20), b""):
        raw += len(chunk)
        gzip.stdin.write(chunk)
    gzip.stdin.close()
    reader.join()
    if save.wait() != 0 or gzip.wait() != 0:
        raise BenchError(f"docker save {image} | gzip failed")
    return raw, compressed[0]


def benchmark() -> Benchmark:
    state: dict[str, Any] = {}

    def setup() -> None:
        build = state["build"] = shared_build()
        # A no-op when it runs.
        retrying(lambda: run_task(build.workspace, "dev.up", "--timeout", "120"))
        state["url"] = dev_socket_url(build.workspace)

    def remove_inside() -> None:
        from mobylab import labels
        from mobylab.engine import Engine

        client = Engine(state["url"], kind="dev", name="dev").client(timeout=300)
        try:
            try:
                image = client.images.get(IMAGE)
            except Exception:
                return
            if labels.is_managed(image.labels):
                client.images.remove(image.id, force=True)
        finally:
            client.close()

    def mobylab_seed() -> None:
        done = run_task(state["build"].workspace, "dev.seed", "--", IMAGE, timeout=1800)
        if "copied" not in done.stdout + done.stderr:
            raise BenchError("dev.seed copied nothing: " + (done.stdout + done.stderr)[-300:])

    def save_load() -> None:
        save = subprocess.Popen(["docker", "save", IMAGE], stdout=subprocess.PIPE)
        load = subprocess.run(
            ["docker", "-H", state["url"], "load", "-q"],
            stdin=save.stdout,
            capture_output=True,
            check=False,
        )
        if save.wait() != 0 or load.returncode != 0:
            raise BenchError(f"docker save | docker load failed: {load.stderr.decode()[-300:]}")

    def extra(stats: Any) -> dict[str, Any]:
        raw, compressed = stream_sizes(IMAGE)
        client = host_engine().client()
        try:
            size = int(client.images.get(IMAGE).attrs.get("Size") or 0)
        finally:
            client.close()
        seconds = stats["dev.seed"].median
        by_hand = stats["docker save | docker load"].median
        return {
            "image": IMAGE,
            "image_size_bytes": size,
            "bytes_moved": raw,
            "gzip_bytes": compressed,
            "gzip_ratio": round(compressed / raw, 3) if raw else None,
            "dev_seed_mb_per_s": round(raw / MB / seconds, 1) if seconds else None,
            "save_load_mb_per_s": round(raw / MB / by_hand, 1) if by_hand else None,
        }

    return Benchmark(
        name="dev-seed",
        description=f"`invoke dev.seed -- {IMAGE}` into the dev daemon vs "
        "`docker save | docker -H <dev> load`",
        target="report bytes moved and MB/s against the gzipped save stream",
        sides=[
            Side("dev.seed", mobylab_seed, remove_inside),
            Side("docker save | docker load", save_load, remove_inside),
        ],
        setup=setup,
        extra=extra,
        rounds=2,
    )

"""Workshop scaling: workshop.check and a first provision over 1, 4 and 8 real sshd hosts.

The hosts are the workshop tests' own (tests/workshop/conftest.py): one sshd per
loopback address 127.0.0.2-9, each logging in as its own Linux user. They all run
on this machine, so every host's remote work (python start-up, pip install, the
remote doctor) competes for the same cores as the instructor's side: the CPU
busy time is recorded per round to show where scaling stops.

Provision runs from a frozen copy of the clone (`git archive HEAD`), with its
wheelhouse built before the rounds, so edits to the clone never rebuild it in a
timed round. Before every provision round the hosts' remote folders are removed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from .common import ROOT, BenchError, remove_folder, scratch
from .harness import Benchmark, Ratio, Side

SIZES = (1, 4, 8)
SCALING_LIMIT = 1.5


def _conftest() -> Any:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.workshop import conftest

    return conftest


def cpu_busy_seconds() -> float:
    """Machine-wide busy CPU seconds so far (all cores), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class Farm:
    """Eight sshd hosts and an instructor workspace."""

    def __init__(self) -> None:
        conftest = _conftest()
        self.conftest = conftest
        self.root = scratch("workshop")
        self.root.chmod(0o755)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        addresses = [f"127.0.0.{n}" for n in conftest.HOST_NUMBERS]
        port = conftest._free_port(addresses, start=2422)
        client_key = self.root / "client_ed25519"
        public = conftest.keygen(client_key, "instructor")
        suffix = secrets.token_hex(2)
        self.farm = conftest.SshFarm(
            self.root, port, client_key, self.root / "ssh_config", self.root / "known_hosts"
        )
        try:
            for number in conftest.HOST_NUMBERS:
                host = conftest.TestHost(
                    number,
                    f"127.0.0.{number}",
                    port,
                    f"mlb{suffix}h{number}",
                    self.root / f"home{number}",
                    self.root / f"h{number}",
                )
                self.farm.hosts.append(host)
                conftest._make_user(host.user, host.home)
                conftest._start_sshd(self.farm, host, public)
            self.farm.ssh_config.write_text(f"Host *\n    IdentityFile {client_key}\n")
            self.cli = conftest.make_cli(self.root / "instructor", self.farm)
            self.source = self._frozen_source()
            self._wheelhouse()
        except BaseException:
            self.close()
            raise
        self.samples: dict[str, list[float]] = {}

    def _frozen_source(self) -> Path:
        source = self.root / "source"
        source.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "HEAD"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
        return source

    def _wheelhouse(self) -> None:
        from mobylab.workshop import artifacts

        artifacts.build_wheelhouse(
            self.source, self.cli.workspace / "wheelhouse", self.root / "pip-wheel.log"
        )

    def specs(self, count: int) -> str:
        numbers = list(self.conftest.HOST_NUMBERS)[:count]
        return self.farm.specs(numbers)

    def run(self, label: str, *args: str) -> None:
        busy = cpu_busy_seconds()
        done = self.cli(*args, timeout=1800)
        self.samples.setdefault(label, []).append(round(cpu_busy_seconds() - busy, 2))
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-12:])
            raise BenchError(f"mobylab {' '.join(args[:2])} exited {done.returncode}:\n{tail}")

    def wipe(self) -> None:
        for host in self.farm.hosts:
            shutil.rmtree(host.remote_dir, ignore_errors=True)

    def close(self) -> None:
        for host in self.farm.hosts:
            pid = host.pid or self.conftest._read_pid(host.folder / "sshd.pid", timeout=1)
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 15)
        for host in self.farm.hosts:
            self.conftest._remove_user(host.user)
        remove_folder(self.root)


_shared: Farm | None = None


def shared_farm() -> Farm:
    """The hosts, made once for both workshop benchmarks."""
    global _shared
    if _shared is None:
        _shared = Farm()
    return _shared


def close() -> None:
    global _shared
    if _shared is not None:
        farm, _shared = _shared, None
        farm.close()


def _benchmark(kind: str) -> Benchmark:
    state: dict[str, Farm] = {}

    def setup() -> None:
        farm = state["farm"] = shared_farm()
        if kind == "check" and not all(h.remote_dir.is_dir() for h in farm.farm.hosts):
            # check on machines that have mobylab, so each runs the remote doctor.
            farm.run(
                "setup",
                "workshop.provision",
                "--hosts",
                farm.specs(len(farm.farm.hosts)),
                "--no-images",
                "--source",
                str(farm.source),
            )
        farm.samples = {}

    def side(count: int) -> Side:
        label = f"{count} host" + ("s" if count > 1 else "")

        def run() -> None:
            farm = state["farm"]
            hosts = farm.specs(count)
            if kind == "check":
                farm.run(label, "workshop.check", "--hosts", hosts)
            else:
                farm.run(
                    label,
                    "workshop.provision",
                    "--hosts",
                    hosts,
                    "--no-images",
                    "--source",
                    str(farm.source),
                )

        prepare = (lambda: state["farm"].wipe()) if kind == "provision" else None
        return Side(label, run, prepare)

    def extra(stats: Any) -> dict[str, Any]:
        farm = state["farm"]
        busy = {}
        for label, values in farm.samples.items():
            if label not in stats:
                continue
            wall = stats[label].samples
            busy[label] = {
                "cpu_busy_seconds": values,
                "cores_busy": [round(c / w, 2) for c, w in zip(values, wall, strict=False) if w],
            }
        return {"machine_cpu": busy, "cores": os.cpu_count()}

    what = (
        "workshop.check (provisioned hosts)"
        if kind == "check"
        else "workshop.provision --no-images (fresh hosts)"
    )
    return Benchmark(
        name=f"workshop-{kind}",
        description=f"`mobylab {what}` over 1, 4 and 8 real sshd hosts on loopback",
        target=f"8 hosts within {SCALING_LIMIT}x the time of 1",
        sides=[side(count) for count in SIZES],
        ratios=[
            Ratio("4 / 1", "4 hosts", "1 host"),
            Ratio("8 / 1", "8 hosts", "1 host", SCALING_LIMIT),
        ],
        setup=setup,
        extra=extra,
        rounds=2 if kind == "provision" else 3,
    )


def check() -> Benchmark:
    return _benchmark("check")


def provision() -> Benchmark:
    return _benchmark("provision")

"""A finished build's manifest as typed records: what it made (every binary with its
sha256 and the version it reports, the archives, the links) and how.

Its JSON (builds/<commit>/<route>/manifest.json, build.json in an exported build)
keeps the keys it always had; `from_dict` reads what `to_dict` wrote, and what older
versions wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..jsondata import JsonDict
from .plan import BuildPlan


@dataclass(frozen=True)
class BundleBinary:
    """An ELF file the build left under bundles/."""

    path: str  # relative to the source folder: bundles/...
    name: str
    size: int
    mtime_ns: int
    sha256: str
    # The first line `<binary> --version` printed on this host; None if it cannot run.
    version: str | None = None

    def to_dict(self) -> JsonDict:
        return {
            "path": self.path,
            "name": self.name,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "sha256": self.sha256,
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BundleBinary:
        path = str(data["path"])
        return cls(
            path=path,
            name=str(data.get("name") or Path(path).name),
            size=int(data.get("size") or 0),
            mtime_ns=int(data.get("mtime_ns") or 0),
            sha256=str(data.get("sha256") or ""),
            version=data.get("version"),
        )


@dataclass(frozen=True)
class BundleArchive:
    path: str
    size: int
    sha256: str

    def to_dict(self) -> JsonDict:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BundleArchive:
        return cls(str(data["path"]), int(data.get("size") or 0), str(data.get("sha256") or ""))


@dataclass(frozen=True)
class BundleLink:
    path: str
    target: str

    def to_dict(self) -> JsonDict:
        return {"path": self.path, "target": self.target}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BundleLink:
        return cls(str(data["path"]), str(data.get("target") or ""))


@dataclass(frozen=True)
class Bundles:
    """What a build left under bundles/."""

    binaries: tuple[BundleBinary, ...] = ()
    archives: tuple[BundleArchive, ...] = ()
    symlinks: tuple[BundleLink, ...] = ()

    def to_dict(self) -> JsonDict:
        return {
            "binaries": [b.to_dict() for b in self.binaries],
            "archives": [a.to_dict() for a in self.archives],
            "symlinks": [s.to_dict() for s in self.symlinks],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Bundles:
        return cls(
            binaries=tuple(BundleBinary.from_dict(b) for b in data.get("binaries") or ()),
            archives=tuple(BundleArchive.from_dict(a) for a in data.get("archives") or ()),
            symlinks=tuple(BundleLink.from_dict(s) for s in data.get("symlinks") or ()),
        )

    def unchanged(self, source_dir: Path) -> bool:
        """Every binary is still there with its size and mtime (none listed: False)."""
        if not self.binaries:
            return False
        for binary in self.binaries:
            try:
                info = (source_dir / binary.path).stat()
            except OSError:
                return False
            if (info.st_size, info.st_mtime_ns) != (binary.size, binary.mtime_ns):
                return False
        return True


@dataclass(frozen=True)
class Phase:
    """A phase of the build (make, dev image, bundle <name>, manifest) and its length."""

    name: str
    seconds: float

    def to_dict(self) -> JsonDict:
        return {"name": self.name, "seconds": self.seconds}


# The keys of the JSON that are the manifest's own fields; any other key is the route's.
_OWN_KEYS = frozenset(
    {"commit", "plan_key", "plan", "route", "target", "argv", "commands", "built_at"}
    | {"seconds", "phases", "log", "engine", "source_dir", "bundles_dir"}
    | {"binaries", "archives", "symlinks"}
)


@dataclass(frozen=True)
class BuildManifest:
    """A finished build: the plan it ran (and that plan's cache key then), the commands,
    its phases, where its bundles are, and what they hold."""

    plan: BuildPlan
    plan_key: str
    bundles: Bundles
    source_dir: Path
    bundles_dir: Path
    argv: tuple[str, ...] = ()
    commands: tuple[tuple[str, ...], ...] = ()
    built_at: str = ""
    seconds: float = 0.0
    phases: tuple[Phase, ...] = ()
    log: str = ""
    engine: str = ""
    # What the route says of itself (its security; the source route's build copy, dev
    # image, caches, fixes and companions): for people and the JSON, decided by nothing.
    route_facts: JsonDict = field(default_factory=dict)

    @property
    def commit(self) -> str:
        return self.plan.commit

    def to_dict(self) -> JsonDict:
        return {
            "commit": self.plan.commit,
            "plan_key": self.plan_key,
            "plan": self.plan.as_dict(),
            "route": self.plan.route.name.value,
            "target": self.plan.target,
            "argv": list(self.argv),
            "commands": [list(argv) for argv in self.commands],
            "built_at": self.built_at,
            "seconds": self.seconds,
            "phases": [phase.to_dict() for phase in self.phases],
            "log": self.log,
            "engine": self.engine,
            "source_dir": str(self.source_dir),
            "bundles_dir": str(self.bundles_dir),
            **self.route_facts,
            **self.bundles.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BuildManifest:
        plan = BuildPlan.from_dict(data["plan"])
        source_dir = Path(data.get("source_dir") or plan.checkout)
        return cls(
            plan=plan,
            plan_key=str(data.get("plan_key") or ""),
            bundles=Bundles.from_dict(data),
            source_dir=source_dir,
            bundles_dir=Path(data.get("bundles_dir") or source_dir / "bundles"),
            argv=tuple(data.get("argv") or ()),
            commands=tuple(tuple(argv) for argv in data.get("commands") or ()),
            built_at=str(data.get("built_at") or ""),
            seconds=float(data.get("seconds") or 0.0),
            phases=tuple(
                Phase(str(p["name"]), float(p["seconds"])) for p in data.get("phases") or ()
            ),
            log=str(data.get("log") or ""),
            engine=str(data.get("engine") or ""),
            route_facts={k: v for k, v in data.items() if k not in _OWN_KEYS},
        )

    def cache_valid(self, plan: BuildPlan) -> bool:
        """A build of this very plan (same key) whose binaries are still there, unchanged."""
        return self.plan_key == plan.key and self.bundles.unchanged(self.source_dir)

    def moved_to(self, folder: Path) -> BuildManifest:
        """The manifest of the same build copied into `folder` (bundles/ inside it): the
        copies' sizes and mtimes, the same sha256 (checked by the caller)."""
        binaries = []
        for binary in self.bundles.binaries:
            info = (folder / binary.path).stat()
            binaries.append(replace(binary, size=info.st_size, mtime_ns=info.st_mtime_ns))
        return replace(
            self,
            source_dir=folder,
            bundles_dir=folder / "bundles",
            bundles=replace(self.bundles, binaries=tuple(binaries)),
        )

"""The daemon's companions: the containerd, runc, docker-proxy and docker-init it was made for.

A 2017 daemon speaks containerd 0.2's API, which no Debian containerd serves: its
companions are built from the commits its source names (hack/dockerfile/
binaries-commits), from the repositories its hack/dockerfile/install-binaries.sh
clones, with the same toolchain, and handed to its own hack/make.sh under the
names that era looks for (docker-containerd, docker-runc ...), which copies them
into the bundle next to dockerd, as it did in 2017. Later daemons speak
containerd 1.x and run with the dev image's Debian packages; until 18.09 they
still look for them under the docker- names their hack/make/.binary-setup gives,
so the dev container links those names to Debian's programs before the daemon
starts (dev/mobylab-dind). Debian ships no docker-proxy: until the engine
built its own (23.0), its source names the libnetwork commit of one
(binaries-commits, then hack/dockerfile/install/proxy.installer), and that one is
built and put beside the daemon in the bundle, where that era's make would have
copied it. docker-init is
Debian's static tini in every era (the source names a tini commit, but tini's
repository is not one a mirror keeps; the program is the same 0.x init).

Built companions are kept by name, commit and toolchain beside the root
filesystem cache, so every workspace of the machine reuses them.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import labels, process, ui
from ..engine import Engine
from ..errors import BuildError, Interrupted, SourceError
from ..jsondata import JsonDict
from .fetch import fetch_tree
from .job import COMPONENT, new_build_id, remove_build_containers
from .toolchain import Toolchain

COMMITS_FILE = "hack/dockerfile/binaries-commits"
INSTALL_SCRIPT = "hack/dockerfile/install-binaries.sh"
PROXY_INSTALLER = "hack/dockerfile/install/proxy.installer"
BINARY_SETUP = "hack/make/.binary-setup"


@dataclass(frozen=True)
class Companion:
    """One companion: where its source is, how it builds, what it installs."""

    name: str
    repo: str
    commit: str
    # Where the source sits in GOPATH (these projects build in GOPATH mode).
    import_path: str
    # The build command, run in the source folder; the files it makes and the
    # names they are installed under.
    command: tuple[str, ...]
    outputs: tuple[tuple[str, str], ...]
    env: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        return f"{self.name}-{self.commit[:12]}"

    def as_dict(self) -> JsonDict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Companion:
        return cls(
            name=str(data["name"]),
            repo=str(data["repo"]),
            commit=str(data["commit"]),
            import_path=str(data["import_path"]),
            command=tuple(data["command"]),
            outputs=tuple((str(a), str(b)) for a, b in data["outputs"]),
            env=tuple((str(a), str(b)) for a, b in data.get("env", ())),
        )


# Facts about the 2017 companions, from hack/dockerfile/install-binaries.sh of
# that era: the repositories, the package paths, the make targets, the names.
# The checkout's own script overrides the repository and the package path
# (containerd moved from docker/ to containerd/ in mid-2017).
_SPECS: dict[str, dict[str, Any]] = {
    "RUNC_COMMIT": {
        "name": "runc",
        "repo": "https://github.com/docker/runc",
        "import_path": "github.com/opencontainers/runc",
        "command": ("make", "BUILDTAGS=", "static"),
        "outputs": (("runc", "docker-runc"),),
    },
    "CONTAINERD_COMMIT": {
        "name": "containerd",
        "repo": "https://github.com/docker/containerd",
        "import_path": "github.com/docker/containerd",
        "command": ("make", "static"),
        "outputs": (
            ("bin/containerd", "docker-containerd"),
            ("bin/containerd-shim", "docker-containerd-shim"),
            ("bin/ctr", "docker-containerd-ctr"),
        ),
    },
    "LIBNETWORK_COMMIT": {
        "name": "docker-proxy",
        "repo": "https://github.com/docker/libnetwork",
        "import_path": "github.com/docker/libnetwork",
        "command": ("go", "build", "-o", "docker-proxy", "github.com/docker/libnetwork/cmd/proxy"),
        "outputs": (("docker-proxy", "docker-proxy"),),
        "env": (("CGO_ENABLED", "0"),),
    },
}
# The build tags runc knows, which that era's install script gave it (RUNC_BUILDTAGS):
# runc gets those the daemon is built with, since a daemon with seccomp hands runc a
# seccomp profile that a runc without it refuses.
RUNC_TAGS = ("seccomp", "apparmor", "selinux")
# Where that era's hack/make.sh looks for them, and docker-init beside them.
INSTALL_DIR = "/usr/local/bin"
INIT_NAME = "docker-init"
INIT_IN_IMAGE = "/usr/bin/tini-static"


_COMMIT_LINE = re.compile(
    # NAME_COMMIT=sha, or the default form : "${NAME_COMMIT:=sha}" of the later installers.
    r"^\s*(?::\s+['\"]?\$\{)?([A-Z][A-Z0-9_]*_COMMIT)(?:=|:=)['\"]?([0-9a-fA-F]{7,64})"
    r"['\"]?\}?['\"]?\s*(?:#.*)?$"
)


def parse_commits(text: str) -> dict[str, str]:
    """Pure: NAME_COMMIT=sha lines of a shell file -> {NAME_COMMIT: sha}."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = _COMMIT_LINE.match(line)
        if match:
            found[match.group(1)] = match.group(2).lower()
    return found


def parse_clones(text: str | None) -> dict[str, str]:
    """Pure: `git clone URL "$GOPATH/src/PATH"` lines of a shell file -> {PATH: URL}."""
    found: dict[str, str] = {}
    for match in re.finditer(
        r"^\s*git clone\s+(?:-\S+\s+)*['\"]?(https?://[^\s'\"]+?)(?:\.git)?['\"]?\s+"
        r"['\"]?\$\{?GOPATH\}?/src/([\w./-]+?)/?['\"]?\s*$",
        text or "",
        re.MULTILINE,
    ):
        found.setdefault(match.group(2), match.group(1))
    return found


def _from_script(spec: dict[str, Any], clones: Mapping[str, str]) -> dict[str, Any]:
    """Pure: a spec with the repository and package path the era's script uses for it."""
    project = spec["import_path"].rsplit("/", 1)[-1]
    for path, url in clones.items():
        if path.rsplit("/", 1)[-1] == project:
            old_path = spec["import_path"]
            command = tuple(arg.replace(old_path, path) for arg in spec["command"])
            return {**spec, "repo": url, "import_path": path, "command": command}
    return spec


def companions_for(
    files: Mapping[str, str | None],
    companions_from_debian: bool,
    build_tags: Sequence[str] = (),
) -> tuple[list[Companion], list[str]]:
    """Pure: the companions to build from source for this checkout, and notes.

    Only a daemon that Debian's packages cannot serve gets them; the commits are
    the ones its source names, the repositories the ones its install script clones,
    and runc has the daemon's `build_tags` that it knows (RUNC_TAGS).
    """
    if companions_from_debian:
        return _proxy_for(files), []
    text = files.get(COMMITS_FILE)
    if text is None:
        raise SourceError(
            "this daemon speaks containerd 0.2's API and its source names no companion "
            f"commits ({COMMITS_FILE} is missing)",
            "Build a source that has it, or an engine from 2018 on.",
        )
    commits = parse_commits(text)
    clones = parse_clones(files.get(INSTALL_SCRIPT))
    companions: list[Companion] = []
    notes: list[str] = []
    for variable, spec in _SPECS.items():
        commit = commits.get(variable)
        if commit is None:
            notes.append(f"{COMMITS_FILE} names no {variable}: {spec['name']} is not built")
            continue
        if variable == "RUNC_COMMIT":
            tags = " ".join(tag for tag in RUNC_TAGS if tag in build_tags)
            spec = {**spec, "command": ("make", f"BUILDTAGS={tags}", "static")}
        companions.append(Companion(commit=commit, **_from_script(spec, clones)))
    if "TINI_COMMIT" in commits:
        notes.append(
            f"docker-init: Debian's static tini stands in for tini {commits['TINI_COMMIT'][:12]}"
        )
    return companions, notes


def _proxy_for(files: Mapping[str, str | None]) -> list[Companion]:
    """Pure: the docker-proxy a daemon Debian serves otherwise needs, when its source
    names the libnetwork commit of one (a source that builds its own names none)."""
    scripts = "\n".join(files.get(name) or "" for name in (COMMITS_FILE, PROXY_INSTALLER))
    commit = parse_commits(scripts).get("LIBNETWORK_COMMIT")
    if commit is None:
        return []
    clones = parse_clones("\n".join(files.get(n) or "" for n in (INSTALL_SCRIPT, PROXY_INSTALLER)))
    return [Companion(commit=commit, **_from_script(_SPECS["LIBNETWORK_COMMIT"], clones))]


# hack/make/.binary-setup's variables, and the Debian program each one names.
_DEBIAN_PROGRAMS = {
    "DOCKER_RUNC_BINARY_NAME": "runc",
    "DOCKER_CONTAINERD_BINARY_NAME": "containerd",
    "DOCKER_CONTAINERD_CTR_BINARY_NAME": "ctr",
    "DOCKER_CONTAINERD_SHIM_BINARY_NAME": "containerd-shim",
}


def debian_aliases(binary_setup: str | None) -> tuple[str, ...]:
    """Pure: "era-name=program" for each companion the daemon looks for under another
    name than Debian's program has (docker-runc=runc until 18.09; none after)."""
    aliases: list[str] = []
    for line in (binary_setup or "").splitlines():
        match = re.match(r"^\s*([A-Z_]+)=['\"]?([\w.-]+)['\"]?\s*$", line)
        if not match or match.group(1) not in _DEBIAN_PROGRAMS:
            continue
        program = _DEBIAN_PROGRAMS[match.group(1)]
        if match.group(2) != program:
            aliases.append(f"{match.group(2)}={program}")
    return tuple(aliases)


def cache_folder(root: Path, companion: Companion, toolchain: Toolchain) -> Path:
    """Where a companion built by this command with this Go is kept (another build
    command, say other build tags, is another build)."""
    command = hashlib.sha256(" ".join(companion.command).encode()).hexdigest()[:8]
    return root / f"{companion.key}-{toolchain.go.short}-{toolchain.go.suite}-{command}"


def build_argv(
    companion: Companion, *, image: str, source: Path, build_id: str, docker: str = "docker"
) -> list[str]:
    """Pure: the `docker run` that builds one companion in the dev image, offline."""
    workdir = f"/go/src/{companion.import_path}"
    argv = [docker, "run", "--rm", "--network", "none"]
    argv += labels.label_flags(COMPONENT, build=build_id, companion=companion.name)
    argv += ["-v", f"{source}:{workdir}", "-w", workdir]
    for key, value in (("GO111MODULE", "off"), ("GOPATH", "/go"), *companion.env):
        argv += ["-e", f"{key}={value}"]
    return [*argv, image, *companion.command]


def build_companions(
    companions: Sequence[Companion],
    *,
    toolchain: Toolchain,
    image: str,
    engine: Engine,
    cache_root: Path,
    remotes: Mapping[str, str],
    into: Path,
    log: Path,
) -> list[dict[str, Any]]:
    """Each companion built once per commit and toolchain; all installed into `into`.

    `remotes` maps a companion's repository to the URL it is fetched from (a mirror,
    or the repository itself). Returns one record per installed file.
    """
    into.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    for companion in companions:
        folder = cache_folder(cache_root, companion, toolchain)
        if not all((folder / name).is_file() for _, name in companion.outputs):
            url = remotes.get(companion.repo, companion.repo)
            ui.step(f"{companion.name} {companion.commit[:12]}: fetching from {url}")
            source = folder.with_name(folder.name + ".src")
            fetch_tree(url, companion.commit, source)
            build_id = new_build_id()
            ui.step(f"{companion.name} {companion.commit[:12]}: {' '.join(companion.command)}")
            argv = build_argv(companion, image=image, source=source, build_id=build_id)
            try:
                result = process.run(argv, env=engine.cli_env(), log=log, tail_lines=30)
            except (Interrupted, KeyboardInterrupt):
                remove_build_containers(engine, build_id)
                raise Interrupted(
                    f"interrupted while building {companion.name}",
                    "Its build container was removed; build again to go on.",
                ) from None
            if not result.ok:
                raise BuildError(
                    f"building {companion.name} {companion.commit[:12]} failed "
                    f"(exit status {result.returncode})",
                    f"The log is {log}.",
                    detail="\n".join(result.tail[-20:]),
                )
            partial = folder.with_name(folder.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            for made, name in companion.outputs:
                shutil.copy2(source / made, partial / name)
            shutil.rmtree(folder, ignore_errors=True)
            partial.rename(folder)
            shutil.rmtree(source, ignore_errors=True)
        for _, name in companion.outputs:
            shutil.copy2(folder / name, into / name)
            records.append({"name": name, "companion": companion.name, "commit": companion.commit})
    return records

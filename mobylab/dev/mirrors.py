"""Mirrors: folders of bare git repositories that stand in for GitHub.

An air-gapped workshop room or a CI machine keeps `moby.git`, `containerd.git`,
`runc.git`, `libnetwork.git` ... in a folder; the `mirrors` setting names such
folders. Every fetch of an upstream repository (the engine, its companions, the
commits of its later fixes) asks `remote_for` first: the mirror when one holds the
repository, the repository's own URL otherwise, and the answer says which.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ..errors import UsageError

# Repositories that moved: a mirror may hold them under either name.
RENAMED = {
    "docker/docker": "moby/moby",
    "docker/containerd": "containerd/containerd",
    "docker/runc": "opencontainers/runc",
    "docker/libnetwork": "moby/libnetwork",
}


@dataclass(frozen=True)
class Remote:
    """Where a repository is fetched from, and how to say so."""

    url: str
    # The repository asked for (its GitHub URL, usually).
    wanted: str
    # The mirror folder that holds it, or None when fetched from `url` directly.
    mirror: Path | None = None


def github_path(repo: str) -> str | None:
    """Pure: "owner/name" of a GitHub repository URL, or None for anything else."""
    if "://" in repo:
        parsed = urlparse(repo)
        if (parsed.hostname or "").lower() not in ("github.com", "www.github.com"):
            return None
        path = parsed.path
    else:
        match = re.match(r"^(?:[^@/]+@)?github\.com:(.+)$", repo)
        if not match:
            return None
        path = match.group(1)
    parts = [p for p in path.strip("/").split("/") if p]
    if len(parts) != 2:
        return None
    owner, name = parts
    return f"{owner.lower()}/{name.removesuffix('.git').lower()}"


def mirror_names(owner_name: str) -> list[str]:
    """Pure: the folder names a mirror may use for one repository, most specific first.

    "docker/containerd" -> docker/containerd.git, containerd/containerd.git,
    docker-containerd.git ..., containerd.git, containerd.
    """
    paths = [owner_name]
    if owner_name in RENAMED:
        paths.append(RENAMED[owner_name])
    paths += [old for old, new in RENAMED.items() if new == owner_name]
    names: list[str] = []
    for path in paths:
        owner, name = path.split("/")
        names += [f"{owner}/{name}.git", f"{owner}/{name}", f"{owner}-{name}.git"]
    for path in paths:
        name = path.split("/")[1]
        names += [f"{name}.git", name]
    return list(dict.fromkeys(names))


def pick_mirror(
    owner_name: str, folders: Sequence[Path], exists: Iterable[str]
) -> tuple[Path, Path] | None:
    """Pure: (mirror folder, repository) of the first folder (in order) holding `owner_name`.

    `exists` lists "folder-index:name" entries that are bare repositories.
    """
    present = set(exists)
    for index, folder in enumerate(folders):
        for name in mirror_names(owner_name):
            if f"{index}:{name}" in present:
                return folder, folder / name
    return None


def _is_repository(path: Path) -> bool:
    bare = (path / "HEAD").is_file() and (path / "objects").is_dir()
    return bare or (path / ".git").is_dir()


def mirror_folders(setting: Sequence[str]) -> list[Path]:
    """The mirror folders of the setting; a folder that does not exist is a usage error."""
    folders = []
    for value in setting:
        folder = Path(value).expanduser()
        if not folder.is_dir():
            raise UsageError(
                f"the mirror folder {value} does not exist",
                "Point the mirrors setting (MOBYLAB_MIRRORS, --mirrors) at a folder of bare "
                "git repositories such as moby.git.",
            )
        folders.append(folder.resolve())
    return folders


def remote_for(repo: str, setting: Sequence[str]) -> Remote:
    """Where to fetch `repo`: a mirror that holds it, else `repo` itself."""
    owner_name = github_path(repo)
    folders = mirror_folders(setting)
    if owner_name is None or not folders:
        return Remote(repo, repo)
    present = [
        f"{index}:{name}"
        for index, folder in enumerate(folders)
        for name in mirror_names(owner_name)
        if _is_repository(folder / name)
    ]
    found = pick_mirror(owner_name, folders, present)
    if found is None:
        return Remote(repo, repo)
    folder, repository = found
    return Remote(f"file://{repository}", repo, folder)

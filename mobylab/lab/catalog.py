"""Where labs are found: settings.extra["labs_dir"], the repository's labs/, the package data."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import LabError
from .model import Lab, load_lab

PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def lab_folders(extra: Mapping[str, Any]) -> list[Path]:
    """The folders that hold labs, first match wins."""
    folders: list[Path] = []
    configured = extra.get("labs_dir")
    if configured:
        folders.append(Path(str(configured)).expanduser().resolve())
    folders.append(PACKAGE_ROOT.parent / "labs")  # a clone of the repository
    folders.append(PACKAGE_ROOT / "_data" / "labs")  # an installed wheel
    return [folder for folder in folders if folder.is_dir()]


def available(extra: Mapping[str, Any]) -> dict[str, Path]:
    """Lab name -> folder, for every folder with a lab.toml."""
    found: dict[str, Path] = {}
    for folder in lab_folders(extra):
        for child in sorted(folder.iterdir()):
            if (child / "lab.toml").is_file() and child.name not in found:
                found[child.name] = child
    return found


def display_path(lab_dir: Path) -> str:
    """labs/<name>/lab.toml when the lab lives in a labs folder, else the full path."""
    if lab_dir.parent.name == "labs":
        return f"labs/{lab_dir.name}/lab.toml"
    return str(lab_dir / "lab.toml")


def find_lab(name: str, extra: Mapping[str, Any]) -> Lab:
    labs = available(extra)
    if name not in labs:
        known = ", ".join(sorted(labs)) or "none"
        raise LabError(f"no lab called {name!r}", f"Known labs: {known} (see `invoke lab.list`).")
    return load_lab(labs[name], display_path(labs[name]))

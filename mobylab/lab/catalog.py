"""A lab of the catalog (mobylab.catalog), loaded from its lab.toml."""

from __future__ import annotations

from pathlib import Path

from ..catalog import lab_folder
from ..config import Settings
from .model import Lab, load_lab


def display_path(lab_dir: Path) -> str:
    """labs/<name>/lab.toml when the lab lives in a labs folder, else the full path."""
    if lab_dir.parent.name == "labs":
        return f"labs/{lab_dir.name}/lab.toml"
    return str(lab_dir / "lab.toml")


def find_lab(name: str, settings: Settings) -> Lab:
    folder = lab_folder(name, settings)
    return load_lab(folder, display_path(folder))

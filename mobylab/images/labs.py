"""Which images a lab needs: the `images` array of its lab.toml."""

from __future__ import annotations

from ..catalog import lab_folder
from ..config import Settings
from .recipes import parse_lab_images


def lab_image_names(name: str, settings: Settings) -> list[str]:
    """The recipe names or image references the catalog's lab `name` declares."""
    path = lab_folder(name, settings) / "lab.toml"
    return parse_lab_images(path.read_text(), str(path))

"""Which images a lab needs: the `images` array of labs/<name>/lab.toml."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ImageError, UsageError
from .recipes import parse_lab_images


def labs_root() -> Path:
    """labs/ of a clone, else the copy installed with the package."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package.parent / "labs", package / "_data" / "labs"):
        if candidate.is_dir():
            return candidate
    return package.parent / "labs"


def lab_image_names(name: str, root: Path | None = None) -> list[str]:
    """The recipe names or image references lab `name` declares."""
    # A lab is a folder of labs/: a plain name, never a path that leaves it.
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*", name):
        raise UsageError(f"--lab {name!r} is not a lab name", "Use the name of a folder in labs/.")
    root = root or labs_root()
    path = root / name / "lab.toml"
    try:
        text = path.read_text()
    except FileNotFoundError:
        known = sorted(p.parent.name for p in root.glob("*/lab.toml"))
        raise ImageError(
            f"no lab called {name!r} ({path} is missing)",
            f"Known labs: {', '.join(known)}." if known else "",
        ) from None
    return parse_lab_images(text, str(path))

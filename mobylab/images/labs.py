"""Which images a lab needs: the `images` array of labs/<name>/lab.toml."""

from __future__ import annotations

from pathlib import Path

from ..errors import ImageError
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

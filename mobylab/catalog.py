"""The lab catalog: where labs are found and what a lab's name may be, for every task.

Labs are folders holding a lab.toml, looked for in the `labs_dir` setting's folder,
then a clone's labs/, then the copy installed with the package; the first folder
that has a lab of a name wins. A task may also name a lab folder by its path (an
argument with a slash: `labs/hello`, `./mylab`).
"""

from __future__ import annotations

import re
from pathlib import Path

from .config import Settings
from .errors import LabError, UsageError

PACKAGE_ROOT = Path(__file__).resolve().parent
# One plain word: never a path that leaves the labs folder, never shell syntax.
LAB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*")
LAB_NAME_MAX = 64


def check_name(name: str) -> str:
    """The name when it can be a lab's, else a UsageError that says what a name is."""
    if len(name) > LAB_NAME_MAX or not LAB_NAME.fullmatch(name):
        raise UsageError(f"lab name {name!r} is not valid", "Use the name of a folder in labs/.")
    return name


def lab_folders(settings: Settings) -> list[Path]:
    """The folders that hold labs, first match wins."""
    folders: list[Path] = []
    if settings.labs_dir:
        folders.append(Path(settings.labs_dir).expanduser().resolve())
    folders.append(PACKAGE_ROOT.parent / "labs")  # a clone of the repository
    folders.append(PACKAGE_ROOT / "_data" / "labs")  # an installed wheel
    return [folder for folder in folders if folder.is_dir()]


def available(settings: Settings) -> dict[str, Path]:
    """Lab name -> folder, for every folder with a lab.toml."""
    found: dict[str, Path] = {}
    for folder in lab_folders(settings):
        for child in sorted(folder.iterdir()):
            if (child / "lab.toml").is_file() and child.name not in found:
                found[child.name] = child
    return found


def is_path(name: str) -> bool:
    """Pure: the argument names a folder (it has a slash, or is . or ..), not a lab."""
    return "/" in name or name in (".", "..")


def lab_folder(name: str, settings: Settings) -> Path:
    """The folder of the lab called `name` (or at the path `name`: a folder with a
    lab.toml), a UsageError for a path that is no lab folder, or a LabError naming the
    known labs."""
    if is_path(name):
        folder = Path(name).expanduser().resolve()
        if not (folder / "lab.toml").is_file():
            what = "has no lab.toml" if folder.is_dir() else "is not a folder"
            raise UsageError(
                f"{name!r} is not a lab folder: it {what}",
                "A lab is a folder with a lab.toml (`invoke lab.new NAME` writes one).",
            )
        check_name(folder.name)
        return folder
    labs = available(settings)
    if name not in labs:
        check_name(name)
        known = ", ".join(sorted(labs)) or "none"
        raise LabError(f"no lab called {name!r}", f"Known labs: {known} (see `invoke lab.list`).")
    return labs[name]

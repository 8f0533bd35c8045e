"""images.bootstrap, images.list, images.save, images.load."""

from __future__ import annotations

import json
from pathlib import Path

from invoke import Collection, task

from .. import ui
from ..errors import UsageError
from ..session import Session
from .base import friendly_errors


@task(
    iterable=["only"],
    help={
        "only": "make only this recipe (repeat the flag for several)",
        "force": "make the images again even when they exist",
        "refresh": "run debootstrap again instead of using the cached root filesystem",
    },
)
@friendly_errors
def bootstrap(c, only=None, force=False, refresh=False):
    """Make the offline base images (golang, runtime, dind) from Debian packages."""
    from .. import images

    session = Session.from_context(c)
    names = list(only or images.RECIPES)
    for name in names:
        images.recipe_named(name)
    engine = session.engine(start=True)
    tags = images.ensure_images(
        engine,
        session.workspace,
        names,
        force=force or refresh,
        settings=session.settings,
        refresh_rootfs=refresh,
    )
    for name, tag in tags.items():
        ui.info(f"{name}: {tag}")


@task(name="list", help={"json": "print JSON instead of a table"})
@friendly_errors
def list_(c, json_=False):
    """Show mobylab's offline images on the engine and how each was made."""
    from .. import images

    session = Session.from_context(c)
    found = images.managed_images(session.engine(start=False))
    if json_:
        print(json.dumps([image.to_dict() for image in found], indent=2))
        return
    if not found:
        ui.info("no offline images yet: make them with `invoke images.bootstrap`")
        return
    rows = [
        (i.tag, i.recipe, ui.human_bytes(i.size), i.created.replace("T", " "), i.how_made)
        for i in found
    ]
    columns = ["tag", "recipe", "size", "created", "how made"]
    ui.out.print(ui.table(columns, rows, title="Offline images"))


@task(
    iterable=["image"],
    help={
        "path": "the archive to write (a docker-save tar with its checksum inside; "
        "PATH.sha256 is written next to it too)",
        "lab": "save the images this lab declares in its lab.toml",
        "image": "an image to save: a recipe name or an image reference (repeatable)",
    },
)
@friendly_errors
def save(c, path, lab=None, image=None):
    """Save images to one archive with a checksum, for machines with no registry."""
    from .. import images

    session = Session.from_context(c)
    names = list(image or [])
    if lab:
        names += images.lab_image_names(lab, session.settings)
    if not names:
        raise UsageError("nothing to save", "Give --lab NAME or --image X.")
    refs = images.image_refs(names)
    ui.step(f"saving {', '.join(refs)} to {path}")
    info = images.save_images(session.engine(start=True), refs, Path(path))
    ui.info(f"wrote {info.path} ({ui.human_bytes(info.size)}) and {info.path.name}.sha256")


@task(help={"path": "an archive made by images.save (it holds its own checksum)"})
@friendly_errors
def load(c, path):
    """Check an archive's checksum and structure, then load its images."""
    from .. import images

    session = Session.from_context(c)
    engine = session.engine(start=True)
    ui.step(f"checking and loading {path}")
    info = images.load_images(engine, Path(path))
    ui.info(f"loaded {', '.join(info.tags) or 'untagged images'} ({ui.human_bytes(info.size)})")


ns = Collection("images", bootstrap, list_, save, load)

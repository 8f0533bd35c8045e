"""Offline base images: made from Debian packages, saved and loaded as checked archives.

ensure_images(engine, workspace, ["golang", "runtime"])  ->  {name: tag}
RECIPES["golang"].tag                                      ->  "mobylab/golang:1.19-bookworm"
save_images(engine, refs, path) / load_images(engine, path)
"""

from .archive import ArchiveInfo, load_images, save_images, verify_archive
from .build import ManagedImage, build_image, ensure_images, managed_images
from .labs import lab_image_names
from .recipes import RECIPES, Recipe, image_refs, recipe_named

__all__ = [
    "RECIPES",
    "ArchiveInfo",
    "ManagedImage",
    "Recipe",
    "build_image",
    "ensure_images",
    "image_refs",
    "lab_image_names",
    "load_images",
    "managed_images",
    "recipe_named",
    "save_images",
    "verify_archive",
]

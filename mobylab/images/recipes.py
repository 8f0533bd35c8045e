"""Pure: what each offline base image is made of, and the names a lab needs.

No registry is needed: the images are built from Debian packages (debootstrap)
or, for the tiny runtime image, from the static busybox of the machine.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ImageError
from ..jsondata import JsonDict

DEBOOTSTRAP = "debootstrap"
BUSYBOX = "busybox"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Recipe:
    """How to make one offline base image."""

    name: str
    tag: str
    # "debootstrap" (a Debian root filesystem) or "busybox" (static busybox only).
    method: str
    description: str
    packages: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    cmd: tuple[str, ...] = ("/bin/sh",)
    workdir: str = ""
    # Folders created empty in the root filesystem (GOPATH and the like).
    folders: tuple[str, ...] = field(default=())
    # The Debian suite ("" for the debian_suite setting); packages installed
    # afterwards from another suite of the mirror (a backports suite, with apt in
    # the new root: debootstrap's own --extra-suites cannot install them); symbolic
    # links made in the root filesystem: (path, target).
    suite: str = ""
    extra_suite: str = ""
    extra_packages: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()


RECIPES: dict[str, Recipe] = {
    "golang": Recipe(
        name="golang",
        tag="mobylab/golang:1.19-bookworm",
        method=DEBOOTSTRAP,
        description="Go 1.19 with golang.org/x/net in GOPATH (builds offline, GOPATH mode)",
        packages=("golang-go", "golang-golang-x-net-dev", "ca-certificates", "git"),
        env=(
            ("GO111MODULE", "off"),
            ("GOPATH", "/go:/usr/share/gocode"),
            ("PATH", "/go/bin:/usr/lib/go/bin:" + DEFAULT_PATH),
        ),
        cmd=("/bin/bash",),
        folders=("go/src", "go/bin"),
    ),
    "runtime": Recipe(
        name="runtime",
        tag="mobylab/runtime:busybox",
        method=BUSYBOX,
        description="static busybox and CA certificates: a few MB, like alpine for the labs",
        env=(("PATH", DEFAULT_PATH),),
        cmd=("/bin/sh",),
    ),
    "dind": Recipe(
        name="dind",
        tag="mobylab/dind:bookworm",
        method=DEBOOTSTRAP,
        description="dockerd, containerd, runc and the docker CLI: a docker-dev stand-in",
        packages=("docker.io", "iptables", "ca-certificates", "git", "make", "procps"),
        env=(("PATH", DEFAULT_PATH),),
        cmd=("/bin/bash",),
    ),
}


def recipe_named(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise ImageError(
            f"no offline image recipe called {name!r}",
            f"Use one of: {', '.join(sorted(RECIPES))}.",
        ) from None


def recipe_for_ref(ref: str) -> Recipe | None:
    """The recipe whose name or tag is `ref`, if any."""
    for recipe in RECIPES.values():
        if ref in (recipe.name, recipe.tag):
            return recipe
    return None


def rootfs_key(
    suite: str,
    mirror: str,
    packages: Iterable[str],
    arch: str = "amd64",
    *,
    extra: Sequence[str] = (),
    links: Sequence[tuple[str, str]] = (),
) -> str:
    """The cache key of a debootstrap root filesystem: same inputs, same tarball."""
    inputs: JsonDict = {
        "suite": suite,
        "mirror": mirror.rstrip("/"),
        "variant": "minbase",
        "arch": arch,
        "packages": sorted(set(packages)),
    }
    if extra:
        inputs["extra"] = list(extra)
    if links:
        inputs["links"] = [list(link) for link in links]
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:24]


def extra_install_argv(root: Path, suite: str, packages: Sequence[str]) -> list[list[str]]:
    """Pure: the commands that install `packages` from `suite` inside a new root."""
    chroot = ["chroot", str(root), "env", "DEBIAN_FRONTEND=noninteractive"]
    return [
        [*chroot, "apt-get", "update", "-qq"],
        [*chroot, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "-t", suite,
         *packages],
        [*chroot, "apt-get", "clean"],
    ]  # fmt: skip


def debootstrap_script(suite: str, native: Sequence[str]) -> str:
    """Pure: "" when debootstrap knows `suite`, else the script to make it with.

    A suite newer than the machine's debootstrap (Debian's testing, say) is made
    with the script of unstable, which every debootstrap has and which fits it.
    """
    return "" if suite in native else "sid"


def debootstrap_argv(
    debootstrap: str,
    suite: str,
    target: Path,
    mirror: str,
    packages: Sequence[str],
    *,
    script: str = "",
) -> list[str]:
    argv = [debootstrap, "--variant=minbase"]
    if packages:
        argv.append("--include=" + ",".join(packages))
    argv += [suite, str(target), mirror]
    if script:
        argv.append(f"/usr/share/debootstrap/scripts/{script}")
    return argv


def image_labels(recipe: Recipe, made: Mapping[str, str]) -> dict[str, str]:
    """Labels that say what an image is and how it was made."""
    from .. import labels

    return labels.labels(
        "image",
        recipe=recipe.name,
        packages=",".join(recipe.packages) or BUSYBOX,
        **{key.replace("-", "_"): value for key, value in made.items()},
    )


def import_changes(recipe: Recipe, image_labels: Mapping[str, str]) -> list[str]:
    """Dockerfile instructions for `docker import --change`.

    Values are JSON-quoted so spaces, commas and colons survive the parser.
    """
    changes = [f"ENV {key}={json.dumps(value)}" for key, value in recipe.env]
    if recipe.workdir:
        changes.append(f"WORKDIR {recipe.workdir}")
    changes.append("CMD " + json.dumps(list(recipe.cmd)))
    changes.append(
        "LABEL " + " ".join(f"{json.dumps(k)}={json.dumps(v)}" for k, v in image_labels.items())
    )
    return changes


def parse_lab_images(text: str, source: str = "lab.toml") -> list[str]:
    """The `images` array of a lab.toml: recipe names or image references."""
    try:
        data: JsonDict = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ImageError(f"{source} is not valid TOML ({exc})", "Fix the file.") from None
    images = data.get("images", [])
    if not isinstance(images, list) or not all(isinstance(i, str) and i for i in images):
        raise ImageError(
            f"{source}: `images` must be an array of image names",
            'Write for example images = ["golang", "runtime"].',
        )
    return list(images)


def image_refs(names: Iterable[str]) -> list[str]:
    """Pure: recipe names become their tags, other references stay as they are."""
    refs: list[str] = []
    for name in names:
        recipe = RECIPES.get(name)
        ref = recipe.tag if recipe else name
        if ref not in refs:
            refs.append(ref)
    return refs

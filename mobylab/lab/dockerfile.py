"""Pure: base-image substitution in Dockerfiles, and what a Dockerfile costs to maintain.

The lab's Dockerfiles keep the blog's FROM lines (`FROM golang:1.7.3`); a run
rewrites them in its scratch copy to the base images it uses (mobylab's offline
ones unless they cannot be had), and shows the learner the file as it will be built.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_FROM = re.compile(
    r"^(?P<lead>\s*FROM\s+)(?P<flags>(?:--\S+\s+)*)(?P<image>\S+)(?P<rest>.*)$", re.I
)
_AS = re.compile(r"^\s+AS\s+(?P<name>\S+)", re.I)


@dataclass(frozen=True)
class Substitution:
    line: int
    old: str
    new: str


def repository(ref: str) -> str:
    """`golang:1.7.3` -> `golang`; `docker.io/library/alpine@sha256:..` -> `alpine`."""
    name = ref.split("@", 1)[0]
    head, sep, tail = name.rpartition(":")
    if sep and "/" not in tail:
        name = head
    for prefix in ("docker.io/library/", "index.docker.io/library/", "library/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def substitute_from(text: str, replacements: Mapping[str, str]) -> tuple[str, list[Substitution]]:
    """Rewrite FROM lines whose image repository is a key of `replacements`.

    Flags (`--platform`), the `AS name` clause and comments stay as they are; a
    FROM that names an earlier stage is never rewritten.
    """
    stages: set[str] = set()
    changes: list[Substitution] = []
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        body = line.rstrip("\r\n")
        match = _FROM.match(body)
        if not match:
            continue
        image = match["image"]
        alias = _AS.match(match["rest"])
        new_image = image
        if image.lower() not in stages and repository(image) in replacements:
            new_image = replacements[repository(image)]
        if alias:
            stages.add(alias["name"].lower())
        if new_image != image:
            new_body = match["lead"] + match["flags"] + new_image + match["rest"]
            lines[index] = new_body + line[len(body) :]
            changes.append(Substitution(index + 1, image, new_image))
    return "".join(lines), changes


def base_replacements(
    builder_bases: tuple[str, ...],
    runtime_bases: tuple[str, ...],
    builder_image: str,
    runtime_image: str,
) -> dict[str, str]:
    """Pure: repository name -> the image that replaces it (unchanged ones left out)."""
    mapping: dict[str, str] = {}
    for name in builder_bases:
        if builder_image and repository(builder_image) != name:
            mapping[name] = builder_image
    for name in runtime_bases:
        if runtime_image and repository(runtime_image) != name:
            mapping[name] = runtime_image
    return mapping


def maintained_lines(text: str) -> int:
    """Lines a person maintains: not blank, not a comment, not the shebang."""
    return sum(
        1 for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )


def is_dockerfile(name: str) -> bool:
    return name == "Dockerfile" or name.startswith("Dockerfile.") or name.endswith(".Dockerfile")
